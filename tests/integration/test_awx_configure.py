# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/awx_configure.yml with the real awx.awx modules against awx_stub.py, an in-memory
AWX v2 API on 127.0.0.1 (no live AWX is reachable here).

One apply on an empty controller creates every object with the payloads AWX expects (surveys,
injectors, workflow nodes and their links); then a check-mode run with one survey answer changed
predicts exactly that change and writes nothing (which also shows that everything else is
already converged).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dateutil.rrule import rrulestr

from awx_stub import AwxStub

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


def _load(name):
    class Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        pass
    Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))
    return yaml.load((REPO / 'awx' / name).read_text(), Loader=Loader)  # nosec - SafeLoader subclass


def _configure(stub, token, *args, secret=None, succeed=True):
    env = dict(os.environ, CONTROLLER_HOST=stub.url, CONTROLLER_OAUTH_TOKEN=token, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_NOCOLOR='1', PATH='%s:%s' % (BIN, os.environ['PATH']))
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'playbooks/awx_configure.yml', *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    for value in (token, secret):
        assert not value or value not in proc.stdout + proc.stderr, 'a secret was printed'
    assert (proc.returncode == 0) == succeed, proc.stdout[-4000:] + proc.stderr[-2000:]
    # The JSON callback's document, followed by the profile_tasks recap ansible.cfg enables.
    data = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index('{'):])[0]
    return {task['task']['name']: task['hosts']['localhost'] for task in data['plays'][0]['tasks']}


def _changed_items(result):
    return sorted(r['item']['name'] for r in result.get('results', []) if r.get('changed'))


