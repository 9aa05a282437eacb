# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.module_utils._http import MASK, HttpResponse
from ansible_collections.aishield.ops.plugins.modules import health_check
from ansible_collections.aishield.ops.plugins.modules.health_check import (
    build_checks, check_json, endpoint_names, evaluate, failure_message,
)


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            health_check.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def endpoint(**overrides):
    base = {'name': 'api', 'url': 'http://127.0.0.1:1/health', 'status': [200], 'expect': None, 'json_checks': None,
            'body_contains': None, 'max_latency_ms': None}
    base.update(overrides)
    return base


def response(status=200, body=None, latency=5.0, error=None, content_type='application/json'):
    raw = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    return HttpResponse(status=None if error else status, headers={'Content-Type': content_type}, body=raw,
                        latency_ms=latency, error=error)


@pytest.mark.parametrize('ep, expected', [
    (endpoint(), []),
    (endpoint(expect={'status': 'ok', 'a.b': 1}), [('a.b', 'equals', 1), ('status', 'equals', 'ok')]),
    (endpoint(expect={'x': None}), [('x', 'equals', None)]),
    (endpoint(json_checks=[{'path': 'p', 'equals': None, 'not_equals': None, 'one_of': None, 'contains': None,
                            'regex': None, 'exists': None}]), [('p', 'exists', True)]),
    (endpoint(json_checks=[{'path': 'p', 'equals': 'ok', 'not_equals': None, 'one_of': None, 'contains': None,
                            'regex': '^o', 'exists': None}]), [('p', 'equals', 'ok'), ('p', 'regex', '^o')]),
    (endpoint(json_checks=[{'path': 'p', 'exists': False}]), [('p', 'exists', False)]),
])
def test_build_checks(ep, expected):
    assert build_checks(ep) == expected


DATA = {'status': 'ok', 'database': 'down', 'version': '1.4.0', 'items': [1, 2], 'n': 3, 'flag': True, 'none': None}


@pytest.mark.parametrize('checks, expected', [
    ([('status', 'equals', 'ok')], []),
    ([('database', 'equals', 'ok')], ['database: expected "ok", got "down"']),
    ([('missing', 'equals', 'ok')], ['missing: not found in response']),
    ([('n', 'equals', '3')], ['n: expected "3", got 3']),
    ([('flag', 'equals', 1)], ['flag: expected 1, got true']),
    ([('none', 'equals', None)], []),
    ([('status', 'not_equals', 'ok')], ['status: expected anything but "ok"']),
    ([('database', 'one_of', ['ok', 'degraded'])], ['database: got "down", expected one of ["ok", "degraded"]']),
    ([('database', 'one_of', ['down', 'x'])], []),
    ([('items', 'contains', 2)], []),
    ([('items', 'contains', 9)], ['items: [1, 2] does not contain 9']),
    ([('version', 'contains', '1.4')], []),
    ([('n', 'contains', 3)], ['n: 3 does not contain 3']),
    ([('version', 'contains', 1)], ['version: "1.4.0" does not contain 1']),
    ([('items', 'contains', True)], ['items: [1, 2] does not contain true']),
    ([('version', 'regex', r'^1\.\d+')], []),
    ([('version', 'regex', r'^2')], ['version: "1.4.0" does not match /^2/']),
    ([('n', 'regex', r'^\d$')], []),
    ([('missing', 'exists', False)], []),
    ([('status', 'exists', False)], ['status: present, expected absent']),
    ([('missing', 'exists', True)], ['missing: not found in response']),
    ([('status', 'equals', 'ok'), ('database', 'equals', 'ok'), ('none', 'exists', True)],
     ['database: expected "ok", got "down"']),
])
def test_check_json(checks, expected):
    assert check_json(DATA, checks) == expected


@pytest.mark.parametrize('resp, ep, check_latency, expected', [
    (response(200, {'status': 'ok'}), endpoint(), True, []),
    (response(error='connection refused'), endpoint(), True, ['connection refused']),
    (response(503, {'status': 'error'}), endpoint(), True, ['status 503, expected [200]: {"status": "error"}']),
    (response(503, b''), endpoint(), True, ['status 503, expected [200]']),
    (response(401, {'detail': 'nope'}), endpoint(status=[401]), True, []),
    (response(503, {'database': 'error'}), endpoint(expect={'database': 'ok'}), True,
     ['status 503, expected [200]: {"database": "error"}', 'database: expected "ok", got "error"']),
    (response(200, b'<html>', content_type='text/html'), endpoint(expect={'a': 1}), True,
     ['response is not JSON (Content-Type: text/html)']),
    (response(200, b'<title>AI Shield</title>', content_type='text/html'), endpoint(body_contains='<title>'), True, []),
    (response(200, b'oops', content_type='text/html'), endpoint(body_contains='<title>'), True,
     ['body does not contain "<title>"']),
    (response(200, {}, latency=900.0), endpoint(max_latency_ms=500), True, ['latency 900.0 ms over max_latency_ms 500']),
    (response(200, {}, latency=900.0), endpoint(max_latency_ms=500), False, []),
])
def test_evaluate(resp, ep, check_latency, expected):
    assert evaluate(resp, ep, build_checks(ep), check_latency=check_latency) == expected


