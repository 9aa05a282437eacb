# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet-wide values: the load balancer's backends, a release's images as the hosts pull them, and what a fleet run
did on each host (its outcome and the fleet record), and where a fleet rollback takes each app host."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
# Jinja's own int filter: a port reads as the `| int` it replaces did (not a number gives 0, which the lb role refuses).
from jinja2.filters import do_int

from ansible_collections.aishield.ops.plugins.filter.image import parse_image_ref
from ansible_collections.aishield.ops.plugins.filter.release import release_id_parse
from ansible_collections.aishield.ops.plugins.module_utils._release import same_fleet_record


def fleet_lb_backends(hosts, hostvars, address_var='aishield_address', port_var='aishield_http_port', default_port=8000):
    """One {name, address, port} per host: the address and API port from its variables, else its name and default_port."""
    if isinstance(hosts, str) or not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError(f'fleet_lb_backends expects a list of host names (such as groups.app), got {hosts!r:.100}')
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f'fleet_lb_backends needs hostvars as its first argument, got {type(hostvars).__name__}')
    backends = []
    for name in hosts:
        if name not in hostvars:
            raise AnsibleFilterError(f'fleet_lb_backends: host {name!r} is not in the inventory (no hostvars)')
        # hostvars templates each variable on access, in that host's context.
        host = hostvars[name]
        backends.append({'name': name,
                         'address': host[address_var] if address_var in host else name,
                         'port': do_int(host[port_var] if port_var in host else default_port)})
    return backends


def fleet_digest_refs(images):
    """Each service's image as name@digest (the tag dropped); a reference without a digest stays as it is."""
    if not isinstance(images, Mapping):
        raise AnsibleFilterError(f'fleet_digest_refs expects a dict of service -> image reference (a release record\'s images), '
                                 f'got {type(images).__name__}')
    refs = {}
    for service, ref in images.items():
        if not isinstance(ref, str):
            raise AnsibleFilterError(f'the image of {service!r} must be a reference string such as '
                                     f'"registry.example.com/app:1.4@sha256:<64 hex>", got {ref!r:.100}')
        parsed = parse_image_ref(ref)
        refs[service] = f"{parsed['name']}@{parsed['digest']}" if parsed['digest'] else ref
    return refs


HOST_STATES = ('done', 'failed', 'stopped', 'not reached')


def _host_state(name, hostvars):
    """A host's part of a fleet run, from the _fleet_host fact its plays set ({} when it never got one)."""
    try:
        fact = hostvars[name].get('_fleet_host') if name in hostvars else None
    except Exception:  # pylint: disable=broad-except
        fact = None
    state = dict(fact) if isinstance(fact, Mapping) else {}
    state.setdefault('state', 'not reached')
    if state['state'] not in HOST_STATES:
        raise AnsibleFilterError('fleet_outcome: %s has state %r (known: %s)' % (name, state['state'], ', '.join(HOST_STATES)))
    return state


def fleet_stop_reason(apps, hostvars, db, max_fail_percentage=0):
    """Why the rollout must not go on to the next app batch ('' when it may): the db host did not finish, or more
    than max_fail_percentage of the app hosts failed so far."""
    db_state = _host_state(db, hostvars)['state']
    if db_state != 'done':
        return 'the db host %s is %s: no app host is changed' % (db, db_state)
    failed = [name for name in apps if _host_state(name, hostvars)['state'] == 'failed']
    limit = do_int(max_fail_percentage)
    if failed and 100 * len(failed) > limit * len(apps):
        return '%s failed (%d of %d app hosts; aishield_max_fail_percentage is %d): the hosts not reached keep the ' \
               'previous release' % (', '.join(failed), len(failed), len(apps), limit)
    return ''


def _true(value):
    """A fact's flag, whether templating left it a bool or a string ('True', 'false')."""
    try:
        return boolean(value, strict=False)
    except TypeError:
        return False


