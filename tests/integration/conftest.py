# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared fixtures for the integration tests.

Sections, each self-contained:
  * Docker engine gate: without an engine the run fails, saying why, instead of skipping.
  * Secrets on disk: which files hold a planted value, as is or base64-encoded.
  * Ansible runner: run a playbook from tmp_path through the checkout's ansible.cfg.
  * Status-page receiver: tests/testbed/receiver.py on a free 127.0.0.1 port.
  * HTTP fixture server: slow, flapping, mismatching and login-protected endpoints, and a job API.
  * PostgreSQL: the stack's aishield/postgres:15 image on a random 127.0.0.1 port.
  * Throttled relay: a TCP relay on 127.0.0.1 that slows replies down, so a transfer lasts long enough
    to show its progress.
Everything listens on 127.0.0.1 only, and every wait loop is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get('AISHIELD_VENV', REPO / '.venv')) / 'bin'
PYTHON = VENV_BIN / 'python'


def pytest_configure(config):
    config.addinivalue_line('markers', 'integration: runs modules through ansible-playbook against real services')


# --- Docker engine gate --------------------------------------------------------------------------

# Files here that need no Docker engine (the build stage runs test_collection_build.py on its own).
NO_DOCKER_FILES = frozenset(['test_collection_build.py'])


def docker_problem():
    """Why no Docker engine can be used, or '' when `docker info` answers."""
    if shutil.which('docker') is None:
        return 'the docker CLI is not on PATH'
    try:
        proc = subprocess.run(['docker', 'info', '--format', '{{.ServerVersion}}'], capture_output=True, text=True,
                              timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return '`docker info` did not answer within 60 s'
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()] or ['exit code %d' % proc.returncode]
        return '`docker info` failed: %s' % lines[-1].strip()
    return ''


def docker_available():
    return not docker_problem()


def pytest_collection_modifyitems(session, config, items):  # pylint: disable=unused-argument
    """No engine fails the whole run before any test: a skip would let the stage pass having tested nothing."""
    if config.option.collectonly or all(item.path.name in NO_DOCKER_FILES for item in items):
        return
    problem = docker_problem()
    if problem:
        pytest.exit('no Docker engine answers, and these integration tests need one (%s). Start the engine or run '
                    'tests/testbed/setup.sh; nothing was run.' % problem, returncode=pytest.ExitCode.TESTS_FAILED)


# --- Secrets on disk -----------------------------------------------------------------------------


