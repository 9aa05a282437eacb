# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Chunking, part bookkeeping, sha256 and the abort decision, against a fake boto3 client."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import threading
import time

import pytest
from botocore.exceptions import ClientError

from ansible_collections.aishield.ops.plugins.module_utils import _s3
from ansible_collections.aishield.ops.plugins.module_utils._s3 import (
    MIB,
    ChecksumMismatch,
    Chunker,
    HoldbackVerifier,
    LocalFileSink,
    LocalFileSource,
    MultipartUpload,
    PartLedger,
    S3Sink,
    S3Source,
    TransferError,
    backup_metadata,
    check_part_plan,
    copy_ranges,
    spool_verified,
    staging_key,
    throughput_mb_s,
    transfer,
)

# The retention filter's idea of a backup name: a timestamp first.
BACKUP_NAME = re.compile(r'^(\d{8}T\d{6}Z)(?:\..+)?$')


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
    """Just enough of the S3 client API, in memory, with failure injection and call records."""

    def __init__(self, fail_part=None, fail_abort=0, fail_complete=False, part_delay=0.0, fail_copy=False):
        self.objects = {}
        self.uploads = {}
        self.calls = []
        self.fail_part = fail_part
        self.fail_abort = fail_abort
        self.fail_complete = fail_complete
        self.fail_copy = fail_copy
        self.part_delay = part_delay
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._n = 0

    def _record(self, name, **kw):
        with self._lock:
            self.calls.append((name, kw))

    def names(self):
        return [c[0] for c in self.calls]

    def create_multipart_upload(self, Bucket, Key, **kw):
        self._record('create_multipart_upload', Bucket=Bucket, Key=Key, **kw)
        with self._lock:
            self._n += 1
            upload_id = 'up%d' % self._n
        self.uploads[upload_id] = {'Key': Key, 'parts': {}, 'Metadata': kw.get('Metadata', {})}
        return {'UploadId': upload_id}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body):
        self._record('upload_part', Key=Key, PartNumber=PartNumber, size=len(Body))
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.part_delay:
                time.sleep(self.part_delay)
            if self.fail_part == PartNumber:
                raise client_error('InternalError', 'UploadPart')
            upload = self.uploads[UploadId]
            upload['parts'][PartNumber] = bytes(Body)
            return {'ETag': '"etag-%d"' % PartNumber}
        finally:
            with self._lock:
                self.in_flight -= 1

    def upload_part_copy(self, Bucket, Key, UploadId, PartNumber, CopySource, CopySourceRange):
        self._record('upload_part_copy', PartNumber=PartNumber, CopySourceRange=CopySourceRange)
        first, last = (int(x) for x in CopySourceRange[len('bytes='):].split('-'))
        data = self.objects[CopySource['Key']]['Body'][first:last + 1]
        self.uploads[UploadId]['parts'][PartNumber] = data
        return {'CopyPartResult': {'ETag': '"copy-%d"' % PartNumber}}

    def complete_multipart_upload(self, Bucket, Key, UploadId, MultipartUpload):
        self._record('complete_multipart_upload', Key=Key, Parts=MultipartUpload['Parts'])
        if self.fail_complete:
            raise client_error('InternalError', 'CompleteMultipartUpload')
        upload = self.uploads.pop(UploadId)
        numbers = [p['PartNumber'] for p in MultipartUpload['Parts']]
        assert numbers == sorted(numbers) == list(range(1, len(numbers) + 1))
        body = b''.join(upload['parts'][n] for n in numbers)
        self.objects[Key] = {'Body': body, 'Metadata': upload['Metadata'], 'ETag': '"mpu"'}
        return {}

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self._record('abort_multipart_upload', Key=Key, UploadId=UploadId)
        if self.fail_abort:
            self.fail_abort -= 1
            raise client_error('InternalError', 'AbortMultipartUpload')
        if UploadId not in self.uploads:
            raise client_error('NoSuchUpload', 'AbortMultipartUpload')
        del self.uploads[UploadId]

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

    def copy_object(self, Bucket, Key, CopySource, Metadata, MetadataDirective, **kw):
        self._record('copy_object', Key=Key, Source=CopySource['Key'], Metadata=Metadata)
        if self.fail_copy:
            raise client_error('InternalError', 'CopyObject')
        assert MetadataDirective == 'REPLACE'
        self.objects[Key] = {'Body': self.objects[CopySource['Key']]['Body'], 'Metadata': dict(Metadata),
                             'ETag': '"copy"'}

    def delete_object(self, Bucket, Key):
        self._record('delete_object', Key=Key)
        self.objects.pop(Key, None)

    def get_object(self, Bucket, Key, IfMatch=None):
        self._record('get_object', Key=Key, IfMatch=IfMatch)
        obj = self.objects[Key]
        if IfMatch is not None and IfMatch != obj['ETag']:
            raise client_error('PreconditionFailed', 'GetObject')
        return {'Body': FakeBody(obj['Body'])}


