# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""lb_apply on a real directory, the engine stubbed at the docker CLI: where nginx checks the candidate, what lands,
what reloads, check mode, diff, idempotence and refusals that write nothing.

tests/integration/test_lb.py runs it against a real engine and nginx."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.modules import lb_apply

BACKENDS = [{'name': 'app1', 'address': '10.0.0.11', 'port': 8000}, {'name': 'app2', 'address': '10.0.0.12', 'port': 8000}]


class FakeDocker:
    """Answers docker inspect / exec / run like an engine with or without the lb container; nginx -t as told."""

    def __init__(self, running=False, image='proxy:v1', source=None, check_rc=0):
        self.running, self.image, self.source, self.check_rc = running, image, source, check_rc
        self.calls = []

    def run_command(self, argv, **kwargs):  # pylint: disable=unused-argument
        """AnsibleModule.run_command, bound to this engine."""
        self.calls.append(list(argv))
        if argv[1] == 'inspect':
            if self.source is None:
                return 1, '', 'Error: No such container'
            return 0, '%s|%s|%s\n' % (str(self.running).lower(), self.image, self.source), ''
        if '-t' in argv:
            return (0, '', '') if self.check_rc == 0 else (1, '', 'nginx: [emerg] invalid port in upstream "10.0.0.11:70000"')
        return 0, '', ''

    def kinds(self):
        return [' '.join(c[1:3]) if c[1] == 'exec' else c[1] for c in self.calls]


def run(capsys, monkeypatch, docker, check=False, diff=False, **args):
    base = dict(image='proxy:v1', backends=BACKENDS, _ansible_check_mode=check, _ansible_diff=diff)
    base.update(args)
    # A bound method on the class is not bound again: the module's calls reach this engine.
    monkeypatch.setattr(AnsibleModule, 'run_command', docker.run_command)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            lb_apply.main()
    return json.loads(capsys.readouterr().out)


def test_first_call_checks_in_a_throwaway_container_and_writes_both_files(tmp_path, capsys, monkeypatch):
    lb_dir = tmp_path / 'lb'
    docker = FakeDocker()
    result = run(capsys, monkeypatch, docker, dir=str(lb_dir))
    assert result['changed'] and not result['reloaded'] and result['drained'] == []
    assert docker.kinds() == ['inspect', 'run']
    checked = docker.calls[1]
    assert checked[:6] == ['docker', 'run', '--rm', '--user', '0', '--network'] and 'proxy:v1' in checked
    assert 'server 10.0.0.12:8000 max_fails=1 fail_timeout=5s;' in (lb_dir / 'nginx.conf').read_text()
    assert json.loads((lb_dir / 'drained.json').read_text()) == []
    assert stat.S_IMODE(os.stat(lb_dir).st_mode) == 0o755 and not (lb_dir / lb_apply.CANDIDATE).exists()
    assert result['message'] == 'Load balancer aishield-lb: in rotation app1, app2; drained none.'

    again = FakeDocker(running=True, source=str(lb_dir))
    assert not run(capsys, monkeypatch, again, dir=str(lb_dir))['changed'] and again.calls == []


def test_a_drain_is_checked_in_the_running_lb_then_reloaded(tmp_path, capsys, monkeypatch):
    lb_dir = tmp_path / 'lb'
    run(capsys, monkeypatch, FakeDocker(), dir=str(lb_dir))
    docker = FakeDocker(running=True, source=str(lb_dir))
    result = run(capsys, monkeypatch, docker, dir=str(lb_dir), drain=['app1'])
    assert result['changed'] and result['reloaded'] and result['newly_drained'] == ['app1']
    assert docker.kinds() == ['inspect', 'exec aishield-lb', 'exec aishield-lb']
    assert docker.calls[1][-1] == '/etc/aishield-lb/' + lb_apply.CANDIDATE and docker.calls[2][3:5] == ['nginx', '-s']
    assert '10.0.0.11:8000 max_fails=1 fail_timeout=5s down;' in (lb_dir / 'nginx.conf').read_text()
    assert json.loads((lb_dir / 'drained.json').read_text()) == ['app1']
    # Undrained: nothing newly drained, so the caller does not wait.
    result = run(capsys, monkeypatch, FakeDocker(running=True, source=str(lb_dir)), dir=str(lb_dir), undrain=['app1'])
    assert result['drained'] == [] and result['newly_drained'] == []


