# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Progress of a long transfer: a small JSON file the module rewrites, and the line the controller prints.

pg_backup, pg_restore and release_prepare (its image pulls) run asynchronously under their action
plugins, which poll the job and read this file between polls. The file only ever holds counters, never arguments, so nothing secret can
reach the output through it.
"""

from __future__ import annotations

import json
import os
import time

MIB = 1024 * 1024


def rate_mib_s(done, seconds):
    """MiB per second; 0 before any time has passed."""
    if seconds <= 0:
        return 0.0
    return done / MIB / seconds


def format_mib(done):
    """Whole MiB from 10 MiB up, one decimal below (a small dump still shows movement)."""
    mib = done / MIB
    return '%.0f MiB' % mib if mib >= 10 else '%.1f MiB' % mib


def progress_line(name, progress):
    """The line printed per poll, e.g. `pg_backup: 412 MiB in 21 s (19.6 MiB/s)`; None without progress yet.

    With a known total (an image pull's layer sizes): `release_prepare: 120 MiB of 300 MiB in 4 s (30.0 MiB/s), pull`.
    """
    if not isinstance(progress, dict):
        return None
    try:
        done = int(progress['bytes'])
        seconds = float(progress['seconds'])
    except (KeyError, TypeError, ValueError):
        return None
    amount = format_mib(done)
    whole = progress.get('total')
    if isinstance(whole, int) and whole > 0:
        amount += ' of %s' % format_mib(whole)
    line = '%s: %s in %.0f s (%.1f MiB/s)' % (name, amount, seconds, rate_mib_s(done, seconds))
    phase = progress.get('phase')
    if phase and phase != 'transfer':
        line += ', %s' % phase
    return line


def parse_progress(text):
    """The progress dict from the file's text, or None when it is missing, partial or not ours."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) and 'bytes' in data else None


class ProgressFile:
    """Rewrites `path` with {bytes, seconds, phase[, total]} at most every `every` seconds (atomically, by rename).

    A None path makes every call a no-op, so the modules call it unconditionally.
    """

    def __init__(self, path, every=1.0, clock=time.monotonic):
        self.path = path
        self.every = every
        self.clock = clock
        self.started = clock()
        self._last = None
        self.bytes = 0

    def update(self, done, phase='transfer', force=False, total=None):
        self.bytes = done
        if not self.path:
            return False
        now = self.clock()
        if not force and self._last is not None and now - self._last < self.every:
            return False
        self._last = now
        data = {'bytes': int(done), 'seconds': round(now - self.started, 1), 'phase': phase}
        if total:
            data['total'] = int(total)
        tmp = '%s.%d.tmp' % (self.path, os.getpid())
        try:
            with open(tmp, 'w') as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        except OSError:
            # Progress is a courtesy: a full or vanished temp dir must not fail the backup.
            return False
        return True


def counted_blocks(blocks, progress, phase):
    """Pass `blocks` through, telling `progress` the running byte count (a download before a restore)."""
    done = 0
    for block in blocks:
        done += len(block)
        progress.update(done, phase=phase)
        yield block
    progress.update(done, phase=phase, force=True)
