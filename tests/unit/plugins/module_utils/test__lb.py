# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The load balancer's pure logic: inputs, the drained set a call leaves, nginx.conf and the rotation line."""

from __future__ import annotations

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._lb import (
    check_inputs, plan_drained, render_nginx_conf, resolves_names, rotation_message)

BACKENDS = [{'name': 'app2', 'address': '10.0.0.12', 'port': 8000}, {'name': 'app1', 'address': '10.0.0.11', 'port': 8000}]
NAMES = ['app1', 'app2']


def test_good_inputs_pass():
    assert check_inputs('proxy:v1', BACKENDS, 80, ['app1'], ['app2']) is None
    assert check_inputs('proxy:v1', [{'name': 'a', 'address': 'app-1.internal'}], '8080', [], []) is None


@pytest.mark.parametrize('image,backends,port,drain', [
    ('', BACKENDS, 80, []),
    ('proxy:v1', [], 80, []),
    ('proxy:v1', [{'name': 'app1'}], 80, []),
    ('proxy:v1', [{'address': '10.0.0.1'}], 80, []),
    ('proxy:v1', [{'name': 'app1', 'address': 'a b'}], 80, []),
    ('proxy:v1', [{'name': 'app1', 'address': '10.0.0.1; rm -rf /'}], 80, []),
    ('proxy:v1', [{'name': 'app1', 'address': '10.0.0.1', 'port': 0}], 80, []),
    ('proxy:v1', [{'name': 'app1', 'address': '10.0.0.1', 'port': 'eighty'}], 80, []),
    ('proxy:v1', BACKENDS, 0, []),
    ('proxy:v1', BACKENDS, 65536, []),
    ('proxy:v1', BACKENDS, 'http', []),
    ('proxy:v1', BACKENDS, 80, ['app9']),
    ('proxy:v1', 'app1,app2', 80, []),
])
def test_bad_inputs_are_named_with_what_was_given(image, backends, port, drain):
    message = check_inputs(image, backends, port, drain, [])
    assert message and 'lb_backends must list every app host' in message
    assert "Got image '%s'" % image in message and 'drain %s' % drain in message


def test_a_port_nginx_must_judge_gets_past_the_inputs():
    # 70000 is a whole number >= 1: nginx rejects it, and the module keeps it out of the live file.
    assert check_inputs('proxy:v1', [{'name': 'a', 'address': '10.0.0.1', 'port': 70000}], 80, [], []) is None


def test_drain_then_undrain_starting_from_the_kept_set():
    assert plan_drained([], ['app1'], [], NAMES, False) == (['app1'], [], None)
    # A later call without undrain keeps what the last one left.
    assert plan_drained(['app1'], [], [], NAMES, False) == (['app1'], [], None)
    assert plan_drained(['app1'], [], ['app1'], NAMES, False) == ([], [], None)
    # Undrain wins over drain for a host named in both; hosts no longer listed drop out.
    assert plan_drained(['gone'], ['app1'], ['app1'], NAMES, False) == ([], [], None)


def test_draining_the_last_host_is_refused_or_kept_serving():
    drained, kept, refused = plan_drained(['app1'], ['app2'], [], NAMES, False)
    assert drained == ['app1', 'app2'] and kept == []
    assert 'Draining app2 would leave no app host in rotation (drained: app1, app2)' in refused
    assert 'aishield_serial' in refused
    assert plan_drained(['app1'], ['app2'], [], NAMES, True) == (['app1'], ['app2'], None)
    # Both at once in a batch of every host: kept serving, nothing drained.
    assert plan_drained([], ['app1', 'app2'], [], NAMES, True) == ([], ['app1', 'app2'], None)


def test_nginx_conf_lists_every_backend_sorted_with_the_drained_ones_down():
    conf = render_nginx_conf(BACKENDS, ['app2'])
    first, second = conf.index('# app1'), conf.index('# app2')
    assert first < second
    assert '        server 10.0.0.11:8000 max_fails=1 fail_timeout=5s;\n' in conf
    assert '        server 10.0.0.12:8000 max_fails=1 fail_timeout=5s down;\n' in conf
    assert 'listen 8080;' in conf and 'return 200 "ok\\n";' in conf and 'proxy_set_header Connection "";' in conf
    assert conf.count('{') == conf.count('}')
    assert render_nginx_conf([{'name': 'a', 'address': 'h'}], []).count('server h:80 max_fails=1 fail_timeout=5s;') == 1


def test_only_host_names_need_a_resolver():
    assert not resolves_names(BACKENDS)
    assert not resolves_names([{'name': 'a', 'address': 'fd00::1'}])
    assert resolves_names([{'name': 'a', 'address': 'app1.internal'}])


def test_the_rotation_line():
    assert rotation_message('lb', BACKENDS, ['app1'], []) == 'Load balancer lb: in rotation app2; drained app1.'
    assert rotation_message('lb', BACKENDS, [], ['app1', 'app2']) == (
        'Load balancer lb: in rotation app2, app1; drained none. Not drained: app1, app2, the last in rotation '
        '(kept serving through its own rolling switch).')
