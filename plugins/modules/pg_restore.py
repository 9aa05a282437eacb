#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_restore
short_description: Restore a verified C(pg_dump -Fc) backup from S3 or a local file into a database container
version_added: 0.1.0
description:
  - Streams a backup made by M(aishield.ops.pg_backup) from S3 (or a local file) into
    C(pg_restore --single-transaction) inside a PostgreSQL container, through the Docker API.
  - The stream is checked against the sha256 recorded for the backup, and against O(expected_sha256)
    when given. The record is the JSON object C(<key>.json) beside the backup (C(<file>.json) for
    O(src)); backups made before records existed carry the sha256 in their S3 user metadata, which
    is read as well. A backup object of M(aishield.ops.pg_backup) with neither is incomplete (its run
    stopped between the upload and the record) and is refused, naming it.
  - Under its action plugin, the restore runs as an async job and a progress line (bytes, time, rate)
    is printed every O(progress_interval) seconds; with O(verify_before_restore=true) the download
    comes first, its lines ending in C(, download).
  - "How a bad checksum is kept from being committed: the restore runs in one transaction, and
    the module forwards the stream one block behind. The final block is sent only after the
    sha256 of the whole stream matched. On a mismatch, C(pg_restore) sees end-of-file in the
    middle of the archive, fails, and its transaction rolls back, so nothing is committed.
    This relies on a full restore reading the archive to its last byte, which is why selective
    flags (C(--table), C(--schema-only) and similar) are only accepted together with
    O(verify_before_restore=true)."
  - With O(verify_before_restore=true) the backup is first downloaded to a private temp file on
    the managed host (mode 0600, in O(tmp_dir)) and verified, and only then restored. This needs
    free disk for one dump and takes longer.
  - Why not M(community.postgresql.postgresql_db) with O(community.postgresql.postgresql_db#module:state=restore)?
    It restores a file already on the managed host, with client tools installed there, and does
    no checksum verification and no S3 download. Fetching first with M(amazon.aws.s3_object)
    needs disk for the whole dump and still verifies nothing.
options:
  container:
    description:
      - Name or id of the running PostgreSQL container. C(pg_restore), C(psql), C(createdb) and
        C(dropdb) must exist inside it.
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
      - OS user to run the client tools as inside the container; the container's default user when unset.
    type: str
  db_user:
    description:
      - Role the client tools connect as. It must be allowed to create databases for O(create_target).
    type: str
    default: postgres
  db_password:
    description:
      - Password for O(db_user). Passed to each exec as E(PGPASSWORD) in its environment, never on
        a command line.
    type: str
  db_host:
    description:
      - Host the client tools connect to inside the container; the local Unix socket when unset.
    type: str
  db_port:
    description:
      - Port the client tools connect to. libpq's default (5432) when unset.
    type: int
  key:
    description:
      - Object key of the backup in O(bucket).
      - Exactly one of O(key) and O(src) is required.
    type: str
  src:
    description:
      - Local dump file written by M(aishield.ops.pg_backup) with O(aishield.ops.pg_backup#module:dest),
        next to its sidecar C(<file>.json).
    type: path
  expected_sha256:
    description:
      - sha256 the backup must have, for example the one recorded in a release manifest.
      - When the backup's own metadata also has one, both must agree.
    type: str
  target_db:
    description:
      - Database to restore into. Letters, digits, C(_ . $ -), not starting with C(-), at most 63 characters.
    type: str
    required: true
  maintenance_db:
    description:
      - Database the module connects to for checking, creating and dropping O(target_db).
    type: str
    default: postgres
  create_target:
    description:
      - Create O(target_db) first, as a scratch database; it must not exist yet.
      - When V(false), O(target_db) must already exist.
      - A database created by this run is dropped again if the restore fails.
    type: bool
    default: false
  clean:
    description:
      - Pass C(--clean --if-exists) so objects in the backup are dropped and re-created, inside the
        same single transaction.
    type: bool
    default: false
  drop_target_after:
    description:
      - Drop O(target_db) after a successful restore (and row count), for restore drills.
    type: bool
    default: false
  count_rows:
    description:
      - After the restore, count the rows of every table in O(target_db) and return them in RV(tables).
      - Exact counts read every table once.
    type: bool
    default: false
  verify_before_restore:
    description:
      - Download and verify the whole backup on the managed host before starting C(pg_restore),
        instead of verifying while streaming. Needs free disk in O(tmp_dir) for one dump.
      - Required for selective restores (see O(extra_args)).
    type: bool
    default: false
  tmp_dir:
    description:
      - Directory for the temp file of O(verify_before_restore=true); the system temp dir when unset.
    type: path
  extra_args:
    description:
      - Extra flags for C(pg_restore), passed as argv (no shell is involved), for example V(--no-owner).
      - One flag per element. Short flags stand alone (V(-O)); flags with a value use the long form
        with C(=), for example V(--role=app).
      - Flags the module controls (C(-f), C(-F), C(-d), C(-h), C(-p), C(-U), C(-W), C(-w), C(-1),
        C(-C), C(-c), C(-j), C(-l) and their long forms) are rejected.
      - Selective flags (C(-t), C(-n), C(-N), C(-L), C(-I), C(-P), C(-T), C(-s), C(-a), C(--section),
        C(--filter) and their long forms) need O(verify_before_restore=true), because a partial
        restore may finish before the end of the stream is verified.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds the download and restore may take; past it the connection is closed, C(pg_restore)
        fails and its transaction rolls back.
    type: int
    default: 3600
extends_documentation_fragment:
  - aishield.ops.s3
  - aishield.ops.progress
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - Reads the backup's metadata, checks the container and whether O(target_db) exists.
        Downloads nothing and changes no database.
  diff_mode:
    description: Will return details on what has changed when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: none
    details:
      - Every run restores again and reports a change. With O(create_target=true) a second run
        fails because the database exists, unless the first dropped it (O(drop_target_after)).
notes:
  - The exec environment (holding E(PGPASSWORD)) is visible to root on the Docker host, like any
    process environment; it is not visible in C(ps) output or in Ansible's output.
  - With O(progress_interval) above 0 the task runs as an async job (C(async_wrapper); the finished job's file is read
    by the same poll that watches it); a task with its own C(async) keyword is run as that asks, without progress lines.
requirements:
  - docker (the Docker SDK for Python) on the managed host
  - boto3 on the managed host when reading from S3
seealso:
  - module: aishield.ops.pg_backup
  - module: community.postgresql.postgresql_db
author:
  - AI Shield SRE (@aishield)
"""

EXAMPLES = r"""
- name: Restore drill into a scratch database, count rows, drop it again
  aishield.ops.pg_restore:
    container: aishield-db-1
    db_user: aishield
    bucket: aishield-backups
    region: eu-west-1
    key: "{{ __backup_result.key }}"
    expected_sha256: "{{ __backup_result.sha256 }}"
    target_db: restore_drill
    create_target: true
    count_rows: true
    drop_target_after: true
  register: __restore_drill

- name: Full rollback, replacing the app database's objects in one transaction
  aishield.ops.pg_restore:
    container: aishield-db-1
    db_user: aishield
    bucket: aishield-backups
    key: backups/aishield/20250131T235959Z.dump
    target_db: aishield
    clean: true
    extra_args:
      - --no-owner

- name: Restore only one table, verifying the download before anything is restored
  aishield.ops.pg_restore:
    container: aishield-db-1
    src: /var/backups/aishield/aishield/20250131T235959Z.dump
    target_db: aishield_scratch
    create_target: true
    verify_before_restore: true
    extra_args:
      - --table=users
"""

RETURN = r"""
key:
  description: Object key restored from (V(null) for O(src)).
  returned: always
  type: str
  sample: backups/aishield/20250131T235959Z.dump
bucket:
  description: Bucket restored from (V(null) for O(src)).
  returned: always
  type: str
  sample: aishield-backups
location:
  description: The backup as C(s3://bucket/key) or a file path.
  returned: always
  type: str
  sample: s3://aishield-backups/backups/aishield/20250131T235959Z.dump
target_db:
  description: The database restored into.
  returned: always
  type: str
  sample: restore_drill
size:
  description: Bytes streamed (in check mode, the size recorded for the backup).
  returned: always
  type: int
  sample: 73400320
sha256:
  description: Verified sha256 of the stream (in check mode, the recorded one).
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
seconds:
  description: Wall time of download, verification and restore.
  returned: always
  type: float
  sample: 20.5
throughput_mb_s:
  description: Backup size in MiB divided by RV(seconds).
  returned: always
  type: float
  sample: 3.41
verification:
  description: How the checksum was enforced, V(streaming) (hold back the last block) or V(before_restore).
  returned: always
  type: str
  sample: streaming
tables:
  description: Rows per table (C(schema.table)) after the restore; empty unless O(count_rows=true).
  returned: always
  type: dict
  sample: {"public.users": 1200, "public.alembic_version": 1}
created_target:
  description: Whether this run created O(target_db).
  returned: always
  type: bool
  sample: true
dropped_target:
  description: Whether this run dropped O(target_db) afterwards.
  returned: always
  type: bool
  sample: true
"""

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
    run_exec,
    valid_db_name,
)
from ansible_collections.aishield.ops.plugins.module_utils._progress import ProgressFile, counted_blocks
from ansible_collections.aishield.ops.plugins.module_utils._s3 import (
    AWS_REQUIRED_TOGETHER,
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    BotoCoreError,
    ChecksumMismatch,
    ClientError,
    HoldbackVerifier,
    LocalFileSource,
    S3Source,
    TransferError,
    aws_client,
    error_text,
    incomplete_message,
    is_not_found,
    s3_argument_spec,
    spool_verified,
    throughput_mb_s,
)

CONTROLLED_ARGS = ('-f', '--file', '-F', '--format', '-d', '--dbname', '-h', '--host', '-p', '--port',
                   '-U', '--username', '-W', '--password', '-w', '--no-password', '-1', '--single-transaction',
                   '-C', '--create', '-c', '--clean', '-j', '--jobs', '-l', '--list')
# A partial restore can finish before the stream's last block, i.e. before verification.
SELECTIVE_ARGS = ('-t', '--table', '-n', '--schema', '-N', '--exclude-schema', '-L', '--use-list',
                  '-I', '--index', '-P', '--function', '-T', '--trigger', '-s', '--schema-only',
                  '-a', '--data-only', '--section', '--filter')
_SEP = '\x1f'
# One round trip for exact counts: query_to_xml runs a count(*) per table.
COUNT_ROWS_SQL = (
    "SELECT format('%I.%I', n.nspname, c.relname), "
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), "
    "false, true, '')))[1]::text "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1"
)


def parse_counts(text):
    """Parse psql's unaligned `name<US>count` lines into {name: int}."""
    counts = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(_SEP)
        if not sep:
            raise ValueError('unexpected psql output line: %r' % line)
        counts[name] = int(value)
    return counts


class RestoreFailed(Exception):
    """pg_restore did not finish cleanly; its transaction was rolled back."""


class PgRestore:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.result = dict(changed=False, key=self.p['key'], bucket=self.p['bucket'], location=None,
                           target_db=self.p['target_db'], size=None, sha256=None, seconds=0.0,
                           throughput_mb_s=0.0, verification='before_restore' if self.p['verify_before_restore']
                           else 'streaming', tables={}, created_target=False, dropped_target=False)
        self.client = None
        self.source = None

    def fail(self, msg, **extra):
        self.result.update(extra)
        # The failure's msg replaces a msg the result already had.
        self.module.fail_json(**dict(self.result, msg=msg))

    def validate(self):
        p = self.p
        for option in ('target_db', 'maintenance_db'):
            if not valid_db_name(p[option]):
                self.fail('%s=%r is not a plain database name (letters, digits, _ . $ -, at most 63, '
                          'not starting with -)' % (option, p[option]))
        if p['target_db'] == p['maintenance_db']:
            self.fail('target_db and maintenance_db are both %r; restore into another database' % p['target_db'])
        if p['timeout'] <= 0:
            self.fail('timeout must be a positive number of seconds')
        if p['progress_interval'] < 0:
            self.fail('progress_interval=%d must be 0 (no progress) or a positive number of seconds'
                      % p['progress_interval'])
        bad = check_extra_args(p['extra_args'], CONTROLLED_ARGS, 'extra_args')
        if bad:
            self.fail(bad)
        if not p['verify_before_restore'] and check_extra_args(p['extra_args'], SELECTIVE_ARGS, 'extra_args'):
            self.fail('extra_args %s select part of the backup; a partial restore may commit before the end '
                      'of the stream is verified, so set verify_before_restore=true' % p['extra_args'])
        if p['expected_sha256'] is not None:
            digest = p['expected_sha256'].strip().lower()
            if len(digest) != 64 or any(ch not in '0123456789abcdef' for ch in digest):
                self.fail('expected_sha256=%r is not a 64-digit hex sha256' % p['expected_sha256'])
            p['expected_sha256'] = digest

    # -- the backup

    def describe_source(self):
        p = self.p
        if p['key'] is not None:
            try:
                s3 = aws_client('s3', p, max_pool_connections=4)
                self.source = S3Source(s3, p['bucket'], p['key'])
                info = self.source.describe()
            except (ClientError, BotoCoreError, ValueError) as e:
                if is_not_found(e):
                    self.fail('backup s3://%s/%s does not exist' % (p['bucket'], p['key']))
                self.fail('could not read s3://%s/%s: %s' % (p['bucket'], p['key'], error_text(e)))
            except TransferError as e:
                self.fail('%s; nothing was restored' % e)
        else:
            if not os.path.isfile(p['src']):
                self.fail('backup file %s does not exist' % p['src'])
            self.source = LocalFileSource(p['src'])
            try:
                info = self.source.describe()
            except TransferError as e:
                self.fail(str(e))
        self.result['location'] = self.source.location
        if info['incomplete']:
            self.fail('%s; nothing was restored' % incomplete_message(self.source.location))
        recorded = (info['sha256'] or '').lower() or None
        expected = p['expected_sha256']
        if recorded and expected and recorded != expected:
            self.fail('sha256 mismatch for %s: its metadata records %s but expected_sha256 is %s; '
                      'nothing was restored' % (self.source.location, recorded, expected))
        if not (recorded or expected):
            self.fail('%s has no sha256 record or metadata, so it cannot be verified; pass expected_sha256 if you '
                      'know its digest' % self.source.location)
        info['sha256'] = expected or recorded
        return info

    # -- running client tools in the container

    def env(self):
        return exec_environment(self.p['db_password'])

    def conn(self):
        return libpq_args(self.p['db_user'], self.p['db_host'], self.p['db_port'])

    def tool(self, cmd, what):
        try:
            code, out, err = run_exec(self.client, self.p['container'], cmd, environment=self.env(),
                                      user=self.p['container_user'], timeout=min(self.p['timeout'], 600))
        except (ExecError, DockerException, OSError) as e:
            raise RestoreFailed('%s failed: %s' % (what, e)) from None
        reason = failure_reason(code, stderr=err)
        if reason:
            raise RestoreFailed('%s %s' % (what, reason))
        return out

    def psql(self, database, sql, what):
        return self.tool(['psql', '-X', '-q', '-A', '-t', '-F', _SEP, '-v', 'ON_ERROR_STOP=1'] + self.conn()
                         + ['-d', database, '-c', sql], what)

    def target_exists(self):
        # The name passed valid_db_name (no quotes), so it is safe inside a literal.
        out = self.psql(self.p['maintenance_db'],
                        "SELECT 1 FROM pg_database WHERE datname = '%s'" % self.p['target_db'],
                        'checking whether %s exists' % self.p['target_db'])
        return out.strip() == '1'

    def create_target(self):
        self.tool(['createdb'] + self.conn() + ['--maintenance-db=%s' % self.p['maintenance_db'],
                                                self.p['target_db']],
                  'createdb %s' % self.p['target_db'])
        self.result['created_target'] = True

    def drop_target(self):
        self.tool(['dropdb'] + self.conn() + ['--if-exists', '--maintenance-db=%s' % self.p['maintenance_db'],
                                              self.p['target_db']],
                  'dropdb %s' % self.p['target_db'])

    def restore_command(self):
        cmd = ['pg_restore', '--single-transaction', '--exit-on-error'] + self.conn() + ['-d', self.p['target_db']]
        if self.p['clean']:
            cmd += ['--clean', '--if-exists']
        return cmd + list(self.p['extra_args'])

    # -- the restore

    def stream(self, blocks, expected):
        """Feed `blocks` to pg_restore, the last one only after the sha256 matched; returns (size, sha256)."""
        verifier = HoldbackVerifier(expected, self.source.location)
        progress = ProgressFile(self.p['progress_file'])
        ex = ContainerExec(self.client, self.p['container'], self.restore_command(), environment=self.env(),
                           user=self.p['container_user'], stdin=True, timeout=self.p['timeout'])
        mismatch = stdin_error = None

        def send(data):
            # pg_restore starts with the first bytes it may read: an exec whose stdin is closed before
            # anything reached it can miss its end-of-file on Docker 20.10 and wait for input forever.
            if ex.started is None:
                ex.start()
                ex.start_drain()
            ex.write(data)
        try:
            try:
                for block in blocks:
                    ready = verifier.feed(block)
                    if ready:
                        send(ready)
                    progress.update(verifier.size)
                tail = verifier.finish()
                if tail:
                    send(tail)
            except ChecksumMismatch as e:
                mismatch = e
            except ExecError as e:
                # pg_restore quit reading; its exit status and stderr say why.
                stdin_error = e
            finally:
                blocks.close()
            if ex.started is None:
                if stdin_error is not None:
                    raise stdin_error
                if mismatch is not None:
                    raise RestoreFailed('%s; pg_restore was never started, so nothing was restored into %s'
                                        % (mismatch, self.p['target_db']))
                raise RestoreFailed('the backup %s is empty; nothing was restored' % self.source.location)
            # End of input: after a mismatch pg_restore sees a truncated archive and rolls back.
            ex.close_stdin()
            ex.join_drain()
            code = ex.wait()
        finally:
            ex.close()
        stderr = ex.stderr.text()
        if mismatch is not None:
            if code != 0:
                raise RestoreFailed('%s; pg_restore stopped before the end of the archive and rolled back, '
                                    'so nothing was committed to %s' % (mismatch, self.p['target_db']))
            raise RestoreFailed('%s; WARNING: pg_restore exited 0 although its input was cut short, '
                                'inspect %s' % (mismatch, self.p['target_db']))
        reason = failure_reason(code, ex.timed_out, stderr)
        if reason:
            raise RestoreFailed('pg_restore %s; its single transaction was rolled back' % reason)
        if stdin_error is not None:
            raise RestoreFailed('pg_restore exited 0 but stopped reading its input: %s' % stdin_error)
        return verifier.size, verifier.sha256

    def restore(self, info):
        p = self.p
        expected = info['sha256']
        if not p['verify_before_restore']:
            return self.stream(self.source.blocks(), expected)
        path = None
        download = ProgressFile(p['progress_file'])
        try:
            path = spool_verified(counted_blocks(self.source.blocks(), download, 'download'), expected,
                                  self.source.location, p['tmp_dir'])
            return self.stream(LocalFileSource(path).blocks(), expected)
        except ChecksumMismatch as e:
            raise RestoreFailed('%s; nothing was restored' % e) from None
        finally:
            if path:
                os.unlink(path)

    def run(self):
        self.validate()
        p = self.p
        info = self.describe_source()
        self.result.update(size=info['size'], sha256=info['sha256'])
        try:
            self.client = docker_client(p['docker_host'], timeout=60)
            _cid, running = container_state(self.client, p['container'])
        except (DockerException, ExecError) as e:
            self.fail('cannot use container %r via %s: %s' % (p['container'], p['docker_host'], e))
        if not running:
            self.fail('container %r is not running' % p['container'])
        try:
            exists = self.target_exists()
        except RestoreFailed as e:
            self.fail(str(e))
        if p['create_target'] and exists:
            self.fail('target_db %s already exists; create_target=true restores only into a new database '
                      '(drop it first, or set create_target=false to restore into it)' % p['target_db'])
        if not p['create_target'] and not exists:
            self.fail('target_db %s does not exist; set create_target=true to create it' % p['target_db'])
        if self.module.check_mode:
            self.result.update(changed=True, msg='would restore %s into %s in container %s'
                               % (self.source.location, p['target_db'], p['container']))
            self.module.exit_json(**self.result)

        started = time.monotonic()
        try:
            if p['create_target']:
                self.create_target()
            size, sha256 = self.restore(info)
            if p['count_rows']:
                self.result['tables'] = parse_counts(self.psql(p['target_db'], COUNT_ROWS_SQL, 'counting rows'))
        except (RestoreFailed, TransferError, ClientError, BotoCoreError, ExecError, DockerException,
                OSError, ValueError) as e:
            msg = error_text(e) if isinstance(e, (ClientError, BotoCoreError)) else str(e)
            if self.result['created_target']:
                try:
                    self.drop_target()
                    self.result['dropped_target'] = True
                except RestoreFailed as drop_error:
                    msg += '; dropping the scratch database %s also failed: %s' % (p['target_db'], drop_error)
            self.fail('restore of %s into %s failed: %s' % (self.source.location, p['target_db'], msg),
                      changed=self.result['created_target'] and not self.result['dropped_target'],
                      seconds=round(time.monotonic() - started, 3))
        seconds = time.monotonic() - started
        self.result.update(changed=True, size=size, sha256=sha256, seconds=round(seconds, 3),
                           throughput_mb_s=throughput_mb_s(size, seconds))
        if p['drop_target_after']:
            try:
                self.drop_target()
            except RestoreFailed as e:
                self.fail('restore succeeded but dropping %s afterwards failed: %s' % (p['target_db'], e))
            self.result['dropped_target'] = True
        self.module.exit_json(**self.result)


def main():
    argument_spec = pg_container_argument_spec()
    argument_spec.update(s3_argument_spec())
    argument_spec.update(
        key=dict(type='str', no_log=False),
        src=dict(type='path'),
        expected_sha256=dict(type='str'),
        target_db=dict(type='str', required=True),
        maintenance_db=dict(type='str', default='postgres'),
        create_target=dict(type='bool', default=False),
        clean=dict(type='bool', default=False),
        drop_target_after=dict(type='bool', default=False),
        count_rows=dict(type='bool', default=False),
        verify_before_restore=dict(type='bool', default=False),
        tmp_dir=dict(type='path'),
        extra_args=dict(type='list', elements='str', default=[]),
        progress_interval=dict(type='int', default=5),
        progress_file=dict(type='path'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[['key', 'src'], ['bucket', 'src']],
        required_one_of=[['key', 'src']],
        required_together=[['key', 'bucket']] + AWS_REQUIRED_TOGETHER,
    )
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)
    if module.params['key'] is not None and not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib('boto3'), exception=BOTO3_IMPORT_ERROR)
    PgRestore(module).run()


if __name__ == '__main__':
    main()
