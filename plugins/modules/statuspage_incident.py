#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: statuspage_incident
short_description: Create, update and resolve status-page incidents, idempotently by name
version_added: 0.1.0
description:
  - Keeps one unresolved incident per O(name) in the wanted state on an Atlassian Statuspage page (API v1) or on a generic
    JSON incidents endpoint such as the one in the AI Shield runbook.
  - The incident is found among the B(unresolved) incidents by exact name. If none exists it is created; if one exists only
    the fields that differ are sent; O(state=resolved) resolves it. Running the same task twice creates one incident, and the
    second run reports no change.
  - Why not a community module? There is no maintained Statuspage module in community.general or elsewhere, and
    M(ansible.builtin.uri) would need several tasks (list, filter, create or patch) and careful C(changed_when) to be
    idempotent, while echoing the API key with C(-vvv) unless every task is C(no_log).
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module still lists incidents (GET) but sends no POST or PATCH. RV(request) shows what would be sent.
  diff_mode:
    support: full
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    platforms: posix
options:
  provider:
    description:
      - V(statuspage) speaks Atlassian Statuspage API v1 (C({api_url}/v1/pages/{page_id}/incidents), header
        C(Authorization) header C(OAuth <api_key>), bodies wrapped in an C(incident) object).
      - V(generic) speaks the runbook's endpoint (C(GET/POST {api_url}/api/incidents), C(PATCH {api_url}/api/incidents/{id}),
        C(Authorization) header C(Bearer <api_key>), plain JSON bodies with C(name), C(status), C(impact) and C(body)).
    type: str
    choices: [statuspage, generic]
    default: statuspage
  api_url:
    description:
      - Base URL of the API. Defaults to C(https://api.statuspage.io) for V(statuspage); required for V(generic).
    type: str
  api_key:
    description: API key (Statuspage) or bearer token (generic). Never returned.
    type: str
    required: true
  page_id:
    description: Statuspage page id. Required with O(provider=statuspage).
    type: str
  name:
    description: Incident name; the key that makes the module idempotent.
    type: str
    required: true
  state:
    description:
      - V(present) creates the incident or updates it to match.
      - V(resolved) resolves the open incident of that name; when none is open nothing happens (nothing is created).
    type: str
    choices: [present, resolved]
    default: present
  status:
    description:
      - Incident status. Defaults to V(investigating) when creating; when updating, only a given status is compared.
      - V(resolved) means the same as O(state=resolved).
    type: str
    choices: [investigating, identified, monitoring, resolved]
  impact:
    description:
      - Impact. Sent as C(impact_override) to Statuspage, which accepts V(none), V(minor), V(major) and V(critical).
      - Free text for V(generic) (the runbook uses V(none) and V(partial)).
    type: str
    aliases: [impact_override]
  body:
    description:
      - Update message. Statuspage shows it as the text of the incident update; it is compared with the latest update.
      - When the status changes, a given body is sent again so the new update carries text.
    type: str
  components:
    description:
      - Component statuses to set, as a mapping of component id to status (V(operational), V(degraded_performance),
        V(partial_outage), V(major_outage), V(under_maintenance)). Only the listed components are compared.
    type: dict
  deliver_notifications:
    description: Statuspage only. Whether subscribers are notified of this create or update.
    type: bool
  timeout:
    description: Seconds allowed for each request.
    type: float
    default: 10
  retries:
    description:
      - Extra attempts for GET requests that fail to connect or get 429/502/503/504, and for any request that gets 429.
        The wait doubles from one second.
    type: int
    default: 3
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
notes:
  - Only the first 100 unresolved incidents are searched for O(name).
  - When several unresolved incidents share O(name), the newest one is managed and a warning is shown.
seealso:
  - name: Statuspage REST API v1
    description: Incidents endpoints of the Atlassian Statuspage API.
    link: https://developer.statuspage.io/#tag/incidents
  - module: ansible.builtin.uri
"""

EXAMPLES = r"""
- name: Open a maintenance incident while deploying
  aishield.ops.statuspage_incident:
    page_id: "{{ statuspage_page_id }}"
    api_key: "{{ vault_statuspage_api_key }}"
    name: "Deploying AI Shield {{ aishield_version }}"
    status: identified
    impact: minor
    body: Deployment in progress; short interruptions are possible.
    components:
      "{{ statuspage_api_component_id }}": under_maintenance
  register: __notify_incident

- name: Resolve it when the deploy is done
  aishield.ops.statuspage_incident:
    page_id: "{{ statuspage_page_id }}"
    api_key: "{{ vault_statuspage_api_key }}"
    name: "Deploying AI Shield {{ aishield_version }}"
    state: resolved
    body: Deployment complete.
    components:
      "{{ statuspage_api_component_id }}": operational

- name: Report a rollback on the runbook's own status endpoint
  aishield.ops.statuspage_incident:
    provider: generic
    api_url: https://status.aishield.io
    api_key: "{{ vault_status_api_key }}"
    name: Issue detected, rolling back deployment
    status: investigating
    impact: partial
"""

RETURN = r"""
action:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  choices: [created, updated, resolved, none]
  sample: created
incident:
  description:
    - The managed incident after the change (predicted in check mode; V(id) is V(null) for one not yet created).
    - Empty when O(state=resolved) found no open incident.
  returned: always
  type: dict
  sample: {id: p31zjtct2jer, name: Deploying AI Shield 1.4.0, status: identified, impact: minor,
           body: Deployment in progress., components: {8kbf7d35c070: under_maintenance}}
request:
  description: The mutating request sent (or that would be sent in check mode), without the API key.
  returned: when RV(action) is not V(none)
  type: dict
  sample: {method: PATCH, url: https://api.statuspage.io/v1/pages/abc/incidents/p31zjtct2jer,
           body: {incident: {status: resolved}}}
diff:
  description: The compared fields before and after.
  returned: when the incident changes (or would change)
  type: dict
  sample: {before: {status: identified}, after: {status: resolved}}
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils._http import http_request, request_with_retries
from ansible_collections.aishield.ops.plugins.module_utils._http_text import one_line, scrub_text, scrub_url

STATUSPAGE_URL = 'https://api.statuspage.io'
STATUSPAGE_IMPACTS = ('none', 'minor', 'major', 'critical')
COMPONENT_STATUSES = ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')
_COMPARED = ('status', 'impact', 'body', 'components')


def desired_fields(params):
    """The incident fields the task asks for; None means "not managed"."""
    status = 'resolved' if params['state'] == 'resolved' else params['status']
    fields = {'name': params['name'], 'status': status, 'impact': params['impact'], 'body': params['body'],
              'components': params['components']}
    return dict((k, v) for k, v in fields.items() if v is not None)


def normalise(provider, raw):
    """Map a provider's incident object to {id, name, status, impact, body, components, ...}."""
    if provider == 'statuspage':
        impact = raw.get('impact_override') or raw.get('impact')
        updates = [u for u in raw.get('incident_updates') or [] if isinstance(u, dict)]
        # The API lists updates newest first; sort anyway in case a proxy reorders them.
        updates.sort(key=lambda u: str(u.get('created_at') or ''), reverse=True)
        body = updates[0].get('body') if updates else raw.get('body')
    else:
        impact = raw.get('impact')
        body = raw.get('body', raw.get('message'))
    components = raw.get('components') or {}
    if isinstance(components, list):
        components = dict((c.get('id'), c.get('status')) for c in components if isinstance(c, dict))
    out = {'id': raw.get('id'), 'name': raw.get('name'), 'status': raw.get('status'), 'impact': impact,
           'body': body, 'components': components}
    for key in ('created_at', 'updated_at', 'resolved_at', 'shortlink'):
        if raw.get(key) is not None:
            out[key] = raw[key]
    return out


def pick_incident(incidents, name):
    """Return (newest unresolved incident named name, how many matched)."""
    matching = [i for i in incidents if i.get('name') == name and i.get('status') != 'resolved']
    matching.sort(key=lambda i: str(i.get('created_at') or ''), reverse=True)
    return (matching[0] if matching else None), len(matching)


def incident_changes(current, desired):
    """Fields of desired (except name) whose value differs from the normalised current incident."""
    changes = {}
    for key in _COMPARED:
        if key not in desired:
            continue
        if key == 'components':
            have = current.get('components') or {}
            if any(have.get(cid) != state for cid, state in desired['components'].items()):
                changes['components'] = desired['components']
        elif current.get(key) != desired[key]:
            changes[key] = desired[key]
    if 'status' in changes and 'body' in desired:
        changes['body'] = desired['body']
    return changes


def build_payload(provider, fields, deliver_notifications=None):
    """Request body for a create or update with these normalised fields."""
    if provider == 'generic':
        return dict(fields)
    incident = {}
    for key, value in fields.items():
        if key == 'impact':
            incident['impact_override'] = value
        elif key == 'components':
            incident['components'] = dict(value)
            incident['component_ids'] = sorted(value)
        else:
            incident[key] = value
    if deliver_notifications is not None:
        incident['deliver_notifications'] = deliver_notifications
    return {'incident': incident}


def validate(params):
    """Return a list of problems with the options that the argument spec cannot express."""
    problems = []
    if params['provider'] == 'statuspage':
        if not params['page_id']:
            problems.append('page_id is required with provider=statuspage')
        if params['impact'] is not None and params['impact'] not in STATUSPAGE_IMPACTS:
            problems.append('impact must be one of %s for Statuspage, got %r' % (', '.join(STATUSPAGE_IMPACTS), params['impact']))
        for cid, state in (params['components'] or {}).items():
            if state not in COMPONENT_STATUSES:
                problems.append('component %s: status must be one of %s, got %r' % (cid, ', '.join(COMPONENT_STATUSES), state))
    elif not params['api_url']:
        problems.append('api_url is required with provider=generic')
    if params['api_url'] and not params['api_url'].lower().startswith(('http://', 'https://')):
        problems.append('api_url must start with http:// or https://')
    if params['retries'] < 0 or params['retries'] > 10:
        problems.append('retries must be between 0 and 10')
    return problems


class IncidentManager(object):
    def __init__(self, module):
        self.module = module
        p = module.params
        self.provider = p['provider']
        base = (p['api_url'] or STATUSPAGE_URL).rstrip('/')
        if self.provider == 'statuspage':
            self.collection = '%s/v1/pages/%s/incidents' % (base, p['page_id'])
            self.list_url = self.collection + '/unresolved?per_page=100'
            self.auth = 'OAuth %s' % p['api_key']
        else:
            self.collection = self.list_url = '%s/api/incidents' % base
            self.auth = 'Bearer %s' % p['api_key']

    def _fail(self, msg, **kwargs):
        self.module.fail_json(msg=scrub_text(msg, [self.module.params['api_key']]), **kwargs)

    def call(self, method, url, body=None):
        p = self.module.params
        headers = {'Authorization': self.auth, 'Accept': 'application/json'}
        kwargs = {'json_body': body} if body is not None else {}

        def send():
            return http_request(method, url, headers=headers, timeout=p['timeout'],
                                validate_certs=p['validate_certs'], **kwargs)
        # Only GET is safe to repeat after a lost answer; a 429 means nothing was done.
        response, attempts = request_with_retries(send, retries=p['retries'], retry_transport=method == 'GET',
                                                  retry_statuses=(429, 502, 503, 504) if method == 'GET' else (429,))
        where = '%s %s' % (method, scrub_url(url))
        if response.error:
            self._fail('%s API: %s failed after %d attempt(s): %s' % (self.provider, where, attempts, response.error))
        if not 200 <= response.status < 300:
            snippet = one_line(response.text(), 200)
            self._fail('%s API: %s answered HTTP %s: %s' % (self.provider, where, response.status, snippet))
        try:
            return response.json() if response.body else {}
        except ValueError:
            self._fail('%s API: %s answered HTTP %s with a body that is not JSON' % (self.provider, where, response.status))

    def unresolved(self):
        data = self.call('GET', self.list_url)
        if isinstance(data, dict):
            data = data.get('incidents', data.get('data', []))
        if not isinstance(data, list):
            self._fail('%s API: listing incidents did not return a list' % self.provider)
        return [i for i in data if isinstance(i, dict)]

    def run(self):
        p = self.module.params
        desired = desired_fields(p)
        found, count = pick_incident(self.unresolved(), p['name'])
        if count > 1:
            self.module.warn('%d unresolved incidents are named %r; managing the newest (%s)' % (count, p['name'], found.get('id')))
        current = normalise(self.provider, found) if found else None
        result = {'changed': False, 'action': 'none', 'incident': current or {}}

        if current is None and desired.get('status') == 'resolved':
            self.module.exit_json(**result)
        if current is None:
            fields = dict(desired)
            fields.setdefault('status', 'investigating')
            method, url, action = 'POST', self.collection, 'created'
            before, after = {}, dict((k, v) for k, v in fields.items() if k != 'name')
            predicted = dict({'id': None, 'impact': None, 'body': None, 'components': {}}, **fields)
        else:
            fields = incident_changes(current, desired)
            if not fields:
                self.module.exit_json(**result)
            method, url = 'PATCH', '%s/%s' % (self.collection, current['id'])
            action = 'resolved' if fields.get('status') == 'resolved' else 'updated'
            before = dict((k, copy.deepcopy(current.get(k))) for k in fields)
            after = dict(fields)
            predicted = dict(current, **fields)
            if 'components' in fields:
                predicted['components'] = dict(current.get('components') or {}, **fields['components'])

        body = build_payload(self.provider, fields, p['deliver_notifications'])
        result.update(changed=True, action=action, incident=predicted, diff={'before': before, 'after': after},
                      request={'method': method, 'url': scrub_url(url), 'body': body})
        if not self.module.check_mode:
            answer = self.call(method, url, body)
            if isinstance(answer, dict) and answer.get('incident') and isinstance(answer['incident'], dict):
                answer = answer['incident']
            if isinstance(answer, dict) and answer.get('id'):
                result['incident'] = normalise(self.provider, answer)
        self.module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            provider=dict(type='str', choices=['statuspage', 'generic'], default='statuspage'),
            api_url=dict(type='str'),
            api_key=dict(type='str', required=True, no_log=True),
            page_id=dict(type='str'),
            name=dict(type='str', required=True),
            state=dict(type='str', choices=['present', 'resolved'], default='present'),
            status=dict(type='str', choices=['investigating', 'identified', 'monitoring', 'resolved']),
            impact=dict(type='str', aliases=['impact_override']),
            body=dict(type='str'),
            components=dict(type='dict'),
            deliver_notifications=dict(type='bool'),
            timeout=dict(type='float', default=10),
            retries=dict(type='int', default=3),
            validate_certs=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    problems = validate(module.params)
    if problems:
        module.fail_json(msg='; '.join(problems))
    IncidentManager(module).run()


if __name__ == '__main__':
    main()
