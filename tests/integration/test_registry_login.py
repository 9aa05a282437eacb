# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Deploys pull with the registry login they are given, against a registry that requires one.

The test bed's 127.0.0.1:5001 (Debian docker-registry behind htpasswd) serves the same images
as 127.0.0.1:5000. Without credentials a pull there fails; deploy.yml with
aishield_registry_username/password passes its pre-flight lookup and pulls every image, and the
password is nowhere on disk or in the output afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import docker_available, files_holding, free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CREDENTIALS = Path(os.environ.get('TESTBED_STATE', '/var/tmp/aishield-testbed')) / 'registry-auth.json'

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
def login():
    if not docker_available():
        pytest.fail('no Docker engine answers: run tests/testbed/setup.sh')
    if not CREDENTIALS.exists():
        pytest.fail('%s is missing: run tests/testbed/setup.sh (services step)' % CREDENTIALS)
    return json.loads(CREDENTIALS.read_text())


@pytest.fixture(scope='module')
def stack(tmp_path_factory, login):
    tmp = tmp_path_factory.mktemp('regauth')
    project = 'aishield-regauth-' + secrets.token_hex(3)
    planted = {'POSTGRES_PASSWORD': 'pg' + secrets.token_hex(8), 'SECRET_KEY': 'sk' + secrets.token_hex(12),
               'ADMIN_PASSWORD': 'ad' + secrets.token_hex(8)}
    registry = login['registry']
    base = {
        'aishield_root': str(tmp / 'root'), 'aishield_project': project, 'aishield_secrets': planted,
        'aishield_http_port': free_port(), 'aishield_frontend_port': free_port(), 'aishield_backup_prefix': 'regauth',
        'aishield_registry': registry,
        'aishield_images': {'backend': registry + '/aishield/backend:v1', 'frontend': registry + '/aishield/frontend:v1',
                            'proxy': registry + '/aishield/proxy:v1', 'db': registry + '/aishield/postgres:15',
                            'redis': registry + '/aishield/redis:7'},
    }
    yield {'tmp': tmp, 'project': project, 'base': base, 'root': tmp / 'root'}
    subprocess.run(['docker', 'compose', '-p', project, 'down', '-v', '--remove-orphans'], capture_output=True,
                   timeout=180, check=False)


def _deploy(stack, extra, name):
    # The extra-vars file stands in for the vault: the one place the password may be.
    vault = stack['tmp'] / 'vault'
    vault.mkdir(mode=0o700, exist_ok=True)
    vars_file = vault / ('%s.yml' % name)
    vars_file.touch(mode=0o600)
    vars_file.write_text(yaml.safe_dump(dict(stack['base'], **extra)))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               PATH='%s:%s' % (BIN, os.environ['PATH']), ANSIBLE_LOCAL_TEMP=str(stack['tmp'] / 'ansible-tmp'))
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'playbooks/deploy.yml', '-i', 'inventories/local', '-vvv',
                           '-e', '@%s' % vars_file], cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_an_anonymous_pull_is_refused(stack, tmp_path, login):
    """The premise: this registry serves nothing without a login (an empty DOCKER_CONFIG, no stored login)."""
    proc = subprocess.run(['docker', 'pull', login['registry'] + '/aishield/redis:7'], capture_output=True, text=True,
                          timeout=120, check=False, env=dict(os.environ, DOCKER_CONFIG=str(tmp_path)))
    assert proc.returncode != 0 and 'no basic auth credentials' in proc.stderr, proc.stderr


def test_a_wrong_password_is_refused_before_anything_changes(stack, login):
    rc, out = _deploy(stack, {'aishield_registry_username': login['username'],
                              'aishield_registry_password': 'wrong-' + secrets.token_hex(6)}, 'wrong')
    assert rc != 0
    assert 'failed in phase preflight' in out and 'registry: not found or not reachable: %s' % login['registry'] in out
    assert not (stack['root'] / 'releases').exists() or not any((stack['root'] / 'releases').iterdir())


def test_the_deploy_pulls_with_the_login_and_leaves_no_credential_behind(stack, login):
    started = time.time()
    rc, out = _deploy(stack, {'aishield_registry_username': login['username'],
                              'aishield_registry_password': login['password']}, 'login')
    assert rc == 0, out[-4000:]
    release = json.loads((stack['root'] / 'current' / 'release.json').read_text())
    assert release['status'] == 'good'
    # Every image came from the login registry and is pinned to the digest that registry served.
    assert all(ref.startswith(login['registry'] + '/') and '@sha256:' in ref for ref in release['images'].values())
    running = subprocess.run(['docker', 'ps', '--filter', 'label=com.docker.compose.project=%s' % stack['project'],
                              '--format', '{{.Image}}'], capture_output=True, text=True, check=True).stdout.split()
    assert running and all(image.startswith(login['registry'] + '/') for image in running), running
    # The password went to the daemon in one request header per pull: in no output, no file of the run.
    assert login['password'] not in out
    # The release root, the user's docker config, and every file the run wrote under the temp directory
    # (the walk skips what vanishes under it: other lanes' Ansible temp dirs come and go).
    places = [stack['root'], Path.home() / '.docker', Path(os.environ.get('TMPDIR', '/tmp'))]
    vault = stack['tmp'] / 'vault'
    hits = files_holding({'registry password': login['password']}, places, since=started)
    left = sorted(path for path, _name in hits if vault not in Path(path).parents)
    assert not left, 'the registry password was left in %s' % left
