# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.aishield.ops.plugins.module_utils._monitoring import (
    ALERTS, WEBHOOK_PLACEHOLDER, alert_lines, build_plan, duration_seconds, fill_secrets, write_set,
)

DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[4] / 'roles/monitoring/defaults/main.yml').read_text())


def settings(**overrides):
    base = dict(
        project='aishield', monitoring_project='aishield-monitoring', app_network='aishield_default',
        services=['db', 'redis', 'backend'], exporters=['node', 'containers', 'postgres', 'redis', 'blackbox'],
        images=DEFAULTS['monitoring_images'], thresholds={},
        probes=[{'name': 'health', 'url': 'http://backend:8000/health', 'kind': 'api'}],
        postgres={'service': 'db', 'user': 'aishield', 'name': 'aishield'}, postgres_queries=DEFAULTS['monitoring_postgres_queries'],
        redis={'service': 'redis'}, celery_queue='celery', bind_address='127.0.0.1', prometheus_port=9090,
        alertmanager_port=9093, scrape_interval='15s', scrape_timeout='10s', evaluation_interval='15s', retention='15d',
        group_wait='30s', group_interval='5m', repeat_interval='4h', probe_timeout='5s', webhook=True,
        has_api_token=False, has_redis_password=False)
    base.update(overrides)
    return base


def plan_of(**overrides):
    plan, errors = build_plan(settings(**overrides))
    assert not errors, errors
    return plan


def errors_of(**overrides):
    plan, errors = build_plan(settings(**overrides))
    assert plan is None and errors
    return errors


