#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_record
short_description: Finish a release - record it good or failed, prune old releases, release the deploy lock
version_added: 0.2.0
description:
  - The last step of a deploy, in one module run on the managed host.
  - O(status=good) merges O(update) (Alembic revisions, backup, smoke results, phase timings) into the release's
    C(release.json), marks it C(good), appends the C(audit.log) line, removes releases beyond O(keep) (never the current
    one nor the release before it, the quick rollback target whose record names the backup a full rollback restores) and
    releases the deploy lock when O(unlock_token) is given.
  - O(status=failed) records O(failure) (phase, task, message) and the C(audit.log) line; the caller releases the lock after
    any rollback (M(aishield.ops.release_lock)).
  - Writes go through a temporary file and a rename, so a reader never sees half a record.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - aishield.ops.release
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports what it would write and changes nothing.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - Recording the status a release already has with the same data changes nothing.
  platform:
    platforms: posix
options:
  release_id:
    description:
      - The release to record. Empty records nothing - with O(status=good) the run only prunes and unlocks (the release was
        unchanged), with O(status=failed) it writes only the audit line (no release was created).
    type: str
    default: ''
  status:
    description: The release's outcome.
    type: str
    choices: [good, failed]
    required: true
  update:
    description: Facts to merge into C(release.json) (for example C(alembic), C(backup), C(smoke), C(phases)).
    type: dict
    default: {}
  failure:
    description: With O(status=failed), why - C(phase), C(task), C(message) (cut to 500 characters).
    type: dict
    default: {}
  marks:
    description:
      - When each phase began, as V([name, seconds since the epoch]) pairs in order (the phase modules return
        C(started)); each phase lasts until the next mark, the last one until now. Stored as C(phases).
    type: list
    elements: raw
    default: []
  version:
    description: The version deployed, for the audit line when no release exists.
    type: str
    default: ''
  keep:
    description:
      - How many release directories remain afterwards; V(0) keeps them all. The current release, the release before it
        (the quick rollback target, whose record names the backup a full rollback restores) and the release recorded are
        never removed, and count towards O(keep). With O(status=failed) the rollback target's own rollback target stays
        too, because once the automatic rollback has run it is the rollback target of current.
    type: int
    default: 5
  unlock_token:
    description: Release the deploy lock held with this token (only this run's lock is ever removed).
    type: str
    default: ''
  by:
    description: Who deploys, for the audit line.
    type: str
    default: ''
seealso:
  - module: aishield.ops.release_prepare
  - module: aishield.ops.release_lock
"""

EXAMPLES = r"""
- name: Mark the release good, prune, unlock
  aishield.ops.release_record:
    root: /opt/aishield
    project: aishield
    release_id: "{{ compose_deploy_release.release_id }}"
    status: good
    update:
      alembic: "{{ migration_result }}"
    keep: 5
    unlock_token: "{{ _compose_deploy_token }}"
"""

RETURN = r"""
record:
  description: The release record as written; with an empty O(release_id) and O(status=good), the record C(current) points at.
  returned: success
  type: dict
pruned:
  description: Release ids removed by O(keep).
  returned: always
  type: list
  elements: str
unlocked:
  description: Whether the deploy lock was released.
  returned: always
  type: bool
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils import _release as rel

_ALEMBIC_KEYS = ('before', 'after', 'heads', 'applied', 'chain')
_BACKUP_KEYS = ('skipped', 'reason', 'bucket', 'key', 'location', 'size', 'sha256', 'timestamp', 'seconds', 'retention')
_SMOKE_KEYS = ('summary', 'latency', 'endpoints')


def clean_update(update):
    """Only the facts a record keeps: registered module results carry much more (invocation, changed...)."""
    out = {}
    for key, value in (update or {}).items():
        if not isinstance(value, dict):
            out[key] = value
            continue
        allowed = {'alembic': _ALEMBIC_KEYS, 'backup': _BACKUP_KEYS, 'smoke': _SMOKE_KEYS}.get(key)
        out[key] = dict((k, v) for k, v in value.items() if allowed is None or k in allowed)
        if key == 'smoke' and isinstance(out[key].get('endpoints'), list):
            out[key]['endpoints'] = [e.get('name') if isinstance(e, dict) else e for e in out[key]['endpoints']]
    return out


def durations(marks, now):
    """{phase: seconds} from ordered [name, epoch] marks; the last phase runs until `now`."""
    clean = [(str(name), float(when)) for name, when in marks if when is not None]
    ends = [when for _name, when in clean[1:]] + [now]
    phases = {}
    for (name, started), ended in zip(clean, ends):
        phases[name] = round(phases.get(name, 0.0) + max(0.0, ended - started), 1)
    return phases


def main():
    spec = rel.release_argument_spec()
    spec.update(
        release_id=dict(type='str', default=''),
        status=dict(type='str', choices=['good', 'failed'], required=True),
        update=dict(type='dict', default={}),
        failure=dict(type='dict', default={}),
        marks=dict(type='list', elements='raw', default=[]),
        version=dict(type='str', default=''),
        keep=dict(type='int', default=5),
        unlock_token=dict(type='str', default='', no_log=False),
        by=dict(type='str', default=''),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    root = rel.Root(p['root'])
    now = rel.iso(rel.utc_now())
    result = {'changed': False, 'pruned': [], 'unlocked': False}
    record = {}
    if p['release_id']:
        try:
            path = root.record_path(p['release_id'])
            record = rel.read_json(path)
        except (rel.ReleaseError, OSError, ValueError) as exc:
            module.fail_json(msg='cannot read the record of release %s: %s' % (p['release_id'], exc), **result)
        before = dict(record)
        record.update(clean_update(p['update']))
        if p['marks']:
            record['phases'] = durations(p['marks'], time.time())
        record.update(status=p['status'], finished_at=now)
        if p['status'] == 'failed':
            failure = dict(p['failure'])
            failure['message'] = str(failure.get('message', ''))[:500]
            record['failure'] = failure
        same = dict((k, v) for k, v in before.items() if k != 'finished_at') == \
            dict((k, v) for k, v in record.items() if k != 'finished_at')
        result['record'] = record
        if not same:
            result['changed'] = True
            if not module.check_mode:
                rel.write_json(path, record)
    elif p['status'] == 'good':
        # Nothing to record (the release was unchanged): report the release that serves.
        result['record'] = rel.current_record(root)
    audit = {'time': now, 'by': p['by'], 'action': 'deploy', 'status': p['status'],
             'release_id': p['release_id'] or None, 'version': record.get('version') or p['version']}
    if p['status'] == 'good':
        audit['phases'] = record.get('phases', {})
    else:
        audit.update(phase=p['failure'].get('phase', '?'), task=p['failure'].get('task', '?'))
    if not module.check_mode and os.path.isdir(root.path) and (result['changed'] or (p['status'] == 'failed')):
        rel.append_audit(root, audit)
    # A failed release is pruned too, so a run of failures cannot pile up past `keep`; the failed
    # release, its rollback target and that target's own target stay (rel.protected_releases).
    if p['keep'] > 0 and not module.check_mode and os.path.isdir(root.releases):
        protect = rel.protected_releases(root, record, p['status'] == 'failed')
        result['pruned'] = rel.prune(root, p['keep'], protect)
        result['changed'] = result['changed'] or bool(result['pruned'])
    if p['unlock_token'] and not module.check_mode:
        result['unlocked'] = rel.release_lock(root, p['unlock_token'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
