# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Release identifiers ("<YYYYMMDDTHHMMSSZ>-<version>", sortable by time), and what a deploy records and says."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.backup import (
    format_stamp,
    now_utc,
    to_utc,
)
from ansible_collections.aishield.ops.plugins.module_utils._images import ImageRefError, parse_image_ref

_VERSION_RE = re.compile(r'^[A-Za-z0-9._-]+$')
_RELEASE_ID_RE = re.compile(r'^(\d{8}T\d{6}Z)-(.+)$')
# Leaves room for the 17-character stamp prefix inside a 255-byte directory name.
_VERSION_MAX = 200


def _check_version(version):
    if isinstance(version, bool):
        raise AnsibleFilterError(f'version {version!r} is a boolean; expected a string like "1.4.2"')
    if isinstance(version, int):
        version = str(version)
    elif isinstance(version, float):
        # YAML turns 1.10 into 1.1; refuse rather than deploy the wrong version.
        raise AnsibleFilterError(f'version {version!r} is a float; quote it in YAML (e.g. "1.10") so it is not altered')
    if not isinstance(version, str):
        raise AnsibleFilterError(f'version {version!r} has type {type(version).__name__}; expected a string like "1.4.2"')
    clean = version.strip()
    if not clean:
        raise AnsibleFilterError('version is empty; expected a string like "1.4.2"')
    if not _VERSION_RE.match(clean):
        bad = sorted({ch for ch in clean if not re.match(r'[A-Za-z0-9._-]', ch)})
        raise AnsibleFilterError(
            f'version {version!r} contains {bad}; only letters, digits, ".", "_" and "-" are allowed '
            f'(e.g. replace "+" or "/" with "-")')
    if clean in ('.', '..'):
        raise AnsibleFilterError(f'version {version!r} is a relative path segment; use a real version')
    if len(clean) > _VERSION_MAX:
        raise AnsibleFilterError(f'version {clean[:40]!r}... is {len(clean)} characters; at most {_VERSION_MAX} are allowed')
    return clean


def release_id(version, when=None):
    """Return "<YYYYMMDDTHHMMSSZ>-<version>" for a release made at `when` (UTC, default now)."""
    clean = _check_version(version)
    moment = now_utc() if when is None else to_utc(when)
    return f'{format_stamp(moment)}-{clean}'


def release_id_parse(value):
    """Split a release id into its ISO-8601 timestamp and version."""
    if not isinstance(value, str):
        raise AnsibleFilterError(f'release id {value!r} has type {type(value).__name__}; expected a string')
    match = _RELEASE_ID_RE.match(value.strip())
    if not match:
        raise AnsibleFilterError(
            f'release id {value!r} is not "<YYYYMMDDTHHMMSSZ>-<version>", e.g. "20250131T235959Z-1.4.2"')
    stamp, version = match.groups()
    moment = to_utc(stamp, f'timestamp of release id {value!r}')
    _check_version(version)
    return {
        'timestamp': moment.isoformat().replace('+00:00', 'Z'),
        'version': version,
    }


def phase_durations(marks):
    """Turn ordered [name, epoch seconds] marks into {name: seconds until the next mark}.

    The last mark only closes the one before it (name it "end"). Used for the deploy
    summary: one mark as each phase starts, costing no remote round trip.
    """
    if not isinstance(marks, (list, tuple)):
        raise AnsibleFilterError(f'phase marks {marks!r} have type {type(marks).__name__}; expected a list of [name, seconds]')
    clean = []
    for mark in marks:
        if not isinstance(mark, (list, tuple)) or len(mark) != 2:
            raise AnsibleFilterError(f'phase mark {mark!r} is not a [name, seconds] pair')
        name, when = mark
        try:
            clean.append((str(name), float(when)))
        except (TypeError, ValueError):
            raise AnsibleFilterError(f'phase mark {mark!r}: {when!r} is not a number of seconds') from None
    durations = {}
    for (name, started), (_next, ended) in zip(clean, clean[1:]):
        # A phase that appears twice (a retried step) adds up.
        durations[name] = round(durations.get(name, 0.0) + max(0.0, ended - started), 1)
    return durations


