# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""HTTP requests with timing, bounded retries, latency statistics and secret scrubbing.

Shared by the health_check and statuspage_incident modules. Everything except
http_request() is pure, so it is unit-tested without a network.
"""

from __future__ import annotations

import json
import math
import re
import socket
import ssl
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.urls import Request, make_context

# Same mask Ansible uses for no_log values, so users recognise it.
MASK = '********'

# Header and field names whose values are credentials.
_SECRET_NAME_RE = re.compile(
    r'(?i)(authorization|cookie|token|secret|passw(or)?d|passwd|pwd|api[-_]?key|apikey|credential|signature|session)')
_SECRET_HEADERS = ('authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token')
# "access_token": "abc" in JSON text, and "Bearer abc" / "OAuth abc" anywhere.
_JSON_SECRET_RE = re.compile(
    r'("[^"]*(?:token|secret|passw(?:or)?d|api[-_]?key|credential)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"', re.I)
_SCHEME_SECRET_RE = re.compile(r'\b(Bearer|OAuth|Basic|Token)\s+[A-Za-z0-9._~+/=-]+')

_UNSET = object()
# Building an SSL context loads the CA bundle (100+ ms): do it once, outside the timed part.
_CONTEXTS = {}


class HttpResponse(object):
    """One request's outcome: a status (None when no response came) or a transport error."""

    def __init__(self, status=None, headers=None, body=b'', latency_ms=None, error=None):
        self.status = status
        self.headers = headers or {}
        self.body = body or b''
        self.latency_ms = latency_ms
        self.error = error

    def text(self):
        return to_text(self.body, errors='surrogate_or_replace')

    def json(self):
        """Return the decoded JSON body; raises ValueError when the body is not JSON."""
        return json.loads(self.text())

    def header(self, name):
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return None


