# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""S3 connection arguments, client factory, and streaming transfers with sha256.

Writers ("sinks") take a byte stream of unknown length and make it appear at
its final name only when complete: an S3 multipart upload that is aborted on
any failure, or a local temp file renamed into place. Readers ("sources")
stream an object back and hold back its last block until the sha256 of the
whole stream is known, so a consumer never sees the end of a corrupt stream.
Everything here is free of Ansible and Docker so it can be unit-tested with a
fake client at the boto3 boundary.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor, wait

from ansible.module_utils.basic import env_fallback

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()

    class BotoCoreError(Exception):  # type: ignore[no-redef]
        """Stand-in so except clauses work without botocore."""

    class ClientError(Exception):  # type: ignore[no-redef]
        """Stand-in so except clauses work without botocore."""


MIB = 1024 * 1024
# S3 limits: every part but the last >= 5 MiB, <= 5 GiB, at most 10000 parts.
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10000
# CopyObject refuses sources above 5 GiB; bigger objects need UploadPartCopy.
MAX_SINGLE_COPY = 5 * 1024 * MIB
COPY_PART_SIZE = 512 * MIB
READ_BLOCK = MIB

# The user-metadata names a backup carries (x-amz-meta-<name>); S3 lower-cases them anyway.
META_SHA256 = 'sha256'
META_SIZE = 'size'
META_DB = 'db'
META_TIMESTAMP = 'timestamp'
META_TOOL = 'tool'
META_FORMAT = 'format'
SIDECAR_SUFFIX = '.json'


# ---------------------------------------------------------------- arguments

def aws_connection_argument_spec():
    """Connection options shared by every module that talks to an AWS API (no bucket)."""
    return dict(
        endpoint_url=dict(type='str', aliases=['aws_endpoint_url']),
        region=dict(type='str', aliases=['aws_region'],
                    fallback=(env_fallback, ['AWS_REGION', 'AWS_DEFAULT_REGION'])),
        access_key=dict(type='str', no_log=True, aliases=['aws_access_key_id']),
        secret_key=dict(type='str', no_log=True, aliases=['aws_secret_access_key']),
        session_token=dict(type='str', no_log=True, aliases=['aws_session_token']),
    )


def s3_argument_spec():
    """The connection options plus the bucket; matches doc fragment aishield.ops.s3."""
    spec = aws_connection_argument_spec()
    spec['bucket'] = dict(type='str')
    return spec


# Every S3 call is tried this often in all (botocore's standard mode: connection errors, throttling and
# 5xx, with jittered exponential backoff), so an unreachable endpoint fails in seconds, not never.
# total_max_attempts counts the first try; botocore's max_attempts would count retries only (one more).
MAX_ATTEMPTS = 5

# Explicit keys only make sense as a pair; the token is optional on top.
AWS_REQUIRED_TOGETHER = [['access_key', 'secret_key']]


def aws_client(service, params, max_pool_connections=10, read_timeout=120):
    """Return a boto3 client; unset options fall through to boto3's own env/profile/IMDS chain."""
    if not HAS_BOTO3:
        raise RuntimeError('boto3 is required')
    s3_conf = None
    # S3-compatible stores (MinIO, Ceph, moto) rarely serve virtual-host buckets.
    if service == 's3' and params.get('endpoint_url'):
        s3_conf = {'addressing_style': 'path'}
    config = Config(
        retries={'total_max_attempts': MAX_ATTEMPTS, 'mode': 'standard'},
        max_pool_connections=max_pool_connections,
        connect_timeout=10,
        read_timeout=read_timeout,
        s3=s3_conf,
    )
    session = boto3.session.Session(
        aws_access_key_id=params.get('access_key') or None,
        aws_secret_access_key=params.get('secret_key') or None,
        aws_session_token=params.get('session_token') or None,
        region_name=params.get('region') or None,
    )
    return session.client(service, endpoint_url=params.get('endpoint_url') or None, config=config)


