# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.health import FilterModule, health_summary


def ep(name, ok=True, status=200, attempts=1, errors=(), latency_ms=12.0, **extra):
    endpoint = {'name': name, 'url': f'http://proxy/{name}', 'ok': ok, 'status': status, 'attempts': attempts,
                'latency_ms': latency_ms, 'errors': list(errors)}
    endpoint.update(extra)
    return endpoint


FULL = {
    'endpoints': [
        ep('frontend'), ep('api_docs'), ep('login'), ep('me'),
        ep('api_health', ok=False, status=503, attempts=3,
           errors=['HTTP 503', 'HTTP 503', 'database != ok']),
    ],
    'latency': {'p50_ms': 40.2, 'p95_ms': 123.4, 'max_ms': 250.0},
    'failed': ['api_health'],
}


def test_filter_module_exports():
    assert FilterModule().filters() == {'health_summary': health_summary}


@pytest.mark.parametrize('result, expected', [
    (FULL, '4/5 endpoints healthy; p95 123 ms; FAILED: api_health (HTTP 503 after 3 attempts: database != ok)'),
    ({'endpoints': [ep('a'), ep('b')], 'latency': {'p95_ms': 99.6}, 'failed': []},
     '2/2 endpoints healthy; p95 100 ms'),
    ({'endpoints': [ep('a')]}, '1/1 endpoints healthy'),
    ({'endpoints': [ep('a')], 'latency': {'p95_ms': 0.42}}, '1/1 endpoints healthy; p95 0.4 ms'),
    ({'endpoints': [ep('a')], 'latency': {'p95_ms': 7}}, '1/1 endpoints healthy; p95 7 ms'),
    ({'endpoints': [ep('a')], 'latency': {'p95_ms': None}}, '1/1 endpoints healthy'),
    ({'endpoints': [ep('a')], 'latency': None}, '1/1 endpoints healthy'),
    ({'endpoints': []}, 'no endpoints checked'),
    # no HTTP response at all
    ({'endpoints': [ep('api', ok=False, status=None, attempts=2, errors=['timed out', 'connection refused'])]},
     '0/1 endpoints healthy; FAILED: api (no response after 2 attempts: connection refused)'),
    # singular attempt, no error text
    ({'endpoints': [ep('api', ok=False, status=500, attempts=1)]},
     '0/1 endpoints healthy; FAILED: api (HTTP 500 after 1 attempt)'),
    # only the essentials present
    ({'endpoints': [{'name': 'api', 'ok': False}]}, '0/1 endpoints healthy; FAILED: api (no response)'),
    # ok missing: the failed list decides
    ({'endpoints': [{'name': 'a'}, {'name': 'b', 'status': 502}], 'failed': ['b']},
     '1/2 endpoints healthy; FAILED: b (HTTP 502)'),
    # labels fall back to the url, then to the position
    ({'endpoints': [{'url': 'http://x/health', 'ok': False}, {'ok': False}]},
     '0/2 endpoints healthy; FAILED: http://x/health (no response), endpoint #2 (no response)'),
    # several failures keep endpoint order
    ({'endpoints': [ep('z', ok=False, status=404), ep('a', ok=False, status=401)]},
     '0/2 endpoints healthy; FAILED: z (HTTP 404 after 1 attempt), a (HTTP 401 after 1 attempt)'),
    # a failed name without an endpoint entry is still reported
    ({'endpoints': [ep('a')], 'failed': ['ghost']}, '1/1 endpoints healthy; FAILED: ghost'),
    # errors given as one string
    ({'endpoints': [ep('a', ok=False, status=500) | {'errors': 'boom'}]},
     '0/1 endpoints healthy; FAILED: a (HTTP 500 after 1 attempt: boom)'),
    # multi-line error collapses onto the line
    ({'endpoints': [ep('a', ok=False, status=500, errors=['line one\n   line two'])]},
     '0/1 endpoints healthy; FAILED: a (HTTP 500 after 1 attempt: line one line two)'),
])
def test_health_summary(result, expected):
    assert health_summary(result) == expected


def test_health_summary_truncates_long_errors():
    line = health_summary({'endpoints': [ep('a', ok=False, status=500, errors=['x' * 500])]})
    assert line.endswith('x' * 117 + '...)')
    assert len(line) < 200


def test_health_summary_ignores_bogus_optional_values():
    result = {'endpoints': [{'name': 'a', 'ok': False, 'status': True, 'attempts': '3', 'errors': None}],
              'latency': {'p95_ms': 'fast'}, 'failed': 'a'}
    assert health_summary(result) == '0/1 endpoints healthy; FAILED: a (no response)'


@pytest.mark.parametrize('result, message', [
    (None, 'health_summary expects the dict returned by aishield.ops.health_check, got NoneType'),
    ('ok', 'got str'),
    ({'failed': [], 'latency': {}}, 'needs an "endpoints" list in the health_check result (keys present: failed, latency)'),
    ({}, '(keys present: none)'),
    ({'endpoints': 'a,b'}, '"endpoints" is str; expected a list'),
    ({'endpoints': ['a']}, "endpoints[0]='a' is not a dict"),
])
def test_health_summary_errors(result, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        health_summary(result)
