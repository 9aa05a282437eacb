# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Grandfather-father-son retention of backups, and which stored keys are backups at all.

Retention only ever deletes what it can read as one of its own backups: <dir>/<UTC stamp>.dump,
together with its record <dir>/<UTC stamp>.dump.json (never counted as a backup itself).
Anything else under the prefix (a file someone put there, another tool's object, a record whose
dump is gone) is left alone and reported. Older leftovers of killed runs older than a day are
cleaned up: staging objects of the hand-made uploads (<dir>/_incomplete/...), and dumps without a
record that are newer than the oldest recorded one (a run stopped between upload and record).
"""

from __future__ import annotations

import datetime
import re

_REASON_ORDER = ('newest', 'pinned', 'daily', 'weekly', 'monthly')
_BACKUP_NAME_RE = re.compile(r'^(\d{8}T\d{6}Z)\.dump$')
RECORD_SUFFIX = '.json'
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


def _is_record(name):
    """Whether a name directly under the backups' directory is a backup's record (<stamp>.dump.json)."""
    return '/' not in name and name.endswith(RECORD_SUFFIX) and stamp_of(name[:-len(RECORD_SUFFIX)]) is not None


def sort_keys(keys, directory):
    """Classify the keys under `directory/`: (backups [(stamp, key)], staging [key], others [key]).

    A backup's record (`<stamp>.dump.json`) is neither a backup nor another object: it is left
    out here and found by records_of().
    """
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
        elif _is_record(rest):
            continue
        else:
            others.append(key)
    return backups, staging, others


def records_of(keys, directory):
    """{backup key: record key} for every `<stamp>.dump.json` under `directory/`, whether or not its dump exists."""
    prefix = directory.rstrip('/') + '/'
    found = {}
    for key in keys:
        rest = key[len(prefix):] if key.startswith(prefix) else ''
        if _is_record(rest):
            found[key[:-len(RECORD_SUFFIX)]] = key
    return found


def split_incomplete(backups, recorded):
    """Split [(stamp, key)] into (backups, incomplete) by which have a record.

    Backups made before records existed carry their sha256 in metadata, which a listing cannot
    see: a dump without a record counts as a backup when it is older than every recorded one, and
    as incomplete (its run stopped between upload and record) when a recorded backup is older.
    """
    stamps = [stamp for stamp, key in backups if key in recorded]
    oldest = min(stamps) if stamps else None
    kept, incomplete = [], []
    for stamp, key in backups:
        if key in recorded or oldest is None or stamp < oldest:
            kept.append((stamp, key))
        else:
            incomplete.append((stamp, key))
    return kept, incomplete


def retention_plan(listing, directory, daily, weekly, monthly, pinned, now):
    """What retention does with `listing` ([(key, last modified)]).

    keep/delete: backup keys; delete_records: the records of the deleted backups; staging_delete
    and incomplete_delete: leftovers of killed runs older than a day; ignored: everything else.
    """
    keys = [key for key, _modified in listing]
    modified = dict(listing)
    dumps, staging, others = sort_keys(keys, directory)
    records = records_of(keys, directory)
    backups, incomplete = split_incomplete(dumps, records)
    pinned = set(pinned or ())
    plan = gfs_plan(backups, daily, weekly, monthly, pinned)

    def stale(key):
        return modified.get(key) is not None and now - modified[key] > STAGING_MAX_AGE

    plan['delete_records'] = [records[key] for key in plan['delete'] if key in records]
    plan['staging_delete'] = sorted(key for key in staging if stale(key))
    plan['incomplete'] = sorted(key for _stamp, key in incomplete)
    plan['incomplete_delete'] = [key for key in plan['incomplete'] if stale(key) and key not in pinned]
    dump_keys = set(key for _stamp, key in dumps)
    plan['ignored'] = sorted(others + [record for key, record in records.items() if key not in dump_keys])
    return plan
