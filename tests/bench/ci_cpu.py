#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a run's CPU went, by kind of process, from Linux process accounting.

The kernel writes one record per process when it ends (its command name, CPU time, pid and parent
pid), containers' processes included. Record a run, then read the file:

    apt-get install acct; touch /tmp/ci.pacct; accton /tmp/ci.pacct
    CI=true bash .ci/run; accton off
    python tests/bench/ci_cpu.py /tmp/ci.pacct [--json out.json]

Processes still running when accounting stops (the host's dockerd, the test bed's services) have no
record; the run's total from /proc/stat (tests/run.sh prints it) includes them.

Parents: a child's record comes before its parent's (a parent ends last), and a pid is not reused
while its process lives, so a record's parent is the first later record with that pid.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import subprocess
import sys

# (kind, description): the kinds in the order the report prints them.
KINDS = (
    ('ansible-worker', 'Ansible: a worker process per task and host (templating, action plugins, connection)'),
    ('ansible-main', 'Ansible: the ansible-playbook processes themselves (parsing, strategy, callbacks)'),
    ('module', 'Ansible: module runs (AnsiballZ: Python start, module_utils compiled from the zip, the work)'),
    ('ansible-tools', 'Ansible: ansible-galaxy, ansible-doc, ansible-inventory, ansible-config, molecule'),
    ('static', 'static checks: ansible-lint, ansible-test sanity (pylint, pep8, ...), pytest of unit tests'),
    ('app', "the stacks' own processes: PostgreSQL, Redis, nginx, uvicorn, Celery, Alembic, node"),
    ('backup', 'pg_dump, pg_restore, gzip and friends'),
    ('docker', 'Docker: dockerd, containerd, shims, runc, the docker and compose CLIs, proxies'),
    ('shell', 'shells and small commands (sh, bash, sleep, cat, curl, ...)'),
    ('harness', 'pytest, test helpers, probes, pip; Python whose parent ended first (async module runs)'),
    ('other', 'anything else'),
)
APP = {'postgres', 'redis-server', 'nginx', 'uvicorn', 'celery', 'alembic', 'node', 'initdb', 'psql', 'pg_ctl',
       'pg_isready', 'redis-cli', 'gunicorn', 'moto_server'}
BACKUP = {'pg_dump', 'pg_restore', 'gzip', 'pigz', 'zstd', 'gunzip', 'pg_dumpall', 'createdb', 'dropdb'}
DOCKER = {'dockerd', 'containerd', 'containerd-shim', 'runc', 'docker-init', 'docker-proxy', 'docker', 'docker-compose',
          'exe', 'runc:[0:PARENT]', 'runc:[1:CHILD]', 'runc:[2:INIT]', 'ctr', 'docker-buildx', 'buildkitd',
          'docker-registry'}
SHELL = {'sh', 'bash', 'dash', 'sleep', 'cat', 'curl', 'rm', 'mkdir', 'test', 'sha256sum', 'awk', 'sed', 'grep', 'tee',
         'ls', 'cp', 'mv', 'date', 'env', 'id', 'chmod', 'chown', 'tar', 'find', 'head', 'tail', 'wc', 'cut', 'sort',
         'xargs', 'tr', 'stat', 'readlink', 'dirname', 'basename', 'mktemp', 'ps', 'pkill', 'pgrep', 'kill', 'uname',
         'git', 'ssh', 'timeout', 'sudo', 'su', 'getent', 'mount', 'touch', 'printf', 'true', 'false', 'seq', 'nohup'}
PYTHONS = {'python', 'python3', 'python3.11', 'python3.13', 'python3.12'}
ANSIBLE_TOOLS = {'ansible-galaxy', 'ansible-doc', 'ansible-invento', 'ansible-config', 'ansible', 'molecule',
                 'ansible-runner', 'ansible-builder'}
STATIC = {'ansible-lint', 'ansible-test', 'pylint', 'yamllint', 'pycodestyle', 'mypy', 'flake8'}


