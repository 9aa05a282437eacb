# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""CPU over a window against each container's allowance: the pure formulas, and the sampler against a fake API."""

from __future__ import annotations

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._container_cpu import (
    CpuSampler,
    allowance,
    container_name,
    container_usage,
    cpu_percent,
    cpuset_count,
    memory,
    online_cpus,
)
from ansible_collections.aishield.ops.plugins.module_utils._docker_api import DockerApiError


def sample(total, system, cpus=2, usage=None, limit=None, inactive=None, v1=True):
    stats = {'cpu_stats': {'cpu_usage': {'total_usage': total}, 'system_cpu_usage': system, 'online_cpus': cpus}}
    if usage is not None:
        detail = {('total_inactive_file' if v1 else 'inactive_file'): inactive} if inactive is not None else {}
        stats['memory_stats'] = {'usage': usage, 'limit': limit, 'stats': detail}
    return stats


@pytest.mark.parametrize('cpuset, expected', [
    ('', None), (None, None), ('0', 1), ('0-3', 4), ('0-1,4,6-7', 5), ('3-1', None), ('x', None), ('0,,2', 2),
])
def test_cpuset_count(cpuset, expected):
    assert cpuset_count(cpuset) == expected


@pytest.mark.parametrize('host_config, cpus, source', [
    ({}, 4.0, 'host'),
    (None, 4.0, 'host'),
    ({'NanoCpus': 500000000}, 0.5, 'limit'),
    ({'NanoCpus': 0, 'CpuQuota': 150000, 'CpuPeriod': 100000}, 1.5, 'limit'),
    ({'CpuQuota': 50000, 'CpuPeriod': 0}, 0.5, 'limit'),  # the daemon's default period
    ({'CpuQuota': -1, 'CpuPeriod': 100000}, 4.0, 'host'),
    ({'CpusetCpus': '0-1'}, 2.0, 'cpuset'),
    ({'NanoCpus': 3000000000, 'CpusetCpus': '0'}, 1.0, 'cpuset'),  # the smaller allowance wins
    ({'NanoCpus': 500000000, 'CpusetCpus': '0-1'}, 0.5, 'limit'),
    ({'NanoCpus': True}, 4.0, 'host'),
])
def test_allowance(host_config, cpus, source):
    assert allowance(host_config, 4) == (cpus, source)


def test_cpu_percent_is_docker_stats_formula():
    # 0.5 s of CPU in a 1 s window on 2 cores: the system counter moves 2 s per second, one core = 100 %.
    assert cpu_percent(sample(0, 0), sample(500_000_000, 2_000_000_000)) == pytest.approx(50.0)
    # Busy on both cores: 200 %.
    assert cpu_percent(sample(0, 0), sample(2_000_000_000, 2_000_000_000)) == pytest.approx(200.0)


@pytest.mark.parametrize('first, second', [
    ({}, sample(1, 1)),
    (sample(1, 5), sample(2, 5)),  # the system counter did not move
    (sample(9, 1), sample(2, 5)),  # the container restarted: its counter went back
    (sample(1, 1, cpus=None), sample(2, 5, cpus=None)),  # no CPU count at all
])
def test_cpu_percent_refuses_samples_it_cannot_compare(first, second):
    assert cpu_percent(first, second) is None


def test_online_cpus_falls_back_to_percpu():
    assert online_cpus({'cpu_stats': {'cpu_usage': {'percpu_usage': [1, 2, 3]}}}) == 3
    assert online_cpus({}) is None


@pytest.mark.parametrize('stats, expected', [
    (sample(0, 0, usage=300, limit=1000, inactive=100), (200, 1000, 20.0)),
    (sample(0, 0, usage=300, limit=1000, inactive=100, v1=False), (200, 1000, 20.0)),
    (sample(0, 0, usage=300, limit=1000, inactive=500), (300, 1000, 30.0)),  # cache above usage: not subtracted
    (sample(0, 0, usage=300, limit=0), (300, 0, None)),
    (sample(0, 0), (None, None, None)),
])
def test_memory_like_docker_stats(stats, expected):
    assert memory(stats) == expected


