# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Without a Docker engine the integration tests fail, saying why; they never pass as "skipped".

Each case runs pytest on an integration file in a subprocess whose DOCKER_HOST points at a
socket that does not exist, so no engine answers (nothing in it reaches Docker: the gate stops
the run first).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NO_ENGINE = 'unix:///nonexistent.sock'


def _pytest(*args):
    env = {key: value for key, value in os.environ.items() if key not in ('DOCKER_CONTEXT', 'PYTEST_ADDOPTS')}
    env['DOCKER_HOST'] = NO_ENGINE
    return subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_no_engine_fails_the_integration_tests_with_the_reason():
    proc = _pytest('tests/integration/test_lb.py')
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert 'no Docker engine answers' in out and NO_ENGINE in out, out  # the reason, with docker's own words
    assert 'skipped' not in out and 'passed' not in out, out


def test_tests_that_need_no_engine_are_not_stopped():
    """The build stage's file needs no engine: its tests get to run (--setup-plan: planned, not executed)."""
    proc = _pytest('--setup-plan', 'tests/integration/test_collection_build.py')
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert 'Docker engine' not in out and 'test_collection_build.py::' in out, out
