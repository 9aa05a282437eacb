# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.stack import FilterModule, stack_parts, stack_plan

COMPOSE = 'services:\n  db: {}\n  backend: {}\n  worker: {}\n'
STACK = {'compose_files': ['/srv/app/deploy/compose.prod.yml'],
         'services': {'db': {'role': 'database', 'user': 'a', 'name': 'a'}, 'backend': {'role': 'web', 'port': 8000}}}
IMAGES = {'db': 'r/db:1', 'backend': 'r/b:2', 'worker': 'r/w:2'}


def test_the_filter_is_registered():
    assert FilterModule().filters()['stack_plan'] is stack_plan


def test_files_are_named_by_their_base_name():
    plan = stack_plan(STACK, [COMPOSE], images=IMAGES)
    assert plan['errors'] == []
    assert plan['compose_files'] == [{'name': 'compose.prod.yml', 'content': COMPOSE}]
    assert plan['workers'] == [] and plan['plain'] == ['worker']


def test_a_file_that_is_not_yaml_is_an_error():
    plan = stack_plan(STACK, ['services: [unclosed'], images=IMAGES)
    assert any('compose.prod.yml is not YAML' in e for e in plan['errors']), plan['errors']


def test_two_files_with_one_name_are_refused():
    stack = dict(STACK, compose_files=['a/compose.yml', 'b/compose.yml'])
    plan = stack_plan(stack, [COMPOSE, COMPOSE], images=IMAGES)
    assert any('two files share a name' in e for e in plan['errors'])


def test_the_deprecated_role_variables_still_apply():
    plan = stack_plan(STACK, [COMPOSE], images=IMAGES, legacy={'compose_deploy_worker_services': ['worker'],
                                                               'compose_deploy_roll_services': None})
    assert plan['errors'] == [] and plan['workers'] == ['worker']


def test_texts_must_match_the_files():
    with pytest.raises(AnsibleFilterError, match='1 compose_files texts'):
        stack_plan(dict(STACK, compose_files=['a.yml', 'b.yml']), [COMPOSE])


def test_stack_parts_reads_the_database_and_the_writers():
    stack = {'services': {'pg': {'role': 'database', 'user': 'u', 'name': 'n'}, 'api': {'role': 'web', 'port': 1},
                          'jobs': {'role': 'worker'}, 'edge': None}}
    stack['services']['api'].update(health_path='/healthz', migrate=True)
    expected = {'database': {'service': 'pg', 'user': 'u', 'name': 'n'}, 'writers': ['api', 'jobs'], 'health_path': '/healthz',
                'migrate_service': 'api', 'fleet_required_secrets': [], 'services': ['pg', 'api', 'jobs', 'edge']}
    assert stack_parts(stack, {'writers': ['backend']}) == expected
    stack['fleet'] = {'required_secrets': ['CACHE_PASSWORD']}
    assert stack_parts(stack)['fleet_required_secrets'] == ['CACHE_PASSWORD']


def test_stack_parts_of_an_empty_description_is_the_fallback():
    fallback = {'database': {'service': 'db', 'user': 'a', 'name': 'a'}, 'writers': ['backend', 'worker'],
                'health_path': '/api/v1/health', 'migrate_service': 'backend', 'fleet_required_secrets': ['REDIS_PASSWORD'],
                'services': ['db', 'backend', 'worker']}
    assert stack_parts({}, fallback) == fallback
    with pytest.raises(AnsibleFilterError, match='aishield_stack must be a mapping'):
        stack_parts({'compose_files': []})


FLEET = 'services:\n  db:\n    ports: ["${AISHIELD_DATA_PUBLISH_ADDRESS}:5432:5432"]\n'


def test_fleet_files_come_with_the_plan():
    stack = dict(STACK, fleet={'compose_files': ['/srv/app/deploy/compose.fleet.yml'], 'required_secrets': ['DB_TLS_KEY']})
    plan = stack_plan(stack, [COMPOSE], images=IMAGES, fleet_contents=[FLEET])
    assert plan['errors'] == []
    assert plan['fleet'] == {'compose_files': [{'name': 'compose.fleet.yml', 'content': FLEET}],
                             'required_secrets': ['DB_TLS_KEY']}
    # Without fleet files the plan has none: a single host copies only the stack's own files.
    assert stack_plan(STACK, [COMPOSE], images=IMAGES)['fleet'] == {'compose_files': [], 'required_secrets': []}


@pytest.mark.parametrize('fleet, contents, expected', [
    # A fleet file may only add to the stack's own services.
    ({'compose_files': ['f.yml']}, ['services:\n  cache: {}\n'], 'f.yml names service cache'),
    ({'compose_files': ['f.yml']}, ['services: [unclosed'], 'f.yml is not YAML'),
    # Copied into the release by name, beside the stack's own files.
    ({'compose_files': ['x/compose.prod.yml']}, [FLEET], 'two files share a name'),
    ({'compose_files': ['f.yml'], 'secrets': ['X']}, [FLEET], 'fleet has unknown keys secrets'),
    ({'required_secrets': 'REDIS_PASSWORD'}, [], 'fleet.required_secrets must list secret names'),
])
def test_bad_fleet_settings_are_refused(fleet, contents, expected):
    plan = stack_plan(dict(STACK, fleet=fleet), [COMPOSE], images=IMAGES, fleet_contents=contents)
    assert any(expected in e for e in plan['errors']), plan['errors']
