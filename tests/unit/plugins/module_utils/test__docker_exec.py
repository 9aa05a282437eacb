# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Frame demuxing, argument checks and the exec stream, against a socketpair standing in for dockerd."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._docker_exec import (
    ContainerExec,
    ExecError,
    ExecTimeout,
    FrameDemuxer,
    TailBuffer,
    check_extra_args,
    exec_environment,
    failure_reason,
    libpq_args,
    run_exec,
    valid_db_name,
)


def frame(stream, payload):
    return struct.pack('>BxxxL', stream, len(payload)) + payload


@pytest.mark.parametrize('split', [1, 3, 7, 8, 9, 100, 10000])
def test_demuxer_handles_any_split(split):
    out_data, err_data = os.urandom(5000), b'warning: something\n'
    wire = frame(1, out_data[:3000]) + frame(2, err_data) + frame(1, out_data[3000:]) + frame(1, b'')
    demux = FrameDemuxer()
    got = {1: b'', 2: b''}
    for i in range(0, len(wire), split):
        for stream, payload in demux.feed(wire[i:i + split]):
            got[stream] += payload
    assert got == {1: out_data, 2: err_data}
    assert not demux.mid_frame


def test_demuxer_rejects_tty_output():
    with pytest.raises(ExecError, match='tty'):
        FrameDemuxer().feed(b'hello world, not framed')


def test_tail_buffer_keeps_the_end():
    tail = TailBuffer(limit=5)
    tail.add(b'abc')
    tail.add(b'defgh')
    assert tail.text() == '[...] defgh'
    assert TailBuffer().text() == ''


DUMP_FORBIDDEN = ('-f', '--file', '-F', '--format', '-d', '--dbname', '-W', '--password', '-w', '--no-password')


@pytest.mark.parametrize('args, ok', [
    ([], True),
    (['--exclude-table-data=audit', '-O', '--no-comments', '-v'], True),
    (['-f'], False),
    (['--file=/tmp/x'], False),
    (['--fi=/tmp/x'], False),           # getopt_long abbreviation of --file
    (['--for=p'], False),               # ... of --format
    (['-Fp'], False),                   # glued value
    (['-Ox'], False),                   # bundled short flags may hide a forbidden one
    (['--exclude-table', 'audit'], False),  # values must use --flag=value
    (['--'], False),
    (['-'], False),
    (['--dbname=host=evil'], False),
    (['--no-password'], False),
    (['--no-owner'], True),
    (['--x\nrm -rf /'], False),
    ([7], False),
])
def test_check_extra_args(args, ok):
    message = check_extra_args(args, DUMP_FORBIDDEN, 'extra_args')
    assert (message is None) is ok, message


@pytest.mark.parametrize('name, ok', [
    ('appdb', True), ('app_db-2', True), ('a.b$c', True), ('-x', False), ('host=evil', False), ('', False),
    ("x'y", False), ('a b', False), ('a' * 63, True), ('a' * 64, False), ('x;drop', False),
])
def test_valid_db_name(name, ok):
    assert valid_db_name(name) is ok


def test_libpq_args_and_environment():
    assert libpq_args('app') == ['-w', '-U', 'app']
    assert libpq_args('app', '127.0.0.1', 5433) == ['-w', '-U', 'app', '-h', '127.0.0.1', '-p', '5433']
    assert exec_environment('pw') == {'PGPASSWORD': 'pw'}
    assert exec_environment(None) == {}


@pytest.mark.parametrize('code, timed_out, stderr, expected', [
    (0, False, '', None),
    (0, True, '', 'timed out'),
    (None, False, '', 'exit status unknown'),
    (1, False, 'pg_dump: error: no such database\n', 'exited with 1: pg_dump: error: no such database'),
    (143, False, '', 'exited with 143 (killed by signal 15)'),
    (137, False, '', 'exited with 137 (killed by signal 9)'),
])
def test_failure_reason(code, timed_out, stderr, expected):
    assert failure_reason(code, timed_out, stderr) == expected


# ------------------------------------------------------ a fake docker daemon

