# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The notify role run through ansible-playbook against the test bed's receiver (tests/testbed/receiver.py).

Secrets (the receiver's API key, webhook URLs whose path or query is the token) go in
through extra_vars, as a vault would supply them, and are planted so the tests can look
for them in the output.
"""

from __future__ import annotations

import json
import secrets
import socket

import pytest

pytestmark = pytest.mark.integration

ROLE = 'aishield.ops.notify'
RELEASE = {'release_id': '20250101T120000Z-1.4.0', 'version': '1.4.0', 'previous_release': '20241201T090000Z-1.3.2'}
INCIDENT = 'AI Shield deploy ' + RELEASE['release_id']
LINK = 'https://ci.example.invalid/jobs/42'
PROVIDERS = {
    'statuspage': {'list': '/v1/pages/pg-it/incidents', 'scheme': 'OAuth', 'wrapped': True},
    'generic': {'list': '/api/incidents', 'scheme': 'Bearer', 'wrapped': False},
}


def notify(event, **role_vars):
    """A task that runs the role for one event; the label keeps task names unique."""
    return {'name': 'Notify ' + event, 'ansible.builtin.include_role': {'name': ROLE},
            'vars': dict(notify_event=event, **role_vars)}


def show_result(label):
    return {'name': 'Result ' + label, 'ansible.builtin.debug': {'var': 'notify_result'}}


def role_results(run, task_name):
    """Every localhost result of the role's task named task_name, in play order (a role may run many times)."""
    assert run.data is not None, run.output
    found = []
    for play in run.data['plays']:
        for task in play['tasks']:
            if task['task']['name'] == '%s : %s' % (ROLE, task_name) and 'localhost' in task['hosts']:
                found.append(task['hosts']['localhost'])
    return found


def closed_port_url():
    """A 127.0.0.1 URL nothing listens on: bind a free port, then let it go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return 'http://127.0.0.1:%d' % port


def statuspage_vars(provider, api_url):
    role_vars = {'notify_statuspage_backend': provider, 'notify_statuspage_api_url': api_url,
                 'notify_statuspage_api_key': '{{ it_api_key }}'}
    if provider == 'statuspage':
        role_vars['notify_statuspage_page_id'] = 'pg-it'
    return role_vars


def incident_fields(provider, record):
    body = record['body'] or {}
    return body.get('incident', {}) if PROVIDERS[provider]['wrapped'] else body


def hooks(receiver):
    return [r for r in receiver.received() if r['path'].startswith('/hooks/')]


def incident_mutations(receiver):
    return [r for r in receiver.mutations() if not r['path'].startswith('/hooks/')]


@pytest.fixture
def webhook(receiver):
    """A webhook URL on the receiver whose path is the secret token."""
    token = 'whk-' + secrets.token_hex(12)
    return {'token': token, 'url': '%s/hooks/%s' % (receiver.url, token), 'path': '/hooks/' + token}


@pytest.mark.parametrize('provider', ['statuspage', 'generic'])
def test_started_then_good_updates_one_incident_and_posts_in_order(ansible_playbook, receiver, webhook, provider):
    spec = PROVIDERS[provider]
    # Inventories carry Statuspage's documented base URL with /v1; the role must not double it.
    api_url = receiver.url + ('/v1' if provider == 'statuspage' else '')
    common = dict(statuspage_vars(provider, api_url), notify_release=RELEASE, notify_by='alice', notify_url=LINK,
                  notify_webhook_url='{{ it_webhook }}', notify_statuspage_component_ids=['cmp-api'])
    tasks = [notify('deploy_started', **common), show_result('started'),
             notify('deploy_good', notify_duration=125.4, **common), show_result('good')]
    run = ansible_playbook(tasks, extra_vars={'it_api_key': receiver.api_key, 'it_webhook': webhook['url']})
    assert run.rc == 0, run.output

    started, good = run['Result started']['notify_result'], run['Result good']['notify_result']
    assert (started['statuspage'], started['webhook']) == ('ok', 'ok'), started
    assert (good['statuspage'], good['webhook']) == ('ok', 'ok'), good
    assert started['incident_id'] and good['incident_id'] == started['incident_id']

    # One incident: created by deploy_started, resolved by deploy_good.
    changes = incident_mutations(receiver)
    assert [c['method'] for c in changes] == ['POST', 'PATCH'], changes
    assert changes[1]['path'] == '%s/%s' % (spec['list'], started['incident_id'])
    created, resolved = incident_fields(provider, changes[0]), incident_fields(provider, changes[1])
    assert (created['name'], created['status']) == (INCIDENT, 'investigating')
    assert resolved['status'] == 'resolved'
    assert created['components'] == {'cmp-api': 'under_maintenance'}
    assert resolved['components'] == {'cmp-api': 'operational'}
    incidents = receiver.incidents(spec['list'], spec['scheme'])
    assert [(i['name'], i['status']) for i in incidents] == [(INCIDENT, 'resolved')]

    # Chat got both messages, in order, with release id, version, who, duration and link.
    posted = hooks(receiver)
    assert [p['path'] for p in posted] == [webhook['path']] * 2
    first, second = (p['body']['text'] for p in posted)
    for text in (first, second):
        for part in (RELEASE['release_id'], RELEASE['version'], 'alice', LINK):
            assert part in text, text
    assert first.startswith('Deploying') and RELEASE['previous_release'] in first, first
    assert 'is live' in second and '2m 05s' in second, second
    # The status page shows the same text.
    assert created['body'] == first and resolved['body'] == second
    assert good['message'] == second


def test_failure_and_rollback_keep_one_incident(ansible_playbook, receiver, webhook):
    spec = PROVIDERS['statuspage']
    release = dict(RELEASE, deployed_by='bob@ci', status='failed', images={'backend': 'x'})  # extra keys are ignored
    common = dict(statuspage_vars('statuspage', receiver.url), notify_release=release,
                  notify_webhook_url='{{ it_webhook }}', notify_statuspage_component_ids=['cmp-api'],
                  notify_statuspage_component_status={'deploy_failed': 'partial_outage'})
    events = ['deploy_started', 'deploy_failed', 'rollback', 'rollback_done']
    tasks = []
    for event in events:
        tasks += [notify(event, **common), show_result(event)]
    run = ansible_playbook(tasks, extra_vars={'it_api_key': receiver.api_key, 'it_webhook': webhook['url']})
    assert run.rc == 0, run.output

    ids = {run['Result ' + e]['notify_result']['incident_id'] for e in events}
    assert len(ids) == 1 and None not in ids, ids
    changes = incident_mutations(receiver)
    assert [c['method'] for c in changes] == ['POST', 'PATCH', 'PATCH', 'PATCH'], changes
    assert {c['path'] for c in changes[1:]} == {'%s/%s' % (spec['list'], ids.pop())}
    fields = [incident_fields('statuspage', c) for c in changes]
    # rollback keeps "identified": only its text and components change.
    assert [f.get('status') for f in fields] == ['investigating', 'identified', None, 'monitoring']
    assert [f['components']['cmp-api'] for f in fields] == [
        'under_maintenance', 'partial_outage', 'under_maintenance', 'operational']
    incidents = receiver.incidents(spec['list'], spec['scheme'])
    assert [(i['name'], i['status']) for i in incidents] == [(INCIDENT, 'monitoring')]

    texts = [p['body']['text'] for p in hooks(receiver)]
    assert len(texts) == 4, texts
    assert all(RELEASE['release_id'] in t and 'bob@ci' in t for t in texts), texts
    assert texts[0].startswith('Deploying') and ' failed' in texts[1]
    assert texts[2].startswith('Rolling back') and texts[3].startswith('Rolled back')
    assert RELEASE['previous_release'] in texts[2] and RELEASE['previous_release'] in texts[3]


def test_failed_notifications_warn_audit_and_never_fail_the_play(ansible_playbook, receiver, tmp_path):
    token = 'whk-' + secrets.token_hex(12)
    audit = tmp_path / 'audit.log'
    audit.write_text('{"action": "deploy", "status": "good"}\n')
    tasks = [
        # Callers run the role on the controller; the audit line still belongs to the managed host.
        {'name': 'Add a controller alias', 'ansible.builtin.add_host': {
            'name': 'it-controller', 'ansible_connection': 'local',
            'ansible_python_interpreter': '{{ ansible_python_interpreter }}'}},
        {'name': 'Notify deploy_failed', 'ansible.builtin.include_role': {
            'name': ROLE, 'apply': {'delegate_to': 'it-controller', 'run_once': True}},
         'vars': dict(statuspage_vars('generic', closed_port_url()), notify_event='deploy_failed',
                      notify_release=RELEASE, notify_by='carol', notify_webhook_url='{{ it_webhook }}',
                      notify_audit_log=str(audit))},
        show_result('failed'),
        {'name': 'After notify', 'ansible.builtin.debug': {'msg': 'the play goes on'}},
    ]
    run = ansible_playbook(tasks, extra_vars={'it_api_key': receiver.api_key,
                                              'it_webhook': receiver.url + '/hooks/fail?token=' + token})
    assert run.rc == 0, run.output
    assert run['After notify']['msg'] == 'the play goes on'
    assert run.data['stats']['localhost']['failures'] == 0 and run.data['stats']['localhost']['rescued'] == 2

    result = run['Result failed']['notify_result']
    assert (result['statuspage'], result['webhook'], result['incident_id']) == ('failed', 'failed', None), result
    warnings = [r['msg'] for r in role_results(run, 'Warn that a notification failed')]
    assert len(warnings) == 2 and all(w.startswith('WARNING: ') for w in warnings), warnings
    assert 'statuspage' in warnings[0] and 'connection refused' in warnings[0].lower(), warnings
    assert 'webhook' in warnings[1] and '500' in warnings[1], warnings

    # The webhook was really tried, from the controller alias; the audit line was written as the managed host.
    assert [h['path'] for h in hooks(receiver)] == ['/hooks/fail?token=' + token]
    sent = role_results(run, 'Send the message to the chat webhook')[0]
    assert sent['_ansible_delegated_vars']['ansible_host'] == 'it-controller'
    audited = role_results(run, 'Append a notify_failed line to the audit log')
    assert [a['_ansible_delegated_vars']['ansible_host'] for a in audited] == ['localhost', 'localhost']

    lines = audit.read_text().splitlines()
    assert lines[0] == '{"action": "deploy", "status": "good"}'
    records = [json.loads(line) for line in lines[1:]]
    assert [(r['action'], r['event'], r['target']) for r in records] == [
        ('notify_failed', 'deploy_failed', 'statuspage'), ('notify_failed', 'deploy_failed', 'webhook')]
    for record in records:
        assert set(record) == {'time', 'action', 'event', 'target', 'release_id', 'error'}
        assert record['release_id'] == RELEASE['release_id'] and record['error'] and record['time'].endswith('Z')
        assert record['error'] == result['errors'][record['target']]
    assert '500' in records[1]['error']
    text = audit.read_text()
    for secret in (token, receiver.api_key, '/hooks/fail', receiver.url):
        assert secret not in text, secret


def test_secrets_never_reach_the_output_at_vvv(ansible_playbook, receiver, webhook):
    fail_token = 'whk-' + secrets.token_hex(12)
    wrong_key = 'wk-' + secrets.token_hex(16)
    good = dict(statuspage_vars('statuspage', receiver.url), notify_release=RELEASE,
                notify_webhook_url='{{ it_webhook }}')
    # A key the receiver refuses (its 401 goes through the module's error path) and a failing webhook.
    bad = {**good, 'notify_statuspage_api_key': '{{ it_wrong_key }}', 'notify_webhook_url': '{{ it_fail_webhook }}'}
    tasks = [notify('deploy_started', **good), notify('deploy_failed', **bad), notify('deploy_good', **good)]
    extra = {'it_api_key': receiver.api_key, 'it_wrong_key': wrong_key, 'it_webhook': webhook['url'],
             'it_fail_webhook': receiver.url + '/hooks/fail?token=' + fail_token}
    run = ansible_playbook(tasks, verbosity=3, json_output=False, extra_vars=extra)
    assert run.rc == 0, run.output
    assert run.output.count('WARNING: ') >= 2 and 'HTTP 401' in run.output, run.output

    # The secrets were really used...
    paths = [h['path'] for h in hooks(receiver)]
    assert paths == [webhook['path'], '/hooks/fail?token=' + fail_token, webhook['path']], paths
    assert any(r['headers'].get('authorization') == 'OAuth ' + wrong_key for r in receiver.received())
    # ...and appear nowhere in what ansible-playbook printed.
    for secret in (receiver.api_key, wrong_key, webhook['token'], fail_token):
        assert secret not in run.output, 'secret %s... leaked' % secret[:6]


def test_check_mode_sends_nothing_and_predicts_the_real_run(ansible_playbook, receiver, webhook):
    role_vars = dict(statuspage_vars('statuspage', receiver.url), notify_release=RELEASE, notify_by='dave',
                     notify_webhook_url='{{ it_webhook }}', notify_message='Expect a short blip.')
    extra = {'it_api_key': receiver.api_key, 'it_webhook': webhook['url']}
    tasks = [notify('deploy_started', **role_vars), show_result('started')]

    checked = ansible_playbook(tasks, check=True, extra_vars=extra)
    assert checked.rc == 0, checked.output
    assert receiver.mutations() == [] and hooks(receiver) == []
    result = checked['Result started']['notify_result']
    assert (result['statuspage'], result['webhook'], result['incident_id']) == ('ok', 'skipped', None), result
    assert 'Expect a short blip.' in result['message'] and 'dave' in result['message']
    report = role_results(checked, 'Report the notification')[0]['msg']
    assert report.startswith('Check mode, nothing sent.'), report
    assert 'would create incident "%s"' % INCIDENT in report and 'would post' in report
    assert result['message'] in report

    real = ansible_playbook(tasks, extra_vars=extra)
    assert real.rc == 0, real.output
    assert real['Result started']['notify_result']['message'] == result['message']
    report = role_results(real, 'Report the notification')[0]['msg']
    assert 'created incident "%s"' % INCIDENT in report, report
    assert [h['body']['text'] for h in hooks(receiver)] == [result['message']]


def test_wiring_mistakes_fail_in_preflight_without_printing_secrets(ansible_playbook, receiver):
    role_vars = dict(statuspage_vars('statuspage', receiver.url), notify_release=RELEASE)
    del role_vars['notify_statuspage_page_id']
    run = ansible_playbook([notify('deploy_started', **role_vars)], extra_vars={'it_api_key': receiver.api_key})
    assert run.rc != 0
    assert 'notify_statuspage_page_id' in run.output
    assert receiver.api_key not in run.output
    assert [r['path'] for r in receiver.received() if r['path'] != '/healthz'] == []
