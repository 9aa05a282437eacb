# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Maintenance report rows: threshold checks, docker ps / stats / df / redis INFO parsing, row-count and version comparison."""

from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.compat.version import LooseVersion
# Jinja's own int filter: the rows must read numbers the way the templates they replace did.
from jinja2.filters import do_int

STATUSES = ('ok', 'warn', 'fail')
_RANK = {status: rank for rank, status in enumerate(STATUSES)}
# A Markdown or chat cell stays on one line and readable.
_CELL_MAX = 160


def _number(value, what):
    if isinstance(value, bool):
        raise AnsibleFilterError(f'{what} must be a number, got a bool')
    if isinstance(value, (int, float)):
        return value
    try:
        text = str(value).strip().rstrip('%')
        return float(text) if '.' in text or 'e' in text.lower() else int(text)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f'{what} must be a number, got {value!r}') from None


def _cell(value):
    text = ' '.join(str('' if value is None else value).split()).replace('|', '/')
    return text if len(text) <= _CELL_MAX else text[:_CELL_MAX - 3] + '...'


def maintenance_row(value, name, threshold=None, compare='max', unit='', detail=''):
    """One report row: fail when value is above (compare=max) or below (compare=min) threshold; no threshold = ok."""
    if compare not in ('max', 'min'):
        raise AnsibleFilterError(f"maintenance_row: compare must be 'max' or 'min', got {compare!r}")
    number = _number(value, f'maintenance_row {name}: value')
    suffix = f' {unit}' if unit else ''
    if threshold is None or threshold == '':
        return {'name': name, 'value': f'{number}{suffix}', 'threshold': '-', 'status': 'ok', 'detail': detail}
    limit = _number(threshold, f'maintenance_row {name}: threshold')
    breached = number > limit if compare == 'max' else number < limit
    sign = '<=' if compare == 'max' else '>='
    return {'name': name, 'value': f'{number}{suffix}', 'threshold': f'{sign} {limit}{suffix}',
            'status': 'fail' if breached else 'ok', 'detail': detail}


