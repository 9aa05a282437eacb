# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.filter.health import health_summary
from ansible_collections.aishield.ops.plugins.module_utils._http import HttpResponse
from ansible_collections.aishield.ops.plugins.module_utils._http_text import MASK
from ansible_collections.aishield.ops.plugins.modules import health_check


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            health_check.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def response(status=200, body=None, latency=5.0, error=None, content_type='application/json'):
    raw = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    return HttpResponse(status=None if error else status, headers={'Content-Type': content_type}, body=raw,
                        latency_ms=latency, error=error)


@pytest.mark.parametrize('args, message', [
    ({'endpoints': []}, 'at least one endpoint'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/', 'auth': True}]}, 'neither auth nor token'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/', 'body': 'x', 'json': {}}]}, 'mutually exclusive'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/'}], 'token': 'tok-123', 'auth': {'url': 'http://127.0.0.1:1/l'}},
     'mutually exclusive'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/'}, {'url': 'http://127.0.0.1:1/'}]}, 'must be unique'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/', 'samples': -1}]}, 'samples must be between'),
    ({'endpoints': [{'name': 'x'}]}, 'url'),
    ({'endpoints': [{'name': 'x', 'url': 'http://127.0.0.1:1/', 'json_checks': [{'path': 'a', 'regex': '('}]}]},
     "endpoint x: a: invalid regex '('"),
    ({'endpoints': [{'name': 'x', 'url': 'http://127.0.0.1:1/', 'save': {'id': 'id'}, 'abort_if': 'failed'}]},
     'abort_if'),
])
def test_argument_validation(args, message, capsys):
    rc, result = run_module(args, capsys)
    assert rc == 1 and result['failed'] and message in result['msg']


class FakeServer(object):
    """Scripted answers per URL, standing in for http_request."""

    def __init__(self, script):
        self.script = {url: list(answers) for url, answers in script.items()}
        self.calls = []

    def __call__(self, method, url, headers=None, timeout=None, **kwargs):
        self.calls.append({'method': method, 'url': url, 'headers': dict(headers or {}), 'kwargs': kwargs})
        answers = self.script[url]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def fake(monkeypatch):
    def install(script):
        server = FakeServer(script)
        monkeypatch.setattr(health_check, 'http_request', server)
        return server
    return install


def test_flapping_endpoint_passes_after_retries(fake, capsys):
    fake({'http://t/flap': [response(503, {}), response(503, {}), response(200, {'status': 'ok'}, latency=7.0)]})
    rc, result = run_module({'endpoints': [{'name': 'flap', 'url': 'http://t/flap', 'expect': {'status': 'ok'}}],
                             'interval': 0, 'deadline': 5}, capsys)
    assert rc == 0 and not result['changed']
    assert result['endpoints'] == [{'name': 'flap', 'url': 'http://t/flap', 'ok': True, 'status': 200, 'attempts': 3,
                                    'latency_ms': 7.0, 'errors': []}]
    assert result['failed'] == [] and result['failed_endpoints'] == [] and result['latency'] == {'p50_ms': 7.0, 'p95_ms': 7.0, 'max_ms': 7.0, 'count': 1}


def test_samples_feed_latency_and_bound_p95(fake, capsys):
    answers = [response(200, {}, latency=ms) for ms in (5.0, 1.0, 2.0, 3.0, 400.0)]
    fake({'http://t/a': answers})
    rc, result = run_module({'endpoints': [{'name': 'a', 'url': 'http://t/a', 'samples': 4, 'max_latency_ms': 100}],
                             'interval': 0, 'deadline': 0}, capsys)
    assert rc == 1 and result['failed'] is True and result['failed_endpoints'] == ['a']
    ep = result['endpoints'][0]
    assert ep['samples_ms'] == [1.0, 2.0, 3.0, 400.0] and ep['latency_ms'] == 2.5
    assert ep['errors'] == ['p95 latency 400.0 ms over max_latency_ms 100.0 (4 samples)']
    assert result['latency']['count'] == 0


