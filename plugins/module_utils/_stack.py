# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The stack as data: a team's description of its Compose project, checked and turned into a plan.

A description names the compose files, and for each service the part it plays:

- ``web``: takes HTTP traffic behind the stack's proxy; rolled start-first and drained (zero downtime);
- ``worker``: rolled start-first, the old container stopped warm with its grace period;
- ``database``: the PostgreSQL service that backups, restores and migrations use (its user and db name);
- ``data``: holds other data (a cache, a queue); started first, never rolled;
- ``plain``: anything else (a proxy, a static frontend); recreated when its configuration changes.

A service may carry the migration (``migrate: true``, or ``migrate: {command: [...]}``) and may run another
service's image (``image: <key>``). ``env`` adds non-secret ``.env`` variables the compose files read,
``url_safe_secrets`` names the secrets that go into URLs, and ``fleet`` gives what a multi-host fleet's db host
adds: the compose files that publish its data services and the secrets those need. Every problem is reported at
once, each naming the variable and the fix.
"""

from __future__ import annotations

import re

ROLES = ('web', 'worker', 'database', 'data', 'plain')
SERVICE_KEYS = {'role', 'image', 'port', 'health_path', 'migrate', 'user', 'name'}
STACK_KEYS = {'compose_files', 'services', 'image_variables', 'smoke', 'env', 'url_safe_secrets', 'fleet'}
FLEET_KEYS = {'compose_files', 'required_secrets'}
CHECK_EXPECTATIONS = ('status', 'expect', 'json_checks', 'body_contains', 'max_latency_ms')
_ENV_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_SERVICE_NAME = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]*$')


def compose_services(documents):
    """Service names, in file order, of parsed compose documents (later files add or extend services)."""
    names = []
    for document in documents:
        services = (document or {}).get('services') if isinstance(document, dict) else None
        for name in services or {}:
            if name not in names:
                names.append(name)
    return names


def _is_list_of_str(value):
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def _is_list_of_names(value):
    """A list of .env variable names (secret names)."""
    return isinstance(value, list) and all(isinstance(item, str) and _ENV_NAME.match(item) for item in value)


def _check_smoke(smoke, var, errors):
    if smoke is None:
        return
    if not isinstance(smoke, dict):
        errors.append('%s.smoke must be a mapping (checks, login, command); got %r.' % (var, smoke))
        return
    checks = smoke.get('checks', [])
    if not isinstance(checks, list):
        errors.append('%s.smoke.checks must be a list of HTTP checks; got %r.' % (var, checks))
        checks = []
    names = []
    for index, check in enumerate(checks):
        where = '%s.smoke.checks[%d]' % (var, index)
        if not isinstance(check, dict) or not (check.get('url') or check.get('path')) or ('url' in check and 'path' in check):
            errors.append('%s needs a url (or a path on the stack\'s HTTP address); got %r.' % (where, check))
            continue
        name = check.get('name') or check.get('path') or check.get('url')
        if name in names:
            errors.append('%s: the name %r is used twice; give each check its own name.' % (where, name))
        names.append(name)
        if not any(key in check for key in CHECK_EXPECTATIONS):
            errors.append('%s (%s) has no expectation; give it at least one of %s.'
                          % (where, name, ', '.join(CHECK_EXPECTATIONS)))
    extra = sorted(set(smoke) - {'checks', 'login', 'command'})
    if extra:
        errors.append('%s.smoke has unknown keys %s; known: checks, login, command.' % (var, ', '.join(extra)))
    command = smoke.get('command')
    if command is not None:
        if not isinstance(command, dict) or not _is_list_of_str(command.get('argv')) or not command.get('argv'):
            errors.append('%s.smoke.command needs argv, the program and its arguments as a list (run without a shell), '
                          'and optionally service (run in its container) and timeout; got %r.' % (var, command))
        elif set(command) - {'argv', 'service', 'timeout'}:
            errors.append('%s.smoke.command has unknown keys %s; known: argv, service, timeout.'
                          % (var, ', '.join(sorted(set(command) - {'argv', 'service', 'timeout'}))))
    login = smoke.get('login')
    if login is not None and (not isinstance(login, dict) or not login.get('url')):
        errors.append('%s.smoke.login needs a url (and json or body, token_path); got %r.' % (var, login))


def build_plan(stack, compose_documents, images=None, host_services=None, fleet_role='', var='compose_deploy_stack',
               images_var='compose_deploy_images'):
    """Check a stack description against its compose files and images; return the plan with its ``errors``.

    ``compose_documents`` are the parsed compose files; ``host_services`` the services this host runs (empty: by
    ``fleet_role``: all, the data services on a fleet's ``db`` host, the others on an ``app`` host).
    """
    errors = []
    plan = {'services': [], 'host_services': [], 'roll': [], 'workers': [], 'data': [], 'plain': [], 'web': {},
            'database': None, 'migrate': None, 'image_of': {}, 'pins': {}, 'image_variables': {}, 'pull': [],
            'smoke': {}, 'env': {}, 'url_safe_secrets': [], 'fleet': {'compose_files': [], 'required_secrets': []},
            'errors': errors}
    if not isinstance(stack, dict):
        errors.append('%s must be a mapping with compose_files and services; got %r.' % (var, stack))
        return plan
    unknown = sorted(set(stack) - STACK_KEYS)
    if unknown:
        errors.append('%s has unknown keys %s; known: %s.' % (var, ', '.join(unknown), ', '.join(sorted(STACK_KEYS))))
    if not _is_list_of_str(stack.get('compose_files')):
        errors.append('%s.compose_files must list the compose files (paths on the controller); got %r.'
                      % (var, stack.get('compose_files')))
    defined = compose_services(compose_documents)
    services = stack.get('services')
    if not isinstance(services, dict) or not services:
        errors.append('%s.services must map each service of the compose files to its part (role: %s); got %r.'
                      % (var, '|'.join(ROLES), services))
        services = {}
    images = images if isinstance(images, dict) else {}

    # Every service of the compose files is deployed; those the description leaves out are plain.
    described = dict((name, spec if spec is not None else {}) for name, spec in services.items())
    for name in described:
        if name not in defined:
            errors.append('%s.services.%s: the compose files define no service %s (they define %s). Fix the name or '
                          'the files.' % (var, name, name, ', '.join(defined) or 'none'))
    migrators = []
    for name in defined:
        spec = described.get(name, {})
        where = '%s.services.%s' % (var, name)
        if not isinstance(spec, dict):
            errors.append('%s must be a mapping (role, image, port, health_path, migrate, user, name); got %r.' % (where, spec))
            continue
        extra = sorted(set(spec) - SERVICE_KEYS)
        if extra:
            errors.append('%s has unknown keys %s; known: %s.' % (where, ', '.join(extra), ', '.join(sorted(SERVICE_KEYS))))
        role = spec.get('role', 'plain')
        if role not in ROLES:
            errors.append('%s.role must be one of %s; got %r.' % (where, ', '.join(ROLES), role))
            role = 'plain'
        plan['services'].append(name)
        {'web': plan['roll'], 'worker': plan['workers'], 'database': plan['data'], 'data': plan['data'],
         'plain': plan['plain']}[role].append(name)
        if role == 'web':
            port = spec.get('port')
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                errors.append('%s.port must be the container port the proxy forwards to (1-65535); got %r.' % (where, port))
            path = spec.get('health_path', '/health')
            if not isinstance(path, str) or not path.startswith('/'):
                errors.append('%s.health_path must be a path starting with /; got %r.' % (where, path))
            plan['web'][name] = {'port': port, 'health_path': path}
        if role == 'database':
            if plan['database']:
                errors.append('%s: %s is already the database service; one service holds the database that backups '
                              'and migrations use.' % (where, plan['database']['service']))
            else:
                plan['database'] = {'service': name, 'user': spec.get('user'), 'name': spec.get('name')}
                for key in ('user', 'name'):
                    if not isinstance(spec.get(key), str) or not spec.get(key):
                        errors.append('%s.%s is required for the database service (its PostgreSQL %s).'
                                      % (where, key, 'user' if key == 'user' else 'database name'))
        migrate = spec.get('migrate', False)
        if migrate:
            command = migrate.get('command') if isinstance(migrate, dict) else None
            if isinstance(migrate, dict) and command is not None and not _is_list_of_str(command):
                errors.append('%s.migrate.command must be a list of strings; got %r.' % (where, command))
            elif not isinstance(migrate, (bool, dict)):
                errors.append('%s.migrate must be true or {command: [...]}; got %r.' % (where, migrate))
            migrators.append(name)
            plan['migrate'] = {'service': name, 'command': command}
        key = spec.get('image', name)
        plan['image_of'][name] = key
    if len(migrators) > 1:
        errors.append('%s: %s all claim the migration; exactly one service runs it (migrate: true on one).'
                      % (var, ' and '.join('services.%s' % s for s in migrators)))
    if plan['migrate'] and not plan['database']:
        errors.append('%s.services.%s.migrate needs a database service (role: database) to migrate.'
                      % (var, plan['migrate']['service']))

    # Images: one per key the services use, and none for a key no service uses.
    keys = sorted(set(plan['image_of'].values()))
    for key in keys:
        if key not in images:
            users = sorted(s for s, k in plan['image_of'].items() if k == key)
            errors.append('%s.%s is missing: %s run%s it. Give one image reference per service, keyed by the service\'s '
                          'name.' % (images_var, key, ', '.join(users), 's' if len(users) == 1 else ''))
    for key in sorted(images):
        if key not in keys:
            errors.append('%s.%s names no service of the stack (its services: %s). Remove it or fix the name.'
                          % (images_var, key, ', '.join(plan['services']) or 'none'))

    variables = stack.get('image_variables') or {}
    if not isinstance(variables, dict) or any(not isinstance(v, str) or not _ENV_NAME.match(v) for v in variables.values()):
        errors.append('%s.image_variables must map image keys to .env variable names; got %r.' % (var, variables))
        variables = {}
    # A variable for a key no service uses is left out (the reference stack's worker may run the backend's image).
    plan['image_variables'] = dict((k, v) for k, v in variables.items() if k in keys)
    # Without .env variables the images are pinned by an override file, whatever the compose files say.
    if not plan['image_variables']:
        plan['pins'] = dict(plan['image_of'])

    # The services this host runs.
    chosen = list(host_services or [])
    for name in chosen:
        if name not in plan['services']:
            errors.append('compose_deploy_services: %s is no service of the stack (%s).' % (name, ', '.join(plan['services'])))
    if not chosen:
        if fleet_role == 'db':
            chosen = list(plan['data'])
        elif fleet_role == 'app':
            chosen = [s for s in plan['services'] if s not in plan['data']]
        else:
            chosen = list(plan['services'])
    plan['host_services'] = [s for s in plan['services'] if s in chosen]
    # The images this host pulls: its services', and the migration's where the database runs.
    pull = set(plan['image_of'][s] for s in plan['host_services'])
    if plan['migrate'] and plan['database'] and plan['database']['service'] in plan['host_services']:
        pull.add(plan['image_of'][plan['migrate']['service']])
    plan['pull'] = sorted(k for k in pull if k in images)
    plan['pins'] = dict((s, k) for s, k in plan['pins'].items() if s in plan['host_services'])

    _check_smoke(stack.get('smoke'), var, errors)
    command = (stack.get('smoke') or {}).get('command') if isinstance(stack.get('smoke'), dict) else None
    if isinstance(command, dict) and command.get('service') and command['service'] not in plan['services']:
        errors.append('%s.smoke.command.service: the compose files define no service %s.' % (var, command['service']))
    plan['smoke'] = dict(stack['smoke']) if isinstance(stack.get('smoke'), dict) else {}
    if isinstance(plan['smoke'].get('checks'), list):
        # A check names a path on the stack's HTTP address, or a full URL.
        plan['smoke']['checks'] = [dict((('url' if k == 'path' else k), v) for k, v in check.items())
                                   if isinstance(check, dict) else check for check in plan['smoke']['checks']]
    _check_settings(stack, plan, var, errors)
    for name in plan['services']:
        if not _SERVICE_NAME.match(name):
            errors.append('%s: service name %r is not a Compose service name.' % (var, name))
    return plan


def _check_settings(stack, plan, var, errors):
    """The description's .env variables, URL-safe secrets and fleet settings, into the plan."""
    env = stack.get('env') or {}
    if not isinstance(env, dict) or any(not isinstance(k, str) or not _ENV_NAME.match(k) for k in env):
        errors.append('%s.env must map .env variable names to values (non-secret; secrets go in aishield_secrets); got %r.'
                      % (var, env))
    else:
        for name, value in env.items():
            if isinstance(value, (dict, list)) or value is None:
                errors.append('%s.env.%s must be a string or a number; got %r.' % (var, name, value))
            else:
                plan['env'][name] = str(value).lower() if isinstance(value, bool) else str(value)
    url_safe = stack.get('url_safe_secrets', [])
    if not _is_list_of_names(url_safe):
        errors.append('%s.url_safe_secrets must list secret names (those that go into a URL); got %r.' % (var, url_safe))
    else:
        plan['url_safe_secrets'] = list(url_safe)
    fleet = stack.get('fleet') or {}
    if not isinstance(fleet, dict):
        errors.append('%s.fleet must be a mapping (compose_files, required_secrets); got %r.' % (var, fleet))
        return
    extra = sorted(set(fleet) - FLEET_KEYS)
    if extra:
        errors.append('%s.fleet has unknown keys %s; known: %s.' % (var, ', '.join(extra), ', '.join(sorted(FLEET_KEYS))))
    files = fleet.get('compose_files', [])
    if not isinstance(files, list) or (files and not _is_list_of_str(files)):
        errors.append('%s.fleet.compose_files must list the compose files a fleet\'s db host adds (paths on the '
                      'controller); got %r.' % (var, files))
    required = fleet.get('required_secrets', [])
    if not _is_list_of_names(required):
        errors.append('%s.fleet.required_secrets must list secret names; got %r.' % (var, required))
    else:
        plan['fleet']['required_secrets'] = list(required)


def check_fleet_documents(documents, names, services, var='compose_deploy_stack'):
    """Errors for fleet compose files (parsed ``documents`` named ``names``) that name services the stack lacks."""
    errors = []
    for name, document in zip(names, documents):
        for service in compose_services([document]):
            if service not in services:
                errors.append('%s.fleet.compose_files: %s names service %s, which the stack\'s compose files do not define '
                              '(they define %s).' % (var, name, service, ', '.join(services) or 'none'))
    return errors
