# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.module_utils._http import HttpResponse
from ansible_collections.aishield.ops.plugins.modules import statuspage_incident
from ansible_collections.aishield.ops.plugins.modules.statuspage_incident import (
    build_payload, desired_fields, incident_changes, normalise, pick_incident, validate,
)

KEY = 'sp-key-0123456789abcdef'


def params(**overrides):
    base = {'provider': 'statuspage', 'api_url': None, 'api_key': KEY, 'page_id': 'pg1', 'name': 'Deploy',
            'state': 'present', 'status': None, 'impact': None, 'body': None, 'components': None,
            'deliver_notifications': None, 'timeout': 10, 'retries': 3, 'validate_certs': True}
    base.update(overrides)
    return base


@pytest.mark.parametrize('overrides, expected', [
    ({}, {'name': 'Deploy'}),
    ({'status': 'identified', 'impact': 'minor', 'body': 'b'},
     {'name': 'Deploy', 'status': 'identified', 'impact': 'minor', 'body': 'b'}),
    ({'state': 'resolved'}, {'name': 'Deploy', 'status': 'resolved'}),
    ({'state': 'resolved', 'status': 'monitoring'}, {'name': 'Deploy', 'status': 'resolved'}),
    ({'status': 'resolved'}, {'name': 'Deploy', 'status': 'resolved'}),
    ({'components': {'c1': 'major_outage'}}, {'name': 'Deploy', 'components': {'c1': 'major_outage'}}),
])
def test_desired_fields(overrides, expected):
    assert desired_fields(params(**overrides)) == expected


@pytest.mark.parametrize('provider, raw, expected', [
    ('statuspage',
     {'id': 'i1', 'name': 'n', 'status': 'identified', 'impact': 'major', 'impact_override': None,
      'incident_updates': [{'body': 'old', 'created_at': '2025-01-01T00:00:00Z'},
                           {'body': 'new', 'created_at': '2025-01-02T00:00:00Z'}],
      'components': [{'id': 'c1', 'status': 'partial_outage', 'name': 'API'}], 'shortlink': 'https://stspg.io/x'},
     {'id': 'i1', 'name': 'n', 'status': 'identified', 'impact': 'major', 'body': 'new',
      'components': {'c1': 'partial_outage'}, 'shortlink': 'https://stspg.io/x'}),
    ('statuspage',
     {'id': 'i2', 'name': 'n', 'status': 'investigating', 'impact': 'none', 'impact_override': 'minor', 'body': 'b',
      'components': {'c1': 'operational'}, 'created_at': 't0'},
     {'id': 'i2', 'name': 'n', 'status': 'investigating', 'impact': 'minor', 'body': 'b',
      'components': {'c1': 'operational'}, 'created_at': 't0'}),
    ('generic', {'id': 7, 'name': 'n', 'status': 'investigating', 'impact': 'partial', 'message': 'm'},
     {'id': 7, 'name': 'n', 'status': 'investigating', 'impact': 'partial', 'body': 'm', 'components': {}}),
])
def test_normalise(provider, raw, expected):
    assert normalise(provider, raw) == expected


@pytest.mark.parametrize('incidents, expected_id, count', [
    ([], None, 0),
    ([{'id': 'a', 'name': 'Other', 'status': 'investigating'}], None, 0),
    ([{'id': 'a', 'name': 'Deploy', 'status': 'resolved'}], None, 0),
    ([{'id': 'a', 'name': 'deploy', 'status': 'investigating'}], None, 0),
    ([{'id': 'a', 'name': 'Deploy', 'status': 'monitoring'}], 'a', 1),
    ([{'id': 'a', 'name': 'Deploy', 'status': 'identified', 'created_at': '2025-01-01'},
      {'id': 'b', 'name': 'Deploy', 'status': 'identified', 'created_at': '2025-02-01'}], 'b', 2),
])
def test_pick_incident(incidents, expected_id, count):
    found, matched = pick_incident(incidents, 'Deploy')
    assert (found and found['id'], matched) == (expected_id, count)


CURRENT = {'id': 'i1', 'name': 'Deploy', 'status': 'identified', 'impact': 'minor', 'body': 'working on it',
           'components': {'c1': 'degraded_performance', 'c2': 'operational'}}


@pytest.mark.parametrize('desired, expected', [
    ({'name': 'Deploy'}, {}),
    ({'name': 'Deploy', 'status': 'identified', 'impact': 'minor', 'body': 'working on it'}, {}),
    ({'name': 'Deploy', 'status': 'monitoring'}, {'status': 'monitoring'}),
    ({'name': 'Deploy', 'status': 'monitoring', 'body': 'working on it'},
     {'status': 'monitoring', 'body': 'working on it'}),
    ({'name': 'Deploy', 'body': 'new text'}, {'body': 'new text'}),
    ({'name': 'Deploy', 'impact': 'major'}, {'impact': 'major'}),
    ({'name': 'Deploy', 'components': {'c1': 'degraded_performance'}}, {}),
    ({'name': 'Deploy', 'components': {'c1': 'operational'}}, {'components': {'c1': 'operational'}}),
    ({'name': 'Deploy', 'components': {'c3': 'operational'}}, {'components': {'c3': 'operational'}}),
    ({'name': 'Deploy', 'status': 'resolved', 'components': {'c1': 'operational', 'c2': 'operational'}},
     {'status': 'resolved', 'components': {'c1': 'operational', 'c2': 'operational'}}),
])
def test_incident_changes(desired, expected):
    assert incident_changes(CURRENT, desired) == expected


