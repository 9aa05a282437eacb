# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.alembic import (
    alembic_rollback_check,
    FilterModule,
    alembic_compare,
    alembic_heads,
)

# Shapes follow alembic's Script._head_only / Script.log_entry and command.current.
INFO = (
    'INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n'
    'INFO  [alembic.runtime.migration] Will assume transactional DDL.\n'
)

HEADS_SINGLE = '3f2a1b9c8d7e (head)\n'

HEADS_BRANCHES = (
    'ae1027a6acf (shoppingcart) (head)\n'
    '27c6a30d7c24 (networking, net2) (head)\n'
)

HEADS_EFFECTIVE = '1975ea83b712 (effective head)\n55af2cb1c267 (head)\n'

CURRENT_AT_HEAD = INFO + '3f2a1b9c8d7e (head)\n'

# alembic >= 1.17 marks the database's revision with "(current)".
CURRENT_MARKED = INFO + '3f2a1b9c8d7e (head) (current)\n'

CURRENT_BEHIND = INFO + '1a2b3c4d5e6f (current)\n'

CURRENT_EMPTY_DB = INFO

CURRENT_VERBOSE = INFO + '''\
Current revision(s) for postgresql://aishield:***@db:5432/aishield:
Rev: 3f2a1b9c8d7e (head)
Parent: 1a2b3c4d5e6f
Path: /app/alembic/versions/3f2a1b9c8d7e_add_audit_table.py

    add audit table

    Revision ID: 3f2a1b9c8d7e
    Revises: 1a2b3c4d5e6f
    Create Date: 2025-01-31 12:00:00.000000

'''

HEADS_VERBOSE = '''\
Rev: 9f8e7d6c5b4a (head) (mergepoint)
Merges: 1111aaaa2222, 3333bbbb4444
Branch names: main
Path: /app/alembic/versions/9f8e7d6c5b4a_merge.py

    merge feature branches

    Revision ID: 9f8e7d6c5b4a
    Revises: 1111aaaa2222, 3333bbbb4444
    Create Date: 2025-01-30 09:00:00.000000

Rev: 5555cccc6666 (head)
Parent: 0000ffff0000
Also depends on: 7777dddd8888
Path: /app/alembic/versions/5555cccc6666_reports.py

    reports
    Rev: deadbeef0000 (head)

'''

HEADS_VERBOSE_BRANCHPOINT = '''\
Rev: 2222eeee3333 (head) (branchpoint)
Parent: <base>
Branches into: 4444aaaa5555, 6666bbbb7777
Path: /app/alembic/versions/2222eeee3333_initial.py

'''

CURRENT_VERBOSE_EMPTY = INFO + 'Current revision(s) for postgresql://aishield:***@db/aishield:\n'

MIXED_LOGS = (
    'INFO  [alembic.runtime.migration] Context impl SQLiteImpl.\n'
    'WARNI [alembic.env] No changes in schema detected.\n'
    'DEBUG [sqlalchemy.engine.Engine] SELECT 1\n'
    'ERROR [alembic.util.messaging] something noisy\n'
    '0001_initial (current)\n'
    'CRITI [root] more noise\n'
)


def test_filter_module_exports():
    assert FilterModule().filters() == {'alembic_heads': alembic_heads, 'alembic_compare': alembic_compare,
                                        'alembic_rollback_check': alembic_rollback_check}


@pytest.mark.parametrize('output, expected', [
    (HEADS_SINGLE, ['3f2a1b9c8d7e']),
    (HEADS_BRANCHES, ['27c6a30d7c24', 'ae1027a6acf']),
    (HEADS_EFFECTIVE, ['1975ea83b712', '55af2cb1c267']),
    (CURRENT_AT_HEAD, ['3f2a1b9c8d7e']),
    (CURRENT_MARKED, ['3f2a1b9c8d7e']),
    (CURRENT_BEHIND, ['1a2b3c4d5e6f']),
    (CURRENT_EMPTY_DB, []),
    (CURRENT_VERBOSE, ['3f2a1b9c8d7e']),  # "Revises: 1a2b3c4d5e6f" in the docstring is not a revision
    (HEADS_VERBOSE, ['5555cccc6666', '9f8e7d6c5b4a']),  # the indented "Rev:" is docstring text
    (HEADS_VERBOSE_BRANCHPOINT, ['2222eeee3333']),
    (CURRENT_VERBOSE_EMPTY, []),
    (MIXED_LOGS, ['0001_initial']),
    ('abc123 (branchpoint)\nabc123 (mergepoint)\n', ['abc123']),  # deduplicated
    ('20250131_add_users (head)\r\n', ['20250131_add_users']),
    ('  3f2a1b9c8d7e (head)  \n\n\n', ['3f2a1b9c8d7e']),
    ('', []),
    ('\n\n', []),
    (None, []),
])
def test_alembic_heads_parses_cli_output(output, expected):
    assert alembic_heads(output) == expected


