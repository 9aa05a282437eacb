#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: files_write
short_description: Write a set of directories and files in one call, checking each changed file before it lands
version_added: 0.1.0
description:
  - Creates O(directories), then writes O(files) and O(secret_files), each replaced atomically (a temporary file
    beside it, then a rename) with its mode and owner. A file or directory already right is left alone.
  - A changed file with a C(validate) command is checked first, on a copy in a temporary directory, and every check
    runs before the first file is written - a file that fails its check stops the run with nothing of it (or of any
    other file) written.
  - O(secret_files) are never shown, in the diff or anywhere else; their diff entries name the file only.
  - Bad input (a relative O(root), a path listed twice, a bad mode, a file whose directory neither exists nor is in
    O(directories)) is refused before anything is written.
  - Why not M(ansible.builtin.file) and loops of M(ansible.builtin.copy)? The monitoring role wrote about twenty
    files that way, each a module run or two (copy stats the destination, then writes it), each starting Python and
    loading its module_utils again on the host (13.6 s of an 18.6 s rerun that changed nothing).
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: An action plugin runs on the controller first.
    support: full
    details:
      - The action plugin reads each C(src) on the controller (a role's C(files/) directory, as
        M(ansible.builtin.copy) looks for it) and sends its content.
  check_mode:
    support: full
    details:
      - Says which files and directories would change, and writes none. The C(validate) commands are not run (their
        images may not be on the host yet), as M(ansible.builtin.copy) does not run its own.
  diff_mode:
    support: full
    details:
      - One entry per changed file, its old and new text; a secret file's entry names it only.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    platforms: posix
