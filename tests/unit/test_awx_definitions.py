# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""awx/*.yml: job templates, surveys, credential types and the release workflow are valid AWX
payloads and agree with the playbooks they drive (no live AWX here; see the README)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / 'awx'
SURVEY_TYPES = {'text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect'}


def _load_run_job():
    spec = importlib.util.spec_from_file_location('aishield_run_job', AWX / 'run_job.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_JOB = _load_run_job()
TEMPLATES = RUN_JOB.load_templates()
CREDENTIAL_TYPES = RUN_JOB.load_yaml(AWX / 'credential_types.yml')['aishield_awx_credential_types']
WORKFLOWS = RUN_JOB.load_yaml(AWX / 'workflows.yml')['aishield_awx_workflows']
BY_NAME = {t['name']: t for t in TEMPLATES}


def _playbook_text(relpath):
    """The playbook, the playbooks it imports, and the shared vars file every playbook loads."""
    path = REPO / relpath
    text = path.read_text(encoding='utf-8')
    for play in yaml.safe_load(text):
        target = play.get('ansible.builtin.import_playbook') or play.get('import_playbook')
        if target:
            text += _playbook_text(str((path.parent / target).relative_to(REPO)))
    return text + (REPO / 'playbooks' / 'vars' / 'aishield.yml').read_text(encoding='utf-8')


def _surveys():
    for item in TEMPLATES + WORKFLOWS:
        if item.get('survey_spec'):
            yield pytest.param(item, id=item['name'])


def test_every_job_named_in_the_issue_has_a_template():
    keys = {t['key'] for t in TEMPLATES}
    assert {'deploy', 'rollback', 'backup', 'restore', 'maintenance_daily', 'maintenance_weekly', 'dr_drill',
            'fleet_deploy', 'fleet_rollback'} <= keys
    assert len(keys) == len(TEMPLATES) and len(BY_NAME) == len(TEMPLATES), 'duplicate template key or name'
    assert {BY_NAME['AI Shield maintenance daily']['job_tags'], BY_NAME['AI Shield maintenance weekly']['job_tags']} == {'daily', 'weekly'}


@pytest.mark.parametrize('template', TEMPLATES, ids=[t['key'] for t in TEMPLATES])
def test_template_playbook_exists_and_credentials_are_known(template):
    assert (REPO / template['playbook']).is_file(), '%s runs %s, which does not exist' % (template['name'], template['playbook'])
    known = {c['name'] for c in CREDENTIAL_TYPES}
    assert set(template['credential_types']) <= known


@pytest.mark.parametrize('item', list(_surveys()))
def test_survey_spec_is_valid(item):
    """The rules AWX's survey_spec endpoint enforces, plus defaults that satisfy their own question."""
    spec = item['survey_spec']
    assert isinstance(spec.get('name'), str) and isinstance(spec.get('description'), str)
    assert isinstance(spec['spec'], list) and spec['spec']
    variables = [q['variable'] for q in spec['spec']]
    assert len(variables) == len(set(variables)), 'a variable is asked twice'
    for question in spec['spec']:
        assert question['type'] in SURVEY_TYPES
        assert question['question_name'] and isinstance(question['required'], bool)
        assert re.match(r'^[a-zA-Z_][a-zA-Z0-9_]*$', question['variable'])
        default = question.get('default', '')
        if question['type'] == 'multiplechoice':
            choices = question['choices']
            assert isinstance(choices, list) and all(isinstance(c, str) for c in choices) and len(choices) >= 2
            assert default in choices, '%s: default %r is not a choice' % (question['variable'], default)
        if question['type'] in ('text', 'textarea'):
            assert 0 <= question['min'] <= question['max']
            if default:
                assert question['min'] <= len(default) <= question['max']
            assert question['required'] == (question['min'] > 0), '%s: min > 0 only on a required text' % question['variable']


@pytest.mark.parametrize('template', [t for t in TEMPLATES if t.get('survey_spec')], ids=lambda t: t['key'])
def test_survey_variables_are_read_by_the_playbook(template):
    text = _playbook_text(template['playbook'])
    for question in template['survey_spec']['spec']:
        var = question['variable']
        assert var.startswith('aishield_'), '%s is not an inventory-level aishield_* variable' % var
        assert re.search(r'\b%s\b' % var, text), '%s asks %s, which %s never reads' % (template['name'], var, template['playbook'])


def test_multiplechoice_answers_are_what_the_playbooks_accept():
    deploy = {q['variable']: q for q in BY_NAME['AI Shield deploy']['survey_spec']['spec']}
    assert set(deploy['aishield_strategy']['choices']) == {'rolling', 'recreate'}
    specs = yaml.safe_load((REPO / 'roles' / 'compose_deploy' / 'meta' / 'argument_specs.yml').read_text())
    strategy = specs['argument_specs']['main']['options']['compose_deploy_strategy']
    assert set(strategy['choices']) == set(deploy['aishield_strategy']['choices'])
    rollback = {q['variable']: q for q in BY_NAME['AI Shield rollback']['survey_spec']['spec']}
    specs = yaml.safe_load((REPO / 'roles' / 'rollback' / 'meta' / 'argument_specs.yml').read_text())['argument_specs']['main']['options']
    assert set(rollback['aishield_rollback_mode']['choices']) == set(specs['rollback_mode']['choices'])
    assert set(rollback['aishield_rollback_db']['choices']) == set(specs['rollback_db']['choices'])


@pytest.mark.parametrize('ctype', CREDENTIAL_TYPES, ids=lambda c: c['name'])
def test_credential_type_injects_declared_fields_into_variables_the_playbooks_read(ctype):
    fields = {f['id']: f for f in ctype['inputs']['fields']}
    assert set(ctype['inputs']['required']) <= set(fields)
    assert set(ctype['injectors']) <= {'extra_vars', 'env', 'file'}
    every_playbook = ''.join(p.read_text(encoding='utf-8') for p in (REPO / 'playbooks').rglob('*.yml'))
    for kind, values in ctype['injectors'].items():
        for name, value in values.items():
            used = re.findall(r'\{\{\s*(\w+)\s*\}\}', value)
            assert used and set(used) <= set(fields), '%s.%s templates unknown fields %s' % (kind, name, used)
            if kind == 'extra_vars':
                assert re.search(r'\b%s\b' % name, every_playbook), '%s is injected but no playbook reads it' % name
            else:
                assert re.match(r'^[A-Z_][A-Z0-9_]*$', name)
    for field in fields.values():
        if re.search(r'password|secret|api_key|token', field['id']) or field['id'] == 'url' and 'webhook' in ctype['name']:
            assert field.get('secret') is True, '%s.%s must be secret' % (ctype['name'], field['id'])


def _graph(workflow):
    nodes = {n['identifier']: n for n in workflow['workflow_nodes']}
    assert len(nodes) == len(workflow['workflow_nodes']), 'duplicate node identifier'
    edges = {}
    for ident, node in nodes.items():
        for kind, targets in (node.get('related') or {}).items():
            assert kind in ('success_nodes', 'failure_nodes', 'always_nodes')
            for target in targets:
                assert target['identifier'] in nodes, '%s -> unknown node %s' % (ident, target['identifier'])
                edges.setdefault(ident, []).append((kind, target['identifier']))
    return nodes, edges


@pytest.mark.parametrize('workflow', WORKFLOWS, ids=lambda w: w['name'])
def test_workflow_nodes_reference_templates_and_prompt_only_surveyed_variables(workflow):
    nodes, edges = _graph(workflow)
    for node in nodes.values():
        ujt = node['unified_job_template']
        assert ujt['type'] in ('job_template', 'workflow_approval')
        if ujt['type'] == 'job_template':
            assert ujt['name'] in BY_NAME, 'node %s runs unknown template %s' % (node['identifier'], ujt['name'])
            surveyed = {q['variable'] for q in (BY_NAME[ujt['name']].get('survey_spec') or {}).get('spec', [])}
            # AWX rejects node extra_data for a template that neither surveys nor prompts for the variable.
            assert set(node.get('extra_data') or {}) <= surveyed

    # Acyclic: a depth-first walk never comes back to a node on its own path.
    def walk(ident, path):
        assert ident not in path, 'cycle through %s' % ident
        for _kind, target in edges.get(ident, []):
            walk(target, path | {ident})
    roots = set(nodes) - {t for targets in edges.values() for _k, t in targets}
    for root in roots:
        walk(root, set())


def test_release_workflow_approves_backs_up_deploys_and_ends_red_after_a_rollback():
    workflow = next(w for w in WORKFLOWS if w['name'] == 'AI Shield release')
    nodes, edges = _graph(workflow)
    kind_of = {i: n['unified_job_template'].get('name') for i, n in nodes.items()}
    roots = set(nodes) - {t for targets in edges.values() for _k, t in targets}
    assert [nodes[r]['unified_job_template']['type'] for r in roots] == ['workflow_approval']
    approve = roots.pop()
    backup = [t for k, t in edges[approve] if k == 'success_nodes']
    assert [kind_of[t] for t in backup] == ['AI Shield backup']
    deploy = [t for k, t in edges[backup[0]] if k == 'success_nodes']
    assert [kind_of[t] for t in deploy] == ['AI Shield deploy']
    on_failure = [t for k, t in edges[deploy[0]] if k == 'failure_nodes']
    assert [kind_of[t] for t in on_failure] == ['AI Shield rollback']
    after = [t for k, t in edges[on_failure[0]] if k in ('always_nodes',)]
    assert [kind_of[t] for t in after] == ['AI Shield release failed']
    # The deploy's own automatic rollback is off in the workflow: the rollback node owns it.
    assert nodes[deploy[0]]['extra_data']['aishield_auto_rollback'] == 'false'
    # The last node fails unconditionally, so the workflow shows red.
    play = yaml.safe_load((REPO / BY_NAME['AI Shield release failed']['playbook']).read_text())
    tasks = [t for p in play for t in p['tasks']]
    assert any('ansible.builtin.fail' in t and 'when' not in t for t in tasks)


def _set_stats_keys(playbook):
    """Keys a playbook (or a role task file under roles/) exports with set_stats: literal data, the task-level _stats
    vars, or the play variable the data names (fleet_end_stats, which tasks/fleet_end.yml exports for its caller)."""
    keys = set()

    def visit(tasks, base, play_vars):
        for task in tasks or []:
            for section in ('block', 'rescue', 'always'):
                visit(task.get(section), base, play_vars)
            imported = task.get('ansible.builtin.import_tasks') or ''
            if imported and '{{' not in imported:
                visit(yaml.safe_load((base / imported).read_text()), (base / imported).parent, play_vars)
            if 'ansible.builtin.set_stats' in task:
                data = task['ansible.builtin.set_stats']['data']
                named = re.fullmatch(r'\{\{\s*(\w+)\s*\}\}', data.strip()) if isinstance(data, str) else None
                if isinstance(data, dict):
                    keys.update(data)
                elif named and named.group(1) in play_vars:
                    keys.update(play_vars[named.group(1)])
                else:
                    keys.update((task.get('vars') or {}).get('_stats', {}))
                assert task['ansible.builtin.set_stats'].get('per_host') is False
    path = REPO / playbook if playbook.startswith('roles/') else REPO / 'playbooks' / playbook
    for item in yaml.safe_load(path.read_text()):
        if 'hosts' in item:
            visit(item.get('tasks'), path.parent, item.get('vars') or {})
        else:
            visit([item], path.parent, {})
    return keys


def test_set_stats_hand_over_what_the_next_nodes_read():
    # deploy.yml is the compose_deploy role, whose pipeline hands the release over in stats.yml.
    assert 'aishield.ops.compose_deploy' in _playbook_text('playbooks/deploy.yml')
    deploy = _set_stats_keys('roles/compose_deploy/tasks/stats.yml')
    assert {'aishield_release_id', 'aishield_previous_release', 'aishield_backup_key', 'aishield_release_status',
            'aishield_rollback_to'} <= deploy
    assert 'aishield_rollback_to' in _playbook_text('playbooks/rollback.yml'), 'the rollback node would ignore the target'
    rollback = _set_stats_keys('rollback.yml')
    assert {'aishield_rollback_status', 'aishield_rollback_release', 'aishield_rollback_from', 'aishield_rollback_backup_key'} <= rollback
    assert 'aishield_backup_key' in _set_stats_keys('backup.yml')
    failed = (REPO / 'playbooks' / 'awx_release_failed.yml').read_text()
    for name in ('aishield_release_id', 'aishield_release_status', 'aishield_rollback_status', 'aishield_rollback_release'):
        assert name in failed and name in deploy | rollback


FLEET_DEPLOY = BY_NAME['AI Shield fleet deploy']
FLEET_ROLLBACK = BY_NAME['AI Shield fleet rollback']
FLEET_RELEASE = next(w for w in WORKFLOWS if w['name'] == 'AI Shield fleet release')


def _questions(item):
    return {q['variable']: q for q in item['survey_spec']['spec']}


def test_fleet_templates_run_the_fleet_playbooks():
    assert (FLEET_DEPLOY['key'], FLEET_DEPLOY['playbook']) == ('fleet_deploy', 'playbooks/deploy_multihost.yml')
    assert (FLEET_ROLLBACK['key'], FLEET_ROLLBACK['playbook']) == ('fleet_rollback', 'playbooks/rollback_multihost.yml')
    # As the single-host deploy and rollback: the registry for preflight, S3 for the db host's backup, the messages.
    assert set(FLEET_DEPLOY['credential_types']) == set(BY_NAME['AI Shield deploy']['credential_types'])
    assert set(FLEET_ROLLBACK['credential_types']) == {'AI Shield status page', 'AI Shield chat webhook'}
    assert set(_questions(FLEET_DEPLOY)) == {'aishield_version', 'aishield_serial', 'aishield_max_fail_percentage',
                                             'aishield_fleet_on_failure'}
    assert set(_questions(FLEET_ROLLBACK)) == {'aishield_serial', 'aishield_rollback_reason'}


def _fleet_check(playbook, pattern):
    """A value the first play's input check of a fleet playbook accepts (its regex or its list of choices)."""
    match = re.search(pattern, (REPO / 'playbooks' / playbook).read_text())
    assert match, '%s no longer checks %s' % (playbook, pattern)
    return match.group(1)


def test_fleet_survey_answers_are_what_the_fleet_playbooks_accept():
    choices = _fleet_check('deploy_multihost.yml', r"aishield_fleet_on_failure \| default\('rollback'\) in \[([^\]]*)\]")
    assert set(_questions(FLEET_DEPLOY)['aishield_fleet_on_failure']['choices']) == set(re.findall(r"'(\w+)'", choices))
    for playbook in ('deploy_multihost.yml', 'rollback_multihost.yml'):
        serial = _fleet_check(playbook, r"\(aishield_serial \| default\(1\) \| string\) is match\('([^']*)'\)")
        for item in (FLEET_DEPLOY, FLEET_ROLLBACK, FLEET_RELEASE):
            question = _questions(item)['aishield_serial']
            assert re.match(serial, question['default']), (item['name'], question['default'])
            # The longest answer the playbook takes fits the question.
            assert question['max'] >= len('100%') and re.match(serial, '100%') and not re.match(serial, '0')
    fail_pct = _fleet_check('deploy_multihost.yml',
                            r"\(aishield_max_fail_percentage \| default\(0\) \| string\) is match\('([^']*)'\)")
    for item in (FLEET_DEPLOY, FLEET_RELEASE):
        question = _questions(item)['aishield_max_fail_percentage']
        assert question['type'] == 'integer' and question['default'] == 0
        assert all(re.match(fail_pct, str(n)) for n in (question['min'], question['max']))
        assert not re.match(fail_pct, str(question['max'] + 1))


def test_fleet_release_workflow_approves_deploys_and_rolls_back_only_the_hosts_the_deploy_switched():
    nodes, edges = _graph(FLEET_RELEASE)
    kind_of = {i: n['unified_job_template'].get('name') for i, n in nodes.items()}
    roots = set(nodes) - {t for targets in edges.values() for _k, t in targets}
    assert [nodes[r]['unified_job_template']['type'] for r in roots] == ['workflow_approval']
    approve = roots.pop()
    assert [(k, kind_of[t]) for k, t in edges[approve]] == [('success_nodes', 'AI Shield fleet deploy')]
    deploy = edges[approve][0][1]
    assert [(k, kind_of[t]) for k, t in edges[deploy]] == [('failure_nodes', 'AI Shield fleet rollback')]
    rollback = edges[deploy][0][1]
    assert [(k, kind_of[t]) for k, t in edges[rollback]] == [('always_nodes', 'AI Shield release failed')]
    assert not edges.get(edges[rollback][0][1]), 'release failed is the last node'
    # The workflow owns the rollback: the deploy node stops after a failed host instead of rolling back itself.
    assert nodes[deploy]['extra_data'] == {'aishield_fleet_on_failure': 'stop'}
    assert 'stop' in _questions(FLEET_DEPLOY)['aishield_fleet_on_failure']['choices']
    assert len(nodes[rollback]['extra_data']['aishield_rollback_reason']) >= _questions(FLEET_ROLLBACK)['aishield_rollback_reason']['min']
    # Workflow variables override node answers and artifacts: the survey must not ask what the nodes hand over.
    asked = set(_questions(FLEET_RELEASE))
    assert not asked & {'aishield_fleet_on_failure', 'aishield_fleet_rollback_to'}, asked
    assert asked <= set(_questions(FLEET_DEPLOY)), 'the workflow asks what the deploy does not read'


def test_fleet_set_stats_hand_the_rollback_node_the_hosts_the_deploy_switched():
    deploy = _set_stats_keys('deploy_multihost.yml')
    assert {'aishield_fleet_rollback_to', 'aishield_fleet_status', 'aishield_release_id', 'aishield_release_version',
            'aishield_release_status'} <= deploy
    assert re.search(r'\baishield_fleet_rollback_to\b', _playbook_text(FLEET_ROLLBACK['playbook'])), \
        'the fleet rollback node would ignore the hosts the deploy switched'
    # Before any check: a run refused early (bad input, a busy fleet) hands over an empty plan, so the rollback node
    # changes no host (without one it would take every app host back).
    first = yaml.safe_load((REPO / 'playbooks' / 'deploy_multihost.yml').read_text())[0]['tasks'][0]
    assert first['ansible.builtin.set_stats']['data'] == {'aishield_fleet_rollback_to': {}}
    assert first['ansible.builtin.set_stats']['aggregate'] is False
    # fleet_end.yml exports before it fails the run: AWX hands a failed job's artifacts to its failure node.
    end = [t['name'] for t in yaml.safe_load((REPO / 'playbooks' / 'tasks' / 'fleet_end.yml').read_text())]
    assert end.index('Hand the run\'s outcome to the next workflow node (set_stats)') < end.index('End the run red when a host did not finish')
    rollback = _set_stats_keys('rollback_multihost.yml')
    assert {'aishield_rollback_status', 'aishield_rollback_release', 'aishield_fleet_rolled_back'} <= rollback
    assert 'aishield_fleet_rollback_to' not in rollback, 'only a deploy hands over a rollback plan'
    failed = (REPO / 'playbooks' / 'awx_release_failed.yml').read_text()
    for name in ('aishield_release_id', 'aishield_release_status', 'aishield_rollback_status', 'aishield_rollback_release'):
        assert name in failed and name in deploy | rollback


def test_molecule_runs_the_fleet_rollback_with_answers_its_survey_accepts():
    """molecule/multihost drives a fleet run through awx/run_job.py: its answers pass the template's survey."""
    plays = yaml.safe_load((REPO / 'molecule' / 'multihost' / 'converge.yml').read_text())
    runs = [t['vars'] for p in plays for t in p.get('tasks', []) if 'run_job' in (t.get('vars') or {})]
    assert 'fleet_rollback' in [r['run_job'] for r in runs]
    for run in runs:
        template = RUN_JOB.find_template(TEMPLATES, run['run_job'])
        assert RUN_JOB.survey_answers(template, run['run_vars'])


def test_survey_answers_are_checked_like_an_awx_launch():
    deploy = BY_NAME['AI Shield deploy']
    answers = RUN_JOB.survey_answers(deploy, {'aishield_version': 'v2'})
    assert answers == {'aishield_version': 'v2', 'aishield_strategy': 'rolling', 'aishield_auto_rollback': 'true',
                       'aishield_backup_skip': 'false', 'aishield_backup_skip_reason': ''}
    assert RUN_JOB.survey_answers(deploy, {'aishield_version': 'v2', 'aishield_backup_skip': True})['aishield_backup_skip'] == 'true'
    with pytest.raises(RUN_JOB.JobError, match='aishield_version is required'):
        RUN_JOB.survey_answers(deploy, {})
    with pytest.raises(RUN_JOB.JobError, match='aishield_strategy must be one of rolling, recreate'):
        RUN_JOB.survey_answers(deploy, {'aishield_version': 'v2', 'aishield_strategy': 'blue-green'})
    with pytest.raises(RUN_JOB.JobError, match='aishield_rollback_reason must be 5 to 200'):
        RUN_JOB.survey_answers(BY_NAME['AI Shield rollback'], {'aishield_rollback_reason': 'no'})
    assert RUN_JOB.survey_answers(FLEET_DEPLOY, {'aishield_version': 'v2', 'aishield_serial': '50%'}) == {
        'aishield_version': 'v2', 'aishield_serial': '50%', 'aishield_max_fail_percentage': 0, 'aishield_fleet_on_failure': 'rollback'}
    with pytest.raises(RUN_JOB.JobError, match='aishield_fleet_on_failure must be one of rollback, stop'):
        RUN_JOB.survey_answers(FLEET_DEPLOY, {'aishield_version': 'v2', 'aishield_fleet_on_failure': 'ignore'})
    assert RUN_JOB.survey_answers(FLEET_ROLLBACK, {'aishield_rollback_reason': 'the fleet deploy failed'}) == {
        'aishield_serial': '1', 'aishield_rollback_reason': 'the fleet deploy failed'}
    with pytest.raises(RUN_JOB.JobError, match='aishield_rollback_reason is required'):
        RUN_JOB.survey_answers(FLEET_ROLLBACK, {})


def test_run_job_refuses_secrets_on_the_command_line_and_masks_them(tmp_path, capsys):
    assert RUN_JOB.main(['deploy', '-e', 'aishield_backup_s3_secret_key=abc']) == 2
    assert 'put it in a 0600 file' in capsys.readouterr().err
    found = RUN_JOB.secret_values({'aishield_secrets': {'POSTGRES_PASSWORD': 'pw-123456'}, 'aishield_version': 'v1',
                                   'aishield_chat_webhook_url': 'https://hooks/x'})
    assert found == {'pw-123456', 'https://hooks/x'}
    assert RUN_JOB.Masker(found)('login pw-123456 ok') == 'login ******** ok'
    pdd = RUN_JOB.prepare(tmp_path / 'pdd', BY_NAME['AI Shield maintenance daily'], REPO / 'inventories' / 'local',
                          {'aishield_secrets': {'POSTGRES_PASSWORD': 'pw-123456'}})
    assert (pdd / 'env' / 'extravars').stat().st_mode & 0o777 == 0o600
    assert (pdd / 'env' / 'cmdline').read_text() == '--tags daily'
    assert (pdd / 'project').resolve() == REPO
