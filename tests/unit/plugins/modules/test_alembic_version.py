# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import socket

import pytest
import yaml

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.doc_fragments.postgres import ModuleDocFragment
from ansible_collections.aishield.ops.plugins.module_utils._postgres import (
    connect_kwargs, describe_target, one_line_error, postgres_common_argument_spec,
)
from ansible_collections.aishield.ops.plugins.modules import alembic_version
from ansible_collections.aishield.ops.plugins.modules.alembic_version import compare, target_revisions


@pytest.mark.parametrize('current, heads, expected, revisions, result', [
    ([], None, None, None, {'current': [], 'revision': None, 'multiple_heads': False}),
    (['a1'], None, None, None, {'current': ['a1'], 'revision': 'a1', 'multiple_heads': False}),
    ([], ['b2'], None, None,
     {'current': [], 'revision': None, 'multiple_heads': False, 'is_head': False, 'pending': True, 'unknown': []}),
    (['a1'], ['b2'], None, ['a1', 'b2'],
     {'current': ['a1'], 'revision': 'a1', 'multiple_heads': False, 'is_head': False, 'pending': True,
      'unknown': []}),
    # Without revisions a non-head revision cannot be told from a foreign one: reported as unknown.
    (['a1'], ['b2'], None, None,
     {'current': ['a1'], 'revision': 'a1', 'multiple_heads': False, 'is_head': False, 'pending': True,
      'unknown': ['a1']}),
    (['b2'], ['b2'], ['b2'], None,
     {'current': ['b2'], 'revision': 'b2', 'multiple_heads': False, 'is_head': True, 'pending': False,
      'unknown': [], 'matches': True}),
    (['zz9'], ['b2'], None, ['a1', 'b2'],
     {'current': ['zz9'], 'revision': 'zz9', 'multiple_heads': False, 'is_head': False, 'pending': True,
      'unknown': ['zz9']}),
    (['c3', 'b2'], ['b2', 'c3'], None, None,
     {'current': ['b2', 'c3'], 'revision': None, 'multiple_heads': True, 'is_head': True, 'pending': False,
      'unknown': []}),
    (['b2'], ['b2', 'c3'], None, None,
     {'current': ['b2'], 'revision': 'b2', 'multiple_heads': True, 'is_head': False, 'pending': True,
      'unknown': []}),
    (['b2'], None, [], None, {'current': ['b2'], 'revision': 'b2', 'multiple_heads': False, 'matches': False}),
    ([], None, [], None, {'current': [], 'revision': None, 'multiple_heads': False, 'matches': True}),
    ([], [], None, None,
     {'current': [], 'revision': None, 'multiple_heads': False, 'is_head': True, 'pending': False, 'unknown': []}),
    (['a1'], None, None, ['a1'], {'current': ['a1'], 'revision': 'a1', 'multiple_heads': False, 'unknown': []}),
])
def test_compare(current, heads, expected, revisions, result):
    assert compare(current, heads, expected, revisions) == result


@pytest.mark.parametrize('state, heads, expected, target', [
    ('query', ['b2'], ['a1'], None),
    ('present', ['b2'], None, ['b2']),
    ('present', ['b2'], ['a1'], ['a1']),
    ('present', None, [], []),
    ('present', None, None, None),
])
def test_target_revisions(state, heads, expected, target):
    assert target_revisions(state, heads, expected) == target


def pg_params(**overrides):
    base = dict((k, None) for k in postgres_common_argument_spec())
    base['connect_timeout'] = 10
    base.update(overrides)
    return base


@pytest.mark.parametrize('overrides, expected', [
    ({}, {'application_name': 'x', 'connect_timeout': 10}),
    ({'login_host': '127.0.0.1', 'login_port': 5433, 'login_user': 'u', 'login_password': 'p', 'login_db': 'd',
      'ssl_mode': 'require', 'ca_cert': '/ca.pem'},
     {'application_name': 'x', 'host': '127.0.0.1', 'port': 5433, 'user': 'u', 'password': 'p', 'dbname': 'd',
      'sslmode': 'require', 'sslrootcert': '/ca.pem', 'connect_timeout': 10}),
    ({'login_password': ''}, {'application_name': 'x', 'connect_timeout': 10}),
])
def test_connect_kwargs_only_passes_what_is_set(overrides, expected):
    assert connect_kwargs(pg_params(**overrides), 'x') == expected


@pytest.mark.parametrize('overrides, environ, expected', [
    ({'login_host': 'db', 'login_port': 5433, 'login_user': 'u', 'login_db': 'd', 'login_password': 'pw'}, {},
     'db:5433/d as user u'),
    ({}, {'PGHOST': 'h', 'PGPORT': '6000', 'PGUSER': 'eu', 'PGDATABASE': 'ed', 'PGPASSWORD': 'pw'},
     'h:6000/ed as user eu'),
    ({'login_user': 'u'}, {}, 'local socket:5432/u as user u'),
    ({'login_host': 'opt'}, {'PGHOST': 'env'}, 'opt:5432/u as user u'),
])
def test_describe_target(overrides, environ, expected):
    if 'login_user' not in overrides and 'PGUSER' not in environ:
        overrides = dict(overrides, login_user='u')
    assert describe_target(pg_params(**overrides), environ) == expected


class FakePgError(Exception):
    pgerror = None


@pytest.mark.parametrize('message, secrets, expected', [
    ('connection to server at "127.0.0.1", port 5999 failed: Connection refused\n\tIs the server running on that host '
     'and accepting TCP/IP connections?\n', [],
     'Connection refused Is the server running on that host and accepting TCP/IP connections?'),
    ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "app"\n',
     ['pw'], 'FATAL: password authentication failed for user "app"'),
    ('weird error mentioning hunter2', ['hunter2', None], 'weird error mentioning ********'),
    ('', [], 'FakePgError'),
])
def test_one_line_error(message, secrets, expected):
    assert one_line_error(FakePgError(message), secrets) == expected


def test_doc_fragment_matches_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    spec = postgres_common_argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc['type'] == option['type'], name
        assert doc.get('default') == option.get('default'), name
        assert sorted(doc.get('aliases', [])) == sorted(option.get('aliases', [])), name
        assert doc.get('choices') == option.get('choices'), name
    assert spec['login_password']['no_log'] is True


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            alembic_version.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def test_present_needs_something_to_compare(capsys):
    rc, result = run_module({'state': 'present', 'login_host': '127.0.0.1'}, capsys)
    assert rc == 1 and result['msg'] == 'state=present needs expected or heads to compare with'


def test_unreachable_database_gives_one_line_without_password(capsys):
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    password = 'Sup3r-Secret-pw'
    rc, result = run_module({'login_host': '127.0.0.1', 'login_port': port, 'login_user': 'app', 'login_db': 'aishield',
                             'login_password': password, 'connect_timeout': 3}, capsys)
    assert rc == 1
    assert result['msg'].startswith('cannot connect to PostgreSQL at 127.0.0.1:%d/aishield as user app: ' % port)
    assert 'Connection refused' in result['msg'] and '\n' not in result['msg']
    assert password not in json.dumps(result)
