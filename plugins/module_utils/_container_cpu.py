# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""CPU of a Compose project's containers averaged over a window, against each one's allowance (module container_cpu).

Two one-shot stats samples per container, N seconds apart, taken side by side for every container:
CPU % = delta(cpu_usage.total_usage) / delta(system_cpu_usage) x online_cpus x 100, the formula of
`docker stats`, so 100 % is one core. The allowance is the container's limit (HostConfig.NanoCpus, else
CpuQuota / CpuPeriod, and at most the cores of its cpuset) or, without one, the host's cores.
Memory comes from the second sample, as `docker stats` computes it (usage less the inactive page cache).
See https://docs.docker.com/reference/api/engine/version/v1.41/#operation/ContainerStats
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.aishield.ops.plugins.module_utils._docker_api import DockerApiError

PROJECT_LABEL = 'com.docker.compose.project'
SERVICE_LABEL = 'com.docker.compose.service'
WINDOW_MIN = 1.0
WINDOW_MAX = 60.0
# Stats and inspect calls in flight at once.
MAX_WORKERS = 8


def _num(value):
    """value when it is a real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def cpuset_count(cpuset):
    """How many CPUs a cpuset string ('0-3,6') names; None when empty or unreadable."""
    total = 0
    for part in str(cpuset or '').split(','):
        part = part.strip()
        if not part:
            continue
        try:
            if '-' in part:
                low, high = part.split('-', 1)
                if int(high) < int(low):
                    return None
                total += int(high) - int(low) + 1
            else:
                int(part)
                total += 1
        except ValueError:
            return None
    return total or None


def allowance(host_config, host_cpus):
    """(cpus, source): the CPUs a container may use, from its limit, its cpuset, else the host's cores."""
    host_config = host_config or {}
    nano = _num(host_config.get('NanoCpus'))
    quota, period = _num(host_config.get('CpuQuota')), _num(host_config.get('CpuPeriod'))
    limit, source = None, None
    if nano and nano > 0:
        limit, source = nano / 1e9, 'limit'
    elif quota and quota > 0:
        # Docker's default period is 100 ms when only the quota is set.
        limit, source = quota / float(period if period and period > 0 else 100000), 'limit'
    pinned = cpuset_count(host_config.get('CpusetCpus'))
    if pinned and (limit is None or pinned < limit):
        limit, source = float(pinned), 'cpuset'
    if limit is None:
        return float(host_cpus), 'host'
    return limit, source


def online_cpus(stats):
    """The CPUs the daemon's host has online, as one stats sample reports them (None when it does not)."""
    cpu = (stats or {}).get('cpu_stats') or {}
    online = _num(cpu.get('online_cpus'))
    if online:
        return int(online)
    percpu = (cpu.get('cpu_usage') or {}).get('percpu_usage')
    return len(percpu) if percpu else None


def cpu_percent(first, second):
    """CPU % between two samples (100 = one core, as docker stats shows it); None when they cannot be compared."""
    def usage(stats):
        cpu = (stats or {}).get('cpu_stats') or {}
        return _num((cpu.get('cpu_usage') or {}).get('total_usage')), _num(cpu.get('system_cpu_usage'))

    used1, system1 = usage(first)
    used2, system2 = usage(second)
    cpus = online_cpus(second) or online_cpus(first)
    if None in (used1, used2, system1, system2) or not cpus or system2 <= system1 or used2 < used1:
        return None
    return (used2 - used1) / float(system2 - system1) * cpus * 100.0


def memory(stats):
    """(bytes used less the inactive page cache, limit bytes, percent of the limit), as docker stats; Nones when absent."""
    mem = (stats or {}).get('memory_stats') or {}
    usage, limit = _num(mem.get('usage')), _num(mem.get('limit'))
    if usage is None:
        return None, limit, None
    detail = mem.get('stats') or {}
    # cgroup v1 has total_inactive_file (with children), cgroup v2 inactive_file only.
    cache = _num(detail.get('total_inactive_file'))
    if cache is None:
        cache = _num(detail.get('inactive_file'))
    if cache is not None and cache < usage:
        usage -= cache
    percent = 100.0 * usage / limit if limit else None
    return usage, limit, percent


