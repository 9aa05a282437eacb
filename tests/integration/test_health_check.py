# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""aishield.ops.health_check run through ansible-playbook against the local HTTP fixture server."""

from __future__ import annotations

import pytest

from conftest import job_ticket

pytestmark = pytest.mark.integration

ENDPOINT_KEYS = {'name', 'url', 'ok', 'status', 'attempts', 'latency_ms', 'errors'}


def login(app):
    return {'url': app.url + '/login', 'json': {'email': app.email, 'password': app.password}}


def test_passing_checks_with_retries_auth_and_samples(ansible_playbook, http_fixture):
    app = http_fixture
    task = {'aishield.ops.health_check': {
        'deadline': 15, 'interval': 0.2, 'timeout': 3,
        'auth': login(app),
        'endpoints': [
            {'name': 'api', 'url': app.url + '/ok', 'expect': {'status': 'ok', 'database': 'ok'}, 'samples': 5,
             'max_latency_ms': 2000},
            {'name': 'flapping', 'url': app.url + '/flap/a?fails=3', 'expect': {'status': 'ok'}},
            {'name': 'slow', 'url': app.url + '/slow?ms=300', 'max_latency_ms': 5000},
            {'name': 'frontend', 'url': app.url + '/html', 'body_contains': '<title>AI Shield</title>'},
            {'name': 'me', 'url': app.url + '/me', 'auth': True,
             'json_checks': [{'path': 'email', 'regex': '@aishield'}, {'path': 'is_admin', 'equals': False}]},
            {'name': 'anonymous me', 'url': app.url + '/me', 'status': [401]},
        ]}}
    run = ansible_playbook([dict(task, name='Check', register='__hc'),
                            dict(task, name='Check in check mode', check_mode=True),
                            {'name': 'Summarise', 'ansible.builtin.debug': {
                                'msg': '{{ __hc | aishield.ops.health_summary }}'}}])
    assert run.rc == 0, run.output
    assert run['Summarise']['msg'].startswith('6/6 endpoints healthy; p95 ')
    result = run['Check']
    assert not result.get('failed') and result['changed'] is False, run.output
    by_name = {ep['name']: ep for ep in result['endpoints']}
    assert list(by_name) == ['api', 'flapping', 'slow', 'frontend', 'me', 'anonymous me']
    for ep in result['endpoints']:
        assert ENDPOINT_KEYS <= set(ep) and ep['ok'] and ep['errors'] == []
    assert by_name['flapping']['attempts'] == 4 and by_name['flapping']['status'] == 200
    assert by_name['slow']['latency_ms'] >= 300
    assert len(by_name['api']['samples_ms']) == 5
    assert by_name['anonymous me']['status'] == 401
    assert not result.get('failed') and result['failed_endpoints'] == []
    latency = result['latency']
    # 5 api samples + one final response for each of the other 5 endpoints.
    assert latency['count'] == 10 and latency['max_ms'] >= 300 and latency['p50_ms'] <= latency['p95_ms']
    assert result['auth']['ok'] and result['auth']['url'] == app.url + '/login'
    # Check mode runs the checks too (read-only module).
    checked = run['Check in check mode']
    assert not checked.get('failed') and not checked.get('skipped') and len(checked['endpoints']) == 6
    me_calls = [r for r in app.requests if r['path'] == '/me']
    assert sum(1 for r in me_calls if r['authorization'] == 'Bearer ' + app.token) == 2


def test_failure_lists_every_failing_endpoint(ansible_playbook, http_fixture):
    app = http_fixture
    run = ansible_playbook([
        {'name': 'Check', 'register': '__hc', 'ignore_errors': True, 'aishield.ops.health_check': {
            'deadline': 2, 'interval': 0.1, 'timeout': 2,
            'endpoints': [
                {'name': 'ok', 'url': app.url + '/ok'},
                {'name': 'mismatch', 'url': app.url + '/mismatch', 'expect': {'database': 'ok', 'status': 'ok'}},
                {'name': 'too slow', 'url': app.url + '/slow?ms=400', 'max_latency_ms': 100},
                {'name': 'server error', 'url': app.url + '/status/503'},
                {'name': 'still flapping', 'url': app.url + '/flap/b?fails=1000'},
                {'name': 'down', 'url': 'http://127.0.0.1:1/health'},
            ]}},
        {'name': 'Summarise', 'ansible.builtin.debug': {'msg': '{{ __hc | aishield.ops.health_summary }}'}},
    ])
    result = run['Check']
    assert result['failed'] is True
    assert result['failed_endpoints'] == ['mismatch', 'too slow', 'server error', 'still flapping', 'down']
    msg = result['msg']
    assert msg.startswith('health check failed for 5 of 6 endpoints: ')
    for fragment in ('mismatch (database: expected "ok", got "down")',
                     'too slow (latency ', 'over max_latency_ms 100',
                     'server error (status 503, expected [200]',
                     'still flapping (status 503, expected [200]',
                     'down (connection refused)'):
        assert fragment in msg, msg
    by_name = {ep['name']: ep for ep in result['endpoints']}
    # Retried until the deadline (a loaded machine may fit only a few attempts into 2 s).
    assert by_name['ok']['ok'] and by_name['still flapping']['attempts'] >= 2, by_name
    assert by_name['down']['status'] is None
    assert result['latency']['count'] == 1
    summary = run['Summarise']['msg']
    assert summary.startswith('1/6 endpoints healthy') and 'FAILED: mismatch' in summary


