# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""release_record's pure helpers: what a record keeps of registered results, and the phase timings."""

from __future__ import annotations

import pytest

from ansible_collections.aishield.ops.plugins.modules.release_record import clean_update, durations


def test_clean_update_keeps_only_the_record_facts():
    update = {
        'alembic': {'before': ['a'], 'after': ['b'], 'heads': ['b'], 'applied': True, 'chain': [{'revision': 'b'}],
                    'changed': True, 'invocation': {'module_args': {}}, 'output': 'long log'},
        'backup': {'key': 'backups/appdb/20250131T020000Z.dump', 'size': 10, 'sha256': 'ab', 'skipped': False,
                   'changed': True, 'retention': {'deleted': []}, 'failed': False},
        'smoke': {'summary': 'ok', 'latency': {'p95': 12}, 'endpoints': [{'name': 'api', 'status': 200}, 'raw', {'x': 1}],
                  'checks': [1, 2]},
        'phases': {'switch': 1.5},   # not a filtered key: kept whole
        'note': 'text',
        'count': 3,
        'nothing': None,
    }
    assert clean_update(update) == {
        'alembic': {'before': ['a'], 'after': ['b'], 'heads': ['b'], 'applied': True, 'chain': [{'revision': 'b'}]},
        'backup': {'key': 'backups/appdb/20250131T020000Z.dump', 'size': 10, 'sha256': 'ab', 'skipped': False,
                   'retention': {'deleted': []}},
        'smoke': {'summary': 'ok', 'latency': {'p95': 12}, 'endpoints': ['api', 'raw', None]},
        'phases': {'switch': 1.5},
        'note': 'text',
        'count': 3,
        'nothing': None,
    }


def test_clean_update_does_not_modify_its_argument():
    smoke = {'endpoints': [{'name': 'api'}], 'changed': True}
    clean_update({'smoke': smoke})
    assert smoke == {'endpoints': [{'name': 'api'}], 'changed': True}


@pytest.mark.parametrize('update, expected', [
    (None, {}),
    ({}, {}),
    ({'smoke': {'endpoints': 'not a list'}}, {'smoke': {'endpoints': 'not a list'}}),
    ({'alembic': {}}, {'alembic': {}}),
    ({'alembic': 'skipped'}, {'alembic': 'skipped'}),
])
def test_clean_update_edges(update, expected):
    assert clean_update(update) == expected


@pytest.mark.parametrize('marks, now, expected', [
    ([], 100.0, {}),
    ([['preflight', 100.0]], 112.34, {'preflight': 12.3}),
    ([['preflight', 100], ['prepare', 104.2], ['switch', 110]], 125.0,
     {'preflight': 4.2, 'prepare': 5.8, 'switch': 15.0}),
    ([('migrate', '100.5'), ('switch', '101.5')], 102, {'migrate': 1.0, 'switch': 0.5}),  # text from Jinja
    # A phase met twice adds up.
    ([['check', 100], ['switch', 101], ['check', 103]], 106, {'check': 4.0, 'switch': 2.0}),
    # A mark without a time is skipped: the phase before it runs on.
    ([['a', 100], ['b', None], ['c', 105]], 106, {'a': 5.0, 'c': 1.0}),
    # A clock step backwards never gives a negative duration.
    ([['a', 100], ['b', 90]], 95, {'a': 0.0, 'b': 5.0}),
    ([['a', 100]], 90, {'a': 0.0}),
    ([[1, 100]], 101, {'1': 1.0}),
])
def test_durations(marks, now, expected):
    assert durations(marks, now) == expected