def maintenance_stats(lines):
    """Parse `docker stats --no-stream --format '{{json .}}'` lines into [{name, cpu_percent, mem_percent, mem_usage}]."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    out = []
    for line in lines or []:
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise AnsibleFilterError(f'maintenance_stats: not a docker stats JSON line: {line[:80]!r}') from None
        out.append({'name': data.get('Name') or data.get('Container', '?'),
                    'cpu_percent': float(str(data.get('CPUPerc', '0')).rstrip('%') or 0),
                    'mem_percent': float(str(data.get('MemPerc', '0')).rstrip('%') or 0),
                    'mem_usage': data.get('MemUsage', '')})
    return sorted(out, key=lambda item: item['name'])


def maintenance_redis_info(text):
    """Parse `redis-cli INFO` output into a dict; integer and float values are converted."""
    info = {}
    for line in str(text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or ':' not in line:
            continue
        key, value = line.split(':', 1)
        for kind in (int, float):
            try:
                info[key] = kind(value)
                break
            except ValueError:
                continue
        else:
            info[key] = value
    return info


def maintenance_row_counts(restored, live, tolerance_rows=0, tolerance_percent=0):
    """Compare per-table row counts of a restored copy with the live database.

    A table passes when |live - restored| <= max(tolerance_rows, live * tolerance_percent / 100):
    tables written since the backup may have grown a little. A table on one side only fails.
    """
    if not isinstance(restored, dict) or not isinstance(live, dict):
        raise AnsibleFilterError('maintenance_row_counts expects two dicts of table -> row count')
    rows = _number(tolerance_rows, 'tolerance_rows')
    percent = _number(tolerance_percent, 'tolerance_percent')
    mismatches = []
    for table in sorted(set(restored) | set(live)):
        if table not in live:
            mismatches.append(f'{table}: in the backup only ({restored[table]} rows)')
            continue
        if table not in restored:
            mismatches.append(f'{table}: live only ({live[table]} rows), missing from the backup')
            continue
        got, want = int(restored[table]), int(live[table])
        allowed = max(rows, want * percent / 100.0)
        if abs(want - got) > allowed:
            mismatches.append(f'{table}: restored {got}, live {want} (tolerance {allowed:g})')
    return {'tables': len(set(restored) | set(live)), 'ok': not mismatches, 'mismatches': mismatches}


def maintenance_outdated(packages, minimums):
    """Packages whose installed version is below the configured minimum, as 'name installed < minimum'."""
    if not isinstance(packages, dict) or not isinstance(minimums, dict):
        raise AnsibleFilterError('maintenance_outdated expects two dicts of package -> version')
    lowered = {str(name).lower().replace('_', '-'): version for name, version in packages.items()}
    out = []
    for name, minimum in sorted(minimums.items()):
        installed = lowered.get(str(name).lower().replace('_', '-'))
        if installed is None:
            continue
        try:
            below = LooseVersion(str(installed)) < LooseVersion(str(minimum))
        except TypeError:
            # LooseVersion cannot order '1.2a' against '1.2.0' in Python 3: compare as text.
            below = str(installed) < str(minimum)
        if below:
            out.append(f'{name} {installed} < {minimum}')
    return out


def _check_rows(rows):
    if not isinstance(rows, (list, tuple)):
        raise AnsibleFilterError(f'report rows must be a list of dicts, got {type(rows).__name__}')
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or 'name' not in row or row.get('status') not in STATUSES:
            raise AnsibleFilterError(
                f'report row #{index + 1} needs name, value, threshold and status in {"|".join(STATUSES)}: {row!r}')
    return rows


def maintenance_report_status(rows):
    """The worst status of the rows: fail > warn > ok (ok for no rows)."""
    worst = 'ok'
    for row in _check_rows(rows):
        if _RANK[row['status']] > _RANK[worst]:
            worst = row['status']
    return worst


def maintenance_report_lines(rows):
    """A fixed-width text table (one string per line) for the play output."""
    _check_rows(rows)
    width = max([len('check')] + [len(_cell(row['name'])) for row in rows])
    lines = ['%-*s  %-6s %-22s %-14s %s' % (width, 'check', 'status', 'value', 'threshold', 'detail')]
    for row in rows:
        cells = (width, _cell(row['name']), row['status'].upper(), _cell(row.get('value', '')),
                 _cell(row.get('threshold', '')), _cell(row.get('detail', '')))
        lines.append('%-*s  %-6s %-22s %-14s %s' % cells)
    return lines


def maintenance_report_markdown(report):
    """Render a report dict {name, host, time, status, rows, duration} as Markdown."""
    if not isinstance(report, dict) or 'rows' not in report:
        raise AnsibleFilterError('maintenance_report_markdown expects a dict with name, host, time, status and rows')
    rows = _check_rows(report['rows'])
    counts = {status: sum(1 for row in rows if row['status'] == status) for status in STATUSES}
    out = [f"# AI Shield {report.get('name', 'maintenance')} report: {str(report.get('status', '?')).upper()}", '',
           f"- host: `{report.get('host', '?')}`",
           f"- time: {report.get('time', '?')} (UTC)",
           f"- checks: {len(rows)} ({counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail)"]
    if report.get('duration') is not None:
        out.append(f"- duration: {report['duration']} s")
    out += ['', '| check | status | value | threshold | detail |', '|---|---|---|---|---|']
    for row in rows:
        mark = {'ok': 'ok', 'warn': '**WARN**', 'fail': '**FAIL**'}[row['status']]
        out.append(f"| {_cell(row['name'])} | {mark} | {_cell(row.get('value', ''))} | {_cell(row.get('threshold', ''))} "
                   f"| {_cell(row.get('detail', ''))} |")
    for row in rows:
        # Optional per-row lists (the slow queries, the outdated packages) follow the table.
        if row.get('items'):
            out += ['', f"## {_cell(row['name'])}", '']
            out += [f'{index}. {_cell(item)}' for index, item in enumerate(row['items'], 1)]
    return '\n'.join(out) + '\n'


def _lines(value, what):
    """A command's output as lines: stdout_lines as registered, or the stdout text."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines()
    if isinstance(value, (list, tuple)):
        return [str(line) for line in value]
    raise AnsibleFilterError(f'{what} expects the lines of a command output (stdout_lines), got {type(value).__name__}')


def _result(value, what):
    if not isinstance(value, dict):
        raise AnsibleFilterError(f'{what} expects a registered task result (a dict with rc, stdout_lines and stderr), '
                                 f'got {type(value).__name__}')
    return value


def _error_text(result):
    """The first 200 characters of a failed result's stderr, else of its msg."""
    text = result['stderr'] if 'stderr' in result else result.get('msg', '')
    return str(text).strip()[:200]