def test_secrets_never_reach_the_output(ansible_playbook, http_fixture):
    app = http_fixture
    planted = {'smoke_password': app.password, 'basic_pw': 'basicPW-' + app.token[-8:],
               'hdr_key': 'hdrKEY-' + app.password[-8:]}
    run = ansible_playbook([{'name': 'Check', 'aishield.ops.health_check': {
        'deadline': 2, 'interval': 0.2,
        'auth': {'url': app.url + '/login', 'json': {'email': app.email, 'password': '{{ smoke_password }}'}},
        'endpoints': [
            {'name': 'me', 'url': app.url + '/me', 'auth': True},
            {'name': 'userinfo', 'url': app.url.replace('http://', 'http://probe:{{ basic_pw }}@') + '/ok'},
            {'name': 'keyed', 'url': app.url + '/ok', 'headers': {'X-Api-Key': '{{ hdr_key }}'}},
            # Fails on purpose: its error carries a snippet of a body holding both tokens.
            {'name': 'echo', 'url': app.url + '/login', 'method': 'POST',
             'json': {'email': app.email, 'password': '{{ smoke_password }}'}, 'status': [201]},
        ]}}], verbosity=3, json_output=False, extra_vars=planted)
    assert 'health check failed for 1 of 4 endpoints: echo (status 200, expected [201]' in run.output
    for secret in [app.token, app.refresh_token] + list(planted.values()):
        assert secret not in run.output
    # The token and the credentials were really used.
    assert any(r['path'] == '/me' and r['authorization'] == 'Bearer ' + app.token for r in app.requests)
    assert any(r['path'] == '/ok' and (r['authorization'] or '').startswith('Basic ') for r in app.requests)


def test_failed_login_fails_only_authenticated_endpoints(ansible_playbook, http_fixture):
    app = http_fixture
    bad = {'url': app.url + '/login', 'json': {'email': app.email, 'password': 'wrong-' + app.password}}
    run = ansible_playbook([{'name': 'Check', 'ignore_errors': True, 'aishield.ops.health_check': {
        'deadline': 0, 'auth': bad,
        'endpoints': [{'name': 'me', 'url': app.url + '/me', 'auth': True}, {'name': 'api', 'url': app.url + '/ok'}]}}])
    result = run['Check']
    assert result['failed_endpoints'] == ['me']
    assert result['auth']['ok'] is False and result['auth']['status'] == 401
    assert 'me (not attempted: auth step failed: login status 401, expected [200])' in result['msg']
    assert not any(r['path'] == '/me' for r in app.requests)


def job_checks(app, fail=False, **done_extra):
    """Submit a job, then poll it with the saved id and ticket until it is done (stopping early on failed)."""
    done = {'name': 'job_done', 'url': app.url + '/jobs/${id}', 'auth': True, 'headers': {'X-Ticket': '${ticket}'},
            'expect': {'status': 'done'}, 'abort_if': {'status': 'failed'}, 'interval': 0.1, 'deadline': 30}
    done.update(done_extra)
    return [
        done,  # listed first on purpose: the waves, not the list order, decide when it runs
        {'name': 'api', 'url': app.url + '/ok', 'expect': {'status': 'ok'}},
        {'name': 'job_submit', 'url': app.url + ('/jobs?fail=1' if fail else '/jobs'), 'method': 'POST', 'auth': True,
         'json': {'code': "print('smoke test')", 'language': 'python'}, 'status': [202],
         'save': {'id': 'id', 'ticket': 'ticket'}},
    ]


def job_polls(app):
    return [r for r in app.requests if r['method'] == 'GET' and r['path'].startswith('/jobs/')]


