#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_switch
short_description: Switch a Compose stack to a release, health-gated, with zero downtime for the services that roll
version_added: 0.2.0
description:
  - The C(switch) phase of a deploy, and the switch of a rollback, in one module run on the managed host.
  - O(strategy=rolling) gives each changed service in O(roll) a new container beside the old one. When the new one is
    healthy and O(drain_delay) has passed (a proxy that re-resolves names learns the new address), the old one is stopped
    with its own grace period (SIGTERM; a web server finishes its in-flight requests, a Celery worker its running task) and
    removed. Changed data services start first; other changed services are recreated by Compose. Rolls and recreates run
    side by side.
  - O(strategy=recreate) lets Compose recreate whatever changed and waits for every service (the runbook's way, without
    C(down) and without a blind sleep).
  - Health means the container's own healthcheck passes. It is also run here every 0.25 s, so the switch does not wait
    for Docker's next scheduled check. A new container that is not healthy within O(wait_timeout) is removed and the old
    one keeps serving.
  - Then C(current) is repointed to the release with one rename, and C(audit.log) gets a line.
  - Why not M(community.docker.docker_compose_v2)? Its C(up) recreates a service by stopping the old container first,
    which is an outage for every client; a start-first roll needs scaling, a health gate and a graceful stop in order.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - aishield.ops.release
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Returns the plan (which services would be recreated) and changes nothing.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - A switch to the release already running recreates nothing and only repoints C(current) if it pointed elsewhere.
  platform:
    platforms: posix
options:
  release_id:
    description: The release to switch to; its directory holds the compose files and C(.env).
    type: str
    required: true
  strategy:
    description: How to switch.
    type: str
    choices: [rolling, recreate]
    default: rolling
  services:
    description: The services this host runs.
    type: list
    elements: str
    required: true
  roll:
    description:
      - Services behind a proxy, replaced start-first with O(strategy=rolling); the old container stops O(drain_delay)
        after the new one is healthy.
    type: list
    elements: str
    default: []
  workers:
    description:
      - Workers, replaced start-first with O(strategy=rolling) and stopped warm with their own grace period once the new
        one is healthy (no drain delay, no proxy routes to them).
    type: list
    elements: str
    default: []
  data_services:
    description: Services that hold data; with O(strategy=rolling) the changed ones start before anything else.
    type: list
    elements: str
    default: []
  all_services:
    description: Whether this host runs the whole stack (Compose may then start dependencies); false on a fleet's hosts.
    type: bool
    default: true
  wait_timeout:
    description: Seconds a new container may take to become healthy.
    type: int
    default: 180
  drain_delay:
    description: Seconds between a rolled service's new container turning healthy and the old one's stop.
    type: float
    default: 1.0
  reason:
    description: Why, for the audit line (C(deploy) or C(rollback)).
    type: str
    default: deploy
  by:
    description: Who switches, for the audit line.
    type: str
    default: ''
seealso:
  - module: aishield.ops.release_prepare
  - module: aishield.ops.release_rollback
"""

EXAMPLES = r"""
- name: Switch to the release, rolling the backend and the worker
  aishield.ops.release_switch:
    root: /opt/aishield
    project: aishield
    release_id: "{{ compose_deploy_release.release_id }}"
    services: [db, redis, backend, worker, frontend, proxy]
    roll: [backend, worker]
    data_services: [db, redis]
"""

RETURN = r"""
plan:
  description: What the switch found changed (recreate), left alone (keep) and removed (orphans).
  returned: always
  type: dict
  sample: {recreate: [backend, worker], keep: [db, frontend, proxy, redis], orphans: []}
events:
  description: What happened, in order.
  returned: success
  type: list
  elements: str
  sample: ["rolled backend: 1 new healthy, 1 old stopped gracefully"]
started:
  description: When the switch started, seconds since the epoch on the host.
  returned: always
  type: float
finished:
  description: When it ended.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils._compose import SwitchFailed, switch_argument_spec, switch_release


def main():
    module = AnsibleModule(argument_spec=switch_argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(**switch_release(module.params, module.check_mode))
    except SwitchFailed as exc:
        module.fail_json(msg=str(exc), **exc.result)


if __name__ == '__main__':
    main()