def test_failed_sample_fails_endpoint(fake, capsys):
    fake({'http://t/a': [response(200, {}), response(200, {}), response(500, b'')]})
    rc, result = run_module({'endpoints': [{'name': 'a', 'url': 'http://t/a', 'samples': 3}], 'deadline': 0}, capsys)
    assert rc == 1
    assert result['endpoints'][0]['errors'] == ['sample 2 of 3: status 500, expected [200]']


def test_auth_token_is_used_and_never_returned(fake, capsys):
    server = fake({
        'http://t/login': [response(200, {'access_token': 'tok-SECRET-1', 'refresh_token': 'ref-SECRET-2'})],
        'http://t/me': [response(200, {'email': 'a@b'})],
        'http://t/open': [response(200, {})],
    })
    rc, result = run_module({
        'auth': {'url': 'http://t/login', 'json': {'email': 'a@b', 'password': 'pw-SECRET-3'}},
        'endpoints': [{'name': 'me', 'url': 'http://t/me', 'auth': True}, {'name': 'open', 'url': 'http://t/open'}],
    }, capsys)
    assert rc == 0, result
    me_call = [c for c in server.calls if c['url'] == 'http://t/me'][0]
    open_call = [c for c in server.calls if c['url'] == 'http://t/open'][0]
    assert me_call['headers']['Authorization'] == 'Bearer tok-SECRET-1'
    assert 'Authorization' not in open_call['headers']
    assert result['auth']['ok'] and result['auth']['status'] == 200
    assert 'SECRET' not in json.dumps(result)


def test_failed_auth_skips_auth_endpoints_only(fake, capsys):
    fake({'http://t/login': [response(401, {'detail': 'bad'})], 'http://t/me': [response(200, {})],
          'http://t/open': [response(200, {})]})
    rc, result = run_module({
        'auth': {'url': 'http://t/login', 'json': {'password': 'pw-SECRET-3'}}, 'deadline': 0,
        'endpoints': [{'name': 'me', 'url': 'http://t/me', 'auth': True}, {'name': 'open', 'url': 'http://t/open'}],
    }, capsys)
    assert rc == 1 and result['failed_endpoints'] == ['me']
    assert result['endpoints'][0]['attempts'] == 0
    assert result['endpoints'][0]['errors'] == ['not attempted: auth step failed: login status 401, expected [200]']
    assert 'me (not attempted: auth step failed' in result['msg']


def test_missing_token_path_fails_auth(fake, capsys):
    fake({'http://t/login': [response(200, {'token': 'x'})], 'http://t/me': [response(200, {})]})
    rc, result = run_module({'auth': {'url': 'http://t/login', 'token_path': 'data.access_token'}, 'deadline': 0,
                             'endpoints': [{'name': 'me', 'url': 'http://t/me', 'auth': True}]}, capsys)
    assert rc == 1
    assert result['auth']['errors'] == ["no string at token_path 'data.access_token' in the login response"]


def test_static_token_and_custom_scheme(fake, capsys):
    server = fake({'http://t/me': [response(200, {})]})
    rc, _result = run_module({'token': 'static-SECRET', 'endpoints': [{'url': 'http://t/me', 'auth': True}]}, capsys)
    assert rc == 0 and server.calls[0]['headers']['Authorization'] == 'Bearer static-SECRET'


def test_request_body_and_method_are_passed(fake, capsys):
    server = fake({'http://t/echo': [response(201, {})]})
    rc, _result = run_module({'endpoints': [{'url': 'http://t/echo', 'method': 'POST', 'json': {'q': 1},
                                             'status': [201], 'headers': {'X-Probe': '1'}}]}, capsys)
    assert rc == 0
    call = server.calls[0]
    assert call['method'] == 'POST' and call['kwargs']['json_body'] == {'q': 1} and call['headers'] == {'X-Probe': '1'}


# --- saved values, placeholders and waves ---------------------------------------------------------


