# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pg_backup end to end against a fake Docker daemon and S3 (moto in-process, or a fake for the read paths)."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.module_utils._s3 import MIB
from ansible_collections.aishield.ops.plugins.modules import pg_backup
from ansible_collections.aishield.ops.plugins.modules.pg_backup import safe_relative_key
from ansible_collections.aishield.ops.tests.unit.plugins.module_utils.test__docker_exec import FakeDocker, frame
from ansible_collections.aishield.ops.tests.unit.plugins.module_utils.test__s3 import (  # noqa: F401  pylint: disable=unused-import
    FakeS3,
    count_calls,
    leftovers,
    s3,
)

KEY = 'backups/appdb/20250131T235959Z.dump'
PASSWORD = 'Sup3r-Secret-pw'


def dump_script(data, stderr=b'', frame_size=32768):
    def script(fake, sock):
        for i in range(0, len(data), frame_size):
            sock.sendall(frame(1, data[i:i + frame_size]))
        if stderr:
            sock.sendall(frame(2, stderr))
    return script


def run(args, capsys, monkeypatch, docker=None, client=None):
    docker = docker or FakeDocker(dump_script(b''))
    client = client if client is not None else FakeS3()
    monkeypatch.setattr(pg_backup, 'docker_client', lambda *a, **k: docker)
    monkeypatch.setattr(pg_backup, 'aws_client', lambda *a, **k: client)
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


def test_streams_to_s3_with_its_record(s3, tmp_path, capsys, monkeypatch):
    data = os.urandom(12 * MIB + 5)
    docker = FakeDocker(dump_script(data))
    progress = tmp_path / 'progress.json'
    result, out = run(dict(S3, db_password=PASSWORD, db_host='127.0.0.1', chunk_size_mb=5,
                           progress_file=str(progress)), capsys, monkeypatch, docker, s3)
    digest = hashlib.sha256(data).hexdigest()
    assert result['changed'] and not result.get('failed'), result
    assert result['sha256'] == digest and result['size'] == len(data) and result['parts'] == 3
    assert result['location'] == 's3://bkt/' + KEY and result['bucket'] == 'bkt'
    assert result['record'] == KEY + '.json'
    assert s3.get_object(Bucket='bkt', Key=KEY)['Body'].read() == data
    meta = s3.head_object(Bucket='bkt', Key=KEY)['Metadata']
    assert 'sha256' not in meta and meta['db'] == 'appdb' and meta['timestamp'] == result['timestamp']
    record = json.loads(s3.get_object(Bucket='bkt', Key=KEY + '.json')['Body'].read())
    assert record == result['metadata'] and record['sha256'] == digest and record['size'] == str(len(data))
    assert leftovers(s3) == ([KEY, KEY + '.json'], [])
    assert json.loads(progress.read_text()) == {'bytes': len(data), 'seconds': pytest.approx(0, abs=60),
                                                'phase': 'stored'}
    cmd = docker.created['cmd']
    assert cmd[:2] == ['pg_dump', '--format=custom'] and cmd[-1] == 'appdb' and '-w' in cmd
    assert not [arg for arg in cmd if arg.startswith('--compress')]  # pg_dump's own default level
    assert PASSWORD not in ' '.join(cmd)
    assert docker.created['environment'] == {'PGPASSWORD': PASSWORD}
    assert PASSWORD not in out and 'secret-example' not in out


@pytest.mark.parametrize('level', [0, 1, 9])
def test_compress_level_reaches_pg_dump(level, s3, capsys, monkeypatch):
    docker = FakeDocker(dump_script(b'dump'))
    result, _out = run(dict(S3, compress_level=level), capsys, monkeypatch, docker, s3)
    assert not result.get('failed'), result
    assert docker.created['cmd'][:3] == ['pg_dump', '--format=custom', '--compress=%d' % level]


@pytest.mark.parametrize('exit_code, stderr, message', [
    (1, b'pg_dump: error: connection to server failed: FATAL:  database "nope" does not exist\n',
     'does not exist'),
    (143, b'', 'killed by signal 15'),
])
def test_failed_dump_leaves_nothing(exit_code, stderr, message, s3, capsys, monkeypatch):
    parts, aborts = count_calls(s3, 'UploadPart'), count_calls(s3, 'AbortMultipartUpload')
    dump = dump_script(os.urandom(11 * MIB), stderr)

    def fails_after_a_part_is_up(fake, sock):
        # pg_dump fails once a part is stored (on a busy machine the upload threads may not have started when
        # the stream ends), so the abort of a started multipart upload is what is tested. Bounded wait.
        dump(fake, sock)
        deadline = time.monotonic() + 30
        while parts['n'] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    docker = FakeDocker(fails_after_a_part_is_up, exit_code=exit_code)
    result, _out = run(dict(S3, chunk_size_mb=5), capsys, monkeypatch, docker, s3)
    assert result['failed'] and message in result['msg'] and 'nothing was stored' in result['msg']
    assert parts['n'] >= 1 and aborts['n'] >= 1
    assert leftovers(s3) == ([], [])


def test_check_mode_runs_nothing(capsys, monkeypatch):
    docker, fake = FakeDocker(dump_script(b'x')), FakeS3()
    result, _out = run(dict(S3, _ansible_check_mode=True), capsys, monkeypatch, docker, fake)
    assert result['changed'] and 'would dump' in result['msg']
    assert docker.created is None and fake.objects == {}
    assert set(fake.names()) <= {'head_object', 'head_bucket', 'get_object'}


