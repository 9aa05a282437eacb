# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""aishield.ops.statuspage_incident run through ansible-playbook against the test bed's receiver."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

PROVIDERS = {
    'statuspage': {'list': '/v1/pages/pg-it/incidents', 'scheme': 'OAuth', 'wrapped': True},
    'generic': {'list': '/api/incidents', 'scheme': 'Bearer', 'wrapped': False},
}


def base_args(provider, receiver, name):
    args = {'provider': provider, 'api_url': receiver.url, 'api_key': receiver.api_key, 'name': name}
    if provider == 'statuspage':
        args['page_id'] = 'pg-it'
    return args


def four_times(name, args):
    """Check, real, idempotent check, idempotent real (community.docker's pattern)."""
    return [
        {'name': name + ' (check)', 'check_mode': True, 'aishield.ops.statuspage_incident': args},
        {'name': name, 'aishield.ops.statuspage_incident': args},
        {'name': name + ' again (check)', 'check_mode': True, 'aishield.ops.statuspage_incident': args},
        {'name': name + ' again', 'aishield.ops.statuspage_incident': args},
    ]


def with_actions(tasks):
    """Register every task and report its "action" through a final debug task.

    The JSON callback overwrites a result's "action" key with the task's module name,
    so the module's own "action" is read from the registered variables instead.
    """
    names = {}
    for index, task in enumerate(tasks):
        task['register'] = '__r%d' % index
        names[task['name']] = '__r%d' % index
    listing = ', '.join("%r: %s.action | default('-')" % (name, var) for name, var in names.items())
    return tasks + [{'name': 'Actions', 'ansible.builtin.debug': {'msg': '{{ {%s} }}' % listing}}]


def action_of(run, task_name):
    return run['Actions']['msg'][task_name]


def fields(provider, record):
    body = record['body'] or {}
    return body.get('incident', {}) if PROVIDERS[provider]['wrapped'] else body


@pytest.mark.parametrize('provider', ['statuspage', 'generic'])
def test_lifecycle_is_idempotent_and_check_mode_sends_nothing(ansible_playbook, receiver, provider):
    spec = PROVIDERS[provider]
    name = 'Deploy 1.4.0 (%s)' % provider
    impact = 'minor' if provider == 'statuspage' else 'partial'
    base = base_args(provider, receiver, name)
    create = dict(base, status='identified', impact=impact, body='Deploying; short interruptions possible.',
                  components={'api': 'under_maintenance'})
    update = dict(create, status='monitoring')
    resolve = dict(base, state='resolved', body='Deployment complete.', components={'api': 'operational'})
    tasks = four_times('Create', create) + four_times('Update', update) + four_times('Resolve', resolve)
    run = ansible_playbook(with_actions(tasks), diff=True)
    assert run.rc == 0, run.output

    for step, action in (('Create', 'created'), ('Update', 'updated'), ('Resolve', 'resolved')):
        predicted, real = run[step + ' (check)'], run[step]
        assert (predicted['changed'], action_of(run, step + ' (check)')) == (True, action)
        assert (real['changed'], action_of(run, step)) == (True, action), real
        # Check mode predicted the request that was then really sent.
        assert predicted['request'] == real['request']
        for again in (step + ' again (check)', step + ' again'):
            assert (run[again]['changed'], action_of(run, again)) == (False, 'none'), run[again]

    created = run['Create']
    assert created['incident']['id'] and created['incident']['status'] == 'identified'
    assert created['incident']['impact'] == impact and created['incident']['components'] == {'api': 'under_maintenance'}
    assert created['diff']['before'] == {} and created['diff']['after']['status'] == 'identified'
    incident_id = created['incident']['id']
    assert run['Update']['request']['url'] == receiver.url + spec['list'] + '/' + incident_id
    assert run['Update']['diff'] == {'before': {'status': 'identified', 'body': create['body']},
                                     'after': {'status': 'monitoring', 'body': create['body']}}
    assert run['Resolve']['incident']['status'] == 'resolved' and run['Resolve']['incident']['id'] == incident_id
    assert run['Resolve again']['incident'] == {}

    # Exactly one POST and two PATCHes reached the API: check mode and repeats sent nothing mutating.
    mutations = receiver.mutations()
    assert [(m['method'], m['path']) for m in mutations] == [
        ('POST', spec['list']),
        ('PATCH', spec['list'] + '/' + incident_id),
        ('PATCH', spec['list'] + '/' + incident_id),
    ]
    assert fields(provider, mutations[0])['name'] == name
    assert fields(provider, mutations[1]) == {'status': 'monitoring', 'body': create['body']}
    assert fields(provider, mutations[2])['status'] == 'resolved'
    if provider == 'statuspage':
        assert fields(provider, mutations[0])['impact_override'] == 'minor'
        assert fields(provider, mutations[2])['component_ids'] == ['api']
    for record in receiver.received():
        if record['path'] == '/healthz':  # the fixture's own readiness probe
            continue
        assert record['headers']['authorization'] == '%s %s' % (spec['scheme'], receiver.api_key)

    incidents = receiver.incidents(spec['list'], spec['scheme'])
    assert [(i['id'], i['status']) for i in incidents] == [(incident_id, 'resolved')]


