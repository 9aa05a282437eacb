# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""GFS retention of backups: which keys are backups at all, which are kept and why, and what is deleted."""

from __future__ import annotations

import datetime
import random
import re

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._retention import (
    gfs_plan,
    records_of,
    retention_plan,
    sort_keys,
    split_incomplete,
    stamp_of,
)

UTC = datetime.timezone.utc
DIR = 'backups/appdb'
BACKUP_KEY = re.compile(r'^backups/appdb/\d{8}T\d{6}Z\.dump$')


def at(text):
    return datetime.datetime.strptime(text, '%Y%m%dT%H%M%SZ').replace(tzinfo=UTC)


def daily_entries(first, days):
    """One backup a day at 02:00: [(moment, stamp)]."""
    start = at(first)
    moments = [start + datetime.timedelta(days=n) for n in range(days)]
    return [(m, m.strftime('%Y%m%dT%H%M%SZ')) for m in moments]


# --- gfs_plan ------------------------------------------------------------------------------------

def test_gfs_plan_daily_weekly_monthly():
    entries = daily_entries('20241101T020000Z', 92)  # 2024-11-01 .. 2025-01-31
    result = gfs_plan(entries, daily=7, weekly=4, monthly=6)
    assert result['reasons'] == {
        '20250131T020000Z': 'newest',
        '20250130T020000Z': 'daily', '20250129T020000Z': 'daily', '20250128T020000Z': 'daily',
        '20250127T020000Z': 'daily', '20250126T020000Z': 'daily', '20250125T020000Z': 'daily',
        '20250119T020000Z': 'weekly', '20250112T020000Z': 'weekly',  # Sundays: the newest of their ISO week
        '20241231T020000Z': 'monthly', '20241130T020000Z': 'monthly',
    }
    assert result['keep'] == list(result['reasons'])  # newest first
    assert len(result['delete']) == 92 - 11
    assert set(result['keep']).isdisjoint(result['delete'])
    assert result['delete'] == sorted(result['delete'], reverse=True)


def test_gfs_plan_keeps_the_newest_of_a_day():
    entries = [(at('20250131T230000Z'), 'late'), (at('20250131T010000Z'), 'early'), (at('20250130T120000Z'), 'before')]
    result = gfs_plan(entries, daily=2, weekly=0, monthly=0)
    assert result['reasons'] == {'late': 'newest', 'before': 'daily'}
    assert result['delete'] == ['early']


def test_gfs_plan_weeks_are_iso_weeks_across_new_year():
    # 2024-12-30 (Monday) belongs to ISO week 2025-W01, with 2025-01-01.
    entries = [(at('20250101T020000Z'), 'wed'), (at('20241230T020000Z'), 'mon'), (at('20241229T020000Z'), 'sun')]
    result = gfs_plan(entries, daily=0, weekly=2, monthly=0)
    assert result['reasons'] == {'wed': 'newest', 'sun': 'weekly'}
    assert result['delete'] == ['mon']


def test_gfs_plan_counts_buckets_with_backups_not_calendar_time():
    # A year-long gap: the old backups are still the daily ones, nothing ages out at once.
    entries = daily_entries('20230101T020000Z', 10)
    result = gfs_plan(entries, daily=3, weekly=0, monthly=0)
    assert result['keep'] == ['20230110T020000Z', '20230109T020000Z', '20230108T020000Z']


def test_gfs_plan_pinned_and_newest_always_kept():
    entries = daily_entries('20250101T020000Z', 31)
    result = gfs_plan(entries, daily=0, weekly=0, monthly=0, pinned=['20250103T020000Z', 'not-there'])
    assert result['reasons'] == {'20250131T020000Z': 'newest', '20250103T020000Z': 'pinned'}
    assert len(result['delete']) == 29


def test_gfs_plan_reason_is_the_strongest():
    entries = daily_entries('20250101T020000Z', 3)
    result = gfs_plan(entries, daily=3, weekly=1, monthly=1, pinned=['20250131T020000Z', '20250102T020000Z'])
    assert result['reasons'] == {'20250103T020000Z': 'newest', '20250102T020000Z': 'pinned',
                                 '20250101T020000Z': 'daily'}


def test_gfs_plan_of_nothing():
    assert gfs_plan([]) == {'keep': [], 'delete': [], 'reasons': {}}


