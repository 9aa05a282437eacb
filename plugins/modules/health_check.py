#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: health_check
short_description: Check many HTTP endpoints until a deadline, with JSON, latency and login assertions and chained requests
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
  - 'Requests can be chained: an endpoint saves values out of its JSON answer with O(endpoints[].save) (for example the
    id of a job it created), and later endpoints use them as C(${name}) placeholders, for example to poll
    C(/jobs/${id}) until O(endpoints[].expect) holds, or to stop early with O(endpoints[].abort_if). Endpoints then run
    in waves: an endpoint starts once every endpoint whose values it uses has finished; inside a wave they run
    concurrently as above.'
  - The result carries its own one-line RV(summary), the text the P(aishield.ops.health_summary#filter) filter makes of it.
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
      - An endpoint that creates something, such as a POST that submits a job, does so in check mode too; leave it out
        of check-mode runs when that matters.
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
          - A path (starting with C(/)) is joined to O(base_url); C(path) is an alias for stack descriptions.
          - May contain C(${name}) placeholders (see O(endpoints[].save)). Saved values are inserted as they are, not
            URL-encoded. RV(endpoints[].url) shows the URL with its placeholders, not the values.
        type: str
        required: true
        aliases: [path]
      method:
        description: HTTP method.
        type: str
        default: GET
      headers:
        description:
          - Extra request headers. They are never returned, but they do show in the task invocation with C(-vvv); pass
            credentials through O(auth) or O(token) instead.
          - Header values may contain C(${name}) placeholders (see O(endpoints[].save)).
        type: dict
        default: {}
      body:
        description:
          - Raw request body. May contain C(${name}) placeholders (see O(endpoints[].save)).
        type: str
      json:
        description:
          - Request body sent as JSON, with a C(Content-Type) of C(application/json).
          - String values, at any depth, may contain C(${name}) placeholders (see O(endpoints[].save)); keys are left
            alone. A string that is exactly one placeholder takes the saved value with its JSON type (a saved V(42)
            is sent as the number V(42)); inside a longer string a value is written as text (JSON text for numbers,
            booleans, V(null), lists and dicts).
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
      interval:
        description: Overrides O(interval) for this endpoint, for example to poll a job more often than the rest is retried.
        type: float
      save:
        description:
          - 'Values to take out of the JSON answer once the endpoint passes, a mapping of name to dotted path (the same
            paths as O(endpoints[].expect)), for example C({"id": "id"}) or C({"job": "links.self"}).'
          - Later endpoints use them as C(${name}) placeholders in O(endpoints[].url), O(endpoints[].body), string
            values of O(endpoints[].json) and values of O(endpoints[].headers). Write C($${name}) for the literal
            text C(${name}). Text such as C(${1}) or C($HOME) that is no placeholder is left alone.
          - A path missing from an otherwise passing answer counts as a failed attempt, retried until the deadline.
          - 'An endpoint that uses a placeholder runs after the endpoint that saves it has finished. When that endpoint
            failed, it fails without a request, with C(not attempted: <endpoint> failed).'
          - A placeholder that no endpoint saves, a name saved by two endpoints and endpoints that wait for each other's
            values (a cycle) are refused before any request is made.
          - Saved values are never returned (they may be ids or tokens), and they are masked where they stand alone in
            error messages. RV(saved) lists the names that were saved. A value put into a credential header (such as
            C(Authorization)) is also handled as a secret and masked wherever it appears.
          - Names are letters, digits and underscores, not starting with a digit.
        type: dict
      abort_if:
        description:
          - 'A mapping of dotted JSON path to value, for example C({"status": "failed"}). A response whose JSON
            matches every entry ends the endpoint at once, without further retries, failing with a message such as
            C(aborted: status is "failed").'
          - Use it to stop polling a job that has failed instead of waiting for the deadline. Checked on every
            response, samples included, before the expectations.
        type: dict
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
  base_url:
    description:
      - Prepended to each O(endpoints[].url) and O(auth.url) that is a path (starts with C(/)), so a stack's checks can
        be written once and aimed at each host's address.
    type: str
    default: ''
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
    description:
      - How many endpoints are checked at the same time (within a wave, see O(endpoints[].save)).
    type: int
    default: 8
  max_p95_ms:
    description:
      - When set and every endpoint passed, the task fails if RV(latency.p95_ms) is above this many milliseconds, with a
        message naming both values. The result is returned in full either way.
    type: float
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
    on success) is still returned, so C(ignore_errors) or C(failed_when) plus RV(summary) work.
  - 'A login can also be an ordinary endpoint that saves its token, for example C(save: {token: access_token}) with a
    header C(Authorization: Bearer ${token}) on later endpoints; O(auth) remains the simpler way for one token.'
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

