# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Compose projects: render a release's .env, plan which services change, and switch to a release.

The `docker compose` CLI does what only it can do (interpolate, create, scale); the Engine API
(module_utils/_docker_api.py) does the fast reads, the health waits and the graceful stops.

Switch strategies:
  rolling   each service in `roll` gets a new container beside the old one; once the new one is
            healthy and `drain_delay` has passed (the proxy re-resolves names every second), the
            old one is stopped with its own grace period (SIGTERM: uvicorn finishes its requests,
            Celery its running task) and removed. Data services that changed go first; the rest
            are recreated by compose. The rolls and the rest run side by side.
  recreate  compose recreates what changed and every service is waited for (the runbook's way,
            without `down` and the blind sleep).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time

from ansible_collections.aishield.ops.plugins.module_utils import _release as rel
from ansible_collections.aishield.ops.plugins.module_utils._docker_api import DockerApi, DockerApiError

ENV_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
PROJECT_RE = re.compile(r'^[a-z0-9][a-z0-9_-]{0,62}$')
SERVICE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
LABEL_PROJECT = 'com.docker.compose.project'
LABEL_SERVICE = 'com.docker.compose.service'
LABEL_HASH = 'com.docker.compose.config-hash'
LABEL_ONEOFF = 'com.docker.compose.oneoff'
MASK = '********'
# Compose reads these from the environment before .env: scrubbed so the release's files rule.
_SCRUB_PREFIXES = ('COMPOSE_',)


class ComposeError(Exception):
    """A compose step failed; the message says which and why."""


# --- .env -------------------------------------------------------------------------------------

def env_value(key, value):
    """A value in Compose's double-quoted .env syntax, exact for any text (NUL is refused).

    Inside double quotes Compose expands ${VAR} and backslash escapes, so backslash, quote,
    dollar and the line breaks are escaped; everything else is taken literally.
    """
    text = value if isinstance(value, str) else ('true' if value is True else 'false' if value is False else str(value))
    if '\x00' in text:
        raise ComposeError('the .env value of %s holds a NUL byte, which no environment variable can carry' % key)
    for char, escaped in (('\\', '\\\\'), ('"', '\\"'), ('$', '\\$'), ('\n', '\\n'), ('\r', '\\r'), ('\t', '\\t')):
        text = text.replace(char, escaped)
    return '"%s"' % text


def render_env(entries, header=(), secret_keys=(), masked=False):
    """The .env text for [(key, value)]; with masked=True the secret keys' values are hidden."""
    # Every line of the header stays a comment, whatever it holds.
    lines = ['# %s' % part for line in header for part in str(line).splitlines() or ['']]
    seen = set()
    for key, value in entries:
        if not ENV_KEY_RE.match(key or ''):
            raise ComposeError('%r is not a valid .env variable name (letters, digits and _, not starting with a digit)' % key)
        if key in seen:
            raise ComposeError('.env variable %s is set twice' % key)
        seen.add(key)
        shown = MASK if masked and key in secret_keys else value
        lines.append('%s=%s' % (key, env_value(key, shown)))
    return '\n'.join(lines) + '\n'


def env_unquote(text):
    """A value as env_value wrote it, back to its text (bare values are returned as they are)."""
    if len(text) < 2 or not (text[0] == text[-1] == '"'):
        return text
    out, index, body = [], 0, text[1:-1]
    escapes = {'n': '\n', 'r': '\r', 't': '\t'}
    while index < len(body):
        char = body[index]
        if char == '\\' and index + 1 < len(body):
            index += 1
            char = escapes.get(body[index], body[index])
        out.append(char)
        index += 1
    return ''.join(out)


def checksum(*texts):
    digest = hashlib.sha1()
    for text in texts:
        digest.update(text.encode('utf-8'))
        digest.update(b'\x00')
    return digest.hexdigest()


# --- the compose CLI ------------------------------------------------------------------------------