def test_job_is_submitted_then_polled_with_saved_values_until_done(ansible_playbook, http_fixture):
    app = http_fixture
    run = ansible_playbook([{'name': 'Check', 'register': '__hc', 'aishield.ops.health_check': {
        # A slow top-level interval: the poll's own 0.1 s interval is the one that applies.
        'deadline': 15, 'interval': 5, 'timeout': 3, 'auth': login(app), 'max_p95_ms': 60000,
        'endpoints': job_checks(app)}}])
    assert run.rc == 0, run.output
    result = run['Check']
    by_name = {ep['name']: ep for ep in result['endpoints']}
    assert list(by_name) == ['job_done', 'api', 'job_submit']
    assert all(ep['ok'] for ep in result['endpoints']) and by_name['job_submit']['status'] == 202
    assert by_name['job_done']['url'] == app.url + '/jobs/${id}'
    assert result['saved'] == ['id', 'ticket']
    assert result['summary'].startswith('3/3 endpoints healthy; p95 ')
    # One job, polled with its id in the URL and its ticket in a header (the server answers 403 without).
    submits = [r for r in app.requests if r['method'] == 'POST' and r['path'] == '/jobs']
    polls = job_polls(app)
    assert len(submits) == 1 and polls and len(polls) == by_name['job_done']['attempts']
    job_id = polls[0]['path'].rsplit('/', 1)[1]
    assert all(r['path'] == '/jobs/' + job_id for r in polls)
    # The poll started after the submit had answered: the saved id came from it.
    assert app.requests.index(submits[0]) < app.requests.index(polls[0])
    # Saved values are not returned: only their names.
    assert job_id not in run.output and job_ticket(app, job_id) not in run.output


def test_abort_if_stops_polling_a_failed_job(ansible_playbook, http_fixture):
    app = http_fixture
    run = ansible_playbook([{'name': 'Check', 'register': '__hc', 'ignore_errors': True,
                             'aishield.ops.health_check': {
                                 'deadline': 15, 'interval': 0.5, 'timeout': 3, 'auth': login(app),
                                 'endpoints': job_checks(app, fail=True)}},
                            {'name': 'Summarise', 'ansible.builtin.debug': {'msg': '{{ __hc.summary }}'}}])
    result = run['Check']
    assert result['failed'] is True and result['failed_endpoints'] == ['job_done']
    done = result['endpoints'][0]
    assert done['errors'] == ['aborted: status is "failed"'] and done['status'] == 200
    assert 'job_done (aborted: status is "failed")' in result['msg']
    # Polled every 0.1 s, the job fails ~0.5 s after it was made: a handful of polls, not the
    # ~300 that would fit in the 30 s deadline. 20 polls take at least 1.9 s, long after it failed.
    assert 1 <= done['attempts'] <= 20 and len(job_polls(app)) == done['attempts']
    assert run['Summarise']['msg'] == result['summary']
    assert result['summary'].startswith('2/3 endpoints healthy; p95 ')
    assert result['summary'].endswith('FAILED: job_done (HTTP 200 after %d attempt%s: aborted: status is "failed")'
                                      % (done['attempts'], '' if done['attempts'] == 1 else 's'))


def test_dependants_of_a_failed_submit_are_not_attempted(ansible_playbook, http_fixture):
    app = http_fixture
    checks = job_checks(app)
    checks[2]['status'] = [201]  # the job API answers 202: the submit fails
    run = ansible_playbook([{'name': 'Check', 'ignore_errors': True, 'aishield.ops.health_check': {
        'deadline': 0, 'auth': login(app), 'endpoints': checks}}])
    result = run['Check']
    assert result['failed_endpoints'] == ['job_done', 'job_submit']
    assert result['endpoints'][0]['errors'] == ['not attempted: job_submit failed']
    assert result['endpoints'][0]['attempts'] == 0 and job_polls(app) == []
    assert result['saved'] == []


def test_unknown_placeholder_is_refused_before_any_request(ansible_playbook, http_fixture):
    app = http_fixture
    checks = job_checks(app)
    del checks[2]['save']['ticket']
    run = ansible_playbook([{'name': 'Check', 'ignore_errors': True, 'aishield.ops.health_check': {
        'deadline': 5, 'auth': login(app), 'endpoints': checks}}])
    result = run['Check']
    assert result['failed'] is True
    assert result['msg'].startswith('endpoint job_done uses ${ticket}, but no endpoint saves ticket (saved names: id)')
    assert app.requests == []


def test_max_p95_ms_fails_a_run_whose_endpoints_all_pass(ansible_playbook, http_fixture):
    app = http_fixture
    endpoints = [{'name': 'api', 'url': app.url + '/ok'}, {'name': 'slow', 'url': app.url + '/slow?ms=300'}]
    run = ansible_playbook([
        {'name': 'Gate', 'ignore_errors': True, 'aishield.ops.health_check': {
            'deadline': 5, 'max_p95_ms': 100, 'endpoints': endpoints}},
        {'name': 'Loose gate', 'aishield.ops.health_check': {
            'deadline': 5, 'max_p95_ms': 60000, 'endpoints': endpoints}},
    ])
    gated = run['Gate']
    # Over two latencies p95 is the larger one, and /slow sleeps 300 ms before it answers.
    assert gated['failed'] is True and gated['failed_endpoints'] == []
    assert gated['latency']['p95_ms'] >= 300
    assert gated['msg'].startswith('p95 latency ') and ' ms is above max_p95_ms 100 ms (over 2 responses)' in gated['msg']
    assert gated['summary'].startswith('2/2 endpoints healthy; p95 ')
    assert not run['Loose gate'].get('failed'), run.output
