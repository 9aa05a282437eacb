# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runbook's alert rules, as monitoring_plan builds them, under `promtool test rules`.

Synthetic series make each alert fire and then resolve; a changed threshold moves the line. promtool runs in
the monitoring test bed's Prometheus image (tests/monitoring/build.sh), with no network.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / '.collections'))

from ansible_collections.aishield.ops.plugins.module_utils._monitoring import build_plan  # noqa: E402  pylint: disable=wrong-import-position

PROMETHEUS_IMAGE = 'aishield-testbed/prometheus:2.42'
PROJECT = 'aishield'
SERVICES = ['db', 'backend', 'worker']

pytestmark = pytest.mark.integration


def _settings(**overrides):
    defaults = yaml.safe_load((REPO / 'roles/monitoring/defaults/main.yml').read_text())
    settings = dict(
        project=PROJECT, monitoring_project='aishield-monitoring', app_network='aishield_default', services=SERVICES,
        exporters=['node', 'containers', 'postgres', 'redis', 'blackbox'], images=defaults['monitoring_images'],
        thresholds={}, probes=[{'name': 'health', 'url': 'http://backend:8000/health', 'kind': 'api'}],
        postgres={'service': 'db', 'user': 'aishield', 'name': 'aishield'},
        postgres_queries=defaults['monitoring_postgres_queries'], redis={'service': 'redis'}, celery_queue='celery',
        bind_address='127.0.0.1', prometheus_port=9090, alertmanager_port=9093, scrape_interval='15s',
        scrape_timeout='10s', evaluation_interval='15s', retention='15d', group_wait='30s', group_interval='5m',
        repeat_interval='4h', probe_timeout='5s', webhook=True, has_api_token=False, has_redis_password=False)
    settings.update(overrides)
    return settings


def _rules(**overrides):
    plan, errors = build_plan(_settings(**overrides))
    assert not errors, errors
    return plan['files']['prometheus/rules/aishield.yml']


def _alert(name, labels, summary, runbook, severity):
    return {'exp_labels': dict(labels, alertname=name, severity=severity, runbook_alert=runbook_key(name)),
            'exp_annotations': {'summary': summary, 'runbook': runbook}}


def runbook_key(rule):
    from ansible_collections.aishield.ops.plugins.module_utils._monitoring import ALERTS  # pylint: disable=import-outside-toplevel
    return next(key for key, alert in ALERTS.items() if alert['rule'] == rule)


