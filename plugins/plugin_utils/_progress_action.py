# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a long transfer module as an async job and print its progress every few seconds.

The pattern of ansible-core's own `command` and `async_status` action plugins: the module goes
through `async_wrapper` (ActionBase._execute_module(wrap_async=True) with the task's async_val set).
Each poll is one raw `cat` of the job's status file and of the small progress file the module
rewrites (in the job's remote temp dir, which async_wrapper removes at the end), so polling costs
no module run. Once the job is done, the job file that poll read already holds the module's result:
it goes through the same parsing as any module's output (what `async_status` would print, without
the module run that costs about 0.3 s). The progress line goes out through Display, so ansible-playbook
and ansible-runner (AWX job output) both show it. Check mode, progress_interval 0, a task with its
own `async`, and connections with native async run the module directly, as without this plugin.
"""

from __future__ import annotations

import json
import shlex
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash
from ansible.vars.clean import remove_internal_keys

from ansible_collections.aishield.ops.plugins.module_utils._progress import parse_progress, progress_line

display = Display()

# What async_wrapper's "still running" stub and async_status add; pg_backup's own `started` and
# `finished` are epoch floats (phase timings), async's are booleans.
ASYNC_KEYS = ('ansible_job_id', 'started', 'finished', 'results_file')
# The module enforces its own `timeout`; the async limit is only a backstop behind it.
ASYNC_GRACE = 300


def async_limit(timeout, default=3600):
    """Seconds for async_wrapper's limit: the module's timeout plus a grace, so the module fails first."""
    try:
        value = int(timeout)
    except (TypeError, ValueError):
        value = default
    return max(value, 1) + ASYNC_GRACE


def interval_of(value, default=5):
    """The poll interval in seconds, or None when the value is not a number (the module then rejects it)."""
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def poll_waits(interval, first=0.1, longest=0.5):
    """Seconds to wait before each poll: doubling from `first`, so a short job ends soon, up to `longest`
    (or the interval when shorter), so a long one is noticed within that time of its end. A poll is
    one raw `cat` (no module run), cheap enough to repeat twice a second.
    """
    wait = first
    while True:
        yield min(wait, interval, longest)
        wait *= 2


SEPARATOR = '--aishield-progress--'


def split_poll(stdout):
    """(job file JSON or None, its text, progress JSON text) from the poll command's output."""
    job_text, _sep, progress_text = (stdout or '').partition(SEPARATOR)
    try:
        job = json.loads(job_text)
    except ValueError:
        job = None  # not written yet, or caught mid-rename
    return (job if isinstance(job, dict) else None), job_text, progress_text


def job_done(status):
    """False while async_status reports the job running: `started` an int or bool (not the module's float), not finished.

    async_status's own `finished` cannot tell alone: it reads any `started` key as "still running",
    and pg_backup's result has one (an epoch float, for phase timings).
    """
    started = status.get('started')
    running = isinstance(started, int) and bool(started) and not status.get('finished')
    return not running


def module_result(status):
    """The module's result out of async_status's answer."""
    return dict((key, value) for key, value in status.items()
                if not (key in ('ansible_job_id', 'results_file')
                        or (key in ('started', 'finished') and isinstance(value, bool))))


def cleanup_command(shell, job_path, tmpdir):
    """Remove the finished job's file and the task's temporary directory on the host, in one command.

    The directory holds the module file, and a module file carries its arguments (a registry password,
    S3 keys). async_wrapper removes it too, but only when its watcher next wakes, up to 5 s after the
    module ended: by then the play may be over and the host's disk inspected.
    """
    return 'rm -f %s; %s' % (shlex.quote(job_path), shell.remove(tmpdir, recurse=True))


def closing_progress(result):
    """The last line's counters for pg_backup and pg_restore: the whole dump, once the module changed something."""
    if result.get('changed') and not result.get('failed') and result.get('size') is not None:
        return {'bytes': result['size'], 'seconds': result.get('seconds', 0), 'phase': 'done'}
    return None


class ProgressActionBase(ActionBase):
    """Subclasses name the module they run (`progress_name`), and may say what the closing line shows."""

    progress_name = None
    closing_progress = staticmethod(closing_progress)
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        self._supports_async = True
        result = super().run(tmp, task_vars)
        del tmp
        interval = interval_of(self._task.args.get('progress_interval'))
        direct = (self._task.check_mode or self._task.async_val or not interval or interval < 0
                  or self._connection.has_native_async)
        if direct:
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        return merge_hash(result, self._run_with_progress(task_vars, interval))

    def _run_with_progress(self, task_vars, interval):
        shell = self._connection._shell
        tmpdir = shell.tmpdir or self._make_tmp_path()
        progress_path = shell.join_path(tmpdir, 'progress.json')
        module_args = dict(self._task.args, progress_file=progress_path)
        self._task.async_val = async_limit(self._task.args.get('timeout'))
        try:
            started = self._execute_module(module_args=module_args, task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = 0
        if started.get('failed') or 'ansible_job_id' not in started:
            return started
        jid = started['ansible_job_id']
        async_dir = self._remote_expand_user(self.get_shell_option('async_dir', default='~/.ansible_async'))
        limit = async_limit(self._task.args.get('timeout')) + 60
        deadline = time.monotonic() + limit
        host = task_vars.get('inventory_hostname', '') if task_vars else ''
        job_path = self._connection._shell.join_path(async_dir, jid)
        printed = time.monotonic()
        for wait in poll_waits(interval):
            time.sleep(wait)
            job, job_text, progress_text = self._poll(job_path, progress_path)
            if time.monotonic() - printed >= interval:
                printed = time.monotonic()
                line = progress_line(self.progress_name, parse_progress(progress_text))
                if line:
                    display.display('%s | %s' % (host, line) if host else line)
            if job is not None and job_done(job):
                break
            if time.monotonic() > deadline:
                return {'failed': True, 'ansible_job_id': jid,
                        'msg': '%s did not report back within %d s (async job %s in %s)'
                               % (self.progress_name, limit, jid, async_dir)}
        # The job file is the module's output (async_wrapper wrote it whole, by rename): parse it as
        # _execute_module parses any module's, with the serialization profile of ansible-core's modules.
        status = self._parse_returned_data({'stdout': job_text}, 'legacy')
        remove_internal_keys(status)
        self._low_level_execute_command(cleanup_command(self._connection._shell, job_path, tmpdir), sudoable=True)
        self._connection._shell.tmpdir = None
        result = module_result(status)
        closing = self.closing_progress(result)
        if closing:
            line = progress_line(self.progress_name, closing)
            display.display('%s | %s' % (host, line) if host else line)
        return result

    def _poll(self, job_path, progress_path):
        """The job file and the progress file in one raw command (no module run)."""
        cmd = 'cat %s; echo %s; cat %s' % (shlex.quote(job_path), SEPARATOR, shlex.quote(progress_path))
        res = self._low_level_execute_command(cmd, sudoable=True)
        return split_poll(res.get('stdout', ''))