# --- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('name, expected', [
    ('20250131T235959Z.dump', at('20250131T235959Z')),
    ('20240229T000000Z.dump', at('20240229T000000Z')),
    ('20250229T000000Z.dump', None),   # not a date
    ('20251301T000000Z.dump', None),
    ('20250131T235959Z.dump.json', None),
    ('20250131T235959Z.sql.gz', None),
    ('20250131T235959.dump', None),
    ('x20250131T235959Z.dump', None),
    ('', None),
])
def test_stamp_of(name, expected):
    assert stamp_of(name) == expected


def test_sort_keys():
    keys = [
        'backups/appdb/20250131T020000Z.dump',
        'backups/appdb/_incomplete/20250131T030000Z.dump/upload-1',
        'backups/appdb/_incomplete/x',
        'backups/appdb/20250131T020000Z.dump.json',
        'backups/appdb/sub/20250101T020000Z.dump',
        'backups/appdb/notes.txt',
        'backups/appdb2/20250101T020000Z.dump',
        'backups/appdb_incomplete/x',
        'backups/other/20250101T020000Z.dump',
        'backups/appdb/_incomplete',
    ]
    backups, staging, others = sort_keys(keys, 'backups/appdb/')
    assert backups == [(at('20250131T020000Z'), 'backups/appdb/20250131T020000Z.dump')]
    assert staging == ['backups/appdb/_incomplete/20250131T030000Z.dump/upload-1', 'backups/appdb/_incomplete/x']
    record = 'backups/appdb/20250131T020000Z.dump.json'
    assert others == [k for k in keys if k not in staging and k not in (backups[0][1], record)]
    assert records_of(keys, 'backups/appdb') == {'backups/appdb/20250131T020000Z.dump': record}


# --- retention_plan -------------------------------------------------------------------------------

NOW = at('20250131T120000Z')


def listing_of(entries):
    """[(key, last modified)]: each backup stored a minute after its stamp."""
    return [('%s/%s.dump' % (DIR, stamp), moment + datetime.timedelta(minutes=1)) for moment, stamp in entries]


def test_retention_plan_deletes_only_backups_and_stale_staging():
    backups = listing_of(daily_entries('20250101T020000Z', 31))
    strangers = [
        ('backups/appdb/notes.txt', at('20200101T000000Z')),
        ('backups/appdb/20241201T020000Z.dump.json', at('20200101T000000Z')),  # its dump is gone
        ('backups/appdb/sub/20240101T020000Z.dump', at('20200101T000000Z')),
        ('backups/appdb/20251399T000000Z.dump', at('20200101T000000Z')),
        ('backups/appdbx/20240101T020000Z.dump', at('20200101T000000Z')),
        ('backups/other/20240101T020000Z.dump', at('20200101T000000Z')),
    ]
    staging = [
        ('backups/appdb/_incomplete/old-upload', NOW - datetime.timedelta(days=2)),
        ('backups/appdb/_incomplete/one-day-exactly', NOW - datetime.timedelta(days=1)),
        ('backups/appdb/_incomplete/live-upload', NOW - datetime.timedelta(hours=1)),
    ]
    listing = strangers[:3] + backups + staging + strangers[3:]
    result = retention_plan(listing, DIR, 1, 0, 0, [], NOW)
    assert result['keep'] == ['backups/appdb/20250131T020000Z.dump']
    assert sorted(result['delete']) == sorted(k for k, _m in backups if k not in result['keep'])
    assert result['staging_delete'] == ['backups/appdb/_incomplete/old-upload']
    assert result['ignored'] == sorted(k for k, _m in strangers)


def test_retention_plan_pinned_and_rules():
    backups = listing_of(daily_entries('20250101T020000Z', 31))
    pinned = ['backups/appdb/20250105T020000Z.dump']
    result = retention_plan(backups, DIR + '/', 2, 1, 1, pinned, NOW)
    assert result['reasons'] == {'backups/appdb/20250131T020000Z.dump': 'newest',
                                 'backups/appdb/20250130T020000Z.dump': 'daily',
                                 'backups/appdb/20250105T020000Z.dump': 'pinned'}
    assert result['staging_delete'] == [] and result['ignored'] == []


