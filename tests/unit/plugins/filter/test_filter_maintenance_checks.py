# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The maintenance filters that parse the checks' command output into report rows."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter import maintenance as m

FILTER_DIR = Path(__file__).resolve().parents[4] / 'plugins' / 'filter'
NEW = ('maintenance_breach_lines', 'maintenance_containers', 'maintenance_service_problems', 'maintenance_slow_items',
       'maintenance_disk_rows', 'maintenance_image_containers', 'maintenance_dependency_rows', 'maintenance_cpu_row',
       'maintenance_pg_target', 'maintenance_slow_query_row')


@pytest.mark.parametrize('name', NEW)
def test_sidecar_names_the_positional_arguments(name):
    # The older maintenance sidecars predate `positional`; these must have it, as test_filter_docs asks of other topics.
    func = m.FilterModule().filters()[name]
    documentation = yaml.safe_load((FILTER_DIR / f'{name}.yml').read_text())['DOCUMENTATION']
    params = list(inspect.signature(func).parameters)[1:]
    assert documentation['options']['_input']['required'] is True
    assert all(documentation['options'][p].get('required') is True for p in params), name
    positional = documentation.get('positional')
    assert ([p.strip() for p in positional.split(',')] if positional else []) == params


ROWS = [
    {'name': 'services', 'value': '6/6 healthy', 'threshold': 'all', 'status': 'ok', 'detail': 'backend, db'},
    {'name': 'slow queries', 'value': 'not enabled', 'threshold': '-', 'status': 'warn', 'detail': 'install it'},
    {'name': 'celery queue', 'value': 120, 'status': 'fail'},
    {'name': 'disk free /', 'value': '1 MiB', 'threshold': '>= 2048 MiB', 'status': 'fail', 'detail': ''},
]


@pytest.mark.parametrize('rows, expected', [
    (ROWS, ['- WARN slow queries: not enabled (-) install it', '- FAIL celery queue: 120 (-)', '- FAIL disk free /: 1 MiB (>= 2048 MiB)']),
    (ROWS[:1], []),
    ([], []),
    ([{'name': 'x', 'status': 'warn'}], ['- WARN x:  (-)']),
])
def test_breach_lines(rows, expected):
    assert m.maintenance_breach_lines(rows) == expected


@pytest.mark.parametrize('rows', ['text', [{'name': 'x', 'status': 'broken'}], [{'status': 'fail'}]])
def test_breach_lines_reject_bad_rows(rows):
    with pytest.raises(AnsibleFilterError, match='report row'):
        m.maintenance_breach_lines(rows)


@pytest.mark.parametrize('lines, expected', [
    (['backend\trunning\tUp 2 minutes (healthy)\tp-backend-1'],
     [{'service': 'backend', 'state': 'running', 'status': 'Up 2 minutes (healthy)', 'name': 'p-backend-1'}]),
    (['db\texited\tExited (1)\tp-db-1\textra', 'short\tline', ''],
     [{'service': 'db', 'state': 'exited', 'status': 'Exited (1)', 'name': 'p-db-1'}]),
    ('a\tb\tc\td\ne\tf\tg\th\n', [{'service': 'a', 'state': 'b', 'status': 'c', 'name': 'd'},
                                  {'service': 'e', 'state': 'f', 'status': 'g', 'name': 'h'}]),
    (None, []),
    ([], []),
])
def test_containers(lines, expected):
    assert m.maintenance_containers(lines) == expected


def test_containers_reject_a_dict():
    with pytest.raises(AnsibleFilterError, match='stdout_lines'):
        m.maintenance_containers({'stdout_lines': []})


def _c(service, state, status, name='x'):
    return {'service': service, 'state': state, 'status': status, 'name': name}


@pytest.mark.parametrize('services, containers, expected', [
    (['backend'], [_c('backend', 'running', 'Up 1 minute (healthy)')], []),
    (['redis'], [_c('redis', 'running', 'Up 1 minute')], []),  # no healthcheck counts as healthy
    (['db'], [_c('db', 'running', 'Up 5 seconds (health: starting)')], ['db (Up 5 seconds (health: starting))']),
    (['worker'], [_c('worker', 'running', 'Up (unhealthy)'), _c('worker', 'exited', 'Exited (1)')],
     ['worker (Up (unhealthy), Exited (1))']),
    (['worker'], [_c('worker', 'exited', 'Exited (0)'), _c('worker', 'running', 'Up (healthy)')], []),  # one good one is enough
    (['proxy', 'migrate'], [_c('proxy', 'created', 'Created')], ['proxy (Created)', 'migrate (no container)']),
    ([], [_c('backend', 'exited', 'Exited')], []),
])
def test_service_problems(services, containers, expected):
    assert m.maintenance_service_problems(services, containers) == expected