@pytest.mark.parametrize('provider, fields, notify, expected', [
    ('statuspage', {'name': 'n', 'status': 'investigating', 'impact': 'minor'}, None,
     {'incident': {'name': 'n', 'status': 'investigating', 'impact_override': 'minor'}}),
    ('statuspage', {'components': {'b': 'operational', 'a': 'major_outage'}}, False,
     {'incident': {'components': {'b': 'operational', 'a': 'major_outage'}, 'component_ids': ['a', 'b'],
                   'deliver_notifications': False}}),
    ('generic', {'name': 'n', 'status': 'resolved', 'impact': 'none'}, True,
     {'name': 'n', 'status': 'resolved', 'impact': 'none'}),
])
def test_build_payload(provider, fields, notify, expected):
    assert build_payload(provider, fields, notify) == expected


@pytest.mark.parametrize('overrides, problems', [
    ({}, []),
    ({'page_id': None}, ['page_id is required with provider=statuspage']),
    ({'impact': 'partial'}, ["impact must be one of none, minor, major, critical for Statuspage, got 'partial'"]),
    ({'provider': 'generic', 'impact': 'partial', 'api_url': 'http://127.0.0.1:1'}, []),
    ({'provider': 'generic', 'page_id': None}, ['api_url is required with provider=generic']),
    ({'api_url': 'ftp://x'}, ['api_url must start with http:// or https://']),
    ({'components': {'c1': 'broken'}}, ["component c1: status must be one of operational, degraded_performance, "
                                        "partial_outage, major_outage, under_maintenance, got 'broken'"]),
    ({'retries': 11}, ['retries must be between 0 and 10']),
])
def test_validate(overrides, problems):
    assert validate(params(**overrides)) == problems


class FakeAPI(object):
    """A tiny in-memory Statuspage/generic API standing in for http_request."""

    def __init__(self, provider='statuspage', incidents=None, fail_with=None):
        self.provider = provider
        self.incidents = incidents or []
        self.calls = []
        self.fail_with = fail_with

    def __call__(self, method, url, headers=None, json_body=None, **_kwargs):
        self.calls.append((method, url, json_body, dict(headers or {})))
        if self.fail_with:
            return HttpResponse(self.fail_with, {}, b'{"error": "nope"}', 1.0)
        fields = (json_body or {}).get('incident', json_body) if self.provider == 'statuspage' else json_body
        if method == 'GET':
            return self._json(200, [i for i in self.incidents if i['status'] != 'resolved'])
        if method == 'POST':
            incident = dict(fields, id='new%d' % len(self.incidents))
            self.incidents.append(incident)
            return self._json(201, incident)
        incident_id = url.rsplit('/', 1)[1]
        for incident in self.incidents:
            if incident['id'] == incident_id:
                incident.update(fields)
                return self._json(200, incident)
        return self._json(404, {'error': 'missing'})

    @staticmethod
    def _json(status, data):
        return HttpResponse(status, {'Content-Type': 'application/json'}, json.dumps(data).encode(), 1.0)

    def mutations(self):
        return [c for c in self.calls if c[0] != 'GET']


@pytest.fixture
def api(monkeypatch):
    def install(**kwargs):
        fake = FakeAPI(**kwargs)
        monkeypatch.setattr(statuspage_incident, 'http_request', fake)
        return fake
    return install


def run_module(args, capsys, check_mode=False):
    args = dict(args, _ansible_check_mode=check_mode)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            statuspage_incident.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


SP_ARGS = {'api_key': KEY, 'page_id': 'pg1', 'name': 'Deploy 1.4', 'status': 'identified', 'impact': 'minor',
           'body': 'deploying', 'components': {'c1': 'under_maintenance'}}


