# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime
import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.backup import (
    backup_latest,
    FilterModule,
    backup_key,
    gfs_retention,
)

UTC = datetime.timezone.utc


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


def key_at(*args, db='app'):
    return backup_key(db, when=utc(*args))


def _literal(message):
    return re.escape(message)


def test_filter_module_exports():
    assert FilterModule().filters() == {'backup_key': backup_key, 'gfs_retention': gfs_retention, 'backup_latest': backup_latest}


# ---------------------------------------------------------------- backup_key

@pytest.mark.parametrize('when, expected', [
    (utc(2025, 1, 31, 23, 59, 59), '20250131T235959Z'),
    (datetime.datetime(2025, 1, 31, 23, 59, 59), '20250131T235959Z'),  # naive means UTC
    (datetime.datetime(2025, 2, 1, 1, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     '20250131T230000Z'),
    (0, '19700101T000000Z'),
    (1738367999, '20250131T235959Z'),
    (1738367999.9, '20250131T235959Z'),  # truncated, never rounded into the next second
    ('1738367999', '20250131T235959Z'),  # ansible_date_time.epoch is a string
    (' 1738367999 ', '20250131T235959Z'),
    ('2025-01-31T23:59:59Z', '20250131T235959Z'),
    ('2025-01-31T23:59:59+00:00', '20250131T235959Z'),
    ('2025-02-01T00:59:59+01:00', '20250131T235959Z'),
    ('2025-01-31T18:59:59-05:00', '20250131T235959Z'),
    ('2025-01-31T23:59:59.123456Z', '20250131T235959Z'),
    ('2025-01-31 23:59:59', '20250131T235959Z'),  # no offset means UTC
    ('2025-01-31', '20250131T000000Z'),
    ('20250131T235959Z', '20250131T235959Z'),
])
def test_backup_key_when_forms(when, expected):
    assert backup_key('aishield', when=when) == f'backups/aishield/{expected}.dump'


@pytest.mark.parametrize('kwargs, expected', [
    ({}, 'backups/db1/20250131T235959Z.dump'),
    ({'prefix': 'prod/pg'}, 'prod/pg/db1/20250131T235959Z.dump'),
    ({'prefix': '/prod/pg/'}, 'prod/pg/db1/20250131T235959Z.dump'),
    ({'prefix': ''}, 'db1/20250131T235959Z.dump'),
    ({'prefix': None}, 'db1/20250131T235959Z.dump'),
    ({'ext': 'sql.gz'}, 'backups/db1/20250131T235959Z.sql.gz'),
    ({'ext': '.dump'}, 'backups/db1/20250131T235959Z.dump'),
    ({'ext': 'tar-zst'}, 'backups/db1/20250131T235959Z.tar-zst'),
])
def test_backup_key_prefix_and_ext(kwargs, expected):
    assert backup_key('db1', when='2025-01-31T23:59:59Z', **kwargs) == expected


def test_backup_key_positional_arguments():
    assert backup_key('db1', 'x', 0, 'sql') == 'x/db1/19700101T000000Z.sql'


def test_backup_key_defaults_to_now():
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    key = backup_key('db1')
    after = datetime.datetime.now(UTC)
    stamp = datetime.datetime.strptime(key.rsplit('/', maxsplit=1)[-1], '%Y%m%dT%H%M%SZ.dump').replace(tzinfo=UTC)
    assert key.startswith('backups/db1/')
    assert before <= stamp <= after


@given(
    st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
)
def test_backup_keys_sort_in_time_order(first, second):
    first, second = first.replace(microsecond=0), second.replace(microsecond=0)
    key_first, key_second = backup_key('db', when=first), backup_key('db', when=second)
    assert (key_first < key_second) == (first < second)
    assert (key_first == key_second) == (first == second)


@pytest.mark.parametrize('db_name, message', [
    ('', 'db_name is empty'),
    ('a/b', "db_name 'a/b' contains a slash"),
    ('a\\b', 'contains a slash'),
    ('.', "db_name '.' is a relative path segment"),
    ('..', 'relative path segment'),
    ('my db', "db_name 'my db' contains whitespace"),
    ('db\n', 'contains whitespace or control characters'),
    ('db\x00', 'control characters'),
    (None, 'db_name=None has type NoneType; expected a string'),
    (5, 'db_name=5 has type int'),
])
def test_backup_key_rejects_bad_db_name(db_name, message):
    with pytest.raises(AnsibleFilterError, match=_literal(message)):
        backup_key(db_name, when=0)


@pytest.mark.parametrize('kwargs, message', [
    ({'prefix': 'a//b'}, "prefix='a//b' contains an empty segment"),
    ({'prefix': 'a/../b'}, "segment '..' of prefix 'a/../b' is a relative path segment"),
    ({'prefix': 'a b'}, 'contains whitespace'),
    ({'prefix': 5}, 'prefix=5 has type int'),
    ({'ext': ''}, "ext='' is not a file extension"),
    ({'ext': '.'}, "ext='.' is not a file extension"),
    ({'ext': 'du mp'}, 'is not a file extension'),
    ({'ext': 'dump/x'}, 'is not a file extension'),
    ({'ext': None}, 'ext=None has type NoneType'),
    ({'when': 'yesterday'}, "when='yesterday' is not an ISO-8601 timestamp"),
    ({'when': ''}, 'when is an empty string'),
    ({'when': True}, 'when=True is a boolean'),
    ({'when': []}, 'when=[] has type list'),
    ({'when': datetime.date(2025, 1, 31)}, 'is a date without a time'),
    ({'when': '2025-02-30T00:00:00Z'}, "when='2025-02-30T00:00:00Z' is not an ISO-8601 timestamp"),
    ({'when': '20250230T000000Z'}, "when='20250230T000000Z' is not a real date and time"),
    ({'when': 10 ** 20}, 'is out of range for epoch seconds'),
])
def test_backup_key_rejects_bad_arguments(kwargs, message):
    kwargs.setdefault('when', 0)
    with pytest.raises(AnsibleFilterError, match=_literal(message)):
        backup_key('db1', **kwargs)


# ------------------------------------------------------------- gfs_retention

def _ten_days():
    return [key_at(2025, 1, day, 2, 0, 0) for day in range(1, 11)]


@pytest.mark.parametrize('counts, keep, delete_days', [
    # newest plus the two previous days
    ({'daily': 3, 'weekly': 0, 'monthly': 0}, {10: 'newest', 9: 'daily', 8: 'daily'}, range(1, 8)),
    # 2025-01-01 is a Wednesday: ISO week 1 ends on Sunday the 5th, week 2 holds 6-10
    ({'daily': 0, 'weekly': 2, 'monthly': 0}, {10: 'newest', 5: 'weekly'}, [1, 2, 3, 4, 6, 7, 8, 9]),
    ({'daily': 0, 'weekly': 0, 'monthly': 3}, {10: 'newest'}, range(1, 10)),
    ({'daily': 0, 'weekly': 0, 'monthly': 0}, {10: 'newest'}, range(1, 10)),
    ({'daily': 2, 'weekly': 2, 'monthly': 1}, {10: 'newest', 9: 'daily', 5: 'weekly'}, [1, 2, 3, 4, 6, 7, 8]),
    ({'daily': 50, 'weekly': 0, 'monthly': 0}, {d: 'daily' for d in range(1, 10)} | {10: 'newest'}, []),
])
def test_gfs_retention_buckets(counts, keep, delete_days):
    keys = _ten_days()
    result = gfs_retention(keys, **counts)
    by_day = {day: key_at(2025, 1, day, 2, 0, 0) for day in range(1, 11)}
    expected_keep = [by_day[d] for d in sorted(keep, reverse=True)]
    assert result['keep'] == expected_keep
    assert result['delete'] == [by_day[d] for d in sorted(delete_days, reverse=True)]
    assert result['reasons'] == {by_day[d]: reason for d, reason in keep.items()}
    assert list(result['reasons']) == expected_keep


def test_gfs_retention_defaults():
    # 60 daily backups: 7 days, then 4 ISO weeks and 6 months that mostly overlap them.
    start = utc(2025, 1, 1, 3, 0, 0)
    keys = [backup_key('app', when=start + datetime.timedelta(days=n)) for n in range(60)]
    result = gfs_retention(keys)
    kept_days = sorted(datetime.datetime.strptime(k.rsplit('/', 1)[1], '%Y%m%dT%H%M%SZ.dump').date()
                       for k in result['keep'])
    d = datetime.date
    # Newest is 2025-03-01 (a Saturday); the daily window reaches back to 02-23.
    # Weeks: W09 (02-24..03-02) -> 03-01, W08 -> 02-23, W07 -> 02-16, W06 -> 02-09.
    # Months: 03 -> 03-01, 02 -> 02-28, 01 -> 01-31.
    expected = sorted({d(2025, 3, 1), d(2025, 2, 28), d(2025, 2, 27), d(2025, 2, 26), d(2025, 2, 25),
                       d(2025, 2, 24), d(2025, 2, 23), d(2025, 2, 16), d(2025, 2, 9), d(2025, 1, 31)})
    assert kept_days == expected
    assert len(result['delete']) == 60 - len(expected)
    assert result['reasons'][backup_key('app', when=utc(2025, 2, 16, 3))] == 'weekly'
    assert result['reasons'][backup_key('app', when=utc(2025, 1, 31, 3))] == 'monthly'


def test_gfs_retention_keeps_newest_of_each_day_not_first():
    early, late, newest = key_at(2025, 1, 1, 1), key_at(2025, 1, 1, 23), key_at(2025, 1, 2, 1)
    result = gfs_retention([early, newest, late], daily=2, weekly=0, monthly=0)
    assert result['keep'] == [newest, late]
    assert result['delete'] == [early]


def test_gfs_retention_uses_iso_weeks_across_new_year():
    # 2024-12-30 (Mon) and 2025-01-05 (Sun) are both ISO week 2025-W01; 2024-12-29 is 2024-W52.
    sun_w52, mon_w01, sun_w01 = key_at(2024, 12, 29, 4), key_at(2024, 12, 30, 4), key_at(2025, 1, 5, 4)
    result = gfs_retention([mon_w01, sun_w52, sun_w01], daily=0, weekly=2, monthly=0)
    assert result['keep'] == [sun_w01, sun_w52]
    assert result['delete'] == [mon_w01]
    assert result['reasons'] == {sun_w01: 'newest', sun_w52: 'weekly'}


def test_gfs_retention_monthly_takes_newest_of_each_month():
    keys = [key_at(2024, 11, 15), key_at(2024, 11, 30), key_at(2024, 12, 1), key_at(2024, 12, 31), key_at(2025, 1, 2)]
    assert gfs_retention(keys, daily=0, weekly=0, monthly=2)['keep'] == [key_at(2025, 1, 2), key_at(2024, 12, 31)]
    result = gfs_retention(keys, daily=0, weekly=0, monthly=3)
    assert result['keep'] == [key_at(2025, 1, 2), key_at(2024, 12, 31), key_at(2024, 11, 30)]
    assert result['reasons'][key_at(2024, 11, 30)] == 'monthly'


def test_gfs_retention_counts_days_with_backups_not_calendar_days():
    old, recent = key_at(2024, 6, 1), key_at(2025, 1, 1)
    assert gfs_retention([old, recent], daily=2, weekly=0, monthly=0)['delete'] == []


def test_gfs_retention_buckets_by_utc_day():
    # 01:00+02:00 on the 2nd is 23:00 UTC on the 1st, so it is the 1st's newest backup.
    backups = [
        {'key': 'a', 'timestamp': '2025-01-01T12:00:00Z'},
        {'key': 'b', 'timestamp': '2025-01-02T01:00:00+02:00'},
        {'key': 'c', 'timestamp': '2025-01-02T12:00:00Z'},
    ]
    result = gfs_retention(backups, daily=2, weekly=0, monthly=0)
    assert result == {'keep': ['c', 'b'], 'delete': ['a'], 'reasons': {'c': 'newest', 'b': 'daily'}}


def test_gfs_retention_pinned_is_never_deleted():
    keys = _ten_days()
    pinned = keys[0]
    result = gfs_retention(keys, daily=1, weekly=0, monthly=0, keep=[pinned, 'not/in/the/list.dump'])
    assert result['keep'] == [keys[-1], pinned]
    assert result['reasons'] == {keys[-1]: 'newest', pinned: 'pinned'}
    assert pinned not in result['delete']


@pytest.mark.parametrize('keep', [
    'backups/app/20250101T020000Z.dump',
    {'key': 'backups/app/20250101T020000Z.dump'},
    [{'key': 'backups/app/20250101T020000Z.dump', 'size': 1}],
    ('backups/app/20250101T020000Z.dump',),
])
def test_gfs_retention_keep_forms(keep):
    result = gfs_retention(_ten_days(), daily=0, weekly=0, monthly=0, keep=keep)
    assert result['reasons'].get('backups/app/20250101T020000Z.dump') == 'pinned'


def test_gfs_retention_reason_precedence():
    only = key_at(2025, 1, 1)
    assert gfs_retention([only], keep=[only])['reasons'] == {only: 'newest'}
    older = key_at(2024, 12, 20)  # ISO week 51, a different week and month from the newest
    assert gfs_retention([only, older], keep=[older])['reasons'][older] == 'pinned'
    # daily wins over weekly and monthly for the same backup
    assert gfs_retention([only, older], daily=2)['reasons'][older] == 'daily'
    assert gfs_retention([only, older], daily=1, weekly=2)['reasons'][older] == 'weekly'


def test_gfs_retention_accepts_dicts_and_mixed_forms():
    backups = [
        {'key': 's3://b/x-old', 'timestamp': '2025-01-01T00:00:00Z', 'size': 10},
        {'key': 's3://b/x-mid', 'timestamp': 1735776000},  # 2025-01-02T00:00:00Z
        {'key': 's3://b/x-mid2', 'timestamp': '1735776001'},
        {'key': 'backups/app/20250103T000000Z.dump'},  # timestamp read from the key
        'backups/app/20250104T000000Z.dump',
    ]
    result = gfs_retention(backups, daily=3, weekly=0, monthly=0)
    assert result['keep'] == ['backups/app/20250104T000000Z.dump', 'backups/app/20250103T000000Z.dump',
                              's3://b/x-mid2']
    assert result['delete'] == ['s3://b/x-mid', 's3://b/x-old']


def test_gfs_retention_parses_keys_with_any_prefix_and_extension():
    keys = ['a/b/c/db/20250101T000000Z.sql.gz', 'db/20250102T000000Z', '20250103T000000Z.dump']
    assert gfs_retention(keys, daily=0, weekly=0, monthly=0) == {
        'keep': ['20250103T000000Z.dump'],
        'delete': ['db/20250102T000000Z', 'a/b/c/db/20250101T000000Z.sql.gz'],
        'reasons': {'20250103T000000Z.dump': 'newest'},
    }


def test_gfs_retention_is_independent_of_input_order_and_breaks_ties_by_key():
    same_time = [{'key': k, 'timestamp': '2025-01-01T00:00:00Z'} for k in ('b', 'a', 'c')]
    expected = {'keep': ['c'], 'delete': ['b', 'a'], 'reasons': {'c': 'newest'}}
    for order in itertools.permutations(same_time):
        assert gfs_retention(list(order), daily=1, weekly=1, monthly=1) == expected


@pytest.mark.parametrize('backups', [[], None, ()])
def test_gfs_retention_empty(backups):
    assert gfs_retention(backups) == {'keep': [], 'delete': [], 'reasons': {}}


def test_gfs_retention_counts_may_be_digit_strings():
    assert gfs_retention(_ten_days(), daily='3', weekly='0', monthly='0') == \
        gfs_retention(_ten_days(), daily=3, weekly=0, monthly=0)


@pytest.mark.parametrize('args, kwargs, message', [
    ([['backups/app/20250101T000000Z.dump', 'backups/app/20250101T000000Z.dump']], {},
     "backup key 'backups/app/20250101T000000Z.dump' appears more than once"),
    ([[{'key': 'k', 'timestamp': 0}, {'key': 'k', 'timestamp': 1}]], {}, "'k' appears more than once"),
    ([[]], {'daily': -1}, 'daily=-1 is negative; expected an integer >= 0'),
    ([[]], {'weekly': 1.5}, 'weekly=1.5 is not an integer'),
    ([[]], {'monthly': 2.0}, 'monthly=2.0 is not an integer'),
    ([[]], {'monthly': True}, 'monthly=True is a boolean'),
    ([[]], {'daily': 'seven'}, "daily='seven' is not an integer"),
    ([[]], {'daily': None}, 'daily=None is not an integer'),
    (['backups/app/20250101T000000Z.dump'], {}, 'backups has type str; expected a list'),
    ([{'key': 'k'}], {}, 'backups has type dict; expected a list'),
    ([[5]], {}, 'backups[0]=5 has type int'),
    ([['']], {}, 'backups[0] is an empty string'),
    ([[{'timestamp': 0}]], {}, 'backups[0] has no "key" string'),
    ([[{'key': 'k', 'timestamp': 'soon'}]], {}, "timestamp of backup 'k'='soon' is not an ISO-8601 timestamp"),
    ([['backups/app/latest.dump']], {},
     "backup key 'backups/app/latest.dump' does not end in a backup_key timestamp"),
    ([['backups/app/20251399T000000Z.dump']], {}, 'is not a real date and time'),
    ([[]], {'keep': 5}, 'keep=5 has type int; expected a list of backup keys'),
    ([[]], {'keep': [None]}, 'keep[0]=None is not a backup key'),
    ([[]], {'keep': [{'name': 'x'}]}, 'keep[0]=None is not a backup key'),
])
def test_gfs_retention_rejects_bad_input(args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=_literal(message)):
        gfs_retention(*args, **kwargs)


# ------------------------------------------------------- retention properties

_moments = st.lists(
    st.datetimes(min_value=datetime.datetime(2023, 1, 1), max_value=datetime.datetime(2026, 12, 31)).map(
        lambda m: m.replace(microsecond=0, tzinfo=UTC)),
    unique=True, max_size=60,
)
_counts = st.integers(min_value=0, max_value=8)


def _expected_keep(moments_by_key, daily, weekly, monthly, pinned):
    """Independent statement of the rules: newest of each of the N most recent periods."""
    ordered = sorted(moments_by_key, key=lambda k: (moments_by_key[k], k), reverse=True)
    expected = set(ordered[:1]) | (pinned & set(ordered))
    for limit, bucket_of in ((daily, lambda m: m.date()),
                             (weekly, lambda m: m.isocalendar()[:2]),
                             (monthly, lambda m: (m.year, m.month))):
        newest_by_bucket = {}
        for key in ordered:
            newest_by_bucket.setdefault(bucket_of(moments_by_key[key]), key)
        recent = sorted(newest_by_bucket, reverse=True)[:limit]
        expected |= {newest_by_bucket[b] for b in recent}
    return expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moments=_moments, daily=_counts, weekly=_counts, monthly=_counts, data=st.data(),
       as_dicts=st.booleans())
