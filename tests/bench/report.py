#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn tests/bench/results/*.json into results.md and PNG plots (probe timelines, deploy-time bars).

  .venv/bin/python tests/bench/report.py            # deploy.json (+ backup.json when present)
  .venv/bin/python tests/bench/report.py --quick    # deploy-quick.json, the smoke mode's output
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402 pylint: disable=wrong-import-position

REPO = Path(__file__).resolve().parents[2]
LABELS = {'runbook': 'runbook as written', 'compose_task': 'one docker_compose_v2 task',
          'recreate': 'aishield.ops recreate', 'rolling': 'aishield.ops rolling'}


def timeline_plot(series, path, title):
    fig, axes = plt.subplots(len(series), 1, figsize=(9, 1.6 * len(series) + 0.6), sharex=True, squeeze=False)
    for axis, (label, timeline) in zip(axes[:, 0], series):
        ok = [t for t, good in timeline if good]
        bad = [t for t, good in timeline if not good]
        axis.scatter(ok, [1] * len(ok), s=2, color='tab:green', label='200')
        axis.scatter(bad, [0] * len(bad), s=2, color='tab:red', label='failed')
        axis.set_yticks([0, 1], ['fail', 'ok'])
        axis.set_ylim(-0.5, 1.5)
        axis.set_title(label, fontsize=9, loc='left')
    axes[-1, 0].set_xlabel('seconds since the probe started')
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    plt.close(fig)


def bars_plot(data, path):
    deployers = list(data['medians'])
    fig, axis = plt.subplots(figsize=(7, 3.6))
    axis.bar(range(len(deployers)), [data['medians'][d]['wall_s'] for d in deployers], color='tab:blue', alpha=0.6)
    for index, deployer in enumerate(deployers):
        walls = [r['wall_s'] for r in data['runs'] if r['deployer'] == deployer]
        axis.scatter([index] * len(walls), walls, color='black', s=10, zorder=3)
    axis.set_xticks(range(len(deployers)), [LABELS[d] for d in deployers], fontsize=8)
    axis.set_ylabel('v1 -> v2 wall time, s\n(bar: median, dots: rounds)', fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path), dpi=110, bbox_inches='tight')
    plt.close(fig)


BACKUP_VARIANTS = (('a_runbook', None, '(a) runbook:\ndump, then upload'), ('b_limit', 'b_wall_s', '(b) pg_dump alone'),
                   ('b2_transport', 'b2_wall_s', '(b2) transport floor'), ('c_module', 'c_wall_s', '(c) pg_backup\nstreaming'))


def backup_plot(backup, path):
    """One backup of the same database by each variant: median wall time (bar) and every round (dots)."""
    # (result, the wall time of each round, label), then the same at each extra compression level.
    bars = [(backup[key], backup.get('rounds', {}).get(rounds) or [backup[key]['wall_s']], label)
            for key, rounds, label in BACKUP_VARIANTS if key in backup]
    for level, pair in sorted(backup.get('levels', {}).items()):
        bars += [(pair['b_limit'], pair['b_wall_s'], '(b) pg_dump alone\n-Z %s' % level),
                 (pair['c_module'], pair['c_wall_s'], '(c) pg_backup\ncompress_level %s' % level)]
    fig, axis = plt.subplots(figsize=(1.75 * len(bars), 3.6))
    medians = [result.get('median_wall_s', result['wall_s']) for result, _walls, _label in bars]
    axis.bar(range(len(bars)), medians, color=['tab:blue'] * 4 + ['tab:orange'] * (len(bars) - 4), alpha=0.6)
    for index, (result, walls, _label) in enumerate(bars):
        axis.scatter([index] * len(walls), walls, color='black', s=10, zorder=3)
        disk = result.get('peak_disk_mib') or 0
        axis.text(index, medians[index] / 2, '%.0f MiB disk' % disk if disk else 'no disk', ha='center', fontsize=7)
    axis.set_xticks(range(len(bars)), [label for _result, _walls, label in bars], fontsize=8)
    database = backup.get('database', {})
    axis.set_ylabel('wall time, s\n(bar: median, dots: rounds)', fontsize=8)
    axis.set_title('Backup of a %.2f GiB database (%s rows)' % (database.get('gib', 0), database.get('rows', '?')),
                   fontsize=9, loc='left')
    fig.tight_layout()
    fig.savefig(str(path), dpi=110, bbox_inches='tight')
    plt.close(fig)


