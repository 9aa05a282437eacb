# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Docker Engine API client: its pure helpers, and its requests against a fake daemon on a unix socket."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._docker_api import (
    DEFAULT_SOCKET,
    DockerApi,
    DockerApiError,
    _error_text,
    _name_and_tag,
    registry_auth_header,
    socket_path,
    split_json_stream,
)

DA = 'sha256:' + 'a' * 64


# --- pure helpers -----------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('', []),
    ('  \r\n', []),
    ('{"status": "Pulling"}', [{'status': 'Pulling'}]),
    ('{"a": 1}\r\n{"b": 2}\n', [{'a': 1}, {'b': 2}]),
    ('{"a": 1}{"b": [2, 3]}', [{'a': 1}, {'b': [2, 3]}]),
    ('\t{"a": "x\\ny"}\n\n  {"error": "denied"}  ', [{'a': 'x\ny'}, {'error': 'denied'}]),
])
def test_split_json_stream(text, expected):
    assert split_json_stream(text) == expected


def test_split_json_stream_refuses_garbage():
    with pytest.raises(ValueError):
        split_json_stream('{"a": 1}\nnot json')


def decode(header):
    return json.loads(base64.urlsafe_b64decode(header.encode()))


@pytest.mark.parametrize('username, password, registry, expected', [
    (None, None, None, {}),
    ('', 'ignored', 'ghcr.io', {}),
    ('AWS', 'tok', None, {'username': 'AWS', 'password': 'tok'}),
    ('u', None, 'ghcr.io', {'username': 'u', 'password': '', 'serveraddress': 'ghcr.io'}),
    ('u', 'p+/=?', 'r.io:5000', {'username': 'u', 'password': 'p+/=?', 'serveraddress': 'r.io:5000'}),
])
def test_registry_auth_header(username, password, registry, expected):
    header = registry_auth_header(username, password, registry)
    assert decode(header) == expected
    assert '+' not in header and '/' not in header  # URL-safe alphabet


def test_registry_auth_header_anonymous_is_empty_object():
    assert registry_auth_header(None, None) == base64.urlsafe_b64encode(b'{}').decode()


@pytest.mark.parametrize('docker_host, expected', [
    (None, DEFAULT_SOCKET),
    ('', DEFAULT_SOCKET),
    ('unix:///var/run/docker.sock', '/var/run/docker.sock'),
    ('unix:///run/user/1000/docker.sock', '/run/user/1000/docker.sock'),
    ('/tmp/d.sock', '/tmp/d.sock'),
])
def test_socket_path(docker_host, expected):
    assert socket_path(docker_host) == expected


@pytest.mark.parametrize('docker_host', ['tcp://10.0.0.1:2375', 'ssh://deploy@host', 'unix://relative.sock',
                                         'npipe:////./pipe/docker_engine', 'docker.sock'])
def test_socket_path_refuses_remote_daemons(docker_host):
    with pytest.raises(DockerApiError, match='is not a unix socket; the deploy engine talks to the local daemon only'):
        socket_path(docker_host)


@pytest.mark.parametrize('ref, expected', [
    ('nginx', ('nginx', 'latest')),
    ('nginx:1.25', ('nginx', '1.25')),
    ('localhost:5000/app', ('localhost:5000/app', 'latest')),
    ('localhost:5000/app:v1', ('localhost:5000/app', 'v1')),
    ('ghcr.io/o/app@' + DA, ('ghcr.io/o/app', DA)),
    ('ghcr.io/o/app:v1@' + DA, ('ghcr.io/o/app', DA)),  # the digest wins over the tag
    ('r.io:443/o/app@' + DA, ('r.io:443/o/app', DA)),
])
def test_name_and_tag(ref, expected):
    assert _name_and_tag(ref) == expected


@pytest.mark.parametrize('raw, status, expected', [
    ('{"message": "No such image: x"}', 404, 'No such image: x'),
    ('{"message": ""}', 500, 'HTTP 500 from the Docker daemon'),
    ('[1]', 500, '[1]'),
    ('  plain text\n', 502, 'plain text'),
    ('', 503, 'HTTP 503 from the Docker daemon'),
    ('x' * 400, 500, 'x' * 300),
])
def test_error_text(raw, status, expected):
    assert _error_text(raw, status) == expected


# --- requests against a fake daemon ------------------------------------------------------------