@pytest.mark.parametrize('text, seconds', [('15s', 15), ('1m30s', 90), ('1500ms', 1.5), ('2h', 7200), ('1d', 86400)])
def test_duration_seconds(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize('text', ['', '5', '5 m', 'm5', '1.5m', None, True])
def test_duration_seconds_refuses(text):
    assert duration_seconds(text) is None


def rules_by_name(plan):
    groups = plan['files']['prometheus/rules/aishield.yml']['groups']
    return {rule.get('alert') or rule['record']: rule for group in groups for rule in group['rules']}


def test_default_rules_carry_the_runbook_thresholds():
    rules = rules_by_name(plan_of())
    assert rules['AIShieldHighCPU']['expr'] == 'aishield:container_cpu_percent > 80' and rules['AIShieldHighCPU']['for'] == '5m'
    assert rules['AIShieldHighMemory']['expr'] == 'aishield:container_memory_percent > 85'
    assert rules['AIShieldAPISlow']['expr'].endswith('[5m]) > 500')
    assert rules['AIShieldScanFailures']['expr'].endswith('> 5')
    assert rules['AIShieldServiceDown']['labels'] == {'severity': 'critical', 'runbook_alert': 'service_down'}
    assert {a['rule'] for a in ALERTS.values()} <= set(rules)


def test_overrides_change_only_what_they_name():
    rules = rules_by_name(plan_of(thresholds={'high_cpu': {'threshold': '92.5', 'for': '10m'},
                                              'scan_failures': {'enabled': False}}))
    assert rules['AIShieldHighCPU']['expr'] == 'aishield:container_cpu_percent > 92.5' and rules['AIShieldHighCPU']['for'] == '10m'
    assert rules['AIShieldHighMemory']['expr'] == 'aishield:container_memory_percent > 85'
    assert 'AIShieldScanFailures' not in rules


def test_rate_window_holds_several_scrapes():
    assert '[60s]' in rules_by_name(plan_of())['aishield:container_cpu_percent']['expr']
    assert '[120s]' in rules_by_name(plan_of(scrape_interval='30s', scrape_timeout='10s'))['aishield:container_cpu_percent']['expr']


@pytest.mark.parametrize('overrides, message', [
    ({'thresholds': {'high_cpu': {'threshold': 'eighty'}}}, "monitoring_thresholds.high_cpu.threshold must be a number >= 0; got 'eighty'"),
    ({'thresholds': {'high_cpu': {'threshold': True}}}, 'monitoring_thresholds.high_cpu.threshold must be a number'),
    ({'thresholds': {'disk_full': {}}}, 'monitoring_thresholds.disk_full: unknown alert'),
    ({'thresholds': {'high_cpu': {'for': '5 minutes'}}}, 'monitoring_thresholds.high_cpu.for must be a Prometheus duration'),
    ({'thresholds': {'service_down': {'threshold': 1}}}, 'monitoring_thresholds.service_down.threshold: service_down has no threshold'),
    ({'thresholds': {'high_cpu': {'colour': 'red'}}}, 'monitoring_thresholds.high_cpu.colour: unknown setting'),
    ({'thresholds': []}, 'monitoring_thresholds must be a mapping'),
    ({'exporters': ['node', 'statsd']}, 'monitoring_exporters: unknown entry statsd'),
    ({'exporters': ['containers', 'cadvisor', 'postgres', 'blackbox']}, 'containers and cadvisor both report containers'),
    ({'exporters': ['node', 'postgres', 'blackbox']}, 'monitoring_thresholds.service_down: the alert needs the containers or cadvisor exporter'),
    ({'images': {'prometheus': 'p', 'alertmanager': 'a'}}, 'monitoring_images.node must name the image'),
    ({'scrape_timeout': '30s'}, 'monitoring_scrape_timeout (30s) must not exceed monitoring_scrape_interval (15s)'),
    ({'retention': 'forever'}, 'monitoring_retention must be a Prometheus duration'),
    ({'prometheus_port': 70000}, 'monitoring_prometheus_port must be a port number'),
    ({'postgres': {'service': 'db'}}, 'monitoring_postgres.user must be set'),
    ({'postgres': {}}, 'monitoring_postgres.service must name'),
    ({'postgres_queries': {}}, 'scan_failures reads aishield_scans_failed and aishield_scans_finished'),
    ({'probes': [{'name': 'front', 'url': 'http://frontend:3000/', 'kind': 'frontend'}]}, 'api_slow needs a monitoring_probes entry of kind api'),
    ({'probes': [{'name': 'h', 'url': 'ftp://x', 'kind': 'api'}]}, 'monitoring_probes[0].url must be an http(s) URL'),
    ({'probes': [{'name': 'Health', 'url': 'http://x/'}]}, 'monitoring_probes[0].name must be a lowercase name'),
    ({'probes': [{'name': 'h', 'url': 'http://x/', 'kind': 'api', 'auth': 'token'}]}, 'a probe with auth: token needs monitoring_api_token'),
    ({'probes': [{'name': 'h', 'url': 'http://x/', 'kind': 'api'}, {'name': 'h', 'url': 'http://y/', 'kind': 'api'}]},
     'monitoring_probes[1].name: h is used twice'),
    ({'project': 'Bad Project'}, "monitoring_app_project must be the app's Compose project name"),
])
def test_bad_input_names_the_variable(overrides, message):
    assert any(message in error for error in errors_of(**overrides)), errors_of(**overrides)


def test_every_problem_is_reported_at_once():
    errors = errors_of(exporters=['node', 'statsd'], thresholds={'high_cpu': {'threshold': 'x'}}, retention='x')
    assert len(errors) >= 3


def test_no_secret_enters_the_plan_and_secret_files_are_named():
    plan = plan_of(has_redis_password=True, has_api_token=True,
                   probes=[{'name': 'me', 'url': 'http://backend:8000/me', 'kind': 'api', 'auth': 'token'}])
    assert plan['secret_files'] == [
        {'path': 'postgres/secrets/postgres_password', 'secret': 'postgres_password'},
        {'path': 'redis/secrets/redis_password', 'secret': 'redis_password', 'json_key': 'redis://redis:6379'},
        {'path': 'blackbox/secrets/api_token', 'secret': 'api_token'}]
    compose = plan['files']['compose.yml']['services']
    pg = compose['postgres-exporter']
    assert pg['environment']['DATA_SOURCE_PASS_FILE'] == '/etc/postgres_exporter/secrets/postgres_password'
    assert '--redis.password-file=/etc/redis_exporter/secrets/redis_password' in compose['redis-exporter']['command']
    # The webhook URL is a placeholder the role replaces as it writes the file.
    webhook = plan['files']['alertmanager/alertmanager.yml']['receivers'][1]['webhook_configs'][0]
    assert webhook == {'url': WEBHOOK_PLACEHOLDER, 'send_resolved': True}
    assert plan['service_of']['postgres/secrets/postgres_password'] == 'postgres-exporter'
    assert plan['service_of']['redis/secrets/redis_password'] == 'redis-exporter'
    # Secret directories are created apart (0500, owned by the containers' user), not among the plain ones.
    assert 'postgres/secrets' not in plan['directories'] and 'postgres' in plan['directories']


def _write(**overrides):
    values = settings(**overrides)
    return write_set(plan_of(**overrides), values, lambda data: yaml.safe_dump(data, sort_keys=False))


def test_the_write_set_has_every_file_its_mode_owner_and_check_and_no_secret():
    written = _write(has_redis_password=True, container_uid=1234, grafana_dir='/srv/grafana',
                     grafana_prometheus_url='http://prom:9090')
    files = {item['path']: item for item in written['files']}
    assert yaml.safe_load(files['compose.yml']['content'])['name'] == 'aishield-monitoring'
    rules = files['prometheus/rules/aishield.yml']
    assert rules['mode'] == '0644' and '%s:/check/rules.yml:ro' in rules['validate']
    assert rules['validate'][:3] == ['docker', 'run', '--rm'] and DEFAULTS['monitoring_images']['prometheus'] in rules['validate']
    assert files['exporters/container_exporter.py'] == {'path': 'exporters/container_exporter.py', 'src': 'container_exporter.py',
                                                        'mode': '0644'}
    assert len([p for p in files if p.startswith('/srv/grafana/dashboards/aishield/')]) == 5
    datasource = yaml.safe_load(files['/srv/grafana/provisioning/datasources/aishield-prometheus.yml']['content'])
    assert datasource['datasources'][0]['url'] == 'http://prom:9090'
    assert datasource['datasources'][0]['jsonData'] == {'timeInterval': '15s'}
    # With a webhook, alertmanager.yml is a secret file: its URL is only filled in by fill_secrets.
    assert 'alertmanager/alertmanager.yml' not in files
    secret = {item['path']: item for item in written['secret_files']}
    assert WEBHOOK_PLACEHOLDER in secret['alertmanager/alertmanager.yml']['template']
    assert '%s:/check/alertmanager.yml:ro' in secret['alertmanager/alertmanager.yml']['validate']
    assert secret['redis/secrets/redis_password'] == {'path': 'redis/secrets/redis_password', 'secret': 'redis_password',
                                                      'json_key': 'redis://redis:6379', 'mode': '0400', 'owner': 1234}
    assert all(item['mode'] == '0400' and item['owner'] == 1234 for item in written['secret_files'])
    assert {'path': 'postgres/secrets', 'mode': '0500', 'owner': 1234} in written['directories']
    assert written['directories'][0] == {'path': ''}
    assert {'path': '/srv/grafana/provisioning/datasources'} in written['directories']


def test_without_a_webhook_alertmanager_yml_is_a_plain_file_and_without_grafana_no_dashboards():
    written = _write(webhook=False)
    files = {item['path']: item for item in written['files']}
    assert files['alertmanager/alertmanager.yml']['mode'] == '0400' and files['alertmanager/alertmanager.yml']['owner'] == 65534
    assert [item['path'] for item in written['secret_files']] == ['postgres/secrets/postgres_password']
    assert not [path for path in files if 'grafana' in path or path.endswith('.json')]


def test_fill_secrets_puts_each_value_in_its_file():
    written = _write(has_redis_password=True)
    filled = {item['path']: item for item in fill_secrets(written['secret_files'],
                                                          {'postgres_password': 'pg-s3cret', 'redis_password': 'r"s'},
                                                          'http://hooks/x?token=abc')}
    assert filled['postgres/secrets/postgres_password'] == {'path': 'postgres/secrets/postgres_password',
                                                            'content': 'pg-s3cret', 'mode': '0400', 'owner': 65534}
    assert json.loads(filled['redis/secrets/redis_password']['content']) == {'redis://redis:6379': 'r"s'}
    alertmanager = yaml.safe_load(filled['alertmanager/alertmanager.yml']['content'])
    assert alertmanager['receivers'][1]['webhook_configs'][0]['url'] == 'http://hooks/x?token=abc'
    assert 'template' not in filled['alertmanager/alertmanager.yml']


@pytest.mark.parametrize('overrides, variable', [
    ({'container_uid': -1}, 'monitoring_container_uid'),
    ({'container_uid': 'nobody'}, 'monitoring_container_uid'),
    ({'grafana_dir': 'relative/grafana'}, 'monitoring_grafana_dir'),
])
def test_bad_owner_or_grafana_dir_is_refused(overrides, variable):
    assert any(error.startswith(variable) for error in errors_of(**overrides))


def test_without_a_webhook_alerts_stay_in_alertmanager():
    plan = plan_of(webhook=False)
    assert plan['files']['alertmanager/alertmanager.yml']['route']['receiver'] == 'none'
    assert plan['receiver'] == 'none'


def test_compose_project_joins_the_app_network_and_publishes_on_the_bind_address():
    compose = plan_of(bind_address='10.0.0.5', prometheus_port=19090)['files']['compose.yml']
    assert compose['networks'] == {'app': {'external': True, 'name': 'aishield_default'}}
    assert compose['services']['prometheus']['ports'] == ['10.0.0.5:19090:9090']
    assert compose['services']['postgres-exporter']['networks'] == ['default', 'app']
    assert compose['services']['container-exporter']['networks'] == ['default']
    assert compose['services']['container-exporter']['command'] == ['--project', 'aishield', '--services', 'db,redis,backend']


def test_probes_carry_their_module_and_labels():
    plan = plan_of(probes=[{'name': 'health', 'url': 'http://backend:8000/health', 'kind': 'api'},
                           {'name': 'me', 'url': 'http://backend:8000/me', 'kind': 'api', 'auth': 'unauthorized'}])
    job = [j for j in plan['files']['prometheus/prometheus.yml']['scrape_configs'] if j['job_name'] == 'probe'][0]
    assert [c['labels'] for c in job['static_configs']] == [
        {'probe': 'health', 'kind': 'api', '__param_module': 'http_2xx'},
        {'probe': 'me', 'kind': 'api', '__param_module': 'http_401'}]
    assert plan['files']['blackbox/config.yml']['modules']['http_401']['http']['valid_status_codes'] == [401]


def test_external_label_names_the_project_for_silences():
    assert plan_of()['files']['prometheus/prometheus.yml']['global']['external_labels'] == {'project': 'aishield'}


def test_alert_lines_and_the_loaded_rules_check():
    plan = plan_of(thresholds={'target_down': {'enabled': False}})
    lines, missing = alert_lines(plan['alerts'], None, 'chat')
    assert 'AIShieldHighCPU: high_cpu > 80 % for 5m -> chat (warning)' in lines
    assert 'AIShieldAPISlow: api_slow > 500 ms p95 over 5m for 1m -> chat (warning)' in lines
    assert 'AIShieldMonitoringTargetDown (target_down): disabled' in lines
    assert missing == []
    loaded = {'data': {'groups': [{'rules': [{'name': 'AIShieldHighCPU'}]}]}}
    _lines, missing = alert_lines(plan['alerts'], loaded, 'chat')
    assert 'AIShieldServiceDown' in missing and 'AIShieldHighCPU' not in missing and 'AIShieldMonitoringTargetDown' not in missing


def test_the_plan_is_plain_data():
    json.dumps(plan_of())
