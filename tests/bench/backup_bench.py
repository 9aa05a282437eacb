#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Backup benchmark, run by hand: the runbook's two steps vs pg_dump into /dev/null vs aishield.ops.pg_backup.

    .venv/bin/python tests/bench/backup_bench.py --size-gb 1

In one run, on one freshly generated database of --size-gb GiB:
  (a)  runbook: `docker exec db pg_dump -Fc > file` on the host, then boto3 upload_file of that file;
  (b)  limit:   pg_dump -Fc -f /dev/null inside the container (what dumping alone costs);
  (b2) transport floor: `docker exec db pg_dump -Fc > /dev/null` on the host, i.e. (b) plus getting
       the bytes out of the container, which every host-side consumer pays;
  (c)  module:  pg_backup's code, run directly as a subprocess, streaming to S3.
With --compress-levels N [N ...], (b) and (c) also run at each pg_dump compression level N (pg_backup's
compress_level), beside the default level, to show what the compression costs.
S3 is moto_server on 127.0.0.1. It stands in for a remote service, so it runs at
`nice --moto-nice` (default 10): its CPU would not be on the database host in production. Reports wall time, peak RSS of each host-side process
(os.wait4 rusage), and peak extra local disk (sampled). (b), (b2) and (c) run in turn
--repeat times and the medians are compared, because on a shared 2-core machine one
run of each swings with other load; (a) runs once. Prints a Markdown table and writes
tests/bench/results/backup.json. Everything it starts is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
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
VENV_BIN = Path(os.environ.get('AISHIELD_VENV', REPO / '.venv')) / 'bin'
PYTHON = VENV_BIN / 'python'
COLLECTIONS = REPO / '.collections'
MIB = 1024 * 1024
GIB = 1024 * MIB
KEY_ID, SECRET, REGION = 'AKIABENCHBENCH000001', 'bench-secret-key-not-real', 'us-east-1'

UPLOAD_SCRIPT = r'''
import sys, boto3
from boto3.s3.transfer import TransferConfig
endpoint, bucket, key, path, key_id, secret, region = sys.argv[1:8]
client = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                      aws_access_key_id=key_id, aws_secret_access_key=secret)
client.upload_file(path, bucket, key, Config=TransferConfig())
'''


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return
        except Exception:  # pylint: disable=broad-except
            pass
        time.sleep(interval)
    raise SystemExit('timed out after %ss waiting for %s' % (timeout, what))


def sh(cmd, timeout=120, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if proc.returncode != 0:
        raise SystemExit('%s failed (%d): %s' % (' '.join(map(str, cmd[:6])), proc.returncode, proc.stderr[-2000:]))
    return proc.stdout


class DiskSampler(threading.Thread):
    """Peak total size of the files under some directories, sampled every `interval` seconds."""

    def __init__(self, paths, interval=0.1):
        super().__init__(daemon=True)
        self.paths = [Path(p) for p in paths]
        self.interval = interval
        self.peak = 0
        self.stop = threading.Event()

    def measure(self):
        total = 0
        for root in self.paths:
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                    except FileNotFoundError:
                        pass
        return total

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.measure())
            self.stop.wait(self.interval)
        self.peak = max(self.peak, self.measure())

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(30)


def measured(cmd, timeout, stdout=None, env=None, usage_out=None):
    """Run cmd; return (exit code, wall seconds, peak RSS in MiB of that process, stdout text).

    `usage_out`, a dict, receives the process's CPU seconds (user + system).
    """
    out = stdout or tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if usage_out is not None:
        usage_out['cpu_s'] = round(usage.ru_utime + usage.ru_stime, 2)
    text = ''
    if stdout is None:
        out.seek(0)
        text = out.read().decode('utf-8', 'replace')
        out.close()
    err.seek(0)
    errors = err.read().decode('utf-8', 'replace')
    err.close()
    if proc.returncode != 0:
        raise SystemExit('%s exited %d: %s %s' % (cmd[0], proc.returncode, text[-2000:], errors[-2000:]))
    return proc.returncode, wall, usage.ru_maxrss / 1024.0, text