class FakeDaemon:
    """A unix-socket HTTP server answering from `routes`: {(method, path): (status, body text)}."""

    def __init__(self, path, routes):
        self.routes = routes
        self.requests = []
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length).decode() if length else None
                url = urlsplit(self.path)
                daemon.requests.append({'method': self.command, 'path': url.path, 'query': parse_qs(url.query),
                                        'headers': dict(self.headers), 'body': json.loads(body) if body else None})
                status, text = daemon.routes.get((self.command, url.path), (404, '{"message": "page not found"}'))
                if isinstance(text, list):
                    return self._chunked(status, text)
                data = text.encode()
                self.send_response(status)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                if data:  # a 204 client has gone already: writing even b'' breaks the pipe
                    self.wfile.write(data)

            def _chunked(self, status, pieces):
                # As the daemon streams a pull: HTTP/1.1 chunks, each sent when the piece before it was read
                # (a callable piece waits for the client's cue).
                self.protocol_version = 'HTTP/1.1'
                self.send_response(status)
                self.send_header('Transfer-Encoding', 'chunked')
                self.end_headers()
                for piece in pieces:
                    if callable(piece):
                        piece()
                        continue
                    data = piece.encode()
                    self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b'0\r\n\r\n')
                self.close_connection = True

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = socketserver.UnixStreamServer(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sock_dir():
    # A short directory: a unix socket path must fit in 108 bytes, tmp_path may not.
    path = tempfile.mkdtemp(prefix='dkr', dir='/tmp')
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(sock_dir):
    made = FakeDaemon(os.path.join(sock_dir, 'docker.sock'), {})
    yield made
    made.close()


def api_for(daemon):
    return DockerApi('unix://' + daemon.server.server_address, timeout=5)


def test_request_decodes_json_and_sends_query_and_body(daemon):
    daemon.routes[('POST', '/things')] = (201, '{"Id": "abc"}')
    assert api_for(daemon).request('POST', '/things', query={'a': '1 2'}, body={'Cmd': ['x']}) == {'Id': 'abc'}
    sent = daemon.requests[-1]
    assert (sent['method'], sent['path'], sent['query'], sent['body']) == ('POST', '/things', {'a': ['1 2']}, {'Cmd': ['x']})
    assert sent['headers']['Content-Type'] == 'application/json'


@pytest.mark.parametrize('status, text, expected', [
    (204, '', None),
    (200, 'OK', 'OK'),
    (200, '[1, 2]', [1, 2]),
])
def test_request_bodies(daemon, status, text, expected):
    daemon.routes[('GET', '/_ping')] = (status, text)
    assert api_for(daemon).request('GET', '/_ping') == expected


def test_request_error_carries_status_and_message(daemon):
    daemon.routes[('GET', '/containers/x/json')] = (409, '{"message": "container x is restarting"}')
    with pytest.raises(DockerApiError) as caught:
        api_for(daemon).request('GET', '/containers/x/json')
    assert (str(caught.value), caught.value.status) == ('container x is restarting', 409)


def test_request_without_daemon(sock_dir):
    api = DockerApi(os.path.join(sock_dir, 'missing.sock'))
    with pytest.raises(DockerApiError) as caught:
        api.request('GET', '/version')
    assert str(caught.value).startswith('Cannot connect to the Docker daemon at unix://%s/missing.sock (GET /version): '
                                        % sock_dir)
    assert caught.value.status is None


def test_image_absent_is_none_and_other_errors_raise(daemon):
    api = api_for(daemon)
    assert api.image('ghcr.io/o/app:v1') is None
    assert daemon.requests[-1]['path'] == '/images/ghcr.io/o/app:v1/json'
    daemon.routes[('GET', '/images/app/json')] = (500, '{"message": "boom"}')
    with pytest.raises(DockerApiError, match='boom'):
        api.image('app')
    daemon.routes[('GET', '/images/app/json')] = (200, '{"Id": "sha256:1"}')
    assert api.image('app') == {'Id': 'sha256:1'}


def test_pull_sends_name_tag_and_credentials(daemon):
    daemon.routes[('POST', '/images/create')] = (200, '{"status": "Pulling"}\r\n{"status": "Downloaded newer image"}\r\n')
    header = registry_auth_header('u', 'p', 'ghcr.io')
    api_for(daemon).pull('ghcr.io/o/app:v1@' + DA, header)
    sent = daemon.requests[-1]
    assert sent['query'] == {'fromImage': ['ghcr.io/o/app'], 'tag': [DA]}
    assert sent['headers']['X-Registry-Auth'] == header


def test_pull_raises_the_registry_message_from_the_stream(daemon):
    # The daemon answers 200 and reports a failed pull inside the progress stream.
    daemon.routes[('POST', '/images/create')] = (200, '{"status": "Pulling"}\n{"error": "manifest unknown", '
                                                      '"errorDetail": {"message": "manifest unknown"}}\n')
    with pytest.raises(DockerApiError, match='^manifest unknown$'):
        api_for(daemon).pull('app:v1', registry_auth_header(None, None))


def test_pull_hands_each_event_over_while_the_reply_still_streams(daemon):
    # The second chunk is sent only once the client has seen the first event: a pull that read the
    # whole reply before handing events over would hit its 5 s read timeout here and fail.
    seen_first = threading.Event()
    daemon.routes[('POST', '/images/create')] = (200, [
        '{"status": "Downloading", "id": "l1", "progressDetail": {"current": 1, "total": 4}}\r\n',
        lambda: seen_first.wait(10),
        '{"status": "Downloading", "id": "l1", ',  # one event split across two chunks
        '"progressDetail": {"current": 4, "total": 4}}\r\n{"status": "Pull complete", "id": "l1"}\r\n'])
    events = []

    def on_event(event):
        events.append(event)
        seen_first.set()
    api_for(daemon).pull('app:v1', registry_auth_header(None, None), on_event=on_event)
    assert [(e['status'], (e.get('progressDetail') or {}).get('current')) for e in events] == [
        ('Downloading', 1), ('Downloading', 4), ('Pull complete', None)]


def test_pull_stream_cut_inside_an_event_is_an_error(daemon):
    daemon.routes[('POST', '/images/create')] = (200, ['{"status": "Pulling"}\n{"status": "Downlo'])
    with pytest.raises(DockerApiError, match='ended inside an object'):
        api_for(daemon).pull('app:v1', registry_auth_header(None, None))


def test_pull_refused_by_the_daemon_carries_its_message(daemon):
    daemon.routes[('POST', '/images/create')] = (404, '{"message": "pull access denied for app"}')
    with pytest.raises(DockerApiError, match='pull access denied for app') as caught:
        api_for(daemon).pull('app:v1', registry_auth_header(None, None))
    assert caught.value.status == 404


def test_distribution_returns_the_descriptor_digest(daemon):
    daemon.routes[('GET', '/distribution/ghcr.io/o/app:v1/json')] = (200, json.dumps({'Descriptor': {'digest': DA}}))
    daemon.routes[('GET', '/distribution/ghcr.io/o/bare:v1/json')] = (200, '{}')
    api = api_for(daemon)
    assert api.distribution('ghcr.io/o/app:v1', 'hdr') == DA
    assert daemon.requests[-1]['headers']['X-Registry-Auth'] == 'hdr'
    assert api.distribution('ghcr.io/o/bare:v1', 'hdr') is None


def test_containers_filters_by_label(daemon):
    daemon.routes[('GET', '/containers/json')] = (200, '[{"Id": "c1"}]')
    api = api_for(daemon)
    assert api.containers({'com.docker.compose.project': 'aishield', 'marker': None}, all_states=True) == [{'Id': 'c1'}]
    query = daemon.requests[-1]['query']
    assert json.loads(query['filters'][0]) == {'label': ['com.docker.compose.project=aishield', 'marker']}
    assert query['all'] == ['1']
    daemon.routes[('GET', '/containers/json')] = (200, '')
    assert api.containers({'x': 'y'}) == []
    assert 'all' not in daemon.requests[-1]['query']


def test_stop_and_remove(daemon):
    daemon.routes[('POST', '/containers/c1/stop')] = (204, '')
    daemon.routes[('DELETE', '/containers/c1')] = (204, '')
    api = api_for(daemon)
    api.stop('c1', timeout=7)
    assert daemon.requests[-1]['query'] == {'t': ['7']}
    api.stop('c1')
    assert daemon.requests[-1]['query'] == {}  # the container's own grace period
    api.remove('c1', force=True)
    assert (daemon.requests[-1]['method'], daemon.requests[-1]['query']) == ('DELETE', {'force': ['1']})
    api.remove('gone')  # 404: already removed is fine
    daemon.routes[('DELETE', '/containers/busy')] = (409, '{"message": "container is running"}')
    with pytest.raises(DockerApiError, match='container is running'):
        api.remove('busy')


def test_exec_status_returns_the_exit_code(daemon):
    daemon.routes[('POST', '/containers/c1/exec')] = (201, '{"Id": "e1"}')
    daemon.routes[('POST', '/exec/e1/start')] = (200, '')
    daemon.routes[('GET', '/exec/e1/json')] = (200, '{"Running": false, "ExitCode": 3}')
    assert api_for(daemon).exec_status('c1', ['pg_isready', '-q']) == 3
    create, start = daemon.requests[0], daemon.requests[1]
    assert create['body'] == {'Cmd': ['pg_isready', '-q'], 'AttachStdout': False, 'AttachStderr': False}
    assert start['body'] == {'Detach': True, 'Tty': False}


def test_exec_status_gives_up_after_timeout(daemon):
    daemon.routes[('POST', '/containers/c1/exec')] = (201, '{"Id": "e1"}')
    daemon.routes[('POST', '/exec/e1/start')] = (200, '')
    daemon.routes[('GET', '/exec/e1/json')] = (200, '{"Running": true, "ExitCode": null}')
    assert api_for(daemon).exec_status('c1', ['sleep', '60'], timeout=0.2, poll=0.01) is None
    assert len([r for r in daemon.requests if r['path'] == '/exec/e1/json']) >= 2


def test_stats_asks_for_one_sample_at_once(daemon):
    daemon.routes[('GET', '/containers/p-web-1/stats')] = (200, '{"cpu_stats": {"online_cpus": 2}}')
    assert api_for(daemon).stats('p-web-1') == {'cpu_stats': {'online_cpus': 2}}
    assert daemon.requests[-1]['query'] == {'stream': ['false'], 'one-shot': ['true']}
