# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One human line from an aishield.ops.health_check result."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# Keeps the line readable in chat messages and status-page updates.
_ERROR_MAX = 120


def _ms(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value < 10 and value != int(value):
        return f'{value:.1f} ms'
    return f'{round(value)} ms'


def _one_line(text):
    text = ' '.join(str(text).split())
    return text if len(text) <= _ERROR_MAX else text[:_ERROR_MAX - 3] + '...'


def _endpoint_label(endpoint, index):
    for key in ('name', 'url'):
        value = endpoint.get(key)
        if isinstance(value, str) and value:
            return value
    return f'endpoint #{index + 1}'


def _failure_detail(endpoint):
    status = endpoint.get('status')
    if isinstance(status, int) and not isinstance(status, bool):
        what = f'HTTP {status}'
    else:
        what = 'no response'
    attempts = endpoint.get('attempts')
    if isinstance(attempts, int) and not isinstance(attempts, bool) and attempts > 0:
        what += f' after {attempts} attempt{"s" if attempts != 1 else ""}'
    errors = endpoint.get('errors')
    if isinstance(errors, str):
        errors = [errors]
    if isinstance(errors, (list, tuple)) and errors:
        # The last attempt's error is the one that decided the outcome.
        what += f': {_one_line(errors[-1])}'
    return what


def health_summary(result):
    """Summarise a health_check result as "N/M endpoints healthy; p95 X ms; FAILED: ..."."""
    if not isinstance(result, dict):
        raise AnsibleFilterError(
            f'health_summary expects the dict returned by aishield.ops.health_check, got {type(result).__name__}')
    if 'endpoints' not in result:
        keys = ', '.join(sorted(str(k) for k in result)) or 'none'
        raise AnsibleFilterError(
            f'health_summary needs an "endpoints" list in the health_check result (keys present: {keys}); '
            f'register the health_check task and pass that variable')
    endpoints = result['endpoints']
    if not isinstance(endpoints, (list, tuple)):
        raise AnsibleFilterError(f'"endpoints" is {type(endpoints).__name__}; expected a list of endpoint results')

    failed_names = result.get('failed') if isinstance(result.get('failed'), (list, tuple)) else []
    healthy = 0
    failures = []
    labels = set()
    for index, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, dict):
            raise AnsibleFilterError(f'endpoints[{index}]={endpoint!r} is not a dict; expected an endpoint result')
        label = _endpoint_label(endpoint, index)
        labels.add(label)
        ok = endpoint.get('ok')
        if not isinstance(ok, bool):
            # Without an explicit ok, trust the module's own failed list.
            ok = label not in failed_names
        if ok:
            healthy += 1
        else:
            failures.append(f'{label} ({_failure_detail(endpoint)})')
    # A name in "failed" with no endpoint entry still has to be reported.
    failures.extend(str(name) for name in failed_names if str(name) not in labels)

    if endpoints:
        parts = [f'{healthy}/{len(endpoints)} endpoints healthy']
    else:
        parts = ['no endpoints checked']
    latency = result.get('latency')
    if isinstance(latency, dict):
        p95 = _ms(latency.get('p95_ms'))
        if p95 is not None:
            parts.append(f'p95 {p95}')
    if failures:
        parts.append('FAILED: ' + ', '.join(failures))
    return '; '.join(parts)


class FilterModule:
    """Health check summary filter."""

    def filters(self):
        return {
            'health_summary': health_summary,
        }