def error_text(exc):
    """A one-line description of a boto3/botocore error, with the S3 error code when there is one."""
    if isinstance(exc, ClientError) and hasattr(exc, 'response'):
        err = exc.response.get('Error', {})
        return '%s: %s' % (err.get('Code', 'ClientError'), err.get('Message', str(exc)))
    return '%s: %s' % (type(exc).__name__, exc)


def is_not_found(exc):
    """True for the 404-ish errors head_object/get_object raise for a missing key."""
    if not isinstance(exc, ClientError) or not hasattr(exc, 'response'):
        return False
    code = str(exc.response.get('Error', {}).get('Code', ''))
    return code in ('404', 'NoSuchKey', 'NotFound')


# ------------------------------------------------------------- pure helpers

class TransferError(Exception):
    """A transfer could not be completed; nothing was left at the final name."""


class ChecksumMismatch(TransferError):
    """The bytes read do not hash to the recorded sha256."""

    def __init__(self, location, expected, actual):
        self.location = location
        self.expected = expected
        self.actual = actual
        super().__init__('sha256 mismatch for %s: recorded %s, computed %s' % (location, expected, actual))


def utc_timestamp(moment=None):
    """ISO-8601 UTC with a Z, second precision: what backup metadata and filters expect."""
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def throughput_mb_s(size, seconds):
    """MiB per second, rounded; 0 for an instant transfer instead of a division by zero."""
    if seconds <= 0:
        return 0.0
    return round(size / MIB / seconds, 2)


def backup_metadata(sha256, size, db_name, timestamp, tool, fmt='pg_dump-custom'):
    """The metadata dict stored with a backup (S3 user metadata values must be strings)."""
    return {
        META_SHA256: sha256,
        META_SIZE: str(size),
        META_DB: db_name,
        META_TIMESTAMP: timestamp,
        META_TOOL: tool,
        META_FORMAT: fmt,
    }


def staging_key(key, token=None):
    """Where a multipart upload lands before it is promoted to `key` with its final metadata.

    The name sits in an `_incomplete/` folder beside the key and starts with a random
    token, so listings by backup timestamp never mistake it for a backup.
    """
    token = token or uuid.uuid4().hex[:16]
    head, sep, base = key.rpartition('/')
    return '%s%s_incomplete/%s.%s' % (head, sep, token, base)


def check_part_plan(chunk_size):
    """Reject chunk sizes S3 would refuse part-way through an upload."""
    if chunk_size < MIN_PART_SIZE:
        raise ValueError('chunk size %d bytes is below the S3 minimum part size of 5 MiB' % chunk_size)
    if chunk_size > MAX_PART_SIZE:
        raise ValueError('chunk size %d bytes is above the S3 maximum part size of 5 GiB' % chunk_size)