def maintenance_breach_lines(rows):
    """'- STATUS name: value (threshold) detail' for each row that is not ok, for the chat message and the failure."""
    out = []
    for row in _check_rows(rows):
        if row['status'] == 'ok':
            continue
        detail = f" {row['detail']}" if row.get('detail') else ''
        out.append(f"- {row['status'].upper()} {row['name']}: {row.get('value', '')} ({row.get('threshold', '-')}){detail}")
    return out


def maintenance_containers(lines):
    """Parse `docker ps` lines formatted '<service>TAB<state>TAB<status>TAB<name>'; shorter lines are skipped."""
    out = []
    for line in _lines(lines, 'maintenance_containers'):
        fields = line.split('\t')
        if len(fields) >= 4:
            out.append({'service': fields[0], 'state': fields[1], 'status': fields[2], 'name': fields[3]})
    return out


# docker ps shows "(unhealthy)" or "(health: starting)" in the status of a container whose healthcheck has not passed.
_NOT_HEALTHY = re.compile('unhealthy|health: starting')


def maintenance_service_problems(services, containers):
    """The services without a running, healthy container, as 'name (no container)' or 'name (<their statuses>)'."""
    if not isinstance(services, (list, tuple)):
        raise AnsibleFilterError(f'maintenance_service_problems expects a list of service names, got {type(services).__name__}')
    if not isinstance(containers, (list, tuple)) or not all(
            isinstance(c, dict) and {'service', 'state', 'status'} <= set(c) for c in containers):
        raise AnsibleFilterError('maintenance_service_problems expects the containers as maintenance_containers returns them '
                                 '(dicts with service, state, status and name)')
    problems = []
    for service in services:
        mine = [c for c in containers if c['service'] == service]
        good = [c for c in mine if c['state'] == 'running' and not _NOT_HEALTHY.search(str(c['status']))]
        if not mine:
            problems.append(f'{service} (no container)')
        elif not good:
            problems.append(f"{service} ({', '.join(str(c['status']) for c in mine)})")
    return problems


def maintenance_slow_items(queries):
    """One 'mean ms mean, calls calls: query' line per pg_stat_statements row."""
    if not isinstance(queries, (list, tuple)) or not all(
            isinstance(q, dict) and {'query', 'calls', 'mean_ms'} <= set(q) for q in queries):
        raise AnsibleFilterError('maintenance_slow_items expects a list of dicts with query, calls and mean_ms '
                                 '(the slow query SQL\'s JSON)')
    return [f"{q['mean_ms']} ms mean, {q['calls']} calls: {q['query']}" for q in queries]


def maintenance_disk_rows(df, min_free_mb, root):
    """One 'disk free <mount point>' row per filesystem in `df -Pm` output; one failing row when df listed none."""
    result = _result(df, 'maintenance_disk_rows')
    rows = []
    for line in _lines(result.get('stdout_lines'), 'maintenance_disk_rows')[1:]:
        # Filesystem, 1M-blocks, Used, Available, Capacity, Mounted on (which may hold spaces).
        fields = line.split()
        if len(fields) >= 6:
            rows.append(maintenance_row(do_int(fields[3]), 'disk free ' + ' '.join(fields[5:]), min_free_mb,
                                        compare='min', unit='MiB', detail=f'{fields[4]} used'))
    if rows:
        return rows
    stderr = str(result.get('stderr', '')).strip()[:200]
    return [{'name': 'disk free', 'value': 'unknown', 'threshold': f'>= {min_free_mb} MiB', 'status': 'fail',
             'detail': f'df {root}: {stderr}'}]


def maintenance_image_containers(lines):
    """Image -> the first container using it, from `docker ps` lines formatted '<image>TAB<name>'."""
    out = {}
    for line in _lines(lines, 'maintenance_image_containers'):
        fields = line.split('\t')
        if len(fields) == 2 and fields[0] not in out:
            out[fields[0]] = fields[1]
    return out


def _listed_packages(source, lines):
    """Name -> version from a package listing: pip's JSON, else 'name<TAB>version' lines; None when pip's JSON is unreadable."""
    if source == 'pip':
        try:
            listing = json.loads('\n'.join(lines))
            return {str(p['name']): str(p['version']) for p in listing}
        except (ValueError, TypeError, KeyError):
            return None
    packages = {}
    for line in lines:
        fields = line.split('\t')
        if len(fields) == 2:
            packages[fields[0]] = fields[1]
    return packages