def test_dependants_wait_for_the_saved_values(fake, capsys):
    server = fake({
        'http://t/jobs': [response(202, {'id': 'job-7f3a9c', 'status': 'queued'})],
        'http://t/jobs/job-7f3a9c': [response(200, {'status': 'queued'}), response(200, {'status': 'running'}),
                                     response(200, {'status': 'done'}, latency=4.0)],
        'http://t/health': [response(200, {'status': 'ok'})],
    })
    rc, result = run_module({'interval': 0, 'deadline': 5, 'concurrency': 4, 'endpoints': [
        {'name': 'done', 'url': 'http://t/jobs/${job}', 'expect': {'status': 'done'}},
        {'name': 'submit', 'url': 'http://t/jobs', 'method': 'POST', 'status': [202], 'save': {'job': 'id'}},
        {'name': 'health', 'url': 'http://t/health'},
    ]}, capsys)
    assert rc == 0, result
    urls = [call['url'] for call in server.calls]
    assert urls.count('http://t/jobs/job-7f3a9c') == 3
    assert urls.index('http://t/jobs') < urls.index('http://t/jobs/job-7f3a9c')
    # Results keep the order given, and show the URL with its placeholder.
    assert [ep['name'] for ep in result['endpoints']] == ['done', 'submit', 'health']
    assert result['endpoints'][0]['url'] == 'http://t/jobs/${job}' and result['endpoints'][0]['attempts'] == 3
    assert result['saved'] == ['job'] and 'job-7f3a9c' not in json.dumps(result)
    assert result['summary'] == '3/3 endpoints healthy; p95 5 ms' == health_summary(result)


def test_placeholders_in_url_body_json_and_headers(fake, capsys):
    server = fake({
        'http://t/login': [response(200, {'token': 'tok-SAVED-9f8e7d', 'user': {'id': 4242, 'org': 'org-5b6c'}})],
        'http://t/orgs/org-5b6c/users/4242': [response(200, {})],
        'http://t/echo': [response(201, {})],
    })
    rc, result = run_module({'deadline': 0, 'endpoints': [
        {'name': 'login', 'url': 'http://t/login', 'method': 'POST',
         'save': {'token': 'token', 'uid': 'user.id', 'org': 'user.org'}},
        {'name': 'user', 'url': 'http://t/orgs/${org}/users/${uid}',
         'headers': {'Authorization': 'Bearer ${token}', 'X-Org': '${org}', 'X-Literal': '$${org}'}},
        {'name': 'json', 'url': 'http://t/echo', 'method': 'POST', 'status': [201],
         'json': {'user': {'ids': ['${uid}'], 'label': 'user ${uid} of ${org}'}, 'n': 1}},
        {'name': 'body', 'url': 'http://t/echo', 'method': 'POST', 'status': [201], 'body': 'org=${org}&user=${uid}'},
    ]}, capsys)
    assert rc == 0, result
    calls = dict((call['url'], call) for call in server.calls if call['url'] != 'http://t/echo')
    echo = [call for call in server.calls if call['url'] == 'http://t/echo']
    assert calls['http://t/orgs/org-5b6c/users/4242']['headers'] == {
        'Authorization': 'Bearer tok-SAVED-9f8e7d', 'X-Org': 'org-5b6c', 'X-Literal': '${org}'}
    assert [call['kwargs']['json_body'] for call in echo if 'json_body' in call['kwargs']] == [
        {'user': {'ids': [4242], 'label': 'user 4242 of org-5b6c'}, 'n': 1}]
    assert [call['kwargs']['body'] for call in echo if 'body' in call['kwargs']] == ['org=org-5b6c&user=4242']
    assert result['saved'] == ['token', 'uid', 'org']
    printed = json.dumps(result)
    assert 'tok-SAVED' not in printed and 'org-5b6c' not in printed and '4242' not in printed


