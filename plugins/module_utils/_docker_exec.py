# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a command in a container with the Docker SDK and stream its stdin/stdout.

The SDK's own streaming helpers disable socket timeouts and copy every frame
through small reads, so this reads the hijacked exec connection directly: a
watchdog enforces the deadline by shutting the socket down, and a small
demultiplexer splits Docker's stdout/stderr frames. Secrets reach the process
only through the exec environment, never through its argv.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
import traceback

from ansible.module_utils.basic import env_fallback

try:
    import docker
    from docker.errors import DockerException, NotFound
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # type: ignore[no-redef]
        """Stand-in so except clauses work without the Docker SDK."""

    class NotFound(DockerException):  # type: ignore[no-redef]
        """Stand-in so except clauses work without the Docker SDK."""


DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'
STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct('>BxxxL')
READ_BLOCK = 64 * 1024
STDERR_LIMIT = 64 * 1024

# Names we pass to createdb/dropdb/psql as argv and embed in one catalog query:
# no quotes, no leading dash, no "=" (libpq would read a connection string).
_DB_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.$-]{0,62}$')


def pg_container_argument_spec():
    """Options for running PostgreSQL client tools inside a container over docker exec."""
    return dict(
        container=dict(type='str', required=True),
        docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST, aliases=['docker_url'],
                         fallback=(env_fallback, ['DOCKER_HOST'])),
        container_user=dict(type='str'),
        db_user=dict(type='str', default='postgres'),
        db_password=dict(type='str', no_log=True),
        db_host=dict(type='str'),
        db_port=dict(type='int'),
        timeout=dict(type='int', default=3600),
    )


class ExecError(Exception):
    """The exec could not be created, streamed or waited for."""


class ExecTimeout(ExecError):
    """The deadline passed; the connection was shut down."""


def valid_db_name(name):
    return bool(name) and bool(_DB_NAME_RE.match(name))


def check_extra_args(args, forbidden, what):
    """Return an error message if `args` would change what the module controls, else None.

    The args become argv elements (no shell), so quoting is no issue; what matters
    is flags that redirect output, switch format or connection, or prompt. Every
    element must be one flag: short flags alone ("-O"), values in long form
    ("--exclude-table=audit"). That rules out bundled or glued short flags hiding
    a forbidden one, and long-flag abbreviations are matched as prefixes.
    """
    longs = [f for f in forbidden if f.startswith('--')]
    shorts = [f for f in forbidden if not f.startswith('--')]
    for arg in args or []:
        if not isinstance(arg, str) or '\x00' in arg or '\n' in arg:
            return '%s: %r is not a single-line string' % (what, arg)
        if arg == '--' or not arg.startswith('-') or arg == '-':
            return ('%s: %r is not a flag; give each flag as one element and values in long form, '
                    'like "--exclude-table=audit"' % (what, arg))
        if arg.startswith('--'):
            name = arg.split('=', 1)[0]
            # getopt_long accepts unambiguous abbreviations, so "--for" would be "--format".
            if any(bad.startswith(name) for bad in longs):
                return ('%s: %r is not allowed here; the module sets this itself or it would bypass '
                        'its safety checks' % (what, arg))
        else:
            if len(arg) != 2:
                return ('%s: %r bundles short flags or glues a value; give short flags alone and '
                        'values in long form, like "--table=users"' % (what, arg))
            if arg in shorts:
                return ('%s: %r is not allowed here; the module sets this itself or it would bypass '
                        'its safety checks' % (what, arg))
    return None


def libpq_args(db_user, db_host=None, db_port=None):
    """Connection flags for pg_dump/pg_restore/psql; -w so nothing ever waits on a password prompt."""
    args = ['-w', '-U', db_user]
    if db_host:
        args += ['-h', db_host]
    if db_port:
        args += ['-p', str(db_port)]
    return args


def exec_environment(db_password=None, extra=None):
    """The exec environment; PGPASSWORD lives here so it is never on a command line."""
    env = dict(extra or {})
    if db_password:
        env['PGPASSWORD'] = db_password
    return env


def failure_reason(exit_code, timed_out=False, stderr=''):
    """Why a finished exec must not be trusted, or None when it succeeded."""
    if timed_out:
        return 'timed out'
    if exit_code is None:
        return 'exit status unknown'
    if exit_code != 0:
        detail = ' (killed by signal %d)' % (exit_code - 128) if 128 < exit_code < 160 else ''
        tail = stderr.strip()
        return 'exited with %d%s%s' % (exit_code, detail, (': ' + tail) if tail else '')
    return None


