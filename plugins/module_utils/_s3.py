# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""S3 connection arguments, client factory, and streaming transfers with sha256.

Writers take a byte stream of unknown length and make it appear at its final
name only when complete. To S3, boto3's managed transfer (upload_fileobj) reads
the stream through a HashingReader: the object only becomes visible on
CompleteMultipartUpload (or its single PutObject), and a failure aborts the
multipart upload. The sha256 is known only at the end, so it goes into a small
JSON record beside the object, `<key>.json`, written once the upload is
complete; older backups carry it in their user metadata instead, and readers
accept both. Locally, a temp file is renamed into place after its `<path>.json`.
Readers ("sources") stream a backup back and hold back its last block until the
sha256 of the whole stream is known, so a consumer never sees the end of a
corrupt stream. Everything here is free of Ansible and Docker so it can be
unit-tested at the boto3 boundary.
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

from ansible.module_utils.basic import env_fallback

from ansible_collections.aishield.ops.plugins.module_utils._retention import RECORD_SUFFIX

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
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
# S3 allows at most 10000 parts, so chunk size x 10000 bounds a streamed object.
MAX_PARTS = 10000
READ_BLOCK = MIB

# The user-metadata names a backup carries (x-amz-meta-<name>); S3 lower-cases them anyway.
META_SHA256 = 'sha256'
META_SIZE = 'size'
META_DB = 'db'
META_TIMESTAMP = 'timestamp'
META_TOOL = 'tool'
META_FORMAT = 'format'
# The record beside a backup: `<key>.json` in S3, `<path>.json` on disk, same fields as the metadata.
SIDECAR_SUFFIX = RECORD_SUFFIX
TOOL = 'aishield.ops.pg_backup'


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


class HashingReader:
    """A read-only, non-seekable file over an iterator of byte blocks that hashes and counts what it hands out.

    read(n) returns exactly n bytes until the end (boto3 takes a short read for the last part).
    The end of the stream is only reported after `at_end()` returned: if it raises (pg_dump exited
    non-zero, was killed, timed out), the exception reaches upload_fileobj mid-transfer, which aborts
    the multipart upload, so a truncated dump is never completed. `on_read(size)` sees each read.
    """

    def __init__(self, blocks, at_end=None, on_read=None):
        self._blocks = iter(blocks)
        self._at_end = at_end
        self._on_read = on_read
        self._rest = b''
        self._hash = hashlib.sha256()
        self.size = 0
        self.eof = False
        self.eof_at = None

    @staticmethod
    def readable():
        return True

    @staticmethod
    def seekable():
        # boto3 then reads each part once, into memory, and never seeks back.
        return False

    def _next_block(self):
        for block in self._blocks:
            if block:
                return bytes(block)
        self.eof = True
        self.eof_at = time.monotonic()
        if self._at_end is not None:
            self._at_end()
        return b''

    def read(self, size=-1):
        want = None if size is None or size < 0 else size
        pieces = []
        have = 0
        while want is None or have < want:
            if not self._rest:
                if self.eof:
                    break
                self._rest = self._next_block()
                if not self._rest:
                    break
            if want is not None and len(self._rest) > want - have:
                take, self._rest = self._rest[:want - have], self._rest[want - have:]
            else:
                take, self._rest = self._rest, b''
            pieces.append(take)
            have += len(take)
        data = pieces[0] if len(pieces) == 1 else b''.join(pieces)
        if data:
            self._hash.update(data)
            self.size += len(data)
            if self._on_read is not None:
                self._on_read(self.size)
        return data

    @property
    def sha256(self):
        return self._hash.hexdigest()


def sidecar_key(key):
    """Where the record of the backup at `key` lives."""
    return key + SIDECAR_SUFFIX


