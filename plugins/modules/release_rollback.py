#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_rollback
short_description: Roll a Compose stack back to a recorded release, gated on the database's schema
version_added: 0.2.0
description:
  - Reads every C(release.json), chooses the release to return to (O(to), or the newest good release before the one rolled
    away from), reads the database's Alembic revision and decides whether the target's code runs on it (every migration
    between must be declared backward compatible in the recorded migration chain).
  - O(mode=quick) (code only) switches to the target with the same switch as a deploy (M(aishield.ops.release_switch)),
    marks the release rolled away from C(rolled_back) and appends the C(audit.log) line, all in one call. It is refused,
    changing nothing, when the schema does not allow it.
  - O(mode=full) puts the database back too. The first call, with O(plan_only=true), returns the plan (the backup to
    restore, or the downgrade target) after the same checks; the caller restores (M(aishield.ops.pg_restore)) or
    downgrades; the second call, with O(database_done=true), switches and records.
  - The database's revision is read with C(psql) inside the database container (local socket), so no password is needed.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - aishield.ops.release
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Chooses, checks and returns the plan; switches nothing.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: partial
    details:
      - A second quick rollback moves further back (to the good release before the target); name O(to) to repeat one.
  platform:
    platforms: posix
options:
  mode:
    description: V(quick) rolls the code back; V(full) the code and the database.
    type: str
    choices: [quick, full]
    default: quick
  database:
    description: How a full rollback puts the database back - restore the backup the release rolled away from took before its
      migration, or C(alembic downgrade) with its scripts.
    type: str
    choices: [restore, downgrade]
    default: restore
  to:
    description: The release id to return to; empty means the newest good release before O(from_release).
    type: str
    default: ''
  from_release:
    description: The release rolled away from; empty means C(current). A deploy's automatic rollback names the release that
      failed, which C(current) may not point at yet.
    type: str
    default: ''
  plan_only:
    description: Return the plan and change nothing (a full rollback's first call).
    type: bool
    default: false
  database_done:
    description: A full rollback's database step is done; switch and record.
    type: bool
    default: false
  data_loss:
    description: With O(database_done), the plan's RV(data_loss) text, for the record.
    type: str
    default: ''
  db_service:
    description:
      - The Compose service of the database.
      - This and the service options below are the fallback for a target recorded without C(stack) (before 0.3.0); a
        target's recorded C(stack) (M(aishield.ops.release_prepare)) wins, so a rollback needs no inventory.
      - Empty, or a recorded stack without a database service, means no database, so no schema is checked or put back.
    type: str
    default: ''
  db_revision:
    description:
      - The database's current Alembic revision, read where the database runs, for a host that does not run it (a fleet's
        app host; the database is on the db host). Given, no container on this host is asked.
    type: list
    elements: str
  db_user:
    description: The database role, for C(psql) in the database container (with O(db_service)).
    type: str
    default: ''
  db_name:
    description: The database (with O(db_service)).
    type: str
    default: ''
  strategy:
    description: How to switch, as for a deploy.
    type: str
    choices: [rolling, recreate]
    default: rolling
  services:
    description: The services this host runs.
    type: list
    elements: str
    required: true
  roll:
    description: Services behind a proxy, replaced start-first (see M(aishield.ops.release_switch)).
    type: list
    elements: str
    default: []
  workers:
    description: Workers, replaced start-first and stopped warm.
    type: list
    elements: str
    default: []
  data_services:
    description: Services that hold data.
    type: list
    elements: str
    default: []
  all_services:
    description: Whether this host runs the whole stack.
    type: bool
    default: true
  wait_timeout:
    description: Seconds a new container may take to become healthy.
    type: int
    default: 180
  drain_delay:
    description: Seconds between a new container turning healthy and the old one's stop.
    type: float
    default: 1.0
  reason:
    description: Why, recorded in C(audit.log).
    type: str
    default: manual rollback
  by:
    description: Who rolls back, for C(audit.log).
    type: str
    default: ''
seealso:
  - module: aishield.ops.release_switch
  - module: aishield.ops.pg_restore
"""

EXAMPLES = r"""
- name: Quick rollback to the last good release
  aishield.ops.release_rollback:
    root: /opt/aishield
    project: aishield
    services: [db, redis, backend, worker, frontend, proxy]
    roll: [backend]
    workers: [worker]
    data_services: [db, redis]
  register: rollback_result
"""

RETURN = r"""
stack:
  description:
    - How the target is switched on this host, from its record (C(recorded=true)) or the options - C(services), C(roll),
      C(workers), C(data_services), C(db_service), C(db_user), C(db_name), and C(migrate_service), the service whose
      image runs a downgrade. A full rollback's database step reads it.
  returned: when a target was chosen
  type: dict
  sample: {recorded: true, services: [pg, api, jobs, edge], roll: [api], workers: [jobs], data_services: [pg],
           db_service: pg, db_user: notes, db_name: notes, migrate_service: api}