def _promtool(tmp_path, rules, tests):
    (tmp_path / 'rules.yml').write_text(yaml.safe_dump(rules, sort_keys=False))
    (tmp_path / 'tests.yml').write_text(yaml.safe_dump({'rule_files': ['rules.yml'], 'evaluation_interval': '15s',
                                                        'tests': tests}, sort_keys=False))
    proc = subprocess.run(['docker', 'run', '--rm', '--network', 'none', '--user', '0', '-v', f'{tmp_path}:/t:ro', '-w', '/t',
                           '--entrypoint', '/bin/promtool', PROMETHEUS_IMAGE, 'test', 'rules', 'tests.yml'],
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


CONTAINER = {'project': PROJECT, 'service': 'backend', 'container': 'aishield-backend-1'}
SEL = '{project="aishield",service="backend",container="aishield-backend-1"}'


def _container_tests():
    """Service down, CPU and memory from the container exporter's series, at a 15 s interval."""
    running = [{'series': f'aishield_container_running{SEL}', 'values': '1x7 0x12 1x20'},
               {'series': 'aishield_container_running{project="aishield",service="db",container="aishield-db-1"}',
                'values': '1x40'},
               {'series': 'aishield_container_running{project="aishield",service="worker",container=""}', 'values': '1x40'}]
    down = _alert('AIShieldServiceDown', {'project': PROJECT, 'service': 'backend'},
                  'backend of aishield has no running container', 'any container not running', 'critical')
    cpu = _alert('AIShieldHighCPU', CONTAINER, 'aishield-backend-1 uses 90 % CPU', 'CPU > 80 % for 5 minutes', 'warning')
    memory = _alert('AIShieldHighMemory', CONTAINER, 'aishield-backend-1 uses 90 % of its memory',
                    'memory > 85 % for 5 minutes', 'warning')
    return [{
        'interval': '15s',
        'input_series': running + [
            # 13.5 CPU-seconds every 15 s: 90 % of a core for 10 minutes, then idle.
            {'series': f'aishield_container_cpu_seconds_total{SEL}', 'values': '0+13.5x40 540x40'},
            {'series': f'aishield_container_memory_bytes{SEL}', 'values': '90x40 50x40'},
            {'series': f'aishield_container_memory_limit_bytes{SEL}', 'values': '100x80'},
        ],
        'alert_rule_test': [
            # Down from 1m45s: pending for its 1m, firing by 3m30s, resolved once running again (from 4m45s). The
            # recording rule it reads may be evaluated after it, one interval later: no check on that boundary.
            {'eval_time': '2m', 'alertname': 'AIShieldServiceDown', 'exp_alerts': []},
            {'eval_time': '3m30s', 'alertname': 'AIShieldServiceDown', 'exp_alerts': [down]},
            {'eval_time': '6m', 'alertname': 'AIShieldServiceDown', 'exp_alerts': []},
            {'eval_time': '4m', 'alertname': 'AIShieldHighCPU', 'exp_alerts': []},
            {'eval_time': '7m', 'alertname': 'AIShieldHighCPU', 'exp_alerts': [cpu]},
            {'eval_time': '14m', 'alertname': 'AIShieldHighCPU', 'exp_alerts': []},
            {'eval_time': '4m', 'alertname': 'AIShieldHighMemory', 'exp_alerts': []},
            {'eval_time': '6m', 'alertname': 'AIShieldHighMemory', 'exp_alerts': [memory]},
            {'eval_time': '12m', 'alertname': 'AIShieldHighMemory', 'exp_alerts': []},
        ],
    }]


def _service_tests():
    """Database connections, scan failures, API p95 and a silent target."""
    pg_down = _alert('AIShieldDatabaseConnectionFailure', {'instance': 'postgres-exporter:9187', 'job': 'postgres'},
                     'the PostgreSQL exporter cannot connect to the database', 'database connection failures', 'critical')
    scans = _alert('AIShieldScanFailures', {}, '10.0 % of the scans finished in the last 5m failed',
                   'scan failures > 5 % error rate', 'warning')
    slow = _alert('AIShieldAPISlow', {'instance': 'http://backend:8000/health', 'job': 'probe', 'kind': 'api', 'probe': 'health'},
                  'p95 of health over 5m is 700 ms', 'API response time > 500 ms p95', 'warning')
    target = _alert('AIShieldMonitoringTargetDown', {'instance': 'redis-exporter:9121', 'job': 'redis'},
                    'redis target redis-exporter:9121 does not answer',
                    '(not in the runbook) an exporter or probe target that does not answer hides the alerts above', 'warning')
    return [{
        'interval': '15s',
        'input_series': [
            {'series': 'pg_up{instance="postgres-exporter:9187",job="postgres"}', 'values': '1x3 0x4 1x10'},
            # One scan in ten fails for 10 minutes, then none do.
            {'series': 'aishield_scans_finished{instance="postgres-exporter:9187",job="postgres"}', 'values': '0+10x80'},
            {'series': 'aishield_scans_failed{instance="postgres-exporter:9187",job="postgres"}', 'values': '0+1x40 40x40'},
            {'series': 'probe_duration_seconds{instance="http://backend:8000/health",job="probe",kind="api",probe="health"}',
             'values': '0.7x20 0.1x60'},
            {'series': 'up{instance="redis-exporter:9121",job="redis"}', 'values': '1x3 0x24 1x20'},
            # The container exporter answers, but the Docker socket behind it does not, from 10 minutes on.
            {'series': 'aishield_container_exporter_up{instance="container-exporter:9417",job="containers"}',
             'values': '1x40 0x30'},
        ],
        'alert_rule_test': [
            # pg_up 0 from 1m to 2m: pending for 30 s, firing at 1m30s, resolved when it is 1 again (2m15s).
            {'eval_time': '45s', 'alertname': 'AIShieldDatabaseConnectionFailure', 'exp_alerts': []},
            {'eval_time': '1m30s', 'alertname': 'AIShieldDatabaseConnectionFailure', 'exp_alerts': [pg_down]},
            {'eval_time': '2m30s', 'alertname': 'AIShieldDatabaseConnectionFailure', 'exp_alerts': []},
            {'eval_time': '3m', 'alertname': 'AIShieldScanFailures', 'exp_alerts': []},
            {'eval_time': '8m', 'alertname': 'AIShieldScanFailures', 'exp_alerts': [scans]},
            {'eval_time': '17m', 'alertname': 'AIShieldScanFailures', 'exp_alerts': []},
            {'eval_time': '30s', 'alertname': 'AIShieldAPISlow', 'exp_alerts': []},
            {'eval_time': '2m', 'alertname': 'AIShieldAPISlow', 'exp_alerts': [slow]},
            {'eval_time': '15m', 'alertname': 'AIShieldAPISlow', 'exp_alerts': []},
            {'eval_time': '3m', 'alertname': 'AIShieldMonitoringTargetDown', 'exp_alerts': []},
            {'eval_time': '6m', 'alertname': 'AIShieldMonitoringTargetDown', 'exp_alerts': [target]},
            {'eval_time': '8m', 'alertname': 'AIShieldMonitoringTargetDown', 'exp_alerts': []},
            {'eval_time': '16m', 'alertname': 'AIShieldMonitoringTargetDown', 'exp_alerts': [
                _alert('AIShieldMonitoringTargetDown', {'instance': 'container-exporter:9417', 'job': 'containers'},
                       'containers target container-exporter:9417 does not answer',
                       '(not in the runbook) an exporter or probe target that does not answer hides the alerts above',
                       'warning')]},
        ],
    }]


def test_every_runbook_alert_fires_and_resolves(tmp_path):
    rc, out = _promtool(tmp_path, _rules(), _container_tests() + _service_tests())
    assert rc == 0, out


def test_a_changed_threshold_moves_the_line(tmp_path):
    """90 % CPU fires at the runbook's 80 %, not at 95 %; a longer `for` holds the alert back."""
    rules = _rules(thresholds={'high_cpu': {'threshold': 95}, 'service_down': {'for': '10m'}})
    tests = _container_tests()
    tests[0]['alert_rule_test'] = [
        {'eval_time': '7m', 'alertname': 'AIShieldHighCPU', 'exp_alerts': []},
        {'eval_time': '3m30s', 'alertname': 'AIShieldServiceDown', 'exp_alerts': []},
    ]
    rc, out = _promtool(tmp_path, rules, tests)
    assert rc == 0, out
    # And the same series against the default rules would fire: the test above can fail.
    rc, out = _promtool(tmp_path, _rules(), tests)
    assert rc != 0 and 'AIShieldHighCPU' in out and 'AIShieldServiceDown' in out, out


def test_cadvisor_series_feed_the_same_alerts(tmp_path):
    """With cAdvisor (production), a container last seen long ago and an expected service never seen are down;
    CPU and memory (no limit: a share of the machine's memory) read the same rules."""
    labels = ('container_label_com_docker_compose_project="aishield",container_label_com_docker_compose_service="backend",'
              'name="aishield-backend-1",id="/docker/abc"')
    db = ('container_label_com_docker_compose_project="aishield",container_label_com_docker_compose_service="db",'
          'name="aishield-db-1",id="/docker/def"')
    rules = _rules(exporters=['node', 'cadvisor', 'postgres', 'redis', 'blackbox'])
    backend = {'project': PROJECT, 'service': 'backend', 'container': 'aishield-backend-1'}
    tests = [{
        'interval': '15s',
        'input_series': [
            # container_last_seen is a timestamp: "now" until 5 minutes, then it stops moving.
            {'series': f'container_last_seen{{{labels}}}', 'values': '0+15x20 300x20'},
            {'series': f'container_last_seen{{{db}}}', 'values': '0+15x40'},
            {'series': f'container_cpu_usage_seconds_total{{{labels},cpu="total"}}', 'values': '0+13.5x40'},
            {'series': f'container_memory_working_set_bytes{{{labels}}}', 'values': '90x40'},
            {'series': f'container_spec_memory_limit_bytes{{{labels}}}', 'values': '0x40'},
            {'series': 'machine_memory_bytes{instance="cadvisor:8080",job="cadvisor"}', 'values': '100x40'},
        ],
        'alert_rule_test': [
            {'eval_time': '4m', 'alertname': 'AIShieldServiceDown', 'exp_alerts': [
                _alert('AIShieldServiceDown', {'project': PROJECT, 'service': 'worker'},
                       'worker of aishield has no running container', 'any container not running', 'critical')]},
            {'eval_time': '8m', 'alertname': 'AIShieldServiceDown', 'exp_alerts': [
                _alert('AIShieldServiceDown', {'project': PROJECT, 'service': 'backend'},
                       'backend of aishield has no running container', 'any container not running', 'critical'),
                _alert('AIShieldServiceDown', {'project': PROJECT, 'service': 'worker'},
                       'worker of aishield has no running container', 'any container not running', 'critical')]},
            {'eval_time': '7m', 'alertname': 'AIShieldHighCPU', 'exp_alerts': [
                _alert('AIShieldHighCPU', backend, 'aishield-backend-1 uses 90 % CPU', 'CPU > 80 % for 5 minutes', 'warning')]},
            {'eval_time': '7m', 'alertname': 'AIShieldHighMemory', 'exp_alerts': [
                _alert('AIShieldHighMemory', backend, 'aishield-backend-1 uses 90 % of its memory',
                       'memory > 85 % for 5 minutes', 'warning')]},
        ],
    }]
    rc, out = _promtool(tmp_path, rules, tests)
    assert rc == 0, out


def test_files_write_lands_a_rules_file_promtool_accepts_and_refuses_a_broken_one(tmp_path):
    """The role's write step as it runs: aishield.ops.files_write with the plan's promtool check, in the image."""
    import json  # pylint: disable=import-outside-toplevel
    import os  # pylint: disable=import-outside-toplevel
    from ansible_collections.aishield.ops.plugins.module_utils._monitoring import write_set  # pylint: disable=import-outside-toplevel
    settings = _settings()
    settings['images'] = dict(settings['images'], prometheus=PROMETHEUS_IMAGE)
    plan, errors = build_plan(settings)
    assert not errors, errors
    written = write_set(plan, settings, lambda data: yaml.safe_dump(data, sort_keys=False))
    [rules] = [item for item in written['files'] if item['path'] == 'prometheus/rules/aishield.yml']
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), PATH=f"{bin_dir}:{os.environ['PATH']}", ANSIBLE_NOCOLOR='1')

    def write(content):
        # Through a lookup: the rules hold Prometheus's own {{ $labels }} templates, which Ansible must not template.
        source = tmp_path / 'source.yml'
        source.write_text(content)
        args = {'root': str(tmp_path / 'mon'), 'directories': [{'path': ''}, {'path': 'prometheus/rules'}],
                'files': [dict(rules, content="{{ lookup('ansible.builtin.file', '%s', rstrip=false) }}" % source)]}
        proc = subprocess.run([str(bin_dir / 'ansible'), 'localhost', '-i', 'inventories/local', '-m', 'aishield.ops.files_write',
                               '-a', json.dumps(args)], cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
        return proc.returncode, proc.stdout + proc.stderr

    broken = rules['content'].replace('expr: ', 'expr: sum(', 1)
    rc, out = write(broken)
    assert rc != 0 and 'failed its check (docker exited 1)' in out and 'nothing was written' in out, out[-3000:]
    assert not (tmp_path / 'mon').exists()
    rc, out = write(rules['content'])
    assert rc == 0 and '"changed": true' in out, out[-3000:]
    assert (tmp_path / 'mon/prometheus/rules/aishield.yml').read_text() == rules['content']
