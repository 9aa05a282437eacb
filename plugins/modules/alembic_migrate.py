#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: alembic_migrate
short_description: Gate and run a release's Alembic migration in one container of the release's own image
version_added: 0.2.0
description:
  - The C(migrate) phase of a deploy. One one-off container of O(service) (C(docker compose run --rm --no-deps)) in the
    release's directory, so with the release's image and environment, does everything
    - reads the image's Alembic heads and its migration chain (each revision's C(backward_compatible) flag);
    - reads the database's revision through the image's own C(env.py), like C(alembic current), so the module never needs
      the database's address or password;
    - gates - exactly one head, and a database revision the image knows;
    - upgrades to the head (Alembic in the container's process, or O(command)), unless the database is already there;
    - reads the revision again and checks it is the head.
  - The program that runs in the container is this collection's C(module_utils/_alembic_runner.py), sent on standard
    input; nothing is written to the host's disk.
  - Why not M(community.docker.docker_compose_v2_run) with C(alembic upgrade head)? That runs the upgrade blind - no gate
    on several heads or an unknown revision, no chain for the rollback decisions, no check after - and each extra
    question costs another container start.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Runs the same container to read and gate, and does not upgrade.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - A database already at the image's head is left alone and RV(ignore:changed=false).
  platform:
    platforms: posix
options:
  project:
    description: The Compose project.
    type: str
    required: true
  release_dir:
    description: The release's directory (its compose files and C(.env)).
    type: path
    required: true
  service:
    description: The service whose image carries the migrations (the stack's C(migrate) service).
    type: str
    required: true
  command:
    description:
      - The team's own migration command, run in the container instead of Alembic's upgrade (for example
        V([./manage.py, migrate])). The heads and the revision are still read with Alembic.
    type: list
    elements: str
  alembic_config:
    description: The Alembic configuration file, relative to the container's working directory.
    type: str
    default: alembic.ini
  python:
    description: The Python interpreter in the image.
    type: str
    default: python3
  start_dependencies:
    description:
      - Let Compose start the service's dependencies first (the database, waiting for its healthcheck when the compose
        file says so). A deploy has already started them and passes V(false).
    type: bool
    default: false
  timeout:
    description: Seconds the container may run.
    type: int
    default: 900
seealso:
  - module: aishield.ops.alembic_version
  - module: community.docker.docker_compose_v2_run
"""

EXAMPLES = r"""
- name: Migrate the database with the new image
  aishield.ops.alembic_migrate:
    project: aishield
    release_dir: "{{ compose_deploy_release.release_dir }}"
    service: backend
  register: migration_result
"""

RETURN = r"""
before:
  description: The database's revisions before.
  returned: always
  type: list
  elements: str
  sample: [0001_initial]
after:
  description: The database's revisions after.
  returned: success
  type: list
  elements: str
  sample: [0002_last_login]
heads:
  description: The image's head revisions.
  returned: always
  type: list
  elements: str
  sample: [0002_last_login]
applied:
  description: Whether an upgrade ran and succeeded.
  returned: always
  type: bool
chain:
  description: Every revision the image ships, with C(down_revision) and C(backward_compatible).
  returned: always
  type: list
  elements: dict
old_code:
  description:
    - Whether code at the revision before can run on the schema after (the migrations between are all declared backward
      compatible), as C(compatible), C(reason). What a fleet and a quick rollback need to know.
  returned: success
  type: dict
started:
  description: When the module started, seconds since the epoch on the host.
  returned: always
  type: float
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils._alembic import (
    AlembicError, failure_message, gate_message, rollback_check, run_in_image,
)
from ansible_collections.aishield.ops.plugins.module_utils._compose import Compose, ComposeError, SERVICE_RE


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project=dict(type='str', required=True),
            release_dir=dict(type='path', required=True),
            service=dict(type='str', required=True),
            command=dict(type='list', elements='str'),
            alembic_config=dict(type='str', default='alembic.ini'),
            python=dict(type='str', default='python3'),
            start_dependencies=dict(type='bool', default=False),
            timeout=dict(type='int', default=900),
        ),
        supports_check_mode=True,
    )
    p = module.params
    result = {'changed': False, 'started': time.time()}
    if not SERVICE_RE.match(p['service']):
        module.fail_json(msg='service %r is not a Compose service name' % p['service'], **result)
    if not os.path.isdir(p['release_dir']):
        module.fail_json(msg='release_dir %s does not exist' % p['release_dir'], **result)
    options = {'config': p['alembic_config'], 'probe_only': module.check_mode, 'command': p['command']}
    try:
        found = run_in_image(Compose(p['project'], p['release_dir']), p['service'], options, p['python'], p['timeout'],
                             deps=p['start_dependencies'])
    except (AlembicError, ComposeError) as exc:
        module.fail_json(msg=str(exc), **result)
    result.update(before=found['before'], heads=found['heads'], chain=found['chain'], applied=found['applied'],
                  after=found.get('after', found['before']), finished=time.time())
    refused = gate_message(found)
    if refused:
        module.fail_json(msg=refused, **result)
    if found.get('error'):
        module.fail_json(msg=failure_message(found), output=found.get('output', ''), **result)
    result['changed'] = found['applied']
    if not module.check_mode and sorted(result['after']) != sorted(result['heads']):
        module.fail_json(msg='After the migration the database is at %s, not at the image\'s head %s.'
                             % (','.join(result['after']) or 'no revision', ','.join(result['heads'])), **result)
    try:
        result['old_code'] = rollback_check(found['chain'], result['after'], found['before'])
    except ValueError as exc:
        result['old_code'] = {'compatible': False, 'reason': str(exc)}
    result['msg'] = ('Database %s -> %s (%s)' % (','.join(found['before']) or 'empty', ','.join(result['after']),
                                                 'migrated' if found['applied'] else 'already at the head'))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
