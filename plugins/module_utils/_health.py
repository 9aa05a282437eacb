# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pure logic of aishield.ops.health_check, shared with the health_summary filter.

JSON expectations, saved values and ${name} placeholders, the order endpoints run in
(waves), abort rules, the p95 gate and the one-line summary. Nothing here touches the
network, so all of it is unit-tested directly.
"""

from __future__ import annotations

import json
import re
import time

from ansible_collections.aishield.ops.plugins.module_utils._http_text import (
    MASK, json_path, one_line, same_value, scrub_text, scrub_url,
)

_OPS = ('equals', 'not_equals', 'one_of', 'contains', 'regex', 'exists')

# ${name} is a placeholder; $${name} stands for the literal text ${name}.
_PLACEHOLDER_RE = re.compile(r'\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}')
_NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')

# Outcomes of one attempt, for poll().
PASS, RETRY, ABORT = 'pass', 'retry', 'abort'

# Keeps the summary readable in chat messages and status-page updates.
_SUMMARY_ERROR_MAX = 120


# --- JSON expectations ------------------------------------------------------------------------


def show(value, limit=60):
    """Short JSON rendering of a value for messages."""
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
            errors.append('%s: expected %s, got %s' % (path, show(arg), show(value)))
        elif op == 'not_equals' and same_value(value, arg):
            errors.append('%s: expected anything but %s' % (path, show(arg)))
        elif op == 'one_of' and not any(same_value(value, choice) for choice in arg):
            errors.append('%s: got %s, expected one of %s' % (path, show(value), show(arg)))
        elif op == 'contains' and not _contains(value, arg):
            errors.append('%s: %s does not contain %s' % (path, show(value), show(arg)))
        elif op == 'regex' and not re.search(arg, value if isinstance(value, str) else json.dumps(value)):
            errors.append('%s: %s does not match /%s/' % (path, show(value), arg))
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
        errors.append('body does not contain %s' % show(endpoint['body_contains']))
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


def _response_json(response):
    """(True, data) for a JSON response, (False, None) otherwise (transport errors included)."""
    if response.error:
        return False, None
    try:
        return True, response.json()
    except ValueError:
        return False, None


def abort_reason(response, abort_if):
    """'aborted: status is "failed"' when the response's JSON matches every abort_if entry, else None."""
    if not abort_if:
        return None
    is_json, data = _response_json(response)
    if not is_json:
        return None
    parts = []
    for path, value in sorted(abort_if.items()):
        found, actual = json_path(data, path)
        if not found or not same_value(actual, value):
            return None
        parts.append('%s is %s' % (path, show(actual)))
    return 'aborted: ' + ', '.join(parts)


def extract_saves(response, save):
    """Pick the save paths out of a passing response: (values, errors)."""
    if not save:
        return {}, []
    is_json, data = _response_json(response)
    if not is_json:
        return {}, ['save %s: response is not JSON' % ', '.join(sorted(save))]
    values, errors = {}, []
    for name, path in save.items():
        found, value = json_path(data, str(path))
        if found:
            values[name] = value
        else:
            errors.append('save %s: %s not found in response' % (name, path))
    return values, errors


# --- names, waves and placeholders ------------------------------------------------------------


def endpoint_names(endpoints):
    """Fill in default names; return (names, duplicates)."""
    names = [ep.get('name') or scrub_url(ep['url']) for ep in endpoints]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    return names, duplicates


def placeholders(value):
    """Names of the ${name} placeholders in a string, or in the strings inside a dict or list, in order."""
    found = []

    def walk(item):
        if isinstance(item, str):
            for match in _PLACEHOLDER_RE.finditer(item):
                if not match.group(1) and match.group(2) not in found:
                    found.append(match.group(2))
        elif isinstance(item, dict):
            for element in item.values():
                walk(element)
        elif isinstance(item, (list, tuple)):
            for element in item:
                walk(element)
    walk(value)
    return found


def endpoint_placeholders(endpoint):
    """Placeholders in the fields that take them: url, body, json (string values) and header values."""
    return placeholders([endpoint.get('url'), endpoint.get('body'), endpoint.get('json'),
                         list((endpoint.get('headers') or {}).values())])


def _as_text(value):
    # Strings go in as they are; numbers, booleans, null and structures as their JSON text.
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def fill_text(text, saved):
    """Replace ${name} with saved[name] as text; $${name} becomes the literal ${name}."""
    def replace(match):
        if match.group(1):
            return match.group(0)[1:]
        return _as_text(saved[match.group(2)])
    return _PLACEHOLDER_RE.sub(replace, text)


