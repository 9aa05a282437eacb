# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Matches module_utils/_release.py release_argument_spec().
    DOCUMENTATION = r"""
options:
  root:
    description:
      - The deploy root on the managed host; it holds C(releases/), C(current), C(deploy.lock) and C(audit.log).
    type: path
    required: true
  project:
    description:
      - The Compose project name (lowercase letters, digits, C(_) and C(-)).
    type: str
    required: true
  docker_host:
    description:
      - The Docker daemon's unix socket.
    type: str
    default: unix:///var/run/docker.sock
"""