def median_run(runs):
    """The run with the median wall time, plus the spread, so one noisy run does not decide."""
    ordered = sorted(runs, key=lambda r: r['wall_s'])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen['runs'] = len(runs)
    chosen['median_wall_s'] = round(statistics.median(r['wall_s'] for r in runs), 2)
    chosen['min_wall_s'] = min(r['wall_s'] for r in runs)
    chosen['max_wall_s'] = max(r['wall_s'] for r in runs)
    chosen['peak_rss_mib'] = max(r['peak_rss_mib'] for r in runs)
    chosen['peak_disk_mib'] = max(r['peak_disk_mib'] for r in runs)
    chosen['wall_s'] = chosen['median_wall_s']
    return chosen


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix='aishield-bench-', dir=args.workdir))
        self.host_dir = self.work / 'host'          # where the runbook writes its dump file
        self.module_tmp = self.work / 'module-tmp'  # TMPDIR of the module process
        self.moto_tmp = self.work / 'moto'          # moto's object store: the "remote", not counted
        for path in (self.host_dir, self.module_tmp, self.moto_tmp):
            path.mkdir()
        self.container = 'aishield-bench-pg-' + secrets.token_hex(4)
        self.password = 'bench-' + secrets.token_hex(12)
        self.moto = None
        self.endpoint = None
        self.bucket = 'bench-' + secrets.token_hex(4)
        self.results = {}

    # -- setup

    def start_moto(self):
        port = free_port()
        env = dict(os.environ, TMPDIR=str(self.moto_tmp))
        cmd = [str(VENV_BIN / 'moto_server'), '-H', '127.0.0.1', '-p', str(port)]
        if self.args.moto_nice:
            cmd = ['nice', '-n', str(self.args.moto_nice)] + cmd
        self.moto = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.endpoint = 'http://127.0.0.1:%d' % port

        def answers():
            try:
                with urllib.request.urlopen(self.endpoint + '/', timeout=2):  # nosec - 127.0.0.1 only
                    return True
            except urllib.error.HTTPError:
                return True
        wait_until(answers, 60, 'moto_server')
        self.s3().create_bucket(Bucket=self.bucket)

    def s3(self):
        import boto3
        return boto3.client('s3', endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)

    def start_postgres(self):
        env_file = self.work / 'pg.env'
        env_file.write_text('POSTGRES_USER=bench\nPOSTGRES_PASSWORD=%s\nPOSTGRES_DB=bench\n' % self.password)
        env_file.chmod(0o600)
        sh(['docker', 'run', '-d', '--name', self.container, '--env-file', str(env_file), self.args.image])
        env_file.unlink()
        wait_until(lambda: subprocess.run(['docker', 'exec', self.container, 'pg_isready', '-q', '-h', '127.0.0.1'],
                                          capture_output=True, timeout=10, check=False).returncode == 0,
                   180, 'PostgreSQL to accept connections')

    def psql(self, sql, timeout=1800):
        return sh(['docker', 'exec', '-u', 'postgres', self.container, 'psql', '-X', '-q', '-At',
                   '-v', 'ON_ERROR_STOP=1', '-d', 'bench', '-c', sql], timeout=timeout).strip()

    def generate(self):
        """Fill `bench` with md5 text (poorly compressible) until it reaches --size-gb GiB."""
        target = int(self.args.size_gb * GIB)
        self.psql('CREATE TABLE blobs (id bigint PRIMARY KEY, a text, b text, c text, d text)')
        # About 200 bytes a row: small targets (the CI smoke run) get small batches, not 1M rows.
        batch, start, size = max(10000, min(1000000, target // 200)), 1, 0
        for _round in range(200):
            self.psql("INSERT INTO blobs SELECT g, md5(g::text), md5((g * 7)::text), md5((g * 13)::text), "
                      "md5((g * 31)::text) FROM generate_series(%d, %d) g" % (start, start + batch - 1))
            start += batch
            size = int(self.psql("SELECT pg_database_size('bench')"))
            log('generated %d rows, database %.2f GiB' % (start - 1, size / GIB))
            if size >= target:
                break
        self.psql('CHECKPOINT')
        self.results['database'] = {'rows': start - 1, 'bytes': size, 'gib': round(size / GIB, 3)}

    # -- the three ways

    def dump_cmd(self, *extra):
        return ['docker', 'exec', '-u', 'postgres', self.container, 'pg_dump', '-Fc', '-d', 'bench'] + list(extra)

    def run_limit(self, level=None):
        log('(b) pg_dump -Fc -f /dev/null inside the container%s' % ('' if level is None else ', -Z %d' % level))
        extra = [] if level is None else ['--compress=%d' % level]
        _rc, wall, rss, _out = measured(self.dump_cmd('--no-sync', '-f', '/dev/null', *extra), self.args.timeout)
        return {'wall_s': round(wall, 2), 'peak_rss_mib': round(rss, 1), 'peak_disk_mib': 0.0,
                'note': 'RSS is the docker CLI; pg_dump runs in the container'}

    def run_transport(self):
        log('(b2) docker exec pg_dump -Fc > /dev/null on the host')
        with open(os.devnull, 'wb') as sink:
            _rc, wall, rss, _out = measured(self.dump_cmd(), self.args.timeout, stdout=sink)
        return {'wall_s': round(wall, 2), 'peak_rss_mib': round(rss, 1), 'peak_disk_mib': 0.0,
                'note': 'RSS is the docker CLI'}

    def run_runbook(self):
        log('(a) runbook: pg_dump -Fc to a host file, then boto3 upload_file')
        path = self.host_dir / 'bench.dump'
        with DiskSampler([self.host_dir, self.module_tmp]) as disk:
            with open(path, 'wb') as handle:
                _rc, dump_wall, dump_rss, _out = measured(self.dump_cmd(), self.args.timeout, stdout=handle)
            usage = {}
            _rc, up_wall, up_rss, _out = measured(
                [str(PYTHON), '-c', UPLOAD_SCRIPT, self.endpoint, self.bucket, 'runbook/bench.dump', str(path),
                 KEY_ID, SECRET, REGION], self.args.timeout, usage_out=usage)
        size = path.stat().st_size
        path.unlink()
        return {'wall_s': round(dump_wall + up_wall, 2), 'dump_s': round(dump_wall, 2), 'upload_s': round(up_wall, 2),
                'peak_rss_mib': round(max(dump_rss, up_rss), 1), 'upload_rss_mib': round(up_rss, 1),
                'upload_cpu_s': usage['cpu_s'],
                'peak_disk_mib': round(disk.peak / MIB, 1), 'dump_mib': round(size / MIB, 1)}

    def run_module(self, level=None):
        log('(c) aishield.ops.pg_backup streaming to S3 (chunk %d MiB, concurrency %d%s)'
            % (self.args.chunk_size_mb, self.args.concurrency, '' if level is None else ', compress_level %d' % level))
        args_file = self.work / 'module-args.json'
        module_args = {
            'container': self.container, 'db_name': 'bench', 'db_user': 'postgres', 'key': 'module/bench.dump',
            'bucket': self.bucket, 'endpoint_url': self.endpoint, 'region': REGION, 'access_key': KEY_ID,
            'secret_key': SECRET, 'chunk_size_mb': self.args.chunk_size_mb, 'concurrency': self.args.concurrency,
            'timeout': self.args.timeout, 'force': True}
        if level is not None:
            module_args['compress_level'] = level
        args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': module_args}))
        args_file.chmod(0o600)
        env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), TMPDIR=str(self.module_tmp))
        cmd = [str(PYTHON), '-m', 'ansible_collections.aishield.ops.plugins.modules.pg_backup', str(args_file)]
        usage = {}
        with DiskSampler([self.host_dir, self.module_tmp]) as disk:
            _rc, wall, rss, out = measured(cmd, self.args.timeout, env=env, usage_out=usage)
        args_file.unlink()
        result = json.loads(out[out.index('{'):])
        if result.get('failed'):
            raise SystemExit('pg_backup failed: %s' % result.get('msg'))
        head = self.s3().head_object(Bucket=self.bucket, Key='module/bench.dump')
        # The sha256 is in the record beside the object (issue 22: no server-side copy to attach it).
        record = json.loads(self.s3().get_object(Bucket=self.bucket, Key='module/bench.dump.json')['Body'].read())
        assert record['sha256'] == result['sha256'] and head['ContentLength'] == result['size']
        return {'wall_s': round(wall, 2), 'module_seconds': result['seconds'], 'parts': result['parts'],
                'commit_seconds': result['commit_seconds'], 'module_cpu_s': usage['cpu_s'],
                'peak_rss_mib': round(rss, 1), 'peak_disk_mib': round(disk.peak / MIB, 1),
                'dump_mib': round(result['size'] / MIB, 1), 'throughput_mb_s': result['throughput_mb_s']}

    # -- report

    def report(self):
        limit = self.results['b_limit']['wall_s']
        rows = [('(a) runbook: dump to file, then upload_file', self.results['a_runbook']),
                ('(b) limit: pg_dump -Fc into /dev/null', self.results['b_limit']),
                ('(b2) transport floor: docker exec pg_dump > /dev/null', self.results['b2_transport']),
                ('(c) aishield.ops.pg_backup streaming', self.results['c_module'])]
        lines = ['| variant | wall s (median) | x (b) | peak RSS MiB | peak extra local disk MiB |',
                 '|---|---:|---:|---:|---:|']
        for level, pair in sorted(self.results.get('levels', {}).items()):
            rows += [('(b) limit at compression level %s' % level, pair['b_limit']),
                     ('(c) pg_backup streaming, compress_level %s (%.0f MiB object)' % (level, pair['c_module']['dump_mib']),
                      pair['c_module'])]
        for name, r in rows:
            cells = (name, r['wall_s'], r['wall_s'] / limit, r['peak_rss_mib'], r['peak_disk_mib'])
            lines.append('| %s | %.1f | %.2f | %.0f | %.0f |' % cells)
        c = self.results['c_module']
        ratio = c['wall_s'] / limit
        b2_ratio = c['wall_s'] / self.results['b2_transport']['wall_s']
        self.results['targets'] = {
            'c_within_1_3x_of_b': ratio <= 1.3, 'c_vs_b_ratio': round(ratio, 3),
            'c_vs_b2_ratio': round(b2_ratio, 3), 'c_within_1_15x_of_b2': b2_ratio <= 1.15,
            'c_faster_than_a': c['wall_s'] < self.results['a_runbook']['wall_s'],
            'c_zero_extra_disk': c['peak_disk_mib'] == 0, 'c_rss_at_most_200_mib': c['peak_rss_mib'] <= 200}
        text = '\n'.join(lines)
        text += ('\n\ndatabase %.2f GiB (%d rows), dump %.0f MiB in %d parts; rounds: %s; targets: %s'
                 % (self.results['database']['gib'], self.results['database']['rows'], c['dump_mib'], c['parts'],
                    json.dumps(self.results['rounds']), json.dumps(self.results['targets'])))
        return text

    def run(self):
        started = time.monotonic()
        self.results['machine'] = {'cpus': os.cpu_count(), 'python': platform.python_version(),
                                   'load_before': os.getloadavg()}
        self.results['settings'] = {'size_gb': self.args.size_gb, 'chunk_size_mb': self.args.chunk_size_mb,
                                    'concurrency': self.args.concurrency, 'image': self.args.image,
                                    'repeat': self.args.repeat, 'moto_nice': self.args.moto_nice,
                                    'compress_levels': self.args.compress_levels}
        self.start_moto()
        self.start_postgres()
        log('generating a %.2f GiB database' % self.args.size_gb)
        self.generate()
        # Warm the page cache the same way for everyone: one untimed dump first.
        log('warm-up dump (untimed)')
        measured(self.dump_cmd('--no-sync', '-f', '/dev/null'), self.args.timeout)
        limits, transports, modules = [], [], []
        by_level = dict((level, ([], [])) for level in self.args.compress_levels)
        for round_no in range(self.args.repeat):
            log('round %d of %d' % (round_no + 1, self.args.repeat))
            limits.append(self.run_limit())
            transports.append(self.run_transport())
            modules.append(self.run_module())
            for level, (level_limits, level_modules) in sorted(by_level.items()):
                level_limits.append(self.run_limit(level))
                level_modules.append(self.run_module(level))
            if round_no == 0:
                self.results['a_runbook'] = self.run_runbook()
        # The default level is pg_dump's own (zlib's default, 6).
        self.results['levels'] = dict((str(level), {'b_limit': median_run(b), 'c_module': median_run(c),
                                                    'b_wall_s': [r['wall_s'] for r in b], 'c_wall_s': [r['wall_s'] for r in c]})
                                      for level, (b, c) in by_level.items())
        self.results['b_limit'] = median_run(limits)
        self.results['b2_transport'] = median_run(transports)
        self.results['c_module'] = median_run(modules)
        self.results['rounds'] = {'b_wall_s': [r['wall_s'] for r in limits],
                                  'b2_wall_s': [r['wall_s'] for r in transports],
                                  'c_wall_s': [r['wall_s'] for r in modules],
                                  'c_over_b_per_round': [round(c['wall_s'] / b['wall_s'], 3)
                                                         for b, c in zip(limits, modules)]}
        self.results['machine']['load_after'] = os.getloadavg()
        self.results['total_bench_s'] = round(time.monotonic() - started, 1)
        self.results['command'] = ' '.join(['.venv/bin/python', 'tests/bench/backup_bench.py'] + sys.argv[1:])
        table = self.report()
        print(table)
        out = Path(self.args.results)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dict(self.results, table=table), indent=2) + '\n')
        log('wrote %s' % out)

    def cleanup(self):
        subprocess.run(['docker', 'rm', '-f', '-v', self.container], capture_output=True, timeout=120, check=False)
        if self.moto is not None:
            self.moto.terminate()
            try:
                self.moto.wait(15)
            except subprocess.TimeoutExpired:
                self.moto.kill()
                self.moto.wait(15)
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--size-gb', type=float, default=1.0, help='database size to generate (GiB)')
    parser.add_argument('--chunk-size-mb', type=int, default=16)
    parser.add_argument('--concurrency', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=3, help='rounds of (b), (b2), (c); medians are compared')
    parser.add_argument('--compress-levels', type=int, nargs='*', default=[],
                        help='also run (b) and (c) at these pg_dump compression levels (0-9)')
    parser.add_argument('--moto-nice', type=int, default=10, help='niceness of moto_server, the stand-in remote S3')
    parser.add_argument('--image', default='aishield/postgres:15')
    parser.add_argument('--timeout', type=int, default=3600, help='per measured step (seconds)')
    parser.add_argument('--workdir', default=None, help='where temp files go (default: system temp)')
    parser.add_argument('--results', default=str(REPO / 'tests' / 'bench' / 'results' / 'backup.json'))
    args = parser.parse_args()
    if subprocess.run(['docker', 'image', 'inspect', args.image], capture_output=True, check=False).returncode != 0:
        raise SystemExit('image %s is missing; build the stack images first (tests/testbed/)' % args.image)
    bench = Bench(args)
    # Clean up on Ctrl-C or kill as well.
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))
    try:
        bench.run()
    finally:
        bench.cleanup()


if __name__ == '__main__':
    main()
