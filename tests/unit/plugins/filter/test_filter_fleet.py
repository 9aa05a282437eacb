# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.fleet import (
    fleet_app_failure, fleet_digest_refs, fleet_full_db_target, fleet_lb_backends, fleet_outcome, fleet_record, fleet_rollback_target,
    fleet_rollback_to_errors, fleet_stop_reason,
)

DIGEST = 'sha256:' + 'a' * 64


class LazyHostVars(Mapping):
    """Like Ansible's HostVarsVars: a Mapping (not a dict) that computes a value only when it is read."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        value = self._data[key]
        return value() if callable(value) else value

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


@pytest.mark.parametrize('host, expected', [
    ({'aishield_address': '10.0.1.21', 'aishield_http_port': 8001}, {'address': '10.0.1.21', 'port': 8001}),
    ({}, {'address': 'app1', 'port': 8000}),
    ({'aishield_http_port': '8002'}, {'address': 'app1', 'port': 8002}),
    # Jinja's int: a float string is cut, anything else is 0 (which the lb role's preflight refuses).
    ({'aishield_http_port': '8080.7'}, {'address': 'app1', 'port': 8080}),
    ({'aishield_http_port': 'abc'}, {'address': 'app1', 'port': 0}),
    ({'aishield_address': ''}, {'address': '', 'port': 8000}),  # defined but empty is kept, as default() did
    (LazyHostVars({'aishield_address': lambda: 'app1.internal', 'unrelated': lambda: 1 / 0}), {'address': 'app1.internal', 'port': 8000}),
])
def test_lb_backends(host, expected):
    assert fleet_lb_backends(['app1'], {'app1': host}) == [dict(expected, name='app1')]


def test_lb_backends_keep_the_order_and_take_other_variable_names():
    hostvars = {'b': {'addr': '10.0.0.2', 'port': 81}, 'a': {'addr': '10.0.0.1'}}
    assert fleet_lb_backends(['b', 'a'], hostvars, address_var='addr', port_var='port', default_port='9000') == [
        {'name': 'b', 'address': '10.0.0.2', 'port': 81}, {'name': 'a', 'address': '10.0.0.1', 'port': 9000}]
    assert fleet_lb_backends([], {}) == []


@pytest.mark.parametrize('hosts, hostvars, match', [
    ('app1', {'app1': {}}, 'list of host names'),
    (['app1'], ['app1'], 'needs hostvars'),
    (['app9'], {'app1': {}}, "host 'app9' is not in the inventory"),
])
def test_lb_backends_reject_bad_input(hosts, hostvars, match):
    with pytest.raises(AnsibleFilterError, match=match):
        fleet_lb_backends(hosts, hostvars)


@pytest.mark.parametrize('images, expected', [
    ({'backend': f'127.0.0.1:5000/aishield/backend:v2@{DIGEST}'}, {'backend': f'127.0.0.1:5000/aishield/backend@{DIGEST}'}),
    ({'proxy': f'nginx@{DIGEST}'}, {'proxy': f'docker.io/library/nginx@{DIGEST}'}),
    ({'db': 'postgres:15'}, {'db': 'postgres:15'}),  # no digest: as recorded
    ({'frontend': '127.0.0.1:5000/aishield/frontend:v2', 'redis': f'redis:7@{DIGEST}'},
     {'frontend': '127.0.0.1:5000/aishield/frontend:v2', 'redis': f'docker.io/library/redis@{DIGEST}'}),
    ({}, {}),
])
def test_digest_refs(images, expected):
    result = fleet_digest_refs(images)
    assert result == expected
    assert list(result) == list(images)


@pytest.mark.parametrize('images, match', [
    (None, 'dict of service -> image reference'),
    (['backend:v2'], 'dict of service -> image reference'),
    ({'backend': {'repository': 'app'}}, "the image of 'backend' must be a reference string"),
    ({'backend': 'app:v2@sha256:short'}, 'is not "sha256:"'),
])
def test_digest_refs_reject_bad_input(images, match):
    with pytest.raises(AnsibleFilterError, match=match):
        fleet_digest_refs(images)


def _fleet(**facts):
    return {name: ({'_fleet_host': fact} if fact is not None else {}) for name, fact in facts.items()}


def test_outcome_of_a_fleet_where_every_host_is_done():
    hostvars = _fleet(db={'role': 'db', 'state': 'done'}, app1={'role': 'app', 'state': 'done', 'switched': True})
    out = fleet_outcome(['db', 'app1'], hostvars, 'Fleet deploy of v2')
    assert out['ok'] and out['switched'] == ['app1'] and out['summary'] == 'Fleet deploy of v2: every host is done (db, app1).'


def test_outcome_names_failed_stopped_unreached_and_rolled_back_hosts():
    hostvars = _fleet(db={'role': 'db', 'state': 'done'},
                      app1={'role': 'app', 'state': 'done', 'switched': True, 'rollback': {'ok': True, 'to': 'r1'}},
                      app2={'role': 'app', 'state': 'failed', 'failure': 'engine gone'},
                      app3={'role': 'app', 'state': 'stopped'}, app4=None)
    out = fleet_outcome(['db', 'app1', 'app2', 'app3', 'app4'], hostvars, 'Fleet deploy of v2')
    assert not out['ok']
    assert (out['failed'], out['stopped'], out['not_reached'], out['rolled_back']) == (['app2'], ['app3'], ['app4'], ['app1'])
    assert out['summary'] == ('Fleet deploy of v2 failed. failed: app2; stopped after a failure: app3; not reached: app4; '
                              'rolled back: app1.')
    assert 'app2 (app): failed: engine gone' in out['lines'] and 'app1 (app): done; rolled back to r1' in out['lines']


def test_outcome_reports_a_failed_rollback():
    hostvars = _fleet(db={'role': 'db', 'state': 'done'}, app1={'role': 'app', 'state': 'done',
                                                                'rollback': {'ok': False, 'message': 'schema'}})
    out = fleet_outcome(['db', 'app1'], hostvars)
    assert out['ok'] and out['rollback_failed'] == ['app1'] and 'ROLLBACK FAILED: schema' in out['lines'][1]


def test_outcome_names_what_a_fleet_rollback_must_return():
    """rollback_to: the app hosts this run switched (done, or failed after the switch) and nothing took back yet."""
    hostvars = _fleet(db={'role': 'db', 'state': 'done'},
                      app1={'role': 'app', 'state': 'done', 'switched': True, 'previous_release': 'r1'},
                      # Failed after its switch: current points at the new release.
                      app2={'role': 'app', 'state': 'failed', 'switched': 'True', 'previous_release': 'r2'},
                      # Failed before its switch, or a rerun that found the release in place: nothing to return.
                      app3={'role': 'app', 'state': 'failed', 'switched': False, 'previous_release': 'r3'},
                      app4={'role': 'app', 'state': 'done', 'switched': 'False', 'previous_release': 'r4'},
                      app5={'role': 'app', 'state': 'stopped'}, app6=None,
                      # Its first release: nothing before it to go back to.
                      app7={'role': 'app', 'state': 'done', 'switched': True, 'previous_release': ''},
                      # The deploy's own rollback took it back already; a failed one leaves it to the next rollback.
                      app8={'role': 'app', 'state': 'done', 'switched': True, 'previous_release': 'r8',
                            'rollback': {'ok': True, 'to': 'r8'}},
                      app9={'role': 'app', 'state': 'done', 'switched': True, 'previous_release': 'r9',
                            'rollback': {'ok': False, 'to': 'r9', 'message': 'schema'}})
    out = fleet_outcome(['db'] + ['app%d' % i for i in range(1, 10)], hostvars, 'Fleet deploy of v2')
    assert out['rollback_to'] == {'app1': 'r1', 'app2': 'r2', 'app9': 'r9'}
    assert out['rolled_back_to'] == {'app8': 'r8'}
    assert fleet_outcome(['db'], _fleet(db={'role': 'db', 'state': 'failed'}))['rollback_to'] == {}


def test_outcome_lines_carry_a_host_note():
    hostvars = _fleet(app1={'role': 'app', 'state': 'done', 'note': 'untouched: it runs r1 already'})
    assert fleet_outcome(['app1'], hostvars)['lines'] == ['app1 (app): done (untouched: it runs r1 already)']


def test_outcome_refuses_an_unknown_state():
    with pytest.raises(AnsibleFilterError, match="app1 has state 'weird'"):
        fleet_outcome(['app1'], _fleet(app1={'state': 'weird'}))


@pytest.mark.parametrize('facts, pct, expected', [
    ({'db': {'state': 'done'}, 'a': {'state': 'done'}, 'b': None}, 0, ''),
    ({'db': {'state': 'failed'}, 'a': None, 'b': None}, 0, 'the db host db is failed: no app host is changed'),
    ({'db': None, 'a': None, 'b': None}, 0, 'the db host db is not reached: no app host is changed'),
    ({'db': {'state': 'done'}, 'a': {'state': 'failed'}, 'b': None}, 0,
     'a failed (1 of 2 app hosts; aishield_max_fail_percentage is 0): the hosts not reached keep the previous release'),
    ({'db': {'state': 'done'}, 'a': {'state': 'failed'}, 'b': None}, 50, ''),
])
def test_stop_reason(facts, pct, expected):
    assert fleet_stop_reason(['a', 'b'], _fleet(**facts), 'db', pct) == expected


def _slurp(record):
    return {'content': base64.b64encode(json.dumps(record).encode()).decode()}


def test_record_says_which_release_each_host_runs_and_whether_the_app_hosts_are_uniform():
    images = {'backend': 'r/backend@sha256:1'}
    hostvars = {
        'db': {'_fleet_host': {'role': 'db'}, '_fleet_current': _slurp({'release_id': 'd1', 'version': 'v2', 'status': 'good'})},
        'a': {'_fleet_host': {'role': 'app'}, '_fleet_current': _slurp({'release_id': 'a1', 'version': 'v2', 'status': 'good', 'images': images})},
        'b': {'_fleet_host': {'role': 'app'}, '_fleet_current': _slurp({'release_id': 'b1', 'version': 'v2', 'status': 'good', 'images': images})},
    }
    record = fleet_record(['db', 'a', 'b'], hostvars, {'ok': True, 'summary': 's'}, 'Fleet deploy of v2', 'me@c', 't')
    assert record['uniform'] and record['outcome'] == 'good' and record['versions'] == ['v2'] and record['run'] == 'Fleet deploy of v2'
    assert record['hosts']['db'] == {'role': 'db', 'release_id': 'd1', 'version': 'v2', 'status': 'good', 'images': {}}
    hostvars['b']['_fleet_current'] = _slurp({'release_id': 'b0', 'version': 'v1', 'status': 'good', 'images': images})
    record = fleet_record(['db', 'a', 'b'], hostvars, {'ok': False})
    assert not record['uniform'] and record['versions'] == ['v1', 'v2'] and record['outcome'] == 'failed'
    # An unreadable release.json (a host whose engine died still has its files; a new host has none).
    hostvars['b']['_fleet_current'] = {'failed': True, 'msg': 'file not found'}
    assert fleet_record(['db', 'a', 'b'], hostvars)['hosts']['b']['release_id'] is None


def test_record_keeps_the_previous_one_when_only_the_time_differs():
    hostvars = {'a': {'_fleet_host': {'role': 'app'}, '_fleet_current': _slurp({'release_id': 'a1', 'version': 'v2', 'status': 'good'})}}
    first = fleet_record(['a'], hostvars, {'ok': True}, 'Fleet deploy of v2', 'me@c', 't1')
    again = fleet_record(['a'], hostvars, {'ok': True}, 'Fleet deploy of v2', 'you@c', 't2', previous=_slurp(first))
    assert again == first
    other = fleet_record(['a'], hostvars, {'ok': False}, 'Fleet deploy of v2', 'you@c', 't2', previous=_slurp(first))
    assert other['time'] == 't2' and other['outcome'] == 'failed'


RID = '20250131T235959Z-v2'


@pytest.mark.parametrize('value', [None, '', {}, {'app1': RID}, {'app1': RID, 'app2': ' 20250101T000000Z-v1.10 '}])
def test_rollback_to_errors_accept_a_plan_or_none(value):
    assert fleet_rollback_to_errors(value, ['app1', 'app2']) == []


@pytest.mark.parametrize('value, expected', [
    ('app1', ["aishield_fleet_rollback_to must be a dict of app host -> release id", "got str 'app1'",
              '-e \'{"aishield_fleet_rollback_to": {"app1": "20250131T235959Z-v2"}}\'', 'or leave it out']),
    ([RID], ['must be a dict', 'got list']),
    ({'db1': RID, 'app9': RID}, ['aishield_fleet_rollback_to names db1, app9, not an app host of this inventory '
                                 '(app hosts: app1, app2)', 'the inventory the fleet deploy ran with']),
    ({'app1': 'v1'}, ["aishield_fleet_rollback_to[app1] is 'v1', not a release id like 20250131T235959Z-v2",
                      'a directory under its releases/']),
    ({'app1': 'previous'}, ["aishield_fleet_rollback_to[app1] is 'previous'"]),
    ({'app1': None}, ['aishield_fleet_rollback_to[app1] is None']),
    ({'app1': '20250131T235959Z-v2; rm -rf /'}, ['aishield_fleet_rollback_to[app1]']),
    ({'app1': '20251331T000000Z-v2'}, ['aishield_fleet_rollback_to[app1]']),
])
def test_rollback_to_errors_name_the_variable_and_the_fix(value, expected):
    errors = ' '.join(fleet_rollback_to_errors(value, ['app1', 'app2']))
    missing = [want for want in expected if want not in errors]
    assert not missing, errors


def test_rollback_to_errors_report_every_problem_at_once():
    errors = fleet_rollback_to_errors({'lb1': RID, 'app1': 'x', 'app2': 'y'}, ['app1', 'app2'])
    assert len(errors) == 3 and 'names lb1' in errors[0]


def test_rollback_to_errors_need_the_app_hosts():
    with pytest.raises(AnsibleFilterError, match='needs the app hosts'):
        fleet_rollback_to_errors({}, 'app1')


@pytest.mark.parametrize('plan, host, current, expected', [
    # No plan: the release before current, on every app host (rollback_multihost.yml's default).
    (None, 'app1', None, {'to': 'previous', 'note': ''}),
    ('', 'app1', None, {'to': 'previous', 'note': ''}),
    ({'app1': RID}, 'app1', None, {'to': RID, 'note': ''}),
    ({'app1': ' %s ' % RID}, 'app1', _slurp({'release_id': '20250201T000000Z-v3'}), {'to': RID, 'note': ''}),
    ({'app1': RID}, 'app1', _slurp({'release_id': RID}), {'to': '', 'note': 'untouched: it runs %s already' % RID}),
    ({'app1': RID}, 'app1', {'failed': True, 'msg': 'file not found'}, {'to': RID, 'note': ''}),
    # A plan that does not name the host (an empty one names none): it is left as it is.
    ({'app1': RID}, 'app2', None, {'to': '', 'note': 'untouched: not in aishield_fleet_rollback_to, the fleet run did not switch it'}),
    ({}, 'app1', None, {'to': '', 'note': 'untouched: not in aishield_fleet_rollback_to, the fleet run did not switch it'}),
])
def test_rollback_target(plan, host, current, expected):
    assert fleet_rollback_target(plan, host, current) == expected


def test_rollback_target_refuses_a_plan_that_is_not_a_dict():
    with pytest.raises(AnsibleFilterError, match='expects aishield_fleet_rollback_to as a dict'):
        fleet_rollback_target(['app1'], 'app1')


def test_full_db_target_is_the_db_release_the_app_targets_ran_against():
    hostvars = {'app1': {'_fleet_full_target': {'release_id': 'R1-app1', 'db_release': 'R1-db'}},
                'app2': {'_fleet_full_target': {'release_id': 'R1-app2', 'db_release': 'R1-db'}},
                'app3': {}}
    assert fleet_full_db_target(['app1', 'app2', 'app3'], hostvars) == {'to': 'R1-db', 'error': ''}


@pytest.mark.parametrize('hostvars, fragment', [
    ({'app1': {}, 'app2': {'_fleet_full_target': None}}, 'no app host rolls back'),
    ({'app1': {'_fleet_full_target': {'release_id': 'R1-app1'}}}, 'the release R1-app1 on app1 goes back to records no db host'),
    ({'app1': {'_fleet_full_target': {'release_id': 'R1-app1', 'db_release': 'R1-db'}},
      'app2': {'_fleet_full_target': {'release_id': 'R0-app2', 'db_release': 'R0-db'}}},
     'R1-app1 on app1 ran against R1-db; R0-app2 on app2 ran against R0-db'),
])
def test_full_db_target_refuses_what_one_database_cannot_suit(hostvars, fragment):
    result = fleet_full_db_target(sorted(hostvars), LazyHostVars({k: LazyHostVars(v) for k, v in hostvars.items()}))
    assert result['to'] == '' and fragment in result['error'], result


def _slurp(record):
    return {'content': base64.b64encode(json.dumps(record).encode()).decode(), 'encoding': 'base64'}


RELEASE = {'release_id': '20261207T160000Z-v2', 'created': True, 'previous_release': '20261207T150000Z-v1'}


def test_an_app_host_that_switched_before_failing_is_marked_switched():
    fact = fleet_app_failure(RELEASE, _slurp({'release_id': '20261207T160000Z-v2'}), 'smoke test failed')
    assert fact == {'role': 'app', 'state': 'failed', 'failure': 'smoke test failed', 'switched': True,
                    'previous_release': '20261207T150000Z-v1'}


@pytest.mark.parametrize('release, current', [
    # The engine died mid-switch: current still names the old release.
    (RELEASE, _slurp({'release_id': '20261207T150000Z-v1'})),
    # current could not be read (slurp failed), or is not JSON.
    (RELEASE, {'failed': True, 'msg': 'file not found'}),
    (RELEASE, {'content': base64.b64encode(b'not json').decode()}),
    # This run never created its release (the same release was already there), or failed before prepare.
    (dict(RELEASE, created=False), _slurp({'release_id': '20261207T160000Z-v2'})),
    (dict(RELEASE, created='False'), _slurp({'release_id': '20261207T160000Z-v2'})),
    ({}, _slurp({'release_id': '20261207T160000Z-v2'})),
    (None, None),
])
def test_an_app_host_that_did_not_switch_is_not_marked_switched(release, current):
    fact = fleet_app_failure(release, current, 'x')
    assert fact['switched'] is False and fact['state'] == 'failed' and fact['role'] == 'app'
    assert fact['previous_release'] == ((release or {}).get('previous_release') or '')


def test_an_app_failure_without_a_message_says_where_to_look():
    assert fleet_app_failure({}, {}, '')['failure'] == 'see above'
    assert fleet_app_failure({}, {})['failure'] == 'see above'
