#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one call of the lb role costs: a fleet's rollout calls it twice per batch (drain, put back).

One playbook on localhost (the local engine) calls the role --cycles times around: drain app1, put it back,
drain app2, put it back, each a change that nginx checks and reloads; the load balancer is started by a first
call that is not counted. Reports the wall seconds and the CPU seconds (ansible-playbook and every process it
waited for; the engine's own work is not in it) per call, the median over --rounds. With --repo, the role is
that checkout's (an older commit in a `git worktree`, say), so two versions compare on the same machine:

  .venv/bin/python tests/bench/lb_bench.py --rounds 3 --cycles 3 [--repo /tmp/old-checkout]

Results: tests/bench/results/lb-bench.json (lb-bench-<label>.json with --label).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = '127.0.0.1:5000/aishield/proxy:v1'
# Addresses nothing listens on: nginx only has to accept and reload the configuration.
BACKENDS = [{'name': 'app1', 'address': '127.0.0.2', 'port': 8000}, {'name': 'app2', 'address': '127.0.0.3', 'port': 8000}]
STEPS = [{'lb_drain': ['app1']}, {'lb_undrain': ['app1']}, {'lb_drain': ['app2']}, {'lb_undrain': ['app2']}]


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def playbook(settings, steps):
    tasks = [{'name': 'lb call %d' % i, 'ansible.builtin.include_role': {'name': 'aishield.ops.lb'}, 'vars': dict(settings, **step)}
             for i, step in enumerate(steps)]
    return [{'name': 'lb bench', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]


def run(repo, work, play):
    """(wall s, cpu s) of one ansible-playbook run of play with repo's collection and config."""
    path = work / 'play.json'
    path.write_text(json.dumps(play))
    inventory = work / 'inventory.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / 'ansible.cfg'), PATH='%s:%s' % (BIN, os.environ['PATH']))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([str(BIN / 'ansible-playbook'), '-i', str(inventory), str(path)], cwd=str(repo), env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError('the lb calls failed: %s' % (proc.stdout + proc.stderr)[-2000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--cycles', type=int, default=3, help='drain/put-back cycles of both hosts per round')
    parser.add_argument('--repo', default=str(REPO), help='the checkout whose role is measured')
    parser.add_argument('--label', default='', help='a name for this checkout in the results file')
    parser.add_argument('--results', default=str(REPO / 'tests/bench/results'))
    args = parser.parse_args()
    repo = Path(args.repo).resolve()
    work = Path(tempfile.mkdtemp(prefix='aishield-lb-bench-'))
    name = 'aishield-lb-bench-' + secrets.token_hex(3)
    settings = {'lb_name': name, 'lb_image': IMAGE, 'lb_dir': str(work / 'lb'), 'lb_bind_address': '127.0.0.1',
                'lb_port': free_port(), 'lb_backends': BACKENDS, 'lb_drain_seconds': 0}
    calls = STEPS * args.cycles
    walls, cpus = [], []
    try:
        run(repo, work, playbook(settings, [{}]))
        base_wall, base_cpu = run(repo, work, [{'name': 'empty', 'hosts': 'localhost', 'gather_facts': False, 'tasks': []}])
        for _round in range(args.rounds):
            wall, cpu = run(repo, work, playbook(settings, calls))
            walls.append(max(0.0, wall - base_wall) / len(calls))
            cpus.append(max(0.0, cpu - base_cpu) / len(calls))
    finally:
        subprocess.run(['docker', 'rm', '-f', name], capture_output=True, check=False, timeout=60)
    commit = subprocess.run(['git', '-C', str(repo), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                            check=False).stdout.strip()
    data = {'command': ' '.join(['.venv/bin/python', 'tests/bench/lb_bench.py'] + sys.argv[1:]), 'commit': commit,
            'cpus': os.cpu_count(), 'load': [round(x, 2) for x in os.getloadavg()], 'calls_per_round': len(calls),
            'wall_s_per_call': round(statistics.median(walls), 3), 'cpu_s_per_call': round(statistics.median(cpus), 3),
            'rounds': {'wall_s_per_call': [round(v, 3) for v in walls], 'cpu_s_per_call': [round(v, 3) for v in cpus]}}
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    out = results / ('lb-bench-%s.json' % args.label if args.label else 'lb-bench.json')
    out.write_text(json.dumps(data, indent=2) + '\n')
    print('lb role, %s (%s): %.2f s wall, %.2f s CPU per call (median of %d rounds of %d calls) -> %s'
          % (repo, commit, data['wall_s_per_call'], data['cpu_s_per_call'], args.rounds, len(calls), out))


if __name__ == '__main__':
    main()