def test_container_usage_reports_raw_and_allowance_percent():
    usage = container_usage('a-web-1', 'web', sample(0, 0), sample(500_000_000, 1_000_000_000, usage=50, limit=100),
                            {'NanoCpus': 500_000_000}, 2)
    assert usage['cpu_percent'] == 100.0 and usage['cpus'] == 0.5 and usage['cpus_source'] == 'limit'
    assert usage['allowance_percent'] == 200.0 and usage['mem_percent'] == 50.0
    unlimited = container_usage('a-db-1', 'db', sample(0, 0), sample(500_000_000, 1_000_000_000), {}, 2)
    assert (unlimited['cpu_percent'], unlimited['cpus'], unlimited['allowance_percent']) == (100.0, 2.0, 50.0)
    assert container_usage('x', '', {}, {}, {}, 2) is None


def test_container_name_prefers_the_own_name():
    assert container_name({'Names': ['/web/db', '/proj-db-1'], 'Id': 'abc'}) == 'proj-db-1'
    assert container_name({'Names': [], 'Id': 'abcdef0123456789'}) == 'abcdef012345'


class FakeApi:
    """Two stats samples per container: counters advance by `busy` ns of CPU per sample on a 2-core host."""

    def __init__(self, containers, busy, gone=()):
        self.listed = containers
        self.busy = busy
        self.gone = set(gone)
        self.calls = {}
        self.labels = None

    def containers(self, labels):
        self.labels = labels
        return self.listed

    def inspect(self, cid):
        if cid in self.gone:
            raise DockerApiError('No such container: %s' % cid, 404)
        return {'HostConfig': {'NanoCpus': 1_000_000_000} if cid == 'id-web' else {}}

    def stats(self, cid):
        n = self.calls[cid] = self.calls.get(cid, 0) + 1
        return sample(self.busy.get(cid, 0) * n, 2_000_000_000 * n, usage=10 * n, limit=1000)


def test_sampler_samples_every_running_container_over_the_window():
    listed = [{'Id': 'id-web', 'Names': ['/p-web-1'], 'State': 'running', 'Labels': {'com.docker.compose.service': 'web'}},
              {'Id': 'id-db', 'Names': ['/p-db-1'], 'State': 'running', 'Labels': {'com.docker.compose.service': 'db'}},
              {'Id': 'id-old', 'Names': ['/p-old-1'], 'State': 'exited', 'Labels': {}}]
    api = FakeApi(listed, {'id-web': 1_000_000_000, 'id-db': 100_000_000})
    slept = []
    ticks = iter([0.0, 0.5, 5.2])
    result = CpuSampler(api, sleep=slept.append, clock=lambda: next(ticks)).sample('p', None, 5)
    assert api.labels == {'com.docker.compose.project': 'p'}
    assert slept == [4.5] and result['seconds'] == 5.2 and result['host_cpus'] == 2
    by_name = {c['name']: c for c in result['containers']}
    assert list(by_name) == ['p-db-1', 'p-web-1'] and 'id-old' not in api.calls
    assert by_name['p-web-1']['cpu_percent'] == 100.0 and by_name['p-web-1']['allowance_percent'] == 100.0
    assert by_name['p-web-1']['cpus_source'] == 'limit' and by_name['p-web-1']['service'] == 'web'
    assert by_name['p-db-1']['cpu_percent'] == 10.0 and by_name['p-db-1']['allowance_percent'] == 5.0
    assert by_name['p-db-1']['mem_percent'] == 2.0
    assert result['skipped'] == []


def test_sampler_skips_a_container_that_vanished_and_keeps_the_rest():
    listed = [{'Id': 'id-web', 'Names': ['/p-web-1'], 'State': 'running'},
              {'Id': 'id-gone', 'Names': ['/p-gone-1'], 'State': 'running'}]
    result = CpuSampler(FakeApi(listed, {'id-web': 1}, gone=['id-gone']), sleep=lambda s: None).sample('p', None, 1)
    assert [c['name'] for c in result['containers']] == ['p-web-1']
    assert result['skipped'] == [{'name': 'p-gone-1', 'reason': 'No such container: id-gone'}]


def test_sampler_by_names_and_with_nothing_running():
    api = FakeApi([], {})
    assert CpuSampler(api, sleep=lambda s: None).sample('p', None, 1) == {
        'containers': [], 'skipped': [], 'host_cpus': None, 'seconds': 0.0}
    result = CpuSampler(FakeApi([], {'p-web-1': 5}), sleep=lambda s: None).sample(None, ['p-web-1'], 1)
    assert [c['name'] for c in result['containers']] == ['p-web-1']