def test_retention_plan_never_deletes_a_stranger():
    rng = random.Random(7)
    names = ['20250101T020000Z.dump', '20250102T020000Z.dump', 'x.dump', '20250101T020000Z.dump.tmp', 'README',
             '_incomplete/a', 'sub/20250103T020000Z.dump', '2025010T020000Z.dump']
    dirs = [DIR, 'backups/appdb2', 'backups', 'other']
    listing = []
    for _n in range(200):
        key = '%s/%s' % (rng.choice(dirs), rng.choice(names))
        listing.append((key, NOW - datetime.timedelta(hours=rng.randint(0, 96))))
    listing = list(dict(listing).items())
    result = retention_plan(listing, DIR, 0, 0, 0, [], NOW)
    assert result['delete'] and all(BACKUP_KEY.match(key) for key in result['delete'])
    assert all(key.startswith(DIR + '/_incomplete/') for key in result['staging_delete'])
    assert set(result['ignored']) == set(k for k, _m in listing if not BACKUP_KEY.match(k)
                                         and not k.startswith(DIR + '/_incomplete/'))


# --- records beside the backups -------------------------------------------------------------------

def recorded_listing(entries, unrecorded=()):
    """Each backup with its record, except the stamps in `unrecorded`."""
    listing = []
    for key, moment in listing_of(entries):
        listing.append((key, moment))
        if key.rsplit('/', 1)[1][:-len('.dump')] not in unrecorded:
            listing.append((key + '.json', moment))
    return listing


def test_a_record_is_never_a_backup_and_goes_with_its_backup():
    listing = recorded_listing(daily_entries('20250101T020000Z', 10))
    result = retention_plan(listing, DIR, 3, 0, 0, [], NOW)
    assert len(result['keep']) == 3 and len(result['delete']) == 7
    assert all(key.endswith('.dump') for key in result['keep'] + result['delete'])
    assert result['delete_records'] == [key + '.json' for key in result['delete']]
    assert result['ignored'] == [] and result['incomplete'] == []


def test_old_backups_without_records_still_count_and_newer_unrecorded_ones_are_incomplete():
    # 01..05 were made before records (sha256 in metadata); 06.. have records; 08 and 31 lost theirs.
    entries = daily_entries('20250101T020000Z', 31)
    legacy = ['20250101T020000Z', '20250102T020000Z', '20250103T020000Z', '20250104T020000Z', '20250105T020000Z']
    listing = recorded_listing(entries, unrecorded=legacy + ['20250108T020000Z', '20250131T020000Z'])
    result = retention_plan(listing, DIR, 40, 0, 0, [], NOW)
    assert result['incomplete'] == [DIR + '/20250108T020000Z.dump', DIR + '/20250131T020000Z.dump']
    # 31 was stored an hour ago (its run may still be writing the record); 08 is days old.
    assert result['incomplete_delete'] == [DIR + '/20250108T020000Z.dump']
    assert DIR + '/20250131T020000Z.dump' not in result['keep'] + result['delete']
    assert result['keep'][0] == DIR + '/20250130T020000Z.dump', 'an incomplete backup was kept as the newest'
    assert all(DIR + '/%s.dump' % stamp in result['keep'] for stamp in legacy)


def test_pinned_incomplete_backup_is_never_deleted():
    listing = recorded_listing(daily_entries('20250101T020000Z', 5), unrecorded=['20250103T020000Z'])
    result = retention_plan(listing, DIR, 1, 0, 0, [DIR + '/20250103T020000Z.dump'], NOW)
    assert result['incomplete'] == [DIR + '/20250103T020000Z.dump'] and result['incomplete_delete'] == []


@pytest.mark.parametrize('recorded, expected_incomplete', [
    ([], []),                                   # nothing recorded yet: all may be old backups
    (['a', 'b', 'c'], []),
    (['b'], ['c']),                             # a older than the oldest record: an old backup
    (['a'], ['b', 'c']),
])
def test_split_incomplete(recorded, expected_incomplete):
    backups = [(at('20250101T000000Z'), 'a'), (at('20250102T000000Z'), 'b'), (at('20250103T000000Z'), 'c')]
    kept, incomplete = split_incomplete(backups, set(recorded))
    assert [key for _s, key in incomplete] == expected_incomplete
    assert sorted(kept + incomplete) == sorted(backups)