_LABEL_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
_URL_SAFE_RE = re.compile(r'^[A-Za-z0-9._~-]+$')


def deploy_input_errors(version, images=None, image_keys=None, services=None, database='', data_address=None,
                        secrets=None, required_secrets=None, url_safe_secrets=None):
    """Every problem with a deploy's own inputs, each naming the variable and the fix ([] when there are none).

    One list, so one check reports all of them before anything changes.
    """
    errors = []
    image_keys = list(image_keys or [])
    required_secrets, url_safe_secrets = list(required_secrets or []), list(url_safe_secrets or [])
    if not isinstance(version, str) or not _LABEL_RE.match(version):
        errors.append('compose_deploy_version must be a label like v2 or 1.4.0 (letters, digits, . _ -); got %r. '
                      'Set it (aishield_version in the inventory or -e).' % (version,))
    if not isinstance(images, dict):
        errors.append('compose_deploy_images must map each image key (%s) to an image reference (aishield_images); got %r.'
                      % (', '.join(image_keys), images))
    for key in image_keys if isinstance(images, dict) else []:
        if key not in images:
            errors.append('compose_deploy_images.%s is missing; set one image reference per service (%s), '
                          'e.g. registry.example.com/aishield/%s:v2.' % (key, ', '.join(image_keys), key))
            continue
        try:
            parse_image_ref(images[key])
        except ImageRefError as exc:
            errors.append('compose_deploy_images.%s: %s.' % (key, exc))
    if not services:
        errors.append('This host runs no service of the stack: check compose_deploy_services and compose_deploy_fleet_role.')
    elif database and database not in services and not data_address:
        errors.append('This host does not run the database service %s (compose_deploy_services: %s), so it needs '
                      'compose_deploy_data_address, the address of the host that does.' % (database, ', '.join(services)))
    secrets = secrets if isinstance(secrets, dict) else {}
    for name in required_secrets:
        if name not in secrets or secrets[name] is None or str(secrets[name]) == '':
            errors.append('compose_deploy_secrets.%s is missing or empty; put it in a vaulted group_vars file '
                          '(ansible-vault encrypt_string).' % name)
    for name in url_safe_secrets:
        if secrets.get(name) not in (None, '') and not _URL_SAFE_RE.match(str(secrets[name])):
            errors.append('compose_deploy_secrets.%s may only hold letters, digits and . _ ~ - because the stack puts '
                          'it into a URL (its url_safe_secrets); generate one with ansible.builtin.password '
                          'chars=ascii_letters,digits.' % name)
    return errors


def release_whole_stack(records):
    """One record for the whole stack from the release records read on each host.

    A single host's record already covers the whole stack. On a fleet each host records its part (`role` db or
    app): the result is the app host's record that ran against the db host's release (else the first app
    record), with the images the db host pinned (each host pins the services it runs) and the db host's Alembic
    block, so a drill can rebuild the stack on one host.
    """
    if not isinstance(records, (list, tuple)):
        raise AnsibleFilterError('release_whole_stack expects a list of release records, got %s' % type(records).__name__)
    records = [r for r in records if isinstance(r, dict) and r]
    if not records:
        return {}
    db = next((r for r in records if r.get('role') == 'db'), None)
    apps = [r for r in records if r.get('role') == 'app']
    if not apps:
        return dict(records[0])
    app = next((r for r in apps if db and r.get('db_release') == db.get('release_id')), apps[0])
    merged = dict(app)
    if db:
        # Each host pins the images of the services it runs and records the others as given: keep the pinned one.
        app_images, db_images = app.get('images') or {}, db.get('images') or {}
        merged['images'] = dict((name, app_images[name] if '@' in str(app_images.get(name, '')) or name not in db_images
                                 else db_images[name]) for name in sorted(set(app_images) | set(db_images)))
        if db.get('alembic'):
            merged['alembic'] = db['alembic']
    return merged