@pytest.mark.parametrize('services, containers, match', [
    ('backend', [], 'list of service names'),
    (['backend'], [{'service': 'backend'}], 'as maintenance_containers returns them'),
    (['backend'], 'x', 'as maintenance_containers returns them'),
])
def test_service_problems_reject_bad_input(services, containers, match):
    with pytest.raises(AnsibleFilterError, match=match):
        m.maintenance_service_problems(services, containers)


@pytest.mark.parametrize('queries, expected', [
    ([{'query': 'SELECT 1', 'calls': 10, 'mean_ms': 1.5}, {'query': 'q', 'calls': 1, 'mean_ms': 12}],
     ['1.5 ms mean, 10 calls: SELECT 1', '12 ms mean, 1 calls: q']),
    (json.loads('[{"query": "UPDATE t", "calls": 3, "mean_ms": 0.10}]'), ['0.1 ms mean, 3 calls: UPDATE t']),
    ([], []),
])
def test_slow_items(queries, expected):
    assert m.maintenance_slow_items(queries) == expected


@pytest.mark.parametrize('queries', [[{'query': 'q', 'calls': 1}], None, ['q']])
def test_slow_items_reject_other_shapes(queries):
    with pytest.raises(AnsibleFilterError, match='query, calls and mean_ms'):
        m.maintenance_slow_items(queries)


DF = ['Filesystem 1048576-blocks Used Available Capacity Mounted on',
      '/dev/sda1 100000 60000 40000 60% /',
      'overlay 5000 4000 1000 80% /opt/my data',
      'short line']


@pytest.mark.parametrize('result, expected', [
    ({'rc': 0, 'stdout_lines': DF}, [
        {'name': 'disk free /', 'value': '40000 MiB', 'threshold': '>= 2048 MiB', 'status': 'ok', 'detail': '60% used'},
        {'name': 'disk free /opt/my data', 'value': '1000 MiB', 'threshold': '>= 2048 MiB', 'status': 'fail', 'detail': '80% used'}]),
    # Not a number reads as 0, as Jinja's int filter did.
    ({'rc': 0, 'stdout_lines': DF[:1] + ['tmpfs 10 0 n/a 0% /x']},
     [{'name': 'disk free /x', 'value': '0 MiB', 'threshold': '>= 2048 MiB', 'status': 'fail', 'detail': '0% used'}]),
    ({'rc': 1, 'stdout_lines': [], 'stderr': '  df: /nope: No such file or directory\n'},
     [{'name': 'disk free', 'value': 'unknown', 'threshold': '>= 2048 MiB', 'status': 'fail',
       'detail': 'df /opt/aishield: df: /nope: No such file or directory'}]),
    ({'rc': 0, 'stdout_lines': DF[:1]},
     [{'name': 'disk free', 'value': 'unknown', 'threshold': '>= 2048 MiB', 'status': 'fail', 'detail': 'df /opt/aishield: '}]),
    ({'rc': 1, 'stderr': 'e' * 300},
     [{'name': 'disk free', 'value': 'unknown', 'threshold': '>= 2048 MiB', 'status': 'fail', 'detail': 'df /opt/aishield: ' + 'e' * 200}]),
])
def test_disk_rows(result, expected):
    assert m.maintenance_disk_rows(result, 2048, '/opt/aishield') == expected


@pytest.mark.parametrize('result, match', [(DF, 'registered task result'), ({'stdout_lines': 5}, 'stdout_lines')])
def test_disk_rows_reject_bad_input(result, match):
    with pytest.raises(AnsibleFilterError, match=match):
        m.maintenance_disk_rows(result, 2048, '/')


@pytest.mark.parametrize('lines, expected', [
    (['reg/backend:v1\tp-backend-1', 'reg/backend:v1\tp-worker-1', 'reg/redis:7\tp-redis-1'],
     {'reg/backend:v1': 'p-backend-1', 'reg/redis:7': 'p-redis-1'}),
    (['bad', 'a\tb\tc', ''], {}),
    ('img\tc1\nimg\tc2', {'img': 'c1'}),
])
def test_image_containers_keeps_the_first_container(lines, expected):
    result = m.maintenance_image_containers(lines)
    assert result == expected
    assert list(result) == list(expected)