def compose_env(base=None):
    env = dict(base if base is not None else os.environ)
    for key in list(env):
        if key.startswith(_SCRUB_PREFIXES):
            del env[key]
    return env


class Compose:
    """`docker compose` for one project, run in a release directory (its compose files and .env)."""

    def __init__(self, project, directory, timeout=600):
        if not PROJECT_RE.match(project or ''):
            raise ComposeError('project name %r must be lowercase letters, digits, "_" or "-" (starting with a letter '
                               'or digit), as Compose requires' % project)
        self.project = project
        self.directory = directory
        self.timeout = timeout

    def argv(self, *args):
        return ['docker', 'compose', '--project-name', self.project, '--project-directory', self.directory] + list(args)

    def run(self, *args, stdin=None, timeout=None, check=True, env=None):
        try:
            proc = subprocess.run(self.argv(*args), cwd=self.directory, env=dict(compose_env(), **(env or {})), input=stdin,
                                  capture_output=True, text=True, timeout=timeout or self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ComposeError('docker compose %s did not finish within %s s' % (' '.join(args[:3]), timeout or self.timeout))
        except OSError as exc:
            raise ComposeError('cannot run docker compose: %s (is the Compose v2 plugin installed?)' % exc)
        if check and proc.returncode != 0:
            raise ComposeError('docker compose %s failed (exit %d): %s'
                               % (' '.join(args[:4]), proc.returncode, _tail(proc.stderr or proc.stdout)))
        return proc

    def files(self):
        """The release's compose files: COMPOSE_FILE from its .env, else compose.yml."""
        path = os.path.join(self.directory, '.env')
        if os.path.exists(path):
            with open(path) as handle:
                for line in handle:
                    if line.startswith('COMPOSE_FILE='):
                        return env_unquote(line.split('=', 1)[1].strip()).split(':')
        return ['compose.yml']

    def _hashes(self, env=None):
        out = self.run('config', '--hash', '*', env=env).stdout
        return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)

    def config_hashes(self):
        """{service: the config hashes Compose labels its containers with}, for every service of the files.

        A container started with --no-deps (a roll, a fleet host) carries the hash of the service
        without its depends_on, so both count: the same config is never taken for a change.
        """
        with_deps = self._hashes()
        text = 'services:\n' + ''.join('  %s:\n    depends_on: !reset []\n' % name for name in sorted(with_deps))
        handle, override = tempfile.mkstemp(prefix='aishield-no-deps-', suffix='.yml')
        try:
            with os.fdopen(handle, 'w') as out:
                out.write(text)
            without = self._hashes(env={'COMPOSE_FILE': ':'.join(self.files() + [override])})
        finally:
            os.unlink(override)
        return dict((s, sorted(set([h, without.get(s, h)]))) for s, h in with_deps.items())

    def up(self, services, deps=False, wait_timeout=None, remove_orphans=False, scale=None, no_recreate=False):
        args = ['up', '--detach']
        if not deps:
            args.append('--no-deps')
        if remove_orphans:
            args.append('--remove-orphans')
        if no_recreate:
            args.append('--no-recreate')
        for service, count in sorted((scale or {}).items()):
            args += ['--scale', '%s=%d' % (service, count)]
        if wait_timeout:
            args += ['--wait', '--wait-timeout', str(int(wait_timeout))]
        return self.run(*(args + list(services)), timeout=(wait_timeout or 0) + self.timeout)


def _tail(text, lines=6, limit=600):
    kept = [line for line in (text or '').strip().splitlines() if line.strip()][-lines:]
    return ' | '.join(kept)[-limit:] or 'no output'


# --- what runs, and what would change -------------------------------------------------------------

def project_containers(api, project):
    """The project's service containers (one-off `compose run` containers excluded)."""
    found = []
    for summary in api.containers({LABEL_PROJECT: project, LABEL_ONEOFF: 'False'}, all_states=True):
        labels = summary.get('Labels') or {}
        found.append({'id': summary['Id'], 'service': labels.get(LABEL_SERVICE), 'hash': labels.get(LABEL_HASH),
                      'state': summary.get('State'), 'name': (summary.get('Names') or ['?'])[0].lstrip('/')})
    return found


