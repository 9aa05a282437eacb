# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The monitoring stack's plan: every file the monitoring role writes, from its settings.

A filter: the files are data the role writes with ansible.builtin.copy (check mode and diff for free). The
checks and the rules live in module_utils/_monitoring.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.module_utils._monitoring import alert_lines, build_plan


def monitoring_plan(settings):
    """Check the settings; return the plan or fail with every problem, each naming its variable."""
    plan, errors = build_plan(settings)
    if errors:
        raise AnsibleFilterError('The monitoring settings have %d problem%s; nothing was changed:\n- %s'
                                 % (len(errors), '' if len(errors) == 1 else 's', '\n- '.join(errors)))
    return plan


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
        return {'monitoring_plan': monitoring_plan, 'monitoring_alert_lines': monitoring_alert_lines}