def test_configure_creates_every_object_then_check_mode_predicts_one_survey_change(tmp_path):
    templates = _load('job_templates.yml')['aishield_awx_job_templates']
    workflow = _load('workflows.yml')['aishield_awx_workflows'][0]
    ctypes = _load('credential_types.yml')['aishield_awx_credential_types']
    token = 'tok-' + secrets.token_hex(12)
    s3_secret = 's3CANARY' + secrets.token_hex(12)
    settings = tmp_path / 'awx-settings.yml'
    settings.touch(mode=0o600)
    settings.write_text(yaml.safe_dump({'aishield_awx_credentials': [
        {'name': 'AI Shield S3 (test)', 'credential_type': 'AI Shield S3 backups',
         'inputs': {'bucket': 'aishield-backups', 'access_key': 'AKIATEST', 'secret_key': s3_secret}}]}))
    with AwxStub() as stub:
        state = stub.state
        _configure(stub, token, '-e', '@%s' % settings, secret=s3_secret)
        assert all(r['authorization'] == 'Bearer ' + token for r in state.requests)

        # The vaulted credential is created once and attached to exactly the templates that use S3.
        creds = list(state.objects['credentials'].values())
        assert len(creds) == 1 and creds[0]['inputs']['secret_key'] == s3_secret
        ctype_ids = {c['name']: c['id'] for c in state.objects['credential_types'].values()}
        assert creds[0]['credential_type'] == ctype_ids['AI Shield S3 backups']

        objects = state.objects
        assert [p['scm_url'] for p in objects['projects'].values()] == ['https://github.com/aishield/aishield.ops.git']
        # The project's first sync was awaited to its end before any job template was created.
        update = next(iter(objects['project_updates'].values()))
        assert update['status'] == 'successful' and update['polls'] >= 2, update
        paths = [(r['method'], r['path']) for r in state.requests]
        last_poll = max(i for i, (m, path) in enumerate(paths) if path == '/api/v2/project_updates/%d/' % update['id'])
        first_template = paths.index(('POST', '/api/v2/job_templates/'))
        first_source = paths.index(('POST', '/api/v2/inventory_sources/'))
        assert last_poll < first_source < first_template, paths
        sources = {s['source_path']: s for s in objects['inventory_sources'].values()}
        assert set(sources) == {'inventories/prod', 'inventories/fleet'} and {s['source'] for s in sources.values()} == {'scm'}
        inventories = {i['name']: i['id'] for i in objects['inventories'].values()}

        # Credential types: inputs and injectors reach AWX untemplated (AWX fills them in at launch).
        posted = {c['name']: c for c in objects['credential_types'].values()}
        assert set(posted) == {c['name'] for c in ctypes}
        s3 = posted['AI Shield S3 backups']
        assert s3['injectors']['extra_vars']['aishield_backup_s3_secret_key'] == '{{ secret_key }}'
        assert next(f for f in s3['inputs']['fields'] if f['id'] == 'secret_key')['secret'] is True

        # Job templates: playbook, tags and the survey as AWX stores it.
        jts = {j['name']: j for j in objects['job_templates'].values()}
        assert set(jts) == {t['name'] for t in templates}
        for template in templates:
            job = jts[template['name']]
            assert job['playbook'] == template['playbook'] and job.get('job_tags', '') == template.get('job_tags', '')
            assert job['survey_enabled'] == ('survey_spec' in template)
            if 'survey_spec' in template:
                assert state.surveys[('job_templates', job['id'])] == template['survey_spec']
            # The fleet templates run against the fleet inventory (groups db, app, lb), the others against production's.
            expected_inventory = 'AI Shield fleet' if template.get('inventory') == 'fleet' else 'AI Shield production'
            assert job['inventory'] == inventories[expected_inventory], template['name']
            attached = state.links.get(('job_templates', job['id'], 'credentials'), [])
            assert attached == ([creds[0]['id']] if 'AI Shield S3 backups' in template['credential_types'] else []), template['name']

        # Workflow: the survey, the approval template, and every declared link between nodes.
        wfjt = next(iter(objects['workflow_job_templates'].values()))
        assert state.surveys[('workflow_job_templates', wfjt['id'])] == workflow['survey_spec']
        nodes = {n['identifier']: n for n in objects['workflow_job_template_nodes'].values()
                 if n['workflow_job_template'] == wfjt['id']}
        assert set(nodes) == {n['identifier'] for n in workflow['workflow_nodes']}
        approval = next(iter(objects['workflow_approval_templates'].values()))
        assert nodes['approve']['unified_job_template'] == approval['id'] and approval['timeout'] == 14400
        assert nodes['deploy']['unified_job_template'] == jts['AI Shield deploy']['id']
        assert nodes['deploy']['extra_data'] == {'aishield_auto_rollback': 'false'}
        by_id = {n['id']: i for i, n in nodes.items()}
        for node in workflow['workflow_nodes']:
            for kind, targets in node.get('related', {}).items():
                linked = state.links.get(('workflow_job_template_nodes', nodes[node['identifier']]['id'], kind), [])
                assert sorted(by_id[i] for i in linked) == sorted(t['identifier'] for t in targets), (node['identifier'], kind)

        # Schedules: each launches its template at the runbook's cadence.
        schedules = {sc['name']: sc for sc in objects['schedules'].values()}
        assert set(schedules) == {sc['name'] for sc in _load('schedules.yml')['aishield_awx_schedules']}
        first_runs = {}
        for item in _load('schedules.yml')['aishield_awx_schedules']:
            posted = schedules[item['name']]
            assert posted['unified_job_template'] == jts[item['template']]['id'] and posted['enabled'] is True
            assert posted['rrule'].startswith('DTSTART;TZID=UTC:')
            rule = rrulestr(posted['rrule'].replace(';TZID=UTC', '').replace(' RRULE:', '\nRRULE:'))
            first_runs[item['template']] = [run.strftime('%a %d %H:%M') for run in rule[:3]]
        assert first_runs['AI Shield maintenance daily'] == ['Thu 01 07:00', 'Fri 02 07:00', 'Sat 03 07:00']
        assert first_runs['AI Shield maintenance weekly'] == ['Wed 07 06:00', 'Wed 14 06:00', 'Wed 21 06:00']
        assert [r.month for r in rrulestr(schedules['AI Shield DR drill (quarterly, 1st, 04:00)']['rrule']
                                          .replace(';TZID=UTC', '').replace(' RRULE:', '\nRRULE:'))[:4]] == [1, 4, 7, 10]
        assert first_runs['AI Shield maintenance monthly'] == ['Thu 01 05:00', 'Sun 01 05:00', 'Sun 01 05:00']

        # Check mode with one survey default changed: that template alone would change, nothing is written.
        awx_copy = tmp_path / 'awx'
        shutil.copytree(REPO / 'awx', awx_copy, ignore=shutil.ignore_patterns('__pycache__'))
        text = (awx_copy / 'job_templates.yml').read_text()
        assert text.count('choices: [rolling, recreate], default: rolling}') == 1
        changed = text.replace('choices: [rolling, recreate], default: rolling}', 'choices: [rolling, recreate], default: recreate}')
        (awx_copy / 'job_templates.yml').write_text(changed)
        writes = len(state.writes())
        results = _configure(stub, token, '--check', '-e', '_awx_dir=%s' % awx_copy, '-e', '@%s' % settings, secret=s3_secret)
        assert len(state.writes()) == writes, 'check mode wrote to the controller: %s' % state.writes()[writes:]
        assert _changed_items(results['Create the job templates with their surveys']) == ['AI Shield deploy']
        for task in ('Register the execution environment', 'Create the project (this repository)', 'Create the inventory',
                     'Source the inventory from the project'):
            assert not results[task].get('changed'), task
        assert _changed_items(results['Create the custom credential types']) == []
        assert not results['Create the credentials (secrets from the vault)'].get('changed')
        assert _changed_items(results['Create the release workflow']) == []
        assert _changed_items(results["Schedule the runbook's cadences"]) == []


def test_a_failed_project_sync_stops_before_any_job_template(tmp_path):
    """A fresh controller whose first sync fails: the run fails at the project, and creates no template."""
    token = 'tok-' + secrets.token_hex(12)
    with AwxStub(sync_result='failed') as stub:
        results = _configure(stub, token, succeed=False)
        assert results['Create the project (this repository)'].get('failed'), results
        assert 'Project update failed' in results['Create the project (this repository)'].get('msg', '')
        assert not stub.state.objects['job_templates'] and not stub.state.objects['schedules']
