# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dr_drill_report: RTO, RPO, the rows, the lines and the failure message of a passed, a failed and a kept drill."""

from __future__ import annotations

import datetime

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.dr_drill import dr_drill_report

BACKUP = '2026-01-31T12:00:00Z'
BACKUP_EPOCH = datetime.datetime(2026, 1, 31, 12, 0, tzinfo=datetime.timezone.utc).timestamp()
KEY = 'prod/aishield/20260131T120000Z.dump'


def drill(**overrides):
    base = {'failure': None, 'restore': {'sha256': 'ab' * 32, 'tables': {'users': '3', 'projects': 2}},
            'started': str(BACKUP_EPOCH + 3600), 'smoke_passed': str(BACKUP_EPOCH + 3600 + 41.26),
            'smoke_summary': '7/7 endpoints healthy; p95 9 ms', 'backup_time': BACKUP, 'backup_key': KEY,
            'release': {'release_id': '20260131T110000Z-v2', 'version': 'v2'}, 'project': 'aishield-dr',
            'db_name': 'aishield', 'expected_revision': ['b2'], 'keep': False,
            'teardown': {'status': 'ok', 'value': 'removed'}, 'rto_target': 900, 'rpo_target': 93600}
    base.update(overrides)
    return dr_drill_report(base)


def rows(report):
    return {row['name']: row for row in report['rows']}


def test_a_passed_drill_measures_rto_and_rpo_and_every_row_is_ok():
    report = drill()
    result = report['result']
    assert (result['status'], result['rto_seconds'], result['rpo_seconds']) == ('ok', 41.3, 3600)
    assert result['release'] == '20260131T110000Z-v2' and result['failure'] == {}
    by = rows(report)
    assert [row['name'] for row in report['rows']] == ['restore', 'smoke', 'rto_seconds', 'rpo_seconds', 'teardown']
    assert all(row['status'] == 'ok' for row in report['rows'])
    assert by['restore']['value'] == '2 tables, 5 rows'
    assert by['restore']['detail'] == '%s sha256 %s into aishield-dr/aishield' % (KEY, 'ab' * 32)
    assert by['smoke'] == {'name': 'smoke', 'value': '7/7 endpoints healthy; p95 9 ms', 'threshold': 'all endpoints healthy',
                           'status': 'ok', 'detail': 'revision b2'}
    assert by['teardown'] == {'name': 'teardown', 'threshold': 'nothing left', 'status': 'ok', 'value': 'removed'}
    assert report['lines'][0] == 'dr_drill  ok: release 20260131T110000Z-v2 from ' + KEY
    assert 'rto_seconds  ok  41.3' in report['lines'] and report['failure_message'] == ''


def test_a_failed_restore_fails_every_later_check_and_names_the_step():
    # The smoke test never ran: not run (a smoke test that ran and failed says failed).
    failure = {'task': 'Restore the backup into the fresh database', 'message': 'sha256 mismatch'}
    report = drill(failure=failure, restore={'failed': True, 'msg': 'sha256 mismatch'}, smoke_passed='')
    by = rows(report)
    assert report['result']['status'] == 'fail' and report['result']['rto_seconds'] is None
    assert (by['restore']['value'], by['restore']['status']) == ('failed', 'fail')
    assert by['restore']['detail'] == 'Restore the backup into the fresh database: sha256 mismatch'
    assert (by['smoke']['value'], by['smoke']['status'], by['smoke']['detail']) == ('not run', 'fail', '')
    assert by['rto_seconds']['value'] is None and by['rto_seconds']['detail'].startswith('not measured')
    assert report['failure_message'] == (
        "The disaster-recovery drill failed at 'Restore the backup into the fresh database': sha256 mismatch. "
        "Failing checks: restore = failed (expected sha256 verified); smoke = not run (expected all endpoints healthy); "
        "rto_seconds = not measured (expected 900). The drill stack was torn down.")


def test_a_drill_that_never_reached_the_restore_says_not_run():
    report = drill(failure={'task': 'Pull', 'message': 'no such image'}, restore={}, smoke_passed='', teardown=None)
    by = rows(report)
    assert by['restore']['value'] == 'not run' and by['smoke']['value'] == 'not run'
    assert by['teardown'] == {'name': 'teardown', 'threshold': 'nothing left', 'status': 'fail', 'value': 'not run'}


def test_a_kept_drill_warns_and_a_slow_or_old_one_fails_its_targets():
    report = drill(keep=True, rto_target=30, rpo_target=1800)
    by = rows(report)
    assert by['teardown']['status'] == 'warn' and 'docker compose -p aishield-dr down -v' in by['teardown']['detail']
    assert by['rto_seconds']['status'] == 'fail' and by['rpo_seconds']['status'] == 'fail'
    assert report['result']['status'] == 'ok'  # nothing failed to run: the targets were missed
    assert report['failure_message'] == (
        'The disaster-recovery drill failed. Failing checks: rto_seconds = 41.3 (expected 30); '
        'rpo_seconds = 3600 (expected 1800). The drill stack was kept (dr_drill_keep).')


def test_a_release_without_an_id_is_named_by_its_version():
    assert drill(release={'version': 'v2'})['result']['release'] == 'v2'


@pytest.mark.parametrize('overrides, message', [
    ({'backup_time': '31/01/2026'}, 'backup_time must look like'),
    ({'started': 'soon'}, 'started must be a Unix time'),
])
def test_bad_records_are_named(overrides, message):
    with pytest.raises(AnsibleFilterError, match=message):
        drill(**overrides)