@pytest.mark.parametrize('output, expected', [
    (['3f2a1b9c8d7e (head)'], ['3f2a1b9c8d7e']),
    (CURRENT_VERBOSE.splitlines(), ['3f2a1b9c8d7e']),  # stdout_lines keeps the docstring indent
    (['bbb', 'aaa'], ['aaa', 'bbb']),  # plain ids, as the alembic_version module returns them
    ((), []),
    ({'rc': 0, 'stdout': CURRENT_AT_HEAD, 'stdout_lines': CURRENT_AT_HEAD.splitlines()}, ['3f2a1b9c8d7e']),
    ({'stdout': HEADS_BRANCHES}, ['27c6a30d7c24', 'ae1027a6acf']),
    ({'rc': 0, 'stdout': ''}, []),
])
def test_alembic_heads_accepts_lines_and_command_results(output, expected):
    assert alembic_heads(output) == expected


@pytest.mark.parametrize('output, strict, message', [
    ("FAILED: Can't locate revision identified by 'deadbeef'\n", True,
     "unrecognised line in alembic output (input): \"FAILED: Can't locate revision identified by 'deadbeef'\""),
    (INFO + 'Traceback (most recent call last):\n', True, "'Traceback (most recent call last):'"),
    ('abc123 (head) extra\n', True, "'abc123 (head) extra'"),
    ('abc-123 (head)\n', True, "'abc-123 (head)'"),
    ('no such ' * 40, True, "'" + ('no such ' * 15)[:120] + "...'"),
    ({'rc': 1, 'stderr': 'boom\nFAILED: Target database is not up to date.', 'stdout': ''}, True,
     'comes from a command that failed with rc=1: FAILED: Target database is not up to date.'),
    ({'changed': False}, True, 'is a dict without "stdout" or "stdout_lines"'),
    (42, True, 'input has type int; expected alembic output text'),
    ([1], True, 'input[0]=1 is not a string'),
    ('abc', 'yes', "strict='yes' must be a boolean"),
])
def test_alembic_heads_errors(output, strict, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        alembic_heads(output, strict=strict)


def test_alembic_heads_lenient_mode_skips_noise():
    noisy = (
        '/app/.venv/lib/python3.12/site-packages/sqlalchemy/engine.py:12: SAWarning: something\n'
        '  warnings.warn(\n'
        + CURRENT_AT_HEAD
    )
    with pytest.raises(AnsibleFilterError, match='SAWarning'):
        alembic_heads(noisy)
    assert alembic_heads(noisy, strict=False) == ['3f2a1b9c8d7e']


@pytest.mark.parametrize('current, heads, expected', [
    # at head
    (CURRENT_AT_HEAD, HEADS_SINGLE,
     {'current': ['3f2a1b9c8d7e'], 'heads': ['3f2a1b9c8d7e'], 'at_head': True, 'pending': False,
      'multiple_heads': False, 'unknown': []}),
    # one migration behind: the old revision is not a head
    (CURRENT_BEHIND, HEADS_SINGLE,
     {'current': ['1a2b3c4d5e6f'], 'heads': ['3f2a1b9c8d7e'], 'at_head': False, 'pending': True,
      'multiple_heads': False, 'unknown': ['1a2b3c4d5e6f']}),
    # fresh database
    (CURRENT_EMPTY_DB, HEADS_SINGLE,
     {'current': [], 'heads': ['3f2a1b9c8d7e'], 'at_head': False, 'pending': True,
      'multiple_heads': False, 'unknown': []}),
    # two heads, one applied
    (['ae1027a6acf'], HEADS_BRANCHES,
     {'current': ['ae1027a6acf'], 'heads': ['27c6a30d7c24', 'ae1027a6acf'], 'at_head': False, 'pending': True,
      'multiple_heads': True, 'unknown': []}),
    # two heads, both applied
    ('ae1027a6acf (head)\n27c6a30d7c24 (head)\n', HEADS_BRANCHES,
     {'current': ['27c6a30d7c24', 'ae1027a6acf'], 'heads': ['27c6a30d7c24', 'ae1027a6acf'], 'at_head': True,
      'pending': False, 'multiple_heads': True, 'unknown': []}),
    # database ahead of this code (e.g. after a rollback of the image only)
    (['ffff00001111'], ['3f2a1b9c8d7e'],
     {'current': ['ffff00001111'], 'heads': ['3f2a1b9c8d7e'], 'at_head': False, 'pending': True,
      'multiple_heads': False, 'unknown': ['ffff00001111']}),
    # head applied plus a stray revision
    (['3f2a1b9c8d7e', 'ffff00001111'], ['3f2a1b9c8d7e'],
     {'current': ['3f2a1b9c8d7e', 'ffff00001111'], 'heads': ['3f2a1b9c8d7e'], 'at_head': False,
      'pending': False, 'multiple_heads': False, 'unknown': ['ffff00001111']}),
    # no migrations at all
    ('', '',
     {'current': [], 'heads': [], 'at_head': True, 'pending': False, 'multiple_heads': False, 'unknown': []}),
    # verbose on both sides
    (CURRENT_VERBOSE, HEADS_VERBOSE,
     {'current': ['3f2a1b9c8d7e'], 'heads': ['5555cccc6666', '9f8e7d6c5b4a'], 'at_head': False,
      'pending': True, 'multiple_heads': True, 'unknown': ['3f2a1b9c8d7e']}),
])
def test_alembic_compare(current, heads, expected):
    assert alembic_compare(current, heads) == expected


@pytest.mark.parametrize('current, heads, message', [
    ('garbage line here', HEADS_SINGLE, 'unrecognised line in alembic output (current)'),
    (HEADS_SINGLE, 'garbage line here', 'unrecognised line in alembic output (heads)'),
    (5, HEADS_SINGLE, 'current has type int'),
    ({'rc': 2, 'stderr': 'no such table'}, HEADS_SINGLE, 'current comes from a command that failed with rc=2'),
])
def test_alembic_compare_errors(current, heads, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        alembic_compare(current, heads)


def test_alembic_compare_lenient():
    result = alembic_compare('noise line\nabc (head)', ['abc'], strict=False)
    assert result['at_head'] is True


# The reference stack's v5 chain: 0005 renames a column (not compatible), the others add things.
CHAIN = [
    {'revision': '0005_display_name', 'down_revision': '0002_last_login', 'backward_compatible': False},
    {'revision': '0002_last_login', 'down_revision': '0001_initial', 'backward_compatible': True},
    {'revision': '0001_initial', 'down_revision': None, 'backward_compatible': True},
]


def test_rollback_check_same_revision_is_compatible():
    result = alembic_rollback_check(CHAIN, ['0002_last_login'], ['0002_last_login'])
    assert result['compatible'] and result['same'] and result['between'] == []


def test_rollback_check_across_compatible_migrations():
    chain = [dict(entry, backward_compatible=True) if entry['revision'] != '0005_display_name' else entry for entry in CHAIN]
    result = alembic_rollback_check(chain[1:], '0002_last_login', '0001_initial')
    assert result['compatible'] and result['between'] == ['0002_last_login'] and result['incompatible'] == []


def test_rollback_check_names_the_incompatible_migration():
    result = alembic_rollback_check(CHAIN, ['0005_display_name'], ['0001_initial'])
    assert not result['compatible']
    assert result['between'] == ['0005_display_name', '0002_last_login']
    assert result['incompatible'] == ['0005_display_name']
    assert '0005_display_name' in result['reason']


def test_rollback_check_missing_flag_counts_as_incompatible():
    chain = [{'revision': 'b', 'down_revision': 'a'}, {'revision': 'a', 'down_revision': None}]
    assert alembic_rollback_check(chain, ['b'], ['a'])['incompatible'] == ['b']


@pytest.mark.parametrize('current, target, words', [
    (['0001_initial'], ['0002_last_login'], 'not below'),   # database behind the target
    (['zzz'], ['0001_initial'], 'not in the recorded'),      # unknown revision
    (['a', 'b'], ['0001_initial'], 'single-head'),           # several heads
    ([], ['0001_initial'], 'single-head'),                   # empty database
])
def test_rollback_check_refuses_what_it_cannot_prove(current, target, words):
    result = alembic_rollback_check(CHAIN, current, target)
    assert not result['compatible'] and words in result['reason']


def test_rollback_check_refuses_a_merge_point():
    chain = [{'revision': 'm', 'down_revision': ['a', 'b'], 'backward_compatible': True}]
    result = alembic_rollback_check(chain, ['m'], ['a'])
    assert not result['compatible'] and 'merge point' in result['reason']


@pytest.mark.parametrize('chain, current', [('x', ['a']), ([{'down_revision': 'a'}], ['b']), (CHAIN, [1])])
def test_rollback_check_rejects_malformed_input(chain, current):
    with pytest.raises(AnsibleFilterError):
        alembic_rollback_check(chain, current, ['a'])