def read_records(path):
    """[(comm, cpu_seconds, elapsed_seconds, pid, ppid)] in the order the kernel wrote them."""
    out = subprocess.run(['dump-acct', path], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        f = [x.strip() for x in line.split('|')]
        if len(f) < 11 or f[1] != 'v3':
            continue
        # user and system time, and elapsed time, in clock ticks (AHZ = 100)
        rows.append((f[0], (float(f[2]) + float(f[3])) / 100.0, float(f[4]) / 100.0, int(f[9]), int(f[10])))
    return rows


def parent_index(rows):
    """For each record, the index of its parent's record, or None."""
    by_pid = collections.defaultdict(list)
    for i, row in enumerate(rows):
        by_pid[row[3]].append(i)
    parents = []
    for i, row in enumerate(rows):
        later = by_pid.get(row[4], [])
        k = bisect.bisect_right(later, i)
        parents.append(later[k] if k < len(later) else None)
    return parents


def ancestors(i, rows, parents, depth=6):
    names = []
    j = parents[i]
    while j is not None and len(names) < depth:
        names.append(rows[j][0])
        j = parents[j]
    return names


def classify(i, rows, parents):
    comm, _cpu, elapsed, _pid, _ppid = rows[i]
    up = ancestors(i, rows, parents)
    if comm == 'ansible-playboo':
        return 'ansible-worker' if up[:1] == ['ansible-playboo'] else 'ansible-main'
    if comm in ANSIBLE_TOOLS:
        return 'ansible-tools'
    if comm in STATIC:
        return 'static'
    if comm in APP:
        return 'app'
    if comm in BACKUP:
        return 'backup'
    if comm in DOCKER or comm.startswith('runc') or comm.startswith('containerd'):
        return 'docker'
    if comm in PYTHONS or comm.startswith('python'):
        if 'ansible-playboo' in up[:4]:
            return 'module'                 # local connection: worker -> sh -> sh -> python
        if up[:2] == ['sh', 'containerd-shim'] or up[:3] == ['sh', 'sh', 'containerd-shim']:
            # docker exec'd into a test host: a module run if short, else a service or a probe
            return 'module' if elapsed < 60 else 'harness'
        if 'ansible-lint' in up or 'ansible-test' in up:
            return 'static'
        if up[:1] == ['docker-init'] or up[:1] == ['containerd-shim'] or (elapsed >= 60 and 'containerd-shim' in up):
            return 'app'                    # uvicorn, Celery, one-off migration containers: the stacks' Python
        if 'pytest' in up or 'molecule' in up:
            return 'harness'
        return 'harness' if elapsed < 60 else 'app'
    if comm == 'pytest':
        return 'harness'
    if comm in ('pip', 'pip3'):
        return 'harness'
    if comm in SHELL:
        return 'shell'
    return 'other'


def report(path):
    rows = read_records(path)
    parents = parent_index(rows)
    cpu = collections.Counter()
    count = collections.Counter()
    other = collections.Counter()
    for i, row in enumerate(rows):
        kind = classify(i, rows, parents)
        cpu[kind] += row[1]
        count[kind] += 1
        if kind == 'other':
            other[row[0]] += row[1]
    total = sum(cpu.values())
    return {'total_cpu_s': round(total, 1), 'processes': len(rows),
            'kinds': [{'kind': k, 'what': what, 'cpu_s': round(cpu[k], 1), 'share': round(cpu[k] / total, 3) if total else 0,
                       'processes': count[k]} for k, what in KINDS],
            'other_top': [{'comm': c, 'cpu_s': round(s, 1)} for c, s in other.most_common(8)]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('pacct', help='the process accounting file (accton FILE ... accton off)')
    parser.add_argument('--json', help='also write the figures here')
    args = parser.parse_args(argv)
    result = report(args.pacct)
    print('%d processes ended, %.0f CPU seconds' % (result['processes'], result['total_cpu_s']))
    for row in result['kinds']:
        print('%8.1f s %5.1f %% %7d  %s' % (row['cpu_s'], 100 * row['share'], row['processes'], row['what']))
    if result['other_top']:
        print('other: ' + ', '.join('%s %.1f s' % (r['comm'], r['cpu_s']) for r in result['other_top']))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