def test_dependants_of_a_failed_saver_are_not_attempted(fake, capsys):
    server = fake({'http://t/jobs': [response(503, {'detail': 'queue down'})], 'http://t/other': [response(200, {})]})
    rc, result = run_module({'deadline': 0, 'endpoints': [
        {'name': 'submit', 'url': 'http://t/jobs', 'method': 'POST', 'status': [202], 'save': {'id': 'id'}},
        {'name': 'poll', 'url': 'http://t/jobs/${id}', 'save': {'state': 'status'}},
        {'name': 'after', 'url': 'http://t/after', 'json': {'state': '${state}'}},
        {'name': 'other', 'url': 'http://t/other'},
    ]}, capsys)
    assert rc == 1 and result['failed_endpoints'] == ['submit', 'poll', 'after']
    assert sorted(call['url'] for call in server.calls) == ['http://t/jobs', 'http://t/other']
    by_name = dict((ep['name'], ep) for ep in result['endpoints'])
    assert by_name['poll']['errors'] == ['not attempted: submit failed'] and by_name['poll']['attempts'] == 0
    assert by_name['after']['errors'] == ['not attempted: poll failed']
    assert 'poll (not attempted: submit failed), after (not attempted: poll failed)' in result['msg']
    assert result['saved'] == []


def test_a_missing_save_path_is_retried(fake, capsys):
    fake({'http://t/jobs': [response(202, {'status': 'queued'}), response(202, {'id': 'j1'})],
          'http://t/jobs/j1': [response(200, {})]})
    rc, result = run_module({'interval': 0, 'deadline': 5, 'endpoints': [
        {'name': 'submit', 'url': 'http://t/jobs', 'status': [202], 'save': {'id': 'id'}},
        {'name': 'poll', 'url': 'http://t/jobs/${id}'}]}, capsys)
    assert rc == 0 and result['endpoints'][0]['attempts'] == 2


def test_a_missing_save_path_fails_at_the_deadline(fake, capsys):
    fake({'http://t/jobs': [response(202, {'status': 'queued'})]})
    rc, result = run_module({'deadline': 0, 'endpoints': [
        {'name': 'submit', 'url': 'http://t/jobs', 'status': [202], 'save': {'id': 'id'}}]}, capsys)
    assert rc == 1 and result['endpoints'][0]['errors'] == ['save id: id not found in response']


@pytest.mark.parametrize('endpoints, message', [
    ([{'name': 'poll', 'url': 'http://t/jobs/${id}'}],
     'endpoint poll uses ${id}, but no endpoint saves id (saved names: none)'),
    ([{'name': 'a', 'url': 'http://t/a', 'headers': {'X-B': '${b}'}, 'save': {'a': 'id'}},
      {'name': 'b', 'url': 'http://t/b', 'body': '${a}', 'save': {'b': 'id'}}],
     'saved values form a cycle, so none of these endpoints can run first: a uses ${b} saved by b; b uses ${a} saved by a'),
    ([{'name': 'a', 'url': 'http://t/a', 'save': {'id': 'id'}}, {'name': 'b', 'url': 'http://t/b', 'save': {'id': 'x'}}],
     'endpoints a and b both save id'),
])
def test_bad_chains_are_refused_before_any_request(fake, capsys, endpoints, message):
    server = fake({})
    # An auth endpoint too: not even the login may be sent.
    rc, result = run_module({'auth': {'url': 'http://t/login'},
                             'endpoints': endpoints + [{'name': 'me', 'url': 'http://t/me', 'auth': True}]}, capsys)
    assert rc == 1 and message in result['msg'], result['msg']
    assert server.calls == [] and 'endpoints' not in result


def test_saved_values_are_masked_in_errors(fake, capsys):
    fake({'http://t/jobs': [response(202, {'id': 31337})],
          'http://t/jobs/31337': [response(404, {'detail': 'job 31337 not found'})]})
    rc, result = run_module({'deadline': 0, 'endpoints': [
        {'name': 'submit', 'url': 'http://t/jobs', 'status': [202], 'save': {'id': 'id'}},
        {'name': 'poll', 'url': 'http://t/jobs/${id}'}]}, capsys)
    assert rc == 1
    assert result['endpoints'][1]['errors'] == ['status 404, expected [200]: {"detail": "job %s not found"}' % MASK]
    assert '31337' not in json.dumps(result)


# --- abort_if, interval, max_p95_ms ---------------------------------------------------------------


