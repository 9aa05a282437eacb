# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""execution-environment.yml: `ansible-builder create` makes a build context that installs what
a controller checkout pins. Building the image needs a pullable base image, which this test bed
does not have, so the context is what is checked."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUILDER = Path(sys.executable).parent / 'ansible-builder'


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    if not BUILDER.exists() and shutil.which('ansible-builder') is None:
        pytest.fail('ansible-builder is missing: pip install -r requirements/test.txt')
    ctx = tmp_path_factory.mktemp('ee') / 'context'
    proc = subprocess.run([str(BUILDER if BUILDER.exists() else 'ansible-builder'), 'create', '-f',
                           str(REPO / 'execution-environment.yml'), '-c', str(ctx), '--output-filename', 'Containerfile'],
                          cwd=str(REPO), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ctx


def test_context_carries_the_collections_python_and_system_requirements(context):
    build = context / '_build'
    assert (build / 'requirements.yml').read_text() == (REPO / 'requirements.yml').read_text()
    assert (build / 'requirements.txt').read_text() == (REPO / 'requirements' / 'controller.txt').read_text()
    assert (build / 'bindep.txt').read_text() == (REPO / 'bindep.txt').read_text()
    for script in ('assemble', 'install-from-bindep', 'introspect.py', 'check_galaxy'):
        assert (build / 'scripts' / script).is_file()


def test_containerfile_installs_them_with_the_controllers_pins(context):
    text = (context / 'Containerfile').read_text()
    controller = dict(line.split('==') for line in (REPO / 'requirements' / 'controller.txt').read_text().splitlines()
                      if '==' in line and not line.startswith('#'))
    refs = re.search(r'ARG ANSIBLE_INSTALL_REFS="([^"]+)"', text).group(1).split()
    assert refs == ['ansible-core==%s' % controller['ansible-core'], 'ansible-runner==%s' % controller['ansible-runner']]
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in text
    assert '--user-pip=requirements.txt --user-bindep=bindep.txt' in text
    assert 'RUN $PYCMD -m pip check' in text
    definition = yaml.safe_load((REPO / 'execution-environment.yml').read_text())
    assert definition['version'] == 3
    assert 'FROM $EE_BASE_IMAGE AS base' in text and definition['images']['base_image']['name'] in text