def test_gfs_retention_properties(moments, daily, weekly, monthly, data, as_dicts):
    keys = [backup_key('app', when=m) for m in moments]
    moments_by_key = dict(zip(keys, moments))
    pinned = data.draw(st.lists(st.sampled_from(keys), unique=True) if keys else st.just([]))
    pinned_extra = pinned + data.draw(st.lists(st.sampled_from(['gone/1', 'gone/2']), unique=True))
    backups = [{'key': k, 'timestamp': m.isoformat()} for k, m in zip(keys, moments)] if as_dicts else keys

    result = gfs_retention(backups, daily=daily, weekly=weekly, monthly=monthly, keep=pinned_extra)
    keep, delete = result['keep'], result['delete']

    # partition of the input
    assert set(keep) | set(delete) == set(keys)
    assert not set(keep) & set(delete)
    assert len(keep) + len(delete) == len(keys)
    # never deletes the newest or a pinned backup
    if keys:
        assert max(keys, key=lambda k: (moments_by_key[k], k)) in keep
    assert set(pinned) <= set(keep)
    # bounded
    assert len(keep) <= daily + weekly + monthly + 1 + len(pinned)
    # exactly the rules, nothing more
    assert set(keep) == _expected_keep(moments_by_key, daily, weekly, monthly, set(pinned))
    # ordering: newest first, reasons for exactly the kept keys
    assert keep == sorted(keep, key=lambda k: (moments_by_key[k], k), reverse=True)
    assert delete == sorted(delete, key=lambda k: (moments_by_key[k], k), reverse=True)
    assert set(result['reasons']) == set(keep)
    assert set(result['reasons'].values()) <= {'newest', 'pinned', 'daily', 'weekly', 'monthly'}
    # idempotent: retention applied to what it kept deletes nothing more
    again = gfs_retention(keep, daily=daily, weekly=weekly, monthly=monthly, keep=pinned_extra)
    assert again['delete'] == []
    assert again['keep'] == keep
    # input order does not matter
    shuffled = data.draw(st.permutations(backups))
    assert gfs_retention(shuffled, daily=daily, weekly=weekly, monthly=monthly, keep=pinned_extra) == result


