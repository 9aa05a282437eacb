# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pure logic behind health_check and health_summary: no network, no module."""

from __future__ import annotations

import json
import re

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.health import health_summary as filter_summary
from ansible_collections.aishield.ops.plugins.module_utils._health import (
    ABORT, PASS, RETRY, SummaryError, abort_reason, build_checks, check_json, endpoint_names, endpoint_placeholders,
    evaluate, extract_saves, failure_message, fill_endpoint, fill_json, fill_text, health_summary, mask_values, p95_over,
    placeholders, plan_waves, poll,
)
from ansible_collections.aishield.ops.plugins.module_utils._http import HttpResponse
from ansible_collections.aishield.ops.plugins.module_utils._http_text import MASK


def endpoint(**overrides):
    base = {'name': 'api', 'url': 'http://127.0.0.1:1/health', 'status': [200], 'expect': None, 'json_checks': None,
            'body_contains': None, 'max_latency_ms': None}
    base.update(overrides)
    return base


def response(status=200, body=None, latency=5.0, error=None, content_type='application/json'):
    raw = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    return HttpResponse(status=None if error else status, headers={'Content-Type': content_type}, body=raw,
                        latency_ms=latency, error=error)


# --- JSON expectations (moved here with the code, unchanged) ------------------------------------


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


# --- placeholders ---------------------------------------------------------------------------------


@pytest.mark.parametrize('value, expected', [
    ('http://h/jobs/${id}', ['id']),
    ('${a}/${b}/${a}', ['a', 'b']),
    ('$${id} is literal', []),
    ('${1} ${} $id ${a-b} ${ a } $HOME', []),
    ({'outer': {'list': ['x', '${deep}']}, '${key_not_scanned}': 1}, ['deep']),
    ([None, 3, True, '${x}'], ['x']),
    (None, []),
])
def test_placeholders(value, expected):
    assert placeholders(value) == expected


def test_endpoint_placeholders_cover_url_body_json_and_header_values():
    ep = {'url': 'http://h/${u}', 'body': 'b=${b}', 'json': {'k': ['${j}']}, 'headers': {'X-${hk}': '${hv}'},
          'expect': {'ignored': '${e}'}}
    assert endpoint_placeholders(ep) == ['u', 'b', 'j', 'hv']


SAVED = {'id': 42, 'name': 'job-a', 'flag': True, 'none': None, 'obj': {'b': 1, 'a': [2]}}


@pytest.mark.parametrize('text, expected', [
    ('/jobs/${id}', '/jobs/42'),
    ('${name}:${id}', 'job-a:42'),
    ('${flag}/${none}/${obj}', 'true/null/{"a": [2], "b": 1}'),
    ('$${id} stays, ${id} goes', '${id} stays, 42 goes'),
    ('no placeholders $HOME ${1}', 'no placeholders $HOME ${1}'),
])
def test_fill_text(text, expected):
    assert fill_text(text, SAVED) == expected


def test_fill_json_keeps_types_for_whole_placeholders_and_recurses():
    body = {'id': '${id}', 'label': 'job ${id}', 'nested': {'list': ['${name}', {'deep': '${obj}'}, 7, None]},
            '${id}': 'key untouched', 'flag': '${flag}', 'escaped': '$${id}'}
    assert fill_json(body, SAVED) == {
        'id': 42, 'label': 'job 42', 'nested': {'list': ['job-a', {'deep': {'b': 1, 'a': [2]}}, 7, None]},
        '${id}': 'key untouched', 'flag': True, 'escaped': '${id}'}


def test_fill_endpoint_fills_a_copy():
    ep = {'url': 'http://h/jobs/${id}', 'body': None, 'json': {'n': '${id}'}, 'headers': {'X-Job': '${name}'},
          'method': 'GET'}
    filled = fill_endpoint(ep, SAVED)
    assert filled == {'url': 'http://h/jobs/42', 'body': None, 'json': {'n': 42}, 'headers': {'X-Job': 'job-a'},
                      'method': 'GET'}
    assert ep['url'] == 'http://h/jobs/${id}' and ep['json'] == {'n': '${id}'} and ep['headers'] == {'X-Job': '${name}'}
    assert fill_endpoint({'url': 'u', 'body': 'id=${id}'}, SAVED)['body'] == 'id=42'


# --- waves ----------------------------------------------------------------------------------------


def plan(*eps):
    names = [ep['name'] for ep in eps]
    return plan_waves(list(eps), names)


def ep_(name, url='http://h/', **extra):
    return dict({'name': name, 'url': url}, **extra)


def test_independent_endpoints_share_one_wave():
    waves, needs = plan(ep_('a'), ep_('b'), ep_('c'))
    assert waves == [[0, 1, 2]] and needs == [{}, {}, {}]


