# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""execution-environment.yml: `ansible-builder create` makes a build context that installs what
a controller checkout pins. Building the image needs a pullable base image, which this test bed
does not have, so the context is what is checked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import ansible_collections
import pytest
import yaml
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[2]
BUILDER = Path(sys.executable).parent / 'ansible-builder'


def _pins(path):
    return dict(line.split('#')[0].strip().split('==') for line in path.read_text().splitlines()
                if '==' in line and not line.startswith('#'))


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
    assert (build / 'requirements.yml').read_text() == (REPO / 'requirements' / 'ee-collections.yml').read_text()
    assert (build / 'requirements.txt').read_text() == (REPO / 'requirements.txt').read_text()
    assert (build / 'bindep.txt').read_text() == (REPO / 'bindep.txt').read_text()
    for script in ('assemble', 'install-from-bindep', 'introspect.py', 'check_galaxy'):
        assert (build / 'scripts' / script).is_file()


def test_containerfile_installs_them_with_the_controllers_pins(context):
    text = (context / 'Containerfile').read_text()
    controller = _pins(REPO / 'requirements' / 'controller.txt')
    refs = re.search(r'ARG ANSIBLE_INSTALL_REFS="([^"]+)"', text).group(1).split()
    assert refs == ['ansible-core==%s' % controller['ansible-core'], 'ansible-runner==%s' % controller['ansible-runner']]
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in text
    assert '--user-pip=requirements.txt --user-bindep=bindep.txt' in text
    assert 'RUN $PYCMD -m pip check' in text
    definition = yaml.safe_load((REPO / 'execution-environment.yml').read_text())
    assert definition['version'] == 3
    assert 'FROM $EE_BASE_IMAGE AS base' in text and definition['images']['base_image']['name'] in text


def test_the_ee_is_reproducible_and_installs_no_collection_twice():
    """Every Python package pinned, no ansible bundle (its collections would sit beside the galaxy copies), and each
    collection pinned to the version CI tests with (the bundle's), inside the ranges users get from requirements.yml."""
    lines = [line.split('#')[0].strip() for line in (REPO / 'requirements.txt').read_text().splitlines()]
    lines = [line for line in lines if line]
    assert lines and all('==' in line for line in lines), lines
    assert not [line for line in lines if line.split('==')[0] in ('ansible', 'ansible-core')], lines
    # The controller installs the same pins (it includes the file), plus the bundle.
    assert '-r ../requirements.txt' in (REPO / 'requirements' / 'controller.txt').read_text().splitlines()
    ranges = dict((c['name'], c['version']) for c in yaml.safe_load((REPO / 'requirements.yml').read_text())['collections'])
    pinned = dict((c['name'], c['version'])
                  for c in yaml.safe_load((REPO / 'requirements' / 'ee-collections.yml').read_text())['collections'])
    assert set(pinned) == set(ranges)
    for name, version in pinned.items():
        assert re.match(r'^\d+\.\d+\.\d+$', version), (name, version)
        manifest = next(Path(path) / name.replace('.', '/') / 'MANIFEST.json' for path in ansible_collections.__path__
                        if (Path(path) / name.replace('.', '/') / 'MANIFEST.json').is_file())
        assert json.loads(manifest.read_text())['collection_info']['version'] == version, name
        assert SpecifierSet(ranges[name].replace(' ', '')).contains(version), (name, version, ranges[name])


def test_the_collection_declares_its_dependencies_where_ansible_builder_looks():
    meta = yaml.safe_load((REPO / 'meta' / 'execution-environment.yml').read_text())
    assert meta['version'] == 1
    assert meta['dependencies'] == {'python': 'requirements.txt', 'system': 'bindep.txt'}
    for path in meta['dependencies'].values():
        assert (REPO / path).is_file(), path
