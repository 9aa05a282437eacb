# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pg_restore against a fake Docker daemon whose pg_restore commits only a complete archive."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.module_utils._s3 import LocalFileSink, backup_metadata, transfer
from ansible_collections.aishield.ops.plugins.modules import pg_restore
from ansible_collections.aishield.ops.plugins.modules.pg_restore import parse_counts
from ansible_collections.aishield.ops.tests.unit.plugins.module_utils.test__docker_exec import frame
from ansible_collections.aishield.ops.tests.unit.plugins.module_utils.test__s3 import FakeS3

KEY = 'backups/appdb/20250131T235959Z.dump'
S3 = dict(bucket='bkt', endpoint_url='http://127.0.0.1:1', access_key='AKIDEXAMPLE', secret_key='secret-example')


class FakeCluster:
    """A Docker daemon with one PostgreSQL container: databases are a set, restores need the whole archive."""

    def __init__(self, archive, databases=('postgres', 'appdb')):
        self.archive = archive
        self.databases = set(databases)
        self.committed = {}
        self.commands = []
        self.received = {}
        self._execs = {}
        self._n = 0

    def inspect_container(self, container):
        return {'Id': container, 'State': {'Running': True}}

    def exec_create(self, container, cmd, **kw):
        self._n += 1
        exec_id = 'e%d' % self._n
        self.commands.append(list(cmd))
        self._execs[exec_id] = {'cmd': list(cmd), 'env': kw.get('environment'), 'done': threading.Event(), 'code': None}
        return {'Id': exec_id}

    def exec_start(self, exec_id, socket=False):
        ours, theirs = _pair()
        threading.Thread(target=self._serve, args=(exec_id, theirs), daemon=True).start()
        return ours

    def exec_inspect(self, exec_id):
        state = self._execs[exec_id]
        return {'Running': not state['done'].is_set(), 'ExitCode': state['code']}

    def _serve(self, exec_id, sock):
        state = self._execs[exec_id]
        cmd = state['cmd']
        try:
            state['code'] = getattr(self, '_' + cmd[0].replace('-', '_'))(cmd, sock)
        finally:
            sock.close()
            state['done'].set()

    @staticmethod
    def _db(cmd):
        return cmd[cmd.index('-d') + 1] if '-d' in cmd else cmd[-1]

    def _psql(self, cmd, sock):
        sql = cmd[cmd.index('-c') + 1]
        if 'pg_database' in sql:
            name = sql.split("'")[1]
            sock.sendall(frame(1, b'1\n' if name in self.databases else b''))
        else:
            rows = self.committed.get(self._db(cmd), {})
            sock.sendall(frame(1, ''.join('%s\x1f%d\n' % kv for kv in rows.items()).encode()))
        return 0

    def _createdb(self, cmd, sock):
        name = cmd[-1]
        if name in self.databases:
            sock.sendall(frame(2, b'createdb: error: database "%s" already exists\n' % name.encode()))
            return 1
        self.databases.add(name)
        return 0

    def _dropdb(self, cmd, sock):
        self.databases.discard(cmd[-1])
        self.committed.pop(cmd[-1], None)
        return 0

    def _pg_restore(self, cmd, sock):
        data = b''
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        target = self._db(cmd)
        self.received[target] = data
        if data != self.archive:
            sock.sendall(frame(2, b'pg_restore: error: could not read from input file: end of file\n'))
            return 1
        self.committed[target] = {'public.users': 3, 'public.items': 42}
        return 0


def _pair():
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def s3_with(body, metadata):
    s3 = FakeS3()
    s3.put_object(Bucket='bkt', Key=KEY, Body=body, Metadata=metadata)
    return s3


def meta(data):
    return backup_metadata(hashlib.sha256(data).hexdigest(), len(data), 'appdb', '2025-01-31T23:59:59Z', 'test')


