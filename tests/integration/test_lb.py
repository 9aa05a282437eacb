# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lb role on this machine's engine: drain, put back, refuse to drain the last host, check mode; a config nginx
rejects never lands; a removed or stopped lb container comes back with the kept state.

The backends are addresses nothing listens on (127.0.0.2 to 127.0.0.4 inside the nginx container):
these tests only read the rendered configuration, the drained set and nginx's own /lb-health on a
127.0.0.1 port; the Molecule multihost scenario proves that traffic follows the configuration.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

pytestmark = pytest.mark.integration

IMAGE = '127.0.0.1:5000/aishield/proxy:v1'
BACKENDS = [{'name': 'app1', 'address': '127.0.0.2', 'port': 8000}, {'name': 'app2', 'address': '127.0.0.3', 'port': 8000}]


@pytest.fixture
def lb(tmp_path):
    name = 'aishield-lb-it-' + secrets.token_hex(3)
    settings = {'lb_name': name, 'lb_image': IMAGE, 'lb_dir': str(tmp_path / 'lb'), 'lb_bind_address': '127.0.0.1',
                'lb_port': free_port(), 'lb_backends': BACKENDS, 'lb_drain_seconds': 0}
    yield settings
    subprocess.run(['docker', 'rm', '-f', name], capture_output=True, check=False, timeout=60)


def _call(ansible_playbook, settings, check=False, **change):
    task = {'name': 'Call the lb role', 'ansible.builtin.include_role': {'name': 'aishield.ops.lb'}, 'vars': dict(settings, **change)}
    return ansible_playbook([task], check=check, diff=check)


def _drained(settings):
    return json.loads((Path(settings['lb_dir']) / 'drained.json').read_text())


def _changed(run):
    return run.data['stats']['localhost']['changed']


def _down(settings):
    """Backends marked down in the rendered nginx.conf, read inside the running container."""
    conf = subprocess.run(['docker', 'exec', settings['lb_name'], 'cat', '/etc/aishield-lb/nginx.conf'],
                          capture_output=True, text=True, check=True).stdout
    return sorted(b['name'] for b in settings['lb_backends']
                  if '%s:%s max_fails=1 fail_timeout=5s down;' % (b['address'], b['port']) in conf)


def _health(settings):
    with urllib.request.urlopen('http://127.0.0.1:%d/lb-health' % settings['lb_port'], timeout=5) as resp:  # nosec
        return resp.status


