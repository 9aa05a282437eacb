#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: health_check
short_description: Check many HTTP endpoints until a deadline, with JSON, latency and login assertions
version_added: 0.1.0
description:
  - Sends requests to a list of endpoints, retrying each until it passes or its deadline runs out, and reports per-endpoint
    results plus p50/p95/max latency over the passing responses.
  - An endpoint passes when its status is one of O(endpoints[].status), every JSON expectation holds, and it answered within
    O(endpoints[].max_latency_ms).
  - An optional O(auth) step logs in first (for example C(POST /api/v1/auth/login)), takes the token out of the JSON answer and
    sends it in an C(Authorization) header as C(Bearer <token>) to the endpoints marked O(endpoints[].auth=true).
  - Why not M(ansible.builtin.uri)? It checks one URL per task, has no deadline-based retry per URL without C(until) loops,
    no latency statistics and no way to chain a login token without registering (and risking logging) it. This module does
    all of that in one task and never returns the token, the login body or URL credentials.
  - Endpoints are checked concurrently (see O(concurrency)), so a run takes about as long as the slowest endpoint.
  - The result is what the P(aishield.ops.health_summary#filter) filter consumes.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The checks run in check mode too; the module assumes they are free of side effects (a login is a POST, but only
        issues a token).
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - The module never changes anything and always reports RV(ignore:changed=false).
  platform:
    platforms: posix
options:
  endpoints:
    description:
      - The endpoints to check. Names (or URLs, when no name is given) must be unique.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Label used in results, in RV(failed) and in the failure message.
          - Defaults to the URL without credentials.
        type: str
      url:
        description:
          - The URL to request. C(user:password@) in it is sent as basic auth (without waiting for a 401) and never returned.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
      headers:
        description:
          - Extra request headers. They are never returned, but they do show in the task invocation with C(-vvv); pass
            credentials through O(auth) or O(token) instead.
        type: dict
        default: {}
      body:
        description: Raw request body.
        type: str
      json:
        description: Request body sent as JSON, with a C(Content-Type) of C(application/json).
        type: raw
      status:
        description: Status codes that count as success.
        type: list
        elements: int
        default: [200]
      expect:
        description:
          - 'Simple JSON expectations, a mapping of dotted path to the value it must equal, for example
            C({"status": "ok", "checks.database": "ok"}).'
          - Numeric path segments index lists (C(items.0.id)). Comparison is type-aware (C(true) does not equal C(1)).
        type: dict
      json_checks:
        description:
          - Richer JSON expectations. Every condition given in one entry must hold.
          - An entry with only O(endpoints[].json_checks[].path) asserts that the path exists.
        type: list
        elements: dict
        suboptions:
          path:
            description: Dotted path into the JSON response.
            type: str
            required: true
          equals:
            description: The value must equal this.
            type: raw
          not_equals:
            description: The value must differ from this.
            type: raw
          one_of:
            description: The value must equal one of these.
            type: list
            elements: raw
          contains:
            description: The value (a string or a list) must contain this.
            type: raw
          regex:
            description: The value, as text, must match this regular expression (C(re.search)).
            type: str
          exists:
            description: Whether the path must exist (V(true)) or must be absent (V(false)).
            type: bool
      body_contains:
        description: Text the response body must contain (useful for HTML pages).
        type: str
      max_latency_ms:
        description:
          - Slowest acceptable response, in milliseconds. With O(endpoints[].samples) it bounds the p95 of the samples.
        type: float
      auth:
        description: Send the token from the O(auth) step or O(token).
        type: bool
        default: false
      samples:
        description:
          - After the endpoint passes, send this many more requests to measure latency. Each must pass too.
          - The endpoint's RV(endpoints[].latency_ms) is then the median of the samples, and the samples feed RV(latency).
        type: int
        default: 0
      timeout:
        description: Overrides O(timeout) for this endpoint.
        type: float
      deadline:
        description: Overrides O(deadline) for this endpoint.
        type: float
  auth:
    description:
      - A login request made before the checks, only when some endpoint has O(endpoints[].auth=true).
      - Retried until O(deadline) like an endpoint. When it fails, those endpoints fail without being requested.
    type: dict
    suboptions:
      url:
        description: Login URL.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: POST
      headers:
        description: Extra request headers.
        type: dict
        default: {}
      json:
        description:
          - Login body sent as JSON. Its values are treated as secrets, so Ansible masks them wherever they appear in the
            output (short values such as a user name may therefore mask unrelated text).
        type: raw
      body:
        description: Raw login body (secret, like O(auth.json)).
        type: str
      status:
        description: Status codes that count as a successful login.
        type: list
        elements: int
        default: [200]
      token_path:
        description: Dotted path of the token in the JSON response.
        type: str
        default: access_token
      header:
        description: Header that carries the token.
        type: str
        default: Authorization
      scheme:
        description: Prefix before the token in O(auth.header). Empty for a bare token.
        type: str
        default: Bearer
  token:
    description:
      - A token obtained elsewhere, sent in an C(Authorization) header as C(Bearer <token>) to endpoints with O(endpoints[].auth=true).
      - Mutually exclusive with O(auth).
    type: str
  timeout:
    description: Seconds allowed for each request.
    type: float
    default: 5
  deadline:
    description:
      - Seconds during which an endpoint is retried before it counts as failed. V(0) makes a single attempt.
    type: float
    default: 60
  interval:
    description: Seconds to wait between attempts on one endpoint.
    type: float
    default: 2
  concurrency:
    description: How many endpoints are checked at the same time.
    type: int
    default: 8
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  use_proxy:
    description: Use proxies from the environment (C(https_proxy), C(no_proxy)...).
    type: bool
    default: true
