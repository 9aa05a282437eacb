#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Soak benchmark: many deploy / failed deploy / rollback cycles on one stack, under a /health probe.

One private stack (project, root, ports, secrets, backup prefix) gets v1 once (setup, unprobed), then each
cycle, under its own 50 req/s probe of /health through the published proxy port:
  1. deploy v2 (rolling; the first cycle migrates to 0002, later ones find the schema at v2's head);
  2. deploy v3 (its /api/v1/health is broken): the smoke test fails, the deploy rolls back to v2 by itself
     and exits non-zero;
  3. a manual quick rollback to v1's release.
Afterwards it requires: 0 failed probe requests; every run's exit code and serving version as expected;
no leftover containers, networks or volumes of the project (nor exited or one-off ones); release
directories within aishield_keep_releases (default 5); one audit.log line per action the cycles took;
backups under this run's prefix within the GFS retention (daily 7 / weekly 4 / monthly 6).

  .venv/bin/python tests/bench/soak.py --cycles 100      # the soak (hours on 2 cores)
  .venv/bin/python tests/bench/soak.py --smoke --results DIR   # one cycle, for make test
Results: tests/bench/results/soak.json (soak-smoke.json in smoke mode). Exit 1 when a requirement fails.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_bench import BIN, BUCKET, REPO, S3_ENDPOINT, Probe, Stack, http_status, load, sh  # noqa: E402

KEEP_RELEASES = 5  # the engine's default, which the soak keeps (aishield_keep_releases is not set)
GFS = {'daily': 7, 'weekly': 4, 'monthly': 6}  # the backup role's default retention
BACKUP_NAME = re.compile(r'/(\d{8}T\d{6}Z)\.dump$')
ROLLED_BACK = 'Rolled back automatically to'
# The audit lines one cycle must add, by kind (see audit_kind); read off a real run's audit.log:
# v2: deploy started, switch (deploy), deploy good; v3: deploy started, switch (deploy), deploy failed,
# switch (rollback), rollback (automatic); manual rollback: switch (rollback), rollback (manual).
AUDIT_PER_CYCLE = {'deploy/started': 2, 'deploy/good': 1, 'deploy/failed': 1, 'switch/deploy': 2,
                   'switch/rollback': 2, 'rollback/automatic': 1, 'rollback/manual': 1}


class Interrupted(Exception):
    """SIGTERM, turned into an exception so that every finally block (and the cleanup) runs."""


def on_sigterm(_signum, _frame):
    raise Interrupted('SIGTERM')


class SoakStack(Stack):
    """deploy_bench's Stack, but each playbook runs in its own process group.

    Stack.playbook's subprocess.run kills only ansible-playbook on a timeout or Ctrl-C; its forked
    workers (a docker compose call mid-switch) would outlive it and race the cleanup's `down -v`.
    """

    def __init__(self, work, name, extra):
        super().__init__(work, name)
        self.extra = extra
        self.logs_dir = None

    def playbook(self, playbook, strategy, version=None, extra=None, timeout=1800):
        data = {'aishield_root': str(self.root), 'aishield_project': self.project, 'aishield_http_port': self.http_port,
                'aishield_frontend_port': self.frontend_port, 'aishield_secrets': self.secrets,
                'aishield_strategy': strategy}
        data.update(self.extra)
        data.update({'aishield_version': version} if version else {})
        data.update(extra or {})
        self.vars_file.write_text(json.dumps(data))  # created 0600 by Stack
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                   PATH='%s:%s' % (BIN, os.environ['PATH']))
        started = time.monotonic()
        proc = subprocess.Popen([str(BIN / 'ansible-playbook'), 'playbooks/' + playbook, '-i', 'inventories/local',
                                 '-e', '@%s' % self.vars_file], cwd=str(REPO), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _err = proc.communicate(timeout=timeout)
        except BaseException:  # timeout, Ctrl-C, SIGTERM: stop the whole run, workers included
            kill_group(proc)
            raise
        return proc.returncode, time.monotonic() - started, out

    def masked(self, text):
        for value in self.secrets.values():
            text = text.replace(value, '********')
        return text


class SoakProbe(Probe):
    """deploy_bench's Probe, also keeping each failed request's wall-clock time, status and latency (status 0:
    no HTTP answer, e.g. refused or timed out), to line failures up with the audit log and the playbook output."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed = []

    def _one(self, start):
        wall = time.time()
        status, _body = http_status(self.url, self.timeout)
        latency = time.monotonic() - start
        with self._lock:
            self.samples.append((start - self.t0, status == 200, latency, status))
            if status != 200:
                self.failed.append({'t': round(start - self.t0, 3), 'utc': time.strftime('%H:%M:%S', time.gmtime(wall)) + '.%03dZ' % (wall % 1 * 1000),
                                    'status': status, 'latency_s': round(latency, 3)})


def kill_group(proc):
    """SIGTERM the playbook's process group, SIGKILL after 20 s; bounded."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def served_version(stack):
    """The version /health reports, asked up to 10 times over at most ~10 s (the probe may be busy)."""
    for _attempt in range(10):
        status, body = http_status(stack.health_url, 2.0)
        if status == 200:
            try:
                return json.loads(body.decode()).get('version')
            except ValueError:
                return None
        time.sleep(0.5)
    return None


def release_records(stack):
    out = []
    for path in sorted(stack.root.glob('releases/*/release.json')):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            out.append({'release_id': path.parent.name, 'status': 'unreadable'})
    return out


def current_release(stack):
    try:
        return json.loads((stack.root / 'current' / 'release.json').read_text())
    except (OSError, ValueError):
        return {}


def v1_release_id(stack):
    """The newest release of v1 that a rollback may target (good, or good before a rollback away from it)."""
    ids = [r['release_id'] for r in release_records(stack)
           if r.get('version') == 'v1' and r.get('status') in ('good', 'rolled_back')]
    return max(ids) if ids else ''


def audit_lines(stack):
    path = stack.root / 'audit.log'
    return path.read_text().splitlines() if path.exists() else []


def audit_kind(line):
    """'<action>/<status or reason>' of one audit line; rollbacks split into automatic and manual."""
    try:
        entry = json.loads(line)
    except ValueError:
        return 'unparseable'
    if not isinstance(entry, dict):
        return 'unparseable'
    action = entry.get('action', '?')
    if action == 'rollback':
        return 'rollback/' + ('automatic' if str(entry.get('reason', '')).startswith('automatic') else 'manual')
    if action == 'switch':
        return 'switch/' + str(entry.get('reason', '?'))
    return '%s/%s' % (action, entry.get('status', '-'))


# --- Docker resources of the project -----------------------------------------------------------

def resources(project):
    """Containers, networks and volumes labelled with the project or named after it."""
    fmt = '{{.ID}}\t{{.Names}}\t{{.State}}\t{{.Label "com.docker.compose.service"}}\t{{.Label "com.docker.compose.oneoff"}}'
    containers = {}
    for flt in ('label=com.docker.compose.project=' + project, 'name=' + project):
        for line in sh(['docker', 'ps', '-a', '--no-trunc', '--filter', flt, '--format', fmt], timeout=60).stdout.splitlines():
            cid, name, state, service, oneoff = (line.split('\t') + [''] * 5)[:5]
            containers[cid] = {'name': name, 'state': state, 'service': service, 'oneoff': oneoff.lower() == 'true'}
    found = {'containers': sorted(containers.values(), key=lambda c: c['name'])}
    for kind in ('network', 'volume'):
        names = set()
        for flt in ('label=com.docker.compose.project=' + project, 'name=' + project):
            names.update(sh(['docker', kind, 'ls', '--filter', flt, '--format', '{{.Name}}'], timeout=60).stdout.split())
        found[kind + 's'] = sorted(names)
    return found


def service_counts(found):
    return dict(collections.Counter(c['service'] or c['name'] for c in found['containers'] if not c['oneoff']))


# --- S3 ----------------------------------------------------------------------------------------

def s3_client():
    import boto3  # pylint: disable=import-outside-toplevel
    return boto3.client('s3', endpoint_url=S3_ENDPOINT, aws_access_key_id='testbed', aws_secret_access_key='testbed',
                        region_name='us-east-1')


def s3_keys(prefix):
    keys, token = [], None
    for _page in range(100):  # bounded: 100,000 keys is far more than one run writes
        kwargs = {'Bucket': BUCKET, 'Prefix': prefix + '/'}
        if token:
            kwargs['ContinuationToken'] = token
        page = s3_client().list_objects_v2(**kwargs)
        keys += [obj['Key'] for obj in page.get('Contents', [])]
        token = page.get('NextContinuationToken')
        if not token:
            break
    return keys


def gfs_keep(stamped, pinned):
    """What the documented GFS policy keeps of [(stamp, key)]: the newest, the pinned key, and the newest of
    each of the 7 newest days, 4 newest ISO weeks and 6 newest months that have backups. Written here from
    the policy, not imported from the engine, so that the check does not share the engine's bugs."""
    ordered = sorted(stamped, reverse=True)
    keep = set([ordered[0][1]] if ordered else []) | ({pinned} & set(k for _s, k in ordered))
    for name, bucket_of in (('daily', lambda m: m.date()), ('weekly', lambda m: m.isocalendar()[:2]),
                            ('monthly', lambda m: (m.year, m.month))):
        seen = []
        for moment, key in ordered:
            bucket = bucket_of(moment)
            if bucket not in seen and len(seen) < GFS[name]:
                seen.append(bucket)
                keep.add(key)
    return keep


def check_backups(prefix, pinned):
    keys = s3_keys(prefix)
    stamped, staging, other = [], [], []
    # Each backup's record (<key>.json: sha256 and size), written once its upload completed.
    records = {key for key in keys if key.endswith('.dump.json')}
    for key in keys:
        match = BACKUP_NAME.search(key)
        if key in records:
            continue
        if '/_incomplete/' in key:
            staging.append(key)
        elif match:
            stamped.append((datetime.datetime.strptime(match.group(1), '%Y%m%dT%H%M%SZ'), key))
        else:
            other.append(key)
    keep = gfs_keep(stamped, pinned)
    extra = sorted(k for _s, k in stamped if k not in keep)
    days = len(set(s.date() for s, _k in stamped))
    limit = sum(GFS.values()) + 1  # every bucket full, plus the pinned backup of the release before
    # Retention deletes a backup with its record: no record outlives its backup, and no kept backup lacks one.
    orphan_records = sorted(r for r in records if r[:-len('.json')] not in keys)
    unrecorded = sorted(k for _s, k in stamped if k + '.json' not in records)
    ok = not extra and not staging and len(stamped) <= limit and not orphan_records and not unrecorded
    return ok, {'backups': len(stamped), 'days_with_backups': days, 'gfs_keep': len(keep), 'beyond_gfs': extra,
                'pinned': pinned or None, 'limit_all_buckets_full': limit, 'staging': staging, 'other': other,
                'orphan_records': orphan_records, 'unrecorded': unrecorded,
                'keys': sorted(k for _s, k in stamped)}


def delete_keys(keys):
    client = s3_client()
    for start in range(0, len(keys), 1000):
        client.delete_objects(Bucket=BUCKET, Delete={'Objects': [{'Key': k} for k in keys[start:start + 1000]]})


# --- one cycle ---------------------------------------------------------------------------------

def run_step(stack, probe, name, playbook, version, extra, expect_rc_zero, expect_version, results_dir, cycle):
    start = probe.mark()
    rc, wall, log = stack.playbook(playbook, 'rolling', version, extra, timeout=1800)
    served = served_version(stack)
    step = {'step': name, 'rc': rc, 'wall_s': round(wall, 2), 'probe_window': [round(start, 3), round(probe.mark(), 3)],
            'served_version': served, 'expected_version': expect_version}
    problems = []
    if (rc == 0) != expect_rc_zero:
        problems.append('exit code %d, expected %s' % (rc, '0' if expect_rc_zero else 'non-zero'))
    if not expect_rc_zero and ROLLED_BACK not in log:
        problems.append('no "%s" in the output' % ROLLED_BACK)
    if served != expect_version:
        problems.append('/health serves %s, expected %s' % (served, expect_version))
    step['ok'] = not problems
    if problems:
        step['problems'] = problems
        path = results_dir / ('soak-cycle%d-%s.log' % (cycle, name))
        path.write_text(stack.masked(log))  # secret values masked, in case a task printed one
        step['log'] = str(path)
    return step


def failures_by_step(probe, steps):
    """Failed probe requests attributed to the step running when they were sent (or 'between')."""
    out = collections.Counter()
    for t, ok, *_rest in list(probe.samples):
        if ok:
            continue
        owner = next((s['step'] for s in steps if s['probe_window'][0] <= t <= s['probe_window'][1]), 'between')
        out[owner] += 1
    return dict(out)


def one_cycle(stack, number, args, results_dir):
    probe = SoakProbe(stack.health_url, rate=args.rate, timeout=args.probe_timeout, max_seconds=args.cycle_timeout).start()
    started = time.monotonic()
    steps, audit_before = [], len(audit_lines(stack))
    try:
        time.sleep(0.5)  # a few requests before the first playbook starts
        steps.append(run_step(stack, probe, 'deploy_v2', 'deploy.yml', 'v2', None, True, 'v2', results_dir, number))
        steps.append(run_step(stack, probe, 'deploy_v3', 'deploy.yml', 'v3', {'aishield_smoke_deadline': args.smoke_deadline},
                              False, 'v2', results_dir, number))
        target = v1_release_id(stack)
        step = run_step(stack, probe, 'rollback_v1', 'rollback.yml', None, {'aishield_rollback_to': target}, True, 'v1',
                        results_dir, number)
        step['target'] = target
        if current_release(stack).get('release_id') != target or not target:
            step['ok'] = False
            step.setdefault('problems', []).append('current is %s, expected v1 release %s'
                                                   % (current_release(stack).get('release_id'), target or '(none found)'))
        steps.append(step)
        time.sleep(0.5)
    finally:
        end = probe.mark()
        probe.stop()
    wall = time.monotonic() - started
    lines = audit_lines(stack)[audit_before:]
    return {'cycle': number, 'wall_s': round(wall, 2), 'load': load(), 'steps': steps,
            'probe': probe.summary(0.0, end), 'probe_failures_by_step': failures_by_step(probe, steps),
            'probe_failed': sorted(probe.failed, key=lambda f: f['t'])[:50],
            'probe_max_latency_s': round(max((s[2] for s in probe.samples), default=0.0), 3),
            'audit': dict(collections.Counter(audit_kind(line) for line in lines)),
            'ok': all(s['ok'] for s in steps)}


# --- the checks --------------------------------------------------------------------------------

def final_checks(stack, data, before, audit_start, prefix):
    cycles = data['cycles']
    done = len(cycles)
    checks = {}

    requests = sum(c['probe']['requests'] for c in cycles)
    failures = sum(c['probe']['failures'] for c in cycles)
    checks['probe_no_failures'] = {'ok': failures == 0 and requests > 0, 'requests': requests, 'failures': failures,
                                   'longest_gap_s': max((c['probe']['longest_gap_s'] for c in cycles), default=0.0)}

    bad = [{'cycle': c['cycle'], 'step': s['step'], 'problems': s['problems']} for c in cycles for s in c['steps'] if not s['ok']]
    runs = collections.Counter((s['step'], s['rc'] == 0) for c in cycles for s in c['steps'])
    checks['runs_as_expected'] = {'ok': not bad and done == data['cycles_requested'], 'cycles_done': done,
                                  'deploy_v2_ok': runs[('deploy_v2', True)], 'deploy_v3_failed': runs[('deploy_v3', False)],
                                  'rollback_ok': runs[('rollback_v1', True)], 'unexpected': bad[:20]}

    after = resources(stack.project)
    oneoff = [c['name'] for c in after['containers'] if c['oneoff']]
    not_running = ['%s (%s)' % (c['name'], c['state']) for c in after['containers'] if c['state'] != 'running']
    checks['no_leftover_resources'] = {
        'ok': (service_counts(after) == service_counts(before) and after['networks'] == before['networks']
               and after['volumes'] == before['volumes'] and not oneoff and not not_running),
        'containers_before': service_counts(before), 'containers_after': service_counts(after),
        'networks_before': before['networks'], 'networks_after': after['networks'],
        'volumes_before': before['volumes'], 'volumes_after': after['volumes'],
        'oneoff_containers': oneoff, 'not_running': not_running}

    records = release_records(stack)
    checks['releases_within_keep'] = {'ok': len(records) <= KEEP_RELEASES, 'keep': KEEP_RELEASES, 'count': len(records),
                                      'current': current_release(stack).get('release_id'),
                                      'releases': ['%s %s' % (r.get('release_id'), r.get('status')) for r in records]}

    lines = audit_lines(stack)[audit_start:]
    counts = collections.Counter(audit_kind(line) for line in lines)
    expected = {k: v * done for k, v in AUDIT_PER_CYCLE.items()}
    kinds = sorted(set(counts) | set(expected))
    per_cycle_bad = [c['cycle'] for c in cycles if c['audit'] != AUDIT_PER_CYCLE]
    checks['audit_one_line_per_action'] = {
        'ok': all(counts.get(k, 0) == expected.get(k, 0) for k in kinds) and not per_cycle_bad,
        'lines': len(lines), 'counts': dict(counts), 'expected': expected, 'cycles_off': per_cycle_bad[:20]}

    # The last deploy's backup ran with the release before it pinned (a full rollback's backup).
    last = max((r for r in records if r.get('backup')), key=lambda r: r['release_id'], default={})
    ok, detail = check_backups(prefix, last.get('previous_backup_key'))
    checks['backups_within_retention'] = dict(detail, ok=ok, retention=GFS)
    return checks


def print_checks(checks):
    for name, check in checks.items():
        shown = dict((k, v) for k, v in check.items() if k not in ('ok', 'keys', 'releases'))
        print('%-28s %s  %s' % (name, 'OK  ' if check['ok'] else 'FAIL', json.dumps(shown)[:600]), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--cycles', type=int, default=100, help='deploy v2 / failed v3 / rollback cycles (default 100)')
    parser.add_argument('--smoke', action='store_true', help='one cycle, written to soak-smoke.json (for make test)')
    parser.add_argument('--rate', type=int, default=50, help='probe requests per second (default 50)')
    parser.add_argument('--probe-timeout', type=float, default=1.0, help='seconds before a probe request counts as failed')
    parser.add_argument('--smoke-deadline', type=int, default=5, help="v3's smoke-test deadline in seconds (default 5)")
    parser.add_argument('--cycle-timeout', type=int, default=3600, help='probe bound per cycle in seconds')
    parser.add_argument('--results', default=str(REPO / 'tests/bench/results'))
    args = parser.parse_args()
    cycles = 1 if args.smoke else args.cycles
    if cycles < 1:
        parser.error('--cycles must be at least 1')
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / ('soak-smoke.json' if args.smoke else 'soak.json')
    signal.signal(signal.SIGTERM, on_sigterm)

    work = Path(tempfile.mkdtemp(prefix='aishield-soak-'))
    # A unique prefix: the retention check counts only this run's backups.
    prefix = 'soak-%s-%s' % (time.strftime('%Y%m%dT%H%M%S'), secrets.token_hex(3))
    stack = SoakStack(work, 'soak', {'aishield_backup_prefix': prefix})
    started = time.monotonic()
    data = {'command': ' '.join(['.venv/bin/python', 'tests/bench/soak.py'] + sys.argv[1:]), 'smoke': args.smoke,
            'cycles_requested': cycles, 'rate': args.rate, 'probe_timeout_s': args.probe_timeout,
            'smoke_deadline_s': args.smoke_deadline, 'keep_releases': KEEP_RELEASES, 'retention': GFS,
            'machine': {'cpus': os.cpu_count(), 'load_before': load(),
                        'docker': sh(['docker', 'version', '--format', '{{.Server.Version}}']).stdout.strip()},
            'cycles': [], 'checks': {}}
    error = None
    try:
        rc, wall, log = stack.playbook('deploy.yml', 'rolling', 'v1', timeout=1800)
        data['setup'] = {'rc': rc, 'wall_s': round(wall, 2), 'served_version': served_version(stack)}
        if rc != 0:
            (results_dir / 'soak-setup.log').write_text(stack.masked(log))
            raise RuntimeError('setup deploy of v1 failed (rc %d), see %s' % (rc, results_dir / 'soak-setup.log'))
        before = resources(stack.project)  # the stack's own containers, networks and volumes
        audit_start = len(audit_lines(stack))
        for number in range(1, cycles + 1):
            cycle = one_cycle(stack, number, args, results_dir)
            data['cycles'].append(cycle)
            runs = ' '.join('%s rc=%d %.0fs %s' % (s['step'], s['rc'], s['wall_s'], s['served_version']) for s in cycle['steps'])
            print('cycle %d/%d: %.1f s, %s, probe %s, load %s' % (number, cycles, cycle['wall_s'], runs, cycle['probe'], cycle['load']),
                  flush=True)
            if not cycle['ok']:
                print('cycle %d: unexpected outcome, stopping: %s' % (number, [s.get('problems') for s in cycle['steps']]), flush=True)
                break
        data['checks'] = final_checks(stack, data, before, audit_start, prefix)
    except (Exception, KeyboardInterrupt, Interrupted) as exc:  # pylint: disable=broad-except
        error = '%s: %s' % (type(exc).__name__, exc)
        print('soak stopped: %s' % error, flush=True)
    finally:
        # The audit log goes with the results (close() removes the root): what the checks counted.
        if (stack.root / 'audit.log').exists():
            out.with_name(out.stem + '-audit.log').write_text((stack.root / 'audit.log').read_text())
        stack.close()
        shutil.rmtree(str(work), ignore_errors=True)
        data['cleanup'] = {'ok': False}
        try:
            left = resources(stack.project)
            data['cleanup'] = {'ok': not (left['containers'] or left['networks'] or left['volumes']), 'left': left}
            keys = s3_keys(prefix)
            delete_keys(keys)
            data['cleanup']['s3_objects_deleted'] = len(keys)
        except Exception as exc:  # pylint: disable=broad-except
            data['cleanup'].update(ok=False, error=str(exc)[:300])
    walls = [c['wall_s'] for c in data['cycles']]
    data.update(error=error, cycles_done=len(walls), total_s=round(time.monotonic() - started, 1),
                wall_per_cycle_s={'median': statistics.median(walls) if walls else None, 'max': max(walls, default=None)},
                probe={'requests': sum(c['probe']['requests'] for c in data['cycles']),
                       'failures': sum(c['probe']['failures'] for c in data['cycles']),
                       'longest_gap_s': max((c['probe']['longest_gap_s'] for c in data['cycles']), default=None)})
    data['machine']['load_after'] = load()
    data['all_ok'] = bool(data['checks']) and error is None and all(c['ok'] for c in data['checks'].values())
    out.write_text(json.dumps(data, indent=1) + '\n')
    print_checks(data['checks'])
    print('cleanup: %s' % ('OK' if data['cleanup']['ok'] else 'FAIL %s' % json.dumps(data['cleanup'])[:400]))
    print('%d cycles, wall per cycle median %s s max %s s; probe %s; %s; wrote %s (%.0f s)' % (
        len(walls), data['wall_per_cycle_s']['median'], data['wall_per_cycle_s']['max'], data['probe'],
        'ALL REQUIREMENTS HELD' if data['all_ok'] else 'REQUIREMENTS FAILED', out, data['total_s']), flush=True)
    return 0 if data['all_ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
