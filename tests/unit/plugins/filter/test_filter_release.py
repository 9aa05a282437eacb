# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.release import (
    FilterModule,
    deploy_failure_notice,
    deploy_failure_text,
    deploy_input_errors,
    release_id,
    phase_durations,
    release_id_parse,
    release_update,
    release_whole_stack,
)

UTC = datetime.timezone.utc


def test_filter_module_exports():
    assert FilterModule().filters() == {'release_id': release_id, 'release_id_parse': release_id_parse,
                                        'phase_durations': phase_durations, 'deploy_input_errors': deploy_input_errors,
                                        'release_whole_stack': release_whole_stack,
                                        'deploy_failure_notice': deploy_failure_notice,
                                        'deploy_failure_text': deploy_failure_text, 'release_update': release_update}


@pytest.mark.parametrize('version, when, expected', [
    ('1.4.2', '2025-01-31T23:59:59Z', '20250131T235959Z-1.4.2'),
    ('v2.0.0-rc.1', 0, '19700101T000000Z-v2.0.0-rc.1'),
    ('abc123f', 1738367999, '20250131T235959Z-abc123f'),
    ('build_42', datetime.datetime(2025, 1, 31, 23, 59, 59), '20250131T235959Z-build_42'),
    ('1.0', datetime.datetime(2025, 2, 1, 0, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
     '20250131T235959Z-1.0'),
    (' 1.4.2 ', '2025-01-31T23:59:59Z', '20250131T235959Z-1.4.2'),  # whitespace trimmed
    (42, '2025-01-31T23:59:59Z', '20250131T235959Z-42'),
    ('-', '2025-01-31T23:59:59Z', '20250131T235959Z--'),
    ('a' * 200, 0, '19700101T000000Z-' + 'a' * 200),
])
def test_release_id(version, when, expected):
    assert release_id(version, when) == expected


def test_release_id_defaults_to_now():
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    value = release_id('1.0')
    after = datetime.datetime.now(UTC)
    stamp = datetime.datetime.strptime(value[:16], '%Y%m%dT%H%M%SZ').replace(tzinfo=UTC)
    assert value.endswith('-1.0')
    assert before <= stamp <= after


@pytest.mark.parametrize('version, message', [
    ('1.4.2+build.5', "version '1.4.2+build.5' contains ['+']"),
    ('feature/x', "version 'feature/x' contains ['/']"),
    ('1 2', "version '1 2' contains [' ']"),
    ('', 'version is empty'),
    ('   ', 'version is empty'),
    ('..', "version '..' is a relative path segment"),
    ('.', 'relative path segment'),
    ('a' * 201, 'is 201 characters; at most 200 are allowed'),
    (1.10, 'version 1.1 is a float; quote it in YAML'),
    (True, 'version True is a boolean'),
    (None, 'version None has type NoneType'),
    (['1'], "version ['1'] has type list"),
])
def test_release_id_rejects_bad_version(version, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        release_id(version, 0)


def test_release_id_rejects_bad_when():
    with pytest.raises(AnsibleFilterError, match=re.escape("when='later' is not an ISO-8601 timestamp")):
        release_id('1.0', 'later')


@pytest.mark.parametrize('value, expected', [
    ('20250131T235959Z-1.4.2', {'timestamp': '2025-01-31T23:59:59Z', 'version': '1.4.2'}),
    ('19700101T000000Z-v2.0.0-rc.1', {'timestamp': '1970-01-01T00:00:00Z', 'version': 'v2.0.0-rc.1'}),
    ('20240229T120000Z--', {'timestamp': '2024-02-29T12:00:00Z', 'version': '-'}),
    (' 20250131T235959Z-1 ', {'timestamp': '2025-01-31T23:59:59Z', 'version': '1'}),
])
def test_release_id_parse(value, expected):
    assert release_id_parse(value) == expected


@pytest.mark.parametrize('value, message', [
    ('1.4.2', "release id '1.4.2' is not \"<YYYYMMDDTHHMMSSZ>-<version>\""),
    ('20250131T235959Z', 'is not "<YYYYMMDDTHHMMSSZ>-<version>"'),
    ('20250131T235959Z-', 'is not "<YYYYMMDDTHHMMSSZ>-<version>"'),
    ('20250131T235959z-1', 'is not "<YYYYMMDDTHHMMSSZ>-<version>"'),
    ('2025-01-31T23:59:59Z-1', 'is not "<YYYYMMDDTHHMMSSZ>-<version>"'),
    ('20250230T000000Z-1', "timestamp of release id '20250230T000000Z-1'='20250230T000000Z' is not a real date"),
    ('20250131T246000Z-1', 'is not a real date'),
    ('20250131T235959Z-1+2', "version '1+2' contains ['+']"),
    (None, 'release id None has type NoneType'),
    (20250131, 'release id 20250131 has type int'),
])
def test_release_id_parse_rejects(value, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        release_id_parse(value)


_version = st.from_regex(r'\A[A-Za-z0-9._-]{1,30}\Z').filter(lambda v: v not in ('.', '..'))
_moment = st.datetimes(min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 31)).map(
    lambda m: m.replace(microsecond=0, tzinfo=UTC))


@given(version=_version, moment=_moment)
def test_release_id_round_trips(version, moment):
    parsed = release_id_parse(release_id(version, moment))
    assert parsed['version'] == version
    assert datetime.datetime.fromisoformat(parsed['timestamp']) == moment


@given(first=_moment, second=_moment, version=_version)
def test_release_ids_sort_in_time_order(first, second, version):
    if first != second:
        assert (release_id(version, first) < release_id(version, second)) == (first < second)


def test_phase_durations_measure_until_the_next_mark():
    marks = [['preflight', 100.0], ['backup', 103.25], ['migrate', 110.0], ['end', 111.04]]
    assert phase_durations(marks) == {'preflight': 3.2, 'backup': 6.8, 'migrate': 1.0}


def test_phase_durations_add_up_a_repeated_phase_and_never_go_negative():
    assert phase_durations([['a', 1], ['b', 2], ['a', 5], ['end', 4]]) == {'a': 1.0, 'b': 3.0}
    assert phase_durations([['only', 1]]) == {}
    assert phase_durations([]) == {}


@pytest.mark.parametrize('marks', ['x', [['a']], [['a', 'soon'], ['end', 2]], [5]])
def test_phase_durations_reject_malformed_marks(marks):
    with pytest.raises(AnsibleFilterError, match='phase mark'):
        phase_durations(marks)


GOOD = dict(images={'backend': 'registry.example.com/a/backend:v2', 'db': 'registry.example.com/a/postgres:15'},
            image_keys=['backend', 'db'], services=['db', 'backend'], database='db',
            data_address='', secrets={'POSTGRES_PASSWORD': 'pw-1.ok', 'SECRET_KEY': 's3cret'},
            required_secrets=['POSTGRES_PASSWORD', 'SECRET_KEY'], url_safe_secrets=['POSTGRES_PASSWORD'])


def test_deploy_input_errors_accepts_good_input():
    assert deploy_input_errors('v2', **GOOD) == []


@pytest.mark.parametrize('version, changes, expected', [
    ('v2 beta!', {}, ['compose_deploy_version must be a label', 'aishield_version']),
    ({'major': 2}, {}, ['compose_deploy_version must be a label']),
    ('', {}, ['compose_deploy_version must be a label']),
    ('v2', {'images': 'backend:v2'}, ['compose_deploy_images must map each image key']),
    ('v2', {'images': {'backend': 'UPPER/Case::x', 'db': 'x/y:1'}}, ['compose_deploy_images.backend', 'UPPER/Case::x']),
    ('v2', {'images': {'backend': 'x/y:1'}}, ['compose_deploy_images.db is missing']),
    ('v2', {'services': []}, ['runs no service', 'compose_deploy_fleet_role']),
    ('v2', {'services': ['backend']}, ['database service db', 'compose_deploy_data_address']),
    ('v2', {'services': ['backend'], 'database': ''}, []),
    ('v2', {'secrets': {'POSTGRES_PASSWORD': 'pw'}}, ['compose_deploy_secrets.SECRET_KEY is missing', 'ansible-vault']),
    ('v2', {'secrets': {'POSTGRES_PASSWORD': 'p@ss/word', 'SECRET_KEY': 'x'}}, ['POSTGRES_PASSWORD may only hold']),
])
def test_deploy_input_errors_name_the_variable(version, changes, expected):
    errors = deploy_input_errors(version, **dict(GOOD, **changes))
    if not expected:  # a stack without a database service needs no data address
        assert errors == []
        return
    assert len(errors) == 1, errors
    for text in expected:
        assert text in errors[0]


def test_deploy_input_errors_reports_every_problem_at_once():
    inputs = dict(GOOD)
    inputs.update(secrets={}, services=[])
    errors = deploy_input_errors('bad label', **inputs)
    assert len(errors) == 4, errors


def test_a_fleet_app_host_needs_the_data_address_only_without_db():
    inputs = dict(GOOD)
    inputs.update(services=['backend'], data_address='10.0.0.5')
    assert deploy_input_errors('v2', **inputs) == []


def test_whole_stack_of_a_single_host_is_its_record():
    record = {'release_id': '20250101T000000Z-v1', 'version': 'v1', 'images': {'backend': 'b@sha256:1'}}
    assert release_whole_stack([record]) == record
    assert release_whole_stack([{}, record]) == record
    assert release_whole_stack([]) == {}


def test_whole_stack_of_a_fleet_joins_the_db_and_app_parts():
    db = {'release_id': 'R-db', 'role': 'db', 'version': 'v2', 'images': {'db': 'pg@sha256:1', 'redis': 'r@sha256:2'},
          'alembic': {'after': ['0002']}}
    stale = {'release_id': 'R-old', 'role': 'app', 'version': 'v1', 'db_release': 'R-older', 'images': {'backend': 'b@sha256:old'}}
    app = {'release_id': 'R-app', 'role': 'app', 'version': 'v2', 'db_release': 'R-db',
           'images': {'backend': 'b@sha256:3', 'db': 'pg:15'}, 'alembic': {'after': ['0001']}}
    merged = release_whole_stack([db, stale, app])
    assert merged['release_id'] == 'R-app' and merged['version'] == 'v2'
    assert merged['images'] == {'db': 'pg@sha256:1', 'redis': 'r@sha256:2', 'backend': 'b@sha256:3'}
    assert merged['alembic'] == {'after': ['0002']}
    # Each host pins what it runs: the db host's digest wins over the app host's unpinned tag.
    # The inputs are not changed; with no app host that ran against the db's release, the first app record serves.
    assert app['images'] == {'backend': 'b@sha256:3', 'db': 'pg:15'}
    assert release_whole_stack([db, stale])['release_id'] == 'R-old'


def test_whole_stack_needs_a_list():
    with pytest.raises(AnsibleFilterError, match='list of release records'):
        release_whole_stack({'release_id': 'x'})


BACKUP_FAILED = {'phase': 'backup', 'task': 'Back up the database', 'message': 'No space left on device'}
SMOKE_FAILED = {'phase': 'smoke', 'task': 'Run the smoke checks', 'message': 'GET /api/v1/health: 500.'}


@pytest.mark.parametrize('phase', ['preflight', 'pull', 'backup', 'migrate'])
def test_a_failure_before_the_switch_is_announced_as_harmless_and_closed(phase):
    notice = deploy_failure_notice(dict(BACKUP_FAILED, phase=phase))
    assert notice == {
        'message': "Failed in phase %s at 'Back up the database'. Nothing was switched: the previous release keeps "
                   "serving." % phase,
        'statuspage_statuses': {'deploy_failed': 'resolved'}, 'component_status': {'deploy_failed': 'operational'}}


@pytest.mark.parametrize('phase', ['switch', 'smoke'])
def test_a_failure_from_the_switch_on_leaves_the_incident_open(phase):
    notice = deploy_failure_notice(dict(SMOKE_FAILED, phase=phase))
    assert notice == {'message': "Failed in phase %s at 'Run the smoke checks'." % phase,
                      'statuspage_statuses': {}, 'component_status': {}}


def test_a_failure_before_the_switch_says_nothing_was_switched():
    text = deploy_failure_text(BACKUP_FAILED, 'v2')
    assert text == ("Deploy of v2 failed in phase backup at 'Back up the database': No space left on device. "
                    "Nothing was switched: the previous release keeps serving.")


def test_a_rolled_back_failure_names_the_release_it_serves_and_its_smoke_test():
    text = deploy_failure_text(SMOKE_FAILED, 'v3', rollback={'to': '20261207T101010Z-v2', 'version': 'v2'},
                               smoke_summary='5/5 endpoints healthy')
    # The message's own full stop is not doubled; nothing says "Nothing was switched" after a switch.
    assert text == ("Deploy of v3 failed in phase smoke at 'Run the smoke checks': GET /api/v1/health: 500. "
                    "Rolled back automatically to 20261207T101010Z-v2 (v2); smoke: 5/5 endpoints healthy.")


def test_a_failed_rollback_says_act_now_even_when_a_rollback_result_exists():
    text = deploy_failure_text(SMOKE_FAILED, 'v3', rollback={'to': '20261207T101010Z-v2', 'version': 'v2'},
                               rollback_failed='the smoke test of v2 failed')
    assert text.endswith('AUTOMATIC ROLLBACK FAILED: the smoke test of v2 failed. Act now: ansible-playbook '
                         'aishield.ops.rollback (see the runbook).')
    assert 'Rolled back automatically' not in text


def test_a_switch_failure_without_a_rollback_says_neither():
    text = deploy_failure_text(dict(SMOKE_FAILED, phase='switch'), 'v2', rollback={})
    assert text == "Deploy of v2 failed in phase switch at 'Run the smoke checks': GET /api/v1/health: 500."


def test_a_fleet_app_host_stays_drained_and_names_itself():
    text = deploy_failure_text(dict(SMOKE_FAILED, phase='app'), 'v2', fleet_role='app', host='app2',
                               rollback={'to': 'x', 'version': 'v1'})
    assert text == ("app2 failed at 'Run the smoke checks': GET /api/v1/health: 500. It stays drained at the load "
                    "balancer; app hosts not yet reached keep the previous release. Fix the cause and run the same "
                    "command again: hosts already on the release change nothing.")


def test_a_fleet_db_host_changed_no_app_host():
    text = deploy_failure_text(dict(BACKUP_FAILED, phase='db'), 'v2', fleet_role='db', host='db1')
    assert text == ("The db host failed at 'Back up the database': No space left on device. No app host was changed: "
                    "they keep serving the previous release.")


def test_a_failure_with_missing_fields_still_reads():
    assert deploy_failure_text({}, 'v2') == ("Deploy of v2 failed in phase preflight at '?': see the task output "
                                             "above. Nothing was switched: the previous release keeps serving.")
    with pytest.raises(AnsibleFilterError, match='phase, task and message'):
        deploy_failure_text('boom', 'v2')
    with pytest.raises(AnsibleFilterError, match='phase, task and message'):
        deploy_failure_notice(None)


def test_release_update_keeps_only_the_phases_that_ran():
    migration = {'heads': ['0002'], 'before': ['0001'], 'after': ['0002']}
    backup = {'key': 'backups/aishield/x.dump', 'sha256': 'ab'}
    smoke = {'summary': '5/5 endpoints healthy', 'ok': True}
    assert release_update({}, alembic=migration, backup=backup, smoke=smoke) == {
        'alembic': migration, 'backup': backup, 'smoke': smoke}
    # A phase that did not run: its variable undefined (default({})), or a skipped task's result.
    assert release_update({}, alembic={}, backup={'skipped': True}, smoke={'changed': False}) == {}
    # A skipped backup says why, and that is recorded.
    assert release_update({}, backup={'reason': 'aishield_backup_skip: hotfix'}) == {
        'backup': {'reason': 'aishield_backup_skip: hotfix'}}


def test_release_update_lets_the_role_record_win():
    record = {'role': 'app', 'alembic': {'after': ['0002']}}
    update = release_update(record, alembic={'heads': ['0001']}, smoke={'summary': 's'})
    assert update == {'role': 'app', 'alembic': {'after': ['0002']}, 'smoke': {'summary': 's'}}
    assert release_update(None) == {}
    with pytest.raises(AnsibleFilterError, match='compose_deploy_record'):
        release_update(['role', 'app'])