- name: Health, then a job submitted and polled until the worker finishes it, and a p95 limit, in one task
  aishield.ops.health_check:
    deadline: 60
    max_p95_ms: 500
    auth:
      url: http://127.0.0.1:8000/api/v1/auth/login
      json:
        email: smoke@aishield.example
        password: "{{ vault_smoke_password }}"
    endpoints:
      - name: api
        url: http://127.0.0.1:8000/health
        expect: {status: ok}
      - name: scan_submit
        url: http://127.0.0.1:8000/api/v1/scans/code
        method: POST
        json: {code: "print('smoke test')", language: python}
        status: [202]
        auth: true
        save: {id: id}
      # Runs after scan_submit (it uses ${id}); polled every 0.2 s, stops at once on "failed".
      - name: scan_done
        url: http://127.0.0.1:8000/api/v1/scans/${id}
        auth: true
        expect: {status: done}
        abort_if: {status: failed}
        interval: 0.2
        deadline: 120
  register: smoke_test_result

- name: The same summary line, without the filter
  ansible.builtin.debug:
    msg: "{{ smoke_test_result.summary }}"
"""

RETURN = r"""
started:
  description: When the checks started, seconds since the epoch on the host (for phase timings).
  returned: always
  type: float
  sample: 1764931200.5
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
      description:
        - The URL without credentials; credential-like query values are masked.
        - C(${name}) placeholders are shown as given, not filled in.
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
      description:
        - Requests made before it passed, was aborted (O(endpoints[].abort_if)) or the deadline ran out (samples not
          counted; V(0) when not attempted).
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
saved:
  description:
    - Names of the values saved with O(endpoints[].save), in endpoint order. The values themselves are never returned.
  returned: when the checks ran
  type: list
  elements: str
  sample: [id]
