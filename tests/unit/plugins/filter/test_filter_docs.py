# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every filter has a sidecar doc whose options match the function it documents."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

FILTER_DIR = Path(__file__).resolve().parents[4] / 'plugins' / 'filter'
TOPICS = ('alembic', 'backup', 'dr_drill', 'fleet', 'health', 'image', 'monitoring', 'publish', 'release', 'stack', 'tls')
EXPECTED = {
    'alembic': {'alembic_heads', 'alembic_compare', 'alembic_rollback_check'},
    'backup': {'backup_key', 'gfs_retention', 'backup_latest'},
    'dr_drill': {'dr_drill_report'},
    'fleet': {'fleet_lb_backends', 'fleet_digest_refs', 'fleet_outcome', 'fleet_stop_reason', 'fleet_record',
              'fleet_rollback_to_errors', 'fleet_rollback_target', 'fleet_full_db_target', 'fleet_app_failure'},
    'health': {'health_summary'},
    'image': {'image_ref', 'image_pin'},
    'monitoring': {'monitoring_plan', 'monitoring_alert_lines', 'monitoring_secret_files'},
    'publish': {'publish_plan', 'publish_refs', 'publish_unreachable', 'publish_pushes', 'publish_digests', 'publish_result',
                'publish_report_lines', 'publish_secret_errors', 'publish_secret_values', 'publish_secret_files',
                'publish_build_secrets', 'publish_build_errors'},
    'release': {'release_id', 'release_id_parse', 'phase_durations', 'deploy_input_errors', 'release_whole_stack',
                'deploy_failure_notice', 'deploy_failure_text', 'release_update'},
    'stack': {'stack_plan', 'stack_parts'},
    'tls': {'tls_ca_file', 'tls_check'},
}


def _filters():
    for topic in TOPICS:
        module = importlib.import_module(f'ansible_collections.aishield.ops.plugins.filter.{topic}')
        for name, func in module.FilterModule().filters().items():
            yield topic, name, func


@pytest.mark.parametrize('topic', TOPICS)
def test_topics_export_expected_filters(topic):
    module = importlib.import_module(f'ansible_collections.aishield.ops.plugins.filter.{topic}')
    assert set(module.FilterModule().filters()) == EXPECTED[topic]


@pytest.mark.parametrize('topic, name, func', list(_filters()), ids=lambda v: v if isinstance(v, str) else '')
def test_sidecar_documents_the_signature(topic, name, func):
    doc = yaml.safe_load((FILTER_DIR / f'{name}.yml').read_text())
    documentation = doc['DOCUMENTATION']
    assert documentation['name'] == name
    assert documentation['short_description']
    assert documentation['version_added']
    assert isinstance(doc['EXAMPLES'], str) and f'aishield.ops.{name}' in doc['EXAMPLES']
    assert '_value' in doc['RETURN']

    params = list(inspect.signature(func).parameters.values())
    options = documentation['options']
    assert options['_input']['required'] is True
    assert set(options) - {'_input'} == {p.name for p in params[1:]}
    for param in params[1:]:
        if param.default is inspect.Parameter.empty:
            assert options[param.name].get('required') is True, param.name
        elif param.default is not None:
            assert options[param.name].get('default') == param.default, param.name

    positional = documentation.get('positional')
    if len(params) > 1:
        assert [p.strip() for p in positional.split(',')] == [p.name for p in params[1:]]
    else:
        assert positional is None
