#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet benchmark: deploy wall time of playbooks/deploy_multihost.yml for 1, 2 and 4 app hosts, and the fleet's
quick rollback (playbooks/rollback_multihost.yml) for each.

One db host and up to four app hosts, each a Docker-in-Docker host (tests/testbed/host) on the test
bed's network, no load balancer (the lb adds two reloads per batch, the same for every size). The
fleet gets v1 once; each measured run is a rolling config change (the worker's and backend's
AISHIELD_SCAN_SECONDS flips, so both are replaced on every app host, and the db host backs up and
checks its migration), timed around ansible-playbook, with forks >= hosts and either every app host
in one batch (serial = all) or one host per batch (serial = 1). Rounds interleave the sizes (1, 2, 4,
then again), so a slow minute of the machine does not land on one size only; each size's figure is
the median of its rounds, and the baseline is the 1-host, serial all median. After each size's runs,
the floor: the same backend and worker replacement on every app host at once, straight through each
host's docker compose, no Ansible. Every container it starts is removed at the end.

  .venv/bin/python tests/bench/fleet_bench.py                 # 1, 2, 4 hosts, serial all and 1, one round
  .venv/bin/python tests/bench/fleet_bench.py --rounds 3      # medians of three
  .venv/bin/python tests/bench/fleet_bench.py --hosts 1 2     # a subset
Results: tests/bench/results/fleet.json, printed as a table.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST_IMAGE = 'aishield-testbed/host:latest'
NETWORK = 'aishield-testbed'
PREFIX = 'aishield-bench-fleet-'
# The DinD host's capabilities: every default one plus what an inner dockerd needs (TESTBED.md: no --privileged).
CAPS = ('SYS_ADMIN', 'NET_ADMIN', 'SYS_MODULE', 'SYS_RESOURCE', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_NICE', 'SYS_TIME',
        'LINUX_IMMUTABLE', 'IPC_LOCK', 'IPC_OWNER', 'SYS_BOOT', 'SYS_PACCT', 'SYS_TTY_CONFIG', 'LEASE', 'AUDIT_CONTROL',
        'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'NET_BROADCAST',
        'DAC_READ_SEARCH')


def sh(cmd, timeout=300, check=True, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(map(str, cmd)), proc.returncode, (proc.stderr or proc.stdout)[-1500:]))
    return proc


def start_host(name):
    caps = [arg for cap in CAPS if cap != 'SYS_RESOURCE' for arg in ('--cap-add', cap)]
    sh(['docker', 'run', '-d', '--name', name, '--hostname', name, '--network', NETWORK, *caps,
        '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
        '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', HOST_IMAGE], timeout=120)


def wait_engine(name, seconds=90):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if sh(['docker', 'exec', name, 'docker', 'info'], check=False, timeout=30).returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError('the engine in %s did not answer within %d s' % (name, seconds))


def address(name):
    info = json.loads(sh(['docker', 'inspect', name]).stdout)[0]
    return info['NetworkSettings']['Networks'][NETWORK]['IPAddress']


# One set per run: every inventory of the run must give the database the password it was created with.
SECRETS = {'POSTGRES_PASSWORD': 'bench' + secrets.token_hex(8), 'SECRET_KEY': secrets.token_hex(16),
           'ADMIN_PASSWORD': 'bench' + secrets.token_hex(6), 'REDIS_PASSWORD': 'bench' + secrets.token_hex(6)}
BACKUP_PREFIX = 'bench-fleet-' + secrets.token_hex(3)


