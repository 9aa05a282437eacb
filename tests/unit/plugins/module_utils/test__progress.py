# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The progress file the modules write and the line the action plugins print."""

from __future__ import annotations

import json

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._progress import (
    MIB,
    ProgressFile,
    counted_blocks,
    format_mib,
    parse_progress,
    progress_line,
    rate_mib_s,
)


@pytest.mark.parametrize('done, seconds, rate', [(0, 0, 0.0), (10 * MIB, 0, 0.0), (10 * MIB, 2, 5.0), (MIB, 4, 0.25)])
def test_rate(done, seconds, rate):
    assert rate_mib_s(done, seconds) == rate


@pytest.mark.parametrize('done, text', [(0, '0.0 MiB'), (MIB // 2, '0.5 MiB'), (9 * MIB, '9.0 MiB'),
                                        (10 * MIB, '10 MiB'), (412 * MIB + 100, '412 MiB')])
def test_format_mib(done, text):
    assert format_mib(done) == text


@pytest.mark.parametrize('progress, line', [
    ({'bytes': 412 * MIB, 'seconds': 21, 'phase': 'transfer'}, 'pg_backup: 412 MiB in 21 s (19.6 MiB/s)'),
    ({'bytes': 412 * MIB, 'seconds': 21.4}, 'pg_backup: 412 MiB in 21 s (19.3 MiB/s)'),
    ({'bytes': 3 * MIB, 'seconds': 0, 'phase': 'stored'}, 'pg_backup: 3.0 MiB in 0 s (0.0 MiB/s), stored'),
    ({'bytes': 120 * MIB, 'seconds': 4, 'phase': 'pull', 'total': 300 * MIB},
     'pg_backup: 120 MiB of 300 MiB in 4 s (30.0 MiB/s), pull'),
    ({'bytes': 0, 'seconds': 1, 'total': 0}, 'pg_backup: 0.0 MiB in 1 s (0.0 MiB/s)'),  # no total known yet
    ({'bytes': 'x', 'seconds': 1}, None),
    ({'seconds': 1}, None),
    (None, None),
    ([], None),
])
def test_progress_line(progress, line):
    assert progress_line('pg_backup', progress) == line


@pytest.mark.parametrize('text, expected', [
    ('{"bytes": 5, "seconds": 1.0, "phase": "transfer"}', {'bytes': 5, 'seconds': 1.0, 'phase': 'transfer'}),
    ('{"bytes": 5', None),      # caught mid-write (it is renamed into place, but be safe)
    ('', None),
    ('[1, 2]', None),
    ('{"other": 1}', None),
])
def test_parse_progress(text, expected):
    assert parse_progress(text) == expected


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_file_is_throttled_and_atomic(tmp_path):
    path = tmp_path / 'progress.json'
    clock = Clock()
    progress = ProgressFile(str(path), every=1.0, clock=clock)
    assert progress.update(10)
    clock.now += 0.5
    assert not progress.update(20), 'written again within a second'
    assert json.loads(path.read_text()) == {'bytes': 10, 'seconds': 0.0, 'phase': 'transfer'}
    clock.now += 0.6
    assert progress.update(30)
    assert json.loads(path.read_text()) == {'bytes': 30, 'seconds': 1.1, 'phase': 'transfer'}
    assert progress.update(40, phase='stored', force=True)
    assert json.loads(path.read_text())['phase'] == 'stored'
    assert progress.update(50, phase='pull', force=True, total=90)
    assert json.loads(path.read_text()) == {'bytes': 50, 'seconds': 1.1, 'phase': 'pull', 'total': 90}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['progress.json'], 'temp files left behind'


def test_progress_file_without_a_path_or_a_place_is_harmless(tmp_path):
    assert ProgressFile(None).update(5) is False
    assert ProgressFile(str(tmp_path / 'gone' / 'progress.json')).update(5) is False


def test_counted_blocks_passes_the_bytes_and_counts_them(tmp_path):
    path = tmp_path / 'progress.json'
    clock = Clock()
    progress = ProgressFile(str(path), every=1.0, clock=clock)
    assert b''.join(counted_blocks(iter([b'ab', b'cde', b'']), progress, 'download')) == b'abcde'
    # Throttled while it runs, but the last count is always written.
    assert json.loads(path.read_text()) == {'bytes': 5, 'seconds': 0.0, 'phase': 'download'}
