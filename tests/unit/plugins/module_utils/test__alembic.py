# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The migration gate, the rollback schema check, the operator messages, and the one-off runner
container read through a fake Compose."""

from __future__ import annotations

import json

import pytest

from ansible_collections.aishield.ops.plugins.module_utils import _alembic_runner
from ansible_collections.aishield.ops.plugins.module_utils._alembic import (
    AlembicError,
    failure_message,
    gate_message,
    revision_list,
    rollback_check,
    run_in_image,
    runner_source,
)
from ansible_collections.aishield.ops.plugins.module_utils._compose import ComposeError

MARKER = _alembic_runner.MARKER


def rev(revision, down, compatible=None):
    return {'revision': revision, 'down_revision': down, 'backward_compatible': compatible}


# a <- b (compatible) <- c (compatible) <- d (not declared) <- e (False)
CHAIN = [rev('e', 'd', False), rev('d', 'c'), rev('c', 'b', True), rev('b', 'a', True), rev('a', None, True)]


# --- rollback_check -----------------------------------------------------------------------------

def test_rollback_check_compatible_chain():
    assert rollback_check(CHAIN, 'c', 'a') == {
        'compatible': True, 'same': False, 'between': ['c', 'b'], 'incompatible': [],
        'reason': 'migrations c, b are all declared backward compatible'}


@pytest.mark.parametrize('current, target, between, incompatible', [
    ('d', 'c', ['d'], ['d']),                      # not declared at all
    ('e', 'c', ['e', 'd'], ['e', 'd']),            # declared False, then not declared
    ('e', 'a', ['e', 'd', 'c', 'b'], ['e', 'd']),
])
def test_rollback_check_incompatible_flag(current, target, between, incompatible):
    result = rollback_check(CHAIN, [current], [target])
    assert (result['compatible'], result['same'], result['between'], result['incompatible']) == (
        False, False, between, incompatible)
    assert result['reason'] == ('migrations %s are not declared backward compatible (module-level '
                                'backward_compatible = True)' % ', '.join(incompatible))


@pytest.mark.parametrize('flag', [1, 'true', 'yes'])
def test_rollback_check_only_true_counts(flag):
    assert rollback_check([rev('b', 'a', flag), rev('a', None, True)], 'b', 'a')['incompatible'] == ['b']


@pytest.mark.parametrize('current, target', [('c', 'c'), (['c'], 'c'), ([], []), ('', []), (['y', 'x'], ['x', 'y'])])
def test_rollback_check_same_revision(current, target):
    result = rollback_check(CHAIN, current, target)
    assert (result['compatible'], result['same'], result['between'], result['incompatible']) == (True, True, [], [])
    assert result['reason'].startswith('the database is at the target revision ')


def test_rollback_check_same_empty_revision_reason():
    assert rollback_check([], [], [])['reason'] == 'the database is at the target revision (empty)'


def test_rollback_check_unknown_revision():
    result = rollback_check(CHAIN, 'zzz', 'a')
    assert (result['compatible'], result['between']) == (False, [])
    assert result['reason'] == ('revision zzz is not in the recorded migration chain, so the path from the database (zzz) '
                                'to the target (a) is unknown')


def test_rollback_check_unknown_revision_midway():
    # c's parent is missing from the chain: the walk cannot go on.
    result = rollback_check([rev('c', 'b', True)], 'c', 'a')
    assert result['compatible'] is False
    assert result['reason'].startswith('revision b is not in the recorded migration chain')


def test_rollback_check_merge_point():
    chain = [rev('m', ('b1', 'b2'), True), rev('b1', 'a', True), rev('b2', 'a', True), rev('a', None, True)]
    result = rollback_check(chain, 'm', 'a')
    assert result['compatible'] is False
    assert result['reason'] == 'revision m is a merge point; a rollback across it needs a full rollback'
    # Down to the merge point itself is fine.
    assert rollback_check([rev('n', 'm', True)] + chain, 'n', 'm')['compatible'] is True


@pytest.mark.parametrize('current, target, reason', [
    (['b1', 'b2'], ['a'], 'the database is at b1,b2 and the target expects a: only a single-head history can be checked'),
    (['a'], ['b1', 'b2'], 'the database is at a and the target expects b1,b2: only a single-head history can be checked'),
    ([], ['a'], 'the database is at (empty) and the target expects a'),
])
def test_rollback_check_multi_head(current, target, reason):
    result = rollback_check(CHAIN, current, target)
    assert result['compatible'] is False and result['same'] is False
    assert result['reason'].startswith(reason)


@pytest.mark.parametrize('current, target', [('a', 'c'), ('c', 'x-other-branch')])
def test_rollback_check_target_not_below(current, target):
    result = rollback_check(CHAIN, current, target)
    assert result['compatible'] is False
    assert result['reason'] == ('the target revision %s is not below the database revision %s: the database is behind or '
                                'on another branch' % (target, current))


def test_rollback_check_survives_a_cycle():
    result = rollback_check([rev('a', 'b', True), rev('b', 'a', True)], 'a', 'z')
    assert result['compatible'] is False
    assert 'is not below the database revision a' in result['reason']


@pytest.mark.parametrize('chain, current, target', [
    ('not a list', 'a', 'a'),
    ([{'down_revision': None}], 'b', 'a'),
    (['a'], 'b', 'a'),
    ([], 5, 'a'),
    ([], ['a', 5], 'a'),
])
def test_rollback_check_refuses_bad_input(chain, current, target):
    with pytest.raises(ValueError):
        rollback_check(chain, current, target)


@pytest.mark.parametrize('value, expected', [('a', ['a']), ('', []), (['b', 'a'], ['a', 'b']), (('x',), ['x'])])
def test_revision_list(value, expected):
    assert revision_list(value, 'current') == expected


# --- the gate ------------------------------------------------------------------------------------

@pytest.mark.parametrize('heads, unknown, problems', [
    (['a'], [], []),
    (['a', 'b'], [], ['heads']),
    ([], [], ['heads']),
    (['a'], ['zzz'], ['unknown']),
    (['a', 'b'], ['zzz'], ['heads', 'unknown']),
])
def test_gate_problems(heads, unknown, problems):
    assert _alembic_runner.gate_problems(heads, unknown) == problems


def test_gate_message():
    assert gate_message({'problems': []}) == ''
    assert gate_message({}) == ''
    heads = gate_message({'problems': ['heads'], 'heads': ['b1', 'b2']})
    assert heads == ('The new image has 2 Alembic heads (b1, b2): merge them in the code (alembic merge heads) before '
                     'deploying. Nothing was changed.')
    assert gate_message({'problems': ['heads'], 'heads': []}).startswith('The new image has 0 Alembic heads (none)')
    both = gate_message({'problems': ['heads', 'unknown'], 'heads': ['b1', 'b2'], 'unknown': ['zzz']})
    assert both.startswith(heads[:-len(' Nothing was changed.')] + ' The database is at zzz, a revision the new image '
                           'does not know: the database is ahead of this code')
    assert both.endswith('restore a backup first. Nothing was changed.')


# --- the failure message ----------------------------------------------------------------------------

TRACEBACK = ('Traceback (most recent call last):\n  File "env.py", line 3\n'
             'sqlalchemy.exc.ProgrammingError: (psycopg2.errors.DuplicateColumn) column "x" already exists\n'
             '[SQL: ALTER TABLE t ADD COLUMN x INTEGER]\n\n')


def test_failure_message_unchanged():
    text = failure_message({'error': TRACEBACK, 'before': ['b'], 'after': ['b']})
    assert text == ('alembic upgrade head failed in the new image: sqlalchemy.exc.ProgrammingError: (psycopg2.errors.'
                    'DuplicateColumn) column "x" already exists. The database is at b: unchanged, the failed migration was '
                    'rolled back with its transaction.')
    assert 'CHANGED' not in text


@pytest.mark.parametrize('before, after, at, source', [
    (['b'], ['c'], 'c', 'b'),
    ([], ['a'], 'a', 'no revision'),
    (['b'], [], 'no revision', 'b'),
])
def test_failure_message_changed(before, after, at, source):
    text = failure_message({'error': TRACEBACK, 'before': before, 'after': after})
    assert text.endswith('The database is at %s: CHANGED from %s - inspect it before deploying again.' % (at, source))
    assert 'unchanged' not in text


@pytest.mark.parametrize('error, shown', [
    ('', 'no error text'),
    (None, 'no error text'),
    ('exit 3: something odd\nlast words\n', 'last words'),  # no error line: the last line
    ('RuntimeError: first\nValueError: second\ntrailer', 'ValueError: second'),
    ('x' * 500 + ' Exception', 'x' * 300),
])
def test_failure_message_error_line(error, shown):
    text = failure_message({'error': error, 'before': ['a'], 'after': ['a']})
    assert text.startswith('alembic upgrade head failed in the new image: %s. The database is at a' % shown)


# --- the runner container -----------------------------------------------------------------------------

class FakeCompose:
    def __init__(self, stdout='', stderr='', returncode=0, error=None):
        self.proc = type('Proc', (), {'stdout': stdout, 'stderr': stderr, 'returncode': returncode})()
        self.error = error
        self.calls = []

    def run(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.error:
            raise self.error
        return self.proc


FOUND = {'heads': ['b'], 'before': ['a'], 'after': ['b'], 'applied': True, 'problems': []}


def test_run_in_image_reads_the_marker_line():
    stdout = 'INFO  [alembic] Running upgrade a -> b\n%s%s\n' % (MARKER, json.dumps(FOUND))
    compose = FakeCompose(stdout=stdout, stderr='warnings\n')
    options = {'probe_only': False, 'config': 'alembic.ini'}
    assert run_in_image(compose, 'backend', options, timeout=120) == FOUND
    args, kwargs = compose.calls[0]
    assert args == ('run', '--rm', '--no-deps', '-T', 'backend', 'python3', '-', json.dumps(options, sort_keys=True))
    assert kwargs == {'stdin': runner_source(), 'timeout': 120, 'check': False}


def test_run_in_image_last_marker_wins_and_deps_are_kept():
    stdout = '%s{"heads": ["x"]}\n%s%s\n' % (MARKER, MARKER, json.dumps(FOUND))
    compose = FakeCompose(stdout=stdout)
    assert run_in_image(compose, 'backend', {}, python='/venv/bin/python', deps=True) == FOUND
    assert compose.calls[0][0][:6] == ('run', '--rm', '-T', 'backend', '/venv/bin/python', '-')


def test_run_in_image_without_marker():
    stderr = ''.join('err %d\n' % n for n in range(8))
    compose = FakeCompose(stdout='python3: not found\n', stderr=stderr, returncode=127)
    with pytest.raises(AlembicError) as caught:
        run_in_image(compose, 'backend', {})
    assert str(caught.value) == ('the migration container of service backend ended (exit 127) without a result: '
                                 'err 3 | err 4 | err 5 | err 6 | err 7 | python3: not found')


def test_run_in_image_without_any_output():
    with pytest.raises(AlembicError, match=r'ended \(exit 1\) without a result: no output$'):
        run_in_image(FakeCompose(returncode=1), 'backend', {})


def test_run_in_image_crash():
    crash = 'Traceback (most recent call last):\n  File "<stdin>", line 80\nFileNotFoundError: alembic.ini\n\n'
    compose = FakeCompose(stdout='%s%s\n' % (MARKER, json.dumps({'crash': crash})), returncode=0)
    with pytest.raises(AlembicError) as caught:
        run_in_image(compose, 'backend', {})
    assert str(caught.value) == ('Alembic could not read the migrations or the database in the image of service backend: '
                                 'FileNotFoundError: alembic.ini')


def test_run_in_image_compose_error():
    compose = FakeCompose(error=ComposeError('docker compose run did not finish within 900 s'))
    with pytest.raises(AlembicError, match='^docker compose run did not finish within 900 s$'):
        run_in_image(compose, 'backend', {})


def test_runner_source_is_the_runner():
    source = runner_source()
    assert 'def gate_problems(heads, unknown):' in source
    assert "MARKER = 'AISHIELD_ALEMBIC '" in source


def test_runner_main_output_is_what_run_in_image_reads(monkeypatch, capsys):
    monkeypatch.setattr(_alembic_runner, 'run', lambda options: dict(FOUND, options=options))
    _alembic_runner.main(['-', '{"probe_only": true}'])
    out = capsys.readouterr().out
    assert run_in_image(FakeCompose(stdout=out), 'backend', {}) == dict(FOUND, options={'probe_only': True})


def test_runner_main_reports_a_crash(capsys):
    _alembic_runner.main(['-', '{not json'])
    out = capsys.readouterr().out
    with pytest.raises(AlembicError, match='in the image of service backend: json.decoder.JSONDecodeError: '):
        run_in_image(FakeCompose(stdout=out), 'backend', {})