def copy_ranges(size, part_size=None):
    """Byte ranges ("bytes=a-b", inclusive) for an UploadPartCopy of `size` bytes within the part limit."""
    if size <= 0:
        return []
    part_size = max(part_size or COPY_PART_SIZE, MIN_PART_SIZE, -(-size // MAX_PARTS))
    return ['bytes=%d-%d' % (start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]


class Chunker:
    """Regroups pieces of any size into chunks of exactly `size` bytes (the last one shorter).

    Holds at most one chunk's worth of pieces; joining them costs one more chunk
    for a moment, which is why memory is about chunk size x (concurrency + 2).
    """

    def __init__(self, size):
        if size <= 0:
            raise ValueError('chunk size must be positive')
        self.size = size
        self._pieces = []
        self._len = 0

    def feed(self, data):
        """Add bytes; return the list of chunks that became full."""
        full = []
        view = memoryview(data)
        pos = 0
        total = len(view)
        while pos < total:
            room = self.size - self._len
            take = min(room, total - pos)
            # Whole pieces are kept as they are; only a piece split at a boundary is copied.
            if pos == 0 and take == total and isinstance(data, bytes):
                self._pieces.append(data)
            else:
                self._pieces.append(bytes(view[pos:pos + take]))
            self._len += take
            pos += take
            if self._len == self.size:
                full.append(self._take())
        return full

    def flush(self):
        """Return the buffered remainder (possibly b'') and reset."""
        return self._take()

    @property
    def pending(self):
        return self._len

    def _take(self):
        chunk = self._pieces[0] if len(self._pieces) == 1 else b''.join(self._pieces)
        self._pieces = []
        self._len = 0
        return chunk


class PartLedger:
    """Numbers multipart parts and collects their ETags for CompleteMultipartUpload."""

    def __init__(self, max_parts=MAX_PARTS):
        self.max_parts = max_parts
        self._issued = 0
        self._done = {}
        self._lock = threading.Lock()

    def next_number(self):
        with self._lock:
            if self._issued >= self.max_parts:
                raise TransferError(
                    'the dump needs more than %d parts; raise chunk_size_mb so that '
                    'chunk size x %d covers the whole dump' % (self.max_parts, self.max_parts))
            self._issued += 1
            return self._issued

    def record(self, number, etag, size):
        with self._lock:
            if not 1 <= number <= self._issued:
                raise TransferError('part %d was never issued' % number)
            self._done[number] = (etag, size)

    @property
    def issued(self):
        return self._issued

    @property
    def uploaded_bytes(self):
        return sum(size for _etag, size in self._done.values())

    def completed_parts(self):
        """The Parts list for CompleteMultipartUpload; refuses if any issued part is missing."""
        missing = [n for n in range(1, self._issued + 1) if n not in self._done]
        if missing:
            raise TransferError('parts %s were not uploaded' % missing[:10])
        return [{'PartNumber': n, 'ETag': self._done[n][0]} for n in range(1, self._issued + 1)]


class HoldbackVerifier:
    """Passes blocks through one behind, so the final block is only released once the digest matches.

    A restore reading from us therefore never receives the end of a stream whose
    sha256 is wrong: pg_restore hits end-of-file early, fails, and its single
    transaction rolls back.
    """

    def __init__(self, expected_sha256, location):
        self.expected = (expected_sha256 or '').lower()
        self.location = location
        self._hash = hashlib.sha256()
        self._pending = None
        self.size = 0

    def feed(self, block):
        """Return the bytes that may be forwarded now (the previous block, or b'')."""
        if not block:
            return b''
        self._hash.update(block)
        self.size += len(block)
        out, self._pending = self._pending, block
        return out or b''

    def finish(self):
        """Return the held-back tail if the whole stream matches; raise ChecksumMismatch otherwise."""
        actual = self._hash.hexdigest()
        if actual != self.expected:
            self._pending = None
            raise ChecksumMismatch(self.location, self.expected, actual)
        tail, self._pending = self._pending, None
        return tail or b''

    @property
    def sha256(self):
        return self._hash.hexdigest()


def transfer(pieces, sink, check_source=None):
    """Feed every piece to `sink`, then commit only if `check_source()` accepts the producer's outcome.

    This is the single abort decision: an exception from the producer, from
    `check_source` (non-zero exit, timeout) or from the sink itself aborts the
    sink, so nothing truncated is ever committed.
    """
    try:
        for piece in pieces:
            if piece:
                sink.write(piece)
        if check_source is not None:
            check_source()
        return sink.commit()
    except BaseException as e:
        try:
            sink.abort()
        except Exception as abort_error:
            raise TransferError('%s; cleaning up also failed: %s' % (e, abort_error)) from e
        raise


# -------------------------------------------------------------------- sinks

class _HashingSink:
    """Counts and hashes what passes through; subclasses store it."""

    def __init__(self):
        self._hash = hashlib.sha256()
        self.size = 0

    def _account(self, data):
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self):
        return self._hash.hexdigest()


class MultipartUpload:
    """One S3 multipart upload whose parts go through a bounded thread pool.

    At most `concurrency` parts are in flight: add_part() blocks until a slot is
    free, so the caller reads the next chunk while earlier ones upload.
    """

    def __init__(self, client, bucket, key, concurrency=4, create_args=None, deadline=None):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.concurrency = max(1, int(concurrency))
        self.create_args = create_args or {}
        self.deadline = deadline
        self.ledger = PartLedger()
        self.upload_id = None
        self.completed = False
        self.aborted = False
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._pool = None
        self._futures = []
        self._error = None
        self._lock = threading.Lock()

    def start(self):
        resp = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self.create_args)
        self.upload_id = resp['UploadId']
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix='s3-part')
        return self.upload_id

    def _remaining(self):
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def _raise_if_failed(self):
        if self._error is not None:
            raise TransferError('uploading a part failed: %s' % error_text(self._error))

    def add_part(self, data):
        self._raise_if_failed()
        remaining = self._remaining()
        if not self._slots.acquire(timeout=remaining):
            raise TransferError('timed out waiting for a part upload slot')
        try:
            self._raise_if_failed()
            number = self.ledger.next_number()
            self._futures.append(self._pool.submit(self._upload, number, data))
        except BaseException:
            self._slots.release()
            raise
        return number

    def _upload(self, number, data):
        try:
            resp = self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data)
            self.ledger.record(number, resp['ETag'], len(data))
        except BaseException as e:  # pylint: disable=broad-exception-caught
            with self._lock:
                if self._error is None:
                    self._error = e
        finally:
            self._slots.release()

    def complete(self):
        """Wait for every part, then CompleteMultipartUpload; returns the number of parts."""
        done, not_done = wait(self._futures, timeout=self._remaining())
        if not_done:
            raise TransferError('timed out waiting for %d part uploads' % len(not_done))
        del done
        self._raise_if_failed()
        parts = self.ledger.completed_parts()
        if not parts:
            raise TransferError('refusing to complete a multipart upload with no parts')
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={'Parts': parts})
        self.completed = True
        self._shutdown(wait_running=False)
        return len(parts)

    def _shutdown(self, wait_running):
        # Cancelling by hand: shutdown(cancel_futures=) needs Python 3.9 and targets may be older.
        for future in self._futures:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=wait_running)

    def abort(self):
        """Drop every uploaded part; safe to call more than once and after a failed start."""
        if self.upload_id is None or self.completed or self.aborted:
            return
        # Let running part uploads finish first: a part landing after the abort would linger.
        self._shutdown(wait_running=True)
        last = None
        for attempt in range(3):
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
                self.aborted = True
                return
            except ClientError as e:
                if str(e.response.get('Error', {}).get('Code')) == 'NoSuchUpload':
                    self.aborted = True
                    return
                last = e
            except BotoCoreError as e:
                last = e
            time.sleep(0.5 * (attempt + 1))
        raise TransferError('could not abort multipart upload %s of s3://%s/%s: %s; '
                            'a lifecycle rule with AbortIncompleteMultipartUpload will reclaim it'
                            % (self.upload_id, self.bucket, self.key, error_text(last)))


