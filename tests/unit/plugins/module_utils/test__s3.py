# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hashing reader, boto3's managed upload with its record, sources and sha256, against moto's in-process S3.

moto keeps S3's semantics (an object appears only on CompleteMultipartUpload, uploads are listed
until completed or aborted), and botocore's event hooks inject failures into single API calls.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ansible_collections.aishield.ops.plugins.module_utils._s3 import (
    MIB,
    TOOL,
    ChecksumMismatch,
    HashingReader,
    HoldbackVerifier,
    LocalFileSink,
    LocalFileSource,
    S3Source,
    S3StreamUpload,
    TransferError,
    backup_metadata,
    incomplete_message,
    part_count,
    sidecar_key,
    spool_verified,
    throughput_mb_s,
    transfer,
)

BUCKET = 'bkt'
KEY = 'backups/appdb/20250131T235959Z.dump'


def client_error(code, op='Op'):
    return ClientError({'Error': {'Code': code, 'Message': code}}, op)


class FakeBody:
    def __init__(self, data):
        self._io = io.BytesIO(data)
        self.closed = False

    def read(self, n=-1):
        return self._io.read(n)

    def close(self):
        self.closed = True


class FakeS3:
    """Just enough of the S3 read API, in memory, with call records (for the modules' read paths)."""

    def __init__(self):
        self.objects = {}
        self.calls = []
        self._lock = threading.Lock()

    def _record(self, name, **kw):
        with self._lock:
            self.calls.append((name, kw))

    def names(self):
        return [c[0] for c in self.calls]

    def put_object(self, Bucket, Key, Body, Metadata=None, **kw):
        self._record('put_object', Key=Key, Metadata=Metadata)
        self.objects[Key] = {'Body': bytes(Body), 'Metadata': dict(Metadata or {}), 'ETag': '"put"'}

    def head_bucket(self, Bucket):
        self._record('head_bucket', Bucket=Bucket)

    def head_object(self, Bucket, Key):
        self._record('head_object', Key=Key)
        if Key not in self.objects:
            raise client_error('404', 'HeadObject')
        obj = self.objects[Key]
        return {'ContentLength': len(obj['Body']), 'Metadata': obj['Metadata'], 'ETag': obj['ETag']}

    def delete_object(self, Bucket, Key):
        self._record('delete_object', Key=Key)
        self.objects.pop(Key, None)

    def get_object(self, Bucket, Key, IfMatch=None):
        self._record('get_object', Key=Key, IfMatch=IfMatch)
        if Key not in self.objects:
            raise client_error('NoSuchKey', 'GetObject')
        obj = self.objects[Key]
        if IfMatch is not None and IfMatch != obj['ETag']:
            raise client_error('PreconditionFailed', 'GetObject')
        return {'Body': FakeBody(obj['Body'])}