def test_statuspage_lifecycle(api, capsys):
    fake = api()
    rc, result = run_module(SP_ARGS, capsys, check_mode=True)
    assert rc == 0 and result['changed'] and result['action'] == 'created' and fake.mutations() == []
    assert result['request'] == {
        'method': 'POST', 'url': 'https://api.statuspage.io/v1/pages/pg1/incidents',
        'body': {'incident': {'name': 'Deploy 1.4', 'status': 'identified', 'impact_override': 'minor',
                              'body': 'deploying', 'components': {'c1': 'under_maintenance'},
                              'component_ids': ['c1']}}}
    assert fake.calls[0][1] == 'https://api.statuspage.io/v1/pages/pg1/incidents/unresolved?per_page=100'
    assert fake.calls[0][3]['Authorization'] == 'OAuth ' + KEY

    rc, created = run_module(SP_ARGS, capsys)
    assert rc == 0 and created['changed'] and created['action'] == 'created'
    assert created['incident']['id'] == 'new0' and len(fake.mutations()) == 1
    assert created['diff'] == {'before': {}, 'after': {'status': 'identified', 'impact': 'minor', 'body': 'deploying',
                                                       'components': {'c1': 'under_maintenance'}}}

    rc, again = run_module(SP_ARGS, capsys)
    assert rc == 0 and not again['changed'] and again['action'] == 'none' and len(fake.mutations()) == 1
    assert 'request' not in again and again['incident']['id'] == 'new0'

    rc, update = run_module(dict(SP_ARGS, status='monitoring'), capsys)
    assert update['action'] == 'updated' and update['request']['method'] == 'PATCH'
    assert update['request']['body'] == {'incident': {'status': 'monitoring', 'body': 'deploying'}}
    assert update['diff'] == {'before': {'status': 'identified', 'body': 'deploying'},
                              'after': {'status': 'monitoring', 'body': 'deploying'}}

    resolve_args = dict(SP_ARGS, state='resolved', body='done', components={'c1': 'operational'})
    rc, check = run_module(resolve_args, capsys, check_mode=True)
    assert check['action'] == 'resolved' and check['incident']['status'] == 'resolved' and len(fake.mutations()) == 2

    rc, resolved = run_module(resolve_args, capsys)
    assert resolved['changed'] and resolved['action'] == 'resolved' and resolved['incident']['status'] == 'resolved'
    assert resolved['request']['url'] == 'https://api.statuspage.io/v1/pages/pg1/incidents/new0'

    rc, after = run_module(resolve_args, capsys)
    assert rc == 0 and not after['changed'] and after['action'] == 'none' and after['incident'] == {}
    assert len(fake.mutations()) == 3
    assert KEY not in capsys.readouterr().out


def test_generic_provider_uses_bearer_and_plain_bodies(api, capsys):
    fake = api(provider='generic')
    args = {'provider': 'generic', 'api_url': 'http://127.0.0.1:9/', 'api_key': KEY, 'name': 'Rollback',
            'status': 'investigating', 'impact': 'partial'}
    rc, result = run_module(args, capsys)
    assert rc == 0 and result['action'] == 'created'
    method, url, body, headers = fake.mutations()[0]
    assert (method, url, body) == ('POST', 'http://127.0.0.1:9/api/incidents',
                                   {'name': 'Rollback', 'status': 'investigating', 'impact': 'partial'})
    assert headers['Authorization'] == 'Bearer ' + KEY
    rc, result = run_module(dict(args, state='resolved'), capsys)
    assert result['request'] == {'method': 'PATCH', 'url': 'http://127.0.0.1:9/api/incidents/new0',
                                 'body': {'status': 'resolved'}}


def test_newest_duplicate_is_managed_with_warning(api, capsys, monkeypatch):
    # Record warnings directly: once controller code is imported, Ansible routes them to Display instead.
    warnings = []
    monkeypatch.setattr(statuspage_incident.AnsibleModule, 'warn', lambda _self, msg: warnings.append(msg))
    api(incidents=[{'id': 'old', 'name': 'Deploy 1.4', 'status': 'identified', 'created_at': '2025-01-01'},
                   {'id': 'new', 'name': 'Deploy 1.4', 'status': 'identified', 'created_at': '2025-03-01'}])
    rc, result = run_module({'api_key': KEY, 'page_id': 'pg1', 'name': 'Deploy 1.4', 'status': 'monitoring'}, capsys)
    assert result['incident']['id'] == 'new' and result['request']['url'].endswith('/incidents/new')
    assert warnings == ["2 unresolved incidents are named 'Deploy 1.4'; managing the newest (new)"]


def test_resolve_without_open_incident_creates_nothing(api, capsys):
    fake = api()
    rc, result = run_module({'api_key': KEY, 'page_id': 'pg1', 'name': 'Nothing', 'state': 'resolved'}, capsys)
    assert rc == 0 and result['action'] == 'none' and not result['changed'] and fake.mutations() == []


@pytest.mark.parametrize('status, fragment', [(401, 'answered HTTP 401'), (500, 'answered HTTP 500')])
def test_api_errors_are_one_line_without_key(api, capsys, status, fragment):
    api(fail_with=status)
    rc, result = run_module({'api_key': KEY, 'page_id': 'pg1', 'name': 'x', 'retries': 0}, capsys)
    assert rc == 1 and fragment in result['msg'] and '\n' not in result['msg'] and KEY not in json.dumps(result)
    assert result['msg'].startswith('statuspage API: GET https://api.statuspage.io/v1/pages/pg1/incidents/unresolved')