def secret_forms(value):
    """The value's bytes, and the base64 runs (standard and URL-safe) that any base64 text holding it contains.

    Docker, for one, stores a login as base64("user:password"): the password's offset there is
    unknown, so each of the three alignments is covered, keeping only the groups the value fills.
    """
    raw = value.encode()
    forms = {raw}
    for shift in range(3):
        encoded = base64.b64encode(b'\0' * shift + raw)
        core = encoded[(4 if shift else 0):4 * ((shift + len(raw)) // 3)]
        if len(core) >= 8:
            forms |= {core, core.translate(bytes.maketrans(b'+/', b'-_'))}
    return forms


def files_holding(named_values, roots, since=None):
    """{(path, name)} for each regular file under roots (symlinks not followed) that holds a value.

    named_values maps a name (what a failure may print) to the secret (what it must not print).
    since: only files whose inode changed at or after this time.time(), which a file written since has.
    """
    forms = {name: secret_forms(value) for name, value in named_values.items()}
    overlap = max(len(form) for group in forms.values() for form in group)
    hits = set()
    seen = set()
    for root in roots:
        for dirpath, _dirs, files in os.walk(str(root)):
            for filename in files:
                path = os.path.join(dirpath, filename)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode) or (since is not None and info.st_ctime < since) or path in seen:
                    continue
                seen.add(path)
                hits |= {(path, name) for name in _names_in_file(path, forms, overlap)}
    return hits


def _names_in_file(path, forms, overlap):
    found = set()
    try:
        with open(path, 'rb') as handle:
            tail = b''
            for chunk in iter(lambda: handle.read(1 << 20), b''):
                data = tail + chunk
                found |= {name for name, group in forms.items() if name not in found and any(f in data for f in group)}
                tail = data[-overlap:]
    except OSError:  # gone or unreadable since the walk saw it
        pass
    return found


def free_port():
    """A 127.0.0.1 port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def command_lines():
    """Every process's command line on the host, containers included: what `ps -eo args` shows, read from
    /proc in this process (no `ps` started 5 times a second, and no column width that could cut a line)."""
    lines = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as handle:
                raw = handle.read()
        except OSError:  # ended between the listing and the read
            continue
        if raw:
            lines.append(raw.rstrip(b'\0').replace(b'\0', b' ').decode('utf-8', 'replace'))
    return lines


class PsWatcher(threading.Thread):
    """Samples every command line on the host (containers included) until stopped; bounded by the run."""

    def __init__(self, interval=0.2, limit=3000):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.interval = interval
        self.limit = limit
        self.lines = set()
        self.samples = 0

    def run(self):
        while not self.stop.is_set() and self.samples < self.limit:
            self.lines.update(command_lines())
            self.samples += 1
            self.stop.wait(self.interval)


def run_playbook_watched(cmd, cwd, env, planted, timeout=900):
    """Run ansible-playbook with every command line sampled; fail if a planted secret value shows in its output or in
    `ps`. Returns (returncode, output)."""
    watcher = PsWatcher()
    watcher.start()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        watcher.stop.set()
        watcher.join()
    output = proc.stdout + proc.stderr
    for name, value in planted.items():
        where = output.find(value)
        assert where < 0, f"planted {name} appeared in ansible output: ...{output[max(0, where - 600):where]}<SECRET>"
        leaked = [line for line in watcher.lines if value in line]
        assert not leaked, f"planted {name} appeared on a command line: {leaked[0][:80]}..."
    return proc.returncode, output


def wait_for(predicate, timeout, interval=0.2, what='condition'):
    """Poll predicate() until it is truthy; fail the test after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # pylint: disable=broad-except
            value = None
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail('timed out after %ss waiting for %s' % (timeout, what))
        time.sleep(interval)


def http_json(method, url, body=None, headers=None, timeout=5):
    """A tiny test-side HTTP client: returns (status, decoded JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header('Content-Type', 'application/json')
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # nosec - 127.0.0.1 only
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode('utf-8', 'replace')


# --- Ansible runner -----------------------------------------------------------------------------


class PlaybookRun(object):
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data

    @property
    def output(self):
        return self.stdout + self.stderr

    def results(self):
        """Task name -> result for localhost, in play order (needs the JSON callback)."""
        assert self.data is not None, 'no JSON output; stdout was:\n%s\nstderr:\n%s' % (self.stdout, self.stderr)
        out = {}
        for play in self.data['plays']:
            for task in play['tasks']:
                if 'localhost' in task['hosts']:
                    out[task['task']['name']] = task['hosts']['localhost']
        return out

    def __getitem__(self, task_name):
        results = self.results()
        assert task_name in results, 'task %r did not run; ran: %s\n%s' % (task_name, list(results), self.output)
        return results[task_name]


def runner_job(tmp_path, tasks, extravars=None):
    """Run `tasks` on localhost with ansible_runner.run(), as AWX does; returns (runner, stdout)."""
    import ansible_runner
    pdd = tmp_path / 'pdd'
    (pdd / 'project').mkdir(parents=True)
    (pdd / 'inventory').mkdir()
    (pdd / 'env').mkdir()
    (pdd / 'inventory' / 'hosts').write_text(
        'localhost ansible_connection=local ansible_python_interpreter=%s\n' % (VENV_BIN / 'python'))
    (pdd / 'project' / 'play.yml').write_text(yaml.safe_dump(
        [{'name': 'job', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], sort_keys=False))
    (pdd / 'env' / 'extravars').write_text(yaml.safe_dump(extravars or {}))
    (pdd / 'env' / 'extravars').chmod(0o600)
    envvars = {'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'), 'ANSIBLE_NOCOLOR': '1',
               'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.collections'),
               'PATH': '%s:%s' % (VENV_BIN, os.environ['PATH'])}
    runner = ansible_runner.run(private_data_dir=str(pdd), playbook='play.yml', envvars=envvars, quiet=True,
                                timeout=900)
    with open(runner.stdout.name) as handle:
        return runner, handle.read()


def _parse_json_callback(stdout):
    """The JSON callback prints one document; other callbacks may print lines around it."""
    decoder = json.JSONDecoder()
    for index, char in enumerate(stdout):
        if char == '{' and (index == 0 or stdout[index - 1] == '\n'):
            try:
                data, _end = decoder.raw_decode(stdout[index:])
            except ValueError:
                continue
            if isinstance(data, dict) and 'plays' in data:
                return data
    return None


@pytest.fixture
def ansible_playbook(tmp_path):
    """run(tasks, check=False, diff=False, verbosity=0, json_output=True, env=None, extra_vars=None) -> PlaybookRun.

    Secrets belong in extra_vars (a 0600 file passed with -e @file) and are referenced as
    "{{ name }}" in tasks, as a vault would supply them: Ansible prints the source lines
    of a failing task, so a literal secret in the playbook would show up in the output.
    """
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % PYTHON)
    counter = {'n': 0}

    def run(tasks, check=False, diff=False, verbosity=0, json_output=True, env=None, timeout=300, play_vars=None,
            extra_vars=None):
        counter['n'] += 1
        playbook = tmp_path / ('playbook-%d.yml' % counter['n'])
        play = {'name': 'integration', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}
        if play_vars:
            play['vars'] = play_vars
        playbook.write_text(yaml.safe_dump([play], sort_keys=False))
        cmd = [str(VENV_BIN / 'ansible-playbook'), '-i', str(inventory), str(playbook)]
        cmd += ['--check'] if check else []
        cmd += ['--diff'] if diff else []
        cmd += ['-' + 'v' * verbosity] if verbosity else []
        if extra_vars:
            vars_file = tmp_path / ('extra-vars-%d.yml' % counter['n'])
            vars_file.touch(mode=0o600)
            vars_file.write_text(yaml.safe_dump(extra_vars))
            cmd += ['-e', '@%s' % vars_file]
        run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                       ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0',
                       ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'), PATH='%s:%s' % (VENV_BIN, os.environ['PATH']))
        if json_output:
            run_env['ANSIBLE_STDOUT_CALLBACK'] = 'ansible.posix.json'
        run_env.update(env or {})
        proc = subprocess.run(cmd, cwd=str(REPO), env=run_env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        return PlaybookRun(proc, _parse_json_callback(proc.stdout) if json_output else None)

    return run


# --- Status-page receiver ----------------------------------------------------------------------


class Receiver(object):
    def __init__(self, url, api_key):
        self.url = url
        self.api_key = api_key

    def received(self):
        status, data = http_json('GET', self.url + '/_received')
        assert status == 200, data
        return data

    def mutations(self):
        return [r for r in self.received() if r['method'] in ('POST', 'PATCH', 'PUT', 'DELETE')]

    def incidents(self, path, scheme):
        status, data = http_json('GET', self.url + path, headers={'Authorization': '%s %s' % (scheme, self.api_key)})
        assert status == 200, data
        return data


def start_receiver(api_key):
    """Start tests/testbed/receiver.py on a port it picks itself, requiring api_key; returns (process, url)."""
    proc = subprocess.Popen([sys.executable, str(REPO / 'tests' / 'testbed' / 'receiver.py'), '--port', '0'],
                            env=dict(os.environ, RECEIVER_API_KEY=api_key), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    holder = {}

    def read_banner():
        holder['line'] = proc.stdout.readline()
    reader = threading.Thread(target=read_banner, daemon=True)
    reader.start()
    reader.join(15)
    line = holder.get('line') or ''
    if 'listening on' not in line:
        stop_process(proc)
        pytest.fail('receiver did not start: %r' % line)
    url = 'http://' + line.rsplit(' ', 1)[1].strip()
    wait_for(lambda: http_json('GET', url + '/healthz')[0] == 200, 10, what='receiver /healthz')
    return proc, url


def stop_process(proc, grace=5):
    """Terminate a child process; kill it if it is still there after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


@pytest.fixture
def receiver():
    """A private receiver that requires RECEIVER_API_KEY, on a port it picks itself."""
    api_key = 'rk-' + secrets.token_hex(16)
    proc, url = start_receiver(api_key)
    try:
        yield Receiver(url, api_key)
    finally:
        stop_process(proc)


# --- HTTP fixture server for health_check ------------------------------------------------------


class FixtureApp(object):
    """State behind the fixture server: credentials, issued tokens, flap counters, request log."""

    def __init__(self):
        self.email = 'smoke@aishield.example'
        self.password = 'pw-' + secrets.token_hex(12)
        self.token = 'tok-' + secrets.token_hex(20)
        self.refresh_token = 'ref-' + secrets.token_hex(20)
        self.flaps = {}
        self.requests = []
        self.lock = threading.Lock()
        self.url = None


class _FixtureHandler(BaseHTTPRequestHandler):
    app = None  # set per server class
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        return

    def _reply(self, code, payload, content_type='application/json'):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        app = self.app
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        with app.lock:
            app.requests.append({'method': self.command, 'path': self.path,
                                 'authorization': self.headers.get('Authorization')})
        path = parts.path
        if path == '/ok':
            return self._reply(200, {'status': 'ok', 'database': 'ok', 'version': '1.4.0'})
        if path == '/slow':
            time.sleep(int(query.get('ms', ['500'])[0]) / 1000.0)
            return self._reply(200, {'status': 'ok'})
        if path.startswith('/flap/'):
            fails = int(query.get('fails', ['2'])[0])
            with app.lock:
                count = app.flaps[path] = app.flaps.get(path, 0) + 1
            if count <= fails:
                return self._reply(503, {'status': 'starting', 'attempt': count})
            return self._reply(200, {'status': 'ok', 'attempt': count})
        if path == '/mismatch':
            return self._reply(200, {'status': 'ok', 'database': 'down'})
        if path.startswith('/status/'):
            return self._reply(int(path.rsplit('/', 1)[1]), {'status': 'error'})
        if path == '/html':
            return self._reply(200, b'<html><title>AI Shield</title></html>', 'text/html')
        if path == '/login' and self.command == 'POST':
            try:
                body = json.loads(raw or b'{}')
            except ValueError:
                body = {}
            if body.get('email') == app.email and body.get('password') == app.password:
                return self._reply(200, {'id': 'u1', 'access_token': app.token, 'refresh_token': app.refresh_token,
                                         'token_type': 'bearer'})
            return self._reply(401, {'detail': 'invalid credentials'})
        if path == '/me':
            if self.headers.get('Authorization') == 'Bearer ' + app.token:
                return self._reply(200, {'email': app.email, 'is_admin': False})
            return self._reply(401, {'detail': 'not authenticated'})
        if path == '/jobs' or path.startswith('/jobs/'):
            return self._job(path)
        return self._reply(404, {'detail': 'no route %s' % path})

    def _job(self, path):
        """A job API like the scans one: POST /jobs (?fail=1: ends "failed") answers 202; GET /jobs/<id> its status.

        Both need the login's bearer token; GET also needs the job's X-Ticket from the POST answer. A job
        is queued, then running, and ends about 0.5 s after it was created. The id carries its creation
        time and fate, so these routes keep no state.
        """
        app = self.app
        if self.headers.get('Authorization') != 'Bearer ' + app.token:
            return self._reply(401, {'detail': 'not authenticated'})
        if path == '/jobs' and self.command == 'POST':
            fate = 'f' if parse_qs(urlsplit(self.path).query).get('fail') == ['1'] else 'd'
            job_id = 'job-%s-%d-%s' % (fate, int(time.monotonic() * 1000), secrets.token_hex(4))
            return self._reply(202, {'id': job_id, 'status': 'queued', 'ticket': job_ticket(app, job_id)})
        job_id = path[len('/jobs/'):]
        parts = job_id.split('-')
        if self.command != 'GET' or len(parts) != 4 or parts[0] != 'job' or not parts[2].isdigit():
            return self._reply(404, {'detail': 'job %s not found' % job_id})
        if self.headers.get('X-Ticket') != job_ticket(app, job_id):
            return self._reply(403, {'detail': 'wrong ticket for job %s' % job_id})
        age = time.monotonic() - int(parts[2]) / 1000.0
        status = 'queued' if age < 0.2 else 'running' if age < 0.5 else ('failed' if parts[1] == 'f' else 'done')
        return self._reply(200, {'id': job_id, 'status': status})

    do_GET = do_POST = do_PATCH = do_PUT = _handle


def job_ticket(app, job_id):
    """The X-Ticket a job wants, derived from the app's token so the routes need no state."""
    return 'tkt-' + hashlib.sha256((app.token + job_id).encode()).hexdigest()[:24]


@pytest.fixture
def http_fixture():
    """A threaded stdlib server on 127.0.0.1: /ok /slow?ms= /flap/<key>?fails= /mismatch /status/<n> /html /login /me
    /jobs[?fail=1] /jobs/<id>."""
    app = FixtureApp()
    handler = type('Handler', (_FixtureHandler,), {'app': app})
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = 'http://127.0.0.1:%d' % server.server_port
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()


# --- PostgreSQL ----------------------------------------------------------------------------------

POSTGRES_IMAGE = os.environ.get('AISHIELD_POSTGRES_IMAGE', 'aishield/postgres:15')


class Postgres(object):
    """Connection facts for the test server; admin SQL goes through docker exec (local trust, no password)."""

    def __init__(self, container, host, port, user, password):
        self.container = container
        self.host = host
        self.port = port
        self.user = user
        self.password = password

    def psql(self, sql, db='postgres'):
        proc = subprocess.run(['docker', 'exec', '-u', 'postgres', self.container, 'psql', '-X', '-q', '-At',
                               '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def create_database(self, prefix='it'):
        name = '%s_%s' % (prefix, secrets.token_hex(4))
        self.psql('CREATE DATABASE "%s" OWNER "%s"' % (name, self.user))
        return name

    def url(self, db):
        return 'postgresql+psycopg2://%s:%s@%s:%s/%s' % (self.user, self.password, self.host, self.port, db)


@pytest.fixture(scope='session')
def postgres(tmp_path_factory):
    """One PostgreSQL container for the session; tests isolate themselves with create_database()."""
    if subprocess.run(['docker', 'image', 'inspect', POSTGRES_IMAGE], capture_output=True, check=False).returncode != 0:
        pytest.fail('image %s is missing; build the stack images with the test bed scripts (tests/testbed/)'
                    % POSTGRES_IMAGE)
    user, password = 'aishield', 'pg-' + secrets.token_hex(12)
    env_file = tmp_path_factory.mktemp('pg') / 'pg.env'
    env_file.touch(mode=0o600)
    env_file.write_text('POSTGRES_USER=%s\nPOSTGRES_PASSWORD=%s\nPOSTGRES_DB=%s\n' % (user, password, user))
    container = 'aishield-it-pg-' + secrets.token_hex(4)
    try:
        started = subprocess.run(['docker', 'run', '-d', '--rm', '--name', container, '--env-file', str(env_file),
                                  '-p', '127.0.0.1::5432', POSTGRES_IMAGE], capture_output=True, text=True, timeout=120,
                                 check=False)
        assert started.returncode == 0, started.stderr
    finally:
        env_file.unlink()
    # The image's VOLUME (the data directory): an anonymous volume that must go with the container.
    volumes = subprocess.run(['docker', 'inspect', '-f', '{{range .Mounts}}{{.Name}} {{end}}', container],
                             capture_output=True, text=True, timeout=30, check=False).stdout.split()
    try:
        wait_for(lambda: subprocess.run(['docker', 'exec', container, 'pg_isready', '-q', '-h', '127.0.0.1', '-U', user],
                                        capture_output=True, timeout=10, check=False).returncode == 0, 90, 0.5, 'pg_isready')
        mapping = subprocess.run(['docker', 'port', container, '5432/tcp'], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.split()[0]
        host, port = mapping.rsplit(':', 1)
        yield Postgres(container, host, int(port), user, password)
    finally:
        # -v: --rm alone does not remove the volume when rm -f wins the race (one 323 MB volume leaked per run).
        subprocess.run(['docker', 'rm', '-f', '-v', container], capture_output=True, timeout=60, check=False)
    left = [name for name in volumes if subprocess.run(['docker', 'volume', 'inspect', name], capture_output=True,
                                                       timeout=30, check=False).returncode == 0]
    assert not left, 'the session PostgreSQL left its data volume(s) behind: %s' % ', '.join(left)


# --- Throttled relay -----------------------------------------------------------------------------

class ThrottledRelay:
    """127.0.0.1:<port> -> `upstream` (host, port); what upstream sends back passes at most `rate` bytes a second.

    Each connection has two threads; close() ends them all (every socket of the relay is shut).
    """

    def __init__(self, upstream, rate):
        self.upstream, self.rate = upstream, rate
        self.server = socket.create_server(('127.0.0.1', 0))
        self.port = self.server.getsockname()[1]
        self.closed = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _addr = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream, timeout=30)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.rate), daemon=True).start()

    def _pipe(self, source, sink, rate):
        started, sent = time.monotonic(), 0
        try:
            while not self.closed.is_set():
                data = source.recv(64 * 1024)
                if not data:
                    break
                sink.sendall(data)
                sent += len(data)
                if rate:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(min(ahead, 1.0))
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self):
        self.closed.set()
        self.server.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