@pytest.fixture
def s3():
    """A real boto3 client on moto's in-process S3, with an empty bucket."""
    with mock_aws():
        client = boto3.client('s3', region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')
        client.create_bucket(Bucket=BUCKET)
        yield client


def fail_call(client, operation, when=lambda n: True):
    """Make the n-th call (1-based) of `operation` raise where `when(n)`; returns the call counter."""
    seen = {'n': 0}

    def hook(**_kw):
        seen['n'] += 1
        if when(seen['n']):
            raise client_error('InternalError', operation)
    client.meta.events.register('before-call.s3.%s' % operation, hook)
    return seen


def count_calls(client, operation):
    seen = {'n': 0}

    def hook(**_kw):
        seen['n'] += 1
    client.meta.events.register('before-call.s3.%s' % operation, hook)
    return seen


def leftovers(client):
    """(object keys, open multipart uploads) in the bucket."""
    objects = [o['Key'] for o in client.list_objects_v2(Bucket=BUCKET).get('Contents', [])]
    return objects, client.list_multipart_uploads(Bucket=BUCKET).get('Uploads', [])


def meta_for(sha256, size):
    return backup_metadata(sha256, size, 'appdb', '2025-01-31T23:59:59Z', TOOL)


def pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def upload(client, data_or_blocks, chunk=5 * MIB, at_end=None, concurrency=2):
    blocks = pieces(data_or_blocks, 64 * 1024) if isinstance(data_or_blocks, bytes) else data_or_blocks
    reader = HashingReader(blocks, at_end=at_end)
    up = S3StreamUpload(client, BUCKET, KEY, chunk_size=chunk, concurrency=concurrency,
                        metadata={'db': 'appdb', 'tool': TOOL})
    return up.upload(reader, meta_for), reader


# ------------------------------------------------------------- the reader

@pytest.mark.parametrize('total, piece, want', [
    (0, 1, 4), (3, 1, 4), (4, 4, 4), (17, 3, 4), (17, 5, 4), (100, 7, 10), (100, 250, 10), (1000, 33, 64),
])
def test_reader_returns_exactly_what_was_asked_until_the_end(total, piece, want):
    data = os.urandom(total)
    reader = HashingReader(pieces(data, piece))
    chunks = list(iter(lambda: reader.read(want), b''))
    assert b''.join(chunks) == data
    assert all(len(c) == want for c in chunks[:-1]) and (not chunks or 0 < len(chunks[-1]) <= want)
    assert reader.size == total and reader.sha256 == hashlib.sha256(data).hexdigest()
    assert reader.read(want) == b'' and reader.eof


def test_reader_read_all_skips_empty_blocks_and_counts():
    sizes = []
    reader = HashingReader([b'ab', b'', b'cd', b'e'], on_read=sizes.append)
    assert reader.read(1) == b'a'
    assert reader.read() == b'bcde' and reader.read() == b''
    assert sizes == [1, 5] and reader.sha256 == hashlib.sha256(b'abcde').hexdigest()


def test_reader_reports_the_end_only_after_at_end_returned_and_passes_its_error():
    calls = []

    def at_end():
        calls.append(reader.size)
        raise RuntimeError('pg_dump was killed by signal 9')
    reader = HashingReader([b'abc'], at_end=at_end)
    assert reader.read(3) == b'abc' and calls == []
    with pytest.raises(RuntimeError, match='signal 9'):
        reader.read(3)
    assert calls == [3]


def test_reader_is_a_non_seekable_file_for_boto3():
    from s3transfer.upload import UploadNonSeekableInputManager, UploadSeekableInputManager
    reader = HashingReader([])
    assert reader.readable() and not reader.seekable()
    assert UploadNonSeekableInputManager.is_compatible(reader)
    assert not UploadSeekableInputManager.is_compatible(reader)


@pytest.mark.parametrize('size, parts', [(0, 1), (1, 1), (5 * MIB, 1), (5 * MIB + 1, 2), (12 * MIB, 3)])
def test_part_count(size, parts):
    assert part_count(size, 5 * MIB) == parts


def test_throughput():
    assert throughput_mb_s(10 * MIB, 2.0) == 5.0
    assert throughput_mb_s(10, 0) == 0.0


# ------------------------------------------------------- upload and record

def test_short_stream_is_one_put_then_its_record(s3):
    puts, creates = count_calls(s3, 'PutObject'), count_calls(s3, 'CreateMultipartUpload')
    result, reader = upload(s3, b'PGDMP small')
    assert (puts['n'], creates['n']) == (2, 0) and result['parts'] == 1
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert 'sha256' not in head['Metadata'] and head['Metadata']['db'] == 'appdb'
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=KEY + '.json')['Body'].read())
    assert record == meta_for(hashlib.sha256(b'PGDMP small').hexdigest(), 11) == result['metadata']
    assert result['record'] == sidecar_key(KEY) == KEY + '.json'


def test_long_stream_is_a_managed_multipart_upload_with_exact_bytes(s3):
    data = os.urandom(12 * MIB + 5)
    parts = count_calls(s3, 'UploadPart')
    result, _reader = upload(s3, data)
    assert parts['n'] == 3 and result['parts'] == 3
    assert s3.get_object(Bucket=BUCKET, Key=KEY)['Body'].read() == data
    assert result['sha256'] == hashlib.sha256(data).hexdigest() and result['size'] == len(data)
    assert leftovers(s3) == ([KEY, KEY + '.json'], [])
    assert result['commit_seconds'] >= 0


