# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The release record and the deploy lock: the files under a deploy root.

    <root>/releases/<release id>/   compose files, .env (0600), env.masked, release.json
    <root>/current -> releases/<id>  switched atomically
    <root>/deploy.lock               O_EXCL: held by one run at a time
    <root>/audit.log                 one JSON line per action

Everything here is plain functions over paths and dicts, so the decisions (which release is
new, which one a rollback returns to, what pruning removes, whose lock may be broken) are
unit-tested without Ansible.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import re
import shutil
import stat

RELEASE_ID_RE = re.compile(r'^\d{8}T\d{6}Z-[A-Za-z0-9._-]+$')
_VERSION_RE = re.compile(r'^[A-Za-z0-9._-]+$')
# Leaves room for the 17-character stamp prefix inside a 255-byte directory name.
_VERSION_MAX = 200
STAMP_FORMAT = '%Y%m%dT%H%M%SZ'
# Database and role names passed to psql as argv: no quotes, no leading dash, no "=".
_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.$-]{0,62}$')


class ReleaseError(Exception):
    """A release, record or lock problem, worded for the operator."""


# --- identifiers and time -------------------------------------------------------------------

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def check_version(version):
    """The version label cleaned up, or ReleaseError saying what is wrong with it."""
    if isinstance(version, bool) or not isinstance(version, (str, int)):
        raise ReleaseError('version %r has type %s; expected a label like "v2" or "1.4.2"' % (version, type(version).__name__))
    clean = str(version).strip()
    if not clean:
        raise ReleaseError('version is empty; expected a label like "v2" or "1.4.2"')
    if not _VERSION_RE.match(clean) or clean in ('.', '..'):
        raise ReleaseError('version %r must be a label of letters, digits, ".", "_" and "-" (e.g. v2 or 1.4.0)' % clean)
    if len(clean) > _VERSION_MAX:
        raise ReleaseError('version %r... is %d characters; at most %d are allowed' % (clean[:40], len(clean), _VERSION_MAX))
    return clean


def release_id(version, moment):
    return '%s-%s' % (moment.strftime(STAMP_FORMAT), check_version(version))


def valid_name(name):
    return bool(name) and bool(_NAME_RE.match(name))


def check_release_id(value, what='release id'):
    if not isinstance(value, str) or not RELEASE_ID_RE.match(value):
        raise ReleaseError('%s %r is not a release id like 20250131T235959Z-v2' % (what, value))
    return value


# --- files ------------------------------------------------------------------------------------

class Root:
    """Paths of one deploy root."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.releases = os.path.join(self.path, 'releases')
        self.current = os.path.join(self.path, 'current')
        self.lock = os.path.join(self.path, 'deploy.lock')
        self.audit = os.path.join(self.path, 'audit.log')

    def release_dir(self, rid):
        return os.path.join(self.releases, check_release_id(rid))

    def record_path(self, rid):
        return os.path.join(self.release_dir(rid), 'release.json')

    def ensure(self):
        for path in (self.path, self.releases):
            os.makedirs(path, mode=0o750, exist_ok=True)


def parse_mode(value, what):
    """An octal mode from '0640', '640' or 0o640; ValueError naming the option otherwise."""
    text = str(value).strip()
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif re.match(r'^0?[0-7]{3,4}$', text):
        mode = int(text, 8)
    else:
        raise ValueError('%s must be an octal mode such as 0640 (got %r)' % (what, value))
    if mode > 0o7777:
        raise ValueError('%s must be an octal mode such as 0640 (got %r)' % (what, value))
    return mode


# What a fleet record (fleet.json) may change without the file being rewritten: when and by whom it was made.
FLEET_RECORD_VOLATILE = ('time', 'by')


def same_fleet_record(found, record):
    """Whether a fleet record found on disk differs from a new one only in FLEET_RECORD_VOLATILE."""
    def steady(data):
        return dict((key, value) for key, value in data.items() if key not in FLEET_RECORD_VOLATILE)
    return isinstance(found, dict) and isinstance(record, dict) and steady(found) == steady(record)


def write_atomic(path, text, mode=0o640, owner=None):
    """Write text through a temporary file and rename: readers see the old or the new file, never half.
    With owner (a uid), the file is that user's before it takes the path's place."""
    tmp = '%s.tmp-%d' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if owner is not None:
            os.chown(tmp, owner, -1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def file_state(path):
    """(bytes, mode, uid) of the file at path, or (None, None, None) when there is none; a directory raises
    IsADirectoryError. What the file-writing modules compare against before they write."""
    try:
        with open(path, 'rb') as handle:
            info = os.fstat(handle.fileno())
            return handle.read(), stat.S_IMODE(info.st_mode), info.st_uid
    except FileNotFoundError:
        return None, None, None


def write_json(path, data, mode=0o640):
    write_atomic(path, json.dumps(data, indent=2) + '\n', mode)


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def current_id(root):
    """The release id `current` points at, or ''."""
    if not os.path.islink(root.current):
        return ''
    return os.path.basename(os.path.realpath(root.current))


def current_record(root):
    """The record `current` points at, or {}."""
    rid = current_id(root)
    if not rid:
        return {}
    try:
        return read_json(os.path.join(root.releases, rid, 'release.json'))
    except (OSError, ValueError):
        return {}


def read_records(root):
    """Every readable release.json under releases/, sorted by release id (time order)."""
    records = []
    for path in sorted(glob.glob(os.path.join(root.releases, '*', 'release.json'))):
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get('release_id') == os.path.basename(os.path.dirname(path)):
            records.append(record)
    return records


def switch_current(root, rid):
    """Point current at releases/<rid> with one rename (never a moment without a current)."""
    check_release_id(rid)
    tmp = '%s.tmp-%d' % (root.current, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join('releases', rid), tmp)
    os.replace(tmp, root.current)


def append_audit(root, entry):
    """One JSON line in audit.log; O_APPEND keeps concurrent writers' lines whole."""
    fd = os.open(root.audit, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, 'a') as handle:
        handle.write(json.dumps(entry, sort_keys=True) + '\n')


