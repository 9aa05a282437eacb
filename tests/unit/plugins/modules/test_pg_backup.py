# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pg_backup end to end against a fake Docker daemon and a fake S3 client."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.module_utils._s3 import MIB
from ansible_collections.aishield.ops.plugins.modules import pg_backup
from ansible_collections.aishield.ops.plugins.modules.pg_backup import safe_relative_key
from ansible_collections.aishield.ops.tests.unit.plugins.module_utils.test__docker_exec import FakeDocker, frame
from ansible_collections.aishield.ops.tests.unit.plugins.module_utils.test__s3 import FakeS3

KEY = 'backups/appdb/20250131T235959Z.dump'
PASSWORD = 'Sup3r-Secret-pw'


def dump_script(data, stderr=b'', frame_size=32768):
    def script(fake, sock):
        for i in range(0, len(data), frame_size):
            sock.sendall(frame(1, data[i:i + frame_size]))
        if stderr:
            sock.sendall(frame(2, stderr))
    return script


def run(args, capsys, monkeypatch, docker=None, s3=None):
    docker = docker or FakeDocker(dump_script(b''))
    s3 = s3 if s3 is not None else FakeS3()
    monkeypatch.setattr(pg_backup, 'docker_client', lambda *a, **k: docker)
    monkeypatch.setattr(pg_backup, 'aws_client', lambda *a, **k: s3)
    base = dict(container='db', db_name='appdb', key=KEY)
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            pg_backup.main()
    out = capsys.readouterr().out
    return json.loads(out), out


S3 = dict(bucket='bkt', endpoint_url='http://127.0.0.1:1', access_key='AKIDEXAMPLE', secret_key='secret-example')


@pytest.mark.parametrize('key, ok', [
    ('a/b.dump', True), ('b.dump', True), ('/abs.dump', False), ('a/../b', False), ('a//b', False),
    ('./a', False), ('', False), ('a/', False),
])
def test_safe_relative_key(key, ok):
    assert safe_relative_key(key) is ok


@pytest.mark.parametrize('args, message', [
    (dict(S3, chunk_size_mb=4), 'outside 5..5120'),
    (dict(S3, concurrency=0), 'concurrency=0'),
    (dict(S3, extra_args=['-f', '/tmp/x']), "'-f' is not allowed"),
    (dict(S3, extra_args=['--format=plain']), 'not allowed'),
    (dict(S3, extra_args=['-Z', '9']), "'-Z' is not allowed"),
    (dict(S3, compress_level=10), 'compress_level=10 is outside 0..9'),
    (dict(S3, db_name='host=evil'), 'not a plain database name'),
    (dict(dest='/tmp/x', key='../escape.dump'), 'cannot be used under dest'),
    (dict(S3, dest='/tmp/x'), 'mutually exclusive'),
    (dict(), 'one of the following is required'),
    (dict(bucket='bkt', secret_key='secret-example'), 'parameters are required together'),
])
def test_invalid_arguments_fail_before_anything_runs(args, message, capsys, monkeypatch):
    docker = FakeDocker(dump_script(b''))
    result, _out = run(args, capsys, monkeypatch, docker=docker)
    assert result['failed'] and message in result['msg']
    assert docker.created is None


def test_streams_to_s3_with_metadata(capsys, monkeypatch):
    data = os.urandom(12 * MIB + 5)
    docker, s3 = FakeDocker(dump_script(data)), FakeS3()
    result, out = run(dict(S3, db_password=PASSWORD, db_host='127.0.0.1', chunk_size_mb=5), capsys, monkeypatch,
                      docker, s3)
    digest = hashlib.sha256(data).hexdigest()
    assert result['changed'] and not result.get('failed')
    assert result['sha256'] == digest and result['size'] == len(data) and result['parts'] == 3
    assert result['location'] == 's3://bkt/' + KEY and result['bucket'] == 'bkt'
    assert s3.objects[KEY]['Body'] == data
    meta = s3.objects[KEY]['Metadata']
    assert meta['sha256'] == digest and meta['db'] == 'appdb' and meta['timestamp'] == result['timestamp']
    assert set(s3.objects) == {KEY} and not s3.uploads
    cmd = docker.created['cmd']
    assert cmd[:2] == ['pg_dump', '--format=custom'] and cmd[-1] == 'appdb' and '-w' in cmd
    assert not [arg for arg in cmd if arg.startswith('--compress')]  # pg_dump's own default level
    assert PASSWORD not in ' '.join(cmd)
    assert docker.created['environment'] == {'PGPASSWORD': PASSWORD}
    assert PASSWORD not in out and 'secret-example' not in out