class S3Sink(_HashingSink):
    """Streams bytes to s3://bucket/key; the key appears only complete and with its metadata.

    A stream that fits in one chunk is a single PutObject. A longer one is a
    multipart upload to a staging key, completed, then server-side copied to the
    final key with metadata REPLACEd (S3 fixes metadata when an upload starts,
    before the sha256 is known) and the staging object deleted. Any failure
    aborts the multipart upload or deletes the staging object.
    """

    def __init__(self, client, bucket, key, metadata_for, chunk_size=16 * MIB, concurrency=4,
                 deadline=None, content_type='application/octet-stream'):
        super().__init__()
        check_part_plan(chunk_size)
        self.client = client
        self.bucket = bucket
        self.key = key
        self.metadata_for = metadata_for
        self.concurrency = concurrency
        self.deadline = deadline
        self.content_type = content_type
        self.chunker = Chunker(chunk_size)
        self.staging = None
        self.upload = None
        self._staged = False

    @property
    def location(self):
        return 's3://%s/%s' % (self.bucket, self.key)

    def write(self, data):
        self._account(data)
        for chunk in self.chunker.feed(data):
            self._send(chunk)

    def _send(self, chunk):
        if self.upload is None:
            self.staging = staging_key(self.key)
            self.upload = MultipartUpload(
                self.client, self.bucket, self.staging, self.concurrency,
                create_args={'ContentType': self.content_type}, deadline=self.deadline)
            self.upload.start()
        self.upload.add_part(chunk)

    def commit(self):
        started = time.monotonic()
        tail = self.chunker.flush()
        metadata = self.metadata_for(self.sha256, self.size)
        if self.upload is None:
            self.client.put_object(Bucket=self.bucket, Key=self.key, Body=tail, Metadata=metadata,
                                   ContentType=self.content_type)
            parts = 1
        else:
            if tail:
                self.upload.add_part(tail)
            parts = self.upload.complete()
            self._staged = True
            self._promote(metadata)
        return {'location': self.location, 'bucket': self.bucket, 'key': self.key,
                'size': self.size, 'sha256': self.sha256, 'parts': parts, 'metadata': metadata,
                'commit_seconds': round(time.monotonic() - started, 3)}

    def _promote(self, metadata):
        head = self.client.head_object(Bucket=self.bucket, Key=self.staging)
        size = int(head['ContentLength'])
        if size != self.size:
            raise TransferError('staged object holds %d bytes, expected %d' % (size, self.size))
        source = {'Bucket': self.bucket, 'Key': self.staging}
        etag = head.get('ETag')
        if size <= MAX_SINGLE_COPY:
            extra = {'CopySourceIfMatch': etag} if etag else {}
            self.client.copy_object(Bucket=self.bucket, Key=self.key, CopySource=source, Metadata=metadata,
                                    MetadataDirective='REPLACE', ContentType=self.content_type, **extra)
        else:
            self._multipart_copy(source, size, metadata)
        self._delete_staging()

    def _multipart_copy(self, source, size, metadata):
        copy = MultipartUpload(self.client, self.bucket, self.key, self.concurrency,
                               create_args={'Metadata': metadata, 'ContentType': self.content_type},
                               deadline=self.deadline)
        copy.start()
        try:
            results = []
            with ThreadPoolExecutor(max_workers=max(1, self.concurrency), thread_name_prefix='s3-copy') as pool:
                for number, byte_range in enumerate(copy_ranges(size), start=1):
                    copy.ledger.next_number()
                    results.append((number, byte_range, pool.submit(
                        self.client.upload_part_copy, Bucket=self.bucket, Key=self.key,
                        UploadId=copy.upload_id, PartNumber=number, CopySource=source,
                        CopySourceRange=byte_range)))
            for number, byte_range, future in results:
                resp = future.result()
                first, last = byte_range[len('bytes='):].split('-')
                copy.ledger.record(number, resp['CopyPartResult']['ETag'], int(last) - int(first) + 1)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=copy.upload_id,
                MultipartUpload={'Parts': copy.ledger.completed_parts()})
            copy.completed = True
        except BaseException:
            copy.abort()
            raise

    def _delete_staging(self):
        if self.staging and self._staged:
            self.client.delete_object(Bucket=self.bucket, Key=self.staging)
            self._staged = False

    def abort(self):
        """Undo everything this sink started; the final key is never written before commit succeeds."""
        errors = []
        if self.upload is not None:
            try:
                self.upload.abort()
            except (TransferError, ClientError, BotoCoreError) as e:
                errors.append(str(e))
        if self._staged:
            try:
                self._delete_staging()
            except (ClientError, BotoCoreError) as e:
                errors.append('could not delete staging object s3://%s/%s: %s'
                              % (self.bucket, self.staging, error_text(e)))
        self.chunker = Chunker(self.chunker.size)
        if errors:
            raise TransferError('; '.join(errors))


