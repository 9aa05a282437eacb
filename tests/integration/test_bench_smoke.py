# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each benchmark script once, in its smallest mode, so `make bench` cannot rot unnoticed.

Not a measurement: the figures come from `make bench` on an idle machine (README, Performance).
These runs check that each script still drives the real stack end to end and writes what
report.py and the README expect.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import PYTHON, REPO, docker_available

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not docker_available(), reason='needs the Docker engine (make testbed)')]

BENCH = REPO / 'tests' / 'bench'


def run(args, timeout):
    proc = subprocess.run([str(PYTHON)] + [str(a) for a in args], cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, 'rc %d\n%s\n%s' % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_backup_bench_small(tmp_path):
    out = tmp_path / 'backup.json'
    run([BENCH / 'backup_bench.py', '--size-gb', '0.02', '--repeat', '1', '--workdir', tmp_path, '--results', out], 900)
    data = json.loads(out.read_text())
    for variant in ('a_runbook', 'b_limit', 'b2_transport', 'c_module'):
        assert data[variant]['wall_s'] > 0, variant
    # The runbook's two steps keep the whole dump on local disk; the streaming module keeps none.
    assert data['a_runbook']['peak_disk_mib'] > 0
    assert data['c_module']['peak_disk_mib'] == 0
    assert data['c_module']['dump_mib'] > 0 and data['c_module']['parts'] >= 1
    assert '| (c) aishield.ops.pg_backup streaming |' in data['table']


def test_deploy_bench_quick_and_report(tmp_path):
    run([BENCH / 'deploy_bench.py', '--quick', '--results', tmp_path], 900)
    data = json.loads((tmp_path / 'deploy-quick.json').read_text())
    (deploy,) = data['runs']
    assert deploy['deployer'] == 'runbook' and deploy['wall_s'] > 0
    assert deploy['probe']['requests'] > 0
    assert data['medians']['runbook']['wall_s'] == deploy['wall_s']
    retag = data['rollback']['runbook_retag_restart']
    # The finding the README reports: retag + `compose restart` keeps the container's image, so the
    # runbook's quick rollback leaves v2 serving. Should it ever roll back, the README is wrong.
    assert retag['version_after'] == 'v2' and retag['rolled_back'] is False
    run([BENCH / 'report.py', '--quick', '--results', tmp_path], 300)
    report = (tmp_path / 'results-quick.md').read_text()
    assert '| runbook as written |' in report and 'runbook_retag_restart' in report
    for plot in ('probe-timeline-quick.png', 'deploy-time-quick.png'):
        assert (tmp_path / plot).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', plot
