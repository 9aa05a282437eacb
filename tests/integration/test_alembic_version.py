# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""aishield.ops.alembic_version against a real PostgreSQL migrated by real Alembic."""

from __future__ import annotations

import socket
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

# The venv running these tests carries the pinned alembic (requirements/test.txt).
ALEMBIC = str(Path(sys.executable).parent / 'alembic')

ENV_PY = '''\
import os

from alembic import context
from sqlalchemy import create_engine

# The URL (with the password) comes from the environment, never from a command line.
engine = create_engine(os.environ["AISHIELD_TEST_DB_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''

REVISIONS = {
    'a1': (None, "op.create_table('users', sa.Column('id', sa.Integer, primary_key=True))"),
    'b2': ('a1', "op.add_column('users', sa.Column('email', sa.String(320)))"),
    # A second branch from a1: with it the script directory has two heads (b2 and c3).
    'c3': ('a1', "op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True))"),
}


def alembic_project(root, revisions):
    """A throw-away Alembic script directory holding the given revisions."""
    versions = root / 'migrations' / 'versions'
    versions.mkdir(parents=True)
    (root / 'migrations' / 'env.py').write_text(ENV_PY)
    (root / 'alembic.ini').write_text('[alembic]\nscript_location = %s\n' % (root / 'migrations'))
    for rev in revisions:
        down, upgrade = REVISIONS[rev]
        (versions / ('%s.py' % rev)).write_text(textwrap.dedent('''\
            """revision {rev}"""
            import sqlalchemy as sa
            from alembic import op

            revision = {rev!r}
            down_revision = {down!r}
            branch_labels = None
            depends_on = None


            def upgrade():
                {upgrade}


            def downgrade():
                raise NotImplementedError
            ''').format(rev=rev, down=down, upgrade=upgrade))
    return root / 'alembic.ini'


@pytest.fixture
def database(postgres):
    return postgres.create_database('alembic')


def conn_args(postgres, db, **extra):
    # The password arrives as a variable, as from a vault (see the ansible_playbook fixture).
    args = {'login_host': postgres.host, 'login_port': postgres.port, 'login_user': postgres.user,
            'login_password': '{{ pg_password }}', 'login_db': db}
    args.update(extra)
    return args


def alembic_task(name, ini, db, *argv):
    return {'name': name, 'changed_when': True, 'no_log': True,
            'ansible.builtin.command': {'argv': [ALEMBIC, '-c', str(ini)] + list(argv)},
            'environment': {'AISHIELD_TEST_DB_URL': '{{ pg_url_prefix }}%s' % db}}


def secrets_of(postgres):
    return {'pg_password': postgres.password, 'pg_url_prefix': postgres.url('')}


def test_none_then_a1_then_b2(ansible_playbook, postgres, database, tmp_path):
    ini = alembic_project(tmp_path / 'linear', ['a1', 'b2'])
    module = 'aishield.ops.alembic_version'
    code = {'heads': ['b2'], 'revisions': ['a1', 'b2']}
    read = dict(conn_args(postgres, database), **code)
    tasks = [
        {'name': 'Read fresh', module: read},
        {'name': 'Read fresh in check mode', 'check_mode': True, module: read},
        {'name': 'Present on a fresh database', 'ignore_errors': True, module: dict(read, state='present')},
        alembic_task('Upgrade to a1', ini, database, 'upgrade', 'a1'),
        {'name': 'Read a1', module: dict(read, expected='a1')},
        {'name': 'Present at a1', module: dict(read, state='present', expected=['a1'])},
        {'name': 'Heads from the alembic CLI', 'register': '__heads', 'changed_when': False,
         'ansible.builtin.command': {'argv': [ALEMBIC, '-c', str(ini), 'heads']}},
        alembic_task('Upgrade to head', ini, database, 'upgrade', 'head'),
        {'name': 'Read b2 with heads from the filter', module: dict(
            conn_args(postgres, database), heads='{{ __heads.stdout | aishield.ops.alembic_heads }}')},
        {'name': 'Present at heads', module: dict(read, state='present')},
        {'name': 'Present at a stale expectation', 'ignore_errors': True, module: dict(read, state='present', expected='a1')},
        {'name': 'Code that does not know b2', module: dict(conn_args(postgres, database), heads=['a1'], revisions=['a1'])},
    ]
    run = ansible_playbook(tasks, extra_vars=secrets_of(postgres))
    assert run.rc == 0, run.output

    fresh = run['Read fresh']
    assert fresh['current'] == [] and fresh['table_exists'] is False and fresh['revision'] is None
    assert (fresh['is_head'], fresh['pending'], fresh['unknown'], fresh['multiple_heads']) == (False, True, [], False)
    assert fresh['changed'] is False
    assert run['Read fresh in check mode']['current'] == [] and not run['Read fresh in check mode'].get('skipped')
    assert run['Present on a fresh database']['failed']
    assert run['Present on a fresh database']['msg'] == (
        "database %s:%s/%s as user %s is at no revision, expected ['b2']"
        % (postgres.host, postgres.port, database, postgres.user))

    at_a1 = run['Read a1']
    assert at_a1['current'] == ['a1'] and at_a1['revision'] == 'a1' and at_a1['table_exists']
    assert (at_a1['is_head'], at_a1['pending'], at_a1['unknown'], at_a1['matches']) == (False, True, [], True)
    assert not run['Present at a1'].get('failed') and run['Present at a1']['matches']

    at_b2 = run['Read b2 with heads from the filter']
    assert at_b2['current'] == ['b2'] and at_b2['is_head'] and not at_b2['pending'] and at_b2['unknown'] == []
    assert run['Present at heads']['matches'] and not run['Present at heads'].get('failed')
    stale = run['Present at a stale expectation']
    assert stale['failed'] and stale['msg'].endswith("is at ['b2'], expected ['a1']")
    assert stale['current'] == ['b2']
    assert run['Code that does not know b2']['unknown'] == ['b2']


def test_two_heads(ansible_playbook, postgres, database, tmp_path):
    ini = alembic_project(tmp_path / 'branched', ['a1', 'b2', 'c3'])
    run = ansible_playbook([
        alembic_task('Upgrade to all heads', ini, database, 'upgrade', 'heads'),
        {'name': 'Read', 'aishield.ops.alembic_version': conn_args(postgres, database, heads=['c3', 'b2'])},
        {'name': 'Code with one head', 'aishield.ops.alembic_version': conn_args(
            postgres, database, heads=['b2'], revisions=['a1', 'b2'])},
    ], extra_vars=secrets_of(postgres))
    assert run.rc == 0, run.output
    read = run['Read']
    assert read['current'] == ['b2', 'c3'] and read['revision'] is None
    assert read['multiple_heads'] and read['is_head'] and not read['pending'] and read['unknown'] == []
    one = run['Code with one head']
    assert one['multiple_heads'] and not one['is_head'] and one['unknown'] == ['c3']


def test_missing_table_and_schema_read_as_empty(ansible_playbook, postgres, database):
    postgres.psql('CREATE SCHEMA app; CREATE TABLE app.alembic_version (version_num varchar(32) PRIMARY KEY);'
                  "INSERT INTO app.alembic_version VALUES ('a1')", db=database)
    module = 'aishield.ops.alembic_version'
    run = ansible_playbook([
        {'name': 'Default table', module: conn_args(postgres, database)},
        {'name': 'Missing schema', module: conn_args(postgres, database, version_table_schema='nope')},
        {'name': 'Schema table', module: conn_args(postgres, database, version_table_schema='app')},
        {'name': 'Custom table name', module: conn_args(postgres, database, version_table='Weird "name"')},
    ], extra_vars=secrets_of(postgres))
    assert run.rc == 0, run.output
    assert run['Default table']['current'] == [] and run['Default table']['table_exists'] is False
    assert run['Missing schema']['current'] == [] and run['Missing schema']['table_exists'] is False
    assert run['Schema table']['current'] == ['a1'] and run['Schema table']['table_exists']
    assert run['Custom table name']['current'] == []


def test_libpq_environment_and_pgpass(ansible_playbook, postgres, database, tmp_path):
    pgpass = tmp_path / 'pgpass'
    pgpass.touch(mode=0o600)
    pgpass.write_text('%s:%s:*:%s:%s\n' % (postgres.host, postgres.port, postgres.user, postgres.password))
    env = {'PGHOST': postgres.host, 'PGPORT': str(postgres.port), 'PGUSER': postgres.user, 'PGDATABASE': database}
    run = ansible_playbook([
        {'name': 'From PG variables', 'aishield.ops.alembic_version': {},
         'environment': dict(env, PGPASSWORD='{{ pg_password }}')},
        {'name': 'From pgpass', 'aishield.ops.alembic_version': {'expected': []},
         'environment': dict(env, PGPASSFILE=str(pgpass))},
    ], extra_vars=secrets_of(postgres))
    assert run.rc == 0, run.output
    assert run['From PG variables']['current'] == [] and run['From pgpass']['matches'] is True


def _closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_errors_are_one_line_without_password(ansible_playbook, postgres, database):
    port = _closed_port()
    wrong = 'wrong-' + postgres.password
    run = ansible_playbook([
        {'name': 'Unreachable', 'ignore_errors': True, 'aishield.ops.alembic_version': {
            'login_host': '127.0.0.1', 'login_port': port, 'login_user': 'deployer', 'login_db': 'aishield',
            'login_password': '{{ pg_password }}', 'connect_timeout': 3}},
        {'name': 'Wrong password', 'ignore_errors': True, 'aishield.ops.alembic_version': conn_args(
            postgres, database, login_password='{{ wrong_password }}')},
    ], verbosity=3, json_output=False, extra_vars=dict(secrets_of(postgres), wrong_password=wrong))
    assert run.rc == 0, run.output
    assert postgres.password not in run.output and wrong not in run.output
    unreachable = ('cannot connect to PostgreSQL at 127.0.0.1:%d/aishield as user deployer: Connection refused' % port)
    assert unreachable in run.output
    assert ('cannot connect to PostgreSQL at %s:%s/%s as user %s: FATAL: password authentication failed for user "%s"'
            % (postgres.host, postgres.port, database, postgres.user, postgres.user)) in run.output
    # One line: the whole message, libpq's hint included, sits on the error line.
    full = unreachable + ' Is the server running on that host and accepting TCP/IP connections?'
    assert any(line.rstrip().endswith(full) for line in run.output.splitlines()), run.output
