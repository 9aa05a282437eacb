# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The maintenance rows built from typed data: CPU against each container's allowance, the db target, slow queries."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter import maintenance as m

SAMPLE = 'average over 5 s'


def usage(name, raw, cpus, source='host'):
    return {'name': name, 'cpu_percent': raw, 'cpus': cpus, 'cpus_source': source,
            'allowance_percent': round(raw / cpus, 2), 'mem_percent': 1.0}


def test_cpu_row_compares_the_share_of_the_allowance_not_one_core():
    # 150 % of one core on a 2-core host is 75 % of what the container may use: under 80.
    row = m.maintenance_cpu_row([usage('p-web-1', 150.0, 2.0), usage('p-db-1', 4.0, 2.0)], 80, SAMPLE)
    assert row['status'] == 'ok' and row['value'] == '75.0 %' and row['threshold'] == '<= 80 %'
    assert row['detail'] == "highest of 2 containers: p-web-1 75.0% of the host's 2 CPUs (150.0% raw) (average over 5 s)"
    assert 'items' not in row


def test_cpu_row_names_every_container_over_its_limit():
    row = m.maintenance_cpu_row([usage('p-web-1', 45.0, 0.5, 'limit'), usage('p-db-1', 170.0, 2.0), usage('p-x-1', 1, 2.0)],
                                '80', SAMPLE)
    assert row['status'] == 'fail' and row['value'] == '90.0 %'
    assert row['detail'].startswith('over: p-web-1 90.0% of its limit of 0.5 CPUs (45.0% raw), p-db-1 85.0% of the host')
    assert row['items'][0].startswith('p-web-1 90.0%') and len(row['items']) == 3


def test_cpu_row_from_prometheus_is_percent_of_one_core():
    stats = [{'name': 'p-web-1', 'cpu_percent': 91.5, 'mem_percent': 1}, {'name': 'p-db-1', 'cpu_percent': 3.0, 'mem_percent': 1}]
    row = m.maintenance_cpu_row(stats, 80, 'average over 30s, Prometheus')
    assert row['status'] == 'fail' and row['detail'] == 'over: p-web-1 91.5% (average over 30s, Prometheus)'
    row = m.maintenance_cpu_row(stats, 95, 'average over 30s, Prometheus')
    assert row['status'] == 'ok' and row['detail'] == 'highest of 2 containers (average over 30s, Prometheus)'


def test_cpu_row_without_containers_and_bad_input():
    assert m.maintenance_cpu_row([], 80, SAMPLE)['status'] == 'ok'
    with pytest.raises(AnsibleFilterError, match='name and cpu_percent'):
        m.maintenance_cpu_row([{'name': 'x'}], 80, SAMPLE)


def info(env=('POSTGRES_PASSWORD=s3cret=x', 'POSTGRES_USER=app'), networks=None, running=True, mode='p_default'):
    networks = {'p_default': {'IPAddress': '172.20.0.3'}} if networks is None else networks
    return {'exists': True, 'container': {'State': {'Running': running, 'Status': 'running' if running else 'exited'},
                                          'Config': {'Env': list(env)}, 'HostConfig': {'NetworkMode': mode},
                                          'NetworkSettings': {'Networks': networks}}}


def test_pg_target_takes_the_project_network_address_and_the_password():
    target = m.maintenance_pg_target(info(networks={'bridge': {'IPAddress': '172.17.0.2'}, 'p_default': {'IPAddress': '172.20.0.3'},
                                                    'q_default': {'IPAddress': ''}}), 'p')
    assert target == {'host': '172.20.0.3', 'password': 's3cret=x', 'error': ''}
    other = m.maintenance_pg_target(info(networks={'zz': {'IPAddress': '10.1.0.2'}}), 'p')
    assert other['host'] == '10.1.0.2'
    host = m.maintenance_pg_target(info(networks={}, mode='host'), 'p')
    assert host['host'] == '127.0.0.1'


@pytest.mark.parametrize('result, error', [
    ({'exists': False, 'container': None}, 'no such container'),
    ({'failed': True, 'msg': 'Error connecting: docker is down'}, 'Error connecting: docker is down'),
    (info(running=False), 'not running (exited)'),
    (info(networks={}, mode='none'), 'no address on a Docker network'),
    (info(env=('POSTGRES_PASSWORD_FILE=/run/secrets/pg',)), 'no POSTGRES_PASSWORD'),
])
def test_pg_target_says_why_there_is_none(result, error):
    target = m.maintenance_pg_target(result, 'p')
    assert error in target['error'] and not target['password']


