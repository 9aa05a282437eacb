# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.fleet import fleet_digest_refs, fleet_lb_backends

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