# --- the lock -------------------------------------------------------------------------------------

def read_lock(root):
    """The holder's record, {} when there is no lock; an unreadable lock is still a lock."""
    try:
        with open(root.lock) as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else {'holder': '?', 'raw': text[:200]}
    except ValueError:
        return {'holder': '?', 'raw': text[:200]}


def take_lock(root, holder):
    """Create deploy.lock with O_EXCL; return {} when taken, else the current holder's record."""
    root.ensure()
    try:
        fd = os.open(root.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return read_lock(root) or {'holder': '?'}
    with os.fdopen(fd, 'w') as handle:
        handle.write(json.dumps(holder, sort_keys=True) + '\n')
    return {}


def replace_lock(root, holder):
    write_json(root.lock, holder)


def release_lock(root, token):
    """Remove deploy.lock only when this run holds it (same token); return whether it was removed."""
    held = read_lock(root)
    if held and token and held.get('token') == token:
        os.unlink(root.lock)
        return True
    return False


def holder_state(holder, controller):
    """running / gone / unknown: only a holder on this controller can be checked, by its pid."""
    who = str(holder.get('holder', ''))
    pid = str(holder.get('pid', ''))
    host = (controller or {}).get('host')
    if not host or who.rsplit('@', 1)[-1] != host or not pid.isdigit():
        return 'unknown'
    alive = set(str(p) for p in (controller or {}).get('pids') or [])
    return 'running' if pid in alive else 'gone'


def public_holder(holder):
    """The lock record without its token (the token lets only its run unlock)."""
    return dict((k, v) for k, v in holder.items() if k != 'token')


def lock_refusal(root, holder, state, break_hint=True):
    """The message that refuses a run while another holds the lock."""
    head = 'Another deploy holds %s: %s deploying %s since %s (pid %s).' % (
        root.lock, holder.get('holder', '?'), holder.get('version', '?'), holder.get('time', '?'), holder.get('pid', '?'))
    if state == 'gone':
        tail = ('That process is gone: the lock is STALE (its run was killed or crashed). Break it with '
                '-e aishield_lock_break=true (recorded in audit.log).')
    elif state == 'running':
        tail = 'That process still runs on this controller: wait for it to finish.'
        if break_hint:
            tail += (' Breaking a live run\'s lock needs -e aishield_lock_break=true and '
                     '-e aishield_lock_break_live=true (only if that process is stuck).')
    else:
        tail = 'Wait for it, or if it is stale rerun with -e aishield_lock_break=true (recorded in audit.log).'
    return head + ' ' + tail


def may_break(state, lock_break, lock_break_live):
    """A stale or unverifiable lock breaks with lock_break; a live holder's needs lock_break_live too."""
    if not lock_break:
        return False
    return state != 'running' or bool(lock_break_live)


# --- interrupted runs and pruning --------------------------------------------------------------

def recover_pending(root, found_by, now):
    """Mark releases a killed run left `pending` as failed (phase interrupted); return their ids."""
    cur = current_id(root)
    recovered = []
    for record in read_records(root):
        if record.get('status') != 'pending':
            continue
        rid = record['release_id']
        where = 'current pointed at it' if rid == cur else 'current still pointed at the release before it'
        record.update(status='failed', finished_at=iso(now), failure={
            'phase': 'interrupted', 'task': '?',
            'message': 'the run that deployed it stopped before finishing (interrupted or killed); %s. Found by %s.'
                       % (where, found_by)})
        write_json(root.record_path(rid), record)
        recovered.append(rid)
    return recovered


def releases_to_prune(release_ids, keep, protect):
    """What goes so that `keep` releases remain: the protected ones (current, the rollback target) always
    stay and count towards `keep`; the newest of the others fill the rest."""
    protected = set(p for p in protect if p) & set(release_ids)
    room = max(int(keep) - len(protected), 0)
    others = [rid for rid in sorted(release_ids, reverse=True) if rid not in protected]
    return others[room:]


def record_of(root, rid):
    """The record of release rid, or {} (no id, no such release, unreadable)."""
    if not rid:
        return {}
    try:
        return read_json(root.record_path(rid))
    except (ReleaseError, OSError, ValueError):
        return {}


def protected_releases(root, record, failed):
    """The releases a prune after recording `record` must keep: current and its rollback target, the
    recorded release and its rollback target. A failed release is recorded before its automatic rollback,
    while it may still be current: that rollback makes its target current, and the target's own rollback
    target is then the one a person reaches for next (the soak's manual rollback to v1 after a failed v3),
    so it stays too."""
    current = current_record(root)
    protect = [current.get('release_id'), current.get('previous_release'),
               record.get('release_id'), record.get('previous_release')]
    if failed:
        protect.append(record_of(root, record.get('previous_release')).get('previous_release'))
    return [rid for rid in protect if rid]


def prune(root, keep, protect):
    names = [n for n in os.listdir(root.releases) if RELEASE_ID_RE.match(n)] if os.path.isdir(root.releases) else []
    removed = releases_to_prune(names, keep, protect)
    for rid in removed:
        shutil.rmtree(os.path.join(root.releases, rid), ignore_errors=True)
    return removed


# --- rollback -------------------------------------------------------------------------------------

def choose_rollback(records, current, from_release='', to=''):
    """(from record, target record) for a rollback, or ReleaseError saying why none is possible.

    `from` is the named release or current; the target is the named one or the newest good
    release older than `from`. Only a release that was good can be a target.
    """
    by_id = dict((r['release_id'], r) for r in records)
    known = ', '.join(sorted(by_id)) or 'none'
    from_id = from_release or current
    source = by_id.get(from_id)
    if source is None:
        if from_release:
            raise ReleaseError('No release %s under the releases directory: nothing to roll back from. Known: %s.'
                               % (from_release, known))
        raise ReleaseError('No current release (current/release.json): nothing to roll back from. Known: %s.' % known)
    if to:
        target = by_id.get(to)
        if target is None:
            raise ReleaseError('No release %s under the releases directory. Known: %s.' % (to, known))
    else:
        older = [r for r in records if r['release_id'] < from_id and r.get('status') == 'good']
        if not older:
            raise ReleaseError('No good release before %s to roll back to (kept: %s).' % (from_id, known))
        target = older[-1]
    if target['release_id'] == source['release_id']:
        raise ReleaseError('%s is already the current release.' % target['release_id'])
    if target.get('status') not in ('good', 'rolled_back'):
        raise ReleaseError('%s has status %s; only a release that was good can be a target.'
                           % (target['release_id'], target.get('status')))
    return source, target


def migration_chain(source, records):
    """The newest recorded migration chain: it knows every revision the older releases know."""
    for record in [source] + list(reversed(records)):
        chain = ((record or {}).get('alembic') or {}).get('chain')
        if chain:
            return chain
    return []


def release_argument_spec():
    """Options every release module shares (doc fragment aishield.ops.release)."""
    return dict(
        root=dict(type='path', required=True),
        project=dict(type='str', required=True),
        docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
    )
