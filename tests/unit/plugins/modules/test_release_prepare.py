# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import yaml

from ansible_collections.aishield.ops.plugins.modules.release_prepare import pins_override


def test_the_override_pins_each_service_to_its_image_keys_reference():
    pinned = {'api': 'r/api:v2@sha256:' + 'a' * 64, 'pg': 'r/pg:15@sha256:' + 'b' * 64}
    text = pins_override({'api': 'api', 'jobs': 'api', 'pg': 'pg'}, pinned)
    assert yaml.safe_load(text) == {'services': {'api': {'image': pinned['api']}, 'jobs': {'image': pinned['api']},
                                                 'pg': {'image': pinned['pg']}}}