def inventory(path, db, apps):
    registry = 'registry:5000'
    group = {
        'ansible_connection': 'community.docker.docker', 'ansible_python_interpreter': '/usr/bin/python3',
        'aishield_version': 'v1', 'aishield_registry': registry, 'aishield_root': '/opt/aishield', 'aishield_project': 'aishield',
        'aishield_images': {'backend': registry + '/aishield/backend:v1', 'frontend': registry + '/aishield/frontend:v1',
                            'proxy': registry + '/aishield/proxy:v1', 'db': registry + '/aishield/postgres:15',
                            'redis': registry + '/aishield/redis:7'},
        'aishield_backup_s3_bucket': 'aishield-backups', 'aishield_backup_prefix': BACKUP_PREFIX,
        'aishield_backup_s3_endpoint_url': 'http://s3:9000', 'aishield_backup_retention_endpoint_url': 'http://127.0.0.1:9000',
        'aishield_backup_s3_access_key': 'testbed', 'aishield_backup_s3_secret_key': 'testbed',
        'aishield_smoke_max_p95_ms': 5000, 'aishield_bind_address': '0.0.0.0',
        'aishield_secrets': SECRETS,
    }
    hosts = {db: {'aishield_address': address(db), 'aishield_data_publish_address': '0.0.0.0'}}
    hosts.update({app: {'aishield_address': address(app)} for app in apps})
    doc = {'all': {'children': {'aishield': {'vars': group, 'children': {
        'db': {'hosts': {db: hosts[db]}}, 'app': {'hosts': {app: hosts[app] for app in apps}}}}}}}
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(doc))


def deploy(inv, extra, forks, log, playbook='deploy_multihost.yml'):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_FORKS=str(forks), PATH='%s:%s' % (BIN, os.environ['PATH']))
    started = time.monotonic()
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'playbooks/' + playbook, '-i', str(inv),
                           '--extra-vars', json.dumps(extra)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=1800, check=False)
    wall = time.monotonic() - started
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (%d), see %s:\n%s' % (playbook, proc.returncode, log, (proc.stdout + proc.stderr)[-2500:]))
    return round(wall, 1)


