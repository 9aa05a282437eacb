# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""HTTP requests with timing and bounded retries.

Shared by the health_check, statuspage_incident and alertmanager_silence modules. What they
read and print of a response (JSON paths, latency statistics, secret scrubbing) is in
_http_text.py, which has no network imports.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.urls import Request, make_context
from ansible_collections.aishield.ops.plugins.module_utils._http_text import _fmt_num, one_line

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
