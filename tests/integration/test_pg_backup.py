# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pg_backup and pg_restore through ansible-playbook, against moto_server and a real PostgreSQL container.

Uses conftest's `postgres` (aishield/postgres:15, skipped only without Docker) and
`ansible_playbook`; s3_fixtures adds moto and the bucket fixtures.
"""

from __future__ import annotations

import collections
import hashlib
import http.client
import json
import os
import re
import socket
import stat
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import PsWatcher, ThrottledRelay, runner_job, wait_for  # noqa: E402  pylint: disable=wrong-import-position

# Helpers come from the plugin module itself; register it for assert rewriting before importing it.
pytest.register_assert_rewrite('s3_fixtures')
from s3_fixtures import (  # noqa: E402  pylint: disable=wrong-import-position
    AWS_SECRET_KEY,
    bucket_is_empty,
    fill_big,
    fill_small,
    kill_in_container,
    row_counts,
    s3_args,
)

pytest_plugins = ['s3_fixtures']
pytestmark = pytest.mark.integration

# ~110 bytes a row of md5 text: a ~150 MB table whose dump spans many 5 MiB parts, long enough to kill mid-stream.
BIG_ROWS = int(os.environ.get('AISHIELD_IT_BIG_ROWS', '1000000'))


@pytest.fixture(scope='module')
def small_db(postgres):
    name = postgres.create_database('bk_small')
    fill_small(postgres, name)
    yield name
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture(scope='module')
def big_db(postgres):
    name = postgres.create_database('bk_big')
    fill_big(postgres, name, BIG_ROWS)
    yield name
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


@pytest.fixture(scope='module')
def medium_db(postgres):
    """A dump of a few MiB: more than one 1 MiB block streams to pg_restore before the held-back tail."""
    name = postgres.create_database('bk_medium')
    fill_big(postgres, name, 40000)
    yield name
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def key_for(db):
    return 'backups/%s/20250131T235959Z.dump' % db


def backup_task(postgres, db, extra=None, name='backup'):
    args = {'container': postgres.container, 'db_name': db, 'db_user': postgres.user, 'key': key_for(db)}
    args.update(extra or {})
    return {'name': name, 'aishield.ops.pg_backup': args, 'register': 'result', 'ignore_errors': True}


def restore_task(postgres, extra, name='restore'):
    args = {'container': postgres.container, 'db_user': postgres.user}
    args.update(extra)
    return {'name': name, 'aishield.ops.pg_restore': args, 'register': 'result', 'ignore_errors': True}


def database_exists(postgres, name):
    return postgres.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % name).strip() == '1'


def record_of(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key + '.json')['Body'].read())


def test_backup_to_s3_stores_a_record_matching_the_content(postgres, small_db, moto_endpoint, s3, bucket,
                                                           ansible_playbook):
    run = ansible_playbook([backup_task(postgres, small_db, s3_args(moto_endpoint, bucket))])
    result = run['backup']
    assert result.get('changed') and not result.get('failed'), run.output
    obj = s3.get_object(Bucket=bucket, Key=key_for(small_db))
    body = obj['Body'].read()
    digest = hashlib.sha256(body).hexdigest()
    record = record_of(s3, bucket, key_for(small_db))
    assert record['sha256'] == digest == result['sha256'] and result['record'] == key_for(small_db) + '.json'
    assert record['size'] == str(len(body)) and result['size'] == len(body)
    assert record['db'] == small_db and record['timestamp'] == result['timestamp']
    assert obj['Metadata']['db'] == small_db and 'sha256' not in obj['Metadata']
    assert body.startswith(b'PGDMP'), 'not a pg_dump custom-format archive'
    assert result['location'] == 's3://%s/%s' % (bucket, key_for(small_db))
    assert bucket_is_empty(s3, bucket) == ([key_for(small_db), key_for(small_db) + '.json'], [])

    again = ansible_playbook([backup_task(postgres, small_db, s3_args(moto_endpoint, bucket))])['backup']
    assert again['changed'] is False and again.get('sha256') == digest, again


def test_backup_to_local_dir_is_private_and_has_a_sidecar(postgres, small_db, tmp_path, ansible_playbook):
    dest = tmp_path / 'backups'
    run = ansible_playbook([backup_task(postgres, small_db, {'dest': str(dest)})])
    result = run['backup']
    assert result.get('changed') and not result.get('failed'), run.output
    path = dest / 'backups' / small_db / '20250131T235959Z.dump'
    assert result['location'] == str(path) and result['bucket'] is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    sidecar = json.loads((path.parent / (path.name + '.json')).read_text())
    assert sidecar['sha256'] == hashlib.sha256(data).hexdigest() == result['sha256']
    assert sorted(os.listdir(path.parent)) == [path.name, path.name + '.json'], 'temp files left behind'


def test_restore_into_scratch_database_has_equal_row_counts(postgres, small_db, moto_endpoint, bucket,
                                                            ansible_playbook):
    scratch = 'scratch_' + os.urandom(4).hex()
    s3 = s3_args(moto_endpoint, bucket)
    run = ansible_playbook([
        backup_task(postgres, small_db, s3),
        restore_task(postgres, dict(s3, key=key_for(small_db), target_db=scratch, create_target=True,
                                    count_rows=True)),
    ])
    try:
        result = run['restore']
        assert result.get('changed') and not result.get('failed'), run.output
        source = row_counts(postgres, small_db)
        assert source == {'public.items': 5000, 'public.users': 1000}
        assert row_counts(postgres, scratch) == source
        assert result['tables'] == source
        assert result['sha256'] == run['backup']['sha256'] and result['created_target']
    finally:
        postgres.psql('DROP DATABASE IF EXISTS "%s"' % scratch)


def test_restore_drill_drops_its_scratch_database(postgres, small_db, tmp_path, ansible_playbook):
    scratch = 'drill_' + os.urandom(4).hex()
    run = ansible_playbook([
        backup_task(postgres, small_db, {'dest': str(tmp_path)}),
        restore_task(postgres, {'src': str(tmp_path / key_for(small_db)), 'target_db': scratch,
                                'create_target': True, 'count_rows': True, 'drop_target_after': True}),
    ])
    result = run['restore']
    assert result.get('changed') and result['dropped_target'], run.output
    assert result['tables'] == {'public.items': 5000, 'public.users': 1000}
    assert not database_exists(postgres, scratch)


def test_big_multipart_backup_never_shows_the_password(postgres, big_db, moto_endpoint, s3, bucket,
                                                       ansible_playbook):
    """Managed multipart upload on real S3 semantics; password only in the exec environment, never in ps or -vvv."""
    task = backup_task(postgres, big_db, dict(s3_args(moto_endpoint, bucket), db_password='{{ db_password }}',
                                              db_host='127.0.0.1', chunk_size_mb=5, concurrency=3, timeout=900))
    watcher = PsWatcher()
    watcher.start()
    try:
        run = ansible_playbook([task], verbosity=3, play_vars={'db_password': postgres.password}, timeout=900)
    finally:
        watcher.stop.set()
        watcher.join(15)
    result = run['backup']
    assert result.get('changed') and not result.get('failed'), run.output[-3000:]
    assert result['parts'] > 1
    assert any(line.startswith('pg_dump') and big_db in line for line in watcher.lines), \
        'the ps sampler never saw pg_dump running, so it proves nothing'
    assert not [line for line in watcher.lines if postgres.password in line]
    assert postgres.password not in run.output
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key_for(big_db))['Body']
    for block in iter(lambda: body.read(1 << 20), b''):
        digest.update(block)
    assert record_of(s3, bucket, key_for(big_db))['sha256'] == digest.hexdigest() == result['sha256']
    objects, uploads = bucket_is_empty(s3, bucket)
    assert objects == [key_for(big_db), key_for(big_db) + '.json'] and uploads == [], 'upload left behind'


def test_killed_pg_dump_leaves_no_object_and_no_upload(postgres, big_db, moto_endpoint, s3, bucket,
                                                       ansible_playbook):
    task = backup_task(postgres, big_db, dict(s3_args(moto_endpoint, bucket), chunk_size_mb=5, concurrency=2))
    holder = {}
    runner = threading.Thread(target=lambda: holder.update(run=ansible_playbook([task], timeout=900)), daemon=True)
    runner.start()
    # Wait until parts are flowing, so the kill lands mid-stream.
    wait_for(lambda: s3.list_multipart_uploads(Bucket=bucket).get('Uploads') or not runner.is_alive(),
             300, 0.2, 'a multipart upload to start')
    assert runner.is_alive(), 'the backup finished before it could be killed: %s' % holder['run'].output[-2000:]
    killed = kill_in_container(postgres.container, 'pg_dump', big_db)
    runner.join(600)
    assert not runner.is_alive()
    result = holder['run']['backup']
    assert killed >= 1
    assert result.get('failed') and 'nothing was stored' in result['msg'], result
    assert 'signal 9' in result['msg'] or 'exited with' in result['msg']
    assert bucket_is_empty(s3, bucket) == ([], [])


# Hop-by-hop headers are the proxy's own business; the body is re-framed with a Content-Length.
_HOP_HEADERS = frozenset(('connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
                          'upgrade', 'expect', 'content-length'))


class _PartDropper(BaseHTTPRequestHandler):
    """Relays each request to moto on a fresh connection; UploadParts after the first get a reset, not an answer."""

    protocol_version = 'HTTP/1.1'  # also makes the server answer botocore's Expect: 100-continue
    timeout = 60  # a stuck client cannot hold a handler thread past the test
    state = None  # set per server class

    def log_message(self, *args):
        return

    def _read_body(self):
        # botocore sends Content-Length over http (aws-chunked only over https); chunked is read anyway, not hung on.
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            pieces = []
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if not size:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass  # trailers
                    return b''.join(pieces)
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get('Content-Length') or 0))

    def _handle(self):
        state = self.state
        body = self._read_body()
        query = parse_qs(urlsplit(self.path).query)
        if self.command == 'PUT' and 'partNumber' in query and 'uploadId' in query:
            part = int(query['partNumber'][0])
            with state['lock']:
                drop = state['passed'] >= 1
                if drop:
                    state['dropped'].append(part)
                else:
                    state['passed'] += 1
            if drop:
                # The whole part arrived, the answer never comes: linger 0 turns the close into a reset.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                self.close_connection = True
                return
        with state['lock']:
            state['requests'].append((self.command, urlsplit(self.path).query))
        upstream = http.client.HTTPConnection(state['host'], state['port'], timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_HEADERS:
                    upstream.putheader(name, value)
            if body or self.command in ('PUT', 'POST'):
                upstream.putheader('Content-Length', str(len(body)))
            upstream.endheaders(body or None)
            resp = upstream.getresponse()
            data = resp.read()
            self.send_response_only(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() not in _HOP_HEADERS:
                    self.send_header(name, value)
            # A HEAD answer announces the object's length but carries no body.
            length = resp.getheader('Content-Length', '0') if self.command == 'HEAD' else str(len(data))
            self.send_header('Content-Length', length)
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(data)
        finally:
            upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle


def test_s3_failing_mid_upload_is_retried_then_aborted_leaving_nothing(postgres, big_db, moto_endpoint, s3, bucket,
                                                                       ansible_playbook):
    """S3 drops out after the first part: every later part is retried, then the upload is aborted, not orphaned."""
    upstream = urlsplit(moto_endpoint)
    state = {'lock': threading.Lock(), 'passed': 0, 'dropped': [], 'requests': [],
             'host': upstream.hostname, 'port': upstream.port}
    server = ThreadingHTTPServer(('127.0.0.1', 0), type('Handler', (_PartDropper,), {'state': state}))
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    proxy = 'http://127.0.0.1:%d' % server.server_port
    try:
        # pg_backup has no retry option: _s3.aws_client fixes botocore's standard mode (5 tries in all, short backoff).
        task = backup_task(postgres, big_db, dict(s3_args(proxy, bucket), chunk_size_mb=5, concurrency=2,
                                                  timeout=240))
        run = ansible_playbook([task], timeout=300)
    finally:
        server.shutdown()
        server.server_close()
        serving.join(10)
    result = run['backup']
    tries = collections.Counter(state['dropped'])
    assert result.get('failed'), run.output[-3000:]
    assert state['passed'] == 1 and tries, 'the proxy never dropped a part, so nothing was tested: %s' % result
    # _s3.MAX_ATTEMPTS: each call is tried 5 times in all (the message for an unreachable bucket says so too).
    assert max(tries.values()) == 5, 'a dropped part should be tried 5 times: %s' % dict(tries)
    msg = result['msg']
    assert 'nothing was stored' in msg and 's3://%s/%s' % (bucket, key_for(big_db)) in msg, msg
    assert 'uploading to s3://%s/%s failed' % (bucket, key_for(big_db)) in msg, msg
    assert any(method == 'DELETE' and 'uploadId=' in query for method, query in state['requests']), \
        'no AbortMultipartUpload went out: %s' % state['requests']
    assert AWS_SECRET_KEY not in run.output
    # Straight at moto, past the proxy: neither an object, a record nor the upload may survive.
    assert bucket_is_empty(s3, bucket) == ([], [])


def test_pg_dump_error_leaves_no_object(postgres, moto_endpoint, s3, bucket, ansible_playbook):
    run = ansible_playbook([backup_task(postgres, 'no_such_db', s3_args(moto_endpoint, bucket))])
    result = run['backup']
    assert result.get('failed') and 'no_such_db' in result['msg'] and 'does not exist' in result['msg'], result
    assert bucket_is_empty(s3, bucket) == ([], [])


def _victim(postgres):
    """An existing database with known content, to prove a failed restore leaves it alone."""
    name = postgres.create_database('victim')
    postgres.psql("CREATE TABLE marker (note text); INSERT INTO marker VALUES ('untouched')", db=name)
    return name


def _assert_untouched(postgres, name):
    assert row_counts(postgres, name) == {'public.marker': 1}
    assert postgres.psql('SELECT note FROM marker', db=name).strip() == 'untouched'


def test_flipped_bytes_fail_clearly_and_leave_the_target_alone(postgres, small_db, moto_endpoint, s3, bucket,
                                                               ansible_playbook):
    s3opts = s3_args(moto_endpoint, bucket)
    backup = ansible_playbook([backup_task(postgres, small_db, s3opts)])['backup']
    key = key_for(small_db)
    obj = s3.get_object(Bucket=bucket, Key=key)
    data = bytearray(obj['Body'].read())
    for offset in range(len(data) // 2, len(data) // 2 + 64):
        data[offset] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data), Metadata=obj['Metadata'])
    victim = _victim(postgres)
    try:
        run = ansible_playbook([restore_task(postgres, dict(s3opts, key=key, target_db=victim, clean=True))])
        result = run['restore']
        assert result.get('failed'), run.output
        actual = hashlib.sha256(bytes(data)).hexdigest()
        assert key in result['msg'] and backup['sha256'] in result['msg'] and actual in result['msg']
        _assert_untouched(postgres, victim)
    finally:
        postgres.psql('DROP DATABASE IF EXISTS "%s"' % victim)


def test_wrong_recorded_sha256_never_commits_a_valid_archive(postgres, small_db, medium_db, moto_endpoint, s3, bucket,
                                                             ansible_playbook):
    """The archives are fine, so only the held-back tail stops pg_restore from committing them.

    The medium dump streams its first blocks to pg_restore --clean in the existing database, which must roll
    back; the small dump is one block, so pg_restore is never started (nothing may be sent before the check)."""
    s3opts = s3_args(moto_endpoint, bucket)
    ansible_playbook([backup_task(postgres, small_db, s3opts, name='small'), backup_task(postgres, medium_db, s3opts, name='medium')])
    for db in (small_db, medium_db):
        record = dict(record_of(s3, bucket, key_for(db)), sha256='0' * 64)
        s3.put_object(Bucket=bucket, Key=key_for(db) + '.json', Body=json.dumps(record).encode())
    assert int(record_of(s3, bucket, key_for(medium_db))['size']) > 2 * 1024 * 1024, 'the medium dump must span blocks'
    victim = _victim(postgres)
    scratch = 'scratch_' + os.urandom(4).hex()
    try:
        run = ansible_playbook([
            restore_task(postgres, dict(s3opts, key=key_for(medium_db), target_db=victim, clean=True), name='into existing'),
            restore_task(postgres, dict(s3opts, key=key_for(small_db), target_db=scratch, create_target=True), name='into new'),
        ])
        existing, new = run['into existing'], run['into new']
        assert existing.get('failed') and '0' * 64 in existing['msg'] and 'rolled back' in existing['msg'], existing
        assert new.get('failed') and '0' * 64 in new['msg'] and 'pg_restore was never started' in new['msg'], new
        _assert_untouched(postgres, victim)
        assert not database_exists(postgres, scratch), 'the scratch database of a failed restore must be dropped'
    finally:
        postgres.psql('DROP DATABASE IF EXISTS "%s"' % victim)
        postgres.psql('DROP DATABASE IF EXISTS "%s"' % scratch)


def test_check_mode_never_mutates(postgres, small_db, moto_endpoint, s3, bucket, tmp_path, ansible_playbook):
    s3opts = s3_args(moto_endpoint, bucket)
    scratch = 'scratch_' + os.urandom(4).hex()
    run = ansible_playbook([
        backup_task(postgres, small_db, s3opts, name='s3'),
        backup_task(postgres, small_db, {'dest': str(tmp_path / 'local')}, name='local'),
    ], check=True)
    for name in ('s3', 'local'):
        assert run[name].get('changed') and not run[name].get('failed') and 'would dump' in run[name]['msg']
    assert bucket_is_empty(s3, bucket) == ([], [])
    assert not (tmp_path / 'local').exists()

    ansible_playbook([backup_task(postgres, small_db, s3opts)])
    run = ansible_playbook([restore_task(postgres, dict(s3opts, key=key_for(small_db), target_db=scratch,
                                                        create_target=True))], check=True)
    assert run['restore'].get('changed') and 'would restore' in run['restore']['msg'], run.output
    assert not database_exists(postgres, scratch)


def test_old_backup_with_sha256_metadata_still_restores(postgres, small_db, moto_endpoint, s3, bucket,
                                                        ansible_playbook):
    """A backup from before records (sha256 in its user metadata, no record) stays restorable."""
    s3opts = s3_args(moto_endpoint, bucket)
    ansible_playbook([backup_task(postgres, small_db, s3opts)])
    key = key_for(small_db)
    record = record_of(s3, bucket, key)
    body = s3.get_object(Bucket=bucket, Key=key)['Body'].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=record)
    s3.delete_object(Bucket=bucket, Key=key + '.json')
    scratch = 'scratch_' + os.urandom(4).hex()
    run = ansible_playbook([restore_task(postgres, dict(s3opts, key=key, target_db=scratch, create_target=True,
                                                        count_rows=True, drop_target_after=True))])
    result = run['restore']
    assert result.get('changed') and not result.get('failed'), run.output
    assert result['sha256'] == record['sha256'] and result['tables'] == {'public.items': 5000, 'public.users': 1000}
    again = ansible_playbook([backup_task(postgres, small_db, s3opts)])['backup']
    assert again['changed'] is False and again['sha256'] == record['sha256'] and again['record'] is None


def test_backup_without_its_record_is_incomplete_and_refused(postgres, small_db, moto_endpoint, s3, bucket,
                                                             ansible_playbook):
    """What a run killed between the upload and the record leaves: no reader takes it for a backup."""
    s3opts = s3_args(moto_endpoint, bucket)
    backup = ansible_playbook([backup_task(postgres, small_db, s3opts)])['backup']
    key = key_for(small_db)
    s3.delete_object(Bucket=bucket, Key=key + '.json')
    victim = _victim(postgres)
    try:
        run = ansible_playbook([
            restore_task(postgres, dict(s3opts, key=key, target_db=victim, clean=True,
                                        expected_sha256=backup['sha256'])),
            backup_task(postgres, small_db, s3opts, name='backup again'),
        ])
        for name in ('restore', 'backup again'):
            msg = run[name]['msg']
            assert run[name].get('failed') and 'incomplete backup' in msg and key + '.json' in msg, run[name]
        _assert_untouched(postgres, victim)
    finally:
        postgres.psql('DROP DATABASE IF EXISTS "%s"' % victim)


# --- progress through ansible-runner (what AWX shows as job output) -------------------------------

PROGRESS_LINE = re.compile(r'localhost \| (pg_backup|pg_restore): ([0-9.]+) MiB in ([0-9]+) s \(([0-9.]+) MiB/s\)')


def _progress(stdout, name):
    """[(MiB, seconds, MiB/s)] of the progress lines of `name`, in order."""
    return [(float(m.group(2)), int(m.group(3)), float(m.group(4)))
            for m in PROGRESS_LINE.finditer(stdout) if m.group(1) == name]


def test_backup_and_restore_print_progress_in_the_job_output(postgres, big_db, moto_endpoint, s3, bucket, tmp_path):
    s3opts = dict(s3_args(moto_endpoint, bucket), secret_key='{{ s3_secret }}')
    scratch = 'progress_' + os.urandom(4).hex()
    backup = dict(backup_task(postgres, big_db, dict(s3opts, progress_interval=1, chunk_size_mb=5, timeout=600)),
                  ignore_errors=False)
    restore = dict(restore_task(postgres, dict(s3opts, key=key_for(big_db), target_db=scratch, create_target=True,
                                               drop_target_after=True, progress_interval=1, timeout=600)),
                   ignore_errors=False)
    restore['register'] = 'restored'
    check = {'name': 'show', 'ansible.builtin.debug': {'msg': '{{ result.sha256 }} {{ restored.sha256 }}'}}
    runner, stdout = runner_job(tmp_path, [backup, restore, check], {'s3_secret': AWS_SECRET_KEY})
    assert runner.rc == 0, stdout[-3000:]
    assert AWS_SECRET_KEY not in stdout
    record = record_of(s3, bucket, key_for(big_db))
    assert '%s %s' % (record['sha256'], record['sha256']) in stdout, 'the module results did not come back whole'
    for name in ('pg_backup', 'pg_restore'):
        lines = _progress(stdout, name)
        # At least one poll while the job ran, and the closing line with the whole dump (on an idle machine
        # the restore of this dump takes about 1 s, long enough for one poll at the 1 s interval, not two).
        assert len(lines) >= 2, '%s printed %d progress lines:\n%s' % (name, len(lines), stdout[-3000:])
        sizes = [mib for mib, _s, _r in lines]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1], sizes
        assert sizes[-1] == pytest.approx(int(record['size']) / (1 << 20), abs=1)
        assert any(rate > 0 for _m, _s, rate in lines)
    # AWX shows the same lines: they are events of the job, not only text on a terminal.
    texts = [e.get('stdout', '') for e in runner.events]
    assert any(PROGRESS_LINE.search(text) for text in texts), 'no job event carries a progress line'
    assert not database_exists(postgres, scratch)


DOWNLOAD_LINE = re.compile(r'localhost \| pg_restore: ([0-9.]+) MiB in ([0-9]+) s \(([0-9.]+) MiB/s\), download')


def test_a_verified_restore_shows_its_download_then_its_restore(postgres, big_db, moto_endpoint, s3, bucket, tmp_path):
    """verify_before_restore downloads the whole dump first: that wait prints lines too (S3 through a slow relay)."""
    s3opts = dict(s3_args(moto_endpoint, bucket), secret_key='{{ s3_secret }}')
    backup = dict(backup_task(postgres, big_db, dict(s3opts, progress_interval=0, chunk_size_mb=5, timeout=600)),
                  ignore_errors=False)
    runner, stdout = runner_job(tmp_path / 'backup', [backup], {'s3_secret': AWS_SECRET_KEY})
    assert runner.rc == 0, stdout[-3000:]
    size = int(record_of(s3, bucket, key_for(big_db))['size'])
    # About 4 s of download, whatever the dump's size.
    relay = ThrottledRelay(('127.0.0.1', int(moto_endpoint.rsplit(':', 1)[1])), max(size // 4, 1 << 20))
    scratch = 'verified_' + os.urandom(4).hex()
    try:
        restore = dict(restore_task(postgres, dict(s3opts, endpoint_url='http://127.0.0.1:%d' % relay.port,
                                                   key=key_for(big_db), target_db=scratch, create_target=True,
                                                   drop_target_after=True, verify_before_restore=True,
                                                   progress_interval=1, timeout=600)), ignore_errors=False)
        runner, stdout = runner_job(tmp_path / 'restore', [restore], {'s3_secret': AWS_SECRET_KEY})
    finally:
        relay.close()
    assert runner.rc == 0, stdout[-3000:]
    downloads = [float(m.group(1)) for m in DOWNLOAD_LINE.finditer(stdout)]
    assert len(downloads) >= 2, 'the download printed %d lines:\n%s' % (len(downloads), stdout[-3000:])
    assert downloads == sorted(downloads) and downloads[-1] <= size / (1 << 20) + 1, downloads
    # Then the restore's own lines, ending with the whole dump.
    restored = _progress(stdout, 'pg_restore')
    assert restored and restored[-1][0] == pytest.approx(size / (1 << 20), abs=1), restored
    assert stdout.index(DOWNLOAD_LINE.search(stdout).group(0)) < stdout.rindex('pg_restore:')
    assert AWS_SECRET_KEY not in stdout
    assert not database_exists(postgres, scratch)


def test_progress_interval_zero_and_check_mode_run_directly(postgres, big_db, moto_endpoint, bucket,
                                                            ansible_playbook):
    s3opts = dict(s3_args(moto_endpoint, bucket), chunk_size_mb=5, timeout=600)
    run = ansible_playbook([backup_task(postgres, big_db, dict(s3opts, progress_interval=0))], json_output=False,
                           timeout=900)
    assert run.rc == 0 and 'changed=1' in run.stdout, run.output[-2000:]
    assert 'pg_backup:' not in run.stdout, 'progress_interval=0 still printed progress'
    run = ansible_playbook([backup_task(postgres, big_db, dict(s3opts, key=key_for(big_db) + '.2',
                                                               progress_interval=1))], check=True)
    assert run['backup'].get('changed') and 'would dump' in run['backup']['msg'], run.output
    assert 'pg_backup:' not in run.stdout


def test_latest_skips_incomplete_backups_and_never_picks_a_record(tmp_path, ansible_playbook):
    """The backup role's `latest` (restore.yml, the weekly drill, the DR drill): the same rule as retention."""
    directory = tmp_path / 'backups' / 'appdb'
    directory.mkdir(parents=True)
    # 01-02 predate records (sha256 in metadata); 03-04 have records; 05 lost its record; a stray record for 06.
    for stamp in ('20250101', '20250102', '20250103', '20250104', '20250105'):
        (directory / ('%sT000000Z.dump' % stamp)).write_bytes(b'dump')
    for name in ('20250103T000000Z.dump.json', '20250104T000000Z.dump.json', '20250106T000000Z.dump.json', 'notes'):
        (directory / name).write_text('{}')
    tasks = [{'name': 'latest', 'ansible.builtin.include_role': {'name': 'aishield.ops.backup', 'tasks_from': 'latest'},
              'vars': {'backup_dest': str(tmp_path), 'backup_prefix': 'backups', 'backup_db_name': 'appdb'}},
             {'name': 'show', 'ansible.builtin.debug': {'msg': '{{ backup_latest_key }}|{{ backup_latest_incomplete }}'}}]
    run = ansible_playbook(tasks)
    assert run['show']['msg'] == "backups/appdb/20250104T000000Z.dump|['backups/appdb/20250105T000000Z.dump']", run.output
    (directory / '20250103T000000Z.dump.json').unlink()
    (directory / '20250104T000000Z.dump.json').unlink()
    run = ansible_playbook(tasks)
    assert run['show']['msg'] == 'backups/appdb/20250105T000000Z.dump|[]', 'no records at all: every dump may be old'