def plan(new_hashes, containers, services=None):
    """Which services a switch recreates: compose's rule, a container whose config hash label differs.

    new_hashes: {service: acceptable hashes} for every service the files define; services: the ones
    this host runs (default all). Returns {recreate, keep, orphans}: a service without a running
    container counts as recreated (it gets started); orphans are running services the files no
    longer define (what `compose up --remove-orphans` removes).
    """
    running = [c for c in containers if c['state'] == 'running']
    recreate, keep = [], []
    for service in sorted(new_hashes if services is None else services):
        hashes = set(c['hash'] for c in running if c['service'] == service)
        (keep if hashes and hashes <= set(new_hashes.get(service, ())) else recreate).append(service)
    orphans = sorted(set(c['service'] for c in running) - set(new_hashes))
    return {'recreate': recreate, 'keep': keep, 'orphans': orphans}


# --- health -----------------------------------------------------------------------------------------

def healthcheck_argv(config):
    """The container's own healthcheck command as an exec argv, or None when it has none."""
    test = ((config or {}).get('Healthcheck') or {}).get('Test') or []
    if not test or test[0] == 'NONE':
        return None
    if test[0] == 'CMD':
        return list(test[1:])
    if test[0] == 'CMD-SHELL':
        return ['/bin/sh', '-c', test[1]]
    return None


def wait_healthy(api, container, timeout, interval=0.25, clock=time.monotonic, sleep=time.sleep):
    """Wait until the container is healthy; return '' or why it is not.

    Docker runs a healthcheck only every `interval` of the compose file (2 s here): waiting for
    its verdict would add up to that much to every switch. So the container's own healthcheck
    command is also run here every 0.25 s; its first success is what Docker would call healthy.
    A container without a healthcheck counts once it runs.
    """
    end = clock() + timeout
    data = api.inspect(container)
    argv = healthcheck_argv(data.get('Config'))
    probe_timeout = max(1.0, ((data.get('Config') or {}).get('Healthcheck') or {}).get('Timeout', 0) / 1e9 or 5.0)
    while True:
        state = data.get('State') or {}
        if state.get('Restarting') or state.get('Status') in ('exited', 'dead'):
            return 'it stopped (exit code %s)' % state.get('ExitCode')
        health = (state.get('Health') or {}).get('Status')
        if state.get('Running'):
            if argv is None or health == 'healthy':
                return ''
            if health == 'unhealthy':
                return 'Docker marked it unhealthy'
            try:
                if api.exec_status(container, argv, timeout=min(probe_timeout, max(end - clock(), 0.5))) == 0:
                    return ''
            except DockerApiError:
                pass  # the container may be restarting; the next inspect says
        if clock() >= end:
            return 'not healthy within %d s' % timeout
        sleep(interval)
        data = api.inspect(container)


def container_logs(container, lines=15):
    proc = subprocess.run(['docker', 'logs', '--tail', str(lines), container], capture_output=True, text=True,
                          timeout=60, check=False)
    return _tail(proc.stdout + proc.stderr, lines=lines, limit=1200)


def wait_services(api, project, services, timeout):
    """Wait for every running container of the services; raise naming each one that is not healthy."""
    running = [c for c in project_containers(api, project) if c['service'] in services and c['state'] == 'running']
    problems = []
    for service in services:
        mine = [c for c in running if c['service'] == service]
        if not mine:
            problems.append('%s has no running container.' % service)
        for container in mine:
            why = wait_healthy(api, container['id'], timeout)
            if why:
                problems.append('%s: %s; its last log lines: %s.' % (service, why, container_logs(container['id'])))
    if problems:
        raise ComposeError('Services did not become healthy within compose_deploy_wait_timeout=%d s: %s'
                           % (timeout, ' '.join(problems)))


