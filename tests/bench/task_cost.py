#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one Ansible task costs before it does anything, on this machine: the root of the old deploy's time.

Runs one playbook per kind of task on localhost (the local connection, the checkout's ansible.cfg),
each task repeated --tasks times, and divides the playbook's task time by the count:
  set_fact                  a controller-side action (no module is shipped)
  command /bin/true         the smallest module run (AnsiballZ, a Python start, module_utils)
  aishield.ops.release_lock the engine's lightest module (state=query on an empty root)
  aishield.ops.health_check a module with heavier module_utils (one unreachable URL, no retry)
Rounds alternate the kinds; the median per task is reported. Results: tests/bench/results/task-cost.json.

  .venv/bin/python tests/bench/task_cost.py --tasks 20 --rounds 3

--probe measures `command` alone (10 tasks, 2 rounds, no results file) and prints one line: the speed of the
machine at that moment, which tests/run.sh prints after every run, so CI times of different days compare.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def kinds(root):
    return {
        'set_fact': {'ansible.builtin.set_fact': {'noop': 1}},
        'command /bin/true': {'ansible.builtin.command': {'argv': ['/bin/true']}, 'changed_when': False},
        'aishield.ops.release_lock (query)': {'aishield.ops.release_lock': {'root': root, 'project': 'x', 'state': 'query'}},
        'aishield.ops.health_check (one refused URL)': {
            'aishield.ops.health_check': {'endpoints': [{'url': 'http://127.0.0.1:9/'}], 'deadline': 0, 'timeout': 1},
            'failed_when': False},
    }


def run(work, name, task, count):
    play = [{'name': 'task cost', 'hosts': 'localhost', 'gather_facts': False,
             'tasks': [dict(task, name='%s %d' % (name, i)) for i in range(count)]}]
    path = work / 'play.json'
    path.write_text(json.dumps(play))
    inventory = work / 'inventory.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), PATH='%s:%s' % (BIN, os.environ['PATH']))
    # The empty playbook's time (start-up, inventory, parsing) is measured apart and taken off.
    started = time.monotonic()
    proc = subprocess.run([str(BIN / 'ansible-playbook'), '-i', str(inventory), str(path)], cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError('%s failed: %s' % (name, (proc.stdout + proc.stderr)[-2000:]))
    return wall


def measure(work, tasks, rounds, only=None):
    """Seconds per task of each kind (or of the kinds named in only): the medians, and every round's figure."""
    found = {}
    for _round in range(rounds):
        base = run(work, 'set_fact', kinds(str(work))['set_fact'], 1)
        for name, task in kinds(str(work / 'root')).items():
            if only is None or name in only:
                found.setdefault(name, []).append(max(0.0, run(work, name, task, tasks) - base) / tasks)
    return dict((name, round(statistics.median(values), 3)) for name, values in found.items()), found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--tasks', type=int, default=20, help='tasks per playbook')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--results', default=str(REPO / 'tests/bench/results'))
    parser.add_argument('--probe', action='store_true', help='`command` alone, 10 tasks, 2 rounds, one line, no file')
    args = parser.parse_args()
    if args.probe:
        args.tasks, args.rounds = 10, 2
    work = Path(tempfile.mkdtemp(prefix='aishield-task-cost-'))
    try:
        per_task, found = measure(work, args.tasks, args.rounds, ['command /bin/true'] if args.probe else None)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
    if args.probe:
        print('machine speed: %.3f s per `command` task (tests/bench/task_cost.py --probe; load average %s)'
              % (per_task['command /bin/true'], ' '.join('%.1f' % x for x in os.getloadavg())))
        return
    data = {'command': ' '.join(['.venv/bin/python', 'tests/bench/task_cost.py'] + sys.argv[1:]),
            'cpus': os.cpu_count(), 'load': [round(x, 2) for x in os.getloadavg()], 'tasks': args.tasks,
            'rounds': args.rounds, 'seconds_per_task': per_task,
            'all_rounds': dict((name, [round(v, 3) for v in values]) for name, values in found.items())}
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / 'task-cost.json').write_text(json.dumps(data, indent=1) + '\n')
    for name, seconds in per_task.items():
        print('%-45s %.3f s per task' % (name, seconds))


if __name__ == '__main__':
    main()
