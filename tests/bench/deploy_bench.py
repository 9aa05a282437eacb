#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deploy and rollback benchmark: the runbook as written vs one compose task vs aishield.ops.

Measurements (issue 8): 1 downtime under a >= 50 req/s probe of /health through the published
proxy port, 2 deploy wall time v1 -> v2 in alternating rounds (median), 3 rollback time
(automatic and manual quick vs the runbook's retag + restart), 5 the slowest tasks from
profile_tasks. Everything runs on this machine's Docker engine, on 127.0.0.1 ports, with a
unique compose project per run that is removed afterwards. Every wait and probe is bounded.

  .venv/bin/python tests/bench/deploy_bench.py            # 3 rounds of all four deployers
  .venv/bin/python tests/bench/deploy_bench.py --quick    # smoke mode: the runbook and the rolling deployer once
Results: tests/bench/results/deploy.json (report.py turns it into the table and plots).
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REGISTRY = '127.0.0.1:5000'
S3_ENDPOINT = 'http://127.0.0.1:9000'
BUCKET = 'aishield-backups'
DEPLOYERS = ('runbook', 'compose_task', 'recreate', 'rolling')
# A probe request unanswered after this long counts as failed; --probe-timeout changes it.
PROBE_TIMEOUT = 1.0
BANNER = re.compile(r'^(?:TASK|RUNNING HANDLER) \[(.*?)\]')
STAMP = re.compile(r'\(\d+:\d+:[\d.]+\)\s+(\d+):(\d+):([\d.]+)')
RECAP_LINE = re.compile(r'^(.*?) -+ ([\d.]+)s$')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def load():
    return [round(x, 2) for x in os.getloadavg()]


def sh(cmd, timeout=300, check=True, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(map(str, cmd)), proc.returncode, (proc.stderr or proc.stdout)[-1500:]))
    return proc


def http_status(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec - 127.0.0.1 only
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b''
    except (socket.timeout, TimeoutError):
        return 'timeout', b''
    except urllib.error.URLError as exc:
        return 'timeout' if isinstance(exc.reason, (socket.timeout, TimeoutError)) else type(exc.reason).__name__, b''
    except Exception as exc:  # pylint: disable=broad-except
        return type(exc).__name__, b''


class Probe(object):
    """GET url every 1/rate s (requests overlap when one is slow); bounded by stop() or max_seconds."""

    def __init__(self, url, rate=50, timeout=1.0, max_seconds=900):
        self.url, self.rate, self.timeout, self.max_seconds = url, rate, timeout, max_seconds
        self.samples = []  # (t_start relative, ok, latency_s)
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=16)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()
        self.t0 = None

    def _one(self, start):
        status, _body = http_status(self.url, self.timeout)
        with self._lock:
            self.samples.append((start - self.t0, status == 200, time.monotonic() - start, status))

    def _run(self):
        self.t0 = time.monotonic()
        tick = 0
        while not self._stop.is_set() and time.monotonic() - self.t0 < self.max_seconds:
            due = self.t0 + tick / float(self.rate)
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            self._pool.submit(self._one, time.monotonic())
            tick += 1

    def start(self):
        self._thread.start()
        return self

    def mark(self):
        return time.monotonic() - self.t0

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        return self.summary()

    def summary(self, start=None, end=None):
        samples = sorted((s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)),
                         key=lambda s: s[0])
        oks = [s[0] for s in samples if s[1]]
        bounds = [start if start is not None else 0.0] + oks + [end if end is not None else (samples[-1][0] if samples else 0.0)]
        gap = max((b - a for a, b in zip(bounds, bounds[1:])), default=0.0)
        span = (samples[-1][0] - samples[0][0]) if len(samples) > 1 else 0.0
        # What the failures were: an HTTP status, 'timeout' (no answer within the probe's timeout) or the error's name.
        kinds = collections.Counter(str(s[3]) for s in samples if not s[1])
        return {'requests': len(samples), 'failures': sum(1 for s in samples if not s[1]), 'failed_by_kind': dict(kinds),
                'max_latency_s': round(max((s[2] for s in samples), default=0.0), 3),
                'rate': round(len(samples) / span, 1) if span else 0.0, 'longest_gap_s': round(gap, 3)}

    def timeline(self):
        return [[round(sample[0], 3), sample[1]] for sample in sorted(self.samples, key=lambda sample: sample[0])]


