# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter import maintenance as m

FILTER_DIR = Path(__file__).resolve().parents[4] / 'plugins' / 'filter'


def test_every_filter_has_a_sidecar_doc_matching_its_signature():
    for name, func in m.FilterModule().filters().items():
        doc = yaml.safe_load((FILTER_DIR / f'{name}.yml').read_text())
        assert doc['DOCUMENTATION']['name'] == name
        params = list(inspect.signature(func).parameters)
        assert set(doc['DOCUMENTATION']['options']) == {'_input'} | set(params[1:]), name


@pytest.mark.parametrize('value, threshold, compare, status, shown', [
    (12, 100, 'max', 'ok', '<= 100'),
    (101, 100, 'max', 'fail', '<= 100'),
    (100, 100, 'max', 'ok', '<= 100'),
    ('4.5%', 4, 'max', 'fail', '<= 4'),
    (1000, 2048, 'min', 'fail', '>= 2048'),
    (4096, 2048, 'min', 'ok', '>= 2048'),
    (7, None, 'max', 'ok', '-'),
    (7, '', 'max', 'ok', '-'),
])
def test_row_compares_against_the_threshold(value, threshold, compare, status, shown):
    row = m.maintenance_row(value, 'check', threshold, compare=compare)
    assert row['status'] == status
    assert row['threshold'] == shown
    assert row['name'] == 'check'


def test_row_units_and_detail():
    row = m.maintenance_row(0.27, 'memory', 85, unit='%', detail='highest')
    assert row == {'name': 'memory', 'value': '0.27 %', 'threshold': '<= 85 %', 'status': 'ok', 'detail': 'highest'}


@pytest.mark.parametrize('value, threshold, compare', [('n/a', 1, 'max'), (True, 1, 'max'), (1, 'x', 'max'), (1, 1, 'above')])
def test_row_rejects_bad_input(value, threshold, compare):
    with pytest.raises(AnsibleFilterError):
        m.maintenance_row(value, 'check', threshold, compare=compare)


def test_stats_parses_docker_json_lines():
    lines = [json.dumps({'Name': 'p-worker-1', 'CPUPerc': '101.5%', 'MemPerc': '3.25%', 'MemUsage': '80MiB / 2GiB'}),
             '', json.dumps({'Name': 'p-db-1', 'CPUPerc': '0.00%', 'MemPerc': '1.00%', 'MemUsage': '40MiB / 2GiB'})]
    stats = m.maintenance_stats('\n'.join(lines))
    assert [s['name'] for s in stats] == ['p-db-1', 'p-worker-1']
    assert stats[1]['cpu_percent'] == 101.5 and stats[1]['mem_percent'] == 3.25
    with pytest.raises(AnsibleFilterError):
        m.maintenance_stats(['not json'])


def test_redis_info_parses_numbers_and_skips_sections():
    info = m.maintenance_redis_info('# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmem_fragmentation_ratio:1.5\r\n'
                                    '# Clients\r\nconnected_clients:11\r\n')
    assert info == {'used_memory': 1048576, 'used_memory_human': '1.00M', 'mem_fragmentation_ratio': 1.5, 'connected_clients': 11}


@pytest.mark.parametrize('restored, live, rows, percent, ok, fragment', [
    ({'public.users': 5}, {'public.users': 5}, 0, 0, True, None),
    ({'public.users': 5}, {'public.users': 9}, 3, 0, False, 'public.users: restored 5, live 9'),
    ({'public.users': 5}, {'public.users': 9}, 4, 0, True, None),
    ({'public.users': 950}, {'public.users': 1000}, 0, 5, True, None),
    ({'public.users': 949}, {'public.users': 1000}, 0, 5, False, 'tolerance 50'),
    ({'public.old': 1}, {}, 100, 0, False, 'public.old: in the backup only'),
    ({}, {'public.new': 0}, 100, 0, False, 'public.new: live only'),
])
def test_row_counts_tolerance(restored, live, rows, percent, ok, fragment):
    result = m.maintenance_row_counts(restored, live, rows, percent)
    assert result['ok'] is ok
    assert result['tables'] == len(set(restored) | set(live))
    if fragment:
        assert fragment in result['mismatches'][0]


@pytest.mark.parametrize('packages, minimums, expected', [
    ({'fastapi': '0.92.0'}, {'fastapi': '0.110.0'}, ['fastapi 0.92.0 < 0.110.0']),
    ({'fastapi': '0.110.0'}, {'fastapi': '0.110.0'}, []),
    ({'typing_extensions': '4.4.0'}, {'Typing-Extensions': '4.5'}, ['Typing-Extensions 4.4.0 < 4.5']),
    ({'celery': '5.2.6'}, {'redis': '5.0'}, []),
    ({'libssl3': '3.0.11-1~deb12u2'}, {'libssl3': '3.0.13'}, ['libssl3 3.0.11-1~deb12u2 < 3.0.13']),
])
def test_outdated_packages(packages, minimums, expected):
    assert m.maintenance_outdated(packages, minimums) == expected


ROWS = [
    {'name': 'services', 'value': '6/6 healthy', 'threshold': 'all', 'status': 'ok', 'detail': 'backend, db'},
    {'name': 'slow queries', 'value': 'not enabled', 'threshold': '-', 'status': 'warn', 'detail': 'install | it'},
    {'name': 'celery queue', 'value': '12', 'threshold': '<= 5', 'status': 'fail', 'items': ['a', 'b']},
]