from:
  description: The release rolled away from.
  returned: success
  type: str
to:
  description: The release returned to.
  returned: success
  type: str
version:
  description: The target's version.
  returned: success
  type: str
revision:
  description: Where the database is (quick - unchanged; full - the target's schema).
  returned: success
  type: list
  elements: str
schema:
  description: The schema check (compatible, same, between, incompatible, reason).
  returned: success
  type: dict
backup:
  description: The backup a full rollback restores (bucket, key, sha256, location, timestamp).
  returned: when O(mode=full)
  type: dict
data_loss:
  description: What a full rollback loses, in words.
  returned: success
  type: str
db:
  description: What happened to the database (V(unchanged), V(restore), V(downgrade)).
  returned: success
  type: str
"""

import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils import _release as rel
from ansible_collections.aishield.ops.plugins.module_utils._alembic import rollback_check
from ansible_collections.aishield.ops.plugins.module_utils._compose import (
    SERVICE_RE, SwitchFailed, switch_argument_spec, switch_release,
)


def read_revision(container, user, db):
    """alembic_version through psql in the database container: (revisions, error)."""
    proc = subprocess.run(['docker', 'exec', container, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db,
                           '-c', "SELECT version_num FROM alembic_version WHERE to_regclass('alembic_version') IS NOT NULL"],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        if 'alembic_version' in proc.stderr and 'does not exist' in proc.stderr:
            return [], ''
        return None, (proc.stderr or proc.stdout).strip()[-300:]
    return sorted(line.strip() for line in proc.stdout.splitlines() if line.strip()), ''


def loss_text(mode, database, schema, source, restore_schema_between):
    if mode == 'quick':
        return 'none: the database was not touched'
    if schema['same']:
        return 'none: the database was already at the target revision'
    if database == 'restore':
        backup = source.get('backup') or {}
        return 'every write after %s (the backup %s) is lost' % (backup.get('timestamp', '?'), backup.get('key', '?'))
    return 'data in what the downgrade of %s dropped (columns, tables) is lost' % ', '.join(restore_schema_between)


class Rollback:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.root = rel.Root(self.p['root'])
        self.result = {'changed': False, 'started': time.time()}

    def fail(self, msg):
        # The failure's msg replaces a msg the result already had.
        self.module.fail_json(**dict(self.result, msg=msg))

    def choose(self):
        p = self.p
        for name in ('to', 'from_release'):
            if p[name]:
                try:
                    rel.check_release_id(p[name], name)
                except rel.ReleaseError as exc:
                    self.fail('%s (ls %s). Nothing was changed.' % (exc, self.root.releases))
        records = rel.read_records(self.root)
        try:
            source, target = rel.choose_rollback(records, rel.current_id(self.root), p['from_release'], p['to'])
        except rel.ReleaseError as exc:
            self.fail('%s Nothing was changed.' % exc)
        return records, source, target

    def revision(self):
        p = self.p
        if not p['db_service']:
            return []  # a stack without a database: no schema to check or put back
        if p['db_revision'] is not None:
            return sorted(p['db_revision'])  # read on the host the database runs on
        if not SERVICE_RE.match(p['db_service']) or not rel.valid_name(p['db_user']) or not rel.valid_name(p['db_name']):
            self.fail('db_service, db_user and db_name must be plain names; got %r, %r, %r'
                      % (p['db_service'], p['db_user'], p['db_name']))
        container = '%s-%s-1' % (p['project'], p['db_service'])
        revision, error = read_revision(container, p['db_user'], p['db_name'])
        if revision is None:
            self.fail('Cannot read the database revision in container %s: %s. Start the database first '
                      '(docker compose -p %s up -d %s in %s/current). Nothing was changed.'
                      % (container, error, p['project'], p['db_service'], self.root.path))
        return revision

    def use_recorded_stack(self, target):
        """The target's recorded stack (how it was switched on this host) over the options, which are the fallback."""
        stack = target.get('stack') or {}
        p = self.p
        for key in ('services', 'roll', 'workers', 'data_services', 'all_services'):
            if stack.get(key) is not None:
                p[key] = stack[key]
        database = stack.get('database') or {}
        for key, option in (('service', 'db_service'), ('user', 'db_user'), ('name', 'db_name')):
            if database.get(key):
                p[option] = database[key]
        if stack and not database:
            p['db_service'] = ''  # recorded without a database service
        migrate = (stack.get('migrate') or {}).get('service') or (p['roll'][0] if p['roll'] else '')
        self.result['stack'] = {'recorded': bool(stack), 'services': p['services'], 'roll': p['roll'], 'workers': p['workers'],
                                'data_services': p['data_services'], 'db_service': p['db_service'], 'db_user': p['db_user'],
                                'db_name': p['db_name'], 'migrate_service': migrate}

    def run(self):
        p = self.p
        records, source, target = self.choose()
        self.use_recorded_stack(target)
        revision = self.revision()
        chain = rel.migration_chain(source, records)
        expected = (target.get('alembic') or {}).get('after') or []
        schema = rollback_check(chain, revision, expected)
        self.result.update({'from': source['release_id'], 'to': target['release_id'], 'version': target.get('version'),
                            'mode': p['mode'], 'schema': schema, 'revision': revision, 'reason': p['reason']})
        if p['mode'] == 'quick' and not schema['compatible']:
            self.fail(
                'Quick rollback to %s refused: the database is at %s and %s expects %s; %s. Its code may fail on this '
                'schema. Nothing was changed. A full rollback puts the database back too: ansible-playbook '
                'aishield.ops.rollback -e aishield_rollback_mode=full (restores the backup taken at the target\'s schema; '
                'writes after it are lost) or add -e aishield_rollback_db=downgrade (runs the downgrade scripts instead).'
                % (target['release_id'], ','.join(revision) or 'no revision', target.get('version'),
                   ','.join(expected) or 'an unrecorded revision', schema['reason']))
        between = []
        if p['mode'] == 'full' and not p['database_done']:
            between = self.check_full(chain, source, target, schema)
        self.result['data_loss'] = p['data_loss'] if p['database_done'] else loss_text(
            p['mode'], p['database'], schema, source, between)
        if p['mode'] == 'full':
            self.result['backup'] = source.get('backup') or {}
            self.result['db'] = 'unchanged' if schema['same'] and not p['database_done'] else p['database']
            self.result['downgrade_to'] = expected
        else:
            self.result['db'] = 'unchanged'
        if p['plan_only'] or self.module.check_mode or (p['mode'] == 'full' and not p['database_done'] and not schema['same']):
            self.result['msg'] = '%s rollback from %s (%s) to %s (%s): %s.' % (
                p['mode'].capitalize(), source['release_id'], source.get('version'), target['release_id'],
                target.get('version'), schema['reason'])
            self.module.exit_json(**self.result)
        self.switch(source, target)

    def check_full(self, chain, source, target, schema):
        """What a full rollback's database step will do, refused when it cannot give the target its schema."""
        if schema['same']:
            return []
        expected = (target.get('alembic') or {}).get('after') or []
        if self.p['database'] == 'downgrade':
            return rollback_check(chain, (source.get('alembic') or {}).get('after') or [], expected)['between']
        backup = source.get('backup') or {}
        before = (source.get('alembic') or {}).get('before') or []
        restored = rollback_check(chain, before, expected)
        if not backup.get('key') or not restored['compatible']:
            why = ('Release %s recorded no backup (deployed with aishield_backup_skip=true?). ' % source['release_id']
                   if not backup.get('key') else
                   'Its backup holds schema %s, and %s expects %s: %s. ' % (
                       ','.join(before) or 'unrecorded', target.get('version'), ','.join(expected) or 'unrecorded',
                       restored['reason']))
            self.fail('%sNothing was changed. Use -e aishield_rollback_db=downgrade, pick the release before %s as the '
                      'target, or restore a named backup with playbooks/restore.yml.' % (why, source['release_id']))
        return restored['between']

    def switch(self, source, target):
        params = dict((k, self.p[k]) for k in switch_argument_spec() if k in self.p)
        params.update(release_id=target['release_id'], reason='rollback')
        try:
            switched = switch_release(params, False)
        except SwitchFailed as exc:
            self.result.update(exc.result)
            self.fail(str(exc))
        now = rel.iso(rel.utc_now())
        if source.get('status') == 'good':
            source.update(status='rolled_back', rolled_back_at=now, rolled_back_to=target['release_id'])
            rel.write_json(self.root.record_path(source['release_id']), source)
        entry = dict((k, self.result[k]) for k in ('from', 'to', 'version', 'mode', 'db', 'revision', 'data_loss', 'reason'))
        entry.update(time=now, by=self.p['by'], action='rollback',
                     backup=(self.result.get('backup') or {}).get('key') if self.p['mode'] == 'full' else None)
        rel.append_audit(self.root, entry)
        self.result.update(changed=True, events=switched['events'], plan=switched['plan'], finished=time.time(),
                           msg='Rolled back from %s to %s (%s).' % (source['release_id'], target['release_id'],
                                                                    target.get('version')))
        self.module.exit_json(**self.result)


def main():
    spec = switch_argument_spec()
    del spec['release_id']
    spec.update(
        mode=dict(type='str', choices=['quick', 'full'], default='quick'),
        database=dict(type='str', choices=['restore', 'downgrade'], default='restore'),
        to=dict(type='str', default=''),
        from_release=dict(type='str', default=''),
        plan_only=dict(type='bool', default=False),
        database_done=dict(type='bool', default=False),
        data_loss=dict(type='str', default=''),
        db_service=dict(type='str', default=''),
        db_revision=dict(type='list', elements='str'),
        db_user=dict(type='str', default=''),
        db_name=dict(type='str', default=''),
    )
    spec['reason']['default'] = 'manual rollback'
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    Rollback(module).run()


if __name__ == '__main__':
    main()
