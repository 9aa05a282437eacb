# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A small Docker Engine API client over the daemon's unix socket, standard library only.

Why not the Docker SDK: importing it (requests, urllib3, paramiko probes) costs about 0.3 s
in every module run, and the deploy engine needs only a dozen calls: list, inspect, stop and
remove containers, pull with credentials, look a tag up in its registry, and run a
container's own healthcheck command. Credentials travel in the X-Registry-Auth header of one
request, so they never touch the disk or a command line.
See https://docs.docker.com/reference/api/engine/version/v1.41/
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from urllib.parse import quote, urlencode

DEFAULT_SOCKET = '/var/run/docker.sock'


class DockerApiError(Exception):
    """The daemon refused a request or could not be reached."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__('docker', timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def socket_path(docker_host):
    """The socket path of a unix:// DOCKER_HOST (or a bare path); anything else is refused."""
    host = docker_host or DEFAULT_SOCKET
    if host.startswith('unix://'):
        host = host[len('unix://'):]
    if not host.startswith('/'):
        raise DockerApiError('docker_host %r is not a unix socket; the deploy engine talks to the local daemon only' % docker_host)
    return host


def registry_auth_header(username, password, registry=None):
    """X-Registry-Auth for a pull: URL-safe base64 JSON ({} means anonymous)."""
    auth = {}
    if username:
        auth = {'username': username, 'password': password or ''}
        if registry:
            auth['serveraddress'] = registry
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()


def split_json_stream(text):
    """Parse the concatenated JSON objects of a progress stream."""
    decoder = json.JSONDecoder()
    objects, index = [], 0
    while index < len(text):
        while index < len(text) and text[index] in ' \r\n\t':
            index += 1
        if index >= len(text):
            break
        obj, index = decoder.raw_decode(text, index)
        objects.append(obj)
    return objects


