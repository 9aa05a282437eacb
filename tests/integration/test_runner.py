# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Job templates driven the way AWX drives them: ansible_runner.run() with a private data dir
(env/extravars = the survey answers and secrets, inventory/, project/ = this checkout), through
awx/run_job.py, against this machine's Docker engine with a private project, root and ports.

Every job runs at -vvv with canaries planted as the database password and the other secrets,
the S3 secret key, the registry password, the status-page key and the chat webhook URL (its
token); none may appear in any artifact: not in the event stream (which holds every task's
result, at any verbosity), not in stdout, not in the recorded command line and environment,
not in the printed progress, not in the private data dir once the job ended. After the jobs no
file written while they ran holds one (in the temp directories, the private data dirs, ~/.docker,
~/.ansible), the release's 0600 .env aside. Notifications go to a private receiver that requires the key.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import files_holding, free_port, http_json, start_receiver, stop_process

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _load_run_job():
    spec = importlib.util.spec_from_file_location('aishield_run_job', REPO / 'awx' / 'run_job.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_JOB = _load_run_job()


class Job(object):
    def __init__(self, runner, progress, printed, pdd):
        self.runner = runner
        self.progress = progress
        self.printed = printed
        self.pdd = pdd
        self.events = list(runner.events)

    def roles(self):
        return {e['event_data'].get('role') for e in self.events if e['event'] == 'playbook_on_task_start'} - {None, ''}

    def stats(self):
        return next(e['event_data'] for e in self.events if e['event'] == 'playbook_on_stats')

    def task_names(self):
        return [e['event_data'].get('task') for e in self.events if e['event'] == 'playbook_on_task_start']

    def assert_no_secret(self, canary):
        """No planted value in the private data dir (artifacts, and env/ once the job ended), nor in what run_job printed."""
        assert not (self.pdd / 'env' / 'extravars').exists(), 'env/extravars (every secret) outlived the job'
        hits = sorted((os.path.relpath(path, str(self.pdd)), name) for path, name in files_holding(canary, [self.pdd]))
        assert not hits, 'planted secrets (file, which) left in the private data dir: %s' % hits
        for name, value in canary.items():
            assert value not in self.printed, 'the planted %s was printed by run_job' % name


@pytest.fixture(scope='module')
def job_env(tmp_path_factory):
    """Unique project, root and ports; survey answers and secrets the way AWX would supply them."""
    tmp = tmp_path_factory.mktemp('runner')
    # Files whose inode changed since here are the ones the jobs may have written (the margin: coarse fs clocks).
    started = time.time() - 2
    app_secrets = {'POSTGRES_PASSWORD': 'pgCANARY' + secrets.token_hex(8), 'SECRET_KEY': 'skCANARY' + secrets.token_hex(16),
                   'ADMIN_PASSWORD': 'adCANARY' + secrets.token_hex(8)}
    canary = dict(app_secrets, s3_secret_key='s3CANARY' + secrets.token_hex(12), registry_password='rgCANARY' + secrets.token_hex(8),
                  statuspage_key='spCANARY' + secrets.token_hex(8), webhook_token='whCANARY' + secrets.token_hex(8))
    receiver, receiver_url = start_receiver(canary['statuspage_key'])
    token = secrets.token_hex(3)
    project = 'aishield-rj-' + token
    # The p95 gate is the smoke test's own business (test_deploy_local, molecule); here it would only
    # measure how busy the shared CI machine is, not the runner contract this file checks.
    base = {'aishield_root': str(tmp / 'root'), 'aishield_project': project, 'aishield_http_port': free_port(),
            'aishield_frontend_port': free_port(), 'aishield_secrets': app_secrets, 'aishield_smoke_max_p95_ms': 20000,
            # moto and the test bed's registry accept any credentials: these are here to be leaked, or not.
            'aishield_backup_s3_secret_key': canary['s3_secret_key'],
            'aishield_registry_username': 'runner', 'aishield_registry_password': canary['registry_password'],
            'aishield_statuspage_provider': 'statuspage', 'aishield_statuspage_api_url': receiver_url + '/v1',
            'aishield_statuspage_page_id': 'pg-runner', 'aishield_statuspage_api_key': canary['statuspage_key'],
            'aishield_chat_webhook_url': '%s/hooks/runner/%s' % (receiver_url, canary['webhook_token']),
            'aishield_report_webhook_url': '%s/hooks/runner-report/%s' % (receiver_url, canary['webhook_token']),
            # Own backup prefix: "the newest backup" the restore and the drill look for must be this module's.
            'aishield_backup_prefix': 'it-runner-' + token}
    counter = {'n': 0}

    def run(key, **answers):
        counter['n'] += 1
        template = RUN_JOB.find_template(RUN_JOB.load_templates(), key)
        out = io.StringIO()
        pdd = tmp / ('pdd-%d-%s' % (counter['n'], key))
        runner, progress = RUN_JOB.run(template, str(REPO / 'inventories' / 'local'), dict(base, **answers), str(pdd), out=out,
                                       verbosity=3)
        printed = out.getvalue() + RUN_JOB.summary(runner, progress, template)
        return Job(runner, progress, printed, pdd)

    yield {'run': run, 'canary': canary, 'root': Path(base['aishield_root']), 'project': project, 'tmp': tmp, 'token': token,
           'prefix': base['aishield_backup_prefix'], 'receiver_url': receiver_url, 'started': started, 'jobs': counter}
    stop_process(receiver)
    for name in (project, 'aishield-rjd-' + token):
        subprocess.run(['docker', 'compose', '-p', name, 'down', '-v', '--remove-orphans'], capture_output=True, timeout=180,
                       check=False)


def test_deploy_survey_guard_refuses_a_skipped_backup_without_reason(job_env):
    job = job_env['run']('deploy', aishield_version='v1', aishield_backup_skip='true', aishield_backup_skip_reason='')
    assert job.runner.status == 'failed' and job.runner.rc != 0
    assert 'aishield_backup_skip_reason is empty or shorter than 10 characters' in job.printed
    assert job.task_names() == ['Refuse to skip the backup without a reason'], 'the deploy went on after the guard'
    assert not job_env['root'].exists(), 'the refused deploy changed something'
    job.assert_no_secret(job_env['canary'])


def test_deploy_template_deploys_v1_and_hands_the_release_to_the_next_node(job_env):
    job = job_env['run']('deploy', aishield_version='v1', aishield_strategy='rolling')
    assert job.runner.status == 'successful' and job.runner.rc == 0, job.printed[-3000:]
    # The pipeline's roles ran, in a job that AWX would show green.
    assert {'preflight', 'compose_deploy', 'backup', 'migration', 'smoke_test'} <= job.roles(), job.roles()
    stats = job.stats()
    assert stats['changed'].get('localhost', 0) > 0 and not stats['failures'] and not stats['dark']
    # set_stats artifacts: what the workflow's next node receives as extra vars.
    release = json.loads((job_env['root'] / 'current' / 'release.json').read_text())
    artifacts = stats['artifact_data']
    assert artifacts['aishield_release_id'] == release['release_id'] and release['status'] == 'good'
    assert artifacts['aishield_release_status'] == 'good' and artifacts['aishield_release_version'] == 'v1'
    assert artifacts['aishield_backup_key'] == release['backup']['key'] and artifacts['aishield_backup_key'].startswith(job_env['prefix'] + '/')
    assert artifacts['aishield_previous_release'] == '' and artifacts['aishield_rollback_to'] == ''
    assert artifacts['aishield_releases']['localhost']['aishield_release_id'] == release['release_id']
    assert 'aishield_release_id' in job.printed and 'SUMMARY AI Shield deploy: successful (rc 0)' in job.printed
    assert 'TASK  [smoke_test]' in job.printed  # per-task progress from the event stream
    # The planted status-page key and webhook URL were used (the receiver refuses a wrong key), so their absence below means something.
    status, received = http_json('GET', job_env['receiver_url'] + '/_received')
    paths = [r['path'] for r in received]
    assert status == 200 and any(p.startswith('/v1/pages/pg-runner/incidents') for p in paths), paths
    assert any(job_env['canary']['webhook_token'] in p for p in paths), paths
    job.assert_no_secret(job_env['canary'])


def test_backup_template_exports_its_key(job_env):
    job = job_env['run']('backup')
    assert job.runner.status == 'successful', job.printed[-3000:]
    assert job.roles() == {'backup'}
    key = job.stats()['artifact_data']['aishield_backup_key']
    assert key.startswith(job_env['prefix'] + '/aishield/') and key.endswith('.dump')
    job_env['backup_key'] = key
    stdout = next((job.pdd / 'artifacts').glob('*/stdout')).read_text(encoding='utf-8')
    assert 'aishield_restore_key=%s' % key in stdout  # the same key the playbook tells a human
    job.assert_no_secret(job_env['canary'])


def _psql(job_env, sql, db='aishield'):
    return subprocess.run(['docker', 'exec', job_env['project'] + '-db-1', 'psql', '-U', 'aishield', '-d', db, '-tAc', sql],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_preflight_template_checks_and_changes_nothing(job_env):
    job = job_env['run']('preflight', aishield_version='v1')
    assert job.runner.status == 'successful', job.printed[-3000:]
    assert job.roles() == {'preflight'}, job.roles()
    stats = job.stats()
    assert not stats['changed'] and not stats['failures'], stats
    job.assert_no_secret(job_env['canary'])


def test_restore_template_into_scratch_leaves_live_alone(job_env):
    release = (job_env['root'] / 'current' / 'release.json').read_text()
    live_users = _psql(job_env, 'SELECT count(*) FROM users')
    job = job_env['run']('restore', aishield_restore_key=job_env['backup_key'], aishield_restore_target='scratch')
    assert job.runner.status == 'successful', job.printed[-3000:]
    assert 'Restore the backup (sha256 verified, one transaction)' in job.task_names(), job.task_names()
    assert job.stats()['changed'].get('localhost', 0) > 0
    stdout = next((job.pdd / 'artifacts').glob('*/stdout')).read_text(encoding='utf-8')
    assert 'restored  %s -> aishield_restore' % job_env['backup_key'] in stdout
    # The scratch copy holds the backed-up schema and rows; the live database and release are as they were.
    assert _psql(job_env, 'SELECT count(*) FROM users', db='aishield_restore') == live_users
    assert _psql(job_env, 'SELECT count(*) FROM users') == live_users
    assert (job_env['root'] / 'current' / 'release.json').read_text() == release
    job.assert_no_secret(job_env['canary'])


@pytest.mark.parametrize('key,tag', [('maintenance_daily', 'daily'), ('maintenance_weekly', 'weekly'),
                                     ('maintenance_monthly', 'monthly')])
def test_maintenance_templates_run_only_their_tag(job_env, key, tag):
    reports = job_env['root'] / 'reports'
    before = dict((p.name, p.stat().st_mtime_ns) for p in reports.glob('*-latest.json'))
    job = job_env['run'](key, aishield_maintenance_fail_on_breach=False)
    assert job.runner.status == 'successful', job.printed[-3000:]
    assert 'maintenance' in job.roles() and not job.roles() - {'maintenance', 'backup'}, job.roles()
    assert ['--tags', tag] == job.runner.config.command[job.runner.config.command.index('--tags'):][:2]
    report = json.loads((reports / ('%s-latest.json' % tag)).read_text())
    assert report['rows'], report
    # Only this cadence's report was written: no other cadence's checks ran.
    written = sorted(p.name for p in reports.glob('*-latest.json') if before.get(p.name) != p.stat().st_mtime_ns)
    assert written == ['%s-latest.json' % tag], written
    if tag == 'weekly':  # the restore drill of this module's newest backup (taken by the backup job above)
        assert job_env['backup_key'] in json.dumps(report)
        assert all(row['status'] == 'ok' for row in report['rows']), report['rows']
    job.assert_no_secret(job_env['canary'])


def test_dr_drill_template_recovers_the_backup_and_tears_down(job_env):
    drill = 'aishield-rjd-' + job_env['token']
    reports = job_env['tmp'] / 'drill-reports'
    job = job_env['run']('dr_drill', aishield_dr_hosts='aishield', aishield_dr_root=str(job_env['tmp'] / 'drill'),
                         aishield_dr_project=drill, aishield_dr_http_port=free_port(), aishield_dr_frontend_port=free_port(),
                         aishield_dr_report_dir=str(reports), aishield_dr_backup_key=job_env['backup_key'])
    assert job.runner.status == 'successful', job.printed[-3000:]
    assert 'dr_drill' in job.roles(), job.roles()
    report = json.loads(next(reports.glob('*-latest.json')).read_text())
    assert job_env['backup_key'] in json.dumps(report) and report['rows'], report
    left = subprocess.run(['docker', 'ps', '-aq', '--filter', 'label=com.docker.compose.project=' + drill],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == [], 'the drill left its stack behind'
    job.assert_no_secret(job_env['canary'])


def test_rollback_template_returns_to_the_release_before(job_env):
    v1 = json.loads((job_env['root'] / 'current' / 'release.json').read_text())
    job = job_env['run']('deploy', aishield_version='v2', aishield_strategy='rolling')
    assert job.runner.status == 'successful', job.printed[-3000:]
    v2_id = job.stats()['artifact_data']['aishield_release_id']
    job = job_env['run']('rollback', aishield_rollback_reason='runner test: back to v1')
    assert job.runner.status == 'successful', job.printed[-3000:]
    assert 'rollback' in job.roles() and 'smoke_test' in job.roles(), job.roles()
    artifacts = job.stats()['artifact_data']
    assert artifacts['aishield_rollback_status'] == 'done', artifacts
    assert artifacts['aishield_rollback_release'] == v1['release_id'] and artifacts['aishield_rollback_from'] == v2_id
    assert json.loads((job_env['root'] / 'current' / 'release.json').read_text())['release_id'] == v1['release_id']
    job.assert_no_secret(job_env['canary'])


def test_release_failed_template_ends_red_naming_the_release(job_env):
    job = job_env['run']('release_failed', aishield_version='v9', aishield_release_id='20260101T000000Z-v9',
                         aishield_rollback_release='20251231T000000Z-v8')
    assert job.runner.status == 'failed' and job.runner.rc != 0
    assert '20260101T000000Z-v9' in job.printed, job.printed[-2000:]
    assert job.stats()['failures'], job.stats()
    job.assert_no_secret(job_env['canary'])


def test_no_secret_is_left_on_disk_after_the_jobs(job_env):
    """After every job above (passed, failed and refused ones), the planted secrets are only in the release's 0600 .env.

    Searched: every file written while the jobs ran in the controller's temp directories (the private
    data dirs and the release root are under one), and ~/.docker, ~/.ansible (Ansible's local temp
    files), ~/.ansible_async. A registry login would be base64 in ~/.docker/config.json: that is searched too.
    """
    assert job_env['jobs']['n'] >= 2, 'run the whole module: this checks what the jobs above left behind'
    home = Path.home()
    roots = [job_env['tmp'], tempfile.gettempdir(), '/var/tmp', home / '.docker', home / '.ansible', home / '.ansible_async']
    hits = files_holding(job_env['canary'], roots, since=job_env['started'])
    releases = job_env['root'] / 'releases'
    env_files = {str(path) for path in releases.glob('*/.env')}
    assert env_files, 'no release .env under %s: the deploys did not run' % releases
    for path in env_files:
        assert os.stat(path).st_mode & 0o777 == 0o600, '%s is not mode 0600' % path
    # The search does find secrets where they are: it would have found them anywhere else.
    assert env_files <= {path for path, _name in hits}, 'the search missed the secrets of the release .env'
    left = sorted((path, name) for path, name in hits if path not in env_files)
    # runc writes a docker exec's process spec (its environment) to /tmp/runc-process* for the moment the exec
    # starts; another lane's exec can be mid-flight during the search. Such a file must be gone within 10 s.
    deadline = time.monotonic() + 10
    while any(os.path.basename(path).startswith('runc-process') for path, _name in left) and time.monotonic() < deadline:
        time.sleep(0.5)
        left = [(path, name) for path, name in left if not os.path.basename(path).startswith('runc-process') or os.path.exists(path)]
    assert not left, 'planted secrets (file, which) left on disk after the jobs: %s' % left