def maintenance_dependency_rows(results, minimums, project):
    """One 'packages <image>' row per listed container: the versions as items, warn below a minimum or when unreadable."""
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError(f'maintenance_dependency_rows expects the results of the package listing loop, '
                                 f'got {type(results).__name__}')
    rows = []
    for res in results:
        if not isinstance(res, dict) or not isinstance(res.get('item'), dict) or not {'key', 'value'} <= set(res['item']):
            raise AnsibleFilterError('maintenance_dependency_rows expects loop results whose item is {key: image, value: container}')
        image, container = res['item']['key'], res['item']['value']
        lines = _lines(res.get('stdout_lines'), 'maintenance_dependency_rows')
        packages = None
        error = _error_text(res)
        if res.get('rc', 1) == 0 and lines:
            packages = _listed_packages(lines[0], lines[1:])
            if packages is None:
                error = 'pip list --format json printed no package list: ' + ' '.join(lines[1:]).strip()[:120]
        if packages is None:
            rows.append({'name': f'packages {image}', 'value': 'unreadable', 'threshold': '-', 'status': 'warn',
                         'detail': f'in {container}: {error}'})
            continue
        outdated = maintenance_outdated(packages, minimums)
        rows.append({'name': f'packages {image}', 'value': f'{len(packages)} ({lines[0]})',
                     'threshold': f'{len(minimums)} minimums' if minimums else '-',
                     'status': 'warn' if outdated else 'ok',
                     'detail': ('below minimum: ' + ', '.join(outdated)) if outdated else f'container {container}',
                     # Sorted like Jinja's sort filter, which ignores case.
                     'items': sorted((f'{name} {version}' for name, version in packages.items()), key=lambda item: item.lower())})
    return rows or [{'name': 'packages', 'value': 'no container', 'threshold': '-', 'status': 'warn',
                     'detail': f'no running container in project {project}'}]


def maintenance_prometheus(answers):
    """Prometheus's answers to the daily report's window queries, keyed cpu, memory and p95 (as
    ansible.builtin.uri returns them in a loop: [{item: {key}, json}]): per-container CPU and memory averages, in the
    shape maintenance_stats returns, and the API probes' p95 in ms (None without probe data)."""
    by_key = {}
    for answer in answers or []:
        key = (answer.get('item') or {}).get('key')
        data = answer.get('json') or {}
        if data.get('status') != 'success':
            raise AnsibleFilterError(f'maintenance_prometheus: Prometheus did not answer the {key} query: '
                                     f"{data.get('error') or answer.get('msg') or 'no answer'}")
        by_key[key] = (data.get('data') or {}).get('result') or []
    stats = {}
    for key, field in (('cpu', 'cpu_percent'), ('memory', 'mem_percent')):
        for series in by_key.get(key, []):
            name = (series.get('metric') or {}).get('container') or '?'
            row = stats.setdefault(name, {'name': name, 'cpu_percent': 0.0, 'mem_percent': 0.0, 'mem_usage': ''})
            row[field] = round(float(series['value'][1]), 2)
    p95 = [float(series['value'][1]) for series in by_key.get('p95', [])]
    return {'stats': [stats[name] for name in sorted(stats)], 'p95_ms': round(max(p95), 1) if p95 else None}


def maintenance_fleet_rows(hosts, hostvars, name, fact='maintenance_reports'):
    """One fleet report's rows: every host's rows of report `name`, each named '<host> <check>'.

    A host whose report is missing (unreachable, or its checks failed before the report) gets a failed row,
    so a silent host can never make the fleet look healthy.
    """
    if not isinstance(hosts, (list, tuple)) or not hosts:
        raise AnsibleFilterError('maintenance_fleet_rows needs the list of the fleet\'s hosts, got %r' % (hosts,))
    rows = []
    for host in hosts:
        reports = hostvars[host].get(fact) if host in hostvars else None
        report = (reports or {}).get(name) if isinstance(reports, dict) else None
        if not report or not report.get('rows'):
            rows.append({'name': '%s %s' % (host, name), 'host': host, 'value': 'no report', 'threshold': '-',
                         'status': 'fail',
                         'detail': 'the %s checks did not finish on %s (unreachable or failed): see its output' % (name, host)})
            continue
        for row in _check_rows(report['rows']):
            rows.append(dict(row, name='%s %s' % (host, row['name']), host=host))
    return rows