def part_count(size, chunk_size):
    """Parts a stream of `size` bytes takes at `chunk_size` (a stream below one chunk is one PutObject)."""
    return max(1, -(-size // chunk_size))


class S3StreamUpload:
    """Streams a reader to s3://bucket/key with boto3's managed transfer, then writes the record `<key>.json`.

    The object appears only complete (CompleteMultipartUpload, or one PutObject for a short
    stream). Any failure during the transfer aborts the multipart upload (s3transfer's own
    cleanup; abort_leftovers() checks and repeats it). A record that cannot be written takes the
    object with it, so a backup never stays without its sha256 unless the process is killed in
    between; readers call such an object incomplete.
    """

    def __init__(self, client, bucket, key, chunk_size=16 * MIB, concurrency=4,
                 content_type='application/octet-stream', metadata=None):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.chunk_size = chunk_size
        self.concurrency = max(1, int(concurrency))
        self.content_type = content_type
        # Known before the upload starts (db, timestamp, tool); the sha256 goes into the record.
        self.metadata = dict(metadata or {})
        self.uploaded = 0
        self._lock = threading.Lock()

    @property
    def location(self):
        return 's3://%s/%s' % (self.bucket, self.key)

    def config(self):
        config = TransferConfig(multipart_threshold=self.chunk_size, multipart_chunksize=self.chunk_size,
                                max_concurrency=self.concurrency, use_threads=True)
        # Parts held in memory: the ones uploading plus two being read (s3transfer's knob; boto3 does not pass it).
        config.max_in_memory_upload_chunks = self.concurrency + 2
        return config

    def _uploaded(self, amount):
        with self._lock:
            self.uploaded += amount

    def upload(self, reader, record_for):
        """Run the transfer and write the record; returns what was stored. Raises TransferError or the reader's error."""
        try:
            self.client.upload_fileobj(reader, self.bucket, self.key, Config=self.config(), Callback=self._uploaded,
                                       ExtraArgs={'Metadata': self.metadata, 'ContentType': self.content_type})
        except (ClientError, BotoCoreError) as e:
            self._cleanup_after_failure(e)
            raise TransferError('uploading to %s failed: %s' % (self.location, error_text(e))) from None
        except BaseException as e:
            self._cleanup_after_failure(e)
            raise
        record = record_for(reader.sha256, reader.size)
        try:
            self.client.put_object(Bucket=self.bucket, Key=sidecar_key(self.key), ContentType='application/json',
                                   Body=json.dumps(record, indent=2, sort_keys=True).encode('utf-8'))
        except (ClientError, BotoCoreError) as e:
            msg = 'writing the record %s failed: %s' % (sidecar_key(self.key), error_text(e))
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key)
            except (ClientError, BotoCoreError) as delete_error:
                msg += '; removing the unrecorded object also failed (%s): readers will call it incomplete' % (
                    error_text(delete_error))
            raise TransferError(msg) from None
        return {'location': self.location, 'bucket': self.bucket, 'key': self.key, 'size': reader.size,
                'sha256': reader.sha256, 'parts': part_count(reader.size, self.chunk_size), 'metadata': record,
                'record': sidecar_key(self.key),
                'commit_seconds': round(time.monotonic() - (reader.eof_at or time.monotonic()), 3)}

    def _cleanup_after_failure(self, error):
        try:
            self.abort_leftovers()
        except (ClientError, BotoCoreError) as e:
            raise TransferError('%s; could not check for an unfinished multipart upload of %s: %s; a lifecycle rule '
                                'with AbortIncompleteMultipartUpload will reclaim it'
                                % (error_text(error), self.location, error_text(e))) from error

    def abort_leftovers(self):
        """Abort the open multipart uploads of exactly this key; returns their ids.

        s3transfer aborts on failure already; this repeats it in case that abort itself failed. Every
        open upload of the key goes: two runs writing one key would be wrong anyway, and S3's
        `Initiated` is not comparable with this host's clock.
        """
        aborted = []
        resp = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.key)
        for upload in resp.get('Uploads', []):
            if upload.get('Key') != self.key:
                continue
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload['UploadId'])
            except ClientError as e:
                if str(e.response.get('Error', {}).get('Code')) != 'NoSuchUpload':
                    raise
            aborted.append(upload['UploadId'])
        return aborted


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

def check_record(record, size, record_location, location):
    """Refuse a record that is not one of ours or that describes another object than the one beside it."""
    digest = record.get(META_SHA256) if isinstance(record, dict) else None
    if not isinstance(digest, str) or len(digest) != 64:
        raise TransferError('the record %s holds no sha256' % record_location)
    if str(record.get(META_SIZE)) != str(size):
        raise TransferError('the record %s is for %s bytes but %s holds %d; it belongs to another upload of that key'
                            % (record_location, record.get(META_SIZE), location, size))


def incomplete_message(location):
    """Why a backup object without any sha256 is not a backup."""
    return ('%s is an incomplete backup: it has neither its record %s nor sha256 metadata (the backup run stopped '
            'between the upload and the record), so it cannot be verified and is not a valid backup; '
            'use an earlier backup' % (location, location + SIDECAR_SUFFIX))


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
        """Return {'size', 'sha256', 'metadata', 'record', 'incomplete'} of the object.

        The sha256 comes from the object's metadata (backups made before the record existed) or from
        its record `<key>.json`. Neither, on an object pg_backup wrote, means the run stopped between
        the upload and the record: `incomplete` is then True and sha256 None.
        """
        head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        self.etag = head.get('ETag')
        size = int(head['ContentLength'])
        metadata = {k.lower(): v for k, v in (head.get('Metadata') or {}).items()}
        if metadata.get(META_SHA256):
            return {'size': size, 'sha256': metadata[META_SHA256], 'metadata': metadata, 'record': 'metadata',
                    'incomplete': False}
        record = self._record()
        if record is None:
            return {'size': size, 'sha256': None, 'metadata': metadata, 'record': None,
                    'incomplete': metadata.get(META_TOOL) == TOOL}
        check_record(record, size, 's3://%s/%s' % (self.bucket, sidecar_key(self.key)), self.location)
        return {'size': size, 'sha256': record[META_SHA256], 'metadata': record, 'record': 'sidecar',
                'incomplete': False}

    def _record(self):
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=sidecar_key(self.key))['Body']
        except ClientError as e:
            if is_not_found(e):
                return None
            raise
        try:
            text = body.read()
        finally:
            body.close()
        try:
            return json.loads(text)
        except ValueError as e:
            raise TransferError('the record s3://%s/%s is not valid JSON: %s'
                                % (self.bucket, sidecar_key(self.key), e)) from None

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
        # LocalFileSink renames the record into place before the dump, so a dump without one is not ours.
        return {'size': os.path.getsize(self.path), 'sha256': metadata.get(META_SHA256), 'metadata': metadata,
                'record': 'sidecar' if metadata else None, 'incomplete': False}

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