def profile(log):
    """Task start times (s since the play began) and the TASKS RECAP lines of a profile_tasks log."""
    lines = log.splitlines()
    marks = []
    for index, line in enumerate(lines):
        match = BANNER.match(line)
        if match:
            for nxt in lines[index + 1:index + 3]:
                stamp = STAMP.search(nxt)
                if stamp:
                    hours, minutes, seconds = stamp.groups()
                    marks.append((match.group(1), int(hours) * 3600 + int(minutes) * 60 + float(seconds)))
                    break
    recap, seen = [], False
    for line in lines:
        if line.startswith('TASKS RECAP'):
            seen = True
        elif seen:
            match = RECAP_LINE.match(line.strip())
            if match:
                recap.append([match.group(1).strip(), float(match.group(2))])
    stats = re.search(r'ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)', log)
    counts = dict(zip(('ok', 'changed', 'failed', 'skipped'), map(int, stats.groups()))) if stats else {}
    return marks, recap, counts


class Stack(object):
    """One private stack: project, ports, root and secrets; removed by close()."""

    def __init__(self, work, name):
        self.name = name
        self.project = 'aishield-bench-%s-%s' % (name, secrets.token_hex(3))
        self.dir = Path(tempfile.mkdtemp(prefix=name + '-', dir=str(work)))
        self.root = self.dir / 'root'
        self.http_port, self.frontend_port = free_port(), free_port()
        self.secrets = {'POSTGRES_PASSWORD': 'pw' + secrets.token_hex(8), 'SECRET_KEY': secrets.token_hex(24),
                        'ADMIN_PASSWORD': 'ad' + secrets.token_hex(8)}
        self.vars_file = self.dir / 'vars.json'
        self.vars_file.touch(mode=0o600)
        self.tags = []

    @property
    def health_url(self):
        return 'http://127.0.0.1:%d/health' % self.http_port

    def close(self):
        sh(['docker', 'compose', '-p', self.project, 'down', '-v', '--remove-orphans'], timeout=300, check=False)
        for tag in self.tags:
            sh(['docker', 'rmi', tag], check=False)
        shutil.rmtree(str(self.dir), ignore_errors=True)

    # --- the collection -----------------------------------------------------------------------

    def playbook(self, playbook, strategy, version=None, extra=None, timeout=1800):
        data = {'aishield_root': str(self.root), 'aishield_project': self.project, 'aishield_http_port': self.http_port,
                'aishield_frontend_port': self.frontend_port, 'aishield_secrets': self.secrets,
                'aishield_strategy': strategy, 'aishield_backup_prefix': 'bench'}
        data.update({'aishield_version': version} if version else {})
        data.update(extra or {})
        self.vars_file.write_text(json.dumps(data))
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                   PROFILE_TASKS_TASK_OUTPUT_LIMIT='300', PATH='%s:%s' % (BIN, os.environ['PATH']))
        started = time.monotonic()
        proc = subprocess.run([str(BIN / 'ansible-playbook'), 'playbooks/' + playbook, '-i', 'inventories/local',
                               '-e', '@%s' % self.vars_file], cwd=str(REPO), env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        return proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr

    # --- the baselines' project directory -----------------------------------------------------

    def write_env(self, backend_image):
        self.dir.joinpath('compose.yml').write_text((REPO / 'roles/compose_deploy/files/compose.yml').read_text())
        env = {'AISHIELD_BACKEND_IMAGE': backend_image, 'AISHIELD_FRONTEND_IMAGE': REGISTRY + '/aishield/frontend:v1',
               'AISHIELD_PROXY_IMAGE': REGISTRY + '/aishield/proxy:v1', 'AISHIELD_DB_IMAGE': REGISTRY + '/aishield/postgres:15',
               'AISHIELD_REDIS_IMAGE': REGISTRY + '/aishield/redis:7', 'AISHIELD_BIND_ADDRESS': '127.0.0.1',
               'AISHIELD_HTTP_PORT': self.http_port, 'AISHIELD_FRONTEND_PORT': self.frontend_port}
        env.update(self.secrets)
        path = self.dir / '.env'
        path.touch(mode=0o600)
        path.write_text(''.join("%s='%s'\n" % item for item in env.items()))

    def compose(self, *args, timeout=600, check=True):
        return sh(['docker', 'compose', '-p', self.project, '--project-directory', str(self.dir)] + list(args),
                  timeout=timeout, check=check)

    def baseline_setup(self, backend_image):
        """v1 as the runbook leaves it: data services, the schema, then everything (untimed)."""
        self.write_env(backend_image)
        self.compose('up', '-d', '--wait', '--wait-timeout', '300', 'db', 'redis')
        self.compose('run', '--rm', '--no-deps', 'backend', 'alembic', 'upgrade', 'head')
        self.compose('up', '-d', '--wait', '--wait-timeout', '300')


def runbook_deploy(stack, version):
    """Seed runbook steps 1 and 3-6, literally (step 2 builds and pushes: the registry has v2)."""
    steps = {}

    def step(name, func):
        started = time.monotonic()
        func()
        steps[name] = round(time.monotonic() - started, 2)

    dump = stack.dir / ('backup_%s.sql' % time.strftime('%Y%m%d_%H%M%S'))

    def backup():
        with open(str(dump), 'wb') as out:
            subprocess.run(['docker', 'compose', '-p', stack.project, '--project-directory', str(stack.dir), 'exec', '-T', 'db',
                            'pg_dump', '-U', 'aishield', 'aishield'], stdout=out, check=True, timeout=600)
        import boto3  # pylint: disable=import-outside-toplevel
        boto3.client('s3', endpoint_url=S3_ENDPOINT, aws_access_key_id='testbed', aws_secret_access_key='testbed',
                     region_name='us-east-1').upload_file(str(dump), BUCKET, 'bench/%s/%s' % (stack.project, dump.name))

    def migrate():
        stack.compose('exec', '-T', 'backend', 'alembic', 'upgrade', 'head')
        stack.compose('exec', '-T', 'db', 'psql', '-U', 'aishield', '-c', 'SELECT * FROM alembic_version;')

    def start():
        stack.compose('down')
        stack.compose('up', '-d')
        time.sleep(10)

    smoke = {}

    def smoke_tests():
        smoke['health'] = http_status(stack.health_url, 5)[0]
        smoke['api_health'] = http_status('http://127.0.0.1:%d/api/v1/health' % stack.http_port, 5)[0]
        smoke['frontend'] = http_status('http://127.0.0.1:%d/' % stack.frontend_port, 5)[0]

    step('1 backup', backup)
    stack.write_env(REGISTRY + '/aishield/backend:' + version)  # the new release's image
    step('3 pull', lambda: stack.compose('pull'))
    step('4 migrate (old container)', migrate)
    step('5 down, up -d, sleep 10', start)
    step('6 smoke (curl)', smoke_tests)
    return {'steps': steps, 'smoke_status': smoke}


def compose_task_deploy(stack, version):
    """What a user writes instead of a collection: compose run alembic, then one docker_compose_v2 task."""
    stack.write_env(REGISTRY + '/aishield/backend:' + version)
    play = [{'name': 'Deploy with one compose task', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'Migrate with the new image', 'ansible.builtin.command': {
            'argv': ['docker', 'compose', '-p', stack.project, 'run', '--rm', 'backend', 'alembic', 'upgrade', 'head'],
            'chdir': str(stack.dir)}},
        {'name': 'Deploy', 'community.docker.docker_compose_v2': {
            'project_src': str(stack.dir), 'project_name': stack.project, 'pull': 'always', 'wait': True,
            'wait_timeout': 300, 'state': 'present'}}]}]
    path = stack.dir / 'compose-task.yml'
    path.write_text(json.dumps(play))
    inventory = stack.dir / 'inventory.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), PATH='%s:%s' % (BIN, os.environ['PATH']))
    proc = subprocess.run([str(BIN / 'ansible-playbook'), '-i', str(inventory), str(path)], cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError('compose task deploy failed: %s' % proc.stdout[-2000:])
    return {}


def timed_under_probe(stack, func, rate):
    probe = Probe(stack.health_url, rate=rate, timeout=PROBE_TIMEOUT).start()
    time.sleep(1.0)
    started = probe.mark()
    t0 = time.monotonic()
    try:
        detail = func()
    finally:
        wall = time.monotonic() - t0
        ended = probe.mark()
        time.sleep(1.0)
        probe.stop()
    return wall, probe.summary(started, ended), probe, detail


def one_deploy(work, deployer, rate, results_dir):
    """Fresh v1 (untimed), then v1 -> v2 timed under the probe."""
    stack = Stack(work, deployer)
    try:
        if deployer in ('runbook', 'compose_task'):
            stack.baseline_setup(REGISTRY + '/aishield/backend:v1')
            func = {'runbook': runbook_deploy, 'compose_task': compose_task_deploy}[deployer]
            wall, probe_sum, probe, detail = timed_under_probe(stack, lambda: func(stack, 'v2'), rate)
            log = ''
        else:
            rc, _wall, log = stack.playbook('deploy.yml', deployer, 'v1')
            if rc != 0:
                raise RuntimeError('setup deploy of v1 failed:\n' + log[-3000:])
            holder = {}

            def deploy():
                holder['rc'], _w, holder['log'] = stack.playbook('deploy.yml', deployer, 'v2')
                return {}
            wall, probe_sum, probe, detail = timed_under_probe(stack, deploy, rate)
            log = holder['log']
            if holder['rc'] != 0:
                raise RuntimeError('deploy of v2 failed:\n' + log[-3000:])
            (results_dir / ('deploy-%s.log' % deployer)).write_text(log)
            # Where the time went, phase by phase, as the release record keeps it.
            detail = {'phases': json.loads((stack.root / 'current' / 'release.json').read_text()).get('phases', {})}
        _marks, recap, counts = profile(log)
        return dict(deployer=deployer, wall_s=round(wall, 2), probe=probe_sum, timeline=probe.timeline(), load=load(),
                    tasks=counts, slowest=recap[:10], **detail)
    finally:
        stack.close()


def rollbacks(work, rate, results_dir):
    """Ours: automatic (v3 fails its smoke test after v1 -> v2) and manual quick; baseline: retag + restart."""
    out = {}
    stack = Stack(work, 'rb-ours')
    try:
        for version in ('v1', 'v2'):
            rc, _w, log = stack.playbook('deploy.yml', 'rolling', version)
            if rc != 0:
                raise RuntimeError('setup deploy of %s failed:\n%s' % (version, log[-3000:]))
        holder = {}

        def deploy_v3():
            holder['rc'], _w, holder['log'] = stack.playbook('deploy.yml', 'rolling', 'v3', {'aishield_smoke_deadline': 15})
        wall, _sum, probe, _detail = timed_under_probe(stack, deploy_v3, rate)
        (results_dir / 'rollback-auto.log').write_text(holder['log'])
        marks, _recap, _counts = profile(holder['log'])
        names = [name for name, _t in marks]
        # From the rescue's first task to the lock's release, which follows the rolled-back release's smoke test.
        start = next((t for name, t in marks if name.endswith('Name the failure and decide whether to roll back')), None)
        end = [t for name, t in marks if name.endswith('Release the deploy lock if this run holds it')]
        first = marks[0][1] if marks else 0.0
        auto = {'rc': holder['rc'], 'deploy_wall_s': round(wall, 2), 'load': load(),
                'rolled_back': 'Rolled back automatically to' in holder['log']}
        if start is not None and end:
            # Probe time axis: the probe started 1 s before the playbook, whose first task is ~0 s.
            window = (1.0 + start - first, 1.0 + end[-1] - first)
            auto.update(rollback_s=round(end[-1] - start, 2), probe=probe.summary(*window), window=window)
        auto['timeline'] = probe.timeline()
        rescue_at = next((i for i, name in enumerate(names) if name.endswith('Name the failure and decide whether to roll back')), None)
        auto['tasks_in_rescue'] = len(names) - rescue_at if rescue_at is not None else None
        out['ours_auto'] = auto

        holder = {}

        def manual():
            holder['rc'], _w, holder['log'] = stack.playbook('rollback.yml', 'rolling')
        wall, probe_sum, probe, _detail = timed_under_probe(stack, manual, rate)
        (results_dir / 'rollback-manual.log').write_text(holder['log'])
        out['ours_manual_quick'] = {'rc': holder['rc'], 'wall_s': round(wall, 2), 'probe': probe_sum, 'load': load(),
                                    'timeline': probe.timeline(), 'tasks': profile(holder['log'])[2]}
    finally:
        stack.close()
    out['runbook_retag_restart'] = runbook_rollback(work, rate)
    return out


def runbook_rollback(work, rate):
    """The runbook's quick rollback, literally: retag previous as current, `compose restart backend`."""
    stack = Stack(work, 'rb-runbook')
    current = 'aishield-bench-%s/backend:current' % secrets.token_hex(3)
    try:
        sh(['docker', 'pull', '-q', REGISTRY + '/aishield/backend:v1'])
        sh(['docker', 'pull', '-q', REGISTRY + '/aishield/backend:v2'])
        sh(['docker', 'tag', REGISTRY + '/aishield/backend:v2', current])
        stack.tags.append(current)
        stack.baseline_setup(current)

        def retag_restart():
            sh(['docker', 'tag', REGISTRY + '/aishield/backend:v1', current])
            stack.compose('restart', 'backend')
            return {}
        wall, probe_sum, probe, _detail = timed_under_probe(stack, retag_restart, rate)
        deadline = time.monotonic() + 60
        while http_status(stack.health_url)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        _status, body = http_status(stack.health_url, 5)
        try:
            version = json.loads(body.decode()).get('version')
        except ValueError:
            version = None
        return {'wall_s': round(wall, 2), 'probe': probe_sum, 'load': load(), 'timeline': probe.timeline(),
                'version_after': version, 'rolled_back': version == 'v1'}
    finally:
        stack.close()


def main():
    global PROBE_TIMEOUT  # pylint: disable=global-statement
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--rounds', type=int, default=3, help='alternating rounds of all deployers (median over them)')
    parser.add_argument('--rate', type=int, default=50, help='probe requests per second')
    parser.add_argument('--probe-timeout', type=float, default=PROBE_TIMEOUT,
                        help='seconds a probe request may take before it counts as failed (reported as "timeout")')
    parser.add_argument('--quick', action='store_true',
                        help='smoke mode: one runbook and one rolling deploy, and the runbook\'s rollback')
    parser.add_argument('--deployers', default=','.join(DEPLOYERS),
                        help='comma-separated subset of %s (default: all)' % ', '.join(DEPLOYERS))
    parser.add_argument('--no-rollback', action='store_true', help='skip the rollback measurements')
    parser.add_argument('--results', default=str(REPO / 'tests/bench/results'))
    args = parser.parse_args()
    PROBE_TIMEOUT = args.probe_timeout
    chosen = tuple(d for d in args.deployers.split(',') if d)
    unknown = sorted(set(chosen) - set(DEPLOYERS))
    if unknown:
        parser.error('unknown deployer(s) %s; known: %s' % (', '.join(unknown), ', '.join(DEPLOYERS)))
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='aishield-bench-'))
    started = time.monotonic()
    data = {'command': ' '.join(['.venv/bin/python', 'tests/bench/deploy_bench.py'] + sys.argv[1:]), 'quick': args.quick,
            'machine': {'cpus': os.cpu_count(), 'load_before': load(),
                        'docker': sh(['docker', 'version', '--format', '{{.Server.Version}}']).stdout.strip()},
            'rate': args.rate, 'probe_timeout_s': args.probe_timeout, 'runs': []}
    try:
        deployers = ('runbook', 'rolling') if args.quick else chosen
        for round_no in range(1 if args.quick else args.rounds):
            for deployer in deployers:
                run = one_deploy(work, deployer, args.rate, results_dir)
                run['round'] = round_no + 1
                data['runs'].append(run)
                tasks_ok = (run.get('tasks') or {}).get('ok', '-')
                print('%-13s round %d: %.1f s, tasks ok=%s, probe %s, load %s'
                      % (deployer, round_no + 1, run['wall_s'], tasks_ok, run['probe'], run['load']), flush=True)
        if not args.no_rollback:
            data['rollback'] = ({'runbook_retag_restart': runbook_rollback(work, args.rate)} if args.quick
                                else rollbacks(work, args.rate, results_dir))
        print('rollback: %s' % json.dumps({k: {x: y for x, y in v.items() if x != 'timeline'} for k, v in data.get('rollback', {}).items()}),
              flush=True)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
    data['medians'] = {d: {'wall_s': statistics.median([r['wall_s'] for r in data['runs'] if r['deployer'] == d]),
                           'tasks_ok': statistics.median([(r.get('tasks') or {}).get('ok', 0) for r in data['runs'] if r['deployer'] == d]),
                           'failures': statistics.median([r['probe']['failures'] for r in data['runs'] if r['deployer'] == d]),
                           'longest_gap_s': statistics.median([r['probe']['longest_gap_s'] for r in data['runs'] if r['deployer'] == d])}
                       for d in DEPLOYERS if any(r['deployer'] == d for r in data['runs'])}
    data['scale'] = {'measured': False, 'reason': 'one host here; tests/bench/fleet_bench.py times 1, 2 and 4 app hosts'}
    data['machine']['load_after'] = load()
    data['total_bench_s'] = round(time.monotonic() - started, 1)
    out = results_dir / ('deploy-quick.json' if args.quick else 'deploy.json')
    out.write_text(json.dumps(data, indent=1) + '\n')
    print('wrote %s (%.0f s)' % (out, data['total_bench_s']))


if __name__ == '__main__':
    main()
