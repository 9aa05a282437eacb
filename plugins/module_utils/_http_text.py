# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What an HTTP check reads and prints: JSON paths, strict equality, latency percentiles, secret scrubbing.

Pure, with no network imports: the health_summary filter loads it on the controller, where Ansible
imports every filter file of the collection in each task's worker process (module_utils/_http.py,
which sends requests, pulls in ansible.module_utils.urls and ssl: about 70 ms per task).
"""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from ansible.module_utils.common.text.converters import to_text

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