@pytest.mark.parametrize('provider', ['statuspage', 'generic'])
def test_api_key_never_in_output(ansible_playbook, receiver, provider):
    args = dict(base_args(provider, receiver, 'Secret check'), status='investigating', api_key='{{ status_api_key }}')
    run = ansible_playbook([
        {'name': 'Create', 'aishield.ops.statuspage_incident': args},
        {'name': 'Create (check)', 'check_mode': True, 'aishield.ops.statuspage_incident': dict(args, status='identified')},
        {'name': 'Wrong key', 'ignore_errors': True,
         'aishield.ops.statuspage_incident': dict(args, api_key='{{ wrong_key }}')},
    ], verbosity=3, diff=True, json_output=False,
        extra_vars={'status_api_key': receiver.api_key, 'wrong_key': 'wrong-' + receiver.api_key[-12:]})
    assert run.rc == 0, run.output
    assert receiver.api_key not in run.output and receiver.api_key[-12:] not in run.output
    assert 'answered HTTP 401' in run.output and '"action": "created"' in run.output
    assert len(receiver.mutations()) == 1


def test_resolving_nothing_and_repeat_after_resolve(ansible_playbook, receiver):
    args = base_args('generic', receiver, 'Rollback in progress')
    run = ansible_playbook(with_actions([
        {'name': 'Resolve unknown', 'aishield.ops.statuspage_incident': dict(args, state='resolved')},
        {'name': 'Open', 'aishield.ops.statuspage_incident': dict(args, status='investigating', impact='partial')},
        {'name': 'Resolve via status', 'aishield.ops.statuspage_incident': dict(args, status='resolved')},
        {'name': 'Open again', 'aishield.ops.statuspage_incident': dict(args, status='investigating', impact='partial')},
    ]))
    assert run.rc == 0, run.output
    assert (run['Resolve unknown']['changed'], action_of(run, 'Resolve unknown')) == (False, 'none')
    assert action_of(run, 'Resolve via status') == 'resolved'
    # A resolved incident is history: the same name opens a new one.
    assert action_of(run, 'Open again') == 'created'
    assert run['Open again']['incident']['id'] != run['Open']['incident']['id']
    assert [m['method'] for m in receiver.mutations()] == ['POST', 'PATCH', 'POST']


def test_unreachable_api_fails_with_one_line(ansible_playbook, receiver):
    args = dict(base_args('statuspage', receiver, 'x'), api_url='http://127.0.0.1:1', retries=1)
    run = ansible_playbook([{'name': 'Create', 'ignore_errors': True, 'aishield.ops.statuspage_incident': args}])
    result = run['Create']
    assert result['failed'] and '\n' not in result['msg']
    assert result['msg'] == ('statuspage API: GET http://127.0.0.1:1/v1/pages/pg-it/incidents/unresolved?per_page=100 '
                             'failed after 2 attempt(s): connection refused')
