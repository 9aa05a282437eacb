# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of roles/monitoring/files/container_exporter.py: its pure functions, and the whole
exporter against a fake Docker engine that listens on a unix socket in tmp_path."""

from __future__ import annotations

import collections
import http.server
import importlib.util
import json
import re
import signal
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

EXPORTER = Path(__file__).resolve().parents[2] / 'roles' / 'monitoring' / 'files' / 'container_exporter.py'


def _load():
    spec = importlib.util.spec_from_file_location('container_exporter', EXPORTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ce = _load()

PROJECT = 'aishield-x'
ID_API = 'a' * 64
ID_WORKER = 'b' * 64
ID_OLD = 'c' * 64


def container_json(cid, name, service, state):
    return {
        'Id': cid,
        'Names': ['/' + name],
        'Image': 'img',
        'State': state,
        'Labels': {ce.PROJECT_LABEL: PROJECT, ce.SERVICE_LABEL: service},
    }


def stats_json(total_usage, usage, cache_stats, limit):
    return {
        'read': '2026-12-06T10:13:25.424355713Z',
        'cpu_stats': {'cpu_usage': {'total_usage': total_usage}},
        'memory_stats': {'usage': usage, 'stats': cache_stats, 'limit': limit},
    }


# --- pure functions --------------------------------------------------------------------------

def test_memory_cgroup_v1_subtracts_total_inactive_file():
    # cgroup v1 reports both keys; the docker CLI subtracts total_inactive_file.
    mem = {'usage': 10000, 'stats': {'inactive_file': 1000, 'total_inactive_file': 3000}, 'limit': 50000}
    assert ce.memory_without_cache(mem) == 7000
    assert ce.parse_stats(stats_json(2500000000, 10000, mem['stats'], 50000)) == ce.Stats(2.5, 7000, 50000)


def test_memory_cgroup_v2_subtracts_inactive_file():
    assert ce.memory_without_cache({'usage': 10000, 'stats': {'inactive_file': 4000, 'anon': 6000}}) == 6000


def test_memory_never_negative_and_without_cache_stats():
    # A cache at or above the usage is not subtracted (as in the CLI): never below 0.
    assert ce.memory_without_cache({'usage': 100, 'stats': {'total_inactive_file': 500}}) == 100
    assert ce.memory_without_cache({'usage': 100}) == 100
    assert ce.memory_without_cache({'usage': 100, 'stats': None}) == 100
    assert ce.memory_without_cache({}) is None
    assert ce.memory_without_cache(None) is None


def test_parse_stats_missing_keys():
    # Memory controller not reported: CPU stays, memory values are None (their series are dropped).
    assert ce.parse_stats({'read': '2026-01-01T00:00:00Z', 'cpu_stats': {'cpu_usage': {'total_usage': 1500000000}},
                           'memory_stats': {}}) == ce.Stats(1.5, None, None)
    assert ce.parse_stats({'read': '2026-01-01T00:00:00Z'}) == ce.Stats(None, None, None)
    assert ce.parse_stats({'read': '2026-01-01T00:00:00Z', 'cpu_stats': [], 'memory_stats': 'x'}) == ce.Stats(None, None, None)
    assert ce.parse_stats([]) is None


def test_parse_stats_of_a_container_that_stopped_is_none():
    # What the engine answers (HTTP 200) for a container that is not running.
    stopped = {'read': '0001-01-01T00:00:00Z', 'cpu_stats': {'cpu_usage': {'total_usage': 0}}, 'memory_stats': {}}
    assert ce.parse_stats(stopped) is None


def test_escape_label_value():
    assert ce.escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert ce.escape_label_value('plain-name_1') == 'plain-name_1'


def test_parse_containers():
    data = [
        container_json(ID_WORKER, 'x-worker-1', 'worker', 'exited'),
        {'Id': ID_API, 'Names': ['/web/db-alias', '/x-api-1'], 'State': 'running', 'Labels': {ce.SERVICE_LABEL: 'api'}},
        {'Id': ID_OLD, 'Names': None, 'State': 'running', 'Labels': None},
        'junk',
    ]
    assert ce.parse_containers(data) == [
        ce.Container(ID_OLD, ID_OLD[:12], '', True),
        ce.Container(ID_API, 'x-api-1', 'api', True),
        ce.Container(ID_WORKER, 'x-worker-1', 'worker', False),
    ]
    with pytest.raises(ce.DockerError):
        ce.parse_containers({'message': 'no'})


def test_list_path_filters_on_the_project_label():
    path, query = ce.list_path('my proj').split('?', 1)
    assert path == '/containers/json'
    params = urllib.parse.parse_qs(query)
    assert params['all'] == ['1']
    assert json.loads(params['filters'][0]) == {'label': ['com.docker.compose.project=my proj']}
    assert ce.stats_path(ID_API) == '/containers/%s/stats?stream=false&one-shot=true' % ID_API


def test_render_expected_service_without_container():
    containers = [ce.Container(ID_API, 'x-api-1', 'api', True), ce.Container(ID_WORKER, 'x-worker-1', 'worker', False)]
    text = ce.render_metrics(PROJECT, ['api', 'db', 'worker', ''], containers,
                             {ID_API: ce.Stats(1.25, 2048, 4096)}, True, 0.5)
    assert text.splitlines() == [
        '# HELP aishield_container_running 1 if the container is running, else 0; '
        'container="" for an expected service without any container.',
        '# TYPE aishield_container_running gauge',
        'aishield_container_running{project="aishield-x",service="api",container="x-api-1"} 1',
        'aishield_container_running{project="aishield-x",service="worker",container="x-worker-1"} 0',
        'aishield_container_running{project="aishield-x",service="db",container=""} 0',
        '# HELP aishield_container_cpu_seconds_total CPU time used by the container in seconds '
        '(cpu_stats.cpu_usage.total_usage).',
        '# TYPE aishield_container_cpu_seconds_total counter',
        'aishield_container_cpu_seconds_total{project="aishield-x",service="api",container="x-api-1"} 1.25',
        '# HELP aishield_container_memory_bytes Memory used by the container without the inactive page cache, '
        'as docker stats shows it.',
        '# TYPE aishield_container_memory_bytes gauge',
        'aishield_container_memory_bytes{project="aishield-x",service="api",container="x-api-1"} 2048',
        '# HELP aishield_container_memory_limit_bytes Memory limit of the container (the host memory when it has none).',
        '# TYPE aishield_container_memory_limit_bytes gauge',
        'aishield_container_memory_limit_bytes{project="aishield-x",service="api",container="x-api-1"} 4096',
        '# HELP aishield_container_exporter_up 1 if the Docker API answered the container list call of this scrape, else 0.',
        '# TYPE aishield_container_exporter_up gauge',
        'aishield_container_exporter_up 1',
        '# HELP aishield_container_exporter_scrape_duration_seconds Time the Docker API calls of this scrape took in seconds.',
        '# TYPE aishield_container_exporter_scrape_duration_seconds gauge',
        'aishield_container_exporter_scrape_duration_seconds 0.5',
    ]
    assert text.endswith('\n')


def test_render_drops_values_the_engine_did_not_report():
    containers = [ce.Container(ID_API, 'x-api-1', 'api', True), ce.Container(ID_WORKER, 'x-worker-1', 'worker', True)]
    text = ce.render_metrics(PROJECT, [], containers, {ID_API: ce.Stats(1.5, None, None), ID_WORKER: None}, True, 0.0)
    assert [line for line in text.splitlines() if not line.startswith(('#', 'aishield_container_exporter_'))] == [
        'aishield_container_running{project="aishield-x",service="api",container="x-api-1"} 1',
        'aishield_container_running{project="aishield-x",service="worker",container="x-worker-1"} 1',
        'aishield_container_cpu_seconds_total{project="aishield-x",service="api",container="x-api-1"} 1.5',
    ]
    assert 'memory' not in text


def test_render_escapes_label_values():
    text = ce.render_metrics('p"q', [], [ce.Container(ID_API, 'n\\1', 'new\nline', False)], {}, True, 0.0)
    assert 'aishield_container_running{project="p\\"q",service="new\\nline",container="n\\\\1"} 0\n' in text


def test_render_when_docker_is_down_has_no_container_series():
    text = ce.render_metrics(PROJECT, ['api', 'db'], [ce.Container(ID_API, 'x-api-1', 'api', True)], {}, False, 0.125)
    assert [line for line in text.splitlines() if not line.startswith('#')] == [
        'aishield_container_exporter_up 0',
        'aishield_container_exporter_scrape_duration_seconds 0.125',
    ]


def test_cli_parsing():
    assert ce.parse_listen('0.0.0.0:9417') == ('0.0.0.0', 9417)
    assert ce.parse_listen('[::1]:80') == ('::1', 80)
    for bad in ('9417', 'host:', 'host:99999', 'host:x'):
        with pytest.raises(ValueError):
            ce.parse_listen(bad)
    assert ce.parse_services('') == []
    assert ce.parse_services(' api, ,worker ') == ['api', 'worker']
    args = ce.build_parser().parse_args(['--project', 'p'])
    assert (args.listen, args.socket, args.services, args.timeout) == ('0.0.0.0:9417', '/var/run/docker.sock', '', 5.0)
    with pytest.raises(SystemExit):
        ce.build_parser().parse_args([])


# --- end to end against a fake Docker engine -------------------------------------------------

class FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers GET /containers/json and GET /containers/ID/stats like the Docker Engine API."""

    daemon_threads = True

    def __init__(self, path, containers, stats, stats_delay=0.0):
        self.containers = containers
        self.stats = stats  # id -> (status, JSON body)
        self.stats_delay = stats_delay
        self.requests = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        super().__init__(str(path), FakeEngineHandler)


class FakeEngineHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        engine = self.server
        engine.requests.append(self.path)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        match = re.fullmatch(r'/containers/([0-9a-f]+)/stats', url.path)
        if url.path == '/containers/json':
            filters = json.loads(query.get('filters', ['{}'])[0])
            if query.get('all') != ['1'] or filters != {'label': ['com.docker.compose.project=' + PROJECT]}:
                self._reply(400, {'message': 'unexpected filters %r' % query})
                return
            self._reply(200, engine.containers)
        elif match and query.get('stream') == ['false']:
            with engine.lock:
                engine.active += 1
                engine.max_active = max(engine.max_active, engine.active)
            # Leave the count before replying: once the client has the reply it may start its next call.
            try:
                time.sleep(engine.stats_delay)
            finally:
                with engine.lock:
                    engine.active -= 1
            status, body = engine.stats.get(match.group(1), (404, {'message': 'No such container'}))
            self._reply(status, body)
        else:
            self._reply(404, {'message': 'page not found'})

    def _reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self):
        return 'unix'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


class Running(object):
    """Serve a server in a daemon thread; stop and close it on exit."""

    def __init__(self, server):
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.server

    def __exit__(self, *exc):
        try:
            self.server.shutdown()
        finally:
            self.server.server_close()
            self.thread.join(timeout=2)