def test_abort_if_ends_the_retries_at_once(fake, capsys):
    server = fake({
        'http://t/jobs': [response(202, {'id': 9})],
        # Without abort_if the third answer would pass.
        'http://t/jobs/9': [response(200, {'status': 'queued'}), response(200, {'status': 'failed'}),
                            response(200, {'status': 'done'})],
    })
    rc, result = run_module({'interval': 0, 'deadline': 60, 'endpoints': [
        {'name': 'submit', 'url': 'http://t/jobs', 'status': [202], 'save': {'id': 'id'}},
        {'name': 'done', 'url': 'http://t/jobs/${id}', 'expect': {'status': 'done'}, 'abort_if': {'status': 'failed'}},
    ]}, capsys)
    assert rc == 1 and result['failed_endpoints'] == ['done']
    done = result['endpoints'][1]
    assert done['attempts'] == 2 and done['status'] == 200 and done['errors'] == ['aborted: status is "failed"']
    assert [call['url'] for call in server.calls].count('http://t/jobs/9') == 2
    assert 'done (aborted: status is "failed")' in result['msg']
    assert result['summary'] == (
        '1/2 endpoints healthy; p95 5 ms; FAILED: done (HTTP 200 after 2 attempts: aborted: status is "failed")')


def test_abort_if_fails_a_sample(fake, capsys):
    fake({'http://t/a': [response(200, {'state': 'ok'}), response(200, {'state': 'ok'}), response(200, {'state': 'bad'})]})
    rc, result = run_module({'deadline': 0, 'endpoints': [
        {'name': 'a', 'url': 'http://t/a', 'samples': 3, 'abort_if': {'state': 'bad'}}]}, capsys)
    assert rc == 1 and result['endpoints'][0]['errors'] == ['sample 2 of 3: aborted: state is "bad"']


def test_endpoint_interval_overrides_the_top_level_one(fake, capsys, monkeypatch):
    seen = []
    real_poll = health_check.poll

    def spy(attempt, deadline, interval, *args, **kwargs):
        seen.append((deadline, interval))
        return real_poll(attempt, deadline, interval, *args, **kwargs)
    monkeypatch.setattr(health_check, 'poll', spy)
    fake({'http://t/a': [response(200, {})], 'http://t/b': [response(200, {})]})
    rc, _result = run_module({'interval': 3, 'deadline': 7, 'endpoints': [
        {'name': 'a', 'url': 'http://t/a', 'interval': 0.2, 'deadline': 9}, {'name': 'b', 'url': 'http://t/b'}]}, capsys)
    assert rc == 0 and sorted(seen) == [(7.0, 3.0), (9.0, 0.2)]


@pytest.mark.parametrize('limit, rc_expected', [(100, 1), (900, 0), (None, 0)])
def test_max_p95_ms_gates_a_passing_run(fake, capsys, limit, rc_expected):
    fake({'http://t/fast': [response(200, {}, latency=5.0)], 'http://t/slow': [response(200, {}, latency=900.0)]})
    rc, result = run_module({'deadline': 0, 'max_p95_ms': limit, 'endpoints': [
        {'name': 'fast', 'url': 'http://t/fast'}, {'name': 'slow', 'url': 'http://t/slow'}]}, capsys)
    assert rc == rc_expected
    assert result['failed_endpoints'] == [] and result['summary'] == '2/2 endpoints healthy; p95 900 ms'
    if rc_expected:
        assert result['msg'] == 'p95 latency 900 ms is above max_p95_ms 100 ms (over 2 responses)'


def test_endpoint_failures_come_before_the_p95_gate(fake, capsys):
    fake({'http://t/slow': [response(200, {}, latency=900.0)], 'http://t/down': [response(503, b'')]})
    rc, result = run_module({'deadline': 0, 'max_p95_ms': 100, 'endpoints': [
        {'name': 'slow', 'url': 'http://t/slow'}, {'name': 'down', 'url': 'http://t/down'}]}, capsys)
    assert rc == 1 and result['msg'] == 'health check failed for 1 of 2 endpoints: down (status 503, expected [200])'
