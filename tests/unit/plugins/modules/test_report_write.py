# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""report_write on a real directory: four files and their modes, idempotence, check mode, diff, bad input."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.modules import report_write
from ansible_collections.aishield.ops.plugins.modules.report_write import parse_mode


def run(capsys, **args):
    base = dict(name='daily', stamp='20260131T235959Z', json='{"status": "ok"}\n', markdown='# daily\n\nall ok\n')
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            report_write.main()
    return json.loads(capsys.readouterr().out)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_the_directory_and_four_files_then_changes_nothing(tmp_path, capsys):
    reports = tmp_path / 'a' / 'reports'
    result = run(capsys, dir=str(reports))
    assert result['changed'] and result['path'] == str(reports / 'daily-20260131T235959Z.md')
    names = sorted(p.name for p in reports.iterdir())
    assert names == ['daily-20260131T235959Z.json', 'daily-20260131T235959Z.md', 'daily-latest.json', 'daily-latest.md']
    assert (reports / 'daily-latest.md').read_text() == '# daily\n\nall ok\n'
    assert (reports / 'daily-20260131T235959Z.json').read_text() == '{"status": "ok"}\n'
    assert {_mode(reports / n) for n in names} == {0o640} and _mode(reports) == 0o750
    again = run(capsys, dir=str(reports))
    assert not again['changed'] and not any(f['changed'] for f in again['files'])


def test_a_new_report_replaces_only_the_latest_files_and_shows_the_diff(tmp_path, capsys):
    run(capsys, dir=str(tmp_path))
    result = run(capsys, dir=str(tmp_path), stamp='20260201T000000Z', markdown='# daily\n\nFAIL\n', _ansible_diff=True)
    changed = {os.path.basename(f['path']) for f in result['files'] if f['changed']}
    assert changed == {'daily-20260201T000000Z.json', 'daily-20260201T000000Z.md', 'daily-latest.md'}
    assert result['diff']['before'] == '# daily\n\nall ok\n' and result['diff']['after'] == '# daily\n\nFAIL\n'
    assert (tmp_path / 'daily-20260131T235959Z.md').read_text() == '# daily\n\nall ok\n'   # the old report is kept
    assert (tmp_path / 'daily-latest.md').read_text() == '# daily\n\nFAIL\n'


def test_a_wrong_mode_is_put_right(tmp_path, capsys):
    run(capsys, dir=str(tmp_path))
    os.chmod(tmp_path / 'daily-latest.json', 0o644)
    os.chmod(tmp_path, 0o755)
    result = run(capsys, dir=str(tmp_path))
    assert result['changed'] and _mode(tmp_path / 'daily-latest.json') == 0o640 and _mode(tmp_path) == 0o750


def test_check_mode_writes_nothing(tmp_path, capsys):
    reports = tmp_path / 'reports'
    result = run(capsys, dir=str(reports), _ansible_check_mode=True)
    assert result['changed'] and not reports.exists()


@pytest.mark.parametrize('args, words', [
    (dict(dir='relative/reports'), 'dir must be an absolute path'),
    (dict(name='../daily'), 'name must be a plain name'),
    (dict(stamp='2026-01-31 23:59'), 'stamp must be letters and digits'),
    (dict(mode='rw-r-----'), 'mode must be an octal mode'),
])
def test_bad_input_fails_before_anything_is_written(tmp_path, capsys, args, words):
    args.setdefault('dir', str(tmp_path / 'reports'))
    result = run(capsys, **args)
    assert result['failed'] and words in result['msg'] and 'nothing was written' in result['msg']
    assert not (tmp_path / 'reports').exists()


def test_parse_mode():
    assert parse_mode('0640', 'mode') == 0o640 and parse_mode('750', 'dir_mode') == 0o750 and parse_mode(0o600, 'mode') == 0o600
    with pytest.raises(ValueError, match='dir_mode must be'):
        parse_mode('99999', 'dir_mode')