def test_stream_cut_mid_upload_leaves_no_object_and_no_upload(s3):
    """The source breaks after parts went up: nothing under the key, the multipart upload aborted."""
    parts, aborts = count_calls(s3, 'UploadPart'), count_calls(s3, 'AbortMultipartUpload')

    def broken():
        yield from pieces(os.urandom(11 * MIB), MIB)
        # Break only once a part is up (bounded wait): on a busy machine the parts still queued when the
        # source fails may never start, and the premise is "after parts went up".
        deadline = time.monotonic() + 30
        while parts['n'] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise OSError('connection to pg_dump lost')
    with pytest.raises(OSError, match='connection to pg_dump lost'):
        upload(s3, broken())
    assert parts['n'] >= 1 and aborts['n'] >= 1
    assert leftovers(s3) == ([], [])


def test_failed_dump_after_every_byte_never_completes(s3):
    """pg_dump exits non-zero at the very end: the upload is aborted, not completed with a truncated dump."""
    completes = count_calls(s3, 'CompleteMultipartUpload')

    def at_end():
        raise RuntimeError('pg_dump exited with 1')
    with pytest.raises(RuntimeError):
        upload(s3, os.urandom(11 * MIB), at_end=at_end)
    assert completes['n'] == 0 and leftovers(s3) == ([], [])


def test_failed_dump_of_a_short_stream_puts_nothing(s3):
    def at_end():
        raise RuntimeError('pg_dump exited with 1')
    with pytest.raises(RuntimeError):
        upload(s3, b'short', at_end=at_end)
    assert leftovers(s3) == ([], [])


def test_failing_part_aborts_and_says_so(s3):
    fail_call(s3, 'UploadPart', when=lambda n: n >= 2)
    with pytest.raises(TransferError, match='uploading to s3://bkt/%s failed' % KEY):
        upload(s3, os.urandom(16 * MIB))
    assert leftovers(s3) == ([], [])


def test_upload_is_aborted_even_when_boto3s_own_abort_failed(s3):
    aborts = fail_call(s3, 'AbortMultipartUpload', when=lambda n: n == 1)
    fail_call(s3, 'UploadPart', when=lambda n: n >= 2)
    with pytest.raises(TransferError):
        upload(s3, os.urandom(16 * MIB))
    assert aborts['n'] >= 2, 'abort_leftovers did not repeat the failed abort'
    assert leftovers(s3) == ([], [])


def test_record_that_cannot_be_written_takes_the_object_with_it(s3):
    fail_call(s3, 'PutObject', when=lambda n: n == 2)
    with pytest.raises(TransferError, match='writing the record'):
        upload(s3, b'small dump')
    assert leftovers(s3) == ([], [])


# ------------------------------------------------------------ S3 sources

def test_source_reads_the_record_of_a_new_backup(s3):
    result, _reader = upload(s3, b'new style')
    info = S3Source(s3, BUCKET, KEY).describe()
    assert info['sha256'] == result['sha256'] and info['record'] == 'sidecar' and not info['incomplete']
    assert info['size'] == 9 and info['metadata']['db'] == 'appdb'


def test_source_reads_the_metadata_of_an_old_backup(s3):
    digest = hashlib.sha256(b'old style').hexdigest()
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'old style', Metadata=meta_for(digest, 9))
    gets = count_calls(s3, 'GetObject')
    info = S3Source(s3, BUCKET, KEY).describe()
    assert info['sha256'] == digest and info['record'] == 'metadata' and not info['incomplete']
    assert gets['n'] == 0, 'an old backup needs no record lookup'


@pytest.mark.parametrize('metadata, incomplete', [({'tool': TOOL, 'db': 'appdb'}, True), ({}, False)])
def test_source_without_any_sha256(s3, metadata, incomplete):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'x', Metadata=metadata)
    info = S3Source(s3, BUCKET, KEY).describe()
    assert info['sha256'] is None and info['incomplete'] is incomplete and info['record'] is None
    msg = incomplete_message('s3://bkt/' + KEY)
    assert 'incomplete backup' in msg and 's3://bkt/%s.json' % KEY in msg