def test_evaluate_scrubs_secrets_from_snippets():
    resp = response(500, {'access_token': 'eyJtok', 'note': 'pw=hunter2'})
    errors = evaluate(resp, endpoint(), [], secrets={'hunter2'})
    assert errors == ['status 500, expected [200]: {"access_token": "%s", "note": "pw=%s"}' % (MASK, MASK)]


@pytest.mark.parametrize('eps, names, duplicates', [
    ([{'name': 'a', 'url': 'http://h/1'}, {'name': None, 'url': 'http://u:p@h/2'}], ['a', 'http://h/2'], []),
    ([{'name': None, 'url': 'http://h/1'}, {'name': None, 'url': 'http://h/1'}], ['http://h/1', 'http://h/1'],
     ['http://h/1']),
    ([{'name': 'x', 'url': 'http://h/1'}, {'name': 'x', 'url': 'http://h/2'}], ['x', 'x'], ['x']),
])
def test_endpoint_names(eps, names, duplicates):
    assert endpoint_names(eps) == (names, duplicates)


def test_failure_message_lists_every_failure():
    results = [{'name': 'a', 'ok': True, 'errors': []},
               {'name': 'b', 'ok': False, 'errors': ['status 503, expected [200]', 'database: expected "ok", got "x"']},
               {'name': 'c', 'ok': False, 'errors': ['connection refused']}]
    assert failure_message(results) == (
        'health check failed for 2 of 3 endpoints: b (status 503, expected [200]; database: expected "ok", got "x"), '
        'c (connection refused)')


@pytest.mark.parametrize('args, message', [
    ({'endpoints': []}, 'at least one endpoint'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/', 'auth': True}]}, 'neither auth nor token'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/', 'body': 'x', 'json': {}}]}, 'mutually exclusive'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/'}], 'token': 'tok-123', 'auth': {'url': 'http://127.0.0.1:1/l'}},
     'mutually exclusive'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/'}, {'url': 'http://127.0.0.1:1/'}]}, 'must be unique'),
    ({'endpoints': [{'url': 'http://127.0.0.1:1/', 'samples': -1}]}, 'samples must be between'),
    ({'endpoints': [{'name': 'x'}]}, 'url'),
    ({'endpoints': [{'name': 'x', 'url': 'http://127.0.0.1:1/', 'json_checks': [{'path': 'a', 'regex': '('}]}]},
     "endpoint x: a: invalid regex '('"),
])
def test_argument_validation(args, message, capsys):
    rc, result = run_module(args, capsys)
    assert rc == 1 and result['failed'] and message in result['msg']


class FakeServer(object):
    """Scripted answers per URL, standing in for http_request."""

    def __init__(self, script):
        self.script = {url: list(answers) for url, answers in script.items()}
        self.calls = []

    def __call__(self, method, url, headers=None, timeout=None, **kwargs):
        self.calls.append({'method': method, 'url': url, 'headers': dict(headers or {}), 'kwargs': kwargs})
        answers = self.script[url]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def fake(monkeypatch):
    def install(script):
        server = FakeServer(script)
        monkeypatch.setattr(health_check, 'http_request', server)
        return server
    return install


def test_flapping_endpoint_passes_after_retries(fake, capsys):
    fake({'http://t/flap': [response(503, {}), response(503, {}), response(200, {'status': 'ok'}, latency=7.0)]})
    rc, result = run_module({'endpoints': [{'name': 'flap', 'url': 'http://t/flap', 'expect': {'status': 'ok'}}],
                             'interval': 0, 'deadline': 5}, capsys)
    assert rc == 0 and not result['changed']
    assert result['endpoints'] == [{'name': 'flap', 'url': 'http://t/flap', 'ok': True, 'status': 200, 'attempts': 3,
                                    'latency_ms': 7.0, 'errors': []}]
    assert result['failed'] == [] and result['failed_endpoints'] == [] and result['latency'] == {'p50_ms': 7.0, 'p95_ms': 7.0, 'max_ms': 7.0, 'count': 1}