def fill_json(value, saved):
    """Fill placeholders in a JSON body's string values, recursively; keys stay as they are.

    A string that is exactly one placeholder takes the saved value with its JSON type
    (an id saved as 42 is sent as 42, not "42").
    """
    if isinstance(value, str):
        match = _PLACEHOLDER_RE.fullmatch(value)
        if match and not match.group(1):
            return saved[match.group(2)]
        return fill_text(value, saved)
    if isinstance(value, dict):
        return dict((key, fill_json(element, saved)) for key, element in value.items())
    if isinstance(value, list):
        return [fill_json(element, saved) for element in value]
    return value


def fill_endpoint(endpoint, saved):
    """A copy of the endpoint with saved values in its url, body, json and header values."""
    filled = dict(endpoint)
    filled['url'] = fill_text(endpoint['url'], saved)
    if isinstance(endpoint.get('body'), str):
        filled['body'] = fill_text(endpoint['body'], saved)
    if endpoint.get('json') is not None:
        filled['json'] = fill_json(endpoint['json'], saved)
    filled['headers'] = dict((key, fill_text(value, saved) if isinstance(value, str) else value)
                             for key, value in (endpoint.get('headers') or {}).items())
    return filled


def _find_cycle(pending, needs):
    """One dependency cycle among pending endpoints, as [(index, placeholder, saver index), ...]."""
    start = min(pending)
    path, seen = [], {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        saver, name = sorted((s, n) for s, names in needs[node].items() if s in pending for n in names)[0]
        path.append((node, name, saver))
        node = saver
    return path[seen[node]:]


def plan_waves(endpoints, names):
    """Order endpoints so each runs after the endpoints whose saved values it uses.

    Returns (waves, needs): waves is a list of lists of endpoint indices (every endpoint
    in a wave depends only on earlier waves); needs[i] maps a saver's index to the
    placeholder names endpoint i takes from it. Raises ValueError naming the endpoint and
    the placeholder for a bad save name, a name saved twice, an unknown placeholder or a cycle.
    """
    savers = {}
    for index, endpoint in enumerate(endpoints):
        for key in endpoint.get('save') or {}:
            if not _NAME_RE.match(str(key)):
                raise ValueError('endpoint %s: save name %r must be letters, digits and underscores, not starting '
                                 'with a digit, so ${name} can refer to it' % (names[index], key))
            if key in savers:
                raise ValueError('endpoints %s and %s both save %s; give one of them another name'
                                 % (names[savers[key]], names[index], key))
            savers[key] = index
    needs = []
    for index, endpoint in enumerate(endpoints):
        need = {}
        for name in endpoint_placeholders(endpoint):
            if name not in savers:
                known = ', '.join(sorted(savers)) or 'none'
                raise ValueError('endpoint %s uses ${%s}, but no endpoint saves %s (saved names: %s); add '
                                 'save: {%s: <JSON path>} to the endpoint that returns it, or write $${%s} for the '
                                 'literal text' % (names[index], name, name, known, name, name))
            need.setdefault(savers[name], []).append(name)
        needs.append(need)
    waves, done, pending = [], set(), set(range(len(endpoints)))
    while pending:
        wave = sorted(i for i in pending if set(needs[i]) <= done)
        if not wave:
            cycle = _find_cycle(pending, needs)
            links = '; '.join('%s uses ${%s} saved by %s' % (names[i], name, names[saver]) for i, name, saver in cycle)
            raise ValueError('saved values form a cycle, so none of these endpoints can run first: %s' % links)
        waves.append(wave)
        done.update(wave)
        pending.difference_update(wave)
    return waves, needs


def mask_values(text, values):
    """Mask saved values where they stand as a whole word or number ("scan 42 not found", not "1420")."""
    texts = set()
    for value in values:
        # true/false/null and empty strings are not worth hiding and would mask unrelated words.
        if value is None or isinstance(value, bool) or value == '':
            continue
        texts.add(_as_text(value))
    for item in sorted(texts, key=len, reverse=True):
        text = re.sub(r'(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])' % re.escape(item), MASK, text)
    return text


# --- retries, results and gates ---------------------------------------------------------------


def poll(attempt, deadline_s, interval_s, clock=time.monotonic, sleep=time.sleep):
    """Call attempt(remaining_s) until it returns PASS or ABORT, or deadline_s has passed.

    attempt() returns (outcome, value) with outcome PASS, RETRY or ABORT. It always runs at
    least once, and never sleeps past the deadline. Returns (outcome, value, attempts).
    """
    end = clock() + max(deadline_s, 0.0)
    attempts = 0
    while True:
        attempts += 1
        outcome, value = attempt(max(end - clock(), 0.0))
        remaining = end - clock()
        if outcome != RETRY or remaining <= 0:
            return outcome, value, attempts
        # A last attempt right at the deadline is still worth making.
        sleep(min(max(interval_s, 0.0), remaining))


def failure_message(results):
    failed = [r for r in results if not r['ok']]
    parts = ['%s (%s)' % (r['name'], '; '.join(r['errors']) or 'failed') for r in failed]
    return 'health check failed for %d of %d endpoints: %s' % (len(failed), len(results), ', '.join(parts))


def _number(value):
    return '%g' % value if isinstance(value, float) else str(value)


def p95_over(latency, limit):
    """Why latency['p95_ms'] is over limit (a message naming both), or None when it is not or no limit is set."""
    p95 = (latency or {}).get('p95_ms')
    if limit is None or p95 is None or p95 <= limit:
        return None
    return 'p95 latency %s ms is above max_p95_ms %s ms (over %s responses)' % (
        _number(p95), _number(limit), (latency or {}).get('count'))


# --- the one-line summary ---------------------------------------------------------------------


class SummaryError(ValueError):
    """The value given to the summary is not a health_check result."""


def _ms(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value < 10 and value != int(value):
        return '%.1f ms' % value
    return '%d ms' % round(value)


def _summary_error(text):
    text = ' '.join(str(text).split())
    return text if len(text) <= _SUMMARY_ERROR_MAX else text[:_SUMMARY_ERROR_MAX - 3] + '...'


def _endpoint_label(endpoint, index):
    for key in ('name', 'url'):
        value = endpoint.get(key)
        if isinstance(value, str) and value:
            return value
    return 'endpoint #%d' % (index + 1)


def _failure_detail(endpoint):
    status = endpoint.get('status')
    if isinstance(status, int) and not isinstance(status, bool):
        what = 'HTTP %d' % status
    else:
        what = 'no response'
    attempts = endpoint.get('attempts')
    if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts > 0:
        what += ' after %d attempt%s' % (attempts, 's' if attempts != 1 else '')
    errors = endpoint.get('errors')
    if isinstance(errors, str):
        errors = [errors]
    if isinstance(errors, (list, tuple)) and errors:
        # The last attempt's error is the one that decided the outcome.
        what += ': %s' % _summary_error(errors[-1])
    return what


def health_summary(result):
    """Summarise a health_check result as "N/M endpoints healthy; p95 X ms; FAILED: ...".

    Raises SummaryError when result is not shaped like a health_check result.
    """
    if not isinstance(result, dict):
        raise SummaryError('health_summary expects the dict returned by aishield.ops.health_check, got %s'
                           % type(result).__name__)
    if 'endpoints' not in result:
        keys = ', '.join(sorted(str(k) for k in result)) or 'none'
        raise SummaryError('health_summary needs an "endpoints" list in the health_check result (keys present: %s); '
                           'register the health_check task and pass that variable' % keys)
    endpoints = result['endpoints']
    if not isinstance(endpoints, (list, tuple)):
        raise SummaryError('"endpoints" is %s; expected a list of endpoint results' % type(endpoints).__name__)

    failed_names = result.get('failed') if isinstance(result.get('failed'), (list, tuple)) else []
    healthy = 0
    failures = []
    labels = set()
    for index, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, dict):
            raise SummaryError('endpoints[%d]=%r is not a dict; expected an endpoint result' % (index, endpoint))
        label = _endpoint_label(endpoint, index)
        labels.add(label)
        ok = endpoint.get('ok')
        if not isinstance(ok, bool):
            # Without an explicit ok, trust the module's own failed list.
            ok = label not in failed_names
        if ok:
            healthy += 1
        else:
            failures.append('%s (%s)' % (label, _failure_detail(endpoint)))
    # A name in "failed" with no endpoint entry still has to be reported.
    failures.extend(str(name) for name in failed_names if str(name) not in labels)

    if endpoints:
        parts = ['%d/%d endpoints healthy' % (healthy, len(endpoints))]
    else:
        parts = ['no endpoints checked']
    latency = result.get('latency')
    if isinstance(latency, dict):
        p95 = _ms(latency.get('p95_ms'))
        if p95 is not None:
            parts.append('p95 %s' % p95)
    if failures:
        parts.append('FAILED: ' + ', '.join(failures))
    return '; '.join(parts)