def run(args, capsys, monkeypatch, cluster, s3=None):
    monkeypatch.setattr(pg_restore, 'docker_client', lambda *a, **k: cluster)
    monkeypatch.setattr(pg_restore, 'aws_client', lambda *a, **k: s3)
    base = dict(container='db', target_db='scratch')
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            pg_restore.main()
    return json.loads(capsys.readouterr().out)


def test_parse_counts():
    assert parse_counts('public.a\x1f3\n"S".b\x1f0\n\n') == {'public.a': 3, '"S".b': 0}
    with pytest.raises(ValueError):
        parse_counts('garbage')


def test_restore_drill_creates_counts_and_drops(capsys, monkeypatch):
    archive = os.urandom(3 * 1024 * 1024 + 7)
    cluster = FakeCluster(archive)
    result = run(dict(S3, key=KEY, create_target=True, count_rows=True, drop_target_after=True,
                      db_password='pw-in-env'), capsys, monkeypatch, cluster, s3_with(archive, meta(archive)))
    assert result['changed'] and not result.get('failed'), result
    assert result['tables'] == {'public.users': 3, 'public.items': 42}
    assert result['created_target'] and result['dropped_target'] and result['verification'] == 'streaming'
    assert result['sha256'] == hashlib.sha256(archive).hexdigest() and result['size'] == len(archive)
    assert [c[0] for c in cluster.commands] == ['psql', 'createdb', 'pg_restore', 'psql', 'dropdb']
    restore = cluster.commands[2]
    assert '--single-transaction' in restore and restore[restore.index('-d') + 1] == 'scratch'
    assert all('pw-in-env' not in ' '.join(c) for c in cluster.commands)
    assert 'scratch' not in cluster.databases


def test_flipped_bytes_never_reach_a_commit(capsys, monkeypatch):
    archive = os.urandom(3 * 1024 * 1024)
    corrupt = bytearray(archive)
    corrupt[1000] ^= 0xFF
    cluster = FakeCluster(bytes(corrupt))   # this pg_restore would happily commit the corrupt stream
    result = run(dict(S3, key=KEY, create_target=True), capsys, monkeypatch, cluster,
                 s3_with(bytes(corrupt), meta(archive)))
    assert result['failed']
    good, bad = hashlib.sha256(archive).hexdigest(), hashlib.sha256(bytes(corrupt)).hexdigest()
    assert KEY in result['msg'] and good in result['msg'] and bad in result['msg']
    assert 'nothing was committed' in result['msg']
    assert cluster.committed == {}
    assert len(cluster.received['scratch']) < len(corrupt)
    assert 'scratch' not in cluster.databases and result['dropped_target']


def test_mismatch_into_existing_database_leaves_it_alone(capsys, monkeypatch):
    archive = os.urandom(2 * 1024 * 1024)
    cluster = FakeCluster(archive, databases=('postgres', 'scratch'))
    cluster.committed['scratch'] = {'public.keep': 1}
    result = run(dict(S3, key=KEY, clean=True), capsys, monkeypatch, cluster,
                 s3_with(archive, dict(meta(archive), sha256='0' * 64)))
    assert result['failed'] and '0' * 64 in result['msg']
    assert cluster.committed == {'scratch': {'public.keep': 1}}
    assert 'scratch' in cluster.databases and not result['dropped_target']
    assert '--clean' in cluster.commands[-1] and '--if-exists' in cluster.commands[-1]


def test_a_mismatch_before_any_byte_is_forwarded_never_starts_pg_restore(capsys, monkeypatch):
    # The whole archive is one held-back block: a pg_restore started for it would get no input at all,
    # and Docker 20.10 can lose the end-of-file of an exec stdin closed that early (pg_restore then hangs).
    archive = os.urandom(1000)
    cluster = FakeCluster(archive)
    result = run(dict(S3, key=KEY, create_target=True), capsys, monkeypatch, cluster,
                 s3_with(archive, dict(meta(archive), sha256='2' * 64)))
    assert result['failed'] and '2' * 64 in result['msg'] and 'pg_restore was never started' in result['msg']
    assert 'pg_restore' not in [c[0] for c in cluster.commands]
    assert cluster.committed == {} and 'scratch' not in cluster.databases and result['dropped_target']