summary:
  description:
    - One line for people, the same text P(aishield.ops.health_summary#filter) makes of this result.
    - It does not mention O(max_p95_ms); when that limit fails the task, the message says so.
  returned: when the checks ran
  type: str
  sample: '6/7 endpoints healthy; p95 23 ms; FAILED: scan_done (HTTP 200 after 4 attempts: aborted: status is "failed")'
"""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils._health import (
    ABORT, PASS, RETRY, abort_reason, bad_regexes, build_checks, endpoint_names, evaluate, extract_saves, failure_message,
    fill_endpoint, health_summary, mask_values, p95_over, placeholders, plan_waves, poll,
)
from ansible_collections.aishield.ops.plugins.module_utils._http import http_request, retry_until
from ansible_collections.aishield.ops.plugins.module_utils._http_text import (
    json_path, latency_summary, percentile, request_secrets, scrub_url,
)


class HealthChecker(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.token = self.params['token']
        self.secrets = set()
        self._add_secrets([self.token])
        for spec in self.params['endpoints'] + [self.params['auth'] or {'url': ''}]:
            # A template such as "Bearer ${token}" is no secret; its filled-in value is added before it is sent.
            self._add_secrets(value for value in request_secrets(spec['url'], spec.get('headers'))
                              if not placeholders(value))
        self.auth_error = None
        # Values saved by passing endpoints for later ${name} placeholders; never returned.
        self.saved = {}

    def _add_secrets(self, found):
        found = set(value for value in found if value)
        self.secrets.update(found)
        # Ansible then masks them everywhere, the -vvv invocation included.
        self.module.no_log_values.update(found)

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

    def check(self, endpoint, name, url, blocked=()):
        """Check one endpoint (its placeholders already filled); return (result, latencies, saved values)."""
        # url is the endpoint's URL as given: placeholders unfilled, so saved values stay out of the result.
        result = {'name': name, 'url': scrub_url(url), 'ok': False, 'status': None, 'attempts': 0,
                  'latency_ms': None, 'errors': []}
        extra = {}
        if endpoint['auth']:
            if self.auth_error:
                result['errors'] = ['not attempted: %s' % self.auth_error]
                return result, [], {}
            scheme = (self.params['auth'] or {}).get('scheme', 'Bearer')
            header = (self.params['auth'] or {}).get('header', 'Authorization')
            extra[header] = ('%s %s' % (scheme, self.token)) if scheme else self.token
        if blocked:
            result['errors'] = ['not attempted: %s failed' % ', '.join(blocked)]
            return result, [], {}
        checks = build_checks(endpoint)
        deadline = endpoint['deadline'] if endpoint.get('deadline') is not None else self.params['deadline']
        interval = endpoint['interval'] if endpoint.get('interval') is not None else self.params['interval']

        def attempt(remaining):
            response = self._send(endpoint, self._timeout(endpoint, remaining), extra)
            reason = abort_reason(response, endpoint.get('abort_if'))
            if reason:
                return ABORT, (response, [reason], {})
            errors = evaluate(response, endpoint, checks, self.secrets, check_latency=not endpoint['samples'])
            values = {}
            if not errors:
                # A passing status with the value still missing is retried like any other miss.
                values, errors = extract_saves(response, endpoint.get('save'))
            return (RETRY if errors else PASS), (response, errors, values)

        outcome, (response, errors, values), attempts = poll(attempt, deadline, interval)
        ok = outcome == PASS
        result.update(ok=ok, status=response.status, attempts=attempts, latency_ms=response.latency_ms, errors=errors)
        latencies = [response.latency_ms] if ok else []
        if ok and endpoint['samples']:
            latencies = self._sample(endpoint, checks, extra, result)
        return result, latencies, (values if result['ok'] else {})

    def _sample(self, endpoint, checks, extra, result):
        samples = []
        count = endpoint['samples']
        for index in range(count):
            response = self._send(endpoint, endpoint.get('timeout') or self.params['timeout'], extra)
            reason = abort_reason(response, endpoint.get('abort_if'))
            errors = [reason] if reason else evaluate(response, endpoint, checks, self.secrets, check_latency=False)
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

    def _validate(self, endpoints):
        """Refuse bad input before any request; return the names, the waves and what each endpoint needs."""
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
        try:
            waves, needs = plan_waves(endpoints, names)
        except ValueError as exc:
            self.module.fail_json(msg=str(exc))
        return names, waves, needs

    def run(self):
        endpoints = self.params['endpoints']
        names, waves, needs = self._validate(endpoints)
        output = {'changed': False, 'started': time.time()}
        if self.params['auth'] and any(ep['auth'] for ep in endpoints):
            output['auth'] = self.login()
        results = [None] * len(endpoints)
        latencies = [[] for _endpoint in endpoints]
        # A wave runs once every value it needs is saved; inside a wave, endpoints run side by side.
        for wave in waves:
            jobs = []
            for index in wave:
                blocked = [names[saver] for saver in sorted(needs[index]) if not results[saver]['ok']]
                filled = endpoints[index] if blocked else fill_endpoint(endpoints[index], self.saved)
                self._add_secrets(request_secrets(filled['url'], filled.get('headers')))
                jobs.append((index, filled, blocked))
            with ThreadPoolExecutor(max_workers=max(1, min(self.params['concurrency'], len(jobs)))) as pool:
                outcomes = list(pool.map(lambda job: self.check(job[1], names[job[0]], endpoints[job[0]]['url'], job[2]),
                                         jobs))
            for (index, _filled, _blocked), (result, measured, values) in zip(jobs, outcomes):
                results[index], latencies[index] = result, measured
                self.saved.update(values)
        # Saved values (ids, tokens) may echo in response snippets: they never leave the module.
        for result in results:
            result['errors'] = [mask_values(error, self.saved.values()) for error in result['errors']]
        failed = [r['name'] for r in results if not r['ok']]
        output.update(endpoints=results, failed=failed, failed_endpoints=failed,
                      latency=latency_summary([ms for measured in latencies for ms in measured]),
                      saved=[key for endpoint in endpoints for key in (endpoint.get('save') or {}) if key in self.saved])
        output['summary'] = health_summary(output)
        output['finished'] = time.time()
        if failed:
            self.module.fail_json(msg=failure_message(results), **output)
        over = p95_over(output['latency'], self.params['max_p95_ms'])
        if over:
            self.module.fail_json(msg=over, **output)
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
        url=dict(type='str', required=True, aliases=['path']),
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
        interval=dict(type='float'),
        save=dict(type='dict'),
        abort_if=dict(type='dict'),
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
            max_p95_ms=dict(type='float'),
            validate_certs=dict(type='bool', default=True),
            use_proxy=dict(type='bool', default=True),
            base_url=dict(type='str', default=''),
        ),
        mutually_exclusive=[['auth', 'token']],
        supports_check_mode=True,
    )
    if not module.params['endpoints']:
        module.fail_json(msg='endpoints must list at least one endpoint')
    relative = [spec for spec in module.params['endpoints'] + [module.params['auth'] or {'url': ''}]
                if spec['url'].startswith('/')]
    if relative and not module.params['base_url']:
        module.fail_json(msg='endpoint %s has a path for its url (%s) but base_url is empty; give a full URL or base_url.'
                         % (relative[0].get('name') or relative[0]['url'], relative[0]['url']))
    for spec in relative:
        spec['url'] = module.params['base_url'].rstrip('/') + spec['url']
    HealthChecker(module).run()


if __name__ == '__main__':
    main()
