# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The .env encoding, the switch plan, health waits with an injected clock, the Compose CLI wrapper
and the Switch strategies, against fake Docker and Compose objects."""

from __future__ import annotations

import os
import re
import subprocess
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.aishield.ops.plugins.module_utils import _compose
from ansible_collections.aishield.ops.plugins.module_utils._compose import (
    LABEL_HASH,
    LABEL_PROJECT,
    LABEL_SERVICE,
    MASK,
    Compose,
    ComposeError,
    Switch,
    checksum,
    compose_env,
    env_unquote,
    env_value,
    healthcheck_argv,
    plan,
    render_env,
    wait_healthy,
)
from ansible_collections.aishield.ops.plugins.module_utils._docker_api import DockerApiError

# --- .env -------------------------------------------------------------------------------------

HOSTILE = [
    ('', '""'),
    ('plain', '"plain"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("it's", '"it\'s"'),
    ('C:\\path\\n', '"C:\\\\path\\\\n"'),  # a literal backslash-n, not a newline
    ('\\', '"\\\\"'),
    ('price $5', '"price \\$5"'),
    ('${HOME}', '"\\${HOME}"'),
    ('$$', '"\\$\\$"'),
    ('a # not a comment', '"a # not a comment"'),
    ('line1\nline2', '"line1\\nline2"'),
    ('tab\there', '"tab\\there"'),
    ('cr\r\n', '"cr\\r\\n"'),
    ('ünïcødé ✓ 密码', '"ünïcødé ✓ 密码"'),
    ('  padded  ', '"  padded  "'),
    ('k=v=w', '"k=v=w"'),
    ('"', '"\\""'),
    ('\\"', '"\\\\\\""'),
    ('`whoami`', '"`whoami`"'),
]


@pytest.mark.parametrize('value, encoded', HOSTILE)
def test_env_value_encodes_hostile_values(value, encoded):
    assert env_value('KEY', value) == encoded


@pytest.mark.parametrize('value, encoded', HOSTILE)
def test_env_value_round_trips(value, encoded):
    assert '\n' not in encoded and '\r' not in encoded  # one variable, one line
    assert env_unquote(env_value('KEY', value)) == value


@given(st.text(alphabet=st.characters(blacklist_characters='\x00')))
def test_env_value_round_trips_any_text(value):
    assert env_unquote(env_value('KEY', value)) == value


@pytest.mark.parametrize('value, encoded', [(True, '"true"'), (False, '"false"'), (5, '"5"'), (1.5, '"1.5"'),
                                            (None, '"None"')])
def test_env_value_of_non_text(value, encoded):
    assert env_value('KEY', value) == encoded


@pytest.mark.parametrize('value', ['\x00', 'before\x00after'])
def test_env_value_refuses_nul(value):
    with pytest.raises(ComposeError, match='the .env value of DB_PASSWORD holds a NUL byte'):
        env_value('DB_PASSWORD', value)


@pytest.mark.parametrize('text, expected', [
    ('bare', 'bare'),
    ('', ''),
    ('"', '"'),
    ('""', ''),
    ("'single'", "'single'"),  # only env_value's double quotes are undone
    ('"a\\qb"', 'aqb'),
    ('"ends\\"', 'ends\\'),
])
def test_env_unquote_edges(text, expected):
    assert env_unquote(text) == expected


def test_render_env_writes_header_and_lines():
    text = render_env([('IMAGE', 'ghcr.io/o/app:v2'), ('DB_PASSWORD', 'p"w$x'), ('EMPTY', '')],
                      header=['Release v2.', 'Mode 0600'], secret_keys={'DB_PASSWORD'})
    assert text == ('# Release v2.\n# Mode 0600\nIMAGE="ghcr.io/o/app:v2"\nDB_PASSWORD="p\\"w\\$x"\nEMPTY=""\n')


def test_render_env_masks_only_secret_keys():
    entries = [('IMAGE', 'app:v2'), ('DB_PASSWORD', 'hunter2'), ('API_TOKEN', 'tok'), ('LOG_LEVEL', 'debug')]
    text = render_env(entries, secret_keys={'DB_PASSWORD', 'API_TOKEN', 'NOT_SET'}, masked=True)
    assert text.splitlines() == ['IMAGE="app:v2"', 'DB_PASSWORD="%s"' % MASK, 'API_TOKEN="%s"' % MASK,
                                 'LOG_LEVEL="debug"']
    assert 'hunter2' not in text and 'tok"' not in text
    # Unmasked, the same call writes the secrets.
    assert 'DB_PASSWORD="hunter2"' in render_env(entries, secret_keys={'DB_PASSWORD'})


@pytest.mark.parametrize('key', ['1ABC', 'A-B', 'A B', 'A.B', '', None, 'ÄBC', 'A=B', 'A\nB'])
def test_render_env_refuses_bad_keys(key):
    with pytest.raises(ComposeError, match='is not a valid .env variable name'):
        render_env([('OK', '1'), (key, 'x')])


def test_render_env_refuses_duplicates():
    with pytest.raises(ComposeError, match='^.env variable DB_PASSWORD is set twice$'):
        render_env([('DB_PASSWORD', 'a'), ('IMAGE', 'b'), ('DB_PASSWORD', 'a')])


@pytest.mark.parametrize('header', ['Managed by Ansible\nEVIL=1', 'first\r\nEVIL=1'])
def test_render_env_header_stays_comments(header):
    # A header with a line break must not put an uncommented line into .env (refusing it is fine too).
    try:
        text = render_env([('A', '1')], header=[header])
    except ComposeError:
        return
    assert [line for line in text.splitlines() if not line.startswith('#')] == ['A="1"']


def test_render_env_of_nothing():
    assert render_env([]) == '\n'
    assert render_env([('_X1', 'y')]) == '_X1="y"\n'


def test_checksum():
    assert checksum('a', 'b') == checksum('a', 'b')
    assert checksum('ab', 'c') != checksum('a', 'bc')  # parts are delimited
    assert checksum('compose', 'env') != checksum('env', 'compose')
    assert re.match('^[0-9a-f]{40}$', checksum())


# --- the plan ---------------------------------------------------------------------------------

def container(service, config_hash, state='running', cid=None):
    return {'id': cid or '%s-%s' % (service, config_hash), 'service': service, 'hash': config_hash, 'state': state,
            'name': 'aishield-%s-1' % service}


def test_plan():
    new_hashes = {'api': ['h-deps', 'h-nodeps'], 'db': ['d1'], 'worker': ['w1'], 'web': ['x1'], 'redis': ['r1']}
    containers = [
        container('api', 'h-nodeps'),                  # started with --no-deps: the same config
        container('db', 'd0'),                         # changed
        container('worker', 'w1', state='exited'),     # not running: started
        container('web', 'x1'), container('web', 'x0', cid='web-old'),  # half rolled: recreated
        container('redis', 'r1'), container('redis', 'r1', cid='redis-2'),
        container('legacy', 'l0'),                     # no longer defined: orphan
        container('gone', 'g0', state='exited'),       # not running: not an orphan
    ]
    assert plan(new_hashes, containers) == {'recreate': ['db', 'web', 'worker'], 'keep': ['api', 'redis'],
                                            'orphans': ['legacy']}


@pytest.mark.parametrize('new_hashes, containers, expected', [
    ({}, [], {'recreate': [], 'keep': [], 'orphans': []}),
    ({'api': ['h1']}, [], {'recreate': ['api'], 'keep': [], 'orphans': []}),
    ({'api': ['h1']}, [container('api', 'h1')], {'recreate': [], 'keep': ['api'], 'orphans': []}),
    ({'api': ['h1']}, [container('api', None)], {'recreate': ['api'], 'keep': [], 'orphans': []}),
    ({'api': []}, [container('api', 'h1')], {'recreate': ['api'], 'keep': [], 'orphans': []}),
    ({}, [container('a', '1'), container('b', '2')], {'recreate': [], 'keep': [], 'orphans': ['a', 'b']}),
])
def test_plan_cases(new_hashes, containers, expected):
    assert plan(new_hashes, containers) == expected


# --- health -----------------------------------------------------------------------------------

@pytest.mark.parametrize('config, argv', [
    ({'Healthcheck': {'Test': ['CMD', 'pg_isready', '-U', 'app']}}, ['pg_isready', '-U', 'app']),
    ({'Healthcheck': {'Test': ['CMD-SHELL', 'curl -fs http://localhost/ || exit 1']}},
     ['/bin/sh', '-c', 'curl -fs http://localhost/ || exit 1']),
    ({'Healthcheck': {'Test': ['NONE']}}, None),
    ({'Healthcheck': {'Test': []}}, None),
    ({'Healthcheck': None}, None),
    ({}, None),
    (None, None),
    ({'Healthcheck': {'Test': ['SOMETHING', 'x']}}, None),
])
def test_healthcheck_argv(config, argv):
    assert healthcheck_argv(config) == argv


class Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def running(health=None, **extra):
    state = {'Status': 'running', 'Running': True, 'Restarting': False, 'ExitCode': 0}
    if health:
        state['Health'] = {'Status': health}
    state.update(extra)
    return state


RESTARTING = 'restarting'
HEALTHCHECK = {'Healthcheck': {'Test': ['CMD-SHELL', 'curl -fs localhost:8000/health'], 'Timeout': 3000000000}}


class HealthApi:
    """inspect() answers each state in turn (the last one repeats); exec_status() each result in turn,
    where RESTARTING raises the daemon's error."""

    def __init__(self, states, config=None, exec_results=()):
        self.states = list(states)
        self.config = HEALTHCHECK if config is None else config
        self.exec_results = list(exec_results)
        self.inspected = 0
        self.execs = []

    def inspect(self, cid):
        state = self.states[min(self.inspected, len(self.states) - 1)]
        self.inspected += 1
        return {'Id': cid, 'Config': self.config, 'State': state}

    def exec_status(self, cid, argv, timeout=10.0):
        self.execs.append((cid, argv, timeout))
        result = self.exec_results.pop(0) if self.exec_results else 1
        if result == RESTARTING:
            raise DockerApiError('container is restarting', 409)
        return result