def test_an_empty_backup_is_refused_without_starting_pg_restore(capsys, monkeypatch):
    cluster = FakeCluster(b'')
    result = run(dict(S3, key=KEY, create_target=True), capsys, monkeypatch, cluster, s3_with(b'', meta(b'')))
    assert result['failed'] and 'is empty; nothing was restored' in result['msg']
    assert 'pg_restore' not in [c[0] for c in cluster.commands]
    assert 'scratch' not in cluster.databases


def test_verify_before_restore_never_starts_pg_restore_on_mismatch(tmp_path, capsys, monkeypatch):
    archive = os.urandom(100000)
    cluster = FakeCluster(archive)
    result = run(dict(S3, key=KEY, create_target=True, verify_before_restore=True, tmp_dir=str(tmp_path),
                      extra_args=['--table=users']),
                 capsys, monkeypatch, cluster, s3_with(archive, dict(meta(archive), sha256='1' * 64)))
    assert result['failed'] and 'nothing was restored' in result['msg']
    assert 'pg_restore' not in [c[0] for c in cluster.commands]
    assert os.listdir(tmp_path) == []


def test_verify_before_restore_success(tmp_path, capsys, monkeypatch):
    archive = os.urandom(100000)
    cluster = FakeCluster(archive)
    result = run(dict(S3, key=KEY, create_target=True, verify_before_restore=True, tmp_dir=str(tmp_path)),
                 capsys, monkeypatch, cluster, s3_with(archive, meta(archive)))
    assert result['changed'] and result['verification'] == 'before_restore'
    assert cluster.committed['scratch'] and os.listdir(tmp_path) == []


def test_failed_pg_restore_drops_the_scratch_database(capsys, monkeypatch):
    archive = os.urandom(1000)
    cluster = FakeCluster(b'something else')
    result = run(dict(S3, key=KEY, create_target=True), capsys, monkeypatch, cluster, s3_with(archive, meta(archive)))
    assert result['failed'] and 'rolled back' in result['msg'] and 'end of file' in result['msg']
    assert 'scratch' not in cluster.databases


def test_local_src(tmp_path, capsys, monkeypatch):
    archive = os.urandom(50000)
    path = tmp_path / 'x.dump'
    transfer([archive], LocalFileSink(str(path), lambda sha, size: backup_metadata(sha, size, 'appdb', 't', 'x')))
    cluster = FakeCluster(archive, databases=('postgres', 'scratch'))
    result = run(dict(src=str(path)), capsys, monkeypatch, cluster)
    assert result['changed'] and result['location'] == str(path) and cluster.committed['scratch']


@pytest.mark.parametrize('args, message', [
    (dict(S3, key=KEY, extra_args=['--table=users']), 'verify_before_restore=true'),
    (dict(S3, key=KEY, extra_args=['-s']), 'verify_before_restore=true'),
    (dict(S3, key=KEY, extra_args=['--single-transaction']), 'not allowed'),
    (dict(S3, key=KEY, extra_args=['-1']), 'not allowed'),
    (dict(S3, key=KEY, extra_args=['/tmp/other.dump']), 'not a flag'),
    (dict(S3, key=KEY, target_db='postgres'), 'restore into another database'),
    (dict(S3, key=KEY, target_db='x;y'), 'not a plain database name'),
    (dict(S3, key=KEY, expected_sha256='abc'), 'not a 64-digit'),
    (dict(S3), 'required together: key, bucket'),
    (dict(), 'one of the following is required'),
    (dict(key=KEY), 'required together'),
])
def test_invalid_arguments(args, message, capsys, monkeypatch):
    cluster = FakeCluster(b'')
    result = run(args, capsys, monkeypatch, cluster, FakeS3())
    assert result['failed'] and message in result['msg'], result['msg']
    assert cluster.commands == []