PHASES = ('preflight', 'pull', 'backup', 'migrate', 'switch', 'smoke')


def phases_plot(before, after, runbook_s, path):
    """Where a rolling v1 -> v2 deploy's time goes, phase by phase, before and after the engine rewrite."""
    fig, axis = plt.subplots(figsize=(7.5, 3.4))
    colours = plt.get_cmap('tab10')
    rows = [('before (%s)' % before['commit'], before['rolling']['phases']), ('after (this run, median)', after)]
    for row, (_label, phases) in enumerate(rows):
        left = 0.0
        for index, phase in enumerate(PHASES):
            width = phases.get(phase, 0.0)
            axis.barh(row, width, left=left, color=colours(index), label=phase if row == 0 else None)
            if width >= 1.2:
                axis.text(left + width / 2, row, '%.1f' % width, ha='center', va='center', fontsize=7, color='white')
            left += width
    if runbook_s:
        axis.axvline(runbook_s, color='black', linestyle='--', linewidth=1, label='runbook, whole deploy')
    axis.set_yticks(range(len(rows)), [label for label, _phases in rows], fontsize=8)
    axis.set_xlabel('seconds (phases from release.json; the Ansible start-up before preflight is not in them)')
    axis.legend(fontsize=7, ncol=4, loc='upper center', bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    fig.savefig(str(path), dpi=110, bbox_inches='tight')
    plt.close(fig)


def median_phases(runs):
    found = [r['phases'] for r in runs if r.get('phases')]
    return {phase: round(statistics.median([p.get(phase, 0.0) for p in found]), 1) for phase in PHASES} if found else {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--results', default=str(REPO / 'tests/bench/results'))
    args = parser.parse_args()
    results = Path(args.results)
    suffix = '-quick' if args.quick else ''
    data = json.loads((results / ('deploy%s.json' % suffix)).read_text())
    lines = ['# Benchmark results%s' % (' (smoke mode: not figures to quote)' if args.quick else ''), '',
             'Command: `%s`; %s CPUs, Docker %s; load average before %s, after %s; probe %d req/s on /health through the proxy.'
             % (data['command'], data['machine']['cpus'], data['machine']['docker'], data['machine']['load_before'],
                data['machine']['load_after'], data['rate']), '',
             '## Deploy v1 -> v2 (median over rounds)', '',
             '| deployer | wall s (median) | rounds s | failed requests (median) | longest gap s (median) | tasks ok/skipped | load (1, 5, 15 min) |',
             '|---|---:|---|---:|---:|---|---|']
    for deployer, med in data['medians'].items():
        runs = [r for r in data['runs'] if r['deployer'] == deployer]
        tasks = runs[-1].get('tasks') or {}
        lines.append('| %s | %.1f | %s | %s | %.2f | %s | %s |' % (
            LABELS[deployer], med['wall_s'], ' / '.join('%.1f' % r['wall_s'] for r in runs), med['failures'], med['longest_gap_s'],
            '%s/%s' % (tasks.get('ok'), tasks.get('skipped')) if tasks else 'n/a', ' '.join('%s' % r['load'] for r in runs[-1:])))
    lines += ['', '## Rollback', '', '| rollback | time s | failed requests | longest gap s | note |', '|---|---:|---:|---:|---|']
    for name, result in data.get('rollback', {}).items():
        probe = result.get('probe') or {}
        seconds = result.get('rollback_s', result.get('wall_s'))
        note = ('from the rescue to the previous release passing its smoke test' if name == 'ours_auto' else
                'version serving afterwards: %s' % result.get('version_after') if name == 'runbook_retag_restart' else
                'rollback.yml, wall time')
        lines.append('| %s | %s | %s | %s | %s; load %s |'
                     % (name, seconds, probe.get('failures'), probe.get('longest_gap_s'), note, result.get('load')))
    slowest = next((r['slowest'] for r in reversed(data['runs']) if r['deployer'] == 'rolling' and r.get('slowest')), [])
    if slowest:
        lines += ['', '## Slowest tasks of a rolling deploy (profile_tasks)', '', '| task | s |', '|---|---:|']
        lines += ['| %s | %.2f |' % (name.replace('|', '/'), secs) for name, secs in slowest]
    task_cost = results / 'task-cost.json'
    if task_cost.exists() and not args.quick:
        cost = json.loads(task_cost.read_text())
        lines += ['', '## What one task costs before it does anything (tests/bench/task_cost.py)', '',
                  'Command: `%s`; %d tasks per playbook, median of %d rounds.' % (cost['command'], cost['tasks'], cost['rounds']),
                  '', '| task | s per task |', '|---|---:|']
        lines += ['| %s | %.3f |' % (name, seconds) for name, seconds in cost['seconds_per_task'].items()]
    backup = results / 'backup.json'
    if backup.exists() and not args.quick:
        backup_data = json.loads(backup.read_text())
        backup_plot(backup_data, results / 'backup-time.png')
        lines += ['', '## Backup (tests/bench/backup_bench.py, results/backup.json)', '', backup_data.get('table', ''),
                  '', '![backup time](backup-time.png)']
    fleet = results / 'fleet.json'
    if fleet.exists() and not args.quick:
        fleet_data = json.loads(fleet.read_text())
        runs = fleet_data['runs']
        lines += ['', '## Scale (tests/bench/fleet_bench.py, results/fleet.json)', '',
                  '| app hosts | serial | wall (s, median of %d) | vs 1 host, serial all |' % fleet_data.get('rounds', 1),
                  '|---|---|---:|---:|']
        lines += ['| %d | %s | %.1f | %.2f× |' % (r['app_hosts'], r['serial'], r['wall_s'], r['vs_1_host']) for r in runs]
        if fleet_data.get('floor'):
            lines += ['', 'Floor (no Ansible: backend and worker recreated on every app host at once, through docker compose):', '',
                      '| app hosts | wall s (median) | vs 1 host |', '|---|---:|---:|']
            lines += ['| %s | %.1f | %.2f× |' % (count, f['wall_s'], f.get('vs_1_host') or 0)
                      for count, f in sorted(fleet_data['floor'].items(), key=lambda item: int(item[0]))]
    else:
        lines += ['', '## Scale', '', 'Not measured: %s.' % data.get('scale', {}).get('reason', 'run tests/bench/fleet_bench.py')]
    series = [(LABELS[r['deployer']] + ' (round %d)' % r['round'], r['timeline'])
              for r in data['runs'] if r['round'] == data['runs'][-1]['round']]
    series += [('rollback: %s' % name, result['timeline']) for name, result in data.get('rollback', {}).items() if result.get('timeline')]
    timeline_plot(series, results / ('probe-timeline%s.png' % suffix), 'GET /health at %d req/s during each deploy and rollback' % data['rate'])
    bars_plot(data, results / ('deploy-time%s.png' % suffix))
    lines += ['', '![probe timeline](probe-timeline%s.png)' % suffix, '', '![deploy time](deploy-time%s.png)' % suffix]
    # The before figures are committed with the results; a smoke run writes elsewhere.
    before_file = results / 'deploy-phases-before.json'
    if not before_file.exists():
        before_file = REPO / 'tests/bench/results/deploy-phases-before.json'
    after = median_phases([r for r in data['runs'] if r['deployer'] == 'rolling'])
    if before_file.exists() and after:
        before = json.loads(before_file.read_text())
        runbook = data['medians'].get('runbook', {}).get('wall_s')
        phases_plot(before, after, runbook, results / ('deploy-phases%s.png' % suffix))
        lines += ['', '## Where a rolling deploy\'s time goes, by phase', '',
                  '| phase | before (%s, %s) s | after (median) s |' % (before['commit'], before['date']), '|---|---:|---:|']
        lines += ['| %s | %.1f | %.1f |' % (phase, before['rolling']['phases'].get(phase, 0.0), after.get(phase, 0.0))
                  for phase in PHASES]
        lines += ['| tasks ok | %s | %s |' % (before['rolling']['tasks']['ok'], data['medians']['rolling'].get('tasks_ok')),
                  '', '![deploy phases](deploy-phases%s.png)' % suffix]
    (results / ('results%s.md' % suffix)).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