class FakeDocker:
    """exec_start hands out one end of a socketpair; `script` plays the daemon on the other end."""

    def __init__(self, script, exit_code=0, running=True):
        self.script = script
        self.exit_code = exit_code
        self.running = running
        self.created = None
        self.done = threading.Event()
        self.received = b''
        self.thread = None

    def inspect_container(self, container):
        return {'Id': 'cid-' + container, 'State': {'Running': self.running}}

    def exec_create(self, container, cmd, **kw):
        self.created = dict(container=container, cmd=cmd, **kw)
        return {'Id': 'exec1'}

    def exec_start(self, exec_id, socket=False):
        assert socket
        ours, theirs = _socketpair()
        self.thread = threading.Thread(target=self._serve, args=(theirs,), daemon=True)
        self.thread.start()
        return ours

    def _serve(self, sock):
        try:
            self.script(self, sock)
        finally:
            try:
                sock.close()
            finally:
                self.done.set()

    def exec_inspect(self, exec_id):
        return {'Running': not self.done.is_set(), 'ExitCode': self.exit_code if self.done.is_set() else None}


def _socketpair():
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def test_stdout_is_streamed_and_stderr_kept():
    payload = os.urandom(300000)

    def script(fake, sock):
        for i in range(0, len(payload), 32768):
            sock.sendall(frame(1, payload[i:i + 32768]))
        sock.sendall(frame(2, b'pg_dump: warning\n'))

    fake = FakeDocker(script)
    ex = ContainerExec(fake, 'db', ['pg_dump', 'x'], environment={'PGPASSWORD': 'pw'}, timeout=10)
    with ex:
        ex.start()
        got = b''.join(ex.stdout_blocks())
        assert ex.wait() == 0
    assert got == payload and ex.stdout_bytes == len(payload)
    assert ex.stderr.text() == 'pg_dump: warning\n'
    assert fake.created['cmd'] == ['pg_dump', 'x'] and fake.created['environment'] == {'PGPASSWORD': 'pw'}
    assert fake.created['tty'] is False and fake.created['container'] == 'cid-db'


def test_watchdog_cuts_a_silent_exec():
    def script(fake, sock):
        sock.sendall(frame(1, b'partial'))
        time.sleep(3)

    ex = ContainerExec(FakeDocker(script), 'db', ['pg_dump'], timeout=0.5)
    started = time.monotonic()
    with ex:
        ex.start()
        blocks = []
        with pytest.raises(ExecTimeout):
            for block in ex.stdout_blocks():
                blocks.append(block)
    assert blocks == [b'partial']
    assert time.monotonic() - started < 2.5
    assert ex.timed_out


def test_stdin_is_written_then_half_closed():
    def script(fake, sock):
        data = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        fake.received = data
        sock.sendall(frame(1, b'%d bytes\n' % len(data)))

    fake = FakeDocker(script)
    code, out, err = run_exec(fake, 'db', ['wc', '-c'], stdin_data=b'x' * 200000, timeout=10)
    assert (code, out, err) == (0, '200000 bytes\n', '')
    assert fake.received == b'x' * 200000


def test_exit_code_is_reported():
    def script(fake, sock):
        sock.sendall(frame(2, b'no such database\n'))

    assert run_exec(FakeDocker(script, exit_code=1), 'db', ['psql'], timeout=10) == (1, '', 'no such database\n')


def test_stopped_container_is_refused():
    with pytest.raises(ExecError, match='not running'):
        ContainerExec(FakeDocker(lambda f, s: None, running=False), 'db', ['true']).start()


def test_writing_to_a_process_that_quit_raises_exec_error():
    def script(fake, sock):
        sock.sendall(frame(2, b'pg_restore: error\n'))
        sock.shutdown(socket.SHUT_RDWR)

    fake = FakeDocker(script, exit_code=1)
    ex = ContainerExec(fake, 'db', ['pg_restore'], stdin=True, timeout=10)
    with ex:
        ex.start()
        ex.start_drain()
        fake.done.wait(5)
        with pytest.raises(ExecError, match='stopped reading'):
            for _attempt in range(200):
                ex.write(b'y' * 65536)
        ex.join_drain()
        assert ex.wait() == 1
    assert 'pg_restore: error' in ex.stderr.text()
