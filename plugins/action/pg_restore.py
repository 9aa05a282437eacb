# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""aishield.ops.pg_restore with a progress line every progress_interval seconds (see plugin_utils._progress_action)."""

from __future__ import annotations

from ansible_collections.aishield.ops.plugins.plugin_utils._progress_action import ProgressActionBase


class ActionModule(ProgressActionBase):
    progress_name = 'pg_restore'