def test_missing_object_and_missing_metadata(capsys, monkeypatch):
    cluster = FakeCluster(b'')
    result = run(dict(S3, key=KEY), capsys, monkeypatch, cluster, FakeS3())
    assert result['failed'] and 'does not exist' in result['msg']
    result = run(dict(S3, key=KEY), capsys, monkeypatch, cluster, s3_with(b'abc', {}))
    assert result['failed'] and 'no sha256 record or metadata' in result['msg']
    assert cluster.commands == []


def test_incomplete_backup_is_refused_even_with_a_digest(capsys, monkeypatch):
    """pg_backup's object without its record: the run stopped before the record, so it is no backup."""
    archive = b'abc'
    cluster = FakeCluster(archive, databases=('postgres', 'scratch'))
    s3 = s3_with(archive, {'tool': 'aishield.ops.pg_backup', 'db': 'appdb'})
    result = run(dict(S3, key=KEY, expected_sha256=hashlib.sha256(archive).hexdigest()), capsys, monkeypatch,
                 cluster, s3)
    assert result['failed'] and 'incomplete backup' in result['msg'] and KEY + '.json' in result['msg']
    assert 'nothing was restored' in result['msg'] and cluster.commands == []


def test_new_backup_is_verified_against_its_record(tmp_path, capsys, monkeypatch):
    archive = b'PGDMP archive bytes'
    cluster = FakeCluster(archive)
    s3 = s3_with(archive, {'tool': 'aishield.ops.pg_backup', 'db': 'appdb'})
    s3.put_object(Bucket='bkt', Key=KEY + '.json', Body=json.dumps(meta(archive)).encode())
    progress = tmp_path / 'progress.json'
    result = run(dict(S3, key=KEY, create_target=True, progress_file=str(progress)), capsys, monkeypatch, cluster, s3)
    assert result['changed'] and not result.get('failed'), result
    assert result['sha256'] == hashlib.sha256(archive).hexdigest() and 'scratch' in cluster.committed
    assert json.loads(progress.read_text())['bytes'] == len(archive)

    s3.put_object(Bucket='bkt', Key=KEY + '.json', Body=json.dumps(meta(b'other')).encode())
    result = run(dict(S3, key=KEY, target_db='scratch2', create_target=True), capsys, monkeypatch,
                 FakeCluster(archive), s3)
    assert result['failed'] and 'belongs to another upload' in result['msg']


def test_expected_sha256_must_agree_with_metadata(capsys, monkeypatch):
    archive = b'abc'
    cluster = FakeCluster(archive, databases=('postgres', 'scratch'))
    result = run(dict(S3, key=KEY, expected_sha256='2' * 64), capsys, monkeypatch, cluster,
                 s3_with(archive, meta(archive)))
    assert result['failed'] and 'expected_sha256' in result['msg'] and cluster.commands == []
    result = run(dict(S3, key=KEY, expected_sha256=hashlib.sha256(archive).hexdigest().upper()), capsys,
                 monkeypatch, cluster, s3_with(archive, {}))
    assert result['changed'], result


@pytest.mark.parametrize('create, databases, message', [
    (True, ('postgres', 'scratch'), 'already exists'),
    (False, ('postgres',), 'does not exist'),
])
def test_target_existence_rules(create, databases, message, capsys, monkeypatch):
    archive = b'abc'
    cluster = FakeCluster(archive, databases=databases)
    result = run(dict(S3, key=KEY, create_target=create), capsys, monkeypatch, cluster, s3_with(archive, meta(archive)))
    assert result['failed'] and message in result['msg']
    assert [c[0] for c in cluster.commands] == ['psql']


def test_check_mode_changes_nothing(capsys, monkeypatch):
    archive = b'abc'
    cluster = FakeCluster(archive)
    s3 = s3_with(archive, meta(archive))
    result = run(dict(S3, key=KEY, create_target=True, _ansible_check_mode=True), capsys, monkeypatch, cluster, s3)
    assert result['changed'] and 'would restore' in result['msg']
    assert [c[0] for c in cluster.commands] == ['psql'] and 'scratch' not in cluster.databases
    assert 'get_object' not in s3.names()
