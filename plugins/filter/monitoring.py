# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The monitoring stack's plan: every file the monitoring role writes, from its settings.

A filter: the files are data the role writes with aishield.ops.files_write in one module run (check mode and diff
from the module). The checks and the rules live in module_utils/_monitoring.py; the YAML is written here, on the
controller, as to_nice_yaml(indent=2, sort_keys=false) writes it.
"""

from __future__ import annotations

import yaml

from ansible.errors import AnsibleFilterError
from ansible.parsing.yaml.dumper import AnsibleDumper

from ansible_collections.aishield.ops.plugins.module_utils._monitoring import alert_lines, build_plan, fill_secrets, write_set


def _yaml(data):
    return yaml.dump(data, Dumper=AnsibleDumper, indent=2, allow_unicode=True, default_flow_style=False, sort_keys=False)


def monitoring_plan(settings):
    """Check the settings; return the plan or fail with every problem, each naming its variable."""
    plan, errors = build_plan(settings)
    if errors:
        raise AnsibleFilterError('The monitoring settings have %d problem%s; nothing was changed:\n- %s'
                                 % (len(errors), '' if len(errors) == 1 else 's', '\n- '.join(errors)))
    plan['write'] = write_set(plan, settings, _yaml)
    return plan


def monitoring_secret_files(plan, values, webhook_url=''):
    """The plan's secret files with their content, for files_write's secret_files (used in the task's arguments only,
    never kept in a fact)."""
    missing = sorted(set(item['secret'] for item in plan['write']['secret_files'] if 'secret' in item) - set(values or {}))
    if missing:
        raise AnsibleFilterError('monitoring_secret_files: no value for %s' % ', '.join(missing))
    return fill_secrets(plan['write']['secret_files'], values, webhook_url)


def monitoring_alert_lines(alerts, loaded=None, receiver='none'):
    """The alerts as lines for a human; with Prometheus's rules answer, fail when an enabled rule is not loaded."""
    lines, missing = alert_lines(alerts, loaded, receiver)
    if missing:
        raise AnsibleFilterError('Prometheus does not run %s: it did not load the rules file; see its log '
                                 '(docker compose logs prometheus in monitoring_root).' % ', '.join(missing))
    return lines


class FilterModule:
    """Monitoring filters."""

    def filters(self):
        return {'monitoring_plan': monitoring_plan, 'monitoring_alert_lines': monitoring_alert_lines,
                'monitoring_secret_files': monitoring_secret_files}
