# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pure parts of the progress action plugins: polling, telling a running job from a finished one."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from ansible.plugins.loader import shell_loader

from ansible_collections.aishield.ops.plugins.plugin_utils._progress_action import (
    ASYNC_GRACE,
    SEPARATOR,
    async_limit,
    cleanup_command,
    closing_progress,
    interval_of,
    job_done,
    module_result,
    poll_waits,
    split_poll,
)


def test_poll_waits_double_up_to_half_a_second_or_the_interval():
    assert list(itertools.islice(poll_waits(5), 6)) == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    assert list(itertools.islice(poll_waits(0.5), 5)) == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert list(itertools.islice(poll_waits(60, longest=10), 9)) == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10]


@pytest.mark.parametrize('stdout, job, progress', [
    ('{"started": 1, "finished": 0}\n%s\n{"bytes": 5}' % SEPARATOR, {'started': 1, 'finished': 0}, '\n{"bytes": 5}'),
    ('%s\n' % SEPARATOR, None, '\n'),                       # neither file there yet
    ('{"started": 1, "fini\n%s\n' % SEPARATOR, None, '\n'),  # a job file caught half-written
    ('[]\n%s\n' % SEPARATOR, None, '\n'),
    ('', None, ''),
])
def test_split_poll(stdout, job, progress):
    parsed, job_text, progress_text = split_poll(stdout)
    assert (parsed, progress_text) == (job, progress)
    assert job_text == stdout.partition(SEPARATOR)[0]  # the text the result is parsed from, whole


@pytest.mark.parametrize('value, expected', [(None, 5), (0, 0), ('3', 3), (7, 7), ('soon', None)])
def test_interval_of(value, expected):
    assert interval_of(value) == expected


@pytest.mark.parametrize('timeout, limit', [(600, 600 + ASYNC_GRACE), ('60', 60 + ASYNC_GRACE),
                                            (None, 3600 + ASYNC_GRACE), (0, 1 + ASYNC_GRACE)])
def test_async_limit_leaves_the_module_its_own_timeout(timeout, limit):
    assert async_limit(timeout) == limit


@pytest.mark.parametrize('status, done', [
    ({'started': True, 'finished': False, 'ansible_job_id': 'j1'}, False),          # async_wrapper's stub
    ({'started': 1, 'finished': 0, 'ansible_job_id': 'j1'}, False),
    ({'started': True, 'finished': False, 'ansible_job_id': 'j1', 'results_file': '/x',
      'invocation': {'module_args': {}}}, False),                                   # job file not written yet
    # pg_backup's own result carries `started` (an epoch float) and, on success, `finished`.
    ({'started': 1796575930.43, 'changed': False, 'sha256': 'ab'}, True),
    ({'started': 1796575930.43, 'finished': 1796575931.2, 'changed': True}, True),
    ({'failed': True, 'msg': 'Timeout exceeded', 'ansible_job_id': 'j1'}, True),  # the wrapper killed it
    ({'failed': True, 'msg': 'could not find job', 'started': True, 'finished': True}, True),
])
def test_job_done(status, done):
    assert job_done(status) is done


def test_module_result_keeps_the_modules_own_timings():
    status = {'started': 1796575930.43, 'finished': 1796575931.2, 'ansible_job_id': 'j1', 'results_file': '/x',
              'changed': True, 'sha256': 'ab'}
    assert module_result(status) == {'started': 1796575930.43, 'finished': 1796575931.2, 'changed': True,
                                     'sha256': 'ab'}
    assert module_result({'failed': True, 'started': True, 'finished': True, 'msg': 'm'}) == {'failed': True, 'msg': 'm'}


@pytest.mark.parametrize('result, closing', [
    ({'changed': True, 'size': 10, 'seconds': 2.5}, {'bytes': 10, 'seconds': 2.5, 'phase': 'done'}),
    ({'changed': True, 'size': 10}, {'bytes': 10, 'seconds': 0, 'phase': 'done'}),
    ({'changed': False, 'size': 10}, None),     # the backup was there already
    ({'changed': True, 'failed': True, 'size': 10}, None),
    ({'changed': True}, None),
])
def test_closing_progress_of_a_transfer(result, closing):
    assert closing_progress(result) == closing


def test_release_prepare_closes_with_the_bytes_its_pulls_downloaded():
    from ansible_collections.aishield.ops.plugins.action.release_prepare import pull_closing
    assert pull_closing({'pulled_bytes': 64, 'pull_seconds': 1.5, 'changed': False}) == {
        'bytes': 64, 'seconds': 1.5, 'phase': 'pulled'}
    assert pull_closing({'pulled_bytes': 0, 'pull_seconds': 0.2}) is None   # every layer was there
    assert pull_closing({'pulled_bytes': 64, 'failed': True}) is None


def test_the_cleanup_removes_the_job_file_and_the_module_file_with_its_arguments(tmp_path):
    shell = shell_loader.get('sh')
    tmpdir = tmp_path / 'ansible-tmp-1-2-3'
    tmpdir.mkdir()
    (tmpdir / 'AnsiballZ_release_prepare.py').write_text("ARGS = {'registry_password': 'planted'}")
    (tmpdir / 'progress.json').write_text('{}')
    job = tmp_path / 'j123.456'
    job.write_text('{"finished": 1}')
    command = cleanup_command(shell, str(job), str(tmpdir))
    subprocess.run(['/bin/sh', '-c', command], check=True, timeout=30)
    assert not job.exists() and not tmpdir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