class LocalFileSink(_HashingSink):
    """Streams bytes to a temp file beside `path`, then renames it into place (mode 0600).

    The sidecar `<path>.json` carries the same metadata S3 would, and is renamed
    into place first, so a dump file never exists without its checksum.
    """

    def __init__(self, path, metadata_for, mode=0o600):
        super().__init__()
        self.path = path
        self.metadata_for = metadata_for
        self.mode = mode
        directory = os.path.dirname(path) or '.'
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.tmp = os.path.join(directory, '.%s.%s.partial' % (os.path.basename(path), uuid.uuid4().hex[:12]))
        self._fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0), mode)
        # The umask only narrows the mode; state it exactly anyway.
        os.fchmod(self._fd, mode)

    @property
    def location(self):
        return self.path

    def write(self, data):
        self._account(data)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def commit(self):
        started = time.monotonic()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        metadata = self.metadata_for(self.sha256, self.size)
        write_json_atomic(self.path + SIDECAR_SUFFIX, metadata, self.mode)
        os.rename(self.tmp, self.path)
        _fsync_dir(os.path.dirname(self.path) or '.')
        return {'location': self.path, 'bucket': None, 'key': None,
                'size': self.size, 'sha256': self.sha256, 'parts': 1, 'metadata': metadata,
                'commit_seconds': round(time.monotonic() - started, 3)}

    def abort(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path, data, mode=0o600):
    """Write JSON to a temp file and rename it over `path`."""
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path), suffix='.partial')
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ------------------------------------------------------------------ sources

