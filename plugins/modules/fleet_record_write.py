#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_record_write
short_description: Write the fleet record (fleet.json) unless only its time and runner changed
version_added: 0.1.0
description:
  - Writes O(record) as JSON (sorted keys, indented by two) to O(path), atomically (a temporary file beside it, then
    a rename), with O(mode).
  - The file is left alone when what is in it differs from O(record) only in C(time) and C(by) (when the run ended
    and who ran it) and its mode is right, so a fleet run that changed nothing changes nothing.
  - A file that is not a JSON object is replaced, with a warning.
  - Why not M(ansible.builtin.slurp) and M(ansible.builtin.copy)? The end of every fleet run did that on the db
    host, three module runs and a file transfer (slurp, then copy's stat, the transfer and copy itself), each
    starting Python on the host; this is one.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Says whether the file would change, and writes nothing.
  diff_mode:
    support: full
    details:
      - The file before and after, as JSON text.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    platforms: posix
options:
  path:
    description:
      - Where the record goes; an absolute path in an existing directory.
    type: path
    required: true
  record:
    description:
      - The record (the M(aishield.ops.fleet_record) filter's result).
    type: dict
    required: true
  mode:
    description:
      - The file's mode.
    type: raw
    default: '0644'
seealso:
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Write the fleet record on the db host (fleet.json)
  aishield.ops.fleet_record_write:
    path: /opt/aishield/fleet.json
    record: "{{ ansible_play_hosts_all | aishield.ops.fleet_record(hostvars, outcome, 'Fleet deploy of v2', who, now(utc=true).isoformat()) }}"
  delegate_to: "{{ groups['db'][0] }}"
  run_once: true
"""

RETURN = r"""
record:
  description: The record the file holds after the run (the one found, when only C(time) and C(by) differed).
  returned: always
  type: dict
  sample: {run: Fleet deploy of v2, outcome: good, uniform: true}
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aishield.ops.plugins.module_utils._release import parse_mode, same_fleet_record, write_atomic


def record_text(record):
    """The file's text for a record."""
    return json.dumps(record, indent=2, sort_keys=True) + '\n'


def read_found(path):
    """(text, parsed or None, mode) of the file at path; (None, None, None) when there is none."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            text = handle.read()
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None, None, None
    try:
        return text, json.loads(text), mode
    except ValueError:
        return text, None, mode


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            record=dict(type='dict', required=True),
            mode=dict(type='raw', default='0644'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    path = p['path']
    if not os.path.isabs(path):
        module.fail_json(msg='path must be an absolute path on the host (got %r); nothing was written' % path)
    if not os.path.isdir(os.path.dirname(path)):
        module.fail_json(msg='the directory of %s does not exist on this host: the fleet record goes in aishield_root, '
                             'which the deploy creates; nothing was written' % path)
    try:
        mode = parse_mode(p['mode'], 'mode')
    except ValueError as e:
        module.fail_json(msg='%s; nothing was written' % e)

    text, found, found_mode = read_found(path)
    if text is not None and not isinstance(found, dict):
        module.warn('%s held no JSON object; it is replaced by this run\'s record' % path)
    keep = same_fleet_record(found, p['record'])
    record = found if keep else p['record']
    new_text = text if keep else record_text(record)
    changed = new_text != text or found_mode != mode
    result = dict(changed=changed, record=record)
    if module._diff:
        result['diff'] = {'before_header': path, 'after_header': path, 'before': text or '', 'after': new_text}
    if changed and not module.check_mode:
        try:
            write_atomic(path, new_text, mode)
        except OSError as e:
            module.fail_json(msg='writing the fleet record %s failed: %s' % (path, e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