def meta_for(sha256, size):
    return backup_metadata(sha256, size, 'appdb', '2025-01-31T23:59:59Z', 'test')


def pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def sink(client, key='backups/appdb/20250131T235959Z.dump', chunk=5 * MIB, concurrency=2, **kw):
    return S3Sink(client, 'bkt', key, meta_for, chunk_size=chunk, concurrency=concurrency, **kw)


# ------------------------------------------------------------------ chunking

@pytest.mark.parametrize('total, piece, size', [
    (0, 1, 4),
    (3, 1, 4),
    (4, 4, 4),
    (17, 3, 4),
    (17, 5, 4),
    (100, 7, 10),
    (100, 100, 10),
    (100, 250, 10),
    (1000, 33, 64),
])
def test_chunker_regroups_exactly(total, piece, size):
    data = os.urandom(total)
    chunker = Chunker(size)
    out = []
    for part in pieces(data, piece):
        out.extend(chunker.feed(part))
    assert all(len(c) == size for c in out)
    assert chunker.pending == total % size or (total % size == 0 and chunker.pending == 0)
    tail = chunker.flush()
    assert b''.join(out) + tail == data
    assert len(tail) < size
    assert chunker.pending == 0


def test_chunker_keeps_whole_pieces_without_copying():
    chunker = Chunker(8)
    piece = b'abcdefgh'
    [chunk] = chunker.feed(piece)
    assert chunk is piece


def test_chunker_rejects_bad_size():
    with pytest.raises(ValueError):
        Chunker(0)


@pytest.mark.parametrize('size, ok', [(5 * MIB - 1, False), (5 * MIB, True), (5 * 1024 * MIB, True),
                                      (5 * 1024 * MIB + 1, False)])
def test_check_part_plan(size, ok):
    if ok:
        check_part_plan(size)
    else:
        with pytest.raises(ValueError):
            check_part_plan(size)


# ---------------------------------------------------------- part bookkeeping

def test_ledger_numbers_and_orders_parts():
    ledger = PartLedger()
    numbers = [ledger.next_number() for _attempt in range(3)]
    assert numbers == [1, 2, 3]
    ledger.record(3, 'c', 5)
    ledger.record(1, 'a', 10)
    with pytest.raises(TransferError, match=r'parts \[2\]'):
        ledger.completed_parts()
    ledger.record(2, 'b', 10)
    assert ledger.completed_parts() == [{'PartNumber': 1, 'ETag': 'a'}, {'PartNumber': 2, 'ETag': 'b'},
                                        {'PartNumber': 3, 'ETag': 'c'}]
    assert ledger.uploaded_bytes == 25


def test_ledger_refuses_unissued_and_too_many_parts():
    ledger = PartLedger(max_parts=2)
    ledger.next_number()
    with pytest.raises(TransferError):
        ledger.record(2, 'x', 1)
    ledger.next_number()
    with pytest.raises(TransferError, match='chunk_size_mb'):
        ledger.next_number()


@pytest.mark.parametrize('size, part', [(1, 512 * MIB), (512 * MIB, 512 * MIB), (512 * MIB + 1, 512 * MIB),
                                        (6 * 1024 * MIB, 512 * MIB), (10 * 1024 * 1024 * MIB, 512 * MIB),
                                        (100, 10)])
def test_copy_ranges_cover_the_object(size, part):
    ranges = copy_ranges(size, part)
    assert 1 <= len(ranges) <= 10000
    pos = 0
    for r in ranges:
        first, last = (int(x) for x in r[len('bytes='):].split('-'))
        assert first == pos and last >= first
        pos = last + 1
    assert pos == size


def test_copy_ranges_empty():
    assert copy_ranges(0) == []