def maintenance_cpu_row(stats, max_percent, sample):
    """The cpu row: each container's CPU as a percent of its allowance (container_cpu's allowance_percent: its limit, else
    the host's cores), or of one core where only cpu_percent is known (Prometheus); fail above max_percent."""
    if not isinstance(stats, (list, tuple)) or not all(isinstance(s, dict) and {'name', 'cpu_percent'} <= set(s) for s in stats):
        raise AnsibleFilterError('maintenance_cpu_row expects a list of dicts with name and cpu_percent '
                                 '(the containers aishield.ops.container_cpu returns, or maintenance_prometheus stats)')
    limit = _number(max_percent, 'maintenance_cpu_row max_percent')

    def share(item):
        value = item.get('allowance_percent')
        return float(item['cpu_percent'] if value is None else value)

    def describe(item):
        if item.get('allowance_percent') is None:
            return f"{item['name']} {item['cpu_percent']}% of one core"
        cpus = item.get('cpus')
        whose = {'limit': 'its limit of', 'cpuset': 'its cpuset of'}.get(item.get('cpus_source'), 'the host\'s')
        return f"{item['name']} {share(item)}% of {whose} {float(cpus or 0):g} CPUs ({item['cpu_percent']}% raw)"

    ranked = sorted(stats, key=share, reverse=True)
    over = [item for item in ranked if share(item) > limit]
    worst = share(ranked[0]) if ranked else 0
    if ranked and all(item.get('allowance_percent') is None for item in ranked):
        # Prometheus's averages know no allowance: the detail as it always was, percent of one core.
        detail = ('over: ' + ', '.join(f"{item['name']} {item['cpu_percent']}%" for item in over) + f' ({sample})' if over
                  else f'highest of {len(ranked)} containers ({sample})')
        return maintenance_row(round(worst, 2), 'cpu', limit, unit='%', detail=detail)
    if over:
        detail = 'over: ' + ', '.join(describe(item) for item in over) + f' ({sample})'
    elif ranked:
        detail = f'highest of {len(ranked)} containers: {describe(ranked[0])} ({sample})'
    else:
        detail = f'no running container ({sample})'
    row = maintenance_row(round(worst, 2), 'cpu', limit, unit='%', detail=detail)
    row['items'] = [describe(item) for item in ranked] if over else []
    if not row['items']:
        del row['items']
    return row


def maintenance_pg_target(info, project):
    """Where the host reaches the db container: {host, password, error} from community.docker.docker_container_info.

    host is the container's address on its Compose network (preferring <project>_*), or 127.0.0.1 with host networking;
    password is its POSTGRES_PASSWORD. error says why there is none (the password never appears in it)."""
    if not isinstance(info, dict):
        raise AnsibleFilterError('maintenance_pg_target expects the registered result of community.docker.docker_container_info')
    out = {'host': '', 'password': '', 'error': ''}
    container = info.get('container') or {}
    if info.get('failed') or not info.get('exists') or not container:
        out['error'] = str(info.get('msg') or 'no such container').strip()[:200]
        return out
    if not (container.get('State') or {}).get('Running'):
        out['error'] = 'the container is not running (%s)' % (container.get('State') or {}).get('Status', '?')
        return out
    env = {}
    for entry in (container.get('Config') or {}).get('Env') or []:
        key, _sep, value = str(entry).partition('=')
        env.setdefault(key, value)
    networks = (container.get('NetworkSettings') or {}).get('Networks') or {}
    addresses = sorted((not name.startswith(f'{project}_') if project else False, name, (net or {}).get('IPAddress'))
                       for name, net in networks.items() if (net or {}).get('IPAddress'))
    if addresses:
        out['host'] = addresses[0][2]
    elif (container.get('HostConfig') or {}).get('NetworkMode') == 'host':
        out['host'] = '127.0.0.1'
    else:
        out['error'] = 'the container has no address on a Docker network'
    if not env.get('POSTGRES_PASSWORD'):
        out['error'] = out['error'] or ('no POSTGRES_PASSWORD in the container\'s environment '
                                        '(a POSTGRES_PASSWORD_FILE secret is not read)')
    elif not out['error']:
        out['password'] = env['POSTGRES_PASSWORD']
    return out


def _query_rows(result, index):
    """Rows of query #index of a registered community.postgresql.postgresql_query result ({} or missing: none)."""
    answers = (result or {}).get('query_all_results') or []
    rows = answers[index] if index < len(answers) else []
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _short(text, size=60):
    text = ' '.join(str(text or '').split())
    return text if len(text) <= size else text[:size - 3] + '...'