class S3Source:
    """Reads s3://bucket/key as a stream of blocks, pinned to the version whose metadata was read."""

    def __init__(self, client, bucket, key, block_size=READ_BLOCK):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.block_size = block_size
        self.etag = None

    @property
    def location(self):
        return 's3://%s/%s' % (self.bucket, self.key)

    def describe(self):
        """Return {'size', 'sha256', 'metadata'} from HeadObject (sha256 None when absent)."""
        head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        self.etag = head.get('ETag')
        metadata = {k.lower(): v for k, v in (head.get('Metadata') or {}).items()}
        return {'size': int(head['ContentLength']), 'sha256': metadata.get(META_SHA256), 'metadata': metadata}

    def blocks(self):
        extra = {'IfMatch': self.etag} if self.etag else {}
        body = self.client.get_object(Bucket=self.bucket, Key=self.key, **extra)['Body']
        try:
            while True:
                block = body.read(self.block_size)
                if not block:
                    return
                yield block
        finally:
            body.close()


class LocalFileSource:
    """Reads a dump written by LocalFileSink, with its sidecar metadata."""

    def __init__(self, path, block_size=READ_BLOCK):
        self.path = path
        self.block_size = block_size

    @property
    def location(self):
        return self.path

    def describe(self):
        sidecar = self.path + SIDECAR_SUFFIX
        try:
            with open(sidecar) as handle:
                metadata = json.load(handle)
        except FileNotFoundError:
            metadata = {}
        except ValueError as e:
            raise TransferError('sidecar %s is not valid JSON: %s' % (sidecar, e)) from None
        return {'size': os.path.getsize(self.path), 'sha256': metadata.get(META_SHA256), 'metadata': metadata}

    def blocks(self):
        with open(self.path, 'rb') as handle:
            while True:
                block = handle.read(self.block_size)
                if not block:
                    return
                yield block


def spool_verified(blocks, expected_sha256, location, directory=None):
    """Download into a private temp file and verify it; returns its path. The caller deletes it."""
    fd, path = tempfile.mkstemp(dir=directory, prefix='aishield-restore-', suffix='.dump')
    digest = hashlib.sha256()
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, 'wb') as handle:
            for block in blocks:
                digest.update(block)
                handle.write(block)
        actual = digest.hexdigest()
        if actual != (expected_sha256 or '').lower():
            raise ChecksumMismatch(location, expected_sha256, actual)
        return path
    except BaseException:
        os.unlink(path)
        raise
