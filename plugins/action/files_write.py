# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""aishield.ops.files_write: reads each file's src on the controller, then runs the module once on the host."""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _with_sources(self, files):
        """files with each src replaced by the text of that file on the controller."""
        out = []
        for item in files or []:
            if isinstance(item, dict) and item.get('src') is not None:
                item = dict(item)
                src = item.pop('src')
                if item.get('content') is not None:
                    raise AnsibleError('files[%s]: give content or src, not both' % item.get('path'))
                found = self._find_needle('files', src)
                with open(found, encoding='utf-8') as handle:
                    item['content'] = handle.read()
            out.append(item)
        return out

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            args['files'] = self._with_sources(args.get('files'))
        except (AnsibleError, OSError, UnicodeDecodeError) as e:
            result.update(failed=True, msg='files_write: %s; nothing was written' % e)
            return result
        result.update(self._execute_module(module_name='aishield.ops.files_write', module_args=args, task_vars=task_vars))
        return result