def _res(image, container, stdout=None, rc=0, **extra):
    res = {'item': {'key': image, 'value': container}, 'rc': rc, **extra}
    if stdout is not None:
        res['stdout'] = stdout
        res['stdout_lines'] = stdout.splitlines()
    return res


PIP_LIST = [{'name': 'fastapi', 'version': '0.92.0'}, {'name': 'zed', 'version': '1'}, {'name': 'Alpha', 'version': '2'}]
PIP = 'pip\n' + json.dumps(PIP_LIST)


@pytest.mark.parametrize('result, minimums, expected', [
    (_res('reg/redis:7', 'p-redis-1', 'dpkg\nlibssl3\t3.0.11\nadduser\t3.134\nBash\t5.2\nbad line\nx\ty\tz'), {'libssl3': '3.0.13'},
     {'name': 'packages reg/redis:7', 'value': '3 (dpkg)', 'threshold': '1 minimums', 'status': 'warn',
      'detail': 'below minimum: libssl3 3.0.11 < 3.0.13', 'items': ['adduser 3.134', 'Bash 5.2', 'libssl3 3.0.11']}),
    # Sorted ignoring case; equal keys keep the listing's order.
    (_res('reg/backend:v1', 'p-backend-1', 'python-metadata\nMarkupSafe\t2.1.2\nclick\t8.1\nmarkupsafe\t2.1.3'), {},
     {'name': 'packages reg/backend:v1', 'value': '3 (python-metadata)', 'threshold': '-', 'status': 'ok',
      'detail': 'container p-backend-1', 'items': ['click 8.1', 'MarkupSafe 2.1.2', 'markupsafe 2.1.3']}),
    (_res('reg/app:1', 'p-app-1', PIP), {'fastapi': '0.100', 'celery': '5'},
     {'name': 'packages reg/app:1', 'value': '3 (pip)', 'threshold': '2 minimums', 'status': 'warn',
      'detail': 'below minimum: fastapi 0.92.0 < 0.100', 'items': ['Alpha 2', 'fastapi 0.92.0', 'zed 1']}),
    (_res('reg/app:1', 'p-app-1', 'pip\n[]'), {},
     {'name': 'packages reg/app:1', 'value': '0 (pip)', 'threshold': '-', 'status': 'ok', 'detail': 'container p-app-1', 'items': []}),
    (_res('reg/alpine:1', 'p-alpine-1', '', rc=127, stderr='  sh: dpkg-query: not found\n'), {},
     {'name': 'packages reg/alpine:1', 'value': 'unreadable', 'threshold': '-', 'status': 'warn',
      'detail': 'in p-alpine-1: sh: dpkg-query: not found'}),
    (_res('reg/gone:1', 'p-gone-1', rc=None, failed=True, msg='No such container: ' + 'x' * 300), {},
     {'name': 'packages reg/gone:1', 'value': 'unreadable', 'threshold': '-', 'status': 'warn',
      'detail': 'in p-gone-1: ' + ('No such container: ' + 'x' * 300)[:200]}),
    (_res('reg/empty:1', 'p-empty-1', ''), {},
     {'name': 'packages reg/empty:1', 'value': 'unreadable', 'threshold': '-', 'status': 'warn', 'detail': 'in p-empty-1: '}),
    (_res('reg/app:1', 'p-app-1', 'pip\nWARNING: not json'), {},
     {'name': 'packages reg/app:1', 'value': 'unreadable', 'threshold': '-', 'status': 'warn',
      'detail': 'in p-app-1: pip list --format json printed no package list: WARNING: not json'}),
])
def test_dependency_rows(result, minimums, expected):
    assert m.maintenance_dependency_rows([result], minimums, 'aishield') == [expected]


def test_dependency_rows_without_containers():
    assert m.maintenance_dependency_rows([], {}, 'aishield') == [
        {'name': 'packages', 'value': 'no container', 'threshold': '-', 'status': 'warn',
         'detail': 'no running container in project aishield'}]


@pytest.mark.parametrize('results, minimums, match', [
    ({'results': []}, {}, 'results of the package listing loop'),
    ([{'rc': 0, 'stdout_lines': ['dpkg']}], {}, r'item is \{key: image, value: container\}'),
    ([_res('i', 'c', 'dpkg\na\t1')], ['a'], 'two dicts'),
])
def test_dependency_rows_reject_bad_input(results, minimums, match):
    with pytest.raises(AnsibleFilterError, match=match):
        m.maintenance_dependency_rows(results, minimums, 'aishield')