options:
  root:
    description:
      - The directory relative paths are under; an absolute path. It is not created unless O(directories) lists it
        (as an empty path or as O(root) itself).
    type: path
    required: true
  directories:
    description:
      - Directories to create (with their parents) and give a mode and owner, in this order.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Relative to O(root), or absolute; an empty path is O(root) itself.
        type: str
        required: true
      mode:
        description: An octal mode such as C(0755).
        type: raw
        default: '0755'
      owner:
        description: A numeric user id; the user the task runs as when left out.
        type: int
  files:
    description:
      - Files to write. Each has C(content), or C(src) (read by the action plugin on the controller).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Relative to O(root), or absolute.
        type: str
        required: true
      content:
        description: The file's text.
        type: str
      src:
        description: A file on the controller whose text this file gets; a relative path is looked up as
          M(ansible.builtin.copy) looks up its C(src) (the role's C(files/) directory first).
        type: str
      mode:
        description: An octal mode such as C(0644).
        type: raw
        default: '0644'
      owner:
        description: A numeric user id; the user the task runs as when left out.
        type: int
      validate:
        description:
          - A command (a list of arguments, run without a shell) that checks the new text before it lands. One
            argument holds C(%s), which becomes the path of a copy of the new file. A non-zero exit stops the run
            with nothing written.
        type: list
        elements: str
  secret_files:
    description:
      - Like O(files), but the content is a secret - never in the diff, the result or a log line. No C(src).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Relative to O(root), or absolute.
        type: str
        required: true
      content:
        description: The file's text.
        type: str
        required: true
      mode:
        description: An octal mode such as C(0400).
        type: raw
        default: '0400'
      owner:
        description: A numeric user id; the user the task runs as when left out.
        type: int
      validate:
        description: As for O(files); its output is not shown when it fails (it could quote the secret).
        type: list
        elements: str
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Write the monitoring project's files
  aishield.ops.files_write:
    root: /opt/aishield-monitoring
    directories:
      - {path: ""}
      - {path: prometheus/rules}
      - {path: postgres/secrets, mode: "0500", owner: 65534}
    files:
      - path: prometheus/prometheus.yml
        content: "{{ prometheus_config | to_nice_yaml }}"
        validate: [docker, run, --rm, --network, none, -v, "%s:/check.yml:ro", --entrypoint, /bin/promtool,
                   prom/prometheus, check, config, /check.yml]
      - {path: exporters/container_exporter.py, src: container_exporter.py}
    secret_files:
      - {path: postgres/secrets/postgres_password, content: "{{ vault_pg_password }}", owner: 65534}
  register: written
"""

RETURN = r"""
changed_files:
  description: The paths (as given) of the files this run wrote, or would write in check mode.
  returned: always
  type: list
  elements: str
  sample: [prometheus/rules/aishield.yml]
changed_directories:
  description: The paths (as given) of the directories this run created or whose mode or owner it set.
  returned: always
  type: list
  elements: str
  sample: [prometheus/rules]
"""

import os
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aishield.ops.plugins.module_utils._release import file_state, parse_mode, write_atomic

ENTRY = dict(path=dict(type='str', required=True), mode=dict(type='raw'), owner=dict(type='int'))


def full_path(root, path):
    return os.path.normpath(os.path.join(root, path)) if path else root


def check_entries(root, directories, files, secret_files):
    """The entries with absolute paths and parsed modes; ValueError naming the first bad one."""
    if not os.path.isabs(root):
        raise ValueError('root must be an absolute path on the host (got %r)' % root)
    dirs, out, seen = [], [], set()
    for item in directories:
        dirs.append(dict(item, full=full_path(root, item['path']), mode=parse_mode(item['mode'], 'directories[%s].mode' % item['path'])))
    for secret, items in ((False, files), (True, secret_files)):
        kind = 'secret_files' if secret else 'files'
        for item in items:
            where = '%s[%s]' % (kind, item['path'])
            if not item['path'] or item['path'].endswith('/'):
                raise ValueError('%s: path must name a file (got %r)' % (kind, item['path']))
            full = full_path(root, item['path'])
            if full in seen:
                raise ValueError('%s: %s is listed twice' % (where, full))
            seen.add(full)
            if item.get('content') is None:
                raise ValueError('%s: content is missing (or src, read on the controller)' % where)
            validate = item.get('validate')
            if validate is not None and sum('%s' in arg for arg in validate) != 1:
                raise ValueError('%s.validate: exactly one argument must hold %%s (the path of the file to check)' % where)
            out.append(dict(item, full=full, mode=parse_mode(item['mode'], where + '.mode'), secret=secret))
    return dirs, out


def current_file(path):
    """(bytes, mode, uid) of the file at path, or (None, None, None) when there is none."""
    try:
        return file_state(path)
    except IsADirectoryError:
        raise ValueError('%s is a directory, not a file' % path) from None


def needs(found_mode, found_uid, mode, owner):
    """Whether a mode or owner must be set on what exists."""
    return found_mode != mode or (owner is not None and found_uid != owner)


def plan_directories(dirs):
    """The directories to create or fix, in order."""
    todo = []
    for item in dirs:
        try:
            info = os.stat(item['full'])
        except FileNotFoundError:
            todo.append(dict(item, create=True))
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise ValueError('directories[%s]: %s exists and is not a directory' % (item['path'], item['full']))
        if needs(stat.S_IMODE(info.st_mode), info.st_uid, item['mode'], item.get('owner')):
            todo.append(dict(item, create=False))
    return todo


def check_parents(file_todo, dirs):
    """Every file to write lands in a directory that exists or that this run creates; ValueError naming the first
    that would not (checked before anything is written)."""
    made = set(item['full'] for item in dirs)
    for item, _data, _content_changes in file_todo:
        parent = os.path.dirname(item['full'])
        if parent not in made and not os.path.isdir(parent):
            raise ValueError('%s: its directory %s does not exist; list it in directories' % (item['path'], parent))


def plan_files(files):
    """(file, found bytes, whether the content changes) for every file that needs a write or a mode/owner fix."""
    todo = []
    for item in files:
        data, mode, uid = current_file(item['full'])
        new = item['content'].encode('utf-8')
        if data != new or needs(mode, uid, item['mode'], item.get('owner')):
            todo.append((item, data, data != new))
    return todo


def set_mode_owner(path, mode, owner):
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, owner, -1)


def validate_argv(validate, path):
    return [arg.replace('%s', path) for arg in validate]


def diff_entry(item, before):
    if item['secret']:
        return {'before_header': item['full'], 'after_header': item['full'],
                'before': '', 'after': '(a secret file: its content is not shown)\n'}
    return {'before_header': item['full'], 'after_header': item['full'],
            'before': (before or b'').decode('utf-8', 'replace'), 'after': item['content']}


def main():
    file_spec = dict(ENTRY, mode=dict(type='raw', default='0644'), content=dict(type='str'), src=dict(type='str'),
                     validate=dict(type='list', elements='str'))
    secret_spec = dict(ENTRY, mode=dict(type='raw', default='0400'), content=dict(type='str', required=True, no_log=True),
                       validate=dict(type='list', elements='str'))
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type='path', required=True),
            directories=dict(type='list', elements='dict', default=[],
                             options=dict(ENTRY, mode=dict(type='raw', default='0755'))),
            files=dict(type='list', elements='dict', default=[], options=file_spec),
            # The content suboption is no_log; the paths, modes and owners may be shown.
            secret_files=dict(type='list', elements='dict', default=[], options=secret_spec, no_log=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        dirs, files = check_entries(p['root'], p['directories'], p['files'], p['secret_files'])
        dir_todo = plan_directories(dirs)
        file_todo = plan_files(files)
        check_parents(file_todo, dirs)
    except ValueError as e:
        module.fail_json(msg='%s; nothing was written' % e)

    result = dict(changed=bool(dir_todo or file_todo), changed_directories=[d['path'] for d in dir_todo],
                  changed_files=[item['path'] for item, _data, _new in file_todo])
    if module._diff:
        result['diff'] = [diff_entry(item, data) for item, data, content_changes in file_todo if content_changes]
    if module.check_mode or not result['changed']:
        module.exit_json(**result)

    # Every check first, on copies: a file that fails its check leaves nothing written.
    checks = [(item, item['validate']) for item, _data, content_changes in file_todo if content_changes and item.get('validate')]
    if checks:
        scratch = tempfile.mkdtemp(prefix='files-write-', dir=module.tmpdir)
        try:
            for item, validate in checks:
                copy = os.path.join(scratch, os.path.basename(item['full']))
                write_atomic(copy, item['content'], 0o600)
                rc, out, err = module.run_command(validate_argv(validate, copy))
                if rc != 0:
                    why = 'its output is not shown: the file holds a secret' if item['secret'] else (err or out).strip()[-2000:]
                    result.update(changed=False, msg='%s failed its check (%s exited %d): %s; nothing was written'
                                  % (item['full'], validate[0], rc, why))
                    module.fail_json(**result)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    try:
        for item in dir_todo:
            if item['create']:
                os.makedirs(item['full'], exist_ok=True)
            set_mode_owner(item['full'], item['mode'], item.get('owner'))
        for item, _data, content_changes in file_todo:
            if content_changes:
                write_atomic(item['full'], item['content'], item['mode'], owner=item.get('owner'))
            else:
                set_mode_owner(item['full'], item['mode'], item.get('owner'))
    except OSError as e:
        module.fail_json(msg='writing under %s failed: %s (setting an owner needs root: become)' % (p['root'], e), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
