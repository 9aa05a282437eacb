# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Backup object keys and grandfather-father-son retention."""

from __future__ import annotations

import datetime
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.module_utils._retention import (
    gfs_plan, records_of, sort_keys, split_incomplete,
)

# Compact basic ISO-8601: fixed width, so keys and release ids sort lexically in time order.
STAMP_FORMAT = '%Y%m%dT%H%M%SZ'
_STAMP_RE = re.compile(r'^(\d{8}T\d{6}Z)$')
_KEY_STAMP_RE = re.compile(r'^(\d{8}T\d{6}Z)(?:\..+)?$')
_EXT_RE = re.compile(r'^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$')
_DIGITS_RE = re.compile(r'^-?\d+(?:\.\d+)?$')


def to_utc(value, what='when'):
    """Return an aware UTC datetime from a datetime, epoch seconds or an ISO-8601 string.

    Naive datetimes and zone-less strings are taken as UTC, which is what
    Ansible's now(utc=true) produces.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc)
    # bool is an int subclass; True as a timestamp is always a mistake.
    if isinstance(value, bool):
        raise AnsibleFilterError(
            f'{what}={value!r} is a boolean; expected a datetime, epoch seconds or an ISO-8601 string')
    if isinstance(value, (int, float)):
        return _from_epoch(value, what)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise AnsibleFilterError(
                f'{what} is an empty string; expected a datetime, epoch seconds or an ISO-8601 string')
        # ansible_date_time.epoch and -e values arrive as strings.
        if _DIGITS_RE.match(text):
            return _from_epoch(float(text) if '.' in text else int(text), what)
        if _STAMP_RE.match(text):
            try:
                parsed = datetime.datetime.strptime(text, STAMP_FORMAT)
            except ValueError as e:
                raise AnsibleFilterError(f'{what}={value!r} is not a real date and time: {e}') from None
            return parsed.replace(tzinfo=datetime.timezone.utc)
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise AnsibleFilterError(
                f'{what}={value!r} is not an ISO-8601 timestamp; expected e.g. "2025-01-31T23:59:59Z", '
                f'"20250131T235959Z" or epoch seconds') from None
        return to_utc(parsed, what)
    if isinstance(value, datetime.date):
        raise AnsibleFilterError(
            f'{what}={value!r} is a date without a time; pass a datetime or an ISO-8601 timestamp')
    raise AnsibleFilterError(
        f'{what}={value!r} has type {type(value).__name__}; expected a datetime, epoch seconds or an ISO-8601 string')


def _from_epoch(value, what):
    try:
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError) as e:
        raise AnsibleFilterError(f'{what}={value!r} is out of range for epoch seconds: {e}') from None


def format_stamp(moment):
    """Format an aware UTC datetime as YYYYMMDDTHHMMSSZ, zero-padded so it always sorts."""
    return (f'{moment.year:04d}{moment.month:02d}{moment.day:02d}'
            f'T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}Z')


def now_utc():
    """Separate so tests can pin the clock."""
    return datetime.datetime.now(datetime.timezone.utc)


def _check_segment(value, what, context=''):
    if not isinstance(value, str):
        raise AnsibleFilterError(f'{what}={value!r} has type {type(value).__name__}; expected a string')
    if not value:
        raise AnsibleFilterError(f'{what} is empty{context}; expected a non-empty name')
    shown = f'{what} {value!r}{context}'
    if '/' in value or '\\' in value:
        raise AnsibleFilterError(f'{shown} contains a slash; it must be a single key segment')
    if value in ('.', '..'):
        raise AnsibleFilterError(f'{shown} is a relative path segment; use a real name')
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise AnsibleFilterError(f'{shown} contains whitespace or control characters; remove them')


def backup_key(db_name, prefix='backups', when=None, ext='dump'):
    """Return "<prefix>/<db_name>/<YYYYMMDDTHHMMSSZ>.<ext>" for a backup taken at `when` (UTC)."""
    _check_segment(db_name, 'db_name')

    if prefix is None:
        prefix = ''
    if not isinstance(prefix, str):
        raise AnsibleFilterError(f'prefix={prefix!r} has type {type(prefix).__name__}; expected a string like "backups"')
    # Leading and trailing slashes are harmless; inner empty or relative segments are typos.
    parts = prefix.strip('/').split('/') if prefix.strip('/') else []
    for part in parts:
        if not part:
            raise AnsibleFilterError(f'prefix={prefix!r} contains an empty segment ("//"); remove the doubled slash')
        _check_segment(part, 'segment', f' of prefix {prefix!r}')

    if not isinstance(ext, str):
        raise AnsibleFilterError(f'ext={ext!r} has type {type(ext).__name__}; expected a string like "dump"')
    clean_ext = ext[1:] if ext.startswith('.') else ext
    if not _EXT_RE.match(clean_ext):
        raise AnsibleFilterError(
            f'ext={ext!r} is not a file extension; expected letters and digits, optionally dotted, like "dump" or "sql.gz"')

    moment = now_utc() if when is None else to_utc(when)
    return '/'.join(parts + [db_name, f'{format_stamp(moment)}.{clean_ext}'])


def _count(value, what):
    if isinstance(value, bool):
        raise AnsibleFilterError(f'{what}={value!r} is a boolean; expected an integer >= 0')
    # -e daily=3 arrives as a string; floats are rejected so 7.5 is never silently truncated.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise AnsibleFilterError(f'{what}={value!r} is not an integer; expected an integer >= 0')
    if value < 0:
        raise AnsibleFilterError(f'{what}={value!r} is negative; expected an integer >= 0')
    return value


def stamp_from_key(key):
    """Return the UTC datetime encoded in a key produced by backup_key."""
    basename = key.rstrip('/').rsplit('/', 1)[-1]
    match = _KEY_STAMP_RE.match(basename)
    if not match:
        raise AnsibleFilterError(
            f'backup key {key!r} does not end in a backup_key timestamp like "20250131T235959Z.dump"; '
            f'pass a dict with "key" and "timestamp" instead')
    return to_utc(match.group(1), f'timestamp in key {key!r}')


def _normalise_backup(item, index):
    if isinstance(item, str):
        if not item:
            raise AnsibleFilterError(f'backups[{index}] is an empty string; expected a backup key')
        return item, stamp_from_key(item)
    if isinstance(item, dict):
        key = item.get('key')
        if not isinstance(key, str) or not key:
            raise AnsibleFilterError(
                f'backups[{index}] has no "key" string (got {key!r}); each backup needs "key" and "timestamp"')
        stamp = item.get('timestamp')
        if stamp is None:
            return key, stamp_from_key(key)
        return key, to_utc(stamp, f'timestamp of backup {key!r}')
    raise AnsibleFilterError(
        f'backups[{index}]={item!r} has type {type(item).__name__}; expected a key string or a dict with "key" and "timestamp"')


def _pinned_keys(keep):
    if keep is None:
        return set()
    if isinstance(keep, (str, dict)):
        keep = [keep]
    if not isinstance(keep, (list, tuple, set, frozenset)):
        raise AnsibleFilterError(f'keep={keep!r} has type {type(keep).__name__}; expected a list of backup keys')
    pinned = set()
    for index, item in enumerate(keep):
        if isinstance(item, dict):
            item = item.get('key')
        if not isinstance(item, str) or not item:
            raise AnsibleFilterError(f'keep[{index}]={item!r} is not a backup key; expected a non-empty string')
        pinned.add(item)
    return pinned


def gfs_retention(backups, daily=7, weekly=4, monthly=6, keep=None):
    """Split backups into keep and delete by grandfather-father-son rules.

    Buckets count days, ISO weeks and months that have backups, not calendar
    time, so a gap in backups never ages everything out at once.
    """
    daily = _count(daily, 'daily')
    weekly = _count(weekly, 'weekly')
    monthly = _count(monthly, 'monthly')
    pinned = _pinned_keys(keep)

    if backups is None:
        backups = []
    if isinstance(backups, (str, dict)) or not isinstance(backups, (list, tuple)):
        raise AnsibleFilterError(
            f'backups has type {type(backups).__name__}; expected a list of keys or of dicts with "key" and "timestamp"')

    entries = []
    seen = set()
    for index, item in enumerate(backups):
        key, moment = _normalise_backup(item, index)
        if key in seen:
            raise AnsibleFilterError(f'backup key {key!r} appears more than once in backups; keys must be unique')
        seen.add(key)
        entries.append((moment, key))

    return gfs_plan(entries, daily, weekly, monthly, pinned)


def backup_latest(keys, directory):
    """The newest backup under directory/ and the dumps passed over as incomplete: {key, incomplete}.

    keys: every key (or path relative to the backup root) listed under directory/, records included.
    A record (<key>.json) is never a backup; a dump without one is incomplete by retention's rule
    (module_utils._retention.split_incomplete)."""
    if isinstance(keys, (str, dict)) or not isinstance(keys, (list, tuple)):
        raise AnsibleFilterError(f'backup_latest expects a list of keys, got {type(keys).__name__}')
    if not isinstance(directory, str) or not directory.strip('/'):
        raise AnsibleFilterError(f'backup_latest needs the directory the backups are in (<prefix>/<db>), got {directory!r:.100}')
    keys = [str(key) for key in keys]
    dumps, _staging, _others = sort_keys(keys, directory)
    backups, incomplete = split_incomplete(sorted(dumps), records_of(keys, directory))
    return {'key': backups[-1][1] if backups else '', 'incomplete': [key for _stamp, key in incomplete]}


class FilterModule:
    """Backup key and retention filters."""

    def filters(self):
        return {
            'backup_key': backup_key,
            'gfs_retention': gfs_retention,
            'backup_latest': backup_latest,
        }