class FrameDemuxer:
    """Splits Docker's multiplexed exec stream (8-byte header + payload frames) into (stream, bytes)."""

    def __init__(self):
        self._header = b''
        self._stream = None
        self._remaining = 0

    def feed(self, data):
        out = []
        view = memoryview(data)
        pos, total = 0, len(view)
        while pos < total:
            if self._remaining == 0:
                need = _HEADER.size - len(self._header)
                self._header += bytes(view[pos:pos + need])
                pos += min(need, total - pos)
                if len(self._header) < _HEADER.size:
                    break
                stream, length = _HEADER.unpack(self._header)
                self._header = b''
                if stream not in (STDIN, STDOUT, STDERR):
                    raise ExecError('unexpected stream id %d in the exec output; was the exec created with a tty?'
                                    % stream)
                self._stream, self._remaining = stream, length
                continue
            take = min(self._remaining, total - pos)
            out.append((self._stream, bytes(view[pos:pos + take])))
            pos += take
            self._remaining -= take
        return out

    @property
    def mid_frame(self):
        return bool(self._header) or self._remaining > 0


class TailBuffer:
    """Keeps the last `limit` bytes written to it (stderr can be long; the end says why)."""

    def __init__(self, limit=STDERR_LIMIT):
        self.limit = limit
        self._data = bytearray()
        self.dropped = 0

    def add(self, data):
        self._data += data
        extra = len(self._data) - self.limit
        if extra > 0:
            del self._data[:extra]
            self.dropped += extra

    def text(self):
        prefix = '[...] ' if self.dropped else ''
        return prefix + self._data.decode('utf-8', 'replace')


def docker_client(docker_host=DEFAULT_DOCKER_HOST, timeout=60):
    if not HAS_DOCKER:
        raise ExecError('the Docker SDK for Python ("docker") is required')
    return docker.APIClient(base_url=docker_host, version='auto', timeout=timeout)


def container_state(client, container):
    """Return (id, running) for a container name or id; raise ExecError when it does not exist."""
    try:
        info = client.inspect_container(container)
    except NotFound:
        raise ExecError('container %r does not exist' % container) from None
    state = info.get('State') or {}
    return info.get('Id'), bool(state.get('Running'))