def fleet_outcome(hosts, hostvars, what='Fleet run'):
    """What a fleet run did: each host's state (done, failed, stopped after another host failed, not reached), which
    app hosts switched to the new release, which were rolled back (rolled_back_to: the release each went to); ok only
    when every host is done. rollback_to: the app hosts still on the release this run switched them to (or that
    failed after their switch), each with the release it ran before: what a later fleet rollback must return."""
    out = {'ok': True, 'hosts': {}, 'failed': [], 'stopped': [], 'not_reached': [], 'switched': [], 'rolled_back': [],
           'rollback_failed': [], 'rolled_back_to': {}, 'rollback_to': {}, 'lines': []}
    for name in hosts:
        state = _host_state(name, hostvars)
        out['hosts'][name] = state
        key = state['state'].replace(' ', '_')
        if key != 'done':
            out[key].append(name)
            out['ok'] = False
        if state.get('switched'):
            out['switched'].append(name)
        rollback = state.get('rollback') or {}
        if rollback.get('ok'):
            out['rolled_back'].append(name)
            out['rolled_back_to'][name] = rollback.get('to', '')
        elif rollback:
            out['rollback_failed'].append(name)
        # The hosts the automatic rollback of deploy_multihost.yml would take (switched by this run, done or failed
        # after the switch), unless one already took them back.
        if state.get('role') == 'app' and state['state'] in ('done', 'failed') and _true(state.get('switched')) \
                and state.get('previous_release') and not rollback.get('ok'):
            out['rollback_to'][name] = state['previous_release']
        line = '%s (%s): %s' % (name, state.get('role', '?'), state['state'])
        if state.get('note'):
            line += ' (%s)' % state['note']
        if state.get('failure'):
            line += ': %s' % state['failure']
        if rollback:
            line += '; rolled back to %s' % rollback.get('to', '?') if rollback.get('ok') else \
                '; ROLLBACK FAILED: %s' % rollback.get('message', '?')
        out['lines'].append(line)
    if out['ok']:
        out['summary'] = '%s: every host is done (%s).' % (what, ', '.join(hosts))
    else:
        parts = []
        for key, label in (('failed', 'failed'), ('stopped', 'stopped after a failure'), ('not_reached', 'not reached'),
                           ('rolled_back', 'rolled back'), ('rollback_failed', 'ROLLBACK FAILED')):
            if out[key]:
                parts.append('%s: %s' % (label, ', '.join(out[key])))
        out['summary'] = '%s failed. %s.' % (what, '; '.join(parts))
    return out


