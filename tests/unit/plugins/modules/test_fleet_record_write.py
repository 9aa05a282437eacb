# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""fleet_record_write on a real directory: the write, a rerun that only moves the time, a real change, check mode,
diff, mode, a file that is not JSON, bad input."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.modules import fleet_record_write

RECORD = {'run': 'Fleet deploy of v2', 'by': 'alice@ctl', 'time': '2026-01-31T23:59:59+00:00', 'outcome': 'good',
          'uniform': True, 'versions': ['v2'], 'hosts': {'app1': {'role': 'app', 'version': 'v2'}}}


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            fleet_record_write.main()
    return json.loads(capsys.readouterr().out)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_the_record_then_a_rerun_that_only_moves_the_time_changes_nothing(tmp_path, capsys):
    path = tmp_path / 'fleet.json'
    result = run(capsys, path=str(path), record=RECORD)
    assert result['changed'] and json.loads(path.read_text()) == RECORD and _mode(path) == 0o644
    assert path.read_text() == json.dumps(RECORD, indent=2, sort_keys=True) + '\n'
    later = dict(RECORD, time='2026-02-01T00:00:00+00:00', by='bob@ctl')
    again = run(capsys, path=str(path), record=later)
    assert not again['changed'] and again['record'] == RECORD
    assert json.loads(path.read_text())['by'] == 'alice@ctl'  # the file keeps the run that made the state


def test_a_real_change_is_written_with_its_diff(tmp_path, capsys):
    path = tmp_path / 'fleet.json'
    run(capsys, path=str(path), record=RECORD)
    failed = dict(RECORD, outcome='failed', uniform=False, time='2026-02-01T00:00:00+00:00')
    result = run(capsys, path=str(path), record=failed, _ansible_diff=True)
    assert result['changed'] and json.loads(path.read_text()) == failed
    assert '"outcome": "good"' in result['diff']['before'] and '"outcome": "failed"' in result['diff']['after']


def test_check_mode_says_it_would_change_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / 'fleet.json'
    result = run(capsys, path=str(path), record=RECORD, _ansible_check_mode=True)
    assert result['changed'] and not path.exists()


def test_a_wrong_mode_is_put_right_and_a_file_that_is_not_json_is_replaced_with_a_warning(tmp_path, capsys, monkeypatch):
    # Captured at warn(): once controller code is imported, Ansible routes warnings to its display.
    warned = []
    monkeypatch.setattr(AnsibleModule, 'warn', lambda self, msg: warned.append(msg))
    path = tmp_path / 'fleet.json'
    run(capsys, path=str(path), record=RECORD)
    os.chmod(path, 0o600)
    assert run(capsys, path=str(path), record=RECORD)['changed'] and _mode(path) == 0o644
    path.write_text('not json')
    result = run(capsys, path=str(path), record=RECORD)
    assert result['changed'] and json.loads(path.read_text()) == RECORD
    assert any('held no JSON object' in w for w in warned)


@pytest.mark.parametrize('args, message', [
    ({'path': 'fleet.json'}, 'path must be an absolute path'),
    ({'path': '/nonexistent-aishield-dir/fleet.json'}, 'does not exist on this host'),
    ({'mode': 'rw-r--r--'}, 'mode must be an octal mode'),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, capsys, args, message):
    base = dict(path=str(tmp_path / 'fleet.json'), record=RECORD)
    result = run(capsys, **dict(base, **args))
    assert result['failed'] and message in result['msg'] and 'nothing was written' in result['msg']
    assert not (tmp_path / 'fleet.json').exists()
