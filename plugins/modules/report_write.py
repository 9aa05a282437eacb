#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: report_write
short_description: Write a report as JSON and Markdown, stamped and as the latest, in one call
version_added: 0.1.0
description:
  - Writes four files in O(dir), which gets O(dir_mode) and is created when it is missing
    (C(<name>-<stamp>.json), C(<name>-<stamp>.md), C(<name>-latest.json), C(<name>-latest.md)), each replaced
    atomically (a temporary file in O(dir), then a rename) with O(mode), and owned by the user the task runs as.
  - A file whose content and mode are already right is left alone.
  - Why not M(ansible.builtin.file) and a loop of M(ansible.builtin.copy)? That is nine module runs per report
    (copy stats the destination, then writes it), each starting Python and loading its module_utils again on
    the host; the maintenance reports (daily, weekly, monthly, the DR drill) write one each time they run.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Says which files would change, and writes none.
  diff_mode:
    support: full
    details:
      - The diff is that of C(<name>-latest.md) (the previous report against this one).
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    platforms: posix
options:
  dir:
    description:
      - The directory that holds the reports; an absolute path.
    type: path
    required: true
  name:
    description:
      - The report's name (letters, digits, C(_) and C(-)), the start of each file's name.
    type: str
    required: true
  stamp:
    description:
      - When the report was made, in the file names (C(20260131T235959Z)); letters, digits, C(T) and C(Z) only.
    type: str
    required: true
  json:
    description:
      - The report as JSON text.
    type: str
    required: true
  markdown:
    description:
      - The report as Markdown text.
    type: str
    required: true
  mode:
    description:
      - The files' mode.
    type: raw
    default: '0640'
  dir_mode:
    description:
      - The directory's mode (set on an existing directory too, as M(ansible.builtin.file) would).
    type: raw
    default: '0750'
seealso:
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Write the daily report
  aishield.ops.report_write:
    dir: /opt/aishield/reports
    name: daily
    stamp: "{{ now(utc=true).strftime('%Y%m%dT%H%M%SZ') }}"
    json: "{{ report | to_nice_json }}"
    markdown: "{{ report | aishield.ops.maintenance_report_markdown }}"
"""

RETURN = r"""
path:
  description: The stamped Markdown report.
  returned: always
  type: str
  sample: /opt/aishield/reports/daily-20260131T235959Z.md
files:
  description: Every file of the report, and whether this run wrote it.
  returned: always
  type: list
  elements: dict
  sample: [{path: /opt/aishield/reports/daily-latest.md, changed: true}]
"""

import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aishield.ops.plugins.module_utils._release import file_state, parse_mode, write_atomic

NAME_RE = re.compile(r'^[A-Za-z0-9_-]+$')
STAMP_RE = re.compile(r'^[0-9A-Za-z]+$')


def report_files(directory, name, stamp, json_text, markdown):
    """[(path, content)] of a report, stamped then latest."""
    base = os.path.join(directory, '%s-%s' % (name, stamp))
    latest = os.path.join(directory, '%s-latest' % name)
    return [(base + '.json', json_text), (base + '.md', markdown), (latest + '.json', json_text), (latest + '.md', markdown)]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type='path', required=True),
            name=dict(type='str', required=True),
            stamp=dict(type='str', required=True),
            json=dict(type='str', required=True),
            markdown=dict(type='str', required=True),
            mode=dict(type='raw', default='0640'),
            dir_mode=dict(type='raw', default='0750'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not os.path.isabs(p['dir']):
        module.fail_json(msg='dir must be an absolute path on the host (got %r); nothing was written' % p['dir'])
    if not NAME_RE.match(p['name']):
        module.fail_json(msg='name must be a plain name such as daily: letters, digits, _ and - (got %r); '
                             'nothing was written' % p['name'])
    if not STAMP_RE.match(p['stamp']):
        module.fail_json(msg='stamp must be letters and digits such as 20260131T235959Z (got %r); '
                             'nothing was written' % p['stamp'])
    try:
        mode = parse_mode(p['mode'], 'mode')
        dir_mode = parse_mode(p['dir_mode'], 'dir_mode')
    except ValueError as e:
        module.fail_json(msg='%s; nothing was written' % e)

    files = report_files(p['dir'], p['name'], p['stamp'], p['json'], p['markdown'])
    make_dir = not os.path.isdir(p['dir'])
    fix_dir = not make_dir and stat.S_IMODE(os.stat(p['dir']).st_mode) != dir_mode
    # Each file's (content, mode) now, and whether this run writes it (other content, or another mode).
    found = {path: (None, None) if make_dir else file_state(path)[:2] for path, _text in files}
    writes = {path: found[path] != (text.encode('utf-8'), mode) for path, text in files}
    latest_md, latest_md_text = files[3]

    changed = make_dir or fix_dir or any(writes.values())
    result = dict(changed=changed, path=files[1][0], files=[{'path': path, 'changed': writes[path]} for path, _t in files])
    if module._diff:
        result['diff'] = {'before_header': latest_md, 'after_header': latest_md,
                          'before': (found[latest_md][0] or b'').decode('utf-8', 'replace'), 'after': latest_md_text}
    if module.check_mode or not changed:
        module.exit_json(**result)
    try:
        if make_dir:
            os.makedirs(p['dir'], exist_ok=True)
        if make_dir or fix_dir:
            os.chmod(p['dir'], dir_mode)
        for path, text in files:
            if writes[path]:
                write_atomic(path, text, mode)
    except OSError as e:
        module.fail_json(msg='writing the %s report in %s failed: %s' % (p['name'], p['dir'], e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