def exporter(socket_path, services=('api', 'db', 'worker')):
    config = ce.Config(str(socket_path), PROJECT, list(services), 1.0)
    return ce.make_server('127.0.0.1', 0, config)


Reply = collections.namedtuple('Reply', ['status', 'content_type', 'text'])


def get(server, path):
    url = 'http://127.0.0.1:%d%s' % (server.server_address[1], path)
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return Reply(response.status, response.headers.get('Content-Type'), response.read().decode())
    except urllib.error.HTTPError as exc:
        try:
            return Reply(exc.code, exc.headers.get('Content-Type'), exc.read().decode())
        finally:
            exc.close()


def samples(text):
    return [line for line in text.splitlines() if line and not line.startswith('#')]


def without_duration(lines):
    rest = [line for line in lines if not line.startswith('aishield_container_exporter_scrape_duration_seconds ')]
    durations = [line for line in lines if line not in rest]
    assert len(durations) == 1, durations
    assert 0 <= float(durations[0].split(' ')[1]) < 3, durations
    return rest


def standard_engine(path, **kwargs):
    containers = [
        container_json(ID_API, 'x-api-1', 'api', 'running'),
        container_json(ID_WORKER, 'x-worker-1', 'worker', 'running'),
        container_json(ID_OLD, 'x-migrate-1', 'migrate', 'exited'),
    ]
    stats = {
        # cgroup v1 shape: both keys, total_inactive_file wins.
        ID_API: (200, stats_json(3000000000, 50000000, {'inactive_file': 1, 'total_inactive_file': 10000000}, 1 << 30)),
        # cgroup v2 shape.
        ID_WORKER: (200, stats_json(123456789, 9000, {'inactive_file': 1000}, 2048000)),
        ID_OLD: (500, {'message': 'must not be asked: not running'}),
    }
    return FakeEngine(path, containers, stats, **kwargs)


def test_end_to_end_metrics(tmp_path):
    sock = tmp_path / 'docker.sock'
    with Running(standard_engine(sock)) as engine, Running(exporter(sock)) as server:
        reply = get(server, '/metrics')
    status, content_type, text = reply
    assert status == 200
    assert content_type == 'text/plain; version=0.0.4; charset=utf-8'
    assert '# TYPE aishield_container_cpu_seconds_total counter\n' in text
    assert '# TYPE aishield_container_running gauge\n' in text
    labels_api = '{project="aishield-x",service="api",container="x-api-1"}'
    labels_worker = '{project="aishield-x",service="worker",container="x-worker-1"}'
    assert without_duration(samples(text)) == [
        'aishield_container_running' + labels_api + ' 1',
        'aishield_container_running{project="aishield-x",service="migrate",container="x-migrate-1"} 0',
        'aishield_container_running' + labels_worker + ' 1',
        'aishield_container_running{project="aishield-x",service="db",container=""} 0',
        'aishield_container_cpu_seconds_total' + labels_api + ' 3.0',
        'aishield_container_cpu_seconds_total' + labels_worker + ' 0.123456789',
        'aishield_container_memory_bytes' + labels_api + ' 40000000',
        'aishield_container_memory_bytes' + labels_worker + ' 8000',
        'aishield_container_memory_limit_bytes' + labels_api + ' 1073741824',
        'aishield_container_memory_limit_bytes' + labels_worker + ' 2048000',
        'aishield_container_exporter_up 1',
    ]
    # One list call, then stats for the running containers only.
    assert engine.requests[0].startswith('/containers/json?')
    assert sorted(engine.requests[1:]) == sorted(ce.stats_path(cid) for cid in (ID_API, ID_WORKER))