def test_existing_old_backup_is_reported_unchanged(capsys, monkeypatch):
    fake = FakeS3()
    fake.put_object(Bucket='bkt', Key=KEY, Body=b'abc',
                    Metadata={'sha256': 'ab' * 32, 'timestamp': '2025-01-31T23:59:59Z'})
    docker = FakeDocker(dump_script(b'x'))
    result, _out = run(S3, capsys, monkeypatch, docker, fake)
    assert not result['changed'] and result['sha256'] == 'ab' * 32 and result['size'] == 3
    assert result['record'] is None and docker.created is None


def test_existing_new_backup_is_reported_unchanged(s3, capsys, monkeypatch):
    first, _out = run(S3, capsys, monkeypatch, FakeDocker(dump_script(b'first')), s3)
    docker = FakeDocker(dump_script(b'second'))
    again, _out = run(S3, capsys, monkeypatch, docker, s3)
    assert not again['changed'] and again['sha256'] == first['sha256'] and again['record'] == KEY + '.json'
    assert docker.created is None


def test_incomplete_backup_is_named_and_refused_unless_forced(s3, capsys, monkeypatch):
    s3.put_object(Bucket='bkt', Key=KEY, Body=b'abc', Metadata={'tool': 'aishield.ops.pg_backup'})
    result, _out = run(S3, capsys, monkeypatch, FakeDocker(dump_script(b'x')), s3)
    assert result['failed'] and 'incomplete backup' in result['msg'] and KEY + '.json' in result['msg']
    result, _out = run(dict(S3, force=True), capsys, monkeypatch, FakeDocker(dump_script(b'new')), s3)
    assert result['changed'] and s3.get_object(Bucket='bkt', Key=KEY)['Body'].read() == b'new'


def test_foreign_object_is_refused_unless_forced(s3, capsys, monkeypatch):
    s3.put_object(Bucket='bkt', Key=KEY, Body=b'abc')
    result, _out = run(S3, capsys, monkeypatch, FakeDocker(dump_script(b'x')), s3)
    assert result['failed'] and 'without a sha256 record or metadata' in result['msg']
    result, _out = run(dict(S3, force=True), capsys, monkeypatch, FakeDocker(dump_script(b'new')), s3)
    assert result['changed'] and s3.get_object(Bucket='bkt', Key=KEY)['Body'].read() == b'new'


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


def test_timeout_aborts_and_stores_nothing(s3, capsys, monkeypatch):
    def slow(fake, sock):
        sock.sendall(frame(1, os.urandom(6 * MIB)))
        fake.done.wait(4)

    result, _out = run(dict(S3, chunk_size_mb=5, timeout=1), capsys, monkeypatch, FakeDocker(slow), s3)
    assert result['failed'] and 'did not finish within 1 seconds' in result['msg']
    assert leftovers(s3) == ([], [])


def test_exec_that_cannot_start_leaves_no_temp_file(tmp_path, capsys, monkeypatch):
    class NoExec(FakeDocker):
        def exec_create(self, container, cmd, **kw):
            from docker.errors import APIError
            raise APIError('OCI runtime exec failed: pg_dump not found')

    result, _out = run(dict(dest=str(tmp_path), key='x.dump'), capsys, monkeypatch, NoExec(dump_script(b'')))
    assert result['failed'] and 'pg_dump not found' in result['msg']
    assert os.listdir(tmp_path) == []


def _stored(s3, key):
    # moto stamps LastModified now; retention's age rules are covered in test__retention.
    s3.put_object(Bucket='bkt', Key=key, Body=b'dump', Metadata={'tool': 'aishield.ops.pg_backup'})
    s3.put_object(Bucket='bkt', Key=key + '.json', Body=b'{}')


def test_retention_deletes_records_with_their_backups_and_never_counts_one(s3, capsys, monkeypatch):
    now = datetime.datetime.now(datetime.timezone.utc)
    keys = ['backups/appdb/%s.dump' % (now - datetime.timedelta(days=d)).strftime('%Y%m%dT%H%M%SZ')
            for d in range(1, 6)]
    for key in keys:
        _stored(s3, key)
    s3.put_object(Bucket='bkt', Key='backups/appdb/20200101T000000Z.dump.json', Body=b'{}')  # orphan record
    current = 'backups/appdb/%s.dump' % now.strftime('%Y%m%dT%H%M%SZ')
    result, _out = run(dict(S3, key=current, retention=dict(daily=2, weekly=0, monthly=0)), capsys, monkeypatch,
                       FakeDocker(dump_script(b'today')), s3)
    assert result['changed'] and not result.get('failed'), result
    kept = result['retention']['kept']
    assert kept == [current, keys[0]]
    assert sorted(result['retention']['deleted']) == sorted(keys[1:])
    assert result['retention']['ignored'] == ['backups/appdb/20200101T000000Z.dump.json']
    remaining = leftovers(s3)[0]
    assert sorted(remaining) == sorted([current, current + '.json', keys[0], keys[0] + '.json',
                                        'backups/appdb/20200101T000000Z.dump.json'])