class ContainerExec:
    """One `docker exec` with its output streamed; optionally with stdin.

    Use stdout_blocks() when only reading (pg_dump), or start_drain() plus
    write()/close_stdin() when feeding stdin (pg_restore). wait() returns the
    exit code; close() always releases the connection.
    """

    def __init__(self, client, container, cmd, environment=None, user=None, stdin=False, timeout=None,
                 stderr_limit=STDERR_LIMIT):
        self.client = client
        self.container = container
        self.cmd = list(cmd)
        self.environment = environment or None
        self.user = user or ''
        self.stdin = stdin
        self.timeout = timeout
        self.exec_id = None
        self.timed_out = False
        self.stderr = TailBuffer(stderr_limit)
        self.stdout_tail = TailBuffer(stderr_limit)
        self.stdout_bytes = 0
        self.started = None
        self._sock = None
        self._raw = None
        self._reader = None
        self._timer = None
        self._drain = None
        self._drain_error = None
        self._closed = False

    def start(self):
        cid, running = container_state(self.client, self.container)
        if not running:
            raise ExecError('container %r is not running' % self.container)
        try:
            created = self.client.exec_create(
                cid, self.cmd, stdout=True, stderr=True, stdin=self.stdin, tty=False,
                environment=self.environment, user=self.user)
            self.exec_id = created['Id']
            self._sock = self.client.exec_start(self.exec_id, socket=True)
        except DockerException as e:
            raise ExecError('docker exec %s in %s failed: %s' % (self.cmd[0], self.container, e)) from None
        self.started = time.monotonic()
        self._raw = getattr(self._sock, '_sock', self._sock)
        self._reader = self._buffered_reader()
        # Deadlines come from the watchdog, not socket timeouts: a quiet pg_dump is not a dead one.
        try:
            self._raw.settimeout(None)
        except (AttributeError, OSError):
            pass
        if self.timeout:
            self._timer = threading.Timer(self.timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _buffered_reader(self):
        # http.client may already have buffered the first output bytes while reading the
        # upgrade headers; reading through its buffer keeps them.
        response = getattr(self._sock, '_response', None)
        try:
            fp = response.raw._fp.fp
        except AttributeError:
            return self._sock
        raw = getattr(fp, 'raw', None)
        if raw is self._sock or getattr(raw, '_sock', None) is self._raw or raw is self._raw:
            return fp
        return self._sock

    def _expire(self):
        self.timed_out = True
        self._shutdown(socket.SHUT_RDWR)

    def _shutdown(self, how):
        try:
            self._raw.shutdown(how)
        except (OSError, AttributeError):
            pass

    def _read(self, size):
        try:
            if hasattr(self._reader, 'read1'):
                return self._reader.read1(size)
            if hasattr(self._reader, 'recv'):
                return self._reader.recv(size)
            return self._reader.read(size)
        except (OSError, ValueError):
            # A shutdown by the watchdog or close() surfaces here; anything else is a broken stream.
            if self.timed_out or self._closed:
                return b''
            raise

    def frames(self, block=READ_BLOCK):
        """Yield (stream, bytes) until the exec's output ends; stderr is also kept in self.stderr."""
        demux = FrameDemuxer()
        while True:
            data = self._read(block)
            if not data:
                break
            for stream, payload in demux.feed(data):
                if stream == STDERR:
                    self.stderr.add(payload)
                yield stream, payload
        if self.timed_out:
            raise ExecTimeout('%s did not finish within %s seconds' % (self.cmd[0], self.timeout))

    def stdout_blocks(self, block=READ_BLOCK):
        """Yield stdout payloads; raises ExecTimeout if the deadline cut the stream."""
        for stream, payload in self.frames(block):
            if stream == STDOUT:
                self.stdout_bytes += len(payload)
                yield payload

    def start_drain(self):
        """Collect output in a thread, so a chatty process never blocks us while we write its stdin."""
        def drain():
            try:
                for stream, payload in self.frames():
                    if stream == STDOUT:
                        self.stdout_tail.add(payload)
            except BaseException as e:  # pylint: disable=broad-exception-caught
                self._drain_error = e
        self._drain = threading.Thread(target=drain, name='exec-drain', daemon=True)
        self._drain.start()

    def write(self, data):
        try:
            self._raw.sendall(data)
        except OSError as e:
            if self.timed_out:
                raise ExecTimeout('%s did not finish within %s seconds' % (self.cmd[0], self.timeout)) from None
            raise ExecError('%s stopped reading its input: %s' % (self.cmd[0], e)) from None

    def close_stdin(self):
        """Half-close: the process sees end-of-file on stdin while we keep reading its output."""
        self._shutdown(socket.SHUT_WR)

    def join_drain(self):
        if self._drain is not None:
            remaining = self._remaining()
            self._drain.join(remaining)
            if self._drain.is_alive():
                self._expire()
                self._drain.join(5)
            if self.timed_out:
                raise ExecTimeout('%s did not finish within %s seconds' % (self.cmd[0], self.timeout))

    def _remaining(self):
        if not self.timeout or self.started is None:
            return None
        return max(0.0, self.timeout - (time.monotonic() - self.started))

    def wait(self, grace=30.0):
        """Exit code once Docker reports the process gone; polls, bounded by the deadline plus `grace`."""
        remaining = self._remaining()
        limit = time.monotonic() + (grace if remaining is None else remaining + grace)
        delay = 0.05
        while True:
            try:
                info = self.client.exec_inspect(self.exec_id)
            except DockerException as e:
                raise ExecError('could not inspect exec of %s: %s' % (self.cmd[0], e)) from None
            if not info.get('Running'):
                return info.get('ExitCode')
            if time.monotonic() >= limit:
                raise ExecTimeout('%s still running after its output ended' % self.cmd[0])
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def close(self):
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._sock is not None:
            self._shutdown(socket.SHUT_RDWR)
            for obj in (self._sock, getattr(self._sock, '_response', None)):
                try:
                    if obj is not None:
                        obj.close()
                except Exception:  # pylint: disable=broad-exception-caught
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_exec(client, container, cmd, environment=None, user=None, timeout=60, stdin_data=None):
    """Run a short command to completion; return (exit_code, stdout_text, stderr_text)."""
    ex = ContainerExec(client, container, cmd, environment=environment, user=user,
                       stdin=stdin_data is not None, timeout=timeout)
    with ex:
        ex.start()
        if stdin_data is not None:
            ex.start_drain()
            ex.write(stdin_data)
            ex.close_stdin()
            ex.join_drain()
            out = ex.stdout_tail.text()
        else:
            out = b''.join(ex.stdout_blocks()).decode('utf-8', 'replace')
        code = ex.wait()
    return code, out, ex.stderr.text()