def test_each_scrape_asks_docker_again(tmp_path):
    sock = tmp_path / 'docker.sock'
    with Running(standard_engine(sock)) as engine, Running(exporter(sock)) as server:
        get(server, '/metrics')
        engine.containers = engine.containers[:1]
        text = get(server, '/metrics').text
    assert 'container="x-worker-1"' not in text
    assert 'aishield_container_running{project="aishield-x",service="worker",container=""} 0\n' in text
    assert len([p for p in engine.requests if p.startswith('/containers/json')]) == 2


def test_docker_socket_missing(tmp_path, capsys):
    with Running(exporter(tmp_path / 'nothing-here.sock')) as server:
        reply = get(server, '/metrics')
    status, text = reply.status, reply.text
    assert status == 200
    assert without_duration(samples(text)) == ['aishield_container_exporter_up 0']
    assert 'container list' in capsys.readouterr().err


def test_docker_list_error_status(tmp_path):
    sock = tmp_path / 'docker.sock'
    engine = standard_engine(sock)
    with Running(engine), Running(ce.make_server('127.0.0.1', 0, ce.Config(str(sock), 'other', ['api'], 1.0))) as server:
        # The fake engine answers 400 for any other project's filter.
        reply = get(server, '/metrics')
    status, text = reply.status, reply.text
    assert status == 200
    assert without_duration(samples(text)) == ['aishield_container_exporter_up 0']


def test_stats_404_drops_only_that_container(tmp_path, capsys):
    sock = tmp_path / 'docker.sock'
    engine = standard_engine(sock)
    del engine.stats[ID_WORKER]  # removed between the list and the stats call: 404
    with Running(engine), Running(exporter(sock)) as server:
        reply = get(server, '/metrics')
    status, text = reply.status, reply.text
    assert status == 200
    lines = samples(text)
    assert 'aishield_container_running{project="aishield-x",service="worker",container="x-worker-1"} 1' in lines
    assert [line for line in lines if 'x-worker-1' in line and 'running' not in line] == []
    for metric in ('cpu_seconds_total', 'memory_bytes', 'memory_limit_bytes'):
        assert len([line for line in lines if line.startswith('aishield_container_%s{' % metric)]) == 1
        assert 'aishield_container_%s{project="aishield-x",service="api",container="x-api-1"} ' % metric in text
    assert 'aishield_container_exporter_up 1' in lines
    assert 'x-worker-1' in capsys.readouterr().err


def test_stats_calls_are_concurrent_and_bounded(tmp_path):
    sock = tmp_path / 'docker.sock'
    ids = ['%064x' % n for n in range(1, 11)]
    containers = [container_json(cid, 'c%d' % n, 's%d' % n, 'running') for n, cid in enumerate(ids)]
    stats = dict((cid, (200, stats_json(10 ** 9, 100, {}, 1000))) for cid in ids)
    engine = FakeEngine(sock, containers, stats, stats_delay=0.03)
    with Running(engine), Running(exporter(sock, services=())) as server:
        text = get(server, '/metrics').text
    assert len([line for line in samples(text) if line.startswith('aishield_container_cpu_seconds_total{')]) == 10
    assert 1 < engine.max_active <= ce.MAX_STATS_WORKERS


def test_other_paths(tmp_path):
    with Running(exporter(tmp_path / 'nothing-here.sock')) as server:
        assert get(server, '/nope')[0] == 404
        assert get(server, '/metrics/extra')[0] == 404
        reply = get(server, '/')
    status, text = reply.status, reply.text
    assert status == 200 and '/metrics' in text


def test_sigterm_stops_the_exporter(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(EXPORTER), '--listen', '127.0.0.1:0', '--project', PROJECT,
         '--socket', str(tmp_path / 'nothing-here.sock'), '--services', 'api'],
        stderr=subprocess.PIPE, text=True)
    try:
        assert 'serving project aishield-x' in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=3) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=3)
        proc.stderr.close()