def _slurped_json(result):
    """The JSON document of an ansible.builtin.slurp result; {} when the file was not read or is not JSON."""
    if not isinstance(result, Mapping) or not result.get('content'):
        return {}
    try:
        data = json.loads(base64.b64decode(result['content']).decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def fleet_app_failure(release, current, message=''):
    """An app host's _fleet_host after its part of a fleet deploy failed: it does not roll itself back (the fleet
    decides), so this says whether its switch happened. That is what `current` points at now (the slurped
    current/release.json): a host whose engine died mid-switch, or that failed before it, still points at the old
    release. `release` is compose_deploy_release ({} when prepare never ran)."""
    release = release if isinstance(release, Mapping) else {}
    running = _slurped_json(current).get('release_id') or ''
    created = _true(release.get('created', False))
    return {'role': 'app', 'state': 'failed', 'failure': str(message or 'see above'),
            'switched': bool(created and running and running == release.get('release_id')),
            'previous_release': release.get('previous_release') or ''}


def fleet_record(hosts, hostvars, outcome=None, what='', by='', time='', current_var='_fleet_current', previous=None):
    """The fleet record (fleet.json on the db host): which release each host runs (its current release.json, read
    into each host's `current_var` by ansible.builtin.slurp) and whether the app hosts are uniform: the same version
    and images, all good. `previous` (the slurped fleet.json) is returned as it was when only the time and the
    runner differ, so a run that changed nothing leaves the file unchanged."""
    records = {}
    for name in hosts:
        host = hostvars[name] if name in hostvars else {}
        record = _slurped_json(host.get(current_var))
        role = (host.get('_fleet_host') or {}).get('role') or ('db' if record.get('role') == 'db' else 'app')
        records[name] = {'role': role, 'release_id': record.get('release_id'), 'version': record.get('version'),
                         'status': record.get('status'), 'images': record.get('images') or {}}
    apps = [records[name] for name in sorted(records) if records[name]['role'] == 'app']
    uniform = bool(apps) and all(a['release_id'] and a['version'] == apps[0]['version'] and a['images'] == apps[0]['images']
                                 and a['status'] == 'good' for a in apps)
    record = {'run': what, 'by': by, 'time': time,
              'outcome': 'good' if (outcome or {}).get('ok') else 'failed',
              'summary': (outcome or {}).get('summary', ''), 'uniform': uniform,
              'versions': sorted(set(a['version'] for a in apps if a['version'])), 'hosts': records}
    before = _slurped_json(previous)
    return before if before and same_fleet_record(before, record) else record


ROLLBACK_TO_EXAMPLE = '{"aishield_fleet_rollback_to": {"app1": "20250131T235959Z-v2"}}'


def _kind(value):
    """The plain type name of a value (Ansible hands over tagged subclasses of str, list, dict)."""
    return next((kind.__name__ for kind in (bool, int, float, str, list, tuple) if isinstance(value, kind)), type(value).__name__)


def fleet_rollback_to_errors(value, apps):
    """Every problem with aishield_fleet_rollback_to ({app host: release id}, as the fleet deploy hands it over), each
    naming the variable and the fix; empty when it is good or not given (None or '': every app host goes back to the
    release before its current one)."""
    if isinstance(apps, str) or not isinstance(apps, (list, tuple)):
        raise AnsibleFilterError(f'fleet_rollback_to_errors needs the app hosts (groups.app) as its argument, got {apps!r:.100}')
    if value is None or value == '':
        return []
    if not isinstance(value, Mapping):
        return [f"aishield_fleet_rollback_to must be a dict of app host -> release id (the fleet deploy's set_stats hands "
                f"one over), got {_kind(value)} {value!r:.100}. Pass it as JSON: -e '{ROLLBACK_TO_EXAMPLE}', or "
                f"leave it out to take every app host back to the release before its current one."]
    errors = []
    strangers = [str(name) for name in value if name not in apps]
    if strangers:
        errors.append('aishield_fleet_rollback_to names %s, not an app host of this inventory (app hosts: %s): run with '
                      'the inventory the fleet deploy ran with, or drop the name.' % (', '.join(strangers), ', '.join(apps) or 'none'))
    for name, target in value.items():
        if name not in apps:
            continue
        try:
            release_id_parse(target)
        except AnsibleFilterError:
            errors.append(f'aishield_fleet_rollback_to[{name}] is {target!r:.100}, not a release id like 20250131T235959Z-v2: '
                          f'give the release {name} ran before (a directory under its releases/), or drop the host.')
    return errors


def fleet_rollback_target(plan, host, current=None):
    """What one app host does in a fleet rollback: {to, note}. Without a plan (None or ''), `to` is 'previous' (the
    good release before its current one); with one (aishield_fleet_rollback_to), the release it names for the host,
    or '' with a note saying why the host is left as it is (not named, or it runs that release already; `current` is
    its current/release.json as ansible.builtin.slurp read it)."""
    if plan is None or plan == '':
        return {'to': 'previous', 'note': ''}
    if not isinstance(plan, Mapping):
        raise AnsibleFilterError(f'fleet_rollback_target expects aishield_fleet_rollback_to as a dict, got {plan!r:.100} '
                                 f'(check it with fleet_rollback_to_errors first)')
    if host not in plan:
        return {'to': '', 'note': 'untouched: not in aishield_fleet_rollback_to, the fleet run did not switch it'}
    target = str(plan[host]).strip()
    if _slurped_json(current).get('release_id') == target:
        return {'to': '', 'note': 'untouched: it runs %s already' % target}
    return {'to': target, 'note': ''}


def fleet_full_db_target(apps, hostvars, fact='_fleet_full_target'):
    """The db host's target in a full fleet rollback: the db host release the app hosts' targets ran against.

    Each app host that rolls back sets `fact` to its target's release record ({release_id, db_release, ...}); a host left
    as it is sets none. The database goes back to the schema that code ran on, so every target must name the same db
    release. Returns {'to': db release id or '', 'error': '' or why not}.
    """
    targets = {}
    for name in apps:
        record = hostvars[name].get(fact) if name in hostvars else None
        if record:
            targets[name] = record
    if not targets:
        return {'to': '', 'error': 'no app host rolls back, so there is no release whose database to restore'}
    unrecorded = sorted(name for name, record in targets.items() if not record.get('db_release'))
    if unrecorded:
        return {'to': '', 'error': 'the release %s goes back to records no db host release (db_release): it was not '
                                   'deployed by deploy_multihost.yml' % ', '.join(
                                       '%s on %s' % (targets[name].get('release_id', '?'), name) for name in unrecorded)}
    releases = sorted(set(record['db_release'] for record in targets.values()))
    if len(releases) > 1:
        return {'to': '', 'error': 'the app hosts go back to releases that ran against different db host releases (%s): '
                                   'one database cannot suit both; name one set of targets with aishield_fleet_rollback_to'
                                   % '; '.join('%s on %s ran against %s' % (targets[n].get('release_id', '?'), n,
                                                                            targets[n]['db_release']) for n in sorted(targets))}
    return {'to': releases[0], 'error': ''}


class FilterModule(object):
    """Fleet filters."""

    def filters(self):
        return {
            'fleet_lb_backends': fleet_lb_backends,
            'fleet_digest_refs': fleet_digest_refs,
            'fleet_outcome': fleet_outcome,
            'fleet_stop_reason': fleet_stop_reason,
            'fleet_record': fleet_record,
            'fleet_rollback_to_errors': fleet_rollback_to_errors,
            'fleet_rollback_target': fleet_rollback_target,
            'fleet_full_db_target': fleet_full_db_target,
            'fleet_app_failure': fleet_app_failure,
        }