def wait(api, clock, timeout=10):
    return wait_healthy(api, 'c1', timeout, interval=0.25, clock=clock, sleep=clock.sleep)


def test_wait_healthy_by_docker_status():
    api, clock = HealthApi([running('healthy')]), Clock()
    assert wait(api, clock) == ''
    assert api.execs == [] and clock.sleeps == []


def test_wait_healthy_by_own_healthcheck_command():
    api, clock = HealthApi([running('starting')], exec_results=[1, None, 0]), Clock()
    assert wait(api, clock) == ''
    assert [argv for _cid, argv, _t in api.execs] == [['/bin/sh', '-c', 'curl -fs localhost:8000/health']] * 3
    assert [t for _cid, _argv, t in api.execs] == [3.0, 3.0, 3.0]  # the healthcheck's own Timeout
    assert clock.sleeps == [0.25, 0.25]


def test_wait_healthy_exec_error_is_retried():
    api = HealthApi([running('starting'), running('starting')],
                    exec_results=[RESTARTING, 0])
    assert wait(api, Clock()) == ''
    assert len(api.execs) == 2


@pytest.mark.parametrize('config', [{}, {'Healthcheck': {'Test': ['NONE']}}, {'Healthcheck': None}])
def test_wait_healthy_without_healthcheck_counts_once_running(config):
    api, clock = HealthApi([running()], config=config), Clock()
    assert wait(api, clock) == ''
    assert api.execs == []


