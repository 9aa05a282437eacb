# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""files_write on a real directory: the write, a rerun that changes nothing, a change with its diff, a mode put right,
check mode, secrets never shown, a failing check that leaves every file as it was, bad input."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.modules import files_write

SECRET = 'canary-' + 'x7Qp2'


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            files_write.main()
    out = capsys.readouterr().out
    assert SECRET not in out
    return json.loads(out)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _args(root, **extra):
    args = dict(root=str(root),
                directories=[{'path': ''}, {'path': 'conf'}, {'path': 'secrets', 'mode': '0700'}],
                files=[{'path': 'conf/app.yml', 'content': 'a: 1\n'}, {'path': 'run.py', 'content': 'print()\n', 'mode': '0755'}],
                secret_files=[{'path': 'secrets/password', 'content': SECRET}])
    args.update(extra)
    return args


def test_writes_everything_then_a_rerun_changes_nothing(tmp_path, capsys):
    root = tmp_path / 'mon'
    result = run(capsys, **_args(root))
    assert result['changed']
    assert result['changed_files'] == ['conf/app.yml', 'run.py', 'secrets/password']
    assert result['changed_directories'] == ['', 'conf', 'secrets']
    assert (root / 'conf/app.yml').read_text() == 'a: 1\n' and _mode(root / 'conf/app.yml') == 0o644
    assert _mode(root / 'run.py') == 0o755 and _mode(root / 'secrets') == 0o700
    assert (root / 'secrets/password').read_text() == SECRET and _mode(root / 'secrets/password') == 0o400
    again = run(capsys, **_args(root))
    assert not again['changed'] and again['changed_files'] == [] and again['changed_directories'] == []
    assert not [name for name in os.listdir(root / 'conf') if '.tmp-' in name]


def test_a_change_is_written_with_its_diff_and_a_secret_diff_names_the_file_only(tmp_path, capsys):
    root = tmp_path / 'mon'
    run(capsys, **_args(root))
    changed = _args(root, files=[{'path': 'conf/app.yml', 'content': 'a: 2\n'}, {'path': 'run.py', 'content': 'print()\n', 'mode': '0755'}],
                    secret_files=[{'path': 'secrets/password', 'content': SECRET + 'new'}])
    result = run(capsys, _ansible_diff=True, **changed)
    assert result['changed_files'] == ['conf/app.yml', 'secrets/password']
    app, secret = result['diff']
    assert (app['before'], app['after']) == ('a: 1\n', 'a: 2\n')
    assert secret['after_header'].endswith('secrets/password') and 'not shown' in secret['after']
    assert (root / 'secrets/password').read_text() == SECRET + 'new'


def test_a_wrong_mode_is_put_right_without_a_rewrite(tmp_path, capsys):
    root = tmp_path / 'mon'
    run(capsys, **_args(root))
    os.chmod(root / 'conf/app.yml', 0o600)
    os.chmod(root / 'secrets', 0o755)
    inode = os.stat(root / 'conf/app.yml').st_ino
    result = run(capsys, _ansible_diff=True, **_args(root))
    assert result['changed_files'] == ['conf/app.yml'] and result['changed_directories'] == ['secrets']
    assert result['diff'] == []  # the content did not change
    assert _mode(root / 'conf/app.yml') == 0o644 and os.stat(root / 'conf/app.yml').st_ino == inode
    assert _mode(root / 'secrets') == 0o700


def test_check_mode_says_what_would_change_and_writes_nothing(tmp_path, capsys):
    root = tmp_path / 'mon'
    result = run(capsys, _ansible_check_mode=True, **_args(root))
    assert result['changed'] and result['changed_files'] == ['conf/app.yml', 'run.py', 'secrets/password']
    assert not root.exists()


def test_owner_is_set_on_files_and_directories(tmp_path, capsys):
    root = tmp_path / 'mon'
    uid = os.getuid()  # the only owner a test may give without root
    args = _args(root, directories=[{'path': ''}, {'path': 'secrets', 'mode': '0500', 'owner': uid}],
                 files=[], secret_files=[{'path': 'secrets/password', 'content': SECRET, 'owner': uid}])
    assert run(capsys, **args)['changed']
    assert os.stat(root / 'secrets/password').st_uid == uid and _mode(root / 'secrets') == 0o500
    assert not run(capsys, **args)['changed']


