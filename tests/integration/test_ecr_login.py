# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ecr_login through ansible-playbook against moto_server's ECR API (no Docker needed)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite('s3_fixtures')
from s3_fixtures import AWS_ACCESS_KEY, AWS_REGION, AWS_SECRET_KEY  # noqa: E402  pylint: disable=wrong-import-position

pytest_plugins = ['s3_fixtures']
pytestmark = pytest.mark.integration

ACCOUNT = '123456789012'
# moto's token for a registry is "AWS:<registry id>-auth-token".
MOTO_PASSWORD = ACCOUNT + '-auth-token'
REGISTRY = '%s.dkr.ecr.%s.amazonaws.com' % (ACCOUNT, AWS_REGION)


def login_task(endpoint, name='login', no_log=True, **extra):
    args = {'endpoint_url': endpoint}
    args.update(extra)
    task = {'name': name, 'aishield.ops.ecr_login': args, 'register': 'ecr'}
    if no_log:
        task['no_log'] = True
    return task


def show(name, expr):
    return {'name': name, 'ansible.builtin.debug': {'msg': '{{ %s }}' % expr}}


@pytest.mark.parametrize('verbosity', [0, 3])
def test_login_feeds_the_next_task_without_printing_the_password(moto_endpoint, aws_env, ansible_playbook,
                                                                 verbosity):
    run = ansible_playbook([
        login_task(moto_endpoint),
        show('registry', 'ecr.registry'),
        show('username', 'ecr.username'),
        # What docker_login would receive, compared in the play so the value itself is never printed.
        show('usable', "ecr.password == '%s'" % MOTO_PASSWORD),
        show('expires', 'ecr.expires_at'),
    ], verbosity=verbosity, env=aws_env)
    assert run.rc == 0, run.output
    assert run['registry']['msg'] == REGISTRY
    assert run['username']['msg'] == 'AWS'
    assert run['usable']['msg'] is True
    assert run['expires']['msg'].endswith('Z')
    assert MOTO_PASSWORD not in run.output
    assert AWS_SECRET_KEY not in run.output
    assert run['login'].get('censored'), 'no_log must hide the whole login result'


def test_without_no_log_the_password_is_masked_and_a_warning_says_why(moto_endpoint, ansible_playbook):
    run = ansible_playbook([login_task(moto_endpoint, no_log=False, region=AWS_REGION, access_key=AWS_ACCESS_KEY,
                                       secret_key=AWS_SECRET_KEY)], verbosity=3)
    assert run.rc == 0, run.output
    result = run['login']
    assert result['registry'] == REGISTRY and result['username'] == 'AWS'
    assert result['password'] != MOTO_PASSWORD
    assert MOTO_PASSWORD not in run.output and AWS_SECRET_KEY not in run.output
    assert 'no_log: true' in run.output


def test_registry_ids_and_check_mode(moto_endpoint, aws_env, ansible_playbook):
    run = ansible_playbook([
        login_task(moto_endpoint, registry_ids=['111111111111', '222222222222']),
        show('registries', "ecr.registries | map(attribute='registry') | list"),
        show('first', 'ecr.registry'),
    ], check=True, env=aws_env)
    assert run.rc == 0, run.output
    assert run['registries']['msg'] == ['111111111111.dkr.ecr.%s.amazonaws.com' % AWS_REGION,
                                        '222222222222.dkr.ecr.%s.amazonaws.com' % AWS_REGION]
    assert run['first']['msg'] == '111111111111.dkr.ecr.%s.amazonaws.com' % AWS_REGION
    assert '111111111111-auth-token' not in run.output


def test_missing_region_fails_clearly(moto_endpoint, ansible_playbook):
    run = ansible_playbook([dict(login_task(moto_endpoint, no_log=False, access_key=AWS_ACCESS_KEY,
                                            secret_key=AWS_SECRET_KEY), ignore_errors=True)],
                           env={'AWS_REGION': '', 'AWS_DEFAULT_REGION': '', 'AWS_CONFIG_FILE': '/nonexistent'})
    result = run['login']
    assert result.get('failed') and 'GetAuthorizationToken failed' in result['msg']
    assert AWS_SECRET_KEY not in run.output
