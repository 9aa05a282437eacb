# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make the checkout importable as ansible_collections.aishield.ops."""

from __future__ import annotations

import sys
from pathlib import Path

# .collections/ansible_collections/aishield/ops is a committed symlink to the repo root.
_COLLECTIONS = Path(__file__).resolve().parents[2] / '.collections'

if str(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(_COLLECTIONS))