@pytest.mark.parametrize('state', [dict(running=False), dict(running=True, image='proxy:v0'), dict(running=True, other_dir=True)])
def test_a_stopped_container_or_another_image_or_mount_checks_in_a_throwaway_one(tmp_path, capsys, monkeypatch, state):
    lb_dir = tmp_path / 'lb'
    run(capsys, monkeypatch, FakeDocker(), dir=str(lb_dir))
    docker = FakeDocker(running=state['running'], image=state.get('image', 'proxy:v1'),
                        source=str(tmp_path / 'elsewhere') if state.get('other_dir') else str(lb_dir))
    result = run(capsys, monkeypatch, docker, dir=str(lb_dir), drain=['app2'])
    assert docker.kinds()[:2] == ['inspect', 'run']
    # A running container is still reloaded (docker_container recreates it next when it differs).
    assert result['reloaded'] == state['running']


def test_a_config_nginx_rejects_leaves_both_files_as_they_were(tmp_path, capsys, monkeypatch):
    lb_dir = tmp_path / 'lb'
    run(capsys, monkeypatch, FakeDocker(), dir=str(lb_dir))
    before = (lb_dir / 'nginx.conf').read_bytes(), (lb_dir / 'drained.json').read_bytes()
    docker = FakeDocker(running=True, source=str(lb_dir), check_rc=1)
    result = run(capsys, monkeypatch, docker, dir=str(lb_dir), drain=['app2'],
                 backends=[dict(BACKENDS[0], port=70000), BACKENDS[1]])
    assert result['failed'] and 'the new nginx.conf failed its check (nginx -t in proxy:v1)' in result['msg']
    assert 'invalid port in upstream' in result['msg']
    assert ((lb_dir / 'nginx.conf').read_bytes(), (lb_dir / 'drained.json').read_bytes()) == before
    assert not (lb_dir / lb_apply.CANDIDATE).exists() and 'exec aishield-lb' in docker.kinds()
    assert len(docker.calls) == 2, 'reloaded after a failed check'


def test_check_mode_shows_the_diff_and_touches_nothing(tmp_path, capsys, monkeypatch):
    lb_dir = tmp_path / 'lb'
    run(capsys, monkeypatch, FakeDocker(), dir=str(lb_dir))
    conf = (lb_dir / 'nginx.conf').read_text()
    docker = FakeDocker(running=True, source=str(lb_dir))
    result = run(capsys, monkeypatch, docker, check=True, diff=True, dir=str(lb_dir), drain=['app1'])
    assert result['changed'] and docker.calls == []
    conf_diff, drained_diff = result['diff']
    assert conf_diff['before'] == conf and '10.0.0.11:8000 max_fails=1 fail_timeout=5s down;' in conf_diff['after']
    assert (drained_diff['before'], drained_diff['after']) == ('[]\n', '["app1"]\n')
    assert (lb_dir / 'nginx.conf').read_text() == conf and json.loads((lb_dir / 'drained.json').read_text()) == []


@pytest.mark.parametrize('args,expected', [
    (dict(drain=['app9']), 'lb_backends must list every app host'),
    (dict(backends=[{'name': 'app1', 'address': 'a b'}]), 'lb_backends must list every app host'),
    (dict(image=''), "Got image ''"),
    (dict(port=0), 'lb_port must be a port number'),
])
def test_bad_input_writes_nothing(tmp_path, capsys, monkeypatch, args, expected):
    docker = FakeDocker()
    result = run(capsys, monkeypatch, docker, dir=str(tmp_path / 'lb'), **args)
    assert result['failed'] and expected in result['msg']
    assert not (tmp_path / 'lb').exists() and docker.calls == []


def test_draining_the_last_host_is_refused_and_writes_nothing(tmp_path, capsys, monkeypatch):
    lb_dir = tmp_path / 'lb'
    run(capsys, monkeypatch, FakeDocker(), dir=str(lb_dir), drain=['app1'])
    docker = FakeDocker(running=True, source=str(lb_dir))
    result = run(capsys, monkeypatch, docker, dir=str(lb_dir), drain=['app2'])
    assert result['failed'] and 'would leave no app host in rotation' in result['msg'] and docker.calls == []
    assert json.loads((lb_dir / 'drained.json').read_text()) == ['app1']
    kept = run(capsys, monkeypatch, docker, dir=str(lb_dir), drain=['app2'], drain_keep_serving=True)
    assert not kept['changed'] and kept['kept_serving'] == ['app2'] and 'Not drained: app2' in kept['message']


def test_a_drained_file_that_is_not_a_list_is_named(tmp_path, capsys, monkeypatch):
    lb_dir = tmp_path / 'lb'
    lb_dir.mkdir()
    (lb_dir / 'drained.json').write_text('{"app1": true}\n')
    result = run(capsys, monkeypatch, FakeDocker(), dir=str(lb_dir))
    assert result['failed'] and str(lb_dir / 'drained.json') in result['msg'] and 'nothing was changed' in result['msg']
    assert not (lb_dir / 'nginx.conf').exists()