def start_services(api, compose, services, timeout, deps=False, remove_orphans=False):
    """`compose up` the services (compose recreates what changed), then wait until each is healthy."""
    compose.up(services, deps=deps, remove_orphans=remove_orphans)
    if services:
        wait_services(api, compose.project, services, timeout)


# --- switching ------------------------------------------------------------------------------------

class Switch:
    """Bring a release's services up with a strategy; `events` collects what happened, in order."""

    def __init__(self, api, compose, services, roll=(), workers=(), data=(), wait_timeout=180, drain_delay=1.0,
                 all_services=True):
        self.api = api
        self.compose = compose
        self.services = list(services)
        # Both roll start-first; only the services behind a proxy wait for it to learn the new address.
        self.roll = [s for s in roll if s in self.services]
        self.workers = [s for s in workers if s in self.services and s not in self.roll]
        self.data = [s for s in data if s in self.services]
        self.wait_timeout = wait_timeout
        self.drain_delay = drain_delay
        # A fleet's app host runs no db of its own: dependencies start only when every service runs here.
        self.all_services = all_services
        self.events = []
        self._lock = threading.Lock()

    def note(self, text):
        with self._lock:
            self.events.append(text)

    def current(self):
        return project_containers(self.api, self.compose.project)

    def plan(self):
        hashes = self.compose.config_hashes()
        missing = [s for s in self.services if s not in hashes]
        if missing:
            raise ComposeError('the compose files define no service %s' % ', '.join(missing))
        return plan(hashes, self.current(), self.services)

    def run(self, strategy):
        """Switch; return the plan it acted on. Raises ComposeError naming the service that failed."""
        the_plan = self.plan()
        if strategy == 'recreate':
            self._recreate(the_plan)
        else:
            self._rolling(the_plan)
        return the_plan

    def _recreate(self, the_plan):
        if not the_plan['recreate'] and not the_plan['orphans']:
            return
        start_services(self.api, self.compose, self.services, self.wait_timeout, deps=self.all_services, remove_orphans=True)
        self.note('recreated %s' % (', '.join(the_plan['recreate']) or 'nothing (orphans removed)'))

    def _rolling(self, the_plan):
        changed = the_plan['recreate']
        running = [c for c in self.current() if c['state'] == 'running']
        data = [s for s in changed if s in self.data]
        if data:
            start_services(self.api, self.compose, data, self.wait_timeout)
            self.note('started %s' % ', '.join(data))
        rolls = dict((s, [c['id'] for c in running if c['service'] == s]) for s in changed if s in self.roll + self.workers)
        rolls = dict((s, old) for s, old in rolls.items() if old)
        rest = [s for s in changed if s not in data and s not in rolls]
        errors = []
        threads = [threading.Thread(target=self._guard, args=(errors, self._roll, service, old))
                   for service, old in sorted(rolls.items())]
        if rest:
            threads.append(threading.Thread(target=self._guard, args=(errors, self._replace, rest)))
        if the_plan['orphans']:
            threads.append(threading.Thread(target=self._guard, args=(errors, self._remove_orphans, the_plan['orphans'])))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise ComposeError(' '.join(errors))

    @staticmethod
    def _guard(errors, func, *args):
        try:
            func(*args)
        except (ComposeError, DockerApiError) as exc:
            errors.append(str(exc))

    def _replace(self, services):
        began = time.monotonic()
        start_services(self.api, self.compose, services, self.wait_timeout)
        self.note('recreated %s, healthy after %.1f s' % (', '.join(services), time.monotonic() - began))

    def _remove_orphans(self, orphans):
        """Stop and remove the containers of services the release no longer defines (not with `up`:
        `compose up` without service names would touch every service, the rolled ones included)."""
        for container in self.current():
            if container['service'] in orphans:
                self.api.stop(container['id'])
                self.api.remove(container['id'])
        self.note('removed %s (no longer in the release)' % ', '.join(orphans))

    def _roll(self, service, old):
        began = time.monotonic()
        self.compose.up([service], scale={service: len(old) + 1}, no_recreate=True)
        new = [c['id'] for c in self.current() if c['service'] == service and c['id'] not in old]
        if not new:
            raise ComposeError('compose started no new %s container beside the old one' % service)
        problems = dict((cid, wait_healthy(self.api, cid, self.wait_timeout)) for cid in new)
        bad = dict((cid, why) for cid, why in problems.items() if why)
        if bad:
            logs = container_logs(sorted(bad)[0])
            for cid in new:
                self.api.remove(cid, force=True)
            raise ComposeError(
                'The new %s %s (compose_deploy_wait_timeout=%d s); it was removed and the previous %s still serves. '
                'Its last log lines: %s' % (service, '; '.join(sorted(set(bad.values()))), self.wait_timeout, service, logs))
        healthy = time.monotonic() - began
        # The proxy re-resolves the service's name every second: it must know the new address first.
        if service in self.roll:
            time.sleep(self.drain_delay)
        for cid in old:
            self.api.stop(cid)
            self.api.remove(cid)
        self.note('rolled %s: %d new healthy after %.1f s, %d old stopped gracefully, %.1f s in all'
                  % (service, len(new), healthy, len(old), time.monotonic() - began))


