# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A long image pull prints its progress in the job output, as AWX shows it.

The image is one 48 MiB layer of incompressible bytes (the same bytes every run, so the registry
keeps one copy), never started: release_prepare only pulls, pins and plans it. The daemon pulls it from the test bed's registry
through a relay on 127.0.0.1 that passes at most 12 MiB/s, so the pull takes about 4 s on any
machine; release_prepare runs under ansible_runner.run() with progress_interval 1.
"""

from __future__ import annotations

import io
import random
import re
import secrets
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import ThrottledRelay, docker_available, runner_job

pytestmark = pytest.mark.integration

REGISTRY = ('127.0.0.1', 5000)
REPOSITORY = 'aishield/pull-progress'
TAG = 'big'
LAYER_MIB = 48
RATE = 12 * (1 << 20)  # bytes per second through the relay
LINE = re.compile(r'localhost \| release_prepare: ([0-9.]+) MiB(?: of ([0-9.]+) MiB)? in ([0-9]+) s '
                  r'\(([0-9.]+) MiB/s\)(?:, (\w+))?')


def _docker(*argv, timeout=300):
    return subprocess.run(['docker'] + list(argv), capture_output=True, text=True, timeout=timeout, check=True)


@pytest.fixture(scope='module')
def big_image(tmp_path_factory):
    """Pushed to the registry, and absent from the daemon: the pull must download the layer.

    `docker import` makes the image from a tarball, so no build cache keeps the layer after `docker rmi`.
    """
    if not docker_available():
        pytest.fail('no Docker engine answers: run tests/testbed/setup.sh')
    tmp = tmp_path_factory.mktemp('bigimage')
    blob = random.Random(20261206).randbytes(LAYER_MIB << 20)
    with tarfile.open(tmp / 'layer.tar', 'w') as tar:
        info = tarfile.TarInfo('opt/blob')
        info.size, info.mtime = len(blob), 1796515200
        tar.addfile(info, io.BytesIO(blob))
    pushed = '127.0.0.1:5000/%s:%s' % (REPOSITORY, TAG)
    _docker('import', str(tmp / 'layer.tar'), pushed)
    _docker('push', pushed)
    _docker('rmi', pushed)
    relay = ThrottledRelay(REGISTRY, RATE)
    yield '127.0.0.1:%d/%s:%s' % (relay.port, REPOSITORY, TAG)
    relay.close()
    subprocess.run(['docker', 'rmi', '127.0.0.1:%d/%s:%s' % (relay.port, REPOSITORY, TAG)], capture_output=True,
                   timeout=120, check=False)


def test_a_long_pull_prints_its_progress_in_the_job_output(big_image, tmp_path):
    project = 'aishield-pullprog-' + secrets.token_hex(3)
    compose = 'services:\n  proxy:\n    image: ${AISHIELD_PROXY_IMAGE}\n    command: ["true"]\n'
    task = {
        'name': 'Prepare a release whose image is not on the host',
        'aishield.ops.release_prepare': {
            'root': str(tmp_path / 'root'), 'project': project, 'version': 'v1',
            'images': {'proxy': big_image}, 'image_variables': {'proxy': 'AISHIELD_PROXY_IMAGE'},
            'compose_files': [{'name': 'compose.yml', 'content': compose}], 'services': ['proxy'],
            'lock': {'holder': 'test@controller', 'token': secrets.token_hex(8)}, 'progress_interval': 1},
        'register': 'prepared',
    }
    show = {'name': 'show', 'ansible.builtin.debug': {'msg': 'pinned {{ prepared.images.proxy }} '
                                                             'bytes {{ prepared.pulled_bytes }}'}}
    runner, stdout = runner_job(tmp_path, [task, show])
    assert runner.rc == 0, stdout[-3000:]
    lines = [(float(m.group(1)), m.group(2) and float(m.group(2)), int(m.group(3)), float(m.group(4)), m.group(5))
             for m in LINE.finditer(stdout)]
    polls = [line for line in lines if line[4] == 'pull']
    closing = [line for line in lines if line[4] == 'pulled']
    # About 4 s of pulling at one line a second: several lines, the bytes growing, against the layer's size.
    assert len(polls) >= 2, 'release_prepare printed %d progress lines:\n%s' % (len(polls), stdout[-3000:])
    done = [mib for mib, _total, _s, _rate, _phase in polls]
    assert done == sorted(done) and done[0] < done[-1], done
    assert all(total and total >= LAYER_MIB * 0.9 for _mib, total, _s, _rate, _phase in polls), polls
    assert any(rate > 0 for _mib, _total, _s, rate, _phase in polls)
    # The closing line and the result agree on what the pull downloaded: the one new layer.
    assert len(closing) == 1 and LAYER_MIB * 0.9 <= closing[0][0] <= LAYER_MIB * 1.1, closing
    pinned = re.search(r'pinned (\S+) bytes ([0-9]+)', stdout)
    assert pinned and '@sha256:' in pinned.group(1), stdout[-2000:]
    assert int(pinned.group(2)) >= LAYER_MIB * 0.9 * (1 << 20)
    # AWX shows the same lines: they are events of the job.
    assert any(LINE.search(event.get('stdout', '')) for event in runner.events), 'no job event has a progress line'
    assert Path(tmp_path / 'root' / 'releases').is_dir()