notes:
  - The task fails when any endpoint fails; the message names every failing endpoint and why. The full result (same keys as
    on success) is still returned, so C(ignore_errors) or C(failed_when) plus P(aishield.ops.health_summary#filter) work.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Smoke-test the stack the way the runbook's verification script does
  aishield.ops.health_check:
    deadline: 90
    interval: 2
    auth:
      url: http://127.0.0.1:8000/api/v1/auth/login
      json:
        email: smoke@aishield.example
        password: "{{ vault_smoke_password }}"
    endpoints:
      - name: api
        url: http://127.0.0.1:8000/health
        expect: {status: ok}
        max_latency_ms: 500
        samples: 20
      - name: api-db
        url: http://127.0.0.1:8000/api/v1/health
        expect: {database: ok, redis: ok}
      - name: frontend
        url: http://127.0.0.1:3000/
        body_contains: "<title>"
      - name: me
        url: http://127.0.0.1:8000/api/v1/auth/me
        auth: true
        json_checks:
          - path: email
            regex: "@aishield"
  register: __smoke_test_result

- name: Report the result in one line
  ansible.builtin.debug:
    msg: "{{ __smoke_test_result | aishield.ops.health_summary }}"

- name: Accept a 401 without a token, and tolerate one slow start
  aishield.ops.health_check:
    deadline: 10
    endpoints:
      - url: http://127.0.0.1:8000/api/v1/auth/me
        status: [401]
"""

RETURN = r"""
endpoints:
  description: One entry per endpoint, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The endpoint's name (or its URL without credentials).
      type: str
      sample: api
    url:
      description: The URL without credentials; credential-like query values are masked.
      type: str
      sample: http://127.0.0.1:8000/health
    ok:
      description: Whether the endpoint passed.
      type: bool
      sample: true
    status:
      description: HTTP status of the last response, V(null) when none came.
      type: int
      sample: 200
    attempts:
      description: Requests made before it passed or the deadline ran out (samples not counted; V(0) when skipped).
      type: int
      sample: 3
    latency_ms:
      description: Latency of the passing (or last) response, or the median of the samples.
      type: float
      sample: 12.4
    errors:
      description: Why the last attempt failed; empty when the endpoint passed.
      type: list
      elements: str
      sample: ['status 503, expected [200]', 'database: expected "ok", got "error"']
    samples_ms:
      description: Latencies of the extra sample requests.
      type: list
      elements: float
      returned: when O(endpoints[].samples) is above zero
      sample: [10.2, 11.0, 9.8]
latency:
  description: Nearest-rank latency statistics over the passing endpoints (their samples when taken).
  returned: always
  type: dict
  contains:
    p50_ms:
      description: Median latency, V(null) when nothing passed.
      type: float
      sample: 11.0
    p95_ms:
      description: 95th percentile latency.
      type: float
      sample: 40.2
    max_ms:
      description: Highest latency.
      type: float
      sample: 52.7
    count:
      description: How many latencies the statistics are based on.
      type: int
      sample: 23
failed:
  description:
    - Names of the endpoints that failed, as the module returns them.
    - Ansible replaces a non-empty list here with V(true) (the task failed), so read RV(failed_endpoints) in playbooks.
  returned: always
  type: list
  elements: str
  sample: []
failed_endpoints:
  description: Names of the endpoints that failed; survives Ansible's handling of RV(failed).
  returned: always
  type: list
  elements: str
  sample: [api-db]
auth:
  description: Outcome of the O(auth) step, without the token or the login body.
  returned: when O(auth) is given
  type: dict
  sample: {url: http://127.0.0.1:8000/api/v1/auth/login, ok: true, status: 200, attempts: 1, latency_ms: 35.1, errors: []}
"""

import json
import re
import statistics
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils._http import (
    http_request, json_path, latency_summary, one_line, percentile, request_secrets, retry_until, same_value, scrub_text,
    scrub_url,
)

_OPS = ('equals', 'not_equals', 'one_of', 'contains', 'regex', 'exists')


def _show(value, limit=60):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _contains(value, item):
    """Substring for text, type-aware membership for lists."""
    if isinstance(value, str):
        return isinstance(item, str) and item in value
    return isinstance(value, list) and any(same_value(element, item) for element in value)


def bad_regexes(endpoint):
    """Regular expressions in json_checks that do not compile, as error strings."""
    errors = []
    for entry in endpoint.get('json_checks') or []:
        if entry.get('regex') is not None:
            try:
                re.compile(entry['regex'])
            except re.error as exc:
                errors.append('%s: invalid regex %r (%s)' % (entry['path'], entry['regex'], exc))
    return errors


def build_checks(endpoint):
    """Turn expect and json_checks into (path, op, argument) triples."""
    checks = [(path, 'equals', value) for path, value in sorted((endpoint.get('expect') or {}).items())]
    for entry in endpoint.get('json_checks') or []:
        ops = [(entry['path'], op, entry[op]) for op in _OPS if entry.get(op) is not None]
        checks.extend(ops or [(entry['path'], 'exists', True)])
    return checks


def check_json(data, checks):
    """Return one error string per failed (path, op, argument) check."""
    errors = []
    for path, op, arg in checks:
        found, value = json_path(data, path)
        if op == 'exists':
            if found != arg:
                errors.append('%s: %s' % (path, 'present, expected absent' if found else 'not found in response'))
            continue
        if not found:
            errors.append('%s: not found in response' % path)
        elif op == 'equals' and not same_value(value, arg):
            errors.append('%s: expected %s, got %s' % (path, _show(arg), _show(value)))
        elif op == 'not_equals' and same_value(value, arg):
            errors.append('%s: expected anything but %s' % (path, _show(arg)))
        elif op == 'one_of' and not any(same_value(value, choice) for choice in arg):
            errors.append('%s: got %s, expected one of %s' % (path, _show(value), _show(arg)))
        elif op == 'contains' and not _contains(value, arg):
            errors.append('%s: %s does not contain %s' % (path, _show(value), _show(arg)))
        elif op == 'regex' and not re.search(arg, value if isinstance(value, str) else json.dumps(value)):
            errors.append('%s: %s does not match /%s/' % (path, _show(value), arg))
    return errors


def evaluate(response, endpoint, checks, secrets=(), check_latency=True):
    """Return why a response fails the endpoint's expectations (empty list: it passes)."""
    if response.error:
        return [response.error]
    errors = []
    if response.status not in endpoint['status']:
        snippet = one_line(scrub_text(response.text(), secrets), 80)
        suffix = (': ' + snippet) if snippet else ''
        errors.append('status %s, expected %s%s' % (response.status, endpoint['status'], suffix))
    if endpoint.get('body_contains') and endpoint['body_contains'] not in response.text():
        errors.append('body does not contain %s' % _show(endpoint['body_contains']))
    if checks:
        try:
            data = response.json()
        except ValueError:
            errors.append('response is not JSON (Content-Type: %s)' % (response.header('Content-Type') or 'none'))
        else:
            errors.extend(scrub_text(e, secrets) for e in check_json(data, checks))
    limit = endpoint.get('max_latency_ms')
    if check_latency and limit is not None and response.latency_ms > limit:
        errors.append('latency %s ms over max_latency_ms %s' % (response.latency_ms, limit))
    return errors


def endpoint_names(endpoints):
    """Fill in default names; return (names, duplicates)."""
    names = [ep.get('name') or scrub_url(ep['url']) for ep in endpoints]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    return names, duplicates


def failure_message(results):
    failed = [r for r in results if not r['ok']]
    parts = ['%s (%s)' % (r['name'], '; '.join(r['errors']) or 'failed') for r in failed]
    return 'health check failed for %d of %d endpoints: %s' % (len(failed), len(results), ', '.join(parts))


class HealthChecker(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.token = self.params['token']
        self.secrets = set(v for v in [self.token] if v)
        for spec in self.params['endpoints'] + [self.params['auth'] or {'url': ''}]:
            self.secrets.update(request_secrets(spec['url'], spec.get('headers')))
        # Ansible then masks them everywhere, the -vvv invocation included.
        self.module.no_log_values.update(self.secrets)
        self.auth_error = None

    def _send(self, spec, timeout, extra_headers=None):
        headers = dict(spec.get('headers') or {})
        headers.update(extra_headers or {})
        kwargs = {}
        if spec.get('json') is not None:
            kwargs['json_body'] = spec['json']
        elif spec.get('body') is not None:
            kwargs['body'] = spec['body']
        return http_request(spec['method'], spec['url'], headers=headers, timeout=timeout,
                            validate_certs=self.params['validate_certs'], use_proxy=self.params['use_proxy'], **kwargs)

    def _timeout(self, spec, remaining):
        timeout = spec.get('timeout') or self.params['timeout']
        # Never let one request run far past the deadline, but give it at least a second.
        return min(timeout, max(remaining, 1.0))

    def login(self):
        spec = self.params['auth']
        found = {}

        def attempt(remaining):
            response = self._send(spec, self._timeout(spec, remaining))
            if response.error:
                return False, (response, [response.error])
            if response.status not in spec['status']:
                return False, (response, ['login status %s, expected %s' % (response.status, spec['status'])])
            try:
                ok, token = json_path(response.json(), spec['token_path'])
            except ValueError:
                return False, (response, ['login response is not JSON'])
            if not ok or not isinstance(token, str) or not token:
                return False, (response, ['no string at token_path %r in the login response' % spec['token_path']])
            found['token'] = token
            return True, (response, [])

        ok, (response, errors), attempts = retry_until(attempt, self.params['deadline'], self.params['interval'])
        if ok:
            self.token = found['token']
            self.secrets.add(self.token)
            # Belt and braces: Ansible masks no_log values in everything it returns.
            self.module.no_log_values.add(self.token)
        else:
            self.auth_error = 'auth step failed: %s' % '; '.join(errors)
        return {'url': scrub_url(spec['url']), 'ok': ok, 'status': response.status, 'attempts': attempts,
                'latency_ms': response.latency_ms, 'errors': errors}

    def check(self, endpoint, name):
        result = {'name': name, 'url': scrub_url(endpoint['url']), 'ok': False, 'status': None, 'attempts': 0,
                  'latency_ms': None, 'errors': []}
        extra = {}
        if endpoint['auth']:
            if self.auth_error:
                result['errors'] = ['not attempted: %s' % self.auth_error]
                return result, []
            scheme = (self.params['auth'] or {}).get('scheme', 'Bearer')
            header = (self.params['auth'] or {}).get('header', 'Authorization')
            extra[header] = ('%s %s' % (scheme, self.token)) if scheme else self.token
        checks = build_checks(endpoint)
        deadline = endpoint['deadline'] if endpoint.get('deadline') is not None else self.params['deadline']

        def attempt(remaining):
            response = self._send(endpoint, self._timeout(endpoint, remaining), extra)
            errors = evaluate(response, endpoint, checks, self.secrets, check_latency=not endpoint['samples'])
            return not errors, (response, errors)

        ok, (response, errors), attempts = retry_until(attempt, deadline, self.params['interval'])
        result.update(ok=ok, status=response.status, attempts=attempts, latency_ms=response.latency_ms, errors=errors)
        latencies = [response.latency_ms] if ok else []
        if ok and endpoint['samples']:
            latencies = self._sample(endpoint, checks, extra, result)
        return result, latencies

    def _sample(self, endpoint, checks, extra, result):
        samples = []
        count = endpoint['samples']
        for index in range(count):
            response = self._send(endpoint, endpoint.get('timeout') or self.params['timeout'], extra)
            errors = evaluate(response, endpoint, checks, self.secrets, check_latency=False)
            if errors:
                result.update(ok=False, status=response.status,
                              errors=['sample %d of %d: %s' % (index + 1, count, e) for e in errors])
                break
            samples.append(response.latency_ms)
        result['samples_ms'] = samples
        if samples:
            result['latency_ms'] = round(statistics.median(samples), 1)
        p95 = percentile(samples, 95)
        limit = endpoint.get('max_latency_ms')
        if result['ok'] and limit is not None and p95 > limit:
            result.update(ok=False, errors=['p95 latency %s ms over max_latency_ms %s (%d samples)' % (p95, limit, count)])
        return samples if result['ok'] else []

    def run(self):
        endpoints = self.params['endpoints']
        names, duplicates = endpoint_names(endpoints)
        if duplicates:
            self.module.fail_json(msg='endpoint names must be unique; give these a distinct name: %s' % ', '.join(duplicates))
        for endpoint, name in zip(endpoints, names):
            if endpoint['auth'] and not (self.params['auth'] or self.token):
                self.module.fail_json(msg='endpoint %s has auth=true, but neither auth nor token is set' % name)
            if endpoint['samples'] < 0 or endpoint['samples'] > 1000:
                self.module.fail_json(msg='endpoint %s: samples must be between 0 and 1000' % name)
            if bad_regexes(endpoint):
                self.module.fail_json(msg='endpoint %s: %s' % (name, '; '.join(bad_regexes(endpoint))))
        output = {'changed': False}
        if self.params['auth'] and any(ep['auth'] for ep in endpoints):
            output['auth'] = self.login()
        with ThreadPoolExecutor(max_workers=max(1, min(self.params['concurrency'], len(endpoints)))) as pool:
            outcomes = list(pool.map(self.check, endpoints, names))
        results = [result for result, _latencies in outcomes]
        failed = [r['name'] for r in results if not r['ok']]
        output.update(endpoints=results, failed=failed, failed_endpoints=failed,
                      latency=latency_summary([ms for _result, latencies in outcomes for ms in latencies]))
        if failed:
            self.module.fail_json(msg=failure_message(results), **output)
        self.module.exit_json(**output)


def main():
    check_spec = dict(
        path=dict(type='str', required=True),
        equals=dict(type='raw'),
        not_equals=dict(type='raw'),
        one_of=dict(type='list', elements='raw'),
        contains=dict(type='raw'),
        regex=dict(type='str'),
        exists=dict(type='bool'),
    )
    endpoint_spec = dict(
        name=dict(type='str'),
        url=dict(type='str', required=True),
        method=dict(type='str', default='GET'),
        headers=dict(type='dict', default={}),
        body=dict(type='str'),
        json=dict(type='raw'),
        status=dict(type='list', elements='int', default=[200]),
        expect=dict(type='dict'),
        json_checks=dict(type='list', elements='dict', options=check_spec),
        body_contains=dict(type='str'),
        max_latency_ms=dict(type='float'),
        auth=dict(type='bool', default=False),
        samples=dict(type='int', default=0),
        timeout=dict(type='float'),
        deadline=dict(type='float'),
    )
    auth_spec = dict(
        url=dict(type='str', required=True),
        method=dict(type='str', default='POST'),
        headers=dict(type='dict', default={}),
        json=dict(type='raw', no_log=True),
        body=dict(type='str', no_log=True),
        status=dict(type='list', elements='int', default=[200]),
        token_path=dict(type='str', default='access_token', no_log=False),
        header=dict(type='str', default='Authorization'),
        scheme=dict(type='str', default='Bearer'),
    )
    module = AnsibleModule(
        argument_spec=dict(
            endpoints=dict(type='list', elements='dict', required=True, options=endpoint_spec,
                           mutually_exclusive=[['body', 'json']]),
            auth=dict(type='dict', options=auth_spec, mutually_exclusive=[['body', 'json']]),
            token=dict(type='str', no_log=True),
            timeout=dict(type='float', default=5),
            deadline=dict(type='float', default=60),
            interval=dict(type='float', default=2),
            concurrency=dict(type='int', default=8),
            validate_certs=dict(type='bool', default=True),
            use_proxy=dict(type='bool', default=True),
        ),
        mutually_exclusive=[['auth', 'token']],
        supports_check_mode=True,
    )
    if not module.params['endpoints']:
        module.fail_json(msg='endpoints must list at least one endpoint')
    HealthChecker(module).run()


if __name__ == '__main__':
    main()