def test_wait_healthy_waits_for_a_created_container_to_run():
    api, clock = HealthApi([{'Status': 'created', 'Running': False}, {'Status': 'created', 'Running': False},
                            running()], config={}), Clock()
    assert wait(api, clock) == ''
    assert clock.sleeps == [0.25, 0.25]
    assert api.inspected == 3


@pytest.mark.parametrize('state, message', [
    ({'Status': 'exited', 'Running': False, 'ExitCode': 3}, 'it stopped (exit code 3)'),
    ({'Status': 'dead', 'Running': False, 'ExitCode': 137}, 'it stopped (exit code 137)'),
    ({'Status': 'restarting', 'Running': True, 'Restarting': True, 'ExitCode': 1}, 'it stopped (exit code 1)'),
])
def test_wait_healthy_stopped_container(state, message):
    api, clock = HealthApi([state]), Clock()
    assert wait(api, clock) == message
    assert api.execs == []


def test_wait_healthy_container_that_stops_while_waited_for():
    api = HealthApi([running('starting'), {'Status': 'exited', 'Running': False, 'ExitCode': 2}])
    assert wait(api, Clock()) == 'it stopped (exit code 2)'
    assert len(api.execs) == 1


def test_wait_healthy_unhealthy():
    api = HealthApi([running('starting'), running('unhealthy')], exec_results=[1, 0])
    assert wait(api, Clock()) == 'Docker marked it unhealthy'
    assert len(api.execs) == 1  # Docker's verdict wins over a later probe