def container_usage(name, service, first, second, host_config, host_cpus):
    """One container's report: raw CPU %, its allowance and the share of it used, memory; None when not comparable."""
    raw = cpu_percent(first, second)
    if raw is None:
        return None
    cpus, source = allowance(host_config, online_cpus(second) or host_cpus)
    used, limit, mem_percent = memory(second)
    return {
        'name': name,
        'service': service,
        'cpu_percent': round(raw, 2),
        'cpus': round(cpus, 3),
        'cpus_source': source,
        'allowance_percent': round(raw / cpus, 2) if cpus else None,
        'mem_percent': round(mem_percent, 2) if mem_percent is not None else 0.0,
        'mem_bytes': used,
        'mem_limit_bytes': limit,
    }


def container_name(summary):
    """A container list entry's own name, without the leading slash."""
    for name in summary.get('Names') or []:
        bare = name[1:] if name.startswith('/') else name
        if '/' not in bare:
            return bare
    return summary.get('Id', '')[:12]


class CpuSampler:
    """Samples the running containers of one Compose project over a window, all containers side by side."""

    def __init__(self, api, sleep=time.sleep, clock=time.monotonic):
        self.api = api
        self.sleep = sleep
        self.clock = clock

    def _targets(self, project, names):
        if project:
            listed = self.api.containers({PROJECT_LABEL: project})
        else:
            listed = [{'Id': name, 'Names': ['/' + name], 'State': 'running'} for name in names]
        targets = []
        for summary in listed:
            name = container_name(summary)
            if summary.get('State', 'running') != 'running' or (names and name not in names):
                continue
            targets.append({'id': summary['Id'], 'name': name,
                            'service': (summary.get('Labels') or {}).get(SERVICE_LABEL, '')})
        return sorted(targets, key=lambda t: t['name'])

    def _each(self, pool, func, targets):
        """func(target) for each target in the pool: {name: result}, errors kept as DockerApiError."""
        def guarded(target):
            try:
                return func(target)
            except DockerApiError as exc:
                return exc
        return dict(zip([t['name'] for t in targets], pool.map(guarded, targets)))

    def sample(self, project=None, names=None, window=5.0):
        """{'containers': [...], 'skipped': [{name, reason}], 'host_cpus': n, 'seconds': elapsed}."""
        targets = self._targets(project, names or [])
        if not targets:
            return {'containers': [], 'skipped': [], 'host_cpus': None, 'seconds': 0.0}
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(targets) * 2)) as pool:
            inspected = self._each(pool, lambda t: self.api.inspect(t['id']), targets)
            start = self.clock()
            first = self._each(pool, lambda t: self.api.stats(t['id']), targets)
            left = window - (self.clock() - start)
            if left > 0:
                self.sleep(left)
            second = self._each(pool, lambda t: self.api.stats(t['id']), targets)
            elapsed = self.clock() - start
        host_cpus = next((online_cpus(s) for s in list(second.values()) + list(first.values())
                          if isinstance(s, dict) and online_cpus(s)), 1)
        containers, skipped = [], []
        for target in targets:
            name = target['name']
            answers = [inspected[name], first[name], second[name]]
            failed = [a for a in answers if isinstance(a, DockerApiError)]
            if failed:
                skipped.append({'name': name, 'reason': str(failed[0])})
                continue
            usage = container_usage(name, target['service'], first[name], second[name],
                                    (inspected[name] or {}).get('HostConfig'), host_cpus)
            if usage is None:
                # A container that stopped (or started) inside the window has no comparable pair of samples.
                skipped.append({'name': name, 'reason': 'no CPU counters in both samples (stopped during the window?)'})
                continue
            containers.append(usage)
        return {'containers': containers, 'skipped': skipped, 'host_cpus': host_cpus, 'seconds': round(elapsed, 2)}