@pytest.mark.parametrize('key', ['backups/appdb/20250131T235959Z.dump', '20250131T235959Z.dump', 'a/b/c/d.dump'])
def test_staging_key_never_looks_like_a_backup(key):
    staged = staging_key(key, 'tok')
    head = key.rpartition('/')[0]
    assert staged.startswith((head + '/' if head else '') + '_incomplete/')
    assert not BACKUP_NAME.match(staged.rsplit('/', 1)[-1])
    assert staging_key(key) != staging_key(key)


def test_throughput():
    assert throughput_mb_s(10 * MIB, 2.0) == 5.0
    assert throughput_mb_s(10, 0) == 0.0


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


# ------------------------------------------------------------ the S3 sink

def test_small_stream_is_one_put_with_metadata():
    client = FakeS3()
    data = os.urandom(1000)
    result = transfer(pieces(data, 300), sink(client))
    obj = client.objects['backups/appdb/20250131T235959Z.dump']
    assert obj['Body'] == data
    assert obj['Metadata']['sha256'] == hashlib.sha256(data).hexdigest() == result['sha256']
    assert obj['Metadata']['size'] == '1000'
    assert result['parts'] == 1 and result['size'] == 1000
    assert 'create_multipart_upload' not in client.names()


def test_empty_stream_still_commits_an_object():
    client = FakeS3()
    result = transfer([], sink(client))
    assert result['size'] == 0
    assert client.objects['backups/appdb/20250131T235959Z.dump']['Body'] == b''


def test_large_stream_is_staged_then_promoted_with_metadata():
    client = FakeS3()
    data = os.urandom(12 * MIB + 123)
    result = transfer(pieces(data, 65536), sink(client))
    key = 'backups/appdb/20250131T235959Z.dump'
    assert set(client.objects) == {key}, 'staging object must be deleted'
    assert client.objects[key]['Body'] == data
    assert client.objects[key]['Metadata']['sha256'] == hashlib.sha256(data).hexdigest()
    assert result['parts'] == 3
    sizes = [kw['size'] for name, kw in client.calls if name == 'upload_part']
    assert sizes == [5 * MIB, 5 * MIB, 2 * MIB + 123]
    staged = [kw['Key'] for name, kw in client.calls if name == 'create_multipart_upload']
    assert len(staged) == 1 and '/_incomplete/' in staged[0]
    assert not client.uploads
    # The final key is only ever written by the copy that carries the metadata.
    writes = [(name, kw) for name, kw in client.calls if kw.get('Key') == key
              and name in ('put_object', 'copy_object', 'create_multipart_upload')]
    assert [w[0] for w in writes] == ['copy_object'] and writes[0][1]['Metadata']['size'] == str(len(data))


def test_exactly_one_chunk_is_multipart():
    client = FakeS3()
    data = os.urandom(5 * MIB)
    result = transfer([data], sink(client))
    assert result['parts'] == 1
    assert client.objects['backups/appdb/20250131T235959Z.dump']['Body'] == data


def test_parts_in_flight_are_bounded_by_concurrency():
    # Each part takes 0.5 s, far longer than hashing the next 5 MiB even with every core busy
    # (at 0.05 s the parts stopped overlapping while CI ran four stages at once).
    client = FakeS3(part_delay=0.5)
    data = os.urandom(5 * MIB * 8)
    transfer(pieces(data, MIB), sink(client, concurrency=3))
    assert 1 < client.max_in_flight <= 3


def test_huge_object_uses_multipart_copy(monkeypatch):
    monkeypatch.setattr(_s3, 'MAX_SINGLE_COPY', 6 * MIB)
    monkeypatch.setattr(_s3, 'COPY_PART_SIZE', 5 * MIB)
    client = FakeS3()
    data = os.urandom(11 * MIB)
    transfer(pieces(data, MIB), sink(client))
    key = 'backups/appdb/20250131T235959Z.dump'
    assert client.objects[key]['Body'] == data
    assert client.objects[key]['Metadata']['sha256'] == hashlib.sha256(data).hexdigest()
    assert 'copy_object' not in client.names()
    assert [kw['CopySourceRange'] for name, kw in client.calls if name == 'upload_part_copy'] == [
        'bytes=0-5242879', 'bytes=5242880-10485759', 'bytes=10485760-11534335']
    assert set(client.objects) == {key} and not client.uploads


# ----------------------------------------------------------- abort decision