# --- backup_latest: the newest complete backup (roles/backup/tasks/latest.yml) ---

D = 'backups/aishield'


def test_latest_skips_records_and_a_dump_whose_run_stopped_before_its_record():
    keys = [f'{D}/20260101T000000Z.dump', f'{D}/20260102T000000Z.dump', f'{D}/20260102T000000Z.dump.json',
            f'{D}/20260103T000000Z.dump', f'{D}/other.txt', f'{D}/_incomplete/x', 'backups/other/20260104T000000Z.dump']
    assert backup_latest(keys, D) == {'key': f'{D}/20260102T000000Z.dump', 'incomplete': [f'{D}/20260103T000000Z.dump']}


def test_latest_without_any_record_takes_the_newest_dump():
    """Backups from before records existed carry their sha256 in metadata: all of them count."""
    keys = [f'{D}/20260102T000000Z.dump', f'{D}/20260101T000000Z.dump']
    assert backup_latest(keys, D + '/') == {'key': f'{D}/20260102T000000Z.dump', 'incomplete': []}


def test_latest_of_nothing_is_empty():
    assert backup_latest([f'{D}/20260102T000000Z.dump.json'], D) == {'key': '', 'incomplete': []}
    assert backup_latest([], D) == {'key': '', 'incomplete': []}


@pytest.mark.parametrize('keys, directory', [('a', D), ({'a': 1}, D), ([], ''), ([], '/')])
def test_latest_bad_input_names_what_it_expected(keys, directory):
    with pytest.raises(AnsibleFilterError, match='backup_latest'):
        backup_latest(keys, directory)