def test_samples_feed_latency_and_bound_p95(fake, capsys):
    answers = [response(200, {}, latency=ms) for ms in (5.0, 1.0, 2.0, 3.0, 400.0)]
    fake({'http://t/a': answers})
    rc, result = run_module({'endpoints': [{'name': 'a', 'url': 'http://t/a', 'samples': 4, 'max_latency_ms': 100}],
                             'interval': 0, 'deadline': 0}, capsys)
    assert rc == 1 and result['failed'] is True and result['failed_endpoints'] == ['a']
    ep = result['endpoints'][0]
    assert ep['samples_ms'] == [1.0, 2.0, 3.0, 400.0] and ep['latency_ms'] == 2.5
    assert ep['errors'] == ['p95 latency 400.0 ms over max_latency_ms 100.0 (4 samples)']
    assert result['latency']['count'] == 0


def test_failed_sample_fails_endpoint(fake, capsys):
    fake({'http://t/a': [response(200, {}), response(200, {}), response(500, b'')]})
    rc, result = run_module({'endpoints': [{'name': 'a', 'url': 'http://t/a', 'samples': 3}], 'deadline': 0}, capsys)
    assert rc == 1
    assert result['endpoints'][0]['errors'] == ['sample 2 of 3: status 500, expected [200]']


def test_auth_token_is_used_and_never_returned(fake, capsys):
    server = fake({
        'http://t/login': [response(200, {'access_token': 'tok-SECRET-1', 'refresh_token': 'ref-SECRET-2'})],
        'http://t/me': [response(200, {'email': 'a@b'})],
        'http://t/open': [response(200, {})],
    })
    rc, result = run_module({
        'auth': {'url': 'http://t/login', 'json': {'email': 'a@b', 'password': 'pw-SECRET-3'}},
        'endpoints': [{'name': 'me', 'url': 'http://t/me', 'auth': True}, {'name': 'open', 'url': 'http://t/open'}],
    }, capsys)
    assert rc == 0, result
    me_call = [c for c in server.calls if c['url'] == 'http://t/me'][0]
    open_call = [c for c in server.calls if c['url'] == 'http://t/open'][0]
    assert me_call['headers']['Authorization'] == 'Bearer tok-SECRET-1'
    assert 'Authorization' not in open_call['headers']
    assert result['auth']['ok'] and result['auth']['status'] == 200
    assert 'SECRET' not in json.dumps(result)


def test_failed_auth_skips_auth_endpoints_only(fake, capsys):
    fake({'http://t/login': [response(401, {'detail': 'bad'})], 'http://t/me': [response(200, {})],
          'http://t/open': [response(200, {})]})
    rc, result = run_module({
        'auth': {'url': 'http://t/login', 'json': {'password': 'pw-SECRET-3'}}, 'deadline': 0,
        'endpoints': [{'name': 'me', 'url': 'http://t/me', 'auth': True}, {'name': 'open', 'url': 'http://t/open'}],
    }, capsys)
    assert rc == 1 and result['failed_endpoints'] == ['me']
    assert result['endpoints'][0]['attempts'] == 0
    assert result['endpoints'][0]['errors'] == ['not attempted: auth step failed: login status 401, expected [200]']
    assert 'me (not attempted: auth step failed' in result['msg']


def test_missing_token_path_fails_auth(fake, capsys):
    fake({'http://t/login': [response(200, {'token': 'x'})], 'http://t/me': [response(200, {})]})
    rc, result = run_module({'auth': {'url': 'http://t/login', 'token_path': 'data.access_token'}, 'deadline': 0,
                             'endpoints': [{'name': 'me', 'url': 'http://t/me', 'auth': True}]}, capsys)
    assert rc == 1
    assert result['auth']['errors'] == ["no string at token_path 'data.access_token' in the login response"]


def test_static_token_and_custom_scheme(fake, capsys):
    server = fake({'http://t/me': [response(200, {})]})
    rc, _result = run_module({'token': 'static-SECRET', 'endpoints': [{'url': 'http://t/me', 'auth': True}]}, capsys)
    assert rc == 0 and server.calls[0]['headers']['Authorization'] == 'Bearer static-SECRET'


def test_request_body_and_method_are_passed(fake, capsys):
    server = fake({'http://t/echo': [response(201, {})]})
    rc, _result = run_module({'endpoints': [{'url': 'http://t/echo', 'method': 'POST', 'json': {'q': 1},
                                             'status': [201], 'headers': {'X-Probe': '1'}}]}, capsys)
    assert rc == 0
    call = server.calls[0]
    assert call['method'] == 'POST' and call['kwargs']['json_body'] == {'q': 1} and call['headers'] == {'X-Probe': '1'}