class DockerApi:
    """One daemon; a new connection per request, so threads can share the object."""

    def __init__(self, docker_host=None, timeout=60):
        self.path = socket_path(docker_host)
        self.timeout = timeout

    def request(self, method, path, query=None, body=None, headers=None, timeout=None, expect=(200, 201, 204, 304)):
        """Send one request; return the decoded JSON body (or text, or None). Raises DockerApiError."""
        url = path + ('?' + urlencode(query) if query else '')
        data = json.dumps(body).encode() if body is not None else None
        sent = dict(headers or {})
        if data is not None:
            sent['Content-Type'] = 'application/json'
        conn = _UnixConnection(self.path, timeout or self.timeout)
        try:
            conn.request(method, url, body=data, headers=sent)
            resp = conn.getresponse()
            raw = resp.read().decode('utf-8', 'replace')
        except OSError as exc:
            raise DockerApiError('Cannot connect to the Docker daemon at unix://%s (%s %s): %s' % (self.path, method, path, exc))
        finally:
            conn.close()
        if resp.status not in expect:
            raise DockerApiError(_error_text(raw, resp.status), resp.status)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def stream(self, method, path, query=None, headers=None, timeout=None):
        """Send one request whose reply is a stream of JSON objects (one per line); yield each as it arrives.

        `timeout` bounds each read, so a pull that keeps moving may take longer; a stalled one fails.
        """
        url = path + ('?' + urlencode(query) if query else '')
        conn = _UnixConnection(self.path, timeout or self.timeout)
        try:
            try:
                conn.request(method, url, headers=dict(headers or {}))
                resp = conn.getresponse()
                if resp.status not in (200, 201):
                    raise DockerApiError(_error_text(resp.read().decode('utf-8', 'replace'), resp.status), resp.status)
                pending = ''
                for line in resp:
                    pending += line.decode('utf-8', 'replace')
                    try:
                        events = split_json_stream(pending)
                    except ValueError:
                        continue  # an object split across reads: wait for the rest
                    pending = ''
                    for event in events:
                        if isinstance(event, dict):
                            yield event
            except OSError as exc:
                raise DockerApiError('Cannot connect to the Docker daemon at unix://%s (%s %s): %s'
                                     % (self.path, method, path, exc))
            if pending.strip():
                raise DockerApiError('the daemon\'s reply to %s %s ended inside an object: %s' % (method, path, pending[:200]))
        finally:
            conn.close()

    # --- images ------------------------------------------------------------------------------

    def image(self, ref):
        """The image's inspect data, or None when the daemon does not have it."""
        try:
            return self.request('GET', '/images/%s/json' % quote(ref, safe='/:@'))
        except DockerApiError as exc:
            if exc.status == 404:
                return None
            raise

    def pull(self, ref, auth_header, timeout=900, on_event=None):
        """Pull one reference (name[:tag][@digest]); raises with the registry's own message.

        The daemon answers with one JSON event per line while it pulls (per layer: Downloading with
        progressDetail current/total, Download complete, Pull complete); on_event(event) sees each as it comes.
        """
        name, tag = _name_and_tag(ref)
        query = {'fromImage': name}
        if tag:
            query['tag'] = tag
        for event in self.stream('POST', '/images/create', query=query, headers={'X-Registry-Auth': auth_header},
                                 timeout=timeout):
            if event.get('error'):
                raise DockerApiError(event.get('error'))
            if on_event is not None:
                on_event(event)

    def distribution(self, ref, auth_header, timeout=30):
        """Ask the registry, through the daemon, for a reference's manifest digest (no pull)."""
        data = self.request('GET', '/distribution/%s/json' % quote(ref, safe='/:@'),
                            headers={'X-Registry-Auth': auth_header}, timeout=timeout)
        return ((data or {}).get('Descriptor') or {}).get('digest')

    # --- containers --------------------------------------------------------------------------

    def containers(self, labels, all_states=False):
        """Summaries of the containers carrying every label given ({"key": "value"} or {"key": None})."""
        wanted = ['%s=%s' % (k, v) if v is not None else k for k, v in sorted(labels.items())]
        query = {'filters': json.dumps({'label': wanted})}
        if all_states:
            query['all'] = '1'
        return self.request('GET', '/containers/json', query=query) or []

    def inspect(self, container):
        return self.request('GET', '/containers/%s/json' % quote(container, safe=''))

    def stats(self, container, timeout=30):
        """One stats sample, at once (one-shot: no precpu_stats; the caller takes its own second sample)."""
        return self.request('GET', '/containers/%s/stats' % quote(container, safe=''),
                            query={'stream': 'false', 'one-shot': 'true'}, timeout=timeout)

    def stop(self, container, timeout=None):
        """Stop with the container's own grace period unless one is given (SIGTERM, then SIGKILL)."""
        query = {'t': int(timeout)} if timeout is not None else None
        grace = timeout if timeout is not None else 600
        self.request('POST', '/containers/%s/stop' % quote(container, safe=''), query=query, timeout=grace + 30)

    def remove(self, container, force=False):
        query = {'force': '1'} if force else None
        try:
            self.request('DELETE', '/containers/%s' % quote(container, safe=''), query=query)
        except DockerApiError as exc:
            if exc.status != 404:
                raise

    def exec_status(self, container, argv, timeout=10.0, poll=0.05):
        """Run argv in the container, detached; return its exit code (None when it outlived timeout)."""
        created = self.request('POST', '/containers/%s/exec' % quote(container, safe=''),
                               body={'Cmd': list(argv), 'AttachStdout': False, 'AttachStderr': False})
        exec_id = created['Id']
        self.request('POST', '/exec/%s/start' % exec_id, body={'Detach': True, 'Tty': False})
        end = time.monotonic() + timeout
        while True:
            state = self.request('GET', '/exec/%s/json' % exec_id)
            if not state.get('Running'):
                return state.get('ExitCode')
            if time.monotonic() > end:
                return None
            time.sleep(poll)


def _error_text(raw, status):
    try:
        message = json.loads(raw).get('message')
    except (ValueError, AttributeError):
        message = raw.strip()[:300]
    return message or 'HTTP %s from the Docker daemon' % status


def _name_and_tag(ref):
    """Split a reference for /images/create: a digest wins over a tag, as with `docker pull`."""
    if '@' in ref:
        name, digest = ref.split('@', 1)
        colon = name.rfind(':')
        if colon > name.rfind('/'):
            name = name[:colon]
        return name, digest
    colon = ref.rfind(':')
    if colon > ref.rfind('/'):
        return ref[:colon], ref[colon + 1:]
    return ref, 'latest'
