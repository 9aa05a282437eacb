#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_backup
short_description: Stream C(pg_dump -Fc) from a database container to S3 or a local file, with sha256
version_added: 0.1.0
description:
  - Runs C(pg_dump -Fc) inside a PostgreSQL container through the Docker API and streams its
    output straight into S3 with boto3's managed transfer (C(upload_fileobj), a multipart upload of
    O(chunk_size_mb) parts, O(concurrency) at a time), or into a local file, computing the sha256 of
    the exact bytes on the way. Nothing is staged on the managed host's disk on the S3 path.
  - The object or file appears under its final name only when pg_dump exited 0 and every byte
    was stored. If pg_dump fails or is killed, the timeout passes, or any upload fails, the
    multipart upload is aborted (or the temp file deleted), so a truncated backup never exists.
  - The sha256 is known only at the end, so the backup's record is a small JSON object written
    beside it once the upload completed, C(<key>.json) (C(<file>.json) for O(dest)), with C(sha256),
    C(size), C(db), C(timestamp), C(tool) and C(format). The object itself carries C(db),
    C(timestamp), C(tool) and C(format) as user metadata. M(aishield.ops.pg_restore) verifies the
    record; backups made before the record existed carry the sha256 in their user metadata and are
    read as before. An object of this module with neither (the run was killed between the upload
    and the record) is reported as an incomplete backup, never as a valid one.
  - Under its action plugin, the dump runs as an async job and a progress line (bytes, time, rate)
    is printed every O(progress_interval) seconds.
  - Why not M(community.postgresql.postgresql_db) with O(community.postgresql.postgresql_db#module:state=dump)?
    It runs pg_dump on the managed host (client tools and network access to the server must be
    there), writes a local file through shell redirection with no checksum and no object storage,
    and a failed dump can leave a partial target file. M(amazon.aws.s3_object) uploads a file
    that already exists, so the runbook's dump-then-upload needs free disk for the whole dump.
options:
  container:
    description:
      - Name or id of the running PostgreSQL container. C(pg_dump) must exist inside it.
    type: str
    required: true
  docker_host:
    description:
      - Docker API to talk to. Falls back to E(DOCKER_HOST).
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  container_user:
    description:
      - OS user to run C(pg_dump) as inside the container; the container's default user when unset.
      - Needed when the server uses C(peer) authentication on its local socket.
    type: str
  db_name:
    description:
      - Database to dump. Letters, digits, C(_ . $ -), not starting with C(-), at most 63 characters.
    type: str
    required: true
  db_user:
    description:
      - Role C(pg_dump) connects as.
    type: str
    default: postgres
  db_password:
    description:
      - Password for O(db_user). Passed to the exec as E(PGPASSWORD) in its environment, never
        on a command line. Leave unset when the container's environment or C(.pgpass) already
        provides it, or when local connections are trusted.
    type: str
  db_host:
    description:
      - Host C(pg_dump) connects to inside the container, for example V(127.0.0.1) to force
        password authentication over TCP. The local Unix socket when unset.
    type: str
  db_port:
    description:
      - Port C(pg_dump) connects to. libpq's default (5432) when unset.
    type: int
  key:
    description:
      - Object key of the backup, for example from the filter
        C(aishield.ops.backup_key) (C(backups/<db>/<YYYYMMDDTHHMMSSZ>.dump)).
      - With O(dest), the file is written to C(<dest>/<key>), creating subdirectories (mode 0700).
    type: str
    required: true
  dest:
    description:
      - Local directory on the managed host to write the dump to, instead of S3.
      - The dump is written to a hidden temp file and renamed into place with mode 0600; the
        sidecar C(<file>.json) carries the metadata.
      - Exactly one of O(bucket) and O(dest) is required.
    type: path
  extra_args:
    description:
      - Extra flags for C(pg_dump), passed as argv (no shell is involved).
      - One flag per element. Short flags stand alone (V(-O)); flags with a value use the long
        form with C(=), for example V(--exclude-table-data=audit_log).
      - Flags that change the output, format, compression, database or connection (C(-f), C(-F), C(-Z), C(-d),
        C(-h), C(-p), C(-U), C(-W), C(-w), C(-j) and their long forms) are rejected; use the
        module's options instead.
    type: list
    elements: str
    default: []
  compress_level:
    description:
      - C(pg_dump --compress) level of the custom-format dump, 0 (none) to 9 (smallest). On a large database the
        compression is most of the dump's CPU time; a lower level trades a bigger object for a shorter backup.
      - Unset is pg_dump's own default (zlib's default level).
    type: int
    version_added: 0.3.0
  chunk_size_mb:
    description:
      - Size of each multipart part in MiB (boto3's C(multipart_chunksize)); at least 5 (the S3 minimum)
        and at most 5120. A dump shorter than one part is a single PutObject.
      - Memory used is about O(chunk_size_mb) x (O(concurrency) + 2). The largest dump possible is
        O(chunk_size_mb) x 10000 MiB (S3's part limit), so 156 GiB at the default.
    type: int
    default: 16
  concurrency:
    description:
      - Parts uploaded in parallel while the next chunk is read from pg_dump (boto3's C(max_concurrency)). 1 to 32.
    type: int
    default: 4
  timeout:
    description:
      - Seconds the whole dump and upload may take. When it passes, the connection to pg_dump is
        closed (pg_dump then dies on its next write) and the upload is aborted.
    type: int
    default: 3600
  force:
    description:
      - Dump again even if O(key) already holds a backup made by this module.
      - When V(false) and the key holds one, the module reports its metadata with C(changed=false).
        A key holding something without C(sha256) metadata is refused unless V(true).
    type: bool
    default: false
  retention:
    description:
      - After a successful backup, apply grandfather-father-son retention to the backups of the same database (the
        objects or files beside O(key)), in the same call.
      - Only names this module writes (C(<UTC stamp>.dump), with its record C(<UTC stamp>.dump.json)) are ever
        deleted; a record is never counted as a backup. Anything else there is left alone and reported in
        RV(retention).
      - Leftovers of killed runs older than a day are deleted and reported - staging objects of older versions
        (C(_incomplete/)), and dumps without a record newer than the oldest recorded one (incomplete backups).
        Dumps without a record older than every recorded one are backups from before records, with the sha256 in
        their metadata, and are retained like the others.
      - Omit to keep every backup.
    type: dict
    suboptions:
      daily:
        description: Days with backups whose newest backup is kept.
        type: int
        default: 7
      weekly:
        description: ISO weeks with backups whose newest backup is kept.
        type: int
        default: 4
      monthly:
        description: Months with backups whose newest backup is kept.
        type: int
        default: 6
      keep:
        description: Keys never deleted (for example the backup the last good release recorded).
        type: list
        elements: str
        default: []
extends_documentation_fragment:
  - aishield.ops.s3
  - aishield.ops.progress
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - Checks the container, the bucket or directory, and whether O(key) already exists.
        Runs no C(pg_dump) and creates nothing.
  diff_mode:
    description: Will return details on what has changed when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
    details:
      - A second run with the same O(key) finds the backup and reports C(changed=false),
        unless O(force=true).
notes:
  - Give the bucket a lifecycle rule with C(AbortIncompleteMultipartUpload). The module aborts
    its own uploads, but a managed host that dies mid-dump cannot.
  - With O(progress_interval) above 0 the task runs as an async job (C(async_wrapper); the finished job's file is read
    by the same poll that watches it); a task with its own C(async) keyword is run as that asks, without progress lines.
  - The exec environment (holding E(PGPASSWORD)) is visible to root on the Docker host, like any
    process environment; it is not visible in C(ps) output or in Ansible's output.
  - pg_dump reads the database in one snapshot, so the dump is consistent while writes go on.
requirements:
  - docker (the Docker SDK for Python) on the managed host
  - boto3 on the managed host when writing to S3
seealso:
  - module: aishield.ops.pg_restore
  - module: community.postgresql.postgresql_db
  - module: amazon.aws.s3_object
author:
  - AI Shield SRE (@aishield)
"""

EXAMPLES = r"""
- name: Back up the app database to S3 before migrating
  aishield.ops.pg_backup:
    container: aishield-db-1
    db_name: aishield
    db_user: aishield
    key: "{{ 'aishield' | aishield.ops.backup_key }}"
    bucket: aishield-backups
    region: eu-west-1
  register: __backup_result

- name: Back up to an S3-compatible store with explicit credentials
  aishield.ops.pg_backup:
    container: aishield-db-1
    db_name: aishield
    db_user: aishield
    db_password: "{{ vault_db_password }}"
    db_host: 127.0.0.1
    key: backups/aishield/20250131T235959Z.dump
    bucket: backups
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ vault_s3_access_key }}"
    secret_key: "{{ vault_s3_secret_key }}"
    extra_args:
      - --exclude-table-data=audit_log

- name: Back up to a local directory (no S3)
  aishield.ops.pg_backup:
    container: aishield-db-1
    db_name: aishield
    key: aishield/20250131T235959Z.dump
    dest: /var/backups/aishield
"""

RETURN = r"""
key:
  description: Object key of the backup (relative path under O(dest) for local files).
  returned: always
  type: str
  sample: backups/aishield/20250131T235959Z.dump
bucket:
  description: Bucket holding the backup; V(null) for local files.
  returned: always
  type: str
  sample: aishield-backups
compress_level:
  description: The C(pg_dump --compress) level of the dump; V(null) for pg_dump's own default.
  returned: when a dump ran
  type: int
  sample: 1
location:
  description: Where the backup is, as C(s3://bucket/key) or an absolute file path.
  returned: always
  type: str
  sample: s3://aishield-backups/backups/aishield/20250131T235959Z.dump
db_name:
  description: The database that was dumped.
  returned: always
  type: str
  sample: aishield
size:
  description: Size of the dump in bytes; V(null) in check mode when nothing exists yet.
  returned: always
  type: int
  sample: 73400320
sha256:
  description: Hex sha256 of the dump; V(null) in check mode when nothing exists yet.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
seconds:
  description: Wall time of the dump and upload.
  returned: always
  type: float
  sample: 12.41
throughput_mb_s:
  description: Dump size in MiB divided by RV(seconds).
  returned: always
  type: float
  sample: 5.64
commit_seconds:
  description:
    - Part of RV(seconds) spent after pg_dump finished, storing the tail and making the backup appear
      under its final name (for S3, the last parts, CompleteMultipartUpload and the record). Not returned
      when nothing was dumped.
  returned: when a backup was made
  type: float
  sample: 0.42
parts:
  description: Number of S3 parts uploaded (1 for a single PutObject or a local file; 0 when nothing ran).
  returned: always
  type: int
  sample: 5
record:
  description: Key (or path) of the backup's record holding its sha256, C(<key>.json); V(null) for an old backup
    whose sha256 is in its metadata.
  returned: when a backup exists or was made
  type: str
  sample: backups/aishield/20250131T235959Z.dump.json
timestamp:
  description: UTC time the dump started (ISO 8601), also stored in the metadata.
  returned: always
  type: str
  sample: "2025-01-31T23:59:59Z"
retention:
  description:
    - What retention did - C(kept) and C(deleted) backup keys (a deleted backup's record goes with it),
      C(staging_deleted) stale staging objects, C(incomplete_deleted) stale dumps without a record, and C(ignored)
      keys that are not this module's backups (left alone).
  returned: when O(retention) is set and a backup was made
  type: dict
  sample: {kept: [backups/aishield/20250131T235959Z.dump], deleted: [], staging_deleted: [], incomplete_deleted: [],
           ignored: []}
started:
  description: When the module started, seconds since the epoch on the host (for phase timings).
  returned: always
  type: float
metadata:
  description: Metadata stored with the backup.
  returned: when a backup exists or was made
  type: dict
  sample:
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    size: "73400320"
    db: aishield
    timestamp: "2025-01-31T23:59:59Z"
    tool: aishield.ops.pg_backup
    format: pg_dump-custom
"""

import datetime
import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.aishield.ops.plugins.module_utils._docker_exec import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    ContainerExec,
    DockerException,
    ExecError,
    check_extra_args,
    container_state,
    docker_client,
    exec_environment,
    failure_reason,
    libpq_args,
    pg_container_argument_spec,
    valid_db_name,
)
from ansible_collections.aishield.ops.plugins.module_utils._progress import ProgressFile
from ansible_collections.aishield.ops.plugins.module_utils._retention import retention_plan
from ansible_collections.aishield.ops.plugins.module_utils._s3 import (
    AWS_REQUIRED_TOGETHER,
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    MAX_ATTEMPTS,
    MIB,
    TOOL,
    BotoCoreError,
    ClientError,
    HashingReader,
    LocalFileSink,
    LocalFileSource,
    S3Source,
    S3StreamUpload,
    TransferError,
    aws_client,
    backup_metadata,
    error_text,
    incomplete_message,
    is_not_found,
    s3_argument_spec,
    sidecar_key,
    throughput_mb_s,
    transfer,
    utc_timestamp,
)

# pg_dump flags the module owns: output, format, compression, target database, connection, prompting, parallelism.
FORBIDDEN_DUMP_ARGS = ('-f', '--file', '-F', '--format', '-Z', '--compress', '-d', '--dbname', '-h', '--host', '-p',
                       '--port', '-U', '--username', '-W', '--password', '-w', '--no-password', '-j', '--jobs')


class DumpFailed(Exception):
    """pg_dump did not finish cleanly, so its output must not be kept."""


def safe_relative_key(key):
    """True when `key` can be joined under a directory without escaping it."""
    if not key or key.startswith('/') or '\x00' in key:
        return False
    parts = key.split('/')
    return all(part not in ('', '.', '..') for part in parts)


class PgBackup:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.result = dict(changed=False, key=self.p['key'], bucket=self.p['bucket'], location=None,
                           db_name=self.p['db_name'], size=None, sha256=None, seconds=0.0,
                           throughput_mb_s=0.0, parts=0, timestamp=None, started=time.time())
        self.s3 = None

    def fail(self, msg, **extra):
        self.result.update(extra)
        # The failure's msg replaces a msg the result already had.
        self.module.fail_json(**dict(self.result, msg=msg))

    def validate(self):
        p = self.p
        if not valid_db_name(p['db_name']):
            self.fail('db_name=%r is not a plain database name (letters, digits, _ . $ -, at most 63, '
                      'not starting with -)' % p['db_name'])
        if not 5 <= p['chunk_size_mb'] <= 5120:
            self.fail('chunk_size_mb=%d is outside 5..5120: S3 parts must be 5 MiB to 5 GiB'
                      % p['chunk_size_mb'])
        if not 1 <= p['concurrency'] <= 32:
            self.fail('concurrency=%d is outside 1..32' % p['concurrency'])
        if p['timeout'] <= 0:
            self.fail('timeout must be a positive number of seconds')
        if p['progress_interval'] < 0:
            self.fail('progress_interval=%d must be 0 (no progress) or a positive number of seconds'
                      % p['progress_interval'])
        bad = check_extra_args(p['extra_args'], FORBIDDEN_DUMP_ARGS, 'extra_args')
        if bad:
            self.fail(bad)
        if p['compress_level'] is not None and not 0 <= p['compress_level'] <= 9:
            self.fail('compress_level=%d is outside 0..9 (pg_dump --compress)' % p['compress_level'])
        if p['dest'] is not None and not safe_relative_key(p['key']):
            self.fail('key=%r cannot be used under dest: it must be a relative path without "." or ".." '
                      'segments' % p['key'])
        if p['bucket'] is not None and (not p['key'] or p['key'].startswith('/')):
            self.fail('key=%r is not a usable object key (empty or starting with "/")' % p['key'])

    def target_path(self):
        return os.path.join(os.path.abspath(self.p['dest']), *self.p['key'].split('/'))

    # -- what is there already

    def existing(self):
        """Metadata of a backup already at the target, or None; fails on a foreign object unless forced."""
        if self.p['bucket'] is not None:
            source = S3Source(self.s3, self.p['bucket'], self.p['key'])
            try:
                info = source.describe()
            except (ClientError, BotoCoreError) as e:
                if is_not_found(e):
                    return None
                if isinstance(e, BotoCoreError):
                    self.fail(self.unreachable(e))
                self.fail('could not check s3://%s/%s: %s' % (self.p['bucket'], self.p['key'], error_text(e)))
        else:
            path = self.target_path()
            if not os.path.exists(path):
                return None
            if not os.path.isfile(path):
                self.fail('%s exists and is not a regular file' % path)
            try:
                info = LocalFileSource(path).describe()
            except TransferError as e:
                self.fail(str(e))
        if not info['sha256']:
            if self.p['force']:
                return None
            if info['incomplete']:
                self.fail('%s; set force=true to replace it' % incomplete_message(self.location()))
            self.fail('%s already exists without a sha256 record or metadata, so it was not made by this module; '
                      'choose another key or set force=true to overwrite it' % self.location())
        return info

    def unreachable(self, error):
        return ('bucket %r is not reachable from this host (%d attempts, endpoint %s): %s; nothing was dumped'
                % (self.p['bucket'], MAX_ATTEMPTS, self.p['endpoint_url'] or 'AWS', error_text(error)))

    def location(self):
        if self.p['bucket'] is not None:
            return 's3://%s/%s' % (self.p['bucket'], self.p['key'])
        return self.target_path()

    # -- preflight shared by check mode and the real run

    def preflight(self, client):
        try:
            _cid, running = container_state(client, self.p['container'])
        except ExecError as e:
            self.fail(str(e))
        if not running:
            self.fail('the database container %r is not running, nothing was dumped; look at '
                      '`docker ps -a --filter name=%s` and its logs, start it, then run again'
                      % (self.p['container'], self.p['container']))
        if self.p['bucket'] is not None:
            try:
                self.s3.head_bucket(Bucket=self.p['bucket'])
            except (ClientError, BotoCoreError) as e:
                self.fail(self.unreachable(e))
        else:
            parent = os.path.abspath(self.p['dest'])
            while not os.path.exists(parent):
                parent = os.path.dirname(parent)
            if not os.access(parent, os.W_OK | os.X_OK):
                self.fail('cannot write under %s (nearest existing directory %s)' % (self.p['dest'], parent))

    # -- the dump

    def command(self):
        p = self.p
        return (['pg_dump', '--format=custom']
                + ([] if p['compress_level'] is None else ['--compress=%d' % p['compress_level']])
                + libpq_args(p['db_user'], p['db_host'], p['db_port'])
                + list(p['extra_args'])
                + [p['db_name']])

    def dump(self, client):
        p = self.p
        stamp = utc_timestamp()
        started = time.monotonic()
        progress = ProgressFile(p['progress_file'])

        def metadata_for(sha256, size):
            return backup_metadata(sha256, size, p['db_name'], stamp, TOOL)

        ex = ContainerExec(client, p['container'], self.command(),
                           environment=exec_environment(p['db_password']),
                           user=p['container_user'], timeout=p['timeout'])

        def check_dump():
            code = ex.wait()
            reason = failure_reason(code, ex.timed_out, ex.stderr.text())
            if reason:
                raise DumpFailed('pg_dump %s' % reason)

        def counted(blocks):
            done = 0
            for block in blocks:
                done += len(block)
                progress.update(done)
                yield block

        sink = None
        try:
            ex.start()
            if p['bucket'] is not None:
                # What is known before the first byte goes on the object; the sha256 and size go in the record.
                upfront = metadata_for('', 0)
                del upfront['sha256'], upfront['size']
                sink = S3StreamUpload(self.s3, p['bucket'], p['key'], chunk_size=p['chunk_size_mb'] * MIB,
                                      concurrency=p['concurrency'], metadata=upfront)
                # check_dump runs at the pipe's end, before boto3 may complete the upload.
                reader = HashingReader(ex.stdout_blocks(), at_end=check_dump, on_read=progress.update)
                stored = sink.upload(reader, metadata_for)
            else:
                # Created only now: a local sink opens its temp file, and transfer() is what removes it again.
                sink = LocalFileSink(self.target_path(), metadata_for)
                stored = transfer(counted(ex.stdout_blocks()), sink, check_dump)
                stored['record'] = sidecar_key(stored['location'])
            progress.update(stored['size'], phase='stored', force=True)
        except (DumpFailed, ExecError, TransferError, ClientError, BotoCoreError, DockerException, OSError) as e:
            msg = error_text(e) if isinstance(e, (ClientError, BotoCoreError)) else str(e)
            if not isinstance(e, DumpFailed) and ex.stderr.text().strip():
                msg += '; pg_dump stderr: %s' % ex.stderr.text().strip()
            self.fail('backup of %s to %s failed, nothing was stored: %s'
                      % (p['db_name'], sink.location if sink else self.location(), msg),
                      seconds=round(time.monotonic() - started, 3), timestamp=stamp)
        finally:
            ex.close()

        seconds = time.monotonic() - started
        self.result.update(
            changed=True, location=stored['location'], size=stored['size'], sha256=stored['sha256'],
            parts=stored['parts'], metadata=stored['metadata'], timestamp=stamp,
            commit_seconds=stored['commit_seconds'], compress_level=p['compress_level'], record=stored['record'],
            seconds=round(seconds, 3), throughput_mb_s=throughput_mb_s(stored['size'], seconds))

    def run(self):
        self.validate()
        p = self.p
        if p['bucket'] is not None:
            try:
                self.s3 = aws_client('s3', p, max_pool_connections=p['concurrency'] + 4)
            except (BotoCoreError, ValueError) as e:
                self.fail('could not create an S3 client: %s' % error_text(e))
        self.result['location'] = self.location()
        try:
            client = docker_client(p['docker_host'], timeout=60)
        except (DockerException, ExecError) as e:
            self.fail('cannot reach Docker at %s: %s' % (p['docker_host'], e))

        found = None if p['force'] else self.existing()
        if found:
            meta = found['metadata']
            record = None
            if found['record'] == 'sidecar':
                record = sidecar_key(p['key'] if p['bucket'] is not None else self.target_path())
            self.result.update(changed=False, size=found['size'], sha256=found['sha256'],
                               timestamp=meta.get('timestamp'), metadata=meta, record=record,
                               msg='%s already holds a backup; set force=true to replace it' % self.location())
            self.module.exit_json(**self.result)

        self.preflight(client)
        if self.module.check_mode:
            self.result.update(changed=True, msg='would dump %s from container %s to %s'
                               % (p['db_name'], p['container'], self.location()))
            self.module.exit_json(**self.result)

        self.dump(client)
        if p['retention'] is not None:
            self.retain()
        self.result['finished'] = time.time()
        self.module.exit_json(**self.result)

    # -- retention

    def listing(self, directory):
        """[(key, last modified)] of everything stored under directory/."""
        p = self.p
        if p['bucket'] is not None:
            found = []
            for page in self.s3.get_paginator('list_objects_v2').paginate(Bucket=p['bucket'], Prefix=directory + '/'):
                found.extend((obj['Key'], obj['LastModified']) for obj in page.get('Contents', []))
            return found
        base = os.path.abspath(p['dest'])
        top = os.path.join(base, *directory.split('/'))
        found = []
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                stamp = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
                found.append((os.path.relpath(path, base).replace(os.sep, '/'), stamp))
        return found

    def delete(self, keys):
        p = self.p
        if not keys:
            return
        if p['bucket'] is not None:
            for start in range(0, len(keys), 1000):
                batch = [{'Key': key} for key in keys[start:start + 1000]]
                self.s3.delete_objects(Bucket=p['bucket'], Delete={'Objects': batch, 'Quiet': True})
            return
        base = os.path.abspath(p['dest'])
        for key in keys:
            path = os.path.join(base, *key.split('/'))
            if os.path.exists(path):
                os.unlink(path)

    def retain(self):
        rules = self.p['retention']
        directory = self.p['key'].rsplit('/', 1)[0] if '/' in self.p['key'] else ''
        try:
            listing = self.listing(directory)
            plan = retention_plan(listing, directory, rules['daily'], rules['weekly'], rules['monthly'],
                                  list(rules['keep']) + [self.p['key']], datetime.datetime.now(datetime.timezone.utc))
            # A record goes after its dump, so a half-done delete never leaves a dump that looks incomplete.
            self.delete(plan['delete'] + plan['staging_delete'] + plan['incomplete_delete'])
            self.delete(plan['delete_records'])
        except (ClientError, BotoCoreError, OSError) as e:
            msg = error_text(e) if isinstance(e, (ClientError, BotoCoreError)) else str(e)
            self.result['retention'] = {'error': msg}
            self.module.warn('The backup %s is stored, but retention failed: %s' % (self.location(), msg))
            return
        self.result['retention'] = {'kept': plan['keep'], 'deleted': plan['delete'],
                                    'staging_deleted': plan['staging_delete'],
                                    'incomplete_deleted': plan['incomplete_delete'], 'ignored': plan['ignored']}
        if plan['ignored']:
            self.module.warn('Retention left alone %d object(s) under %s/ that are not backups of this module: %s'
                             % (len(plan['ignored']), directory, ', '.join(plan['ignored'][:5])))


def main():
    argument_spec = pg_container_argument_spec()
    argument_spec.update(
        db_name=dict(type='str', required=True),
        key=dict(type='str', required=True, no_log=False),
        dest=dict(type='path'),
        extra_args=dict(type='list', elements='str', default=[]),
        compress_level=dict(type='int'),
        chunk_size_mb=dict(type='int', default=16),
        concurrency=dict(type='int', default=4),
        progress_interval=dict(type='int', default=5),
        progress_file=dict(type='path'),
        force=dict(type='bool', default=False),
        retention=dict(type='dict', options=dict(
            daily=dict(type='int', default=7), weekly=dict(type='int', default=4), monthly=dict(type='int', default=6),
            keep=dict(type='list', elements='str', default=[], no_log=False))),
    )
    argument_spec.update(s3_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[['bucket', 'dest']],
        required_one_of=[['bucket', 'dest']],
        required_together=AWS_REQUIRED_TOGETHER,
    )
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)
    if module.params['bucket'] is not None and not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib('boto3'), exception=BOTO3_IMPORT_ERROR)
    PgBackup(module).run()


if __name__ == '__main__':
    main()