def maintenance_slow_query_row(queries, statements, threshold_ms, limit):
    """The slow queries row from typed rows (community.postgresql.postgresql_query results).

    queries: the result of [stats, long-running active statements]: the stats row's pgss says whether pg_stat_statements is
    installed; the second query's rows ({pid, running_ms, query}) are statements running longer than threshold_ms.
    statements: the result of the pg_stat_statements query ({query, calls, mean_ms}, slowest first); skipped or failed
    when the extension is not installed or not loaded. Fails when a statement's mean time (pg_stat_statements) or
    an active statement's running time (pg_stat_activity, never in pg_stat_statements until it ends) is above
    threshold_ms; the detail names the source and the worst offender, the items list the offenders (query text
    truncated and hidden where it may hold a secret)."""
    threshold = _number(threshold_ms, 'maintenance_slow_query_row threshold_ms')
    count = int(_number(limit, 'maintenance_slow_query_row limit'))
    stats = (_query_rows(queries, 0) or [{}])[0]
    running = sorted((row for row in _query_rows(queries, 1) if float(row.get('running_ms') or 0) > threshold),
                     key=lambda row: -float(row['running_ms']))[:count]
    installed = bool(stats.get('pgss'))
    readable = installed and isinstance(statements, dict) and not statements.get('failed') and not statements.get('skipped') \
        and 'query_all_results' in statements
    recorded = _query_rows(statements, 0) if readable else []
    slow = [row for row in recorded if float(row.get('mean_ms') or 0) > threshold]

    def mean_item(row):
        return f"{row.get('mean_ms')} ms mean, {row.get('calls')} calls: {_short(row.get('query'), 100)}"

    def running_item(row):
        return f"{row.get('running_ms')} ms running (pid {row.get('pid')}): {_short(row.get('query'), 100)}"

    sources = []
    if readable:
        sources.append('pg_stat_statements (mean_exec_time since its last reset)')
    sources.append('pg_stat_activity (active statements, now() - query_start)')
    detail = 'source: ' + ' and '.join(sources)
    if not installed:
        detail += '; pg_stat_statements is not installed: add it to shared_preload_libraries and CREATE EXTENSION pg_stat_statements'
    elif not readable:
        error = _error_text(statements) if isinstance(statements, dict) else ''
        detail += f'; pg_stat_statements is installed but unreadable (in shared_preload_libraries?): {error[:120]}'
    offenders = len(slow) + len(running)
    if offenders:
        worst = mean_item(slow[0]) if slow else running_item(running[0])
        value = f'{offenders} over {threshold:g} ms'
        status = 'fail'
        detail = f'worst: {_short(worst, 90)}; {detail}'
        items = [mean_item(row) for row in slow] + [running_item(row) for row in running]
    else:
        value = (f"{recorded[0].get('mean_ms')} ms mean (slowest)" if recorded else
                 'none recorded' if readable else 'none running')
        status = 'ok' if readable or not installed else 'warn'
        items = [mean_item(row) for row in recorded[:count]]
    row = {'name': 'slow queries', 'value': value, 'threshold': f'<= {threshold:g} ms', 'status': status, 'detail': detail}
    if items:
        row['items'] = items
    return row


class FilterModule(object):
    """Maintenance report filters."""

    def filters(self):
        return {
            'maintenance_row': maintenance_row,
            'maintenance_stats': maintenance_stats,
            'maintenance_redis_info': maintenance_redis_info,
            'maintenance_row_counts': maintenance_row_counts,
            'maintenance_outdated': maintenance_outdated,
            'maintenance_report_status': maintenance_report_status,
            'maintenance_report_lines': maintenance_report_lines,
            'maintenance_report_markdown': maintenance_report_markdown,
            'maintenance_breach_lines': maintenance_breach_lines,
            'maintenance_containers': maintenance_containers,
            'maintenance_service_problems': maintenance_service_problems,
            'maintenance_slow_items': maintenance_slow_items,
            'maintenance_disk_rows': maintenance_disk_rows,
            'maintenance_image_containers': maintenance_image_containers,
            'maintenance_dependency_rows': maintenance_dependency_rows,
            'maintenance_prometheus': maintenance_prometheus,
            'maintenance_fleet_rows': maintenance_fleet_rows,
            'maintenance_cpu_row': maintenance_cpu_row,
            'maintenance_pg_target': maintenance_pg_target,
            'maintenance_slow_query_row': maintenance_slow_query_row,
        }
