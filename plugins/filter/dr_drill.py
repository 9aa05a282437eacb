# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The disaster-recovery drill's result: RTO, RPO and the report rows, from what the drill recorded."""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleFilterError

BACKUP_TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
EPOCH = datetime.datetime(1970, 1, 1)


def _seconds(value, name):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError('dr_drill_report: %s must be a Unix time in seconds; got %r' % (name, value)) from None


def _why(failure):
    return '%s: %s' % (failure.get('task') or '?', failure.get('message') or '?')


def dr_drill_report(drill):
    """Judge a drill: RTO (start of the recovery to the passed smoke test), RPO (start minus the backup's time), one
    report row per check, the lines to show and, when a check failed, the message the play fails with."""
    failure = drill.get('failure') or None
    restore = drill.get('restore') or {}
    restored = 'sha256' in restore and not restore.get('failed', False)
    tables = restore.get('tables') or {}
    started = _seconds(drill['started'], 'started')
    smoke_passed = drill.get('smoke_passed') or ''
    rto = round(_seconds(smoke_passed, 'smoke_passed') - started, 1) if smoke_passed else None
    try:
        backup_epoch = (datetime.datetime.strptime(drill['backup_time'], BACKUP_TIME_FORMAT) - EPOCH).total_seconds()
    except (TypeError, ValueError):
        raise AnsibleFilterError('dr_drill_report: backup_time must look like 2026-01-31T23:59:59Z; got %r'
                                 % (drill.get('backup_time'),)) from None
    rpo = int(round(started - backup_epoch, 0))
    release = drill.get('release') or {}
    project, key = drill['project'], drill['backup_key']
    if drill.get('keep'):
        teardown = {'status': 'warn', 'value': 'kept',
                    'detail': 'dr_drill_keep=true: remove it with docker compose -p %s down -v' % project}
    else:
        teardown = drill.get('teardown') or {'status': 'fail', 'value': 'not run'}
    result = {'status': 'fail' if failure is not None else 'ok', 'rto_seconds': rto, 'rpo_seconds': rpo,
              'release': release.get('release_id') or release.get('version'), 'version': release.get('version'),
              'backup_key': key, 'backup_time': drill['backup_time'], 'project': project, 'tables': tables,
              'failure': failure or {}}
    why = _why(failure or {})
    rows = [
        {'name': 'restore',
         'value': ('%d tables, %d rows' % (len(tables), sum(int(n) for n in tables.values())) if restored
                   else 'failed' if restore else 'not run'),
         'threshold': 'sha256 verified', 'status': 'ok' if restored else 'fail',
         'detail': ('%s sha256 %s into %s/%s' % (key, restore['sha256'], project, drill['db_name']) if restored else why)},
        {'name': 'smoke',
         'value': drill.get('smoke_summary') if smoke_passed else 'failed' if restored else 'not run',
         'threshold': 'all endpoints healthy', 'status': 'ok' if smoke_passed else 'fail',
         'detail': ('revision ' + (','.join(drill.get('expected_revision') or []) or 'head') if smoke_passed
                    else why if restored else '')},
        {'name': 'rto_seconds', 'value': rto, 'threshold': drill['rto_target'],
         'status': 'ok' if rto is not None and rto <= float(drill['rto_target']) else 'fail',
         'detail': ('start of the recovery to the passed smoke test' if rto is not None
                    else 'not measured: the recovery did not finish')},
        {'name': 'rpo_seconds', 'value': rpo, 'threshold': drill['rpo_target'],
         'status': 'ok' if rpo <= float(drill['rpo_target']) else 'fail', 'detail': 'backup taken %s' % drill['backup_time']},
        dict({'name': 'teardown', 'threshold': 'nothing left'}, **teardown),
    ]
    lines = ['dr_drill  %s: release %s from %s' % (result['status'], result['release'], key)]
    lines += ['%s  %s  %s' % (row['name'], row['status'], row['value']) for row in rows]
    failing = [row for row in rows if row['status'] == 'fail']
    message = ''
    if failing:
        message = 'The disaster-recovery drill failed%s. Failing checks: %s. The drill stack was %s.' % (
            " at '%s': %s" % (failure.get('task'), failure.get('message')) if failure is not None else '',
            '; '.join('%s = %s (expected %s)' % (row['name'], 'not measured' if row['value'] is None else row['value'],
                                                 row['threshold']) for row in failing),
            'kept (dr_drill_keep)' if drill.get('keep') else 'torn down')
    return {'result': result, 'rows': rows, 'lines': lines, 'failure_message': message}


class FilterModule:
    """Disaster-recovery drill filters."""

    def filters(self):
        return {'dr_drill_report': dr_drill_report}