def describe_exception(exc, timeout=None):
    """Return a short, secret-free reason for a transport failure."""
    reason = getattr(exc, 'reason', exc)
    if isinstance(reason, (socket.timeout, TimeoutError)) or 'timed out' in str(reason).lower():
        return 'timed out after %s s' % _fmt_num(timeout) if timeout else 'timed out'
    if isinstance(reason, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(reason, ConnectionResetError):
        return 'connection reset by peer'
    if isinstance(reason, socket.gaierror):
        return 'name resolution failed'
    if isinstance(reason, ssl.SSLError):
        return 'TLS error: %s' % one_line(getattr(reason, 'reason', None) or reason)
    text = one_line(reason) or type(reason).__name__
    return text


def http_request(method, url, headers=None, body=None, json_body=_UNSET, timeout=10.0,
                 validate_certs=True, use_proxy=True, follow_redirects='safe'):
    """Send one request and return an HttpResponse; never raises for HTTP or network errors.

    Credentials in the URL (user:password@) are sent as basic auth on the first request,
    without waiting for a 401 challenge, which health endpoints rarely send.
    """
    headers = dict(headers or {})
    data = None
    if json_body is not _UNSET:
        data = to_bytes(json.dumps(json_body))
        if not any(k.lower() == 'content-type' for k in headers):
            headers['Content-Type'] = 'application/json'
    elif body is not None:
        data = to_bytes(body)
    context = _ssl_context(validate_certs)
    start = time.monotonic()
    try:
        resp = Request().open(method.upper(), url, data=data, headers=headers, timeout=timeout,
                              validate_certs=validate_certs, use_proxy=use_proxy, follow_redirects=follow_redirects,
                              http_agent='aishield.ops', context=context, force_basic_auth=True)
        payload = resp.read()
        status, resp_headers = resp.getcode(), dict(resp.headers.items())
    except HTTPError as exc:
        # 4xx/5xx still carry a status and a body worth checking.
        try:
            payload = exc.read()
        except Exception:  # pylint: disable=broad-except
            payload = b''
        status = exc.code
        resp_headers = dict(exc.headers.items()) if exc.headers else {}
    except (URLError, HTTPException, OSError, ValueError) as exc:
        return HttpResponse(latency_ms=_elapsed_ms(start), error=describe_exception(exc, timeout))
    return HttpResponse(status, resp_headers, payload, _elapsed_ms(start))


def _ssl_context(validate_certs):
    if validate_certs not in _CONTEXTS:
        _CONTEXTS[validate_certs] = make_context(validate_certs=validate_certs)
    return _CONTEXTS[validate_certs]


def _elapsed_ms(start):
    return round((time.monotonic() - start) * 1000.0, 1)


def request_with_retries(send, retries=3, backoff=1.0, retry_statuses=(429, 502, 503, 504),
                         retry_transport=True, sleep=time.sleep):
    """Call send() until it gives a non-retryable answer; at most retries + 1 calls.

    send() returns an HttpResponse. The backoff doubles each time and is
    capped at 30 s, so the total wait stays bounded.
    """
    attempt = 0
    while True:
        response = send()
        attempt += 1
        retryable = (response.status in retry_statuses) if response.status is not None else retry_transport
        if not retryable or attempt > retries:
            return response, attempt
        sleep(min(backoff * (2 ** (attempt - 1)), 30.0))


def retry_until(attempt, deadline_s, interval_s, clock=time.monotonic, sleep=time.sleep):
    """Call attempt(remaining_s) until it succeeds or deadline_s has passed.

    attempt() returns (ok, value). It always runs at least once. Returns
    (ok, value, attempts). Never sleeps past the deadline.
    """
    end = clock() + max(deadline_s, 0.0)
    attempts = 0
    while True:
        attempts += 1
        ok, value = attempt(max(end - clock(), 0.0))
        remaining = end - clock()
        if ok or remaining <= 0:
            return ok, value, attempts
        # A last attempt right at the deadline is still worth making.
        sleep(min(max(interval_s, 0.0), remaining))


def one_line(value, limit=300):
    """Collapse whitespace so a message stays on one line, truncated to limit characters."""
    text = ' '.join(to_text(value, errors='surrogate_or_replace').split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _fmt_num(value):
    return ('%g' % value) if isinstance(value, float) else str(value)


def scrub_url(url):
    """Drop user:password@ and mask credential-looking query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc.rpartition('@')[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = '&'.join('%s=%s' % (quote(k, safe=''), MASK if _SECRET_NAME_RE.search(k) else quote(v, safe=''))
                         for k, v in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub_headers(headers):
    """Return a copy with credential header values masked."""
    out = {}
    for key, value in (headers or {}).items():
        secret = key.lower() in _SECRET_HEADERS or _SECRET_NAME_RE.search(key)
        out[key] = MASK if secret else value
    return out


def request_secrets(url, headers=None):
    """Credentials carried by a URL's userinfo or by credential headers, so callers can mask them."""
    found = set()
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found.update((password, unquote(password)))
    for key, value in (headers or {}).items():
        if value and (key.lower() in _SECRET_HEADERS or _SECRET_NAME_RE.search(key)):
            value = to_text(value)
            found.add(value)
            # "Bearer xyz": the credential on its own may show up elsewhere too.
            parts = value.split(None, 1)
            if len(parts) == 2:
                found.add(parts[1])
    return found


def scrub_text(text, secrets=()):
    """Mask known secrets, JSON credential fields and Authorization-style tokens in free text."""
    text = to_text(text, errors='surrogate_or_replace')
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _JSON_SECRET_RE.sub(lambda m: m.group(1) + '"' + MASK + '"', text)
    return _SCHEME_SECRET_RE.sub(lambda m: m.group(1) + ' ' + MASK, text)


def json_path(data, path):
    """Look up a dotted path ("checks.database.status", "items.0.id") in decoded JSON.

    Returns (found, value). Numeric segments index lists; an empty path is the whole document.
    """
    value = data
    if path in (None, ''):
        return True, value
    for segment in str(path).split('.'):
        if isinstance(value, dict):
            if segment not in value:
                return False, None
            value = value[segment]
        elif isinstance(value, list) and re.match(r'^-?\d+$', segment):
            index = int(segment)
            if not -len(value) <= index < len(value):
                return False, None
            value = value[index]
        else:
            return False, None
    return True, value


def same_value(actual, expected):
    """Equality that does not let True equal 1 or 1.0 equal "1"."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same_value(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(same_value(a, e) for a, e in zip(actual, expected))
    return type(actual) is type(expected) and actual == expected


def percentile(values, pct):
    """Nearest-rank percentile: always one of the measured values, None for no values."""
    if not values:
        return None
    if not 0 <= pct <= 100:
        raise ValueError('percentile must be between 0 and 100, got %r' % (pct,))
    ordered = sorted(values)
    rank = max(int(math.ceil(pct / 100.0 * len(ordered))), 1)
    return ordered[rank - 1]


def latency_summary(values):
    """p50/p95/max (ms) over the given latencies, plus how many there were."""
    return {
        'p50_ms': percentile(values, 50),
        'p95_ms': percentile(values, 95),
        'max_ms': max(values) if values else None,
        'count': len(values),
    }