def test_wait_healthy_timeout():
    api, clock = HealthApi([running('starting')], config={'Healthcheck': {'Test': ['CMD', 'false']}}), Clock()
    assert wait(api, clock, timeout=1) == 'not healthy within 1 s'
    assert clock.now == 101.0
    assert clock.sleeps == [0.25] * 4
    # Without a healthcheck Timeout a probe gets 5 s, never more than the time left, never under 0.5 s.
    assert [t for _cid, _argv, t in api.execs] == [1.0, 0.75, 0.5, 0.5, 0.5]


def test_wait_healthy_timeout_while_not_running():
    api, clock = HealthApi([{'Status': 'created', 'Running': False}]), Clock()
    assert wait(api, clock, timeout=2) == 'not healthy within 2 s'
    assert clock.now == 102.0 and api.execs == []


# --- the compose CLI wrapper --------------------------------------------------------------------

@pytest.mark.parametrize('project', ['', 'Aishield', '-x', 'a b', 'a.b', 'a' * 64, None])
def test_compose_refuses_bad_project_names(project):
    with pytest.raises(ComposeError, match='must be lowercase letters, digits'):
        Compose(project, '/tmp')


def test_compose_argv():
    assert Compose('aishield_2-x', '/opt/r').argv('up', '--detach') == [
        'docker', 'compose', '--project-name', 'aishield_2-x', '--project-directory', '/opt/r', 'up', '--detach']


def test_compose_env_scrubs_compose_variables():
    assert compose_env({'PATH': '/bin', 'COMPOSE_FILE': 'x.yml', 'COMPOSE_PROJECT_NAME': 'other', 'HOME': '/r',
                        'MY_COMPOSE_X': '1'}) == {'PATH': '/bin', 'HOME': '/r', 'MY_COMPOSE_X': '1'}


def test_compose_files(tmp_path):
    compose = Compose('aishield', str(tmp_path))
    assert compose.files() == ['compose.yml']
    (tmp_path / '.env').write_text(render_env([('IMAGE', 'x'), ('COMPOSE_FILE', 'compose.yml:compose.prod.yml')]))
    assert compose.files() == ['compose.yml', 'compose.prod.yml']
    (tmp_path / '.env').write_text('IMAGE=x\n')
    assert compose.files() == ['compose.yml']


class Completed:
    def __init__(self, returncode=0, stdout='', stderr=''):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_compose_run_passes_a_scrubbed_environment(monkeypatch, tmp_path):
    seen = {}

    def fake_run(argv, **kwargs):
        seen.update(kwargs, argv=argv)
        return Completed(stdout='ok')

    monkeypatch.setenv('COMPOSE_PROJECT_NAME', 'hijack')
    monkeypatch.setattr(_compose.subprocess, 'run', fake_run)
    proc = Compose('aishield', str(tmp_path), timeout=42).run('ps', stdin='in', env={'COMPOSE_FILE': 'a.yml'})
    assert proc.stdout == 'ok'
    assert seen['argv'][-1] == 'ps'
    assert (seen['cwd'], seen['input'], seen['timeout'], seen['check']) == (str(tmp_path), 'in', 42, False)
    assert 'COMPOSE_PROJECT_NAME' not in seen['env'] and seen['env']['COMPOSE_FILE'] == 'a.yml'


