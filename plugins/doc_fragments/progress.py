# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # aishield.ops.progress: the options of a long transfer whose action plugin prints its progress
    # (plugins/plugin_utils/_progress_action.py).
    DOCUMENTATION = r"""
options:
  progress_interval:
    description:
      - Seconds between progress lines (bytes streamed, time so far, rate) in the play's output, printed by
        the action plugin while the module runs as an async job.
      - V(0) disables progress and runs the module directly. Check mode never uses it.
    type: int
    default: 5
    version_added: 0.4.0
  progress_file:
    description:
      - Internal, set by the action plugin; where the module rewrites its progress (byte counter and
        seconds only) about once a second. Leave unset.
    type: path
    version_added: 0.4.0
"""
