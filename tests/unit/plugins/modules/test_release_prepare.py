# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
import yaml

from ansible_collections.aishield.ops.plugins.modules.release_prepare import Prepare, pins_override


def test_the_override_pins_each_service_to_its_image_keys_reference():
    pinned = {'api': 'r/api:v2@sha256:' + 'a' * 64, 'pg': 'r/pg:15@sha256:' + 'b' * 64}
    text = pins_override({'api': 'api', 'jobs': 'api', 'pg': 'pg'}, pinned)
    assert yaml.safe_load(text) == {'services': {'api': {'image': pinned['api']}, 'jobs': {'image': pinned['api']},
                                                 'pg': {'image': pinned['pg']}}}


class Failed(Exception):
    pass


class FakeModule:
    check_mode = False

    def __init__(self, root):
        self.params = {'root': root, 'docker_host': None}

    def fail_json(self, **result):
        raise Failed(result)


def test_a_failure_after_the_plan_replaces_its_message(tmp_path):
    """start_data fails after the result already says "New release ...": the failure must still be reported."""
    prepare = Prepare(FakeModule(str(tmp_path)))
    prepare.result.update(msg='New release r1 (v1), first release on this host.', release_id='r1')
    with pytest.raises(Failed) as failed:
        prepare.fail('Starting the data services db of release r1 failed: port is already allocated')
    result = failed.value.args[0]
    assert result['msg'] == 'Starting the data services db of release r1 failed: port is already allocated'
    assert result['release_id'] == 'r1' and 'finished' in result