@pytest.mark.parametrize('rows, status', [([], 'ok'), (ROWS[:1], 'ok'), (ROWS[:2], 'warn'), (ROWS, 'fail'), (ROWS[2:], 'fail')])
def test_report_status_is_the_worst_row(rows, status):
    assert m.maintenance_report_status(rows) == status


@pytest.mark.parametrize('rows', [[{'name': 'x', 'status': 'bad'}], [{'status': 'ok'}], 'text', [['x']]])
def test_report_rows_are_validated(rows):
    with pytest.raises(AnsibleFilterError, match='report row|list of dicts'):
        m.maintenance_report_status(rows)


def test_report_lines_align_and_upper_case_the_status():
    lines = m.maintenance_report_lines(ROWS)
    assert lines[0].startswith('check ')
    assert 'FAIL' in lines[3] and '12' in lines[3]
    assert len({line.index(' ', len('slow queries')) for line in lines[1:]}) == 1


def test_report_markdown_has_the_table_counts_and_items():
    md = m.maintenance_report_markdown({'name': 'daily', 'host': 'h1', 'time': '2026-01-01T00:00:00Z', 'status': 'fail', 'rows': ROWS})
    assert md.startswith('# AI Shield daily report: FAIL\n')
    assert '- checks: 3 (1 ok, 1 warn, 1 fail)' in md
    assert '| celery queue | **FAIL** | 12 | <= 5 |  |' in md
    assert 'install / it' in md, 'a pipe in a cell would break the table'
    assert '## celery queue\n\n1. a\n2. b\n' in md
    with pytest.raises(AnsibleFilterError):
        m.maintenance_report_markdown({'name': 'x'})


def _answer(key, result, status='success'):
    return {'item': {'key': key}, 'json': {'status': status, 'data': {'resultType': 'vector', 'result': result}}}


def test_prometheus_window_answers_become_stats_and_p95():
    answers = [_answer('cpu', [{'metric': {'container': 'p-backend-1'}, 'value': [1, '12.345']},
                               {'metric': {'container': 'p-db-1'}, 'value': [1, '3']}]),
               _answer('memory', [{'metric': {'container': 'p-backend-1'}, 'value': [1, '40.5']}]),
               _answer('p95', [{'metric': {'probe': 'health'}, 'value': [1, '12.04']},
                               {'metric': {'probe': 'auth_me'}, 'value': [1, '30.26']}])]
    out = m.maintenance_prometheus(answers)
    assert out == {'stats': [{'name': 'p-backend-1', 'cpu_percent': 12.35, 'mem_percent': 40.5, 'mem_usage': ''},
                             {'name': 'p-db-1', 'cpu_percent': 3.0, 'mem_percent': 0.0, 'mem_usage': ''}],
                   'p95_ms': 30.3}
    assert m.maintenance_prometheus([_answer('cpu', []), _answer('memory', []), _answer('p95', [])]) == {'stats': [], 'p95_ms': None}


def test_prometheus_error_names_the_query():
    with pytest.raises(AnsibleFilterError, match='did not answer the memory query: bad query'):
        m.maintenance_prometheus([_answer('cpu', []), {'item': {'key': 'memory'}, 'json': {'status': 'error', 'error': 'bad query'}}])


def test_fleet_rows_name_each_row_after_its_host_and_fail_a_silent_host():
    ok = {'name': 'services', 'value': '2/2 healthy', 'threshold': '-', 'status': 'ok', 'detail': ''}
    slow = {'name': 'api p95', 'value': '900 ms', 'threshold': '<= 500 ms', 'status': 'fail', 'detail': ''}
    hostvars = {
        'db': {'maintenance_reports': {'daily': {'rows': [ok]}, 'monthly': {'rows': [ok]}}},
        'app1': {'maintenance_reports': {'daily': {'rows': [ok, slow]}}},
        'app2': {},
    }
    rows = m.maintenance_fleet_rows(['db', 'app1', 'app2'], hostvars, 'daily')
    assert [(r['name'], r['host'], r['status']) for r in rows] == [
        ('db services', 'db', 'ok'), ('app1 services', 'app1', 'ok'), ('app1 api p95', 'app1', 'fail'),
        ('app2 daily', 'app2', 'fail')]
    assert 'did not finish on app2' in rows[-1]['detail']
    assert m.maintenance_report_status(rows) == 'fail'
    # The host's own rows are not changed in place.
    assert ok['name'] == 'services'
    # A report of another name does not count.
    monthly = m.maintenance_fleet_rows(['db', 'app1'], hostvars, 'monthly')
    assert [r['status'] for r in monthly] == ['ok', 'fail']


@pytest.mark.parametrize('hosts', [[], None, 'db'])
def test_fleet_rows_need_a_host_list(hosts):
    with pytest.raises(AnsibleFilterError, match='list of the fleet'):
        m.maintenance_fleet_rows(hosts, {}, 'daily')


def test_fleet_rows_reject_a_bad_row():
    with pytest.raises(AnsibleFilterError, match='report row #1'):
        m.maintenance_fleet_rows(['db'], {'db': {'maintenance_reports': {'daily': {'rows': [{'name': 'x', 'status': 'bad'}]}}}}, 'daily')
