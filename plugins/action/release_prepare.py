# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""aishield.ops.release_prepare with a line of pull progress every progress_interval seconds (see plugin_utils._progress_action)."""

from __future__ import annotations

from ansible_collections.aishield.ops.plugins.plugin_utils._progress_action import ProgressActionBase


def pull_closing(result):
    """The last line: the layer bytes the pulls downloaded, when they downloaded any."""
    if not result.get('failed') and result.get('pulled_bytes'):
        return {'bytes': result['pulled_bytes'], 'seconds': result.get('pull_seconds', 0), 'phase': 'pulled'}
    return None


class ActionModule(ProgressActionBase):
    progress_name = 'release_prepare'
    closing_progress = staticmethod(pull_closing)
