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
    fleet_digest_refs, fleet_lb_backends, fleet_outcome, fleet_record, fleet_stop_reason,
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