def _started(settings):
    return subprocess.run(['docker', 'inspect', '-f', '{{.State.StartedAt}}', settings['lb_name']],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_drain_put_back_and_refuse_the_last_host(ansible_playbook, lb):
    run = _call(ansible_playbook, lb)
    assert run.rc == 0, run.output
    assert _down(lb) == [] and _health(lb) == 200
    started = _started(lb)
    assert _changed(_call(ansible_playbook, lb)) == 0, 'a second identical call changed something'

    # Check mode predicts the drain and changes nothing.
    run = _call(ansible_playbook, lb, check=True, lb_drain=['app1'])
    assert run.rc == 0 and _changed(run) > 0, run.output
    assert _down(lb) == [] and _drained(lb) == []

    run = _call(ansible_playbook, lb, lb_drain=['app1'])
    assert run.rc == 0, run.output
    assert _down(lb) == ['app1'] and _drained(lb) == ['app1']
    assert _started(lb) == started, 'nginx was restarted instead of reloaded'  # a reload keeps in-flight requests
    assert _health(lb) == 200

    # Draining the other one too would leave nothing in rotation: refused, nothing written.
    run = _call(ansible_playbook, lb, lb_drain=['app2'])
    assert run.rc != 0
    assert 'would leave no app host in rotation' in run.output and 'aishield_serial' in run.output, run.output
    assert _down(lb) == ['app1'] and _drained(lb) == ['app1']

    # A fleet's rollout asks to keep the last hosts serving instead: app2 is switched in place, not drained.
    run = _call(ansible_playbook, lb, lb_drain=['app2'], lb_drain_keep_serving=True)
    assert run.rc == 0, run.output
    assert 'Not drained: app2, the last in rotation' in run.output, run.output
    assert _down(lb) == ['app1'] and _drained(lb) == ['app1'] and _health(lb) == 200

    # A later call without lb_undrain keeps the drained host drained (the configuration is not reset).
    assert _changed(_call(ansible_playbook, lb)) == 0 and _down(lb) == ['app1']

    run = _call(ansible_playbook, lb, lb_undrain=['app1'])
    assert run.rc == 0, run.output
    assert _down(lb) == [] and _drained(lb) == []
    assert _started(lb) == started and _health(lb) == 200


def test_bad_inputs_are_refused_before_anything_is_written(ansible_playbook, lb):
    run = _call(ansible_playbook, lb, lb_drain=['app9'], lb_backends=BACKENDS + [{'name': 'app3', 'address': 'a b'}])
    assert run.rc != 0
    assert 'lb_backends must list every app host' in run.output and 'drain [' in run.output, run.output
    assert not Path(lb['lb_dir']).exists()
    assert subprocess.run(['docker', 'inspect', lb['lb_name']], capture_output=True, check=False).returncode != 0


def test_a_config_nginx_rejects_never_reaches_the_live_file(ansible_playbook, lb):
    """nginx checks the candidate before it replaces nginx.conf: a rejected one changes nothing, and nginx keeps serving.

    A published port typed as 70000 gets past the role's input checks (a port >= 1) but not nginx:
    `invalid port in upstream`. Before the check ran on the candidate, the bad file landed in lb_dir and only the
    reload was refused, leaving a file on disk that a restarted container would not start with.
    """
    run = _call(ansible_playbook, lb)
    assert run.rc == 0, run.output
    conf = Path(lb['lb_dir']) / 'nginx.conf'
    drained = Path(lb['lb_dir']) / 'drained.json'
    before = conf.read_bytes(), drained.read_bytes()
    started = _started(lb)

    typo = [dict(BACKENDS[0], port=70000), BACKENDS[1]]
    run = _call(ansible_playbook, lb, lb_backends=typo, lb_drain=['app2'])
    assert run.rc != 0
    assert 'the new nginx.conf failed its check (nginx -t in %s)' % IMAGE in run.output, run.output
    assert 'invalid port in upstream' in run.output and '127.0.0.2:70000' in run.output, run.output
    assert (conf.read_bytes(), drained.read_bytes()) == before, 'the rejected call changed nginx.conf or drained.json'
    assert _started(lb) == started and _health(lb) == 200 and _down(lb) == []


def _gone(settings):
    subprocess.run(['docker', 'rm', '-f', settings['lb_name']], capture_output=True, check=True, timeout=60)


def _stopped(settings):
    subprocess.run(['docker', 'stop', '-t', '5', settings['lb_name']], capture_output=True, check=True, timeout=60)
    state = subprocess.run(['docker', 'inspect', '-f', '{{.State.Running}}', settings['lb_name']],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert state == 'false'


def test_a_lost_or_stopped_container_comes_back_with_the_kept_state(ansible_playbook, lb):
    """Mid-rollout (app1 drained) the container is removed, later stopped, by something outside the role.

    The next call recreates (starts) it from drained.json and nginx.conf in lb_dir, applies its own change on top
    and returns with nginx serving, the right hosts marked down.
    """
    lb = dict(lb, lb_backends=BACKENDS + [{'name': 'app3', 'address': '127.0.0.4', 'port': 8000}])
    run = _call(ansible_playbook, lb, lb_drain=['app1'])
    assert run.rc == 0, run.output
    assert _down(lb) == ['app1'] and _health(lb) == 200

    # Removed: the next batch's drain recreates it; app1 stays down (the kept state) and app2 goes down too.
    _gone(lb)
    run = _call(ansible_playbook, lb, lb_drain=['app2'])
    assert run.rc == 0, run.output
    assert _down(lb) == ['app1', 'app2'] and _drained(lb) == ['app1', 'app2']
    assert _health(lb) == 200

    # Stopped: the put-back starts it again with the new configuration.
    _stopped(lb)
    run = _call(ansible_playbook, lb, lb_undrain=['app1'])
    assert run.rc == 0, run.output
    assert _down(lb) == ['app2'] and _drained(lb) == ['app2']
    assert _health(lb) == 200