@pytest.mark.parametrize('level', [0, 1, 9])
def test_compress_level_reaches_pg_dump(level, capsys, monkeypatch):
    docker = FakeDocker(dump_script(b'dump'))
    result, _out = run(dict(S3, compress_level=level), capsys, monkeypatch, docker)
    assert not result.get('failed'), result
    assert docker.created['cmd'][:3] == ['pg_dump', '--format=custom', '--compress=%d' % level]


@pytest.mark.parametrize('exit_code, stderr, message', [
    (1, b'pg_dump: error: connection to server failed: FATAL:  database "nope" does not exist\n',
     'does not exist'),
    (143, b'', 'killed by signal 15'),
])
def test_failed_dump_leaves_nothing(exit_code, stderr, message, capsys, monkeypatch):
    docker = FakeDocker(dump_script(os.urandom(11 * MIB), stderr), exit_code=exit_code)
    s3 = FakeS3()
    result, _out = run(dict(S3, chunk_size_mb=5), capsys, monkeypatch, docker, s3)
    assert result['failed'] and message in result['msg'] and 'nothing was stored' in result['msg']
    assert s3.objects == {} and s3.uploads == {}
    assert 'abort_multipart_upload' in s3.names()


def test_check_mode_runs_nothing(capsys, monkeypatch):
    docker, s3 = FakeDocker(dump_script(b'x')), FakeS3()
    result, _out = run(dict(S3, _ansible_check_mode=True), capsys, monkeypatch, docker, s3)
    assert result['changed'] and 'would dump' in result['msg']
    assert docker.created is None and s3.objects == {}
    assert set(s3.names()) <= {'head_object', 'head_bucket'}


def test_existing_backup_is_reported_unchanged(capsys, monkeypatch):
    s3 = FakeS3()
    s3.put_object(Bucket='bkt', Key=KEY, Body=b'abc',
                  Metadata={'sha256': 'ab' * 32, 'timestamp': '2025-01-31T23:59:59Z'})
    docker = FakeDocker(dump_script(b'x'))
    result, _out = run(S3, capsys, monkeypatch, docker, s3)
    assert not result['changed'] and result['sha256'] == 'ab' * 32 and result['size'] == 3
    assert docker.created is None


def test_foreign_object_is_refused_unless_forced(capsys, monkeypatch):
    s3 = FakeS3()
    s3.put_object(Bucket='bkt', Key=KEY, Body=b'abc', Metadata={})
    result, _out = run(S3, capsys, monkeypatch, FakeDocker(dump_script(b'x')), s3)
    assert result['failed'] and 'without sha256 metadata' in result['msg']
    result, _out = run(dict(S3, force=True), capsys, monkeypatch, FakeDocker(dump_script(b'new')), s3)
    assert result['changed'] and s3.objects[KEY]['Body'] == b'new'


def test_local_dest(tmp_path, capsys, monkeypatch):
    data = os.urandom(100000)
    result, _out = run(dict(dest=str(tmp_path), key='appdb/x.dump'), capsys, monkeypatch,
                       FakeDocker(dump_script(data)))
    path = tmp_path / 'appdb' / 'x.dump'
    assert result['changed'] and result['location'] == str(path) and result['bucket'] is None
    assert path.read_bytes() == data and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads((tmp_path / 'appdb' / 'x.dump.json').read_text())['sha256'] == result['sha256']


def test_local_dest_failure_leaves_no_file(tmp_path, capsys, monkeypatch):
    result, _out = run(dict(dest=str(tmp_path), key='x.dump'), capsys, monkeypatch,
                       FakeDocker(dump_script(b'partial'), exit_code=1))
    assert result['failed'] and os.listdir(tmp_path) == []


def test_timeout_aborts_and_stores_nothing(capsys, monkeypatch):
    def slow(fake, sock):
        sock.sendall(frame(1, os.urandom(6 * MIB)))
        fake.done.wait(4)

    s3 = FakeS3()
    result, _out = run(dict(S3, chunk_size_mb=5, timeout=1), capsys, monkeypatch, FakeDocker(slow), s3)
    assert result['failed'] and 'did not finish within 1 seconds' in result['msg']
    assert s3.objects == {} and s3.uploads == {}


def test_exec_that_cannot_start_leaves_no_temp_file(tmp_path, capsys, monkeypatch):
    class NoExec(FakeDocker):
        def exec_create(self, container, cmd, **kw):
            from docker.errors import APIError
            raise APIError('OCI runtime exec failed: pg_dump not found')

    result, _out = run(dict(dest=str(tmp_path), key='x.dump'), capsys, monkeypatch, NoExec(dump_script(b'')))
    assert result['failed'] and 'pg_dump not found' in result['msg']
    assert os.listdir(tmp_path) == []
