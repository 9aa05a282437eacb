# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Grandfather-father-son retention of backups, and which stored keys are backups at all.

Retention only ever deletes what it can read as one of its own backups: <dir>/<UTC stamp>.dump.
Anything else under the prefix (a file someone put there, another tool's object) is left alone
and reported; staging objects of killed uploads (<dir>/_incomplete/...) older than a day are
cleaned up.
"""

from __future__ import annotations

import datetime
import re

_REASON_ORDER = ('newest', 'pinned', 'daily', 'weekly', 'monthly')
_BACKUP_NAME_RE = re.compile(r'^(\d{8}T\d{6}Z)\.dump$')
STAGING_DIR = '_incomplete'
STAGING_MAX_AGE = datetime.timedelta(days=1)


def gfs_plan(entries, daily=7, weekly=4, monthly=6, pinned=()):
    """Split [(aware UTC datetime, key)] into {keep, delete, reasons}.

    Buckets count days, ISO weeks and months that have backups, not calendar time, so a gap in
    backups never ages everything out at once. The newest and the pinned keys are always kept.
    """
    entries = sorted(entries, reverse=True)
    pinned = set(pinned or ())
    reasons = {}

    def mark(key, reason):
        current = reasons.get(key)
        if current is None or _REASON_ORDER.index(reason) < _REASON_ORDER.index(current):
            reasons[key] = reason

    if entries:
        mark(entries[0][1], 'newest')
    for _moment, key in entries:
        if key in pinned:
            mark(key, 'pinned')
    buckets = (
        ('daily', daily, lambda m: m.date()),
        ('weekly', weekly, lambda m: m.isocalendar()[:2]),
        ('monthly', monthly, lambda m: (m.year, m.month)),
    )
    for reason, limit, bucket_of in buckets:
        taken = set()
        for moment, key in entries:
            if len(taken) >= limit:
                break
            bucket = bucket_of(moment)
            if bucket in taken:
                continue
            # Entries are newest first, so the first one seen in a bucket is its newest.
            taken.add(bucket)
            mark(key, reason)
    ordered = [key for _moment, key in entries]
    return {
        'keep': [key for key in ordered if key in reasons],
        'delete': [key for key in ordered if key not in reasons],
        'reasons': dict((key, reasons[key]) for key in ordered if key in reasons),
    }


def stamp_of(name):
    match = _BACKUP_NAME_RE.match(name)
    if not match:
        return None
    try:
        return datetime.datetime.strptime(match.group(1), '%Y%m%dT%H%M%SZ').replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def sort_keys(keys, directory):
    """Classify the keys under `directory/`: (backups [(stamp, key)], staging [key], others [key])."""
    prefix = directory.rstrip('/') + '/'
    backups, staging, others = [], [], []
    for key in keys:
        rest = key[len(prefix):] if key.startswith(prefix) else None
        if rest is None:
            others.append(key)
        elif rest.startswith(STAGING_DIR + '/'):
            staging.append(key)
        elif '/' not in rest and stamp_of(rest):
            backups.append((stamp_of(rest), key))
        else:
            others.append(key)
    return backups, staging, others


def retention_plan(listing, directory, daily, weekly, monthly, pinned, now):
    """What retention does with `listing` ([(key, last modified)]): keep, delete, stale staging, ignored."""
    backups, staging, others = sort_keys([key for key, _modified in listing], directory)
    modified = dict(listing)
    plan = gfs_plan(backups, daily, weekly, monthly, pinned)
    plan['staging_delete'] = sorted(key for key in staging if modified.get(key) and now - modified[key] > STAGING_MAX_AGE)
    plan['ignored'] = sorted(others)
    return plan
