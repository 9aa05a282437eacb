# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Prometheus exporter for the containers of one Docker Compose project.

Why this exists: the usual tool, cAdvisor, needs host mounts (/sys, /dev/disk,
/var/lib/docker, the cgroup tree) and privileges that the test bed does not
give it, and it exports hundreds of series per container that the alert rules
never read. This exporter is the small substitute: it asks the Docker Engine API
over its unix socket (mounted read-only) about the containers that carry the
label ``com.docker.compose.project=<project>`` and serves what it learns on
GET /metrics in the Prometheus text format 0.0.4. It uses the Python 3.9+
standard library only, so it runs as ``python3 /container_exporter.py ...`` in a
plain python3 image.

Every scrape queries Docker afresh (no cache). Metrics, all labelled with
``project``, ``service`` (label ``com.docker.compose.service``) and
``container`` (the name without its leading slash):

aishield_container_running (gauge)
    1 if the container's state is "running", else 0; one series per container,
    stopped ones included. Each service named in --services that has no
    container at all gets one series with container="" and value 0, so the
    "service down" alert also fires when the container is gone, not only when
    it is stopped.
aishield_container_cpu_seconds_total (counter)
    CPU time used, cpu_stats.cpu_usage.total_usage / 1e9 (running containers).
aishield_container_memory_bytes (gauge)
    memory_stats.usage minus the page cache the docker CLI subtracts too
    (stats.total_inactive_file on cgroup v1, stats.inactive_file on cgroup v2),
    so it matches the MEM USAGE column of ``docker stats``.
