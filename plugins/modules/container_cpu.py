#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: container_cpu
short_description: CPU of a Compose project's containers averaged over a window, against each one's CPU allowance
version_added: 0.1.0
description:
  - Takes two stats samples of every running container of a Compose project (or of the named containers) O(window) seconds
    apart, all containers side by side, through the Docker Engine API on the host's unix socket.
  - Each container's CPU % is the delta of C(cpu_usage.total_usage) over the delta of C(system_cpu_usage), times
    C(online_cpus), times 100, the formula of C(docker stats), averaged over the window (100 is one core).
  - Its allowance is its CPU limit (C(HostConfig.NanoCpus), else C(CpuQuota / CpuPeriod), at most the CPUs of its
    C(CpusetCpus)) or, without one, the host's cores; RV(containers[].allowance_percent) is the CPU % as a share of it.
  - Memory is read from the second sample as C(docker stats) shows it (usage less the inactive page cache, against the limit).
  - Why not C(docker stats --no-stream)? It is one sample over about a second, taken one container after the other, and its
    percentage is of one core, so a container busy on two cores of four shows 200 %, and one with a 0.5 CPU limit that
    uses all of it shows 50 %.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so it runs unchanged in check mode.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - The module never changes anything and always reports RV(ignore:changed=false).
  platform:
    platforms: posix
options:
  project:
    description:
      - The Compose project whose running containers are sampled (label C(com.docker.compose.project)).
      - One of O(project) and O(containers) is required; with both, only the named containers of the project.
    type: str
  containers:
    description:
      - Names of the containers to sample.
    type: list
    elements: str
  window:
    description:
      - Seconds between the two samples, from 1 to 60.
    type: float
    default: 5
  docker_host:
    description:
      - The Docker daemon's unix socket.
    type: str
    default: unix:///var/run/docker.sock
seealso:
  - name: Docker Engine API, container stats
    description: The C(cpu_stats), C(memory_stats) and C(online_cpus) fields read here.
    link: https://docs.docker.com/reference/api/engine/version/v1.41/#operation/ContainerStats
  - module: community.docker.docker_container_info
"""

EXAMPLES = r"""
- name: Average the stack's CPU over 5 seconds
  aishield.ops.container_cpu:
    project: aishield
    window: 5
  register: __cpu

- name: Fail when a container uses more than 80 % of its allowance
  ansible.builtin.assert:
    that: __cpu.containers | selectattr('allowance_percent', 'gt', 80) | list | length == 0
    fail_msg: "{{ __cpu.containers | selectattr('allowance_percent', 'gt', 80) | map(attribute='name') | join(', ') }}"
"""

RETURN = r"""
containers:
  description: One entry per sampled container, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The container's name.
      type: str
      sample: aishield-backend-1
    service:
      description: Its Compose service (empty without the label).
      type: str
      sample: backend
    cpu_percent:
      description: CPU % over the window, 100 per core (as C(docker stats) shows it).
      type: float
      sample: 42.5
    cpus:
      description: The CPUs the container may use.
      type: float
      sample: 2.0
    cpus_source:
      description: Where RV(containers[].cpus) comes from, V(limit), V(cpuset) or V(host) (no limit, the host's cores).
      type: str
      sample: host
    allowance_percent:
      description: RV(containers[].cpu_percent) as a percent of RV(containers[].cpus).
      type: float
      sample: 21.25
    mem_percent:
      description: Memory used (less the inactive page cache) as a percent of its limit (the host's memory without one).
      type: float
      sample: 3.1
    mem_bytes:
      description: Memory used, less the inactive page cache.
      type: int
      sample: 52428800
    mem_limit_bytes:
      description: The memory limit (the host's memory without one).
      type: int
      sample: 1677721600
  sample:
    - {name: aishield-backend-1, service: backend, cpu_percent: 42.5, cpus: 2.0, cpus_source: host, allowance_percent: 21.25,
       mem_percent: 3.1, mem_bytes: 52428800, mem_limit_bytes: 1677721600}
skipped:
  description: Containers listed but not measured (stopped or removed inside the window), with why.
  returned: always
  type: list
  elements: dict
  sample: [{name: aishield-worker-1, reason: no such container}]
host_cpus:
  description: The host's online CPUs, as the daemon reports them; V(null) when no container was sampled.
  returned: always
  type: int
  sample: 2
seconds:
  description: How long the sampling took.
  returned: always
  type: float
  sample: 5.03
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils._container_cpu import WINDOW_MAX, WINDOW_MIN, CpuSampler
from ansible_collections.aishield.ops.plugins.module_utils._docker_api import DockerApi, DockerApiError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project=dict(type='str'),
            containers=dict(type='list', elements='str'),
            window=dict(type='float', default=5),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
        ),
        required_one_of=[('project', 'containers')],
        supports_check_mode=True,
    )
    p = module.params
    if not WINDOW_MIN <= p['window'] <= WINDOW_MAX:
        module.fail_json(msg='window must be from %g to %g seconds, got %g' % (WINDOW_MIN, WINDOW_MAX, p['window']))
    try:
        result = CpuSampler(DockerApi(p['docker_host'], timeout=30)).sample(p['project'], p['containers'], p['window'])
    except DockerApiError as exc:
        module.fail_json(msg='cannot sample the containers through %s: %s' % (p['docker_host'], exc))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
