#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_prepare
short_description: Prepare a release of a Compose stack in one call - lock, pull and pin, render, plan, record
version_added: 0.2.0
description:
  - The C(prepare) phase of a deploy, on the managed host, in one module run
    - takes C(deploy.lock) (created with O_EXCL; a stale lock is broken only when asked, and a live holder's only with a
      second override);
    - marks releases that a killed run left C(pending) as C(failed) (phase C(interrupted));
    - pulls every image side by side through the Docker daemon, with the registry credentials given (they travel in one
      request header and are never written to disk), and pins each reference to its digest;
    - renders the compose files and the C(.env) (mode 0600, values quoted so that any text survives Compose's parsing);
    - decides whether the release is new (the rendered files differ from the current good release's);
    - plans which services a switch recreates (Compose's rule, the config hash label);
    - writes C(releases/<id>/) with C(release.json) (status C(pending)) and an C(audit.log) line;
    - starts the data services that changed, so the backup and the migration can reach them.
  - Under its action plugin the module runs as an async job, and while the images are pulled a line is printed
    every O(progress_interval) seconds - bytes downloaded of the layer bytes known so far, time and rate, summed over the
    side-by-side pulls from the daemon's streamed pull events.
  - An unchanged release changes nothing and reports RV(is_new=false); the lock stays held for the run (see
    M(aishield.ops.release_record) and M(aishield.ops.release_lock)).
  - Why not M(community.docker.docker_compose_v2)? It brings a project up; it has no release directories, no lock, no
    digest pinning with a record, and no plan a check-mode run can show. This module keeps those steps in one call (each
    module run costs about half a second before it starts).
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - aishield.ops.release
  - aishield.ops.progress
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Takes no lock and pulls nothing; each image's digest is asked from its registry through the daemon. The files are
        rendered in memory (and for the plan in a temporary directory that is removed), and the plan and the diff are
        returned.
  diff_mode:
    support: full
    details:
      - The diff is against the release C(current) points at, the one serving, with secret values masked.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - A second run with the same inputs finds the release unchanged and reports no change.
  platform:
    platforms: posix
options:
  version:
    description: The release's version label (letters, digits, C(.), C(_), C(-)).
    type: str
    required: true
  images:
    description: One image reference per image key, for example C(backend), C(frontend).
    type: dict
    required: true
  pull:
    description:
      - The image keys this host pulls and pins (a fleet host pulls only what it runs). Default, every key.
      - The other images stay as given in the release.
    type: list
    elements: str
  image_variables:
    description: The C(.env) variable that carries each image key's pinned reference.
    type: dict
    default: {}
  service_images:
    description:
      - Services whose image this module pins through an override file, C(compose.images.yml), written beside the compose
        files and listed last in C(COMPOSE_FILE); each service maps to its image key. The team's compose files are then
        copied unchanged, whatever image they name.
    type: dict
    default: {}
  compose_files:
    description:
      - The compose files of the release, copied into its directory unchanged. The first is C(compose.yml) unless named.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: File name in the release directory.
        type: str
        required: true
      content:
        description: The file's text.
        type: str
        required: true
  env:
    description: Non-secret C(.env) variables, in order.
    type: dict
    default: {}
  secrets:
    description: Secret C(.env) variables. Masked in C(env.masked), in the diff and in every result.
    type: dict
    default: {}
  services:
    description: The services this host runs (the plan covers these).
    type: list
    elements: str
    required: true
  data_services:
    description: Services holding data, started by this module once the release is written (those this host runs).
    type: list
    elements: str
    default: []
  strategy:
    description: The switch strategy, recorded in the release.
    type: str
    default: rolling
  stack:
    description:
      - How this host's part of the stack is switched, recorded in the release as C(stack) so that a rollback to it needs
        no inventory (M(aishield.ops.release_rollback) reads it) - C(services), C(roll), C(workers), C(data_services),
        C(all_services), C(database) (C(service), C(user), C(name)) and C(migrate) (C(service)), as the
        M(aishield.ops.stack_plan) filter plans them.
    type: dict
    default: {}
  lock:
    description:
      - This run as the lock's holder. C(token) lets only this run release the lock.
    type: dict
    required: true
    suboptions:
      holder:
        description: Who deploys, as C(user@controller).
        type: str
        required: true
      pid:
        description: The controller process that holds the lock.
        type: str
        default: ''
      token:
        description: A random token of this run (not a secret, it only lets this run release its own lock).
        type: str
        required: true
  lock_break:
    description: Take over a lock whose holder is gone or cannot be checked (recorded in C(audit.log)).
    type: bool
    default: false
  lock_break_live:
    description: With O(lock_break), also take over the lock of a holder that still runs on this controller.
    type: bool
    default: false
  controller:
    description:
      - The controller's host name and running process ids, so a lock holder on this controller can be told alive or gone.
    type: dict
    default: {}
  registry_username:
    description: User name for the registry the images come from (an ECR token's user is C(AWS)).
    type: str
    default: ''
  registry_password:
    description: Password or token for O(registry_username).
    type: str
    default: ''
  registry:
    description: The registry the credentials are for; empty means every image's registry.
    type: str
    default: ''
  header:
    description: A comment line at the top of C(.env).
    type: str
    default: ''
  wait_timeout:
    description: Seconds the data services may take to become healthy.
    type: int
    default: 180
notes:
  - Requires the Docker Engine API on a unix socket and the C(docker compose) v2 CLI on the managed host.
  - With O(progress_interval) above 0 the task runs as an async job; its arguments (the secrets among them) are in the
    job's private temp directory only while it runs, as for any async task, and C(async_wrapper) removes it.
seealso:
  - module: aishield.ops.release_switch
  - module: aishield.ops.release_record
  - module: community.docker.docker_compose_v2
"""

EXAMPLES = r"""
- name: Prepare the release (lock, pull and pin, render, plan)
  aishield.ops.release_prepare:
    root: /opt/aishield
    project: aishield
    version: v2
    images:
      backend: registry.example.com/aishield/backend:v2
      db: registry.example.com/aishield/postgres:15
    image_variables: {backend: AISHIELD_BACKEND_IMAGE, db: AISHIELD_DB_IMAGE}
    compose_files:
      - name: compose.yml
        content: "{{ lookup('ansible.builtin.file', 'compose.yml') }}"
    secrets: "{{ vault_aishield_secrets }}"
    services: [db, backend]
    data_services: [db]
    lock: {holder: "ops@controller", pid: "4242", token: "{{ lookup('ansible.builtin.password', '/dev/null') }}"}
  register: compose_deploy_release
"""

RETURN = r"""
release_id:
  description: The release's id (a new one, or the current one when nothing changed).
  returned: success
  type: str
  sample: 20261205T101500Z-v2
is_new:
  description: Whether this is a new release (false when the current good release already has these files).
  returned: success
  type: bool
  sample: true
created:
  description: Whether the release directory and its pending record were written by this run.
  returned: always
  type: bool
  sample: true
images:
  description: Image references, pinned to digests for the keys pulled.
  returned: success
  type: dict
  sample: {backend: "registry.example.com/aishield/backend:v2@sha256:0f3c..."}
plan:
  description: The services a switch recreates, and those it keeps.
  returned: success
  type: dict
  sample: {recreate: [backend, worker], keep: [db, frontend, proxy, redis], orphans: []}
previous_release:
  description: The release that was current.
  returned: success
  type: str
  sample: 20261204T090000Z-v1
release_dir:
  description: The release's directory.
  returned: success
  type: str
  sample: /opt/aishield/releases/20261205T101500Z-v2
recovered:
  description: Releases a killed run left pending, now marked failed.
  returned: success
  type: list
  elements: str
  sample: []
msg:
  description: One line for the operator, naming the release and what the switch will recreate.
  returned: always
  type: str
started:
  description: When the module started, seconds since the epoch on the host (for phase timings).
  returned: always
  type: float
pulled_bytes:
  description: Layer bytes the daemon downloaded for this release's pulls (0 when every layer was there already).
  returned: success
  type: int
  sample: 67108864
pull_seconds:
  description: How long pulling (or, in check mode, looking up) the images took.
  returned: success
  type: float
  sample: 2.4
"""

import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils import _release as rel
from ansible_collections.aishield.ops.plugins.module_utils._compose import (
    Compose, ComposeError, checksum, plan, project_containers, render_env, start_services,
)
from ansible_collections.aishield.ops.plugins.module_utils._docker_api import DockerApi, DockerApiError
from ansible_collections.aishield.ops.plugins.module_utils._images import (
    ImageRefError, PullProgress, parse_image_ref, pin_image, pull_images, registry_digests,
)
from ansible_collections.aishield.ops.plugins.module_utils._progress import ProgressFile


PINS_FILE = 'compose.images.yml'


def pins_override(service_images, pinned):
    """The override that sets each service's image to its pinned reference (JSON strings are YAML)."""
    lines = ['# Written by aishield.ops.release_prepare: each service\'s image, pinned by digest for this release.',
             'services:']
    for service, key in sorted(service_images.items()):
        lines += ['  %s:' % json.dumps(service), '    image: %s' % json.dumps(pinned[key])]
    return '\n'.join(lines) + '\n'


class Prepare:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.started = time.time()
        self.root = rel.Root(self.p['root'])
        self.api = DockerApi(self.p['docker_host'])
        self.now = rel.utc_now()
        self.result = {'changed': False, 'created': False, 'started': self.started, 'recovered': []}

    def fail(self, msg):
        self.result['finished'] = time.time()
        # The failure's msg replaces a msg the result already had.
        self.module.fail_json(**dict(self.result, msg=msg))

    # --- inputs ---------------------------------------------------------------------------

    def validate(self):
        p = self.p
        try:
            self.version = rel.check_version(p['version'])
        except rel.ReleaseError as exc:
            self.fail(str(exc))
        problems = []
        for key, ref in sorted((p['images'] or {}).items()):
            try:
                parse_image_ref(ref)
            except ImageRefError as exc:
                problems.append('image %s: %s' % (key, exc))
        self.pull_keys = p['pull'] if p['pull'] is not None else sorted(p['images'])
        missing = sorted(set(k for k in self.pull_keys + list(p['service_images'].values()) if k not in p['images']))
        if missing:
            problems.append('no image given for %s' % ', '.join(missing))
        if not p['compose_files']:
            problems.append('compose_files is empty')
        if p['progress_interval'] < 0:
            problems.append('progress_interval=%d must be 0 (no progress) or a positive number of seconds'
                            % p['progress_interval'])
        if problems:
            self.fail('Bad input, nothing was changed: %s.' % '; '.join(problems))
        self.credentials = {'username': p['registry_username'], 'password': p['registry_password'],
                            'registry': p['registry']}

    # --- steps ----------------------------------------------------------------------------

    def lock(self):
        holder = dict(self.p['lock'], version=self.version, time=rel.iso(self.now))
        held = rel.take_lock(self.root, holder)
        # Not held, or held by this very run (a fleet run takes every host's lock before any host deploys).
        if not held or (holder.get('token') and held.get('token') == holder['token']):
            return
        state = rel.holder_state(held, self.p['controller'])
        if not rel.may_break(state, self.p['lock_break'], self.p['lock_break_live']):
            self.fail(rel.lock_refusal(self.root, held, state))
        rel.append_audit(self.root, self.audit_entry(action='lock_broken', previous=rel.public_holder(held),
                                                     holder_state=state))
        rel.replace_lock(self.root, holder)

    def audit_entry(self, **fields):
        entry = {'time': rel.iso(rel.utc_now()), 'by': self.p['lock']['holder'], 'version': self.version}
        entry.update(fields)
        return entry

    def recover(self):
        recovered = rel.recover_pending(self.root, 'the run deploying %s' % self.version, self.now)
        if recovered:
            rel.append_audit(self.root, self.audit_entry(action='recover', interrupted=recovered))
        self.result['recovered'] = recovered

    def pin(self):
        refs = dict((key, self.p['images'][key]) for key in self.pull_keys)
        started = time.monotonic()
        if self.module.check_mode:
            found = registry_digests(self.api, refs.values(), self.credentials)
            pulled_bytes = 0
        else:
            progress_file = ProgressFile(self.p['progress_file'])
            progress = PullProgress(lambda done, total: progress_file.update(done, phase='pull', total=total))
            found = pull_images(self.api, refs.values(), self.credentials, progress=progress)
            pulled_bytes = progress.totals()[0]
        self.result.update(pulled_bytes=pulled_bytes, pull_seconds=round(time.monotonic() - started, 3))
        failed = ['%s (%s)' % (ref, found[ref]['error']) for ref in sorted(set(refs.values())) if 'error' in found[ref]]
        if failed:
            self.fail('Could not %s %s. Check compose_deploy_images (aishield_images), the registry and its login. '
                      'Nothing was switched.' % ('look up' if self.module.check_mode else 'pull', '; '.join(failed)))
        pinned = dict(self.p['images'])
        for key, ref in refs.items():
            pinned[key] = pin_image(ref, found[ref]['digest'])
        self.result['pulled'] = sorted(k for k, ref in refs.items() if found[ref].get('changed'))
        return pinned

    def render(self, pinned):
        files = [(f['name'], f['content']) for f in self.p['compose_files']]
        env = [(var, pinned[key]) for key, var in sorted(self.p['image_variables'].items()) if key in pinned]
        settings = dict(self.p['env'])
        if self.p['service_images']:
            files.append((PINS_FILE, pins_override(self.p['service_images'], pinned)))
        if len(files) > 1 or (files and files[0][0] != 'compose.yml'):
            # Compose reads COMPOSE_FILE from the project's .env: every command then sees the same files.
            listed = settings.get('COMPOSE_FILE') or ':'.join(name for name, _content in files if name != PINS_FILE)
            settings['COMPOSE_FILE'] = listed + (':' + PINS_FILE if self.p['service_images'] else '')
        env += list(settings.items())
        env += sorted(self.p['secrets'].items())
        secret_keys = set(self.p['secrets'])
        header = [self.p['header']] if self.p['header'] else []
        header.append('Release %s. Mode 0600: this file holds the release\'s secrets.' % self.version)
        try:
            env_text = render_env(env, header, secret_keys)
            masked = render_env(env, header, secret_keys, masked=True)
        except ComposeError as exc:
            self.fail('Bad input, nothing was changed: %s.' % exc)
        digest = checksum(*([content for _name, content in files] + [env_text]))
        return files, env_text, masked, digest

    def write_files(self, directory, files, env_text, masked):
        for name, content in files:
            rel.write_atomic(os.path.join(directory, name), content, 0o640)
        rel.write_atomic(os.path.join(directory, '.env'), env_text, 0o600)
        rel.write_atomic(os.path.join(directory, 'env.masked'), masked, 0o640)

    def diff(self, current, files, masked):
        before_dir = os.path.join(self.root.releases, current['release_id']) if current.get('release_id') else None
        diffs = []
        for name, content in [('env.masked', masked)] + files:
            before = ''
            if before_dir and os.path.exists(os.path.join(before_dir, name)):
                with open(os.path.join(before_dir, name)) as handle:
                    before = handle.read()
            label = '.env (secrets masked)' if name == 'env.masked' else name
            diffs.append({'before': before, 'after': content, 'before_header': 'current: %s' % label,
                          'after_header': 'release %s: %s' % (self.version, label)})
        return diffs

    def plan_in(self, directory):
        hashes = Compose(self.p['project'], directory).config_hashes()
        missing = [s for s in self.p['services'] if s not in hashes]
        if missing:
            raise ComposeError('the compose files define no service %s (compose_deploy_services)' % ', '.join(missing))
        return plan(hashes, project_containers(self.api, self.p['project']), self.p['services'])

    # --- the phase ------------------------------------------------------------------------

    def run(self):
        self.validate()
        check = self.module.check_mode
        if not check:
            try:
                self.lock()
                self.recover()
            except OSError as exc:
                self.fail('Cannot take the deploy lock under %s: %s' % (self.root.path, exc))
        try:
            pinned = self.pin()
        except DockerApiError as exc:
            self.fail('Cannot reach the Docker daemon to pull the images: %s. Nothing was switched.' % exc)
        files, env_text, masked, digest = self.render(pinned)
        current = rel.current_record(self.root)
        unchanged = current.get('status') == 'good' and current.get('config_checksum') == digest
        self.result['diff'] = self.diff(current, files, masked)
        if unchanged:
            self.result.update(current, is_new=False, plan={'recreate': [], 'keep': list(self.p['services']), 'orphans': []},
                               msg='Release %s (%s) is already current and good: nothing to do.'
                                   % (current['release_id'], current.get('version')))
            return self.done()
        rid = rel.release_id(self.version, self.now)
        record = {
            'release_id': rid, 'version': self.version, 'project': self.p['project'], 'status': 'pending',
            'strategy': self.p['strategy'], 'images': pinned, 'config_checksum': digest, 'stack': self.p['stack'] or None,
            'previous_release': current.get('release_id'), 'previous_backup_key': (current.get('backup') or {}).get('key'),
            'deployed_by': self.p['lock']['holder'], 'started_at': rel.iso(self.now),
            'release_dir': os.path.join(self.root.releases, rid),
        }
        self.result.update(record, is_new=True, changed=True)
        try:
            if check:
                scratch = tempfile.mkdtemp(prefix='aishield-plan-')
                try:
                    self.write_files(scratch, files, env_text, masked)
                    record['plan'] = self.plan_in(scratch)
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
            else:
                os.makedirs(record['release_dir'], mode=0o750)
                self.write_files(record['release_dir'], files, env_text, masked)
                record['plan'] = self.plan_in(record['release_dir'])
                rel.write_json(os.path.join(record['release_dir'], 'release.json'), record)
                self.result['created'] = True
                rel.append_audit(self.root, self.audit_entry(action='deploy', status='started', release_id=rid,
                                                             previous_release=record['previous_release']))
        except (ComposeError, DockerApiError, OSError) as exc:
            self.result.update(record)
            self.fail('Preparing release %s failed: %s' % (rid, exc))
        self.result.update(record)
        previous = (', replacing %s' % record['previous_release']) if record['previous_release'] else ', first release on this host'
        self.result['msg'] = ('New release %s (%s)%s. Services to recreate: %s.'
                              % (rid, self.version, previous, ', '.join(record['plan']['recreate']) or 'none'))
        if self.result['recovered']:
            self.result['msg'] += (' Interrupted deploy found: %s was left pending by a run that stopped before finishing; '
                                   'it is now marked failed (phase interrupted), and this run\'s switch replaces what that '
                                   'run started.' % ', '.join(self.result['recovered']))
        if not check:
            self.start_data(record)
        return self.done()

    def start_data(self, record):
        data = [s for s in self.p['data_services'] if s in self.p['services'] and s in record['plan']['recreate']]
        if not data:
            return
        try:
            start_services(self.api, Compose(self.p['project'], record['release_dir']), data, self.p['wait_timeout'])
        except (ComposeError, DockerApiError) as exc:
            self.fail('Starting the data services %s of release %s failed: %s' % (', '.join(data), record['release_id'], exc))

    def done(self):
        self.result['finished'] = time.time()
        self.module.exit_json(**self.result)


def main():
    spec = rel.release_argument_spec()
    spec.update(
        version=dict(type='str', required=True),
        images=dict(type='dict', required=True),
        pull=dict(type='list', elements='str'),
        image_variables=dict(type='dict', default={}),
        service_images=dict(type='dict', default={}),
        stack=dict(type='dict', default={}),
        compose_files=dict(type='list', elements='dict', required=True,
                           options=dict(name=dict(type='str', required=True), content=dict(type='str', required=True))),
        env=dict(type='dict', default={}),
        secrets=dict(type='dict', default={}, no_log=True),
        services=dict(type='list', elements='str', required=True),
        data_services=dict(type='list', elements='str', default=[]),
        strategy=dict(type='str', default='rolling'),
        lock=dict(type='dict', required=True, options=dict(
            holder=dict(type='str', required=True), pid=dict(type='str', default=''),
            token=dict(type='str', required=True, no_log=False))),
        lock_break=dict(type='bool', default=False),
        lock_break_live=dict(type='bool', default=False),
        controller=dict(type='dict', default={}),
        registry_username=dict(type='str', default=''),
        registry_password=dict(type='str', default='', no_log=True),
        registry=dict(type='str', default=''),
        header=dict(type='str', default=''),
        wait_timeout=dict(type='int', default=180),
        progress_interval=dict(type='int', default=5),
        progress_file=dict(type='path'),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    Prepare(module).run()


if __name__ == '__main__':
    main()
