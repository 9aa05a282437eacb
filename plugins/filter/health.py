# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One human line from an aishield.ops.health_check result."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# The module returns the same line as its summary: one implementation for both.
from ansible_collections.aishield.ops.plugins.module_utils._health import SummaryError
from ansible_collections.aishield.ops.plugins.module_utils._health import health_summary as _health_summary


def health_summary(result):
    """Summarise a health_check result as "N/M endpoints healthy; p95 X ms; FAILED: ..."."""
    try:
        return _health_summary(result)
    except SummaryError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """Health check summary filter."""

    def filters(self):
        return {
            'health_summary': health_summary,
        }