def failing_source(data, after):
    for i, piece in enumerate(pieces(data, MIB)):
        if i == after:
            raise OSError('connection to pg_dump lost')
        yield piece


def assert_nothing_left(client):
    assert client.objects == {}
    assert client.uploads == {}


def test_source_failure_aborts_the_upload():
    client = FakeS3()
    with pytest.raises(OSError):
        transfer(failing_source(os.urandom(20 * MIB), after=12), sink(client))
    assert 'abort_multipart_upload' in client.names()
    assert 'complete_multipart_upload' not in client.names()
    assert_nothing_left(client)


def test_failed_check_aborts_even_when_every_byte_arrived():
    client = FakeS3()

    def check():
        raise RuntimeError('pg_dump exited with 1')
    with pytest.raises(RuntimeError, match='exited'):
        transfer(pieces(os.urandom(11 * MIB), MIB), sink(client), check)
    assert 'complete_multipart_upload' not in client.names()
    assert_nothing_left(client)


def test_failed_check_on_small_stream_puts_nothing():
    client = FakeS3()

    def check():
        raise RuntimeError('timed out')
    with pytest.raises(RuntimeError):
        transfer([b'abc'], sink(client), check)
    assert 'put_object' not in client.names()
    assert_nothing_left(client)


def test_check_runs_before_commit():
    client = FakeS3()
    order = []

    def check():
        order.append(('check', list(client.names())))
    transfer(pieces(os.urandom(11 * MIB), MIB), sink(client), check)
    assert 'complete_multipart_upload' not in order[0][1]


def test_part_failure_aborts():
    client = FakeS3(fail_part=2)
    with pytest.raises(TransferError, match='InternalError'):
        transfer(pieces(os.urandom(30 * MIB), MIB), sink(client, concurrency=1))
    assert_nothing_left(client)


def test_complete_failure_aborts():
    client = FakeS3(fail_complete=True)
    with pytest.raises(ClientError):
        transfer(pieces(os.urandom(11 * MIB), MIB), sink(client))
    assert_nothing_left(client)


def test_copy_failure_deletes_the_staged_object():
    client = FakeS3(fail_copy=True)
    with pytest.raises(ClientError):
        transfer(pieces(os.urandom(11 * MIB), MIB), sink(client))
    assert_nothing_left(client)


def test_abort_is_retried():
    client = FakeS3(fail_abort=2)
    with pytest.raises(OSError):
        transfer(failing_source(os.urandom(20 * MIB), after=12), sink(client))
    assert client.names().count('abort_multipart_upload') == 3
    assert_nothing_left(client)


def test_abort_that_keeps_failing_is_reported_with_the_cause():
    client = FakeS3(fail_abort=5)
    with pytest.raises(TransferError) as info:
        transfer(failing_source(os.urandom(20 * MIB), after=12), sink(client))
    text = str(info.value)
    assert 'connection to pg_dump lost' in text and 'could not abort' in text and 'AbortIncompleteMultipartUpload' in text
    assert client.objects == {}


def test_abort_before_any_part_is_a_no_op():
    upload = MultipartUpload(FakeS3(), 'bkt', 'k')
    upload.abort()
    assert upload.aborted is False


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


# ---------------------------------------------------------------- sources

def test_s3_source_pins_the_described_version():
    client = FakeS3()
    client.put_object(Bucket='bkt', Key='k', Body=b'abcdef', Metadata={'SHA256': 'aa'})
    src = S3Source(client, 'bkt', 'k', block_size=4)
    assert src.describe() == {'size': 6, 'sha256': 'aa', 'metadata': {'sha256': 'aa'}}
    assert list(src.blocks()) == [b'abcd', b'ef']
    assert client.calls[-1] == ('get_object', {'Key': 'k', 'IfMatch': '"put"'})
    client.objects['k']['ETag'] = '"changed"'
    with pytest.raises(ClientError):
        list(src.blocks())


def test_spool_verified(tmp_path):
    data = [b'ab', b'cd']
    path = spool_verified(iter(data), hashlib.sha256(b'abcd').hexdigest(), 'x', str(tmp_path))
    assert open(path, 'rb').read() == b'abcd'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.unlink(path)
    with pytest.raises(ChecksumMismatch):
        spool_verified(iter(data), '1' * 64, 'x', str(tmp_path))
    assert os.listdir(tmp_path) == []