def test_compose_run_failure_names_the_command_and_output_tail(monkeypatch):
    stderr = '\n'.join('line %d' % n for n in range(10)) + '\n\n'
    monkeypatch.setattr(_compose.subprocess, 'run', lambda argv, **kw: Completed(1, '', stderr))
    compose = Compose('aishield', '/tmp')
    with pytest.raises(ComposeError) as caught:
        compose.run('up', '--detach', '--no-deps', '--wait', 'api')
    assert str(caught.value) == ('docker compose up --detach --no-deps --wait failed (exit 1): '
                                 'line 4 | line 5 | line 6 | line 7 | line 8 | line 9')
    assert compose.run('up', check=False).returncode == 1


@pytest.mark.parametrize('error, message', [
    (subprocess.TimeoutExpired(['docker'], 5), 'docker compose config --hash api did not finish within 5 s'),
    (FileNotFoundError(2, 'No such file or directory'), 'cannot run docker compose: '),
])
def test_compose_run_cannot_run(monkeypatch, error, message):
    def fake_run(argv, **kwargs):
        raise error

    monkeypatch.setattr(_compose.subprocess, 'run', fake_run)
    with pytest.raises(ComposeError, match=re.escape(message)):
        Compose('aishield', '/tmp').run('config', '--hash', 'api', timeout=5)


def test_compose_up_arguments(monkeypatch):
    calls = []
    compose = Compose('aishield', '/tmp', timeout=600)
    monkeypatch.setattr(compose, 'run', lambda *args, **kw: calls.append((args, kw)))
    compose.up(['api'], scale={'api': 2, 'b': 1}, no_recreate=True, wait_timeout=30)
    compose.up(['db', 'redis'], deps=True, remove_orphans=True)
    assert calls == [
        (('up', '--detach', '--no-deps', '--no-recreate', '--scale', 'api=2', '--scale', 'b=1', '--wait',
          '--wait-timeout', '30', 'api'), {'timeout': 630}),
        (('up', '--detach', '--remove-orphans', 'db', 'redis'), {'timeout': 600}),
    ]


def test_config_hashes_counts_the_no_deps_hash_too(monkeypatch, tmp_path):
    overrides = []

    def fake_run(*args, **kwargs):
        files = (kwargs.get('env') or {}).get('COMPOSE_FILE')
        if files:  # the run with the override that drops depends_on
            override = files.split(':')[-1]
            overrides.append((files, open(override).read()))
            return Completed(stdout='api h-nodeps\nworker w1\n')
        assert args == ('config', '--hash', '*')
        return Completed(stdout='api h-deps\nworker w1\nnoise\n')

    compose = Compose('aishield', str(tmp_path))
    monkeypatch.setattr(compose, 'run', fake_run)
    assert compose.config_hashes() == {'api': ['h-deps', 'h-nodeps'], 'worker': ['w1']}
    files, text = overrides[0]
    assert files.startswith('compose.yml:')
    assert text == 'services:\n  api:\n    depends_on: !reset []\n  worker:\n    depends_on: !reset []\n'
    assert not os.path.exists(files.split(':')[-1])  # the override is removed


def test_a_switch_refuses_services_the_files_do_not_define():
    engine = Engine('aishield')
    compose = FakeCompose(engine, {'api': 'h1'})
    with pytest.raises(ComposeError, match='^the compose files define no service wrker$'):
        Switch(engine, compose, ['api', 'wrker']).plan()


# --- switching ----------------------------------------------------------------------------------

