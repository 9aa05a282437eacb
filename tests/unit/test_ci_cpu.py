# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tests/bench/ci_cpu.py: parents found across reused pids, and processes sorted into kinds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('ci_cpu', REPO / 'tests/bench/ci_cpu.py')
ci_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ci_cpu)


def _kinds(rows):
    parents = ci_cpu.parent_index(rows)
    return [ci_cpu.classify(i, rows, parents) for i in range(len(rows))]


def test_a_parent_is_the_first_later_record_with_its_pid():
    # pid 10 is an ansible-playbook that ends, then a shell reuses pid 10 later on.
    rows = [('ansible-playboo', 0.1, 0.1, 11, 10),   # a worker of the first pid 10
            ('ansible-playboo', 2.0, 9.0, 10, 1),     # the playbook
            ('sleep', 0.0, 1.0, 12, 10),              # a child of the second pid 10
            ('sh', 0.0, 2.0, 10, 1)]
    assert ci_cpu.parent_index(rows) == [1, None, 3, None]
    assert _kinds(rows)[:3] == ['ansible-worker', 'ansible-main', 'shell']


def test_module_runs_apps_and_tools_are_told_apart():
    rows = [
        ('python3', 0.2, 0.3, 30, 29), ('sh', 0.0, 0.3, 29, 28), ('sh', 0.0, 0.3, 28, 27),   # module, local
        ('ansible-playboo', 0.1, 0.4, 27, 20),                                               # its worker
        ('python3', 0.2, 0.4, 41, 40), ('sh', 0.0, 0.4, 40, 39), ('containerd-shim', 0.0, 99, 39, 1),  # docker exec'd
        ('python3', 30.0, 300.0, 51, 50), ('docker-init', 0.0, 300.0, 50, 49),               # uvicorn in a stack
        ('postgres', 1.0, 300.0, 60, 1), ('pg_dump', 0.5, 2.0, 61, 1), ('dockerd', 3.0, 900.0, 62, 1),
        ('ansible-lint', 9.0, 60.0, 63, 1), ('ansible-galaxy', 1.0, 2.0, 64, 1),
        ('ansible-playboo', 1.0, 30.0, 20, 1), ('mystery', 0.1, 0.1, 65, 1),
    ]
    assert _kinds(rows) == ['module', 'shell', 'shell', 'ansible-worker', 'module', 'shell', 'docker', 'app', 'docker',
                            'app', 'backup', 'docker', 'static', 'ansible-tools', 'ansible-main', 'other']
