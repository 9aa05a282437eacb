# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The stack as data: check a stack description against its compose files and images, return the plan.

A filter, not a module: the compose files are on the controller and the plan is needed before any host is
touched (the deploy's input check). The checks themselves live in module_utils/_stack.py.
"""

from __future__ import annotations

import os

import yaml

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.aishield.ops.plugins.module_utils._stack import build_plan, check_fleet_documents

_display = Display()

# Today's role variables a stack description replaces, and where their value goes in it.
_LEGACY = {
    'compose_deploy_roll_services': 'web',
    'compose_deploy_worker_services': 'worker',
    'compose_deploy_data_services': 'data',
}


def _apply_legacy(stack, legacy):
    """Apply the deprecated role variables a user still sets to the description, with a deprecation warning."""
    stack = dict(stack)
    services = dict((name, dict(spec or {})) for name, spec in (stack.get('services') or {}).items())
    for variable, role in sorted(_LEGACY.items()):
        names = (legacy or {}).get(variable)
        if names is None:
            continue
        _display.deprecated('%s: describe the services in aishield_stack (compose_deploy_stack) instead, with '
                            'role: %s on each of %s' % (variable, role, ', '.join(names) or 'none'),
                            version='2.0.0', collection_name='aishield.ops')
        for name in names:
            spec = services.setdefault(name, {})
            if role == 'data' and spec.get('role') == 'database':
                continue
            spec['role'] = role
    stack['services'] = services
    return stack


def _parse(paths, contents, var, where):
    """[{name, content}] and the parsed documents of compose file texts, with YAML errors."""
    if not isinstance(contents, list) or not all(isinstance(text, str) for text in contents):
        raise AnsibleFilterError('stack_plan expects the %s\' text as a list of strings; got %r' % (where, contents))
    if not isinstance(paths, list) or len(paths) != len(contents):
        raise AnsibleFilterError('stack_plan: %d %s texts for %r' % (len(contents), where, paths))
    files, documents, errors = [], [], []
    for path, text in zip(paths, contents):
        files.append({'name': str(path), 'content': text})
        try:
            documents.append(yaml.safe_load(text) or {})
        except yaml.YAMLError as exc:
            errors.append('%s.%s: %s is not YAML: %s.' % (var, where, path, str(exc).replace('\n', ' ')))
    return files, documents, errors


def stack_plan(stack, contents, images=None, host_services=None, fleet_role='', legacy=None, var='compose_deploy_stack',
               fleet_contents=None):
    """Check `stack` against the text of its compose files (`contents`, in the order of stack.compose_files) and
    `images`; return the plan and its errors. `fleet_contents`: the text of stack.fleet.compose_files."""
    paths = (stack.get('compose_files') if isinstance(stack, dict) else None) or []
    compose_files, documents, errors = _parse(paths, contents, var, 'compose_files')
    fleet = (stack.get('fleet') if isinstance(stack, dict) else None) or {}
    fleet_paths = (fleet.get('compose_files') if isinstance(fleet, dict) else None) or []
    fleet_files, fleet_documents, fleet_errors = _parse(fleet_paths if isinstance(fleet_paths, list) else [],
                                                        list(fleet_contents or []), var, 'fleet.compose_files')
    if isinstance(stack, dict):
        stack = _apply_legacy(stack, legacy)
    plan = build_plan(stack, documents, images=images, host_services=host_services, fleet_role=fleet_role, var=var)
    names = [os.path.basename(item['name']) for item in compose_files + fleet_files]
    if len(set(names)) != len(names):
        errors.append('%s.compose_files and fleet.compose_files: two files share a name (%s); each is copied into the '
                      'release by its name.' % (var, ', '.join(names)))
    fleet_names = names[len(compose_files):]
    errors += fleet_errors + check_fleet_documents(fleet_documents, fleet_names, plan['services'], var=var)
    plan['compose_files'] = [{'name': name, 'content': item['content']} for name, item in zip(names, compose_files)]
    plan['fleet']['compose_files'] = [{'name': name, 'content': item['content']} for name, item in zip(fleet_names, fleet_files)]
    plan['errors'] = errors + plan['errors']
    return plan


def stack_parts(stack, fallback=None):
    """What the playbooks that do not deploy (restore, maintenance, a fleet's check) read of a stack description,
    without its compose files: the database service (service, user, name), the writers (web and worker services),
    the first web service's health path, the service that migrates, the secrets a fleet needs
    (fleet.required_secrets) and every service's name; `fallback` when the description is empty."""
    fallback = dict(fallback or {})
    if not stack:
        return {'database': fallback.get('database'), 'writers': list(fallback.get('writers') or []),
                'health_path': fallback.get('health_path', '/health'), 'migrate_service': fallback.get('migrate_service'),
                'fleet_required_secrets': list(fallback.get('fleet_required_secrets') or []),
                'services': list(fallback.get('services') or [])}
    if not isinstance(stack, dict) or not isinstance(stack.get('services'), dict):
        raise AnsibleFilterError('aishield_stack must be a mapping with services (README, "Deploy your own stack"); got %r' % (stack,))
    database, writers, health_path, migrate_service = None, [], None, None
    for name, spec in stack['services'].items():
        role = (spec or {}).get('role', 'plain')
        if (spec or {}).get('migrate') and migrate_service is None:
            migrate_service = name
        if role == 'database' and database is None:
            database = {'service': name, 'user': spec.get('user'), 'name': spec.get('name')}
        elif role in ('web', 'worker'):
            writers.append(name)
        if role == 'web' and health_path is None:
            health_path = spec.get('health_path', '/health')
    fleet = stack.get('fleet') if isinstance(stack.get('fleet'), dict) else {}
    return {'database': database, 'writers': writers, 'health_path': health_path or '/health',
            'migrate_service': migrate_service, 'fleet_required_secrets': list(fleet.get('required_secrets') or []),
            'services': list(stack['services'])}


class FilterModule:
    """Stack description filters."""

    def filters(self):
        return {'stack_plan': stack_plan, 'stack_parts': stack_parts}
