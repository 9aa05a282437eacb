# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The watcher behind every "never a password on a command line" check sees what `ps` sees.

Every secret test trusts PsWatcher: if it missed a command line, a leaked password would pass. Here a
planted value sits on the command line of a process on the host and of one in a container (docker exec),
each alive for about a second, and the watcher must report both, whole.
"""

from __future__ import annotations

import secrets
import subprocess

import pytest

from conftest import PsWatcher

pytestmark = pytest.mark.integration


def test_the_watcher_sees_a_command_line_on_the_host_and_in_a_container():
    host_value, container_value = 'psHOST' + secrets.token_hex(6), 'psCONT' + secrets.token_hex(6)
    watcher = PsWatcher()
    watcher.start()
    try:
        subprocess.run(['sh', '-c', f'sleep 1; : --password={host_value}'], check=True, timeout=30)
        subprocess.run(['docker', 'exec', 'aishield-receiver', 'sh', '-c', f'sleep 1; : --password={container_value}'],
                       check=True, timeout=30)
    finally:
        watcher.stop.set()
        watcher.join()
    assert watcher.samples >= 5, watcher.samples
    # The host's shell and the container's shell, each with its whole command line.
    assert f'sh -c sleep 1; : --password={host_value}' in watcher.lines
    assert any(line.endswith(f'sh -c sleep 1; : --password={container_value}') for line in watcher.lines)