# --- the switch phase (modules release_switch and release_rollback) -----------------------------

class SwitchFailed(Exception):
    """The switch failed; `result` carries what is known (plan, events)."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


def switch_argument_spec():
    spec = rel.release_argument_spec()
    spec.update(
        release_id=dict(type='str', required=True),
        strategy=dict(type='str', choices=['rolling', 'recreate'], default='rolling'),
        services=dict(type='list', elements='str', required=True),
        roll=dict(type='list', elements='str', default=[]),
        workers=dict(type='list', elements='str', default=[]),
        data_services=dict(type='list', elements='str', default=[]),
        all_services=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=180),
        drain_delay=dict(type='float', default=1.0),
        reason=dict(type='str', default='deploy'),
        by=dict(type='str', default=''),
    )
    return spec


def switch_release(p, check_mode):
    """Switch the project to release p['release_id'], repoint current, audit; return the result dict."""
    result = {'started': time.time(), 'changed': False, 'events': []}
    root = rel.Root(p['root'])
    engine = None
    try:
        directory = root.release_dir(p['release_id'])
        if not os.path.isdir(directory):
            raise ComposeError('release %s has no directory under %s' % (p['release_id'], root.releases))
        try:
            record = rel.read_json(root.record_path(p['release_id']))
        except (OSError, ValueError) as exc:
            raise ComposeError('cannot read the record of release %s: %s' % (p['release_id'], exc))
        engine = Switch(DockerApi(p['docker_host']), Compose(p['project'], directory), p['services'], roll=p['roll'],
                        workers=p['workers'], data=p['data_services'], wait_timeout=p['wait_timeout'], drain_delay=p['drain_delay'],
                        all_services=p['all_services'])
        moved = rel.current_id(root) != p['release_id']
        if check_mode:
            result['plan'] = engine.plan()
        else:
            result['plan'] = engine.run(p['strategy'])
    except (ComposeError, DockerApiError, rel.ReleaseError) as exc:
        result.update(events=engine.events if engine else [], finished=time.time())
        raise SwitchFailed('Switch to %s failed: %s' % (p['release_id'], exc), result)
    result.update(changed=bool(moved or result['plan']['recreate'] or result['plan']['orphans']), events=engine.events,
                  version=record.get('version'))
    if not check_mode:
        rel.switch_current(root, p['release_id'])
        rel.append_audit(root, {'time': rel.iso(rel.utc_now()), 'by': p['by'], 'action': 'switch', 'reason': p['reason'],
                                'strategy': p['strategy'], 'release_id': p['release_id'], 'version': record.get('version'),
                                'recreated': result['plan']['recreate']})
    result['finished'] = time.time()
    return result
