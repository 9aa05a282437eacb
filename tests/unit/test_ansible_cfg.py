# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""SSH host keys are checked: ansible.cfg keeps host_key_checking on, and nothing that reaches the
prod, staging or fleet hosts turns it off (their inventories, the playbooks, roles and AWX definitions).

Without the check, the first connection to a host, or a host whose key changed, is trusted
blindly: a man in the middle would get the deploy user's session and every secret the run sends.
Test inventories that connect over SSH opt out for themselves (today none does: they use the local
or the docker connection).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORIES = ('prod', 'staging', 'fleet')
# fleet reads prod's vaulted secrets (group_vars links), so prod's example password opens all three.
VAULT_PASS = {'prod': 'prod', 'staging': 'staging', 'fleet': 'prod'}
# What turns the check off: Ansible's setting as a variable or environment variable, or OpenSSH options.
DISABLES = re.compile(r'host_key_checking|StrictHostKeyChecking\W+(no|off)\b|UserKnownHostsFile\W+/dev/null', re.I)
SSH_ARG_VARS = ('ansible_ssh_common_args', 'ansible_ssh_extra_args', 'ansible_ssh_args', 'ansible_scp_extra_args',
                'ansible_sftp_extra_args')


def _env():
    """The checkout's ansible.cfg, with no ANSIBLE_* override from the caller's environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
    env.update(ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1', PATH='%s:%s' % (BIN, os.environ['PATH']))
    return env


def _files(*roots):
    for root in roots:
        root = REPO / root
        paths = [root] if root.is_file() else sorted(p for p in root.rglob('*') if p.is_file())
        for path in paths:
            if 'vault-pass' not in path.name:
                yield path


def test_ansible_cfg_keeps_host_key_checking_on():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / 'ansible.cfg', encoding='utf-8')
    assert cfg.getboolean('defaults', 'host_key_checking', fallback=True), \
        'ansible.cfg sets host_key_checking off, for every inventory prod included; test inventories opt out instead'
    assert not cfg.getboolean('paramiko_connection', 'host_key_auto_add', fallback=False)
    for section in ('ssh_connection', 'connection'):
        for option in ('ssh_args', 'ssh_common_args', 'ssh_extra_args'):
            value = cfg.get(section, option, fallback='')
            assert not DISABLES.search(value), '[%s] %s turns host key checking off: %s' % (section, option, value)


def test_ansible_resolves_host_key_checking_to_true():
    """What Ansible itself reads from the checkout's ansible.cfg, without any environment override."""
    proc = subprocess.run([str(BIN / 'ansible-config'), 'dump'], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    setting = [line for line in proc.stdout.splitlines() if line.startswith('HOST_KEY_CHECKING(')]
    assert len(setting) == 1 and setting[0].endswith('= True'), setting


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_inventory_files_do_not_turn_host_key_checking_off(inventory):
    found = ['%s: %s' % (path.relative_to(REPO), line.strip())
             for path in _files('inventories/' + inventory)
             for line in path.read_text(encoding='utf-8').splitlines() if DISABLES.search(line)]
    assert not found, found


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_inventory_hosts_resolve_with_host_key_checking_on(inventory):
    """The variables each host ends up with, vaulted ones decrypted."""
    proc = subprocess.run([str(BIN / 'ansible-inventory'), '-i', 'inventories/' + inventory, '--list',
                           '--vault-password-file', 'inventories/%s/vault-pass.example.txt' % VAULT_PASS[inventory]],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    hostvars = json.loads(proc.stdout)['_meta']['hostvars']
    assert hostvars, 'inventories/%s lists no host' % inventory
    for host, hvars in hostvars.items():
        checking = hvars.get('ansible_host_key_checking', True)
        assert checking is True or str(checking).lower() in ('true', 'yes', '1'), (host, checking)
        for name in SSH_ARG_VARS:
            assert not DISABLES.search(str(hvars.get(name, ''))), (host, name, hvars[name])


def test_plays_roles_and_awx_do_not_turn_host_key_checking_off():
    found = ['%s: %s' % (path.relative_to(REPO), line.strip())
             for path in _files('playbooks', 'roles', 'awx', 'execution-environment.yml', 'ansible.cfg')
             if path.suffix in ('.yml', '.yaml', '.j2', '.cfg', '.py', '.sh', '.ini', '')
             for line in path.read_text(encoding='utf-8').splitlines()
             if DISABLES.search(line) and not line.lstrip().startswith(('#', 'host_key_checking = True'))]
    assert not found, found