def _checker(tmp_path, ok_word):
    """A check command: exits 1 (printing why) unless the file holds ok_word."""
    script = tmp_path / 'check.py'
    script.write_text('import sys\ntext = open(sys.argv[1]).read()\n'
                      'sys.exit(0 if %r in text else "bad config: " + text)\n' % ok_word)
    return [sys.executable, str(script), '%s']


def test_a_failing_check_leaves_every_file_as_it_was(tmp_path, capsys):
    root = tmp_path / 'mon'
    run(capsys, **_args(root))
    check = _checker(tmp_path, 'good')
    bad = _args(root, files=[{'path': 'run.py', 'content': 'print(2)\n', 'mode': '0755'},
                             {'path': 'conf/app.yml', 'content': 'a: 3\n', 'validate': check}])
    result = run(capsys, **bad)
    assert result['failed'] and 'conf/app.yml failed its check' in result['msg'] and 'bad config: a: 3' in result['msg']
    assert 'nothing was written' in result['msg'] and not result['changed']
    assert (root / 'conf/app.yml').read_text() == 'a: 1\n' and (root / 'run.py').read_text() == 'print()\n'
    good = _args(root, files=[{'path': 'conf/app.yml', 'content': 'a: good\n', 'validate': check}])
    assert run(capsys, **good)['changed_files'] == ['conf/app.yml']
    assert (root / 'conf/app.yml').read_text() == 'a: good\n'


def test_a_failing_check_of_a_secret_file_does_not_show_its_output(tmp_path, capsys):
    root = tmp_path / 'mon'
    result = run(capsys, **_args(root, secret_files=[{'path': 'secrets/password', 'content': SECRET,
                                                      'validate': _checker(tmp_path, 'never')}]))
    assert result['failed'] and 'not shown' in result['msg']  # run() asserts the secret is nowhere in the output
    assert not root.exists()


def test_an_unchanged_file_is_not_checked_again(tmp_path, capsys):
    root = tmp_path / 'mon'
    run(capsys, **_args(root))
    # The check would fail now, but the file is already right: nothing runs, nothing changes.
    result = run(capsys, **_args(root, files=[{'path': 'conf/app.yml', 'content': 'a: 1\n', 'validate': _checker(tmp_path, 'x')},
                                              {'path': 'run.py', 'content': 'print()\n', 'mode': '0755'}]))
    assert not result['changed'] and not result.get('failed')


@pytest.mark.parametrize('change, message', [
    ({'root': 'relative/dir'}, 'root must be an absolute path'),
    ({'files': [{'path': 'a', 'content': 'x'}, {'path': './a', 'content': 'y'}]}, 'is listed twice'),
    ({'files': [{'path': 'a'}]}, 'content is missing'),
    ({'files': [{'path': 'a', 'content': 'x', 'mode': 'rw'}]}, 'files[a].mode must be an octal mode'),
    ({'files': [{'path': 'a', 'content': 'x', 'validate': ['true']}]}, 'exactly one argument must hold %s'),
    ({'files': [{'path': 'conf', 'content': 'x'}]}, 'is a directory, not a file'),
    ({'directories': [{'path': 'run.py'}]}, 'exists and is not a directory'),
    ({'files': [{'path': 'run.py', 'content': 'x'}, {'path': 'new/dir/a.yml', 'content': 'x'}]},
     'new/dir/a.yml: its directory {new} does not exist; list it in directories'),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, capsys, change, message):
    root = tmp_path / 'mon'
    run(capsys, **_args(root))
    before = {p: p.read_bytes() for p in root.rglob('*') if p.is_file()}
    args = _args(root, files=[{'path': 'run.py', 'content': 'changed\n'}])
    args.update(change)
    result = run(capsys, **args)
    message = message.replace('{new}', str(root / 'new/dir'))
    assert result['failed'] and message in result['msg'] and 'nothing was written' in result['msg']
    assert {p: p.read_bytes() for p in root.rglob('*') if p.is_file()} == before