class Engine:
    """Fake daemon: the project's containers; every one is healthy unless its service is in `unhealthy`."""

    def __init__(self, project='aishield'):
        self.project = project
        self.boxes = {}
        self.actions = []
        self.unhealthy = set()
        self.lock = threading.RLock()
        self._serial = 0

    def add(self, service, config_hash):
        with self.lock:
            self._serial += 1
            cid = '%s-%d' % (service, self._serial)
            self.boxes[cid] = {'service': service, 'hash': config_hash, 'state': 'running'}
            return cid

    def of(self, service, state='running'):
        return sorted(cid for cid, box in self.boxes.items() if box['service'] == service and box['state'] == state)

    def containers(self, labels, all_states=False):
        assert labels[LABEL_PROJECT] == self.project
        with self.lock:
            return [{'Id': cid, 'State': box['state'], 'Names': ['/' + cid],
                     'Labels': {LABEL_PROJECT: self.project, LABEL_SERVICE: box['service'], LABEL_HASH: box['hash']}}
                    for cid, box in sorted(self.boxes.items()) if all_states or box['state'] == 'running']

    def inspect(self, cid):
        box = self.boxes[cid]
        health = 'unhealthy' if box['service'] in self.unhealthy else 'healthy'
        return {'Config': {'Healthcheck': {'Test': ['CMD', 'true']}},
                'State': {'Status': box['state'], 'Running': box['state'] == 'running', 'Health': {'Status': health}}}

    def stop(self, cid, timeout=None):
        with self.lock:
            if cid not in self.boxes:
                raise DockerApiError('No such container: %s' % cid, 404)
            self.actions.append(('stop', cid))
            self.boxes[cid]['state'] = 'exited'

    def remove(self, cid, force=False):
        with self.lock:
            if cid in self.boxes:  # like DockerApi.remove, a 404 is fine
                self.actions.append(('remove', cid, force))
                del self.boxes[cid]


class FakeCompose:
    """Compose as the switch sees it: `up` converges services (all of them when none is named) on `hashes`."""

    def __init__(self, engine, hashes):
        self.engine = engine
        self.project = engine.project
        self.hashes = hashes
        self.ups = []

    def config_hashes(self):
        return dict((s, [h]) for s, h in self.hashes.items())

    def up(self, services, deps=False, wait_timeout=None, remove_orphans=False, scale=None, no_recreate=False):
        engine = self.engine
        with engine.lock:
            touched = list(services) or sorted(self.hashes)
            engine.actions.append(('up', tuple(touched), dict(scale or {}), no_recreate))
            self.ups.append({'services': list(services), 'touched': touched, 'scale': dict(scale or {}),
                             'remove_orphans': remove_orphans})
            if remove_orphans:
                for cid, box in list(engine.boxes.items()):
                    if box['service'] not in self.hashes:
                        engine.remove(cid, force=True)
            for service in touched:
                mine = [cid for cid, box in engine.boxes.items() if box['service'] == service]
                if scale and service in scale:
                    for _n in range(scale[service] - len(mine)):
                        engine.add(service, self.hashes[service])
                    continue
                stale = [cid for cid in mine if engine.boxes[cid]['hash'] != self.hashes[service]]
                if not no_recreate:
                    for cid in stale:
                        engine.remove(cid, force=True)
                # Compose also scales a service back to one container.
                for cid in [c for c in mine if c in engine.boxes][1:]:
                    engine.remove(cid, force=True)
                if not any(box['service'] == service for box in engine.boxes.values()):
                    engine.add(service, self.hashes[service])


HASHES = {'db': 'd1', 'api': 'a1', 'worker': 'w1', 'web': 'x1'}


def stack(extra=()):
    engine = Engine()
    old = {'db': engine.add('db', 'd0'), 'api': engine.add('api', 'a0'), 'worker': engine.add('worker', 'w0'),
           'web': engine.add('web', 'x1')}
    for service in extra:
        old[service] = engine.add(service, 'o0')
    return engine, FakeCompose(engine, HASHES), old


def switch(engine, compose, **kwargs):
    kwargs.setdefault('drain_delay', 0)
    return Switch(engine, compose, ['db', 'api', 'worker', 'web'], roll=['api'], workers=['worker'], data=['db'],
                  wait_timeout=5, **kwargs)


