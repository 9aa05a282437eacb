# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import copy

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._stack import build_plan, compose_services

COMPOSE = [{'services': {'pg': {}, 'api': {}, 'jobs': {}, 'edge': {}}}]
IMAGES = {'pg': 'r/pg:15', 'api': 'r/api:v2', 'jobs': 'r/jobs:v1', 'edge': 'r/edge:v1'}
STACK = {
    'compose_files': ['compose.yml'],
    'services': {
        'api': {'role': 'web', 'port': 8080, 'health_path': '/healthz', 'migrate': True},
        'jobs': {'role': 'worker'},
        'pg': {'role': 'database', 'user': 'notes', 'name': 'notes'},
    },
    'smoke': {'checks': [{'name': 'notes', 'path': '/api/notes', 'expect': {'ok': True}}],
              'command': {'service': 'api', 'argv': ['python3', '-m', 'app.selfcheck']}},
}


def plan_of(**changes):
    stack = copy.deepcopy(STACK)
    images = changes.pop('images', IMAGES)
    documents = changes.pop('documents', COMPOSE)
    stack.update(changes)
    return build_plan(stack, documents, images=images)


def test_a_good_description_plans_every_part():
    plan = plan_of()
    assert plan['errors'] == []
    assert plan['services'] == ['pg', 'api', 'jobs', 'edge']  # the compose files' order
    assert plan['roll'] == ['api'] and plan['workers'] == ['jobs'] and plan['data'] == ['pg'] and plan['plain'] == ['edge']
    assert plan['database'] == {'service': 'pg', 'user': 'notes', 'name': 'notes'}
    assert plan['migrate'] == {'service': 'api', 'command': None}
    assert plan['web'] == {'api': {'port': 8080, 'health_path': '/healthz'}}
    # No .env variables: every service's image is pinned by the override file.
    assert plan['pins'] == {'pg': 'pg', 'api': 'api', 'jobs': 'jobs', 'edge': 'edge'}
    assert plan['pull'] == ['api', 'edge', 'jobs', 'pg']
    assert plan['smoke']['checks'] == [{'name': 'notes', 'url': '/api/notes', 'expect': {'ok': True}}]


def test_a_service_may_run_another_services_image():
    stack = copy.deepcopy(STACK)
    stack['services']['jobs']['image'] = 'api'
    images = dict(IMAGES)
    del images['jobs']
    plan = build_plan(stack, COMPOSE, images=images)
    assert plan['errors'] == []
    assert plan['image_of']['jobs'] == 'api' and plan['pins']['jobs'] == 'api'


@pytest.mark.parametrize('fleet_role, services, pull', [
    ('db', ['pg'], ['api', 'pg']),  # the db host migrates: it pulls the migration's image
    ('app', ['api', 'jobs', 'edge'], ['api', 'edge', 'jobs']),
])
def test_a_fleet_host_runs_and_pulls_its_part(fleet_role, services, pull):
    plan = build_plan(STACK, COMPOSE, images=IMAGES, fleet_role=fleet_role)
    assert plan['errors'] == []
    assert plan['host_services'] == services and plan['pull'] == pull
    assert sorted(plan['pins']) == sorted(services)


@pytest.mark.parametrize('change, expected', [
    # A role that names a service the compose files lack.
    ({'services': {'web': {'role': 'web', 'port': 80}}}, ['compose_deploy_stack.services.web', 'define no service web']),
    # An image for an unknown service.
    ({'images': dict(IMAGES, cron='r/cron:1')}, ['compose_deploy_images.cron names no service']),
    ({'images': {'api': 'r/api:v2'}}, ['compose_deploy_images.pg is missing']),
    # Two services claiming the migration.
    ({'services': {'api': {'role': 'web', 'port': 8080, 'migrate': True}, 'jobs': {'migrate': True},
                   'pg': {'role': 'database', 'user': 'u', 'name': 'n'}}},
     ['services.api and services.jobs all claim the migration']),
    # A smoke check without an expectation.
    ({'smoke': {'checks': [{'name': 'notes', 'path': '/api/notes'}]}}, ['smoke.checks[0] (notes) has no expectation']),
    ({'services': {'api': {'role': 'web'}}}, ['services.api.port must be the container port']),
    ({'services': {'api': {'role': 'frontend'}}}, ['services.api.role must be one of web, worker, database']),
    ({'services': {'pg': {'role': 'database'}}}, ['services.pg.user is required']),
    ({'services': {'api': {'migrate': True}}}, ['needs a database service']),
    ({'services': {'pg': {'role': 'database', 'user': 'u', 'name': 'n'}, 'api': {'role': 'database', 'user': 'u', 'name': 'n'}}},
     ['already the database service']),
    ({'compose_files': 'compose.yml'}, ['compose_files must list the compose files']),
    ({'smoke': {'checks': [{'path': '/a', 'status': [200]}], 'cmd': 'x'}}, ['smoke has unknown keys cmd']),
    ({'smoke': {'command': {'argv': 'true'}}}, ['smoke.command needs argv']),
    ({'smoke': {'command': {'argv': ['true'], 'service': 'cron'}}}, ['smoke.command.service', 'no service cron']),
    ({'smoke': {'command': {'argv': ['true'], 'shell': True}}}, ['smoke.command has unknown keys shell']),
    ({'image_variables': {'api': 'not a name'}}, ['image_variables must map image keys']),
    ({'env': {'not a name': 'x'}}, ['compose_deploy_stack.env must map .env variable names']),
    ({'env': {'NOTES_FLAGS': ['a']}}, ['compose_deploy_stack.env.NOTES_FLAGS must be a string or a number']),
    ({'url_safe_secrets': 'NOTES_DB_PASSWORD'}, ['url_safe_secrets must list secret names']),
    ({'fleet': ['compose.fleet.yml']}, ['compose_deploy_stack.fleet must be a mapping']),
])
def test_bad_input_names_the_variable(change, expected):
    plan = plan_of(**change)
    joined = ' | '.join(plan['errors'])
    for text in expected:
        assert text in joined, plan['errors']


def test_every_problem_is_reported_at_once():
    plan = plan_of(images={'api': 'r/api:v2', 'cron': 'x'}, smoke={'checks': [{'path': '/a'}]})
    assert len(plan['errors']) >= 4, plan['errors']  # pg, jobs, edge missing; cron unknown; the check


def test_image_variables_replace_the_override():
    plan = plan_of(image_variables={'api': 'API_IMAGE', 'unused': 'UNUSED_IMAGE'})
    assert plan['errors'] == []
    assert plan['image_variables'] == {'api': 'API_IMAGE'} and plan['pins'] == {}


def test_compose_services_merges_files_in_order():
    assert compose_services([{'services': {'a': {}, 'b': {}}}, {'services': {'b': {}, 'c': {}}}, None]) == ['a', 'b', 'c']


def test_env_and_url_safe_secrets_come_with_the_plan():
    plan = plan_of(env={'NOTES_PAGE_SIZE': 50, 'NOTES_DEBUG': False, 'NOTES_TITLE': 'Notes'},
                   url_safe_secrets=['NOTES_DB_PASSWORD'])
    assert plan['errors'] == []
    # .env holds strings: numbers as written, booleans as compose files compare them.
    assert plan['env'] == {'NOTES_PAGE_SIZE': '50', 'NOTES_DEBUG': 'false', 'NOTES_TITLE': 'Notes'}
    assert plan['url_safe_secrets'] == ['NOTES_DB_PASSWORD']
    # A description without them adds nothing to .env.
    assert plan_of()['env'] == {} and plan_of()['url_safe_secrets'] == []
