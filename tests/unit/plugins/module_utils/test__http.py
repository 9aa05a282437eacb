# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._http import (
    HttpResponse, describe_exception, http_request, request_with_retries, retry_until,
)
from ansible_collections.aishield.ops.plugins.module_utils._http_text import (
    MASK, json_path, latency_summary, one_line, percentile, request_secrets, same_value, scrub_headers, scrub_text,
    scrub_url,
)


@pytest.mark.parametrize('values, pct, expected', [
    ([], 50, None),
    ([7.0], 50, 7.0),
    ([7.0], 95, 7.0),
    ([1, 2, 3, 4], 50, 2),
    ([4, 3, 2, 1], 50, 2),
    ([1, 2, 3, 4, 5], 50, 3),
    (list(range(1, 101)), 95, 95),
    (list(range(1, 21)), 95, 19),
    ([10, 1000], 95, 1000),
    ([5, 1, 3], 0, 1),
    ([5, 1, 3], 100, 5),
])
def test_percentile_is_nearest_rank(values, pct, expected):
    assert percentile(values, pct) == expected


@pytest.mark.parametrize('pct', [-1, 101])
def test_percentile_rejects_out_of_range(pct):
    with pytest.raises(ValueError):
        percentile([1, 2], pct)


@pytest.mark.parametrize('values, expected', [
    ([], {'p50_ms': None, 'p95_ms': None, 'max_ms': None, 'count': 0}),
    ([12.5], {'p50_ms': 12.5, 'p95_ms': 12.5, 'max_ms': 12.5, 'count': 1}),
    ([3.0, 1.0, 2.0, 50.0], {'p50_ms': 2.0, 'p95_ms': 50.0, 'max_ms': 50.0, 'count': 4}),
])
def test_latency_summary(values, expected):
    assert latency_summary(values) == expected


DOC = {'status': 'ok', 'checks': {'database': {'status': 'ok', 'ms': 3}}, 'items': [{'id': 'a'}, {'id': 'b'}],
       'flag': False, 'none': None, 'dotted.key': 1}


@pytest.mark.parametrize('path, expected', [
    ('status', (True, 'ok')),
    ('checks.database.status', (True, 'ok')),
    ('checks.database.ms', (True, 3)),
    ('items.0.id', (True, 'a')),
    ('items.-1.id', (True, 'b')),
    ('items.2.id', (False, None)),
    ('items.x', (False, None)),
    ('flag', (True, False)),
    ('none', (True, None)),
    ('missing', (False, None)),
    ('status.deeper', (False, None)),
    ('dotted.key', (False, None)),
    ('', (True, DOC)),
])
def test_json_path(path, expected):
    assert json_path(DOC, path) == expected


@pytest.mark.parametrize('actual, expected, same', [
    ('ok', 'ok', True),
    ('ok', 'OK', False),
    (1, 1.0, True),
    (True, 1, False),
    (1, True, False),
    (False, False, True),
    ('1', 1, False),
    (None, None, True),
    (None, 'None', False),
    ({'a': [1, True]}, {'a': [1, True]}, True),
    ({'a': [1, True]}, {'a': [1, 1]}, False),
    ([1, 2], [1, 2, 3], False),
])
def test_same_value_is_type_aware(actual, expected, same):
    assert same_value(actual, expected) is same


@pytest.mark.parametrize('url, expected', [
    ('http://127.0.0.1:8000/health', 'http://127.0.0.1:8000/health'),
    ('https://admin:s3cret@example.test/x', 'https://example.test/x'),
    ('https://user@example.test/', 'https://example.test/'),
    ('https://example.test/cb?token=abc&page=2', 'https://example.test/cb?token=%s&page=2' % MASK),
    ('https://example.test/?api_key=zz&Signature=q', 'https://example.test/?api_key=%s&Signature=%s' % (MASK, MASK)),
    ('https://example.test/p#frag', 'https://example.test/p#frag'),
])
def test_scrub_url(url, expected):
    assert scrub_url(url) == expected


def test_scrub_headers_masks_credentials_only():
    headers = {'Authorization': 'Bearer abc', 'X-Api-Key': 'k', 'Cookie': 'c=1', 'Accept': 'application/json',
               'X-Session-Token': 't'}
    assert scrub_headers(headers) == {'Authorization': MASK, 'X-Api-Key': MASK, 'Cookie': MASK,
                                      'Accept': 'application/json', 'X-Session-Token': MASK}


@pytest.mark.parametrize('text, secrets, expected', [
    ('token is tok123 here', ['tok123'], 'token is %s here' % MASK),
    ('{"access_token": "eyJ.abc", "id": "1"}', [], '{"access_token": "%s", "id": "1"}' % MASK),
    ('{"refresh_token":"r.t","password" : "pw"}', [], '{"refresh_token":"%s","password" : "%s"}' % (MASK, MASK)),
    ('Authorization: Bearer abc.def-ghi', [], 'Authorization: Bearer %s' % MASK),
    ('OAuth k3y and more', [], 'OAuth %s and more' % MASK),
    ('nothing secret', ['', None], 'nothing secret'),
    ('abcabc', ['abc', 'abcabc'], MASK),
])
def test_scrub_text(text, secrets, expected):
    assert scrub_text(text, secrets) == expected


