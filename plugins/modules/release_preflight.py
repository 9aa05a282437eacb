#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_preflight
short_description: Check a host before a deploy changes anything - lock, secrets, disk, Docker, Compose, registry, bucket
version_added: 0.2.0
description:
  - Every check of the deploy's pre-flight that needs the managed host, in one module run. Each check gives a record
    C(name), C(status) (V(ok), V(failed), V(skipped)) and C(detail); the module fails once, listing every failed check.
    The details name the M(aishield.ops.preflight) role's variables, the way an operator sets them.
  - C(lock) comes first and alone - another run's C(deploy.lock) is refused at once, naming its holder and whether that
    process still runs on this controller, before any slower check. A deploy root that exists but that the connecting
    user cannot write is refused there too (its lock could not be taken); a missing root is free, and RV(root_writable)
    says whether this user can create it (else the M(aishield.ops.compose_deploy) role creates it once with become).
  - C(env) the required secret names are set (values are never returned); C(disk) free space at a path (its nearest
    existing parent); C(docker) and C(compose) the daemon answers and the Compose v2 plugin is recent enough; C(registry)
    every image is found in its registry, asked through the host's daemon with the credentials the pull will use (so its
    DNS, CA trust, proxies and insecure-registries count); C(s3) the backup bucket answers HeadBucket from this host, with
    the endpoint and keys the backup will use.
  - O(extra_checks) adds records made elsewhere (the controller's TLS check) to the same report.
  - Why not M(amazon.aws.s3_bucket_info)? The bucket must be reachable from the host that streams the backup, and
    amazon.aws needs a newer boto3 than Debian hosts ship; one call also saves a module run per check.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Everything is read-only.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    platforms: posix
options:
  lock_root:
    description: A deploy root whose C(deploy.lock) must be free (or breakable); empty skips the check.
    type: path
    default: ''
  lock_break:
    description: The run will break a stale lock (so a stale one is reported, not refused).
    type: bool
    default: false
  lock_break_live:
    description: The run will break even a live holder's lock.
    type: bool
    default: false
  lock_token:
    description:
      - This run's lock token. A lock held with it is this run's own (a fleet run takes every host's lock before any
        host's pre-flight), so it passes.
    type: str
    default: ''
  controller:
    description: The controller's C(host) name and running C(pids), to tell whether a lock's holder still runs.
    type: dict
    default: {}
  required_env:
    description: Secret names that must be set to non-empty values in O(env).
    type: list
    elements: str
    default: []
  env:
    description: The secrets (only their presence is checked; values are never returned).
    type: dict
    default: {}
  disk_path:
    description: Where free space is measured (its nearest existing parent).
    type: path
    default: /
  min_free_mb:
    description: Free MiB needed at O(disk_path); V(0) skips.
    type: int
    default: 2048
  docker:
    description: Check the Docker daemon and the Compose v2 plugin.
    type: bool
    default: true
  docker_host:
    description: The daemon's unix socket.
    type: str
    default: unix:///var/run/docker.sock
  compose_min_version:
    description: The lowest acceptable Compose v2 version.
    type: str
    default: 2.24.0
  images:
    description: Image references the deploy will pull.
    type: list
    elements: str
    default: []
  registry_username:
    description: Registry user name (an ECR token's user is C(AWS)).
    type: str
    default: ''
  registry_password:
    description: Registry password or token.
    type: str
    default: ''
  registry:
    description: The registry the credentials are for; empty means every image's registry.
    type: str
    default: ''
  s3_bucket:
    description: The backup bucket; empty skips the check.
    type: str
    default: ''
  s3_endpoint_url:
    description: An S3-compatible endpoint, as the host reaches it.
    type: str
    default: ''
  s3_region:
    description: The bucket's region.
    type: str
    default: ''
  s3_access_key:
    description: S3 access key; empty uses boto3's own chain.
    type: str
    default: ''
  s3_secret_key:
    description: S3 secret key.
    type: str
    default: ''
  extra_checks:
    description: Records of checks made elsewhere, each C(name), C(status), C(detail).
    type: list
    elements: dict
    default: []
seealso:
  - module: community.crypto.get_certificate
"""

EXAMPLES = r"""
- name: Check the host before the deploy
  aishield.ops.release_preflight:
    lock_root: /opt/aishield
    required_env: [POSTGRES_PASSWORD, SECRET_KEY]
    env: "{{ vault_aishield_secrets }}"
    disk_path: /opt/aishield
    images: [registry.example.com/aishield/backend:v2]
    s3_bucket: aishield-backups
  register: preflight_result
"""

RETURN = r"""
checks:
  description: One record per check, in order.
  returned: always
  type: list
  elements: dict
  sample: [{name: disk, status: ok, detail: "40321 MiB free on / (for /opt/aishield), min_free_mb=2048"}]
passed:
  description: Whether no check failed.
  returned: always
  type: bool
report:
  description: The checks as aligned lines, for the play output.
  returned: always
  type: list
  elements: str
user:
  description: The user the module runs as on the host (the connecting user); its uid when it has no name.
  returned: always
  type: str
  sample: deploy
group:
  description: That user's primary group; its gid when it has no name.
  returned: always
  type: str
  sample: deploy
root_exists:
  description: Whether O(lock_root) exists as a directory.
  returned: when O(lock_root) is given
  type: bool
root_writable:
  description:
    - Whether the user can write O(lock_root), or, when it is missing, create it (its nearest existing parent is
      writable). V(false) with RV(root_exists=false) means the root must be created with privileges.
  returned: when O(lock_root) is given
  type: bool
lock_holder:
  description: The holder of the lock found (without its token), when there is one.
  returned: when the lock is held
  type: dict
started:
  description: When the module started, seconds since the epoch on the host.
  returned: always
  type: float
"""

import grp
import os
import pwd
import re
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils import _release as rel
from ansible_collections.aishield.ops.plugins.module_utils._docker_api import DockerApi, DockerApiError
from ansible_collections.aishield.ops.plugins.module_utils._images import registry_digests


def record(name, status, detail):
    return {'name': name, 'status': status, 'detail': detail}


def version_tuple(text):
    """(major, minor, patch); a short version is padded, so 2.24 equals 2.24.0."""
    parts = [int(part) for part in re.findall(r'\d+', text or '')[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def nearest_existing(path):
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path or '/'


def current_user():
    """(user, group) this module runs as: names, or the ids when the host has no entry for them (a bare uid)."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, group


def root_access(path):
    """Whether this user can use the deploy root: write it, or, while it is missing, create it (os.makedirs needs
    write and search on the nearest existing parent). An unprivileged deploy user usually cannot create /opt/x:
    the role then creates it once with become, and every later run needs no privileges."""
    exists = os.path.isdir(path)
    where = path if os.path.lexists(path) else nearest_existing(path)
    writable = os.path.isdir(where) and os.access(where, os.W_OK | os.X_OK)
    return {'root_exists': exists, 'root_writable': bool(writable)}


def root_refusal(path, access, user):
    """Why the run cannot use an existing deploy root, or ''. Taking over a root that belongs to someone else (a
    root-owned one from deploys made as root) is an operator's decision, so the role never does it with become."""
    if access['root_writable'] or not os.path.lexists(path):
        return ''
    try:
        info = os.stat(path)
        try:
            owner = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            owner = str(info.st_uid)
        how = 'a directory owned by %s, mode %04o' % (owner, stat.S_IMODE(info.st_mode)) if stat.S_ISDIR(info.st_mode) \
            else 'not a directory'
    except OSError as exc:
        how = 'not readable: %s' % exc.strerror
    return ('user %s cannot write the deploy root %s (%s), so this run could not take its lock; give it to the deploy '
            'user (chown -R %s %s) or deploy as its owner' % (user, path, how, user, path))


# Values an example file or a tutorial carries; a deploy with one of them has no real secret.
_PLACEHOLDER_RE = re.compile(r'change[-_ ]?me|^(password|secret|example|placeholder|todo|x+|\*+|<.*>)$', re.I)


def is_placeholder(value):
    return bool(_PLACEHOLDER_RE.search(str(value).strip()))


def check_env(required, env):
    if not required:
        return record('env', 'skipped', 'no required secrets listed')
    missing = [k for k in required if env.get(k) is None or str(env.get(k)).strip() == '']
    if missing:
        return record('env', 'failed', 'preflight_env is missing or has empty values for: %s; add them to the vaulted secrets '
                                       '(aishield_secrets) or drop them from preflight_required_env' % ', '.join(missing))
    placeholders = sorted(k for k in env if k in required and is_placeholder(env[k]))
    if placeholders:
        return record('env', 'failed', 'preflight_env holds example values (like CHANGE-ME) for: %s; put the real secrets in '
                                       'the vault (ansible-vault encrypt_string)' % ', '.join(placeholders))
    return record('env', 'ok', '%d required keys are set' % len(required))


def check_disk(path, min_free_mb):
    if min_free_mb <= 0:
        return record('disk', 'skipped', 'min_free_mb is 0')
    where = nearest_existing(path)
    stat = os.statvfs(where)
    free = stat.f_bavail * stat.f_frsize // (1024 * 1024)
    detail = '%d MiB free on %s (for %s), preflight_min_free_mb=%d' % (free, where, path, min_free_mb)
    if free < min_free_mb:
        return record('disk', 'failed', detail + '; free space (docker image prune, old releases) or lower preflight_min_free_mb')
    return record('disk', 'ok', detail)


def check_docker(api, socket_text, min_version):
    try:
        engine = (api.request('GET', '/version') or {}).get('Version', '?')
        docker = record('docker', 'ok', 'Docker Engine %s answers on %s' % (engine, socket_text))
    except DockerApiError as exc:
        docker = record('docker', 'failed', 'Docker does not answer on %s: %s; start dockerd or set preflight_docker_socket'
                        % (socket_text, exc))
    proc = subprocess.run(['docker', 'compose', 'version', '--short'], capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r'\d+\.\d+\.\d+', proc.stdout) if proc.returncode == 0 else None
    found = match.group(0) if match else ''
    if found and version_tuple(found) >= version_tuple(min_version):
        compose = record('compose', 'ok', 'Docker Compose %s (>= %s)' % (found, min_version))
    else:
        compose = record('compose', 'failed', 'Docker Compose v2 is %s, need >= preflight_compose_min_version=%s; install '
                                              'the Compose v2 CLI plugin (docker-compose-plugin)' % (found or 'missing', min_version))
    return [docker, compose]


def check_registry(api, images, credentials):
    if not images:
        return record('registry', 'skipped', 'no images to look up')
    try:
        found = registry_digests(api, images, credentials)
    except DockerApiError as exc:
        return record('registry', 'failed', 'the lookup failed: %s' % exc)
    missing = ['%s (%s)' % (ref, found[ref]['error']) for ref in sorted(found) if 'error' in found[ref]]
    if missing:
        return record('registry', 'failed', 'not found or not reachable: %s; publish them (playbooks/publish.yml) or fix '
                                            'preflight_images, preflight_registry_username/password' % ', '.join(missing))
    return record('registry', 'ok', '%d images found in their registries' % len(found))


def check_s3(p):
    if not p['s3_bucket']:
        return record('s3', 'skipped', 'no backup bucket')
    where = p['s3_endpoint_url'] or 'AWS S3'
    try:
        import boto3  # pylint: disable=import-outside-toplevel
        from botocore.config import Config  # pylint: disable=import-outside-toplevel
        kwargs = {'config': Config(connect_timeout=5, read_timeout=10, retries={'max_attempts': 2})}
        for option, key in (('s3_endpoint_url', 'endpoint_url'), ('s3_region', 'region_name'),
                            ('s3_access_key', 'aws_access_key_id'), ('s3_secret_key', 'aws_secret_access_key')):
            if p[option]:
                kwargs[key] = p[option]
        boto3.client('s3', **kwargs).head_bucket(Bucket=p['s3_bucket'])
    except ImportError:
        return record('s3', 'failed', 'boto3 is not installed on the host (the backup streams from here with it)')
    except Exception as exc:  # pylint: disable=broad-except
        text = ' '.join(str(exc).split())
        if p['s3_secret_key']:
            text = text.replace(p['s3_secret_key'], '********')
        return record('s3', 'failed', 'cannot reach bucket %s at %s from this host: %s; check preflight_s3_bucket, '
                                      'preflight_s3_endpoint_url (as the host reaches it), preflight_s3_region and the access '
                                      'keys' % (p['s3_bucket'], where, text[:300]))
    return record('s3', 'ok', 'bucket %s answers at %s' % (p['s3_bucket'], where))


def report_lines(checks):
    return ['%-8s %-7s %s' % (c['name'], c['status'], c['detail']) for c in checks]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            lock_root=dict(type='path', default=''),
            lock_break=dict(type='bool', default=False),
            lock_break_live=dict(type='bool', default=False),
            lock_token=dict(type='str', default='', no_log=True),
            controller=dict(type='dict', default={}),
            required_env=dict(type='list', elements='str', default=[]),
            env=dict(type='dict', default={}, no_log=True),
            disk_path=dict(type='path', default='/'),
            min_free_mb=dict(type='int', default=2048),
            docker=dict(type='bool', default=True),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
            compose_min_version=dict(type='str', default='2.24.0'),
            images=dict(type='list', elements='str', default=[]),
            registry_username=dict(type='str', default=''),
            registry_password=dict(type='str', default='', no_log=True),
            registry=dict(type='str', default=''),
            s3_bucket=dict(type='str', default=''),
            s3_endpoint_url=dict(type='str', default=''),
            s3_region=dict(type='str', default=''),
            s3_access_key=dict(type='str', default='', no_log=True),
            s3_secret_key=dict(type='str', default='', no_log=True),
            extra_checks=dict(type='list', elements='dict', default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    user, group = current_user()
    result = {'changed': False, 'started': time.time(), 'user': user, 'group': group}
    if p['lock_root']:
        root = rel.Root(p['lock_root'])
        access = root_access(root.path)
        result.update(access)
        refusal = root_refusal(root.path, access, user)
        if refusal:
            checks = [record('lock', 'failed', refusal)]
            module.fail_json(msg=refusal, checks=checks, passed=False, report=report_lines(checks), **result)
        held = rel.read_lock(root)
        if held and p['lock_token'] and held.get('token') == p['lock_token']:
            lock = record('lock', 'ok', 'held by this run (%s)' % held.get('version', '?'))
        elif held:
            state = rel.holder_state(held, p['controller'])
            result.update(lock_holder=rel.public_holder(held), lock_state=state)
            if not rel.may_break(state, p['lock_break'], p['lock_break_live']):
                checks = [record('lock', 'failed', rel.lock_refusal(root, held, state))]
                module.fail_json(msg=checks[0]['detail'], checks=checks, passed=False, report=report_lines(checks), **result)
            lock = record('lock', 'ok', 'held by %s, which this run will take over (lock_break)' % held.get('holder', '?'))
        elif not access['root_writable']:
            lock = record('lock', 'ok', 'free; %s does not exist and user %s cannot create it: the deploy creates it once '
                                        'with become' % (root.path, user))
        else:
            lock = record('lock', 'ok', 'free')
    else:
        lock = record('lock', 'skipped', 'no deploy root given')
    api = DockerApi(p['docker_host'])
    credentials = {'username': p['registry_username'], 'password': p['registry_password'], 'registry': p['registry']}
    with ThreadPoolExecutor(max_workers=3) as pool:
        docker = pool.submit(check_docker, api, p['docker_host'], p['compose_min_version']) if p['docker'] else None
        registry = pool.submit(check_registry, api, p['images'], credentials)
        s3 = pool.submit(check_s3, p)
        checks = [lock, check_env(p['required_env'], p['env']), check_disk(p['disk_path'], p['min_free_mb'])]
        checks += docker.result() if docker else [record('docker', 'skipped', 'docker=false'),
                                                  record('compose', 'skipped', 'docker=false')]
        checks += [registry.result(), s3.result()]
    checks += [dict(record(c.get('name', '?'), c.get('status', 'failed'), c.get('detail', ''))) for c in p['extra_checks']]
    failed = [c for c in checks if c['status'] == 'failed']
    ran = [c for c in checks if c['status'] != 'skipped']
    result.update(checks=checks, passed=not failed, report=report_lines(checks), finished=time.time())
    if failed:
        module.fail_json(msg='Pre-flight failed %d of %d checks: %s' % (
            len(failed), len(ran), ' | '.join('%s: %s' % (c['name'], c['detail']) for c in failed)), **result)
    result['msg'] = 'Pre-flight passed: %s' % (', '.join(c['name'] for c in ran) or 'no checks ran')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
