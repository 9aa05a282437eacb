# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""meta/runtime.yml: what it promises (the tested ansible-core) and what it offers (action groups that
module_defaults can use)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RUNTIME = yaml.safe_load((REPO / 'meta' / 'runtime.yml').read_text())
BIN = Path(sys.executable).parent


def _doc(module):
    source = (REPO / 'plugins' / 'modules' / ('%s.py' % module)).read_text()
    return yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.S).group(1))


def test_requires_ansible_is_the_tested_core():
    pins = dict(line.split('==') for line in (REPO / 'requirements' / 'controller.txt').read_text().splitlines()
                if '==' in line and not line.startswith('#'))
    major_minor = '.'.join(pins['ansible-core'].split('.')[:2])
    assert RUNTIME['requires_ansible'] == '>=%s.0' % major_minor


def test_every_group_member_is_a_module_that_takes_the_groups_options():
    groups = RUNTIME['action_groups']
    assert set(groups) == {'release', 'backup'}
    shared = {'release': 'aishield.ops.release', 'backup': 'aishield.ops.s3'}
    for group, modules in groups.items():
        for module in modules:
            assert (REPO / 'plugins' / 'modules' / ('%s.py' % module)).is_file(), (group, module)
            assert shared[group] in _doc(module).get('extends_documentation_fragment', []), (group, module)
    # Every module that works on the release directories is in the release group.
    fragments = dict((path.stem, _doc(path.stem).get('extends_documentation_fragment', []))
                     for path in (REPO / 'plugins' / 'modules').glob('*.py'))
    assert sorted(m for m, f in fragments.items() if 'aishield.ops.release' in f) == sorted(groups['release'])


def test_module_defaults_reach_a_module_through_its_group(tmp_path):
    root = tmp_path / 'root'
    play = [{'hosts': 'localhost', 'gather_facts': False,
             'module_defaults': {'group/aishield.ops.release': {'root': str(root), 'project': 'grouptest'}},
             'tasks': [{'name': 'Take the lock with root and project from the group defaults',
                        'aishield.ops.release_lock': {'lock': {'holder': 'unit test', 'token': 'tok-1'}}}]}]
    path = tmp_path / 'play.yml'
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), PATH='%s:%s' % (BIN, os.environ['PATH']),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    proc = subprocess.run([str(BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e',
                           'ansible_python_interpreter=%s' % sys.executable, str(path)],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lock = yaml.safe_load((root / 'deploy.lock').read_text())
    assert lock['holder'] == 'unit test'