# The phases in which the running release was touched: a failure there may need a rollback, one before them did not.
SWITCHED_PHASES = ('switch', 'smoke')


def _failure(failure):
    if not isinstance(failure, dict):
        raise AnsibleFilterError('a deploy failure must be a dict with phase, task and message; got %r' % (failure,))
    return (str(failure.get('phase') or 'preflight'), str(failure.get('task') or '?'),
            str(failure.get('message') or 'see the task output above').strip())


def _sentence(text):
    """The text ending in one full stop (a module's message often has its own)."""
    return text if text.endswith(('.', '!', '?')) else text + '.'


def deploy_failure_notice(failure):
    """What the status page and chat are told when a deploy fails, before any rollback.

    Before the switch the previous release never stopped serving: the message says so, and the incident and the
    component are closed at once. From the switch on, the rollback (or a human) closes them.
    """
    phase, task, _message = _failure(failure)
    switched = phase in SWITCHED_PHASES
    message = "Failed in phase %s at '%s'." % (phase, task)
    return {
        'message': message if switched else message + ' Nothing was switched: the previous release keeps serving.',
        'statuspage_statuses': {} if switched else {'deploy_failed': 'resolved'},
        'component_status': {} if switched else {'deploy_failed': 'operational'},
    }


def deploy_failure_text(failure, version, fleet_role='', host='', rollback=None, rollback_failed=None,
                        smoke_summary=None):
    """The failure as the operator reads it last: what failed, what serves now, what to do.

    A fleet's app host stays drained and the fleet decides; a fleet's db host changed no app host; a single host
    says whether it was switched, and how its automatic rollback ended (failed: act now; done: to which release).
    """
    phase, task, message = _failure(failure)
    if fleet_role == 'app':
        return ("%s failed at '%s': %s It stays drained at the load balancer; app hosts not yet reached keep the "
                "previous release. Fix the cause and run the same command again: hosts already on the release change "
                "nothing." % (host, task, _sentence(message)))
    if fleet_role == 'db':
        return ("The db host failed at '%s': %s No app host was changed: they keep serving the previous release."
                % (task, _sentence(message)))
    parts = ["Deploy of %s failed in phase %s at '%s': %s" % (version, phase, task, _sentence(message))]
    if phase not in SWITCHED_PHASES:
        parts.append('Nothing was switched: the previous release keeps serving.')
    rollback = rollback if isinstance(rollback, dict) else {}
    if rollback_failed:
        parts.append('AUTOMATIC ROLLBACK FAILED: %s Act now: ansible-playbook aishield.ops.rollback (see the runbook).'
                     % _sentence(str(rollback_failed).strip()))
    elif rollback.get('to'):
        parts.append('Rolled back automatically to %s (%s); smoke: %s.'
                     % (rollback['to'], rollback.get('version', '?'), smoke_summary or '?'))
    return ' '.join(parts)


def release_update(record, alembic=None, backup=None, smoke=None):
    """What the deploy's phases found, for release.json: a phase that did not run adds nothing; the role's
    compose_deploy_record (the fleet's part, for one) comes last and wins."""
    update = {}
    if isinstance(alembic, dict) and 'heads' in alembic:
        update['alembic'] = alembic
    if isinstance(backup, dict) and ('key' in backup or 'reason' in backup):
        update['backup'] = backup
    if isinstance(smoke, dict) and 'summary' in smoke:
        update['smoke'] = smoke
    if record:
        if not isinstance(record, dict):
            raise AnsibleFilterError('compose_deploy_record must be a dict of fields for release.json; got %r' % (record,))
        update.update(record)
    return update


class FilterModule:
    """Release ids, and what a deploy records and says."""

    def filters(self):
        return {
            'release_id': release_id,
            'release_id_parse': release_id_parse,
            'phase_durations': phase_durations,
            'deploy_input_errors': deploy_input_errors,
            'release_whole_stack': release_whole_stack,
            'deploy_failure_notice': deploy_failure_notice,
            'deploy_failure_text': deploy_failure_text,
            'release_update': release_update,
        }