@pytest.mark.parametrize('record, message', [
    (b'not json', 'not valid JSON'),
    (json.dumps({'size': '1'}).encode(), 'holds no sha256'),
    (json.dumps(meta_for('a' * 64, 99)).encode(), 'belongs to another upload'),
])
def test_source_refuses_a_record_that_does_not_fit(s3, record, message):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'abc', Metadata={'tool': TOOL})
    s3.put_object(Bucket=BUCKET, Key=KEY + '.json', Body=record)
    with pytest.raises(TransferError, match=message):
        S3Source(s3, BUCKET, KEY).describe()


def test_source_pins_the_described_version(s3):
    upload(s3, b'abcdef')
    src = S3Source(s3, BUCKET, KEY, block_size=4)
    src.describe()
    assert list(src.blocks()) == [b'abcd', b'ef']
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'changed')
    with pytest.raises(ClientError):
        list(src.blocks())


# ------------------------------------------------------------------- sha256

def test_holdback_forwards_one_behind_and_releases_tail_on_match():
    data = [b'aa', b'bb', b'cc']
    v = HoldbackVerifier(hashlib.sha256(b''.join(data)).hexdigest().upper(), 's3://b/k')
    out = [v.feed(block) for block in data]
    assert out == [b'', b'aa', b'bb']
    assert v.finish() == b'cc'
    assert v.size == 6


def test_holdback_withholds_tail_on_mismatch():
    v = HoldbackVerifier('0' * 64, 's3://b/k')
    forwarded = v.feed(b'aa') + v.feed(b'bb')
    with pytest.raises(ChecksumMismatch) as info:
        v.finish()
    assert forwarded == b'aa'
    err = info.value
    assert err.expected == '0' * 64 and err.actual == hashlib.sha256(b'aabb').hexdigest()
    assert 's3://b/k' in str(err) and err.actual in str(err) and err.expected in str(err)


def test_holdback_empty_stream():
    v = HoldbackVerifier(hashlib.sha256(b'').hexdigest(), 'x')
    assert v.feed(b'') == b''
    assert v.finish() == b''


# ----------------------------------------------------------- local files

def test_local_sink_writes_0600_file_and_sidecar(tmp_path):
    path = tmp_path / 'a' / 'b' / 'x.dump'
    data = os.urandom(300000)
    result = transfer(pieces(data, 4096), LocalFileSink(str(path), meta_for))
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sidecar = json.loads((tmp_path / 'a' / 'b' / 'x.dump.json').read_text())
    assert sidecar['sha256'] == hashlib.sha256(data).hexdigest() == result['sha256']
    assert stat.S_IMODE((tmp_path / 'a' / 'b' / 'x.dump.json').stat().st_mode) == 0o600
    assert sorted(os.listdir(path.parent)) == ['x.dump', 'x.dump.json']


def test_local_sink_abort_leaves_nothing(tmp_path):
    path = tmp_path / 'x.dump'

    def check():
        raise RuntimeError('pg_dump exited with 1')
    with pytest.raises(RuntimeError):
        transfer([b'abc'], LocalFileSink(str(path), meta_for), check)
    assert os.listdir(tmp_path) == []


def test_local_source_reads_sidecar(tmp_path):
    path = tmp_path / 'x.dump'
    transfer([b'hello'], LocalFileSink(str(path), meta_for))
    src = LocalFileSource(str(path), block_size=2)
    info = src.describe()
    assert info['sha256'] == hashlib.sha256(b'hello').hexdigest() and info['size'] == 5
    assert list(src.blocks()) == [b'he', b'll', b'o']


def test_local_source_without_sidecar(tmp_path):
    path = tmp_path / 'x.dump'
    path.write_bytes(b'x')
    assert LocalFileSource(str(path)).describe()['sha256'] is None


# ---------------------------------------------------------------- spooling

def test_spool_verified(tmp_path):
    data = [b'ab', b'cd']
    path = spool_verified(iter(data), hashlib.sha256(b'abcd').hexdigest(), 'x', str(tmp_path))
    assert open(path, 'rb').read() == b'abcd'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.unlink(path)
    with pytest.raises(ChecksumMismatch):
        spool_verified(iter(data), '1' * 64, 'x', str(tmp_path))
    assert os.listdir(tmp_path) == []
