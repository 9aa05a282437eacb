#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_lock
short_description: Take, release or look at a deploy root's deploy lock
version_added: 0.2.0
description:
  - C(deploy.lock) is created with O_EXCL, so two runs can never both hold it. It records who holds it (user@controller),
    the process id on the controller, the version and the time, and a token that lets only its own run release it.
  - O(state=present) takes the lock, or fails naming the holder and whether that process still runs on this controller.
    A holder that is gone (or on another controller) is taken over with O(lock_break) and an C(audit.log) line; a holder
    that still runs needs O(lock_break_live) as well.
  - O(state=absent) removes the lock only when it carries O(lock.token).
  - O(state=query) only reports the holder (and refuses, like V(present), when O(fail_if_held)).
  - M(aishield.ops.release_prepare) takes the lock itself during a deploy; this module serves rollback, restore, the DR
    drill and the deploy's failure path.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - aishield.ops.release
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Looks at the lock and changes nothing.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - Taking a lock this run already holds, or releasing one it does not hold, changes nothing.
  platform:
    platforms: posix
options:
  state:
    description: Take, release or look at the lock.
    type: str
    choices: [present, absent, query]
    default: present
  lock:
    description: This run as the lock's holder.
    type: dict
    default: {}
    suboptions:
      holder:
        description: Who, as C(user@controller).
        type: str
        default: ''
      pid:
        description: The controller process holding the lock.
        type: str
        default: ''
      token:
        description: This run's token (not a secret, it only lets this run release its own lock).
        type: str
        default: ''
      version:
        description: What the run does (a version, or C(rollback), C(restore of <key>)).
        type: str
        default: ''
  lock_break:
    description: Take over a lock whose holder is gone or cannot be checked.
    type: bool
    default: false
  lock_break_live:
    description: With O(lock_break), also take over a holder that still runs on this controller.
    type: bool
    default: false
  controller:
    description: The controller's C(host) name and running C(pids), to tell whether a holder still runs.
    type: dict
    default: {}
  fail_if_held:
    description: With O(state=query), fail (naming the holder) when another run holds the lock and it may not be broken.
    type: bool
    default: false
seealso:
  - module: aishield.ops.release_prepare
"""

EXAMPLES = r"""
- name: Take the deploy lock for a rollback
  aishield.ops.release_lock:
    root: /opt/aishield
    project: aishield
    lock: {holder: "ops@controller", pid: "4242", token: "{{ token }}", version: rollback}

- name: Release it
  aishield.ops.release_lock:
    root: /opt/aishield
    project: aishield
    state: absent
    lock: {token: "{{ token }}"}
"""

RETURN = r"""
holder:
  description: The lock's holder before this run acted (without its token); empty when the lock was free.
  returned: always
  type: dict
holder_state:
  description: V(running), V(gone) or V(unknown) (the holder is on another controller or has no pid).
  returned: when the lock was held
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils import _release as rel


def main():
    spec = rel.release_argument_spec()
    spec.update(
        state=dict(type='str', choices=['present', 'absent', 'query'], default='present'),
        lock=dict(type='dict', default={}, options=dict(
            holder=dict(type='str', default=''), pid=dict(type='str', default=''),
            token=dict(type='str', default='', no_log=False), version=dict(type='str', default=''))),
        lock_break=dict(type='bool', default=False),
        lock_break_live=dict(type='bool', default=False),
        controller=dict(type='dict', default={}),
        fail_if_held=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    root = rel.Root(p['root'])
    mine = dict(p['lock'], time=rel.iso(rel.utc_now()))
    held = rel.read_lock(root)
    result = {'changed': False, 'holder': rel.public_holder(held)}
    if held:
        result['holder_state'] = rel.holder_state(held, p['controller'])
    ours = bool(held) and bool(mine['token']) and held.get('token') == mine['token']

    if p['state'] == 'absent':
        if ours and not module.check_mode:
            rel.release_lock(root, mine['token'])
        module.exit_json(**result)

    blocked = bool(held) and not ours and not rel.may_break(result.get('holder_state'), p['lock_break'], p['lock_break_live'])
    if blocked and (p['state'] == 'present' or p['fail_if_held']):
        module.fail_json(msg=rel.lock_refusal(root, held, result['holder_state']), **result)
    if p['state'] == 'query' or module.check_mode or ours:
        module.exit_json(**result)
    if not mine['token'] or not mine['holder']:
        module.fail_json(msg='lock.holder and lock.token are needed to take the lock', **result)
    if held:
        rel.append_audit(root, {'time': mine['time'], 'by': mine['holder'], 'action': 'lock_broken',
                                'previous': rel.public_holder(held), 'holder_state': result['holder_state'],
                                'version': mine['version']})
        rel.replace_lock(root, mine)
    else:
        taken = rel.take_lock(root, mine)
        if taken:
            # Another run took it between the look and the create.
            state = rel.holder_state(taken, p['controller'])
            module.fail_json(msg=rel.lock_refusal(root, taken, state), holder=rel.public_holder(taken), holder_state=state)
    # Holding the lock is not a change to the deployment: take and release leave nothing changed.
    module.exit_json(**result)


if __name__ == '__main__':
    main()