def test_waves_follow_the_saved_values():
    waves, needs = plan(
        ep_('poll', 'http://h/jobs/${job}', headers={'X-Run': '${run}'}),
        ep_('submit', 'http://h/jobs', method='POST', json={'run': '${run}'}, save={'job': 'id'}),
        ep_('health'),
        ep_('start', save={'run': 'run.id'}),
        ep_('report', body='job ${job} run ${run}'),
    )
    assert waves == [[2, 3], [1], [0, 4]]
    assert needs[0] == {1: ['job'], 3: ['run']} and needs[1] == {3: ['run']} and needs[4] == {1: ['job'], 3: ['run']}


def test_an_escaped_placeholder_needs_nothing():
    assert plan(ep_('a', body='$${id}'))[0] == [[0]]


@pytest.mark.parametrize('eps, message', [
    ([ep_('health'), ep_('scan_done', 'http://h/scans/${id}')],
     'endpoint scan_done uses ${id}, but no endpoint saves id (saved names: none)'),
    ([ep_('submit', save={'job': 'id'}), ep_('poll', headers={'X-Id': '${jobid}'})],
     'endpoint poll uses ${jobid}, but no endpoint saves jobid (saved names: job)'),
    ([ep_('a', save={'id': 'id'}), ep_('b', save={'id': 'other'})], 'endpoints a and b both save id'),
    ([ep_('a', save={'bad-name': 'id'})], "endpoint a: save name 'bad-name' must be letters"),
    ([ep_('a', save={'1st': 'id'})], "endpoint a: save name '1st' must be letters"),
    ([ep_('self', 'http://h/${me}', save={'me': 'id'})],
     'saved values form a cycle, so none of these endpoints can run first: self uses ${me} saved by self'),
    ([ep_('a', 'http://h/${y}', save={'x': 'id'}), ep_('b', json={'v': ['${x}']}, save={'y': 'id'})],
     'cycle, so none of these endpoints can run first: a uses ${y} saved by b; b uses ${x} saved by a'),
    # The cycle is named even when the first endpoint only waits on it.
    ([ep_('downstream', 'http://h/${y}'), ep_('a', 'http://h/${y}', save={'x': 'id'}),
      ep_('b', 'http://h/${x}', save={'y': 'id'})],
     'first: b uses ${x} saved by a; a uses ${y} saved by b'),
])
def test_plan_refuses_bad_chains(eps, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plan(*eps)


# --- abort_if, save, masking ----------------------------------------------------------------------


@pytest.mark.parametrize('resp, rules, expected', [
    (response(200, {'status': 'failed'}), {'status': 'failed'}, 'aborted: status is "failed"'),
    (response(200, {'status': 'running'}), {'status': 'failed'}, None),
    (response(500, {'status': 'failed', 'error': {'code': 3}}), {'status': 'failed', 'error.code': 3},
     'aborted: error.code is 3, status is "failed"'),
    (response(200, {'status': 'failed', 'error': {'code': 4}}), {'status': 'failed', 'error.code': 3}, None),
    (response(200, {'done': 1}), {'done': True}, None),
    (response(200, {}), {'status': 'failed'}, None),
    (response(200, b'failed', content_type='text/plain'), {'status': 'failed'}, None),
    (response(error='connection refused'), {'status': 'failed'}, None),
    (response(200, {'status': 'failed'}), None, None),
])
def test_abort_reason(resp, rules, expected):
    assert abort_reason(resp, rules) == expected


@pytest.mark.parametrize('resp, save, expected', [
    (response(202, {'id': 7, 'links': {'self': '/jobs/7'}}), {'id': 'id', 'link': 'links.self'},
     ({'id': 7, 'link': '/jobs/7'}, [])),
    (response(202, {'items': [{'id': 'x'}]}), {'first': 'items.0.id'}, ({'first': 'x'}, [])),
    (response(202, {'id': None}), {'id': 'id'}, ({'id': None}, [])),
    (response(202, {'other': 1}), {'id': 'id'}, ({}, ['save id: id not found in response'])),
    (response(202, b'<html>', content_type='text/html'), {'b': 'x', 'a': 'y'}, ({}, ['save a, b: response is not JSON'])),
    (response(202, {}), None, ({}, [])),
])
def test_extract_saves(resp, save, expected):
    assert extract_saves(resp, save) == expected


@pytest.mark.parametrize('text, values, expected', [
    ('scan 42 not found', [42], 'scan %s not found' % MASK),
    ('{"id": 42, "n": 1420, "v": "v42"}', [42], '{"id": %s, "n": 1420, "v": "v42"}' % MASK),
    ('status 500, expected [202]', [5], 'status 500, expected [202]'),
    ('job job-a and job-ab', ['job-a'], 'job %s and job-ab' % MASK),
    ('true null  x', [True, None, ''], 'true null  x'),
    ('token abc.def and abc', ['abc', 'abc.def'], 'token %s and %s' % (MASK, MASK)),
])
def test_mask_values(text, values, expected):
    assert mask_values(text, values) == expected


# --- poll -----------------------------------------------------------------------------------------


class FakeClock(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(outcomes):
    calls = []

    def attempt(remaining):
        calls.append(remaining)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        return outcome, 'value %d' % len(calls)
    return attempt, calls


def test_poll_passes_after_retries():
    clock = FakeClock()
    attempt, calls = scripted([RETRY, RETRY, PASS])
    assert poll(attempt, 10, 0.2, clock, clock.sleep) == (PASS, 'value 3', 3)
    assert clock.sleeps == [0.2, 0.2] and calls == [10.0, 9.8, 9.6]


def test_poll_abort_ends_retries_at_once():
    clock = FakeClock()
    attempt, calls = scripted([RETRY, ABORT, PASS])
    assert poll(attempt, 60, 1, clock, clock.sleep) == (ABORT, 'value 2', 2)
    assert len(calls) == 2 and clock.sleeps == [1]


def test_poll_gives_up_at_the_deadline_without_sleeping_past_it():
    clock = FakeClock()
    attempt, calls = scripted([RETRY])
    outcome, _value, attempts = poll(attempt, 1.0, 0.3, clock, clock.sleep)
    assert outcome == RETRY and attempts == 5 and len(calls) == 5
    assert sum(clock.sleeps) == pytest.approx(1.0) and max(clock.sleeps) <= 0.3 + 1e-9


def test_poll_with_no_deadline_tries_once():
    clock = FakeClock()
    attempt, calls = scripted([RETRY])
    assert poll(attempt, 0, 5, clock, clock.sleep) == (RETRY, 'value 1', 1) and clock.sleeps == []


# --- p95 gate and summary -------------------------------------------------------------------------


@pytest.mark.parametrize('latency, limit, expected', [
    ({'p95_ms': 612.3, 'count': 27}, 500, 'p95 latency 612.3 ms is above max_p95_ms 500 ms (over 27 responses)'),
    ({'p95_ms': 612.3, 'count': 27}, 500.5, 'p95 latency 612.3 ms is above max_p95_ms 500.5 ms (over 27 responses)'),
    ({'p95_ms': 500.0, 'count': 3}, 500, None),
    ({'p95_ms': 12.0, 'count': 3}, 500, None),
    ({'p95_ms': 612.3, 'count': 3}, None, None),
    ({'p95_ms': None, 'count': 0}, 500, None),
    (None, 500, None),
])
def test_p95_over(latency, limit, expected):
    assert p95_over(latency, limit) == expected


RESULTS = [
    {'endpoints': [{'name': 'a', 'ok': True, 'status': 200, 'attempts': 1, 'errors': []},
                   {'name': 'scan_done', 'ok': False, 'status': 200, 'attempts': 4,
                    'errors': ['aborted: status is "failed"']}],
     'latency': {'p50_ms': 3.0, 'p95_ms': 3.25, 'max_ms': 3.25, 'count': 1}, 'failed': ['scan_done']},
    {'endpoints': [{'name': 'a', 'ok': True}], 'latency': {'p95_ms': 99.6}, 'failed': []},
    {'endpoints': [{'url': 'http://x/health', 'ok': False}, {'ok': False}], 'failed': True},
    {'endpoints': []},
    {'endpoints': [{'name': 'a'}], 'failed': ['a', 'ghost']},
]


def test_summary_line():
    assert health_summary(RESULTS[0]) == (
        '1/2 endpoints healthy; p95 3.2 ms; FAILED: scan_done (HTTP 200 after 4 attempts: aborted: status is "failed")')


@pytest.mark.parametrize('result', RESULTS)
def test_module_and_filter_summaries_are_the_same(result):
    assert health_summary(result) == filter_summary(result)


@pytest.mark.parametrize('bad', [None, 'text', {}, {'endpoints': 'a'}, {'endpoints': [1]}])
def test_summary_errors_are_value_errors_here_and_filter_errors_in_the_filter(bad):
    with pytest.raises(SummaryError) as plain:
        health_summary(bad)
    assert isinstance(plain.value, ValueError)
    with pytest.raises(AnsibleFilterError) as wrapped:
        filter_summary(bad)
    assert str(wrapped.value) == str(plain.value)