def running_hashes(engine):
    return sorted((box['service'], box['hash']) for box in engine.boxes.values() if box['state'] == 'running')


def test_rolling_switch_rolls_start_first():
    engine, compose, old = stack()
    engine_switch = switch(engine, compose)
    assert engine_switch.run('rolling') == {'recreate': ['api', 'db', 'worker'], 'keep': ['web'], 'orphans': []}
    assert running_hashes(engine) == [('api', 'a1'), ('db', 'd1'), ('web', 'x1'), ('worker', 'w1')]
    assert compose.ups[0]['services'] == ['db']  # data services first, before any roll
    for service in ('api', 'worker'):
        up = engine.actions.index(('up', (service,), {service: 2}, True))
        # The new container came up beside the old one, which was then stopped gracefully and removed.
        assert engine.actions.index(('stop', old[service])) > up
        assert engine.actions.index(('remove', old[service], False)) > engine.actions.index(('stop', old[service]))
    assert old['web'] in engine.boxes  # unchanged: untouched
    assert engine_switch.events[0] == 'started db'
    assert sorted(e.split(':')[0] for e in engine_switch.events[1:]) == ['rolled api', 'rolled worker']


def test_rolling_switch_removes_orphans_without_touching_rolled_services():
    # A service dropped from the release leaves an orphan; its removal must not recreate or rescale
    # the services being rolled side by side (compose `up` with no service names means all of them).
    engine, compose, old = stack(extra=['legacy'])
    try:
        the_plan, failed = switch(engine, compose).run('rolling'), ''
    except ComposeError as exc:  # a roll may lose the race against such an `up`: checked below
        the_plan, failed = None, str(exc)
    for up in compose.ups:
        rolled = [s for s in ('api', 'worker') if s in up['touched'] and s not in up['scale']]
        assert rolled == [], 'compose up %s also converges %s, which is being rolled' % (up['services'] or '(all)', rolled)
    assert failed == ''
    assert the_plan['orphans'] == ['legacy']
    assert 'legacy' not in [box['service'] for box in engine.boxes.values()]
    for service in ('api', 'worker'):
        assert ('stop', old[service]) in engine.actions  # the old containers were stopped gracefully, not force-removed


def test_rolling_switch_keeps_the_old_container_when_the_new_one_fails(monkeypatch):
    monkeypatch.setattr(_compose, 'container_logs', lambda cid, lines=15: 'Traceback: ImportError')
    engine, compose, old = stack()
    engine.unhealthy.add('api')
    with pytest.raises(ComposeError) as caught:
        switch(engine, compose).run('rolling')
    assert ('The new api Docker marked it unhealthy (compose_deploy_wait_timeout=5 s); it was removed and the previous '
            'api still serves. Its last log lines: Traceback: ImportError') in str(caught.value)
    assert engine.of('api') == [old['api']]
    assert ('stop', old['api']) not in engine.actions


def test_recreate_switch(monkeypatch):
    engine, compose, old = stack()
    engine_switch = switch(engine, compose, all_services=False)
    assert engine_switch.run('recreate')['recreate'] == ['api', 'db', 'worker']
    assert compose.ups == [{'services': ['db', 'api', 'worker', 'web'], 'touched': ['db', 'api', 'worker', 'web'],
                            'scale': {}, 'remove_orphans': True}]
    assert running_hashes(engine) == [('api', 'a1'), ('db', 'd1'), ('web', 'x1'), ('worker', 'w1')]
    assert engine_switch.events == ['recreated api, db, worker']


@pytest.mark.parametrize('strategy', ['rolling', 'recreate'])
def test_switch_with_nothing_changed_does_nothing(strategy):
    engine = Engine()
    for service, config_hash in HASHES.items():
        engine.add(service, config_hash)
    compose = FakeCompose(engine, HASHES)
    engine_switch = switch(engine, compose)
    assert engine_switch.run(strategy) == {'recreate': [], 'keep': ['api', 'db', 'web', 'worker'], 'orphans': []}
    assert compose.ups == [] and engine.actions == [] and engine_switch.events == []
