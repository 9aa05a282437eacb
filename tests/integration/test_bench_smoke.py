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
import re
import subprocess

import pytest

from conftest import PYTHON, REPO

pytestmark = pytest.mark.integration

BENCH = REPO / 'tests' / 'bench'
# CI runs this beside the other lane on two busy cores, where a served request took up to 3.9 s (a CI run
# of 2026-12-06: 34 of 3200 requests over 2 s, every one a timeout, none refused). Here a request counts
# as failed when it is refused, reset, answered 5xx or left unanswered for 10 s; the probe names each
# failure's kind. The figures in the README come from `make bench` on an idle machine, at 1 s.
PROBE_TIMEOUT = '10'


def run(args, timeout):
    proc = subprocess.run([str(PYTHON)] + [str(a) for a in args], cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, 'rc %d\n%s\n%s' % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_backup_bench_small(tmp_path):
    out = tmp_path / 'backup.json'
    run([BENCH / 'backup_bench.py', '--size-gb', '0.02', '--repeat', '1', '--compress-levels', '0',
         '--workdir', tmp_path, '--results', out], 900)
    data = json.loads(out.read_text())
    for variant in ('a_runbook', 'b_limit', 'b2_transport', 'c_module'):
        assert data[variant]['wall_s'] > 0, variant
    # The runbook's two steps keep the whole dump on local disk; the streaming module keeps none.
    assert data['a_runbook']['peak_disk_mib'] > 0
    assert data['c_module']['peak_disk_mib'] == 0
    assert data['c_module']['dump_mib'] > 0 and data['c_module']['parts'] >= 1
    assert '| (c) aishield.ops.pg_backup streaming |' in data['table']
    # Level 0 stores the dump uncompressed: a bigger object than the default level's.
    level0 = data['levels']['0']
    assert level0['c_module']['dump_mib'] > data['c_module']['dump_mib'], (level0, data['c_module'])
    assert 'compress_level 0' in data['table']


def test_deploy_bench_quick_and_report(tmp_path):
    run([BENCH / 'deploy_bench.py', '--quick', '--probe-timeout', PROBE_TIMEOUT, '--results', tmp_path], 900)
    data = json.loads((tmp_path / 'deploy-quick.json').read_text())
    deploy, rolling = data['runs']
    assert deploy['deployer'] == 'runbook' and deploy['wall_s'] > 0
    assert deploy['probe']['requests'] > 0 and data['probe_timeout_s'] == float(PROBE_TIMEOUT)
    # The same probe sees the runbook's stop-and-start outage: refused or 5xx requests, not only slow ones.
    assert set(deploy['probe']['failed_by_kind']) - {'timeout'}, deploy['probe']
    assert data['medians']['runbook']['wall_s'] == deploy['wall_s']
    # The collection's deploy: counted tasks and the phases from its release record, for the report.
    assert rolling['deployer'] == 'rolling' and rolling['probe']['failures'] == 0, rolling['probe']
    assert rolling['tasks']['ok'] > 0 and data['medians']['rolling']['tasks_ok'] == rolling['tasks']['ok']
    assert set(rolling['phases']) == {'preflight', 'pull', 'backup', 'migrate', 'switch', 'smoke'}, rolling['phases']
    retag = data['rollback']['runbook_retag_restart']
    # The finding the README reports: retag + `compose restart` keeps the container's image, so the
    # runbook's quick rollback leaves v2 serving. Should it ever roll back, the README is wrong.
    assert retag['version_after'] == 'v2' and retag['rolled_back'] is False
    run([BENCH / 'report.py', '--quick', '--results', tmp_path], 300)
    report = (tmp_path / 'results-quick.md').read_text()
    assert '| runbook as written |' in report and 'runbook_retag_restart' in report
    assert "## Where a rolling deploy's time goes, by phase" in report and '| tasks ok |' in report
    for plot in ('probe-timeline-quick.png', 'deploy-time-quick.png', 'deploy-phases-quick.png'):
        assert (tmp_path / plot).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', plot


def test_task_cost_small(tmp_path):
    run([BENCH / 'task_cost.py', '--tasks', '2', '--rounds', '1', '--results', tmp_path], 600)
    data = json.loads((tmp_path / 'task-cost.json').read_text())
    costs = data['seconds_per_task']
    assert set(costs) == {'set_fact', 'command /bin/true', 'aishield.ops.release_lock (query)',
                          'aishield.ops.health_check (one refused URL)'}, costs
    assert all(value >= 0 for value in costs.values())
    # The probe tests/run.sh prints after a run: one line with a positive cost, and no results file.
    (tmp_path / 'task-cost.json').unlink()
    line = run([BENCH / 'task_cost.py', '--probe', '--results', tmp_path], 600).stdout.strip()
    found = re.fullmatch(r'machine speed: (\d+\.\d{3}) s per `command` task \(tests/bench/task_cost\.py --probe; '
                         r'load average [\d.]+ [\d.]+ [\d.]+\)', line)
    assert found and float(found.group(1)) > 0, line
    assert not (tmp_path / 'task-cost.json').exists()


def test_lb_bench_small(tmp_path):
    # One round of one cycle: four lb calls, each a drain or put-back nginx checks and reloads.
    run([BENCH / 'lb_bench.py', '--rounds', '1', '--cycles', '1', '--results', tmp_path], 600)
    data = json.loads((tmp_path / 'lb-bench.json').read_text())
    assert data['calls_per_round'] == 4 and data['wall_s_per_call'] > 0 and data['cpu_s_per_call'] > 0, data


def test_soak_one_cycle(tmp_path):
    # One deploy v2 / failed v3 (automatic rollback) / manual rollback cycle under the probe.
    run([BENCH / 'soak.py', '--smoke', '--probe-timeout', PROBE_TIMEOUT, '--results', tmp_path], 1800)
    data = json.loads((tmp_path / 'soak-smoke.json').read_text())
    assert data['cycles_done'] == 1 and data['error'] is None, data['error']
    assert set(data['checks']) == {'probe_no_failures', 'runs_as_expected', 'no_leftover_resources',
                                   'releases_within_keep', 'audit_one_line_per_action', 'backups_within_retention'}
    failed = dict((name, check) for name, check in data['checks'].items() if not check['ok'])
    assert not failed, failed
    assert data['all_ok'] and data['cleanup']['ok'], data['cleanup']
    steps = [(s['step'], s['rc'] == 0, s['served_version']) for s in data['cycles'][0]['steps']]
    assert steps == [('deploy_v2', True, 'v2'), ('deploy_v3', False, 'v2'), ('rollback_v1', True, 'v1')], steps