def floor(apps):
    """The same container work without Ansible: backend and worker recreated and health-waited on every app host
    at once, straight through each host's docker compose. What the fleet's wall time cannot go below here."""
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    cmd = ('cd /opt/aishield/current && docker compose -p aishield up -d --no-deps --force-recreate --wait '
           '--wait-timeout 300 backend worker')
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(apps)) as pool:
        for proc in pool.map(lambda app: sh(['docker', 'exec', app, 'sh', '-c', cmd], timeout=600, check=False), apps):
            if proc.returncode != 0:
                raise RuntimeError('the direct recreate failed: %s' % (proc.stderr or proc.stdout)[-1500:])
    return round(time.monotonic() - started, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--hosts', type=int, nargs='+', default=[1, 2, 4], help='app host counts to measure')
    parser.add_argument('--rounds', type=int, default=1, help='measurements per size and serial (the median is reported)')
    parser.add_argument('--results', default=str(REPO / 'tests/bench/results'))
    args = parser.parse_args()
    if any(n < 1 or n > 8 for n in args.hosts):
        parser.error('--hosts takes counts from 1 to 8')
    if not 1 <= args.rounds <= 5:
        parser.error('--rounds takes 1 to 5')
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='aishield-fleet-bench-'))
    db = PREFIX + 'db'
    apps = ['%sapp%d' % (PREFIX, i + 1) for i in range(max(args.hosts))]
    data = {'command': ' '.join(['.venv/bin/python', 'tests/bench/fleet_bench.py'] + sys.argv[1:]), 'rounds': args.rounds,
            'machine': {'cpus': os.cpu_count(), 'load_before': [round(x, 2) for x in os.getloadavg()]}, 'runs': []}
    try:
        for name in [db] + apps:
            start_host(name)
        for name in [db] + apps:
            wait_engine(name)
        full = work / 'fleet-all.yml'
        inventory(full, db, apps)
        print('v1 on the db host and %d app hosts (not measured): %.1f s' % (
            len(apps), deploy(full, {'aishield_serial': '100%'}, len(apps) + 1, work / 'setup.log')), flush=True)
        flip = 1
        measured = {}
        floors = {}
        rollbacks = {}
        for round_no in range(1, args.rounds + 1):
            for count in args.hosts:
                inv = work / ('fleet-%d.yml' % count)
                inventory(inv, db, apps[:count])
                for serial in ('100%', '1'):
                    flip = 3 - flip  # 1 <-> 2: a new release, backend and worker replaced on every app host
                    wall = deploy(inv, {'aishield_serial': serial, 'aishield_env': {'AISHIELD_SCAN_SECONDS': str(flip)}},
                                  count + 1, work / ('deploy-%d-%s-%d.log' % (count, serial.strip('%'), round_no)))
                    load = [round(x, 2) for x in os.getloadavg()]
                    label = 'all' if serial == '100%' else serial
                    measured.setdefault((count, label), []).append((wall, load))
                    print('round %d: %d app host(s), serial %-3s: %6.1f s  (load %s)' % (round_no, count, label, wall, load), flush=True)
                # The fleet's quick rollback, every app host at once, back to the release before the last deploy.
                wall = deploy(inv, {'aishield_serial': '100%'}, count + 1, work / ('rollback-%d-%d.log' % (count, round_no)),
                              playbook='rollback_multihost.yml')
                rollbacks.setdefault(count, []).append(wall)
                print('round %d: %d app host(s), fleet rollback: %6.1f s' % (round_no, count, wall), flush=True)
                direct = floor(apps[:count])
                floors.setdefault(count, []).append(direct)
                print('round %d: %d app host(s), no Ansible: %6.1f s (backend and worker recreated on each, at once)'
                      % (round_no, count, direct), flush=True)
        data['rollback'] = dict((str(count), {'wall_s': round(statistics.median(walls), 1), 'walls_s': walls})
                                for count, walls in rollbacks.items())
        data['floor'] = dict((str(count), {'wall_s': round(statistics.median(walls), 1), 'walls_s': walls})
                             for count, walls in floors.items())
        for (count, serial), samples in measured.items():
            data['runs'].append({'app_hosts': count, 'serial': serial, 'wall_s': round(statistics.median(sample[0] for sample in samples), 1),
                                 'walls_s': [sample[0] for sample in samples], 'load': samples[-1][1]})
    finally:
        sh(['docker', 'rm', '-f', '-v', db] + apps, check=False, timeout=300)
    base = [r['wall_s'] for r in data['runs'] if r['app_hosts'] == min(args.hosts) and r['serial'] == 'all']
    for run in data['runs']:
        run['vs_1_host'] = round(run['wall_s'] / base[0], 2) if base else None
    print('\n| app hosts | serial | wall (s, median of %d) | vs %d host, serial all |' % (args.rounds, min(args.hosts)))
    print('|---|---|---|---|')
    for run in data['runs']:
        print('| %d | %s | %.1f | %.2f× |' % (run['app_hosts'], run['serial'], run['wall_s'], run['vs_1_host']))
    base_floor = data.get('floor', {}).get(str(min(args.hosts)), {}).get('wall_s')
    for count, found in sorted(data.get('floor', {}).items(), key=lambda item: int(item[0])):
        found['vs_1_host'] = round(found['wall_s'] / base_floor, 2) if base_floor else None
        print('floor, %s app host(s), no Ansible: %.1f s, %.2f× one host' % (count, found['wall_s'], found['vs_1_host']))
    base_rollback = data.get('rollback', {}).get(str(min(args.hosts)), {}).get('wall_s')
    for count, found in sorted(data.get('rollback', {}).items(), key=lambda item: int(item[0])):
        found['vs_1_host'] = round(found['wall_s'] / base_rollback, 2) if base_rollback else None
        print('fleet rollback, %s app host(s), serial all: %.1f s, %.2f× one host' % (count, found['wall_s'], found['vs_1_host']))
    (results / 'fleet.json').write_text(json.dumps(data, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
