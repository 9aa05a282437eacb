#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: alertmanager_silence
short_description: Silence the alerts a deploy or rollback causes, then lift the silence
version_added: 0.4.0
description:
  - Creates a silence through Alertmanager's API v2 (C(POST /api/v2/silences)) for the alerts that match O(matchers), for
    at most O(duration), or expires the silences this run created (C(DELETE /api/v2/silence/{id})).
  - A silence has an end time, so one left behind by a run that died still ends on its own.
  - O(state=present) is idempotent - an active silence with the same matchers and O(comment) is kept, not doubled.
  - O(state=absent) expires the silence O(silence_id), or every active one with the same matchers and O(comment).
  - Why a module? No well-kept collection manages Alertmanager silences; the prometheus.prometheus collection installs
    and configures the services, and M(ansible.builtin.uri) would leave the lookup, the idempotence and the expiry to
    Jinja.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the silences and reports what would change.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  url:
    description: Alertmanager's base URL, such as V(http://127.0.0.1:9093).
    type: str
    required: true
  state:
    description: Create (or keep) the silence, or expire it.
    type: str
    choices: [present, absent]
    default: present
  matchers:
    description: "Label names and the values an alert must have to be silenced, such as V({project: aishield})."
    type: dict
    default: {}
  comment:
    description: What the silence is for; with O(matchers) it identifies the silence (a release id, for instance).
    type: str
    default: ''
  created_by:
    description: Who created it, as Alertmanager shows it.
    type: str
    default: aishield.ops
  duration:
    description: How long the silence lasts at most, in minutes, from now.
    type: int
    default: 30
  silence_id:
    description: With O(state=absent), the silence to expire.
    type: str
    default: ''
  timeout:
    description: Seconds to wait for each request.
    type: float
    default: 10
  fail_on_unreachable:
    description:
      - Fail when Alertmanager does not answer at all. V(false) turns that into a warning and changes nothing, so a
        monitoring outage never blocks a deploy or a rollback (the deploy and rollback playbooks pass V(false)).
      - An Alertmanager that answers with an error fails either way.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Silence this project's alerts while it deploys
  aishield.ops.alertmanager_silence:
    url: http://127.0.0.1:9093
    matchers: {project: aishield}
    comment: "deploy of v2 (release 20261206T101500Z-v2)"
    duration: 30
  register: silence

- name: Lift it
  aishield.ops.alertmanager_silence:
    url: http://127.0.0.1:9093
    state: absent
    silence_id: "{{ silence.silence_id }}"
"""

RETURN = r"""
silence_id:
  description: The silence created or kept (V(present)); the first one expired (V(absent)); empty when none.
  returned: always
  type: str
ends_at:
  description: When the silence ends (RFC 3339), for V(present).
  returned: when state is present
  type: str
expired:
  description: The silences expired, for V(absent).
  returned: when state is absent
  type: list
  elements: str
not_answering:
  description: Alertmanager did not answer and O(fail_on_unreachable) is V(false); nothing changed.
  returned: when Alertmanager did not answer
  type: bool
"""

import datetime
import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import quote

from ansible_collections.aishield.ops.plugins.module_utils._http import http_request
from ansible_collections.aishield.ops.plugins.module_utils._http_text import one_line


def _iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%S.000Z')


def same_matchers(silence, matchers):
    """Whether an Alertmanager silence has exactly these equality matchers."""
    found = {}
    for matcher in silence.get('matchers') or []:
        if matcher.get('isRegex') or not matcher.get('isEqual', True):
            return False
        found[matcher.get('name')] = matcher.get('value')
    return found == dict((str(k), str(v)) for k, v in matchers.items())


def matching(silences, matchers, comment):
    """The active or pending silences with these matchers and this comment."""
    return [s for s in silences if (s.get('status') or {}).get('state') in ('active', 'pending')
            and s.get('comment') == comment and same_matchers(s, matchers)]


def silence_body(matchers, comment, created_by, minutes, now):
    return {'matchers': [{'name': str(k), 'value': str(v), 'isRegex': False, 'isEqual': True} for k, v in sorted(matchers.items())],
            'startsAt': _iso(now), 'endsAt': _iso(now + datetime.timedelta(minutes=minutes)),
            'createdBy': created_by, 'comment': comment}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            matchers=dict(type='dict', default={}),
            comment=dict(type='str', default=''),
            created_by=dict(type='str', default='aishield.ops'),
            duration=dict(type='int', default=30),
            silence_id=dict(type='str', default=''),
            timeout=dict(type='float', default=10),
            fail_on_unreachable=dict(type='bool', default=True),
        ),
        required_if=[('state', 'present', ('matchers', 'comment'))],
        supports_check_mode=True,
    )
    p = module.params
    base = p['url'].rstrip('/')
    if p['state'] == 'present' and not p['matchers']:
        module.fail_json(msg='matchers must name at least one label: a silence without one would silence every alert.')
    if p['state'] == 'present' and not 1 <= p['duration'] <= 24 * 60:
        module.fail_json(msg='duration must be from 1 to 1440 minutes; got %d' % p['duration'])

    def call(method, path, body=None):
        kwargs = {'timeout': p['timeout']}
        if body is not None:
            kwargs['json_body'] = body
        resp = http_request(method, base + path, **kwargs)
        if resp.error and resp.status is None and not p['fail_on_unreachable']:
            module.warn('Alertmanager at %s did not answer (%s): the alerts are not silenced.' % (base, resp.error))
            module.exit_json(changed=False, silence_id='', ends_at='', expired=[], not_answering=True)
        if resp.error or resp.status not in (200, 201):
            module.fail_json(msg='Alertmanager at %s: %s %s failed: %s' % (
                base, method, path, resp.error or 'HTTP %s %s' % (resp.status, one_line(resp.text()))))
        text = resp.text()
        return json.loads(text) if text.strip() else {}

    silences = call('GET', '/api/v2/silences')
    if p['state'] == 'present':
        kept = matching(silences, p['matchers'], p['comment'])
        if kept:
            module.exit_json(changed=False, silence_id=kept[0]['id'], ends_at=kept[0].get('endsAt', ''))
        body = silence_body(p['matchers'], p['comment'], p['created_by'], p['duration'], datetime.datetime.now(datetime.timezone.utc))
        if module.check_mode:
            module.exit_json(changed=True, silence_id='', ends_at=body['endsAt'])
        created = call('POST', '/api/v2/silences', body)
        module.exit_json(changed=True, silence_id=created.get('silenceID', ''), ends_at=body['endsAt'])

    if p['silence_id']:
        targets = [s['id'] for s in silences if s.get('id') == p['silence_id']
                   and (s.get('status') or {}).get('state') in ('active', 'pending')]
    elif p['matchers'] and p['comment']:
        targets = [s['id'] for s in matching(silences, p['matchers'], p['comment'])]
    else:
        module.fail_json(msg='state=absent needs silence_id, or matchers and comment, to know which silence to expire.')
    if targets and not module.check_mode:
        for silence_id in targets:
            call('DELETE', '/api/v2/silence/%s' % quote(silence_id, safe=''))
    module.exit_json(changed=bool(targets), silence_id=targets[0] if targets else '', expired=targets)


if __name__ == '__main__':
    main()