@pytest.mark.parametrize('value, limit, expected', [
    ('a\n  b\tc', 300, 'a b c'),
    ('x' * 20, 10, 'xxxxxxx...'),
    (ValueError('boom\nline2'), 300, 'boom line2'),
])
def test_one_line(value, limit, expected):
    assert one_line(value, limit) == expected


@pytest.mark.parametrize('exc, expected', [
    (socket.timeout('timed out'), 'timed out after 2.5 s'),
    (ConnectionRefusedError(111, 'Connection refused'), 'connection refused'),
    (ConnectionResetError(104, 'reset'), 'connection reset by peer'),
    (socket.gaierror(-2, 'Name or service not known'), 'name resolution failed'),
])
def test_describe_exception(exc, expected):
    assert describe_exception(exc, 2.5) == expected


class FakeClock(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize('fail_times, deadline, interval, expected_ok, expected_attempts', [
    (0, 10, 1, True, 1),
    (3, 10, 1, True, 4),
    (100, 5, 1, False, 6),
    (100, 0, 1, False, 1),
    (100, 2.5, 1, False, 4),
])
def test_retry_until(fail_times, deadline, interval, expected_ok, expected_attempts):
    clock = FakeClock()
    calls = []

    def attempt(remaining):
        calls.append(remaining)
        return len(calls) > fail_times, len(calls)

    ok, value, attempts = retry_until(attempt, deadline, interval, clock=clock.clock, sleep=clock.sleep)
    assert (ok, attempts, value) == (expected_ok, expected_attempts, expected_attempts)
    assert clock.now <= deadline
    assert calls[0] == deadline


def test_retry_until_counts_time_spent_in_attempts():
    clock = FakeClock()

    def slow_attempt(_remaining):
        clock.now += 4
        return False, None

    ok, _value, attempts = retry_until(slow_attempt, 10, 1, clock=clock.clock, sleep=clock.sleep)
    assert not ok and attempts == 3 and clock.sleeps == [1, 1]


@pytest.mark.parametrize('statuses, retries, retry_transport, expected_calls, expected_final', [
    ([200], 3, True, 1, 200),
    ([503, 503, 200], 3, True, 3, 200),
    ([503] * 10, 3, True, 4, 503),
    ([404, 200], 3, True, 1, 404),
    ([None, 200], 3, True, 2, 200),
    ([None, 200], 3, False, 1, None),
    ([429, 201], 0, True, 1, 429),
])
def test_request_with_retries(statuses, retries, retry_transport, expected_calls, expected_final):
    answers = iter(statuses)
    sleeps = []

    def send():
        status = next(answers)
        return HttpResponse(status=status, error=None if status else 'connection refused')

    response, calls = request_with_retries(send, retries=retries, backoff=1.0, retry_transport=retry_transport,
                                           sleep=sleeps.append)
    assert (calls, response.status) == (expected_calls, expected_final)
    assert sleeps == [min(2 ** i, 30.0) for i in range(expected_calls - 1)]


def test_http_response_helpers():
    response = HttpResponse(200, {'Content-Type': 'application/json'}, b'{"a": 1}', 1.0)
    assert response.json() == {'a': 1}
    assert response.header('content-type') == 'application/json'
    assert response.header('missing') is None
    with pytest.raises(ValueError):
        HttpResponse(200, {}, b'<html>', 1.0).json()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        return

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        payload = json.dumps({'method': self.command, 'body': self.rfile.read(length).decode(),
                              'content_type': self.headers.get('Content-Type'),
                              'auth': self.headers.get('Authorization')}).encode()
        code = 418 if self.path == '/teapot' else 200
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PATCH = do_POST


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_port
    server.shutdown()
    server.server_close()


def test_http_request_sends_json_and_measures(local_server):
    response = http_request('patch', local_server + '/x', headers={'Authorization': 'Bearer t'}, json_body={'k': 'v'},
                            timeout=5)
    assert response.error is None and response.status == 200 and response.latency_ms >= 0
    echoed = response.json()
    assert echoed == {'method': 'PATCH', 'body': '{"k": "v"}', 'content_type': 'application/json',
                      'auth': 'Bearer t'}


def test_http_request_returns_error_status_with_body(local_server):
    response = http_request('GET', local_server + '/teapot', timeout=5)
    assert response.status == 418 and response.error is None and response.json()['method'] == 'GET'


def test_http_request_reports_refused_connection():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    response = http_request('GET', 'http://127.0.0.1:%d/' % port, timeout=2)
    assert response.status is None and response.error == 'connection refused'


@pytest.mark.parametrize('url, headers, expected', [
    ('http://127.0.0.1/x', None, set()),
    ('http://u:p%40ss@127.0.0.1/x', None, {'p%40ss', 'p@ss'}),
    ('http://u@127.0.0.1/x', {'Accept': 'application/json'}, set()),
    ('http://127.0.0.1/x', {'Authorization': 'Bearer abc', 'X-Api-Key': 'k1', 'Accept': 'text/html'},
     {'Bearer abc', 'abc', 'k1'}),
])
def test_request_secrets(url, headers, expected):
    assert request_secrets(url, headers) == expected