def test_pg_target_refuses_what_is_not_a_result():
    with pytest.raises(AnsibleFilterError, match='docker_container_info'):
        m.maintenance_pg_target('nope', 'p')


def queries(pgss=True, running=()):
    return {'query_all_results': [[{'connections': 5, 'max_connections': 100, 'size_bytes': 1, 'pgss': pgss}],
                                  list(running) or {}]}


def statements(*rows):
    return {'query_all_results': [list(rows) or {}], 'query_result': list(rows) or {}}


STMT_FAST = {'query': 'SELECT 1', 'calls': 40, 'mean_ms': 0.2}
STMT_SLOW = {'query': 'SELECT pg_sleep($1)', 'calls': 1, 'mean_ms': 1201.7}
RUNNING = {'pid': 77, 'running_ms': 4100.0, 'query': 'SELECT pg_sleep(?)'}


def test_slow_queries_ok_lists_the_slowest_recorded():
    row = m.maintenance_slow_query_row(queries(), statements(STMT_FAST), 500, 10)
    assert row['status'] == 'ok' and row['value'] == '0.2 ms mean (slowest)' and row['threshold'] == '<= 500 ms'
    assert row['detail'].startswith('source: pg_stat_statements (mean_exec_time since its last reset) and pg_stat_activity')
    assert row['items'] == ['0.2 ms mean, 40 calls: SELECT 1']
    assert m.maintenance_slow_query_row(queries(), statements(), 500, 10)['value'] == 'none recorded'


def test_slow_queries_fail_on_a_slow_mean_naming_it():
    row = m.maintenance_slow_query_row(queries(), statements(STMT_SLOW, STMT_FAST), '500', '10')
    assert row['status'] == 'fail' and row['value'] == '1 over 500 ms'
    assert row['detail'].startswith('worst: 1201.7 ms mean, 1 calls: SELECT pg_sleep($1); source: pg_stat_statements')
    assert row['items'] == ['1201.7 ms mean, 1 calls: SELECT pg_sleep($1)']


def test_slow_queries_fail_on_a_long_running_statement_even_with_pg_stat_statements():
    row = m.maintenance_slow_query_row(queries(running=[RUNNING]), statements(STMT_FAST), 1000, 10)
    assert row['status'] == 'fail' and row['items'] == ['4100.0 ms running (pid 77): SELECT pg_sleep(?)']
    assert 'worst: 4100.0 ms running (pid 77)' in row['detail']


def test_slow_queries_without_pg_stat_statements_use_pg_stat_activity():
    ok = m.maintenance_slow_query_row(queries(pgss=False), {'skipped': True, 'changed': False}, 500, 10)
    assert ok['status'] == 'ok' and ok['value'] == 'none running' and 'items' not in ok
    assert ok['detail'].startswith('source: pg_stat_activity') and 'pg_stat_statements is not installed' in ok['detail']
    bad = m.maintenance_slow_query_row(queries(pgss=False, running=[RUNNING, dict(RUNNING, pid=78, running_ms=9000.0)]),
                                       {'skipped': True}, 500, 1)
    assert bad['status'] == 'fail' and bad['value'] == '1 over 500 ms'
    assert bad['items'] == ['9000.0 ms running (pid 78): SELECT pg_sleep(?)']


def test_slow_queries_unreadable_pg_stat_statements_warns_and_still_checks_activity():
    failed = {'failed': True, 'msg': 'pg_stat_statements must be loaded via "shared_preload_libraries"'}
    row = m.maintenance_slow_query_row(queries(), failed, 500, 10)
    assert row['status'] == 'warn' and 'installed but unreadable' in row['detail'] and 'shared_preload_libraries' in row['detail']
    assert m.maintenance_slow_query_row(queries(running=[RUNNING]), failed, 500, 10)['status'] == 'fail'


def test_slow_queries_ignore_running_rows_under_the_threshold_and_truncate_text():
    row = m.maintenance_slow_query_row(queries(pgss=False, running=[dict(RUNNING, running_ms=10.0)]), {}, 500, 10)
    assert row['status'] == 'ok'
    long = dict(STMT_SLOW, query='SELECT ' + 'x, ' * 80)
    assert len(m.maintenance_slow_query_row(queries(), statements(long), 500, 10)['items'][0].split(': ', 1)[1]) == 100