aishield_container_memory_limit_bytes (gauge)
    memory_stats.limit (the host's memory when the container has no limit).

and, without container labels:

aishield_container_exporter_up (gauge)
    1 when the Docker API answered the container list, else 0. At 0 no
    container series are served at all (not even running=0 for the expected
    services: the exporter cannot know their state); the AIShieldMonitoringTargetDown
    rule fires on it.
aishield_container_exporter_scrape_duration_seconds (gauge)
    How long the Docker queries of this scrape took.

A stats call that fails for one container (it stopped or was removed between
the list and the stats call) drops only that container's CPU and memory series.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import http.server
import json
import math
import signal
import socket
import sys
import threading
import time
import urllib.parse

PROJECT_LABEL = 'com.docker.compose.project'
SERVICE_LABEL = 'com.docker.compose.service'
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
# At most this many stats calls run at once in one scrape.
MAX_STATS_WORKERS = 4
# Docker answers a stats call for a container that is not running with this "read" time.
ZERO_TIME_PREFIX = '0001-01-01'

Container = collections.namedtuple('Container', ['id', 'name', 'service', 'running'])
Stats = collections.namedtuple('Stats', ['cpu_seconds', 'memory_bytes', 'memory_limit_bytes'])


class DockerError(Exception):
    """A Docker API call failed: no answer, an HTTP error status or a body that is not JSON."""


# ---------------------------------------------------------------------------
# Pure functions (no I/O): unit-tested directly.
# ---------------------------------------------------------------------------

def list_path(project):
    """Return the API path that lists all containers (running or not) of the compose project."""
    filters = json.dumps({'label': ['%s=%s' % (PROJECT_LABEL, project)]}, separators=(',', ':'))
    return '/containers/json?' + urllib.parse.urlencode({'all': '1', 'filters': filters})


def stats_path(container_id):
    """Return the API path of one non-streaming stats sample of a container."""
    return '/containers/%s/stats?stream=false&one-shot=true' % urllib.parse.quote(container_id, safe='')


def container_name(names, fallback):
    """Return the container's name without the leading slash.

    Legacy links add names like "/web/db" to the list; the container's own name has no
    other slash, so prefer that one.
    """
    names = [n for n in (names or []) if isinstance(n, str) and n]
    for name in names:
        stripped = name[1:] if name.startswith('/') else name
        if '/' not in stripped:
            return stripped
    if names:
        return names[0][1:] if names[0].startswith('/') else names[0]
    return fallback


def parse_containers(data):
    """Turn the JSON list of GET /containers/json into Container records, sorted by service and name."""
    if not isinstance(data, list):
        raise DockerError('container list is not a JSON array')
    records = []
    for item in data:
        if not isinstance(item, dict) or not item.get('Id'):
            continue
        labels = item.get('Labels') or {}
        records.append(Container(
            id=item['Id'],
            name=container_name(item.get('Names'), item['Id'][:12]),
            service=str(labels.get(SERVICE_LABEL, '')),
            running=item.get('State') == 'running',
        ))
    records.sort(key=lambda c: (c.service, c.name, c.id))
    return records


def _number(value):
    """Return value if it is a real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def memory_without_cache(memory_stats):
    """Return memory usage minus the inactive page cache, like the docker CLI computes it.

    cgroup v1 reports both inactive_file (this cgroup) and total_inactive_file (with its
    children); the CLI prefers the latter. cgroup v2 only has inactive_file. As in the CLI
    the cache is only subtracted when it is below the usage, so the result is never negative.
    Returns None when the usage is missing (for example: the container is not running).
    """
    if not isinstance(memory_stats, dict):
        return None
    usage = _number(memory_stats.get('usage'))
    if usage is None:
        return None
    stats = memory_stats.get('stats')
    if not isinstance(stats, dict):
        stats = {}
    cache = _number(stats.get('total_inactive_file'))
    if cache is None:
        cache = _number(stats.get('inactive_file'))
    if cache is not None and 0 <= cache < usage:
        return usage - cache
    return max(usage, 0)


def parse_stats(stats):
    """Turn the JSON of one stats call into Stats(cpu_seconds, memory_bytes, memory_limit_bytes).

    A value the engine did not report is None. Returns None when the sample holds no data at
    all: Docker answers 200 with a zero "read" time and empty stats for a container that
    stopped between the list call and the stats call.
    """
    if not isinstance(stats, dict):
        return None
    if str(stats.get('read', '')).startswith(ZERO_TIME_PREFIX):
        return None
    cpu = None
    cpu_stats = stats.get('cpu_stats')
    cpu_usage = cpu_stats.get('cpu_usage') if isinstance(cpu_stats, dict) else None
    if isinstance(cpu_usage, dict):
        total = _number(cpu_usage.get('total_usage'))
        if total is not None:
            cpu = total / 1e9
    memory_stats = stats.get('memory_stats')
    limit = None
    if isinstance(memory_stats, dict):
        limit = _number(memory_stats.get('limit'))
    return Stats(cpu, memory_without_cache(memory_stats), limit)


def escape_label_value(value):
    """Escape a label value for the text format: backslash, double quote and line feed."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def format_value(value):
    """Format a sample value: integers as integers, floats in Python's shortest round-trip form."""
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    return repr(float(value))


def _labels(pairs):
    return '{' + ','.join('%s="%s"' % (k, escape_label_value(v)) for k, v in pairs) + '}'


METRICS = (
    ('aishield_container_running', 'gauge',
     '1 if the container is running, else 0; container="" for an expected service without any container.'),
    ('aishield_container_cpu_seconds_total', 'counter',
     'CPU time used by the container in seconds (cpu_stats.cpu_usage.total_usage).'),
    ('aishield_container_memory_bytes', 'gauge',
     'Memory used by the container without the inactive page cache, as docker stats shows it.'),
    ('aishield_container_memory_limit_bytes', 'gauge',
     'Memory limit of the container (the host memory when it has none).'),
    ('aishield_container_exporter_up', 'gauge',
     '1 if the Docker API answered the container list call of this scrape, else 0.'),
    ('aishield_container_exporter_scrape_duration_seconds', 'gauge',
     'Time the Docker API calls of this scrape took in seconds.'),
)


def render_metrics(project, expected_services, containers, stats_by_id, up, duration):
    """Render one scrape in the Prometheus text format 0.0.4.

    containers: Container records (ignored when up is false); stats_by_id: container id ->
    Stats (a missing or None entry drops that container's CPU and memory series);
    expected_services: service names that must have a container.
    Families without samples are left out.
    """
    samples = dict((name, []) for name, _type, _help in METRICS)
    if up:
        seen = set()
        for c in containers:
            seen.add(c.service)
            labels = _labels((('project', project), ('service', c.service), ('container', c.name)))
            samples['aishield_container_running'].append((labels, 1 if c.running else 0))
            st = stats_by_id.get(c.id) if c.running else None
            if st is None:
                continue
            for metric, value in (('aishield_container_cpu_seconds_total', st.cpu_seconds),
                                  ('aishield_container_memory_bytes', st.memory_bytes),
                                  ('aishield_container_memory_limit_bytes', st.memory_limit_bytes)):
                if value is not None:
                    samples[metric].append((labels, value))
        for service in sorted(set(s for s in expected_services if s) - seen):
            labels = _labels((('project', project), ('service', service), ('container', '')))
            samples['aishield_container_running'].append((labels, 0))
    samples['aishield_container_exporter_up'].append(('', 1 if up else 0))
    samples['aishield_container_exporter_scrape_duration_seconds'].append(('', float(duration)))

    lines = []
    for name, metric_type, help_text in METRICS:
        if not samples[name]:
            continue
        lines.append('# HELP %s %s' % (name, help_text.replace('\\', '\\\\').replace('\n', '\\n')))
        lines.append('# TYPE %s %s' % (name, metric_type))
        for labels, value in samples[name]:
            lines.append('%s%s %s' % (name, labels, format_value(value)))
    return '\n'.join(lines) + '\n'


def parse_listen(text):
    """Parse HOST:PORT (IPv6 as [::1]:9417) into (host, port)."""
    host, sep, port = text.rpartition(':')
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError('expected HOST:PORT, got %r' % text)
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    return host, int(port)


def parse_services(text):
    """Parse the comma separated --services list; empty items are dropped."""
    return [s.strip() for s in (text or '').split(',') if s.strip()]


# ---------------------------------------------------------------------------
# I/O: the Docker API over its unix socket, the scrape and the HTTP server.
# ---------------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection that talks to a unix stream socket instead of TCP."""

    def __init__(self, socket_path, timeout):
        super().__init__('localhost', timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def docker_get(socket_path, path, timeout):
    """GET path from the Docker API and return the decoded JSON; raise DockerError on any failure."""
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request('GET', path, headers={'Accept': 'application/json'})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise DockerError('GET %s: %s' % (path, str(exc) or type(exc).__name__)) from exc
    finally:
        conn.close()
    if response.status != 200:
        message = body[:200].decode('utf-8', 'replace').strip()
        raise DockerError('GET %s: HTTP %d %s' % (path, response.status, message))
    try:
        return json.loads(body.decode('utf-8'))
    except ValueError as exc:
        raise DockerError('GET %s: invalid JSON: %s' % (path, exc)) from exc


def log(message):
    sys.stderr.write('container_exporter: %s\n' % message)
    sys.stderr.flush()


class Config(object):
    def __init__(self, socket_path, project, services, timeout):
        self.socket_path = socket_path
        self.project = project
        self.services = list(services)
        self.timeout = timeout


def _fetch_stats(config, container):
    try:
        stats = parse_stats(docker_get(config.socket_path, stats_path(container.id), config.timeout))
    except DockerError as exc:
        log('stats of %s: %s' % (container.name, exc))
        return None
    if stats is None:
        log('stats of %s: no sample (the container is not running any more)' % container.name)
    return stats


def fetch_all_stats(config, running):
    """Return container id -> Stats or None, with at most MAX_STATS_WORKERS calls at once.

    Plain daemon threads rather than a ThreadPoolExecutor: the interpreter waits for executor
    threads at exit, and SIGTERM must not wait for a slow stats call.
    """
    results = {}
    pending = list(running)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                container = pending.pop(0)
            results[container.id] = _fetch_stats(config, container)

    threads = [threading.Thread(target=worker, daemon=True) for _n in range(min(MAX_STATS_WORKERS, len(pending)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def scrape(config):
    """Query Docker once and return the metrics text. Never raises on a Docker error."""
    start = time.monotonic()
    containers = []
    try:
        containers = parse_containers(docker_get(config.socket_path, list_path(config.project), config.timeout))
        up = True
    except DockerError as exc:
        log('container list: %s' % exc)
        up = False
    stats_by_id = fetch_all_stats(config, [c for c in containers if c.running])
    duration = time.monotonic() - start
    return render_metrics(config.project, config.services, containers, stats_by_id, up, duration)


INDEX = b'<html><head><title>container exporter</title></head><body>' \
        b'<p>Docker Compose container exporter. Metrics: <a href="/metrics">/metrics</a></p></body></html>\n'


class Handler(http.server.BaseHTTPRequestHandler):
    """GET /metrics: a fresh scrape; GET /: a pointer to it; anything else: 404."""

    config = None  # set on the subclass that make_server creates
    server_version = 'aishield-container-exporter'

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == '/metrics':
            try:
                body = scrape(self.config).encode('utf-8')
            except Exception as exc:  # pylint: disable=broad-exception-caught  # a bug costs one scrape, not the server
                log('scrape failed: %r' % exc)
                self.send_error(500, 'scrape failed')
                return
            self._send(200, CONTENT_TYPE, body)
        elif path == '/':
            self._send(200, 'text/html; charset=utf-8', INDEX)
        else:
            self._send(404, 'text/plain; charset=utf-8', b'not found, try /metrics\n')

    def _send(self, status, content_type, body):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code='-', size='-'):
        pass  # no access log: one line per scrape error is what stderr gets


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def make_server(host, port, config):
    """Return a ThreadingHTTPServer bound to host:port that serves config's project."""
    handler = type('BoundHandler', (Handler,), {'config': config})
    server_class = Server
    if ':' in host:
        server_class = type('Server6', (Server,), {'address_family': socket.AF_INET6})
    return server_class((host, port), handler)


def build_parser():
    parser = argparse.ArgumentParser(
        description='Prometheus exporter for the containers of one Docker Compose project.')
    parser.add_argument('--listen', default='0.0.0.0:9417', help='HOST:PORT to serve /metrics on (default: %(default)s)')
    parser.add_argument('--socket', default='/var/run/docker.sock', help='Docker Engine API socket (default: %(default)s)')
    parser.add_argument('--project', required=True, help='compose project, the value of label %s' % PROJECT_LABEL)
    parser.add_argument('--services', default='', help='comma separated services that are expected to run (may be empty)')
    parser.add_argument('--timeout', type=float, default=5.0, help='seconds for each Docker API call (default: %(default)s)')
    return parser


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        parser.error(str(exc))
    if args.timeout <= 0:
        parser.error('--timeout must be positive')
    config = Config(args.socket, args.project, parse_services(args.services), args.timeout)
    server = make_server(host, port, config)
    # serve_forever runs in this thread, so the handler cannot call server.shutdown() (it would
    # wait for itself); raising SystemExit ends serve_forever at once instead.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    log('serving project %s on http://%s:%d/metrics (docker socket %s)'
        % (config.project, host, server.server_address[1], config.socket_path))
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
