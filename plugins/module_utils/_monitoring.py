# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The monitoring stack as data: check the settings, then build every file the monitoring role writes.

One call, build_plan(settings), returns the Compose project (Prometheus, Alertmanager, the exporters), the
Prometheus configuration and alert rules (the runbook's six alerts, thresholds as variables), the
Alertmanager routing, the blackbox probes and the PostgreSQL exporter's queries, all as plain data the role
writes with to_nice_yaml. Secrets never enter the plan: it names the files (under secrets/) the role fills.
Every input error is collected and reported at once, each naming its variable.
"""

from __future__ import annotations

import copy
import json
import os
import re

# The runbook's alerts (Monitoring > Alerting), their rule names and default thresholds. Units are the
# runbook's: percent, milliseconds; `window` is the range a rate or a quantile is taken over.
ALERTS = {
    'service_down': {'rule': 'AIShieldServiceDown', 'for': '1m', 'severity': 'critical',
                     'runbook': 'any container not running'},
    'high_cpu': {'rule': 'AIShieldHighCPU', 'threshold': 80, 'for': '5m', 'severity': 'warning',
                 'runbook': 'CPU > 80 % for 5 minutes'},
    'high_memory': {'rule': 'AIShieldHighMemory', 'threshold': 85, 'for': '5m', 'severity': 'warning',
                    'runbook': 'memory > 85 % for 5 minutes'},
    'db_connection_failures': {'rule': 'AIShieldDatabaseConnectionFailure', 'for': '30s', 'severity': 'critical',
                               'runbook': 'database connection failures'},
    'scan_failures': {'rule': 'AIShieldScanFailures', 'threshold': 5, 'window': '5m', 'for': '5m',
                      'severity': 'warning', 'runbook': 'scan failures > 5 % error rate'},
    'api_slow': {'rule': 'AIShieldAPISlow', 'threshold': 500, 'window': '5m', 'for': '1m', 'severity': 'warning',
                 'runbook': 'API response time > 500 ms p95'},
    'target_down': {'rule': 'AIShieldMonitoringTargetDown', 'for': '5m', 'severity': 'warning',
                    'runbook': '(not in the runbook) an exporter or probe target that does not answer hides the alerts above'},
}
# What each alert needs scraped.
ALERT_NEEDS = {
    'service_down': ('containers', 'cadvisor'), 'high_cpu': ('containers', 'cadvisor'),
    'high_memory': ('containers', 'cadvisor'), 'db_connection_failures': ('postgres',),
    'scan_failures': ('postgres',), 'api_slow': ('blackbox',), 'target_down': (),
}
EXPORTERS = ('node', 'containers', 'cadvisor', 'postgres', 'redis', 'blackbox')
# The Compose service of each exporter, its port and whether it reaches the app's network.
EXPORTER_SERVICES = {
    'node': ('node-exporter', 9100, False),
    'containers': ('container-exporter', 9417, False),
    'cadvisor': ('cadvisor', 8080, False),
    'postgres': ('postgres-exporter', 9187, True),
    'redis': ('redis-exporter', 9121, True),
    'blackbox': ('blackbox-exporter', 9115, True),
}
IMAGE_KEYS = ('prometheus', 'alertmanager') + EXPORTERS
PROBE_KINDS = ('api', 'frontend')
PROBE_AUTH = ('none', 'token', 'unauthorized')
# The scan-failure rule reads these two series (a counter of finished scans and of failed ones).
SCAN_QUERY = 'aishield_scans'
SCAN_METRICS = ('aishield_scans_failed', 'aishield_scans_finished')
# Stands for the chat webhook's URL in alertmanager.yml until the role writes the file.
WEBHOOK_PLACEHOLDER = '__AISHIELD_MONITORING_WEBHOOK_URL__'
# The Grafana dashboards in the role's files/dashboards.
DASHBOARDS = ('aishield-main.json', 'aishield-api.json', 'aishield-database.json', 'aishield-celery.json',
              'aishield-frontend.json')
# The files checked by their reader's own tool before they land: (image key, tool, its arguments, name in /check).
CHECKED_BY = {
    'prometheus/prometheus.yml': ('prometheus', '/bin/promtool', ['check', 'config', '--syntax-only'], 'prometheus.yml'),
    'prometheus/rules/aishield.yml': ('prometheus', '/bin/promtool', ['check', 'rules'], 'rules.yml'),
    'alertmanager/alertmanager.yml': ('alertmanager', '/bin/amtool', ['check-config'], 'alertmanager.yml'),
}

_DURATION = re.compile(r'^([0-9]+(ms|s|m|h|d|w|y))+$')
_DURATION_PART = re.compile(r'([0-9]+)(ms|s|m|h|d|w|y)')
_UNIT_S = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800, 'y': 31536000}
_NAME = re.compile(r'^[a-z][a-z0-9_]*$')
_LABEL_VALUE_UNSAFE = re.compile(r'["\\\n]')


def duration_seconds(text):
    """Seconds in a Prometheus duration like 1m30s; None when it is not one."""
    text = str(text)
    if not _DURATION.match(text):
        return None
    return sum(int(n) * _UNIT_S[unit] for n, unit in _DURATION_PART.findall(text))


def _number(value):
    """A float from an int, float or numeric string; None otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _fmt(number):
    return ('%d' % number) if float(number).is_integer() else ('%g' % number)


def merge_alerts(overrides, errors):
    """The alerts with the user's overrides (monitoring_thresholds) applied and checked."""
    alerts = copy.deepcopy(ALERTS)
    if overrides in (None, ''):
        overrides = {}
    if not isinstance(overrides, dict):
        errors.append('monitoring_thresholds must be a mapping of alert name to settings; got %r' % (overrides,))
        overrides = {}
    for name, settings in overrides.items():
        var = 'monitoring_thresholds.%s' % name
        if name not in alerts:
            errors.append('%s: unknown alert (known: %s)' % (var, ', '.join(sorted(alerts))))
            continue
        if not isinstance(settings, dict):
            errors.append('%s must be a mapping such as {threshold: 90, for: 10m}; got %r' % (var, settings))
            continue
        for key, value in settings.items():
            if key == 'enabled':
                if not isinstance(value, bool):
                    errors.append('%s.enabled must be true or false; got %r' % (var, value))
                    continue
            elif key == 'threshold':
                if 'threshold' not in ALERTS[name]:
                    errors.append('%s.threshold: %s has no threshold (it fires on any occurrence)' % (var, name))
                    continue
                number = _number(value)
                if number is None or number < 0:
                    errors.append('%s.threshold must be a number >= 0; got %r' % (var, value))
                    continue
                value = number
            elif key in ('for', 'window'):
                if key == 'window' and 'window' not in ALERTS[name]:
                    errors.append('%s.window: %s takes no window' % (var, name))
                    continue
                if duration_seconds(value) is None:
                    errors.append('%s.%s must be a Prometheus duration such as 30s, 5m or 1h; got %r' % (var, key, value))
                    continue
                value = str(value)
            elif key == 'severity':
                if not isinstance(value, str) or not _NAME.match(value):
                    errors.append('%s.severity must be a lowercase word such as critical or warning; got %r' % (var, value))
                    continue
            else:
                errors.append('%s.%s: unknown setting (known: enabled, threshold, for, window, severity)' % (var, key))
                continue
            alerts[name][key] = value
    for name, alert in alerts.items():
        alert.setdefault('enabled', True)
        alert['threshold'] = float(alert['threshold']) if 'threshold' in alert else None
    return alerts


def _check_list_of_names(value, var, errors, known=None):
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        errors.append('%s must be a list of names; got %r' % (var, value))
        return []
    if known is not None:
        unknown = [item for item in value if item not in known]
        if unknown:
            noun = 'entry' if len(unknown) == 1 else 'entries'
            errors.append('%s: unknown %s %s (known: %s)' % (var, noun, ', '.join(unknown), ', '.join(known)))
            return [item for item in value if item in known]
    return list(value)


def check_probes(probes, errors):
    """The blackbox probes: [{name, url, kind, auth}] checked; returned with defaults."""
    if not isinstance(probes, list):
        errors.append('monitoring_probes must be a list of {name, url, kind}; got %r' % (probes,))
        return []
    checked, seen = [], set()
    for index, probe in enumerate(probes):
        var = 'monitoring_probes[%d]' % index
        if not isinstance(probe, dict):
            errors.append('%s must be a mapping {name, url, kind}; got %r' % (var, probe))
            continue
        unknown = sorted(set(probe) - {'name', 'url', 'kind', 'auth'})
        if unknown:
            errors.append('%s: unknown key %s (known: name, url, kind, auth)' % (var, ', '.join(unknown)))
        name, url = probe.get('name'), probe.get('url')
        kind, auth = probe.get('kind', 'api'), probe.get('auth', 'none')
        if not isinstance(name, str) or not _NAME.match(name):
            errors.append('%s.name must be a lowercase name such as health; got %r' % (var, name))
            continue
        if name in seen:
            errors.append('%s.name: %s is used twice' % (var, name))
        seen.add(name)
        if not isinstance(url, str) or not re.match(r'^https?://[^/\s]+', url) or _LABEL_VALUE_UNSAFE.search(url):
            errors.append('%s.url must be an http(s) URL as the blackbox exporter reaches it (a service name on the '
                          'app network, such as http://backend:8000/health); got %r' % (var, url))
        if kind not in PROBE_KINDS:
            errors.append('%s.kind must be one of %s; got %r' % (var, ', '.join(PROBE_KINDS), kind))
        if auth not in PROBE_AUTH:
            errors.append('%s.auth must be one of %s; got %r' % (var, ', '.join(PROBE_AUTH), auth))
        checked.append({'name': name, 'url': url, 'kind': kind, 'auth': auth})
    return checked


def check_queries(queries, errors):
    """The PostgreSQL exporter's extra queries (its queries.yml format), checked for shape only."""
    if queries in (None, ''):
        return {}
    if not isinstance(queries, dict):
        errors.append('monitoring_postgres_queries must be a mapping of name to {query, metrics}; got %r' % (queries,))
        return {}
    for name, spec in queries.items():
        var = 'monitoring_postgres_queries.%s' % name
        if not _NAME.match(str(name)):
            errors.append('%s: the name must be lowercase letters, digits and _' % var)
        if not isinstance(spec, dict) or not isinstance(spec.get('query'), str) or not isinstance(spec.get('metrics'), list):
            errors.append('%s must be {query: SQL, metrics: [{column: {usage, description}}]}; got %r' % (var, spec))
    return dict(queries)


def _rate_window(scrape_s):
    """A rate() range that always holds several scrapes: four intervals, at least a minute."""
    seconds = max(60, int(4 * scrape_s))
    return '%ds' % seconds


def recording_rules(source, project, services, scrape_s):
    """aishield:service_running, aishield:container_cpu_percent and aishield:container_memory_percent, from
    the container exporter or from cAdvisor, so the alert rules read one set of names."""
    window = _rate_window(scrape_s)
    if source == 'containers':
        sel = '{project="%s"}' % project
        return [
            {'record': 'aishield:service_running',
             'expr': 'max by (project, service) (aishield_container_running%s)' % sel},
            {'record': 'aishield:container_cpu_percent',
             'expr': '100 * rate(aishield_container_cpu_seconds_total%s[%s])' % (sel, window)},
            {'record': 'aishield:container_memory_percent',
             'expr': '100 * aishield_container_memory_bytes%s / aishield_container_memory_limit_bytes%s' % (sel, sel)},
        ]
    # cAdvisor: compose labels become container_label_*; it forgets stopped containers, so each expected
    # service gets a 0 when none of its containers was seen in the last minute.
    sel = '{container_label_com_docker_compose_project="%s"}' % project

    def relabel(expr):
        return ('label_replace(label_replace(label_replace(%s, "service", "$1", "container_label_com_docker_compose_service", '
                '"(.+)"), "project", "$1", "container_label_com_docker_compose_project", "(.+)"), "container", "$1", "name", '
                '"/?(.+)")' % expr)
    seen = relabel('(time() - container_last_seen%s < bool 60)' % sel)
    rules = [{'record': 'aishield:service_running',
              'expr': 'max by (project, service) (%s)' % seen}]
    for service in services:
        rules.append({'record': 'aishield:service_running',
                      'expr': 'label_replace(label_replace(vector(0), "project", "%s", "", ""), "service", "%s", "", "") '
                              'unless on (project, service) max by (project, service) (%s)' % (project, service, seen)})
    rules += [
        {'record': 'aishield:container_cpu_percent',
         'expr': '100 * max by (project, service, container) (%s)'
                 % relabel('rate(container_cpu_usage_seconds_total%s[%s])' % (sel, window))},
        # No memory limit (0): a share of the machine's memory, as docker stats shows it.
        {'record': 'aishield:container_memory_percent',
         'expr': 'max by (project, service, container) (100 * %s / on (id) group_left () ((container_spec_memory_limit_bytes%s > 0) '
                 'or on (id) (container_spec_memory_limit_bytes%s * 0 + on () group_left () max(machine_memory_bytes))))'
                 % (relabel('container_memory_working_set_bytes%s' % sel), sel, sel)},
    ]
    return rules


def alert_rules(alerts, probes, scrape_s):
    """The alerting rules, one per enabled alert."""
    rules = []

    def add(name, expr, summary):
        alert = alerts[name]
        rules.append({'alert': alert['rule'], 'expr': expr, 'for': alert['for'],
                      'labels': {'severity': alert['severity'], 'runbook_alert': name},
                      'annotations': {'summary': summary, 'runbook': alert['runbook']}})

    enabled = dict((name, alert) for name, alert in alerts.items() if alert['enabled'])
    if 'service_down' in enabled:
        add('service_down', 'aishield:service_running == 0',
            '{{ $labels.service }} of {{ $labels.project }} has no running container')
    if 'high_cpu' in enabled:
        add('high_cpu', 'aishield:container_cpu_percent > %s' % _fmt(alerts['high_cpu']['threshold']),
            '{{ $labels.container }} uses {{ $value | printf "%.0f" }} % CPU')
    if 'high_memory' in enabled:
        add('high_memory', 'aishield:container_memory_percent > %s' % _fmt(alerts['high_memory']['threshold']),
            '{{ $labels.container }} uses {{ $value | printf "%.0f" }} % of its memory')
    if 'db_connection_failures' in enabled:
        add('db_connection_failures', 'pg_up == 0',
            'the PostgreSQL exporter cannot connect to the database')
    if 'scan_failures' in enabled:
        window = alerts['scan_failures']['window']
        add('scan_failures',
            '100 * sum(increase(aishield_scans_failed[%s])) / clamp_min(sum(increase(aishield_scans_finished[%s])), 1) > %s'
            % (window, window, _fmt(alerts['scan_failures']['threshold'])),
            '{{ $value | printf "%.1f" }} % of the scans finished in the last ' + window + ' failed')
    if 'api_slow' in enabled and any(probe['kind'] == 'api' for probe in probes):
        window = alerts['api_slow']['window']
        add('api_slow', '1000 * quantile_over_time(0.95, probe_duration_seconds{kind="api"}[%s]) > %s'
            % (window, _fmt(alerts['api_slow']['threshold'])),
            'p95 of {{ $labels.probe }} over ' + window + ' is {{ $value | printf "%.0f" }} ms')
    if 'target_down' in enabled:
        # The container exporter answers even when the Docker socket does not: that hides service_down too.
        add('target_down', 'up == 0 or aishield_container_exporter_up == 0',
            '{{ $labels.job }} target {{ $labels.instance }} does not answer')
    return rules


def prometheus_config(settings, exporters, probes):
    scrape = [{'job_name': 'prometheus', 'static_configs': [{'targets': ['localhost:9090']}]}]
    for exporter in exporters:
        service, port, _app = EXPORTER_SERVICES[exporter]
        if exporter == 'blackbox':
            continue
        scrape.append({'job_name': exporter, 'static_configs': [{'targets': ['%s:%d' % (service, port)]}]})
    if 'blackbox' in exporters and probes:
        scrape.append({
            'job_name': 'probe', 'metrics_path': '/probe',
            # Each target's module and labels ride on it; the exporter gets the URL as ?target=.
            'static_configs': [{'targets': [probe['url']],
                                'labels': {'probe': probe['name'], 'kind': probe['kind'],
                                           '__param_module': _probe_module(probe)}} for probe in probes],
            'relabel_configs': [
                {'source_labels': ['__address__'], 'target_label': '__param_target'},
                {'source_labels': ['__param_target'], 'target_label': 'instance'},
                {'target_label': '__address__', 'replacement': 'blackbox-exporter:9115'},
            ]})
    return {
        'global': {'scrape_interval': settings['scrape_interval'], 'evaluation_interval': settings['evaluation_interval'],
                   'scrape_timeout': settings['scrape_timeout'],
                   # Every alert carries the app's project: a deploy's silence matches on it.
                   'external_labels': {'project': settings['project']}},
        'rule_files': ['/etc/prometheus/rules/*.yml'],
        'alerting': {'alertmanagers': [{'static_configs': [{'targets': ['alertmanager:9093']}]}]},
        'scrape_configs': scrape,
    }


def _probe_module(probe):
    return {'none': 'http_2xx', 'token': 'http_token', 'unauthorized': 'http_401'}[probe['auth']]


def blackbox_config(timeout):
    http = {'preferred_ip_protocol': 'ip4', 'follow_redirects': False}
    token = {'type': 'Bearer', 'credentials_file': '/etc/blackbox_exporter/secrets/api_token'}
    return {'modules': {
        'http_2xx': {'prober': 'http', 'timeout': timeout, 'http': dict(http)},
        'http_401': {'prober': 'http', 'timeout': timeout, 'http': dict(http, valid_status_codes=[401])},
        'http_token': {'prober': 'http', 'timeout': timeout,
                       'http': dict(http, authorization=token)},
    }}


def alertmanager_config(settings):
    route = {'receiver': 'chat' if settings['webhook'] else 'none',
             'group_by': ['alertname', 'project', 'service'],
             'group_wait': settings['group_wait'], 'group_interval': settings['group_interval'],
             'repeat_interval': settings['repeat_interval']}
    receivers = [{'name': 'none'}]
    if settings['webhook']:
        # The URL is a secret, and Alertmanager before 0.26 reads it only inline: the role puts it in place of the
        # placeholder as it writes the file (0400, no_log).
        receivers.append({'name': 'chat', 'webhook_configs': [{'url': WEBHOOK_PLACEHOLDER, 'send_resolved': True}]})
    return {'global': {'resolve_timeout': '5m'}, 'route': route, 'receivers': receivers}


def compose_project(settings, exporters):
    """The monitoring Compose project: its own network, plus the app's for the exporters that reach it."""
    bind = settings['bind_address']
    images = settings['images']
    services = {
        'prometheus': {
            'image': images['prometheus'],
            'command': ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus',
                        '--storage.tsdb.retention.time=%s' % settings['retention'], '--web.enable-lifecycle'],
            'volumes': ['./prometheus:/etc/prometheus:ro', 'prometheus-data:/prometheus'],
            'ports': ['%s:%d:9090' % (bind, settings['prometheus_port'])],
            'networks': ['default', 'app'], 'restart': 'unless-stopped'},
        'alertmanager': {
            'image': images['alertmanager'],
            'command': ['--config.file=/etc/alertmanager/alertmanager.yml', '--storage.path=/alertmanager',
                        '--cluster.listen-address='],
            'volumes': ['./alertmanager:/etc/alertmanager:ro', 'alertmanager-data:/alertmanager'],
            'ports': ['%s:%d:9093' % (bind, settings['alertmanager_port'])],
            'networks': ['default', 'app'], 'restart': 'unless-stopped'},
    }
    for exporter in exporters:
        name, _port, on_app = EXPORTER_SERVICES[exporter]
        service = {'image': images[exporter], 'restart': 'unless-stopped',
                   'networks': ['default', 'app'] if on_app else ['default']}
        if exporter == 'node':
            # No systemd collector: containers have no D-Bus (Debian's build turns it on).
            service.update(command=['--path.procfs=/host/proc', '--path.sysfs=/host/sys', '--path.rootfs=/rootfs',
                                    '--no-collector.systemd'],
                           volumes=['/proc:/host/proc:ro', '/sys:/host/sys:ro', '/:/rootfs:ro'], pid='host')
        elif exporter == 'containers':
            # Reading the engine's socket needs root in the container; it only lists and reads stats.
            service.update(user='0', entrypoint=['python3', '/exporter/container_exporter.py'],
                           command=['--project', settings['project'], '--services', ','.join(settings['services'])],
                           volumes=['/var/run/docker.sock:/var/run/docker.sock:ro',
                                    './exporters/container_exporter.py:/exporter/container_exporter.py:ro'])
        elif exporter == 'cadvisor':
            service.update(privileged=True, command=['--docker_only=true', '--store_container_labels=true'],
                           volumes=['/:/rootfs:ro', '/var/run:/var/run:ro', '/sys:/sys:ro', '/var/lib/docker/:/var/lib/docker:ro'])
        elif exporter == 'postgres':
            db = settings['postgres']
            service.update(
                environment={'DATA_SOURCE_URI': '%s:%d/%s?sslmode=disable' % (db['service'], db['port'], db['name']),
                             'DATA_SOURCE_USER': db['user'],
                             'DATA_SOURCE_PASS_FILE': '/etc/postgres_exporter/secrets/postgres_password'},
                command=['--extend.query-path=/etc/postgres_exporter/queries.yml'],
                volumes=['./postgres:/etc/postgres_exporter:ro'])
        elif exporter == 'redis':
            redis = settings['redis']
            command = ['--check-single-keys=db0=%s' % settings['celery_queue']] if settings['celery_queue'] else []
            service.update(environment={'REDIS_ADDR': 'redis://%s:%d' % (redis['service'], redis['port'])},
                           command=command)
            if settings['has_redis_password']:
                # The exporter reads passwords from a JSON map of address to password, never from argv.
                command.append('--redis.password-file=/etc/redis_exporter/secrets/redis_password')
                service.update(volumes=['./redis:/etc/redis_exporter:ro'])
        elif exporter == 'blackbox':
            service.update(command=['--config.file=/etc/blackbox_exporter/config.yml'],
                           volumes=['./blackbox:/etc/blackbox_exporter:ro'])
        services[name] = service
    return {'name': settings['monitoring_project'], 'services': services,
            'networks': {'app': {'external': True, 'name': settings['app_network']}},
            'volumes': {'prometheus-data': {}, 'alertmanager-data': {}}}


def _check_port(value, var, errors):
    number = _number(value)
    if number is None or not number.is_integer() or not 1 <= number <= 65535:
        errors.append('%s must be a port number from 1 to 65535; got %r' % (var, value))
        return 0
    return int(number)


def build_plan(settings):
    """Check the monitoring role's settings and build its files. Returns (plan, errors); a plan only when
    errors is empty."""
    errors = []
    s = dict(settings or {})
    project = s.get('project')
    if not isinstance(project, str) or not re.match(r'^[a-z0-9][a-z0-9_-]*$', project):
        errors.append('monitoring_app_project must be the app\'s Compose project name; got %r' % (project,))
        project = 'invalid'
    exporters = _check_list_of_names(s.get('exporters'), 'monitoring_exporters', errors, known=EXPORTERS)
    if 'containers' in exporters and 'cadvisor' in exporters:
        errors.append('monitoring_exporters: containers and cadvisor both report containers; keep one')
    services = _check_list_of_names(s.get('services', []), 'monitoring_app_services', errors)
    images = s.get('images')
    if not isinstance(images, dict):
        errors.append('monitoring_images must be a mapping of component to image; got %r' % (images,))
        images = {}
    for key in ['prometheus', 'alertmanager'] + exporters:
        if not isinstance(images.get(key), str) or not images.get(key) or re.search(r'\s', images.get(key)):
            errors.append('monitoring_images.%s must name the image that runs %s; got %r' % (key, key, images.get(key)))
    alerts = merge_alerts(s.get('thresholds'), errors)
    probes = check_probes(s.get('probes', []), errors)
    queries = check_queries(s.get('postgres_queries'), errors)
    durations = {}
    for key in ('scrape_interval', 'evaluation_interval', 'scrape_timeout', 'retention', 'group_wait', 'group_interval',
                'repeat_interval', 'probe_timeout'):
        value = s.get(key)
        seconds = duration_seconds(value)
        if seconds is None or seconds <= 0:
            errors.append('monitoring_%s must be a Prometheus duration such as 15s or 5m; got %r' % (key, value))
        durations[key] = seconds or 1
    if durations['scrape_timeout'] > durations['scrape_interval']:
        errors.append('monitoring_scrape_timeout (%s) must not exceed monitoring_scrape_interval (%s)'
                      % (s.get('scrape_timeout'), s.get('scrape_interval')))
    for key in ('prometheus_port', 'alertmanager_port'):
        s[key] = _check_port(s.get(key), 'monitoring_%s' % key, errors)
    for key, var in (('postgres', 'monitoring_postgres'), ('redis', 'monitoring_redis')):
        part = s.get(key) or {}
        if key in exporters:
            if not isinstance(part, dict) or not isinstance(part.get('service'), str) or not part.get('service'):
                errors.append('%s.service must name the app\'s %s service (or drop %s from monitoring_exporters); got %r'
                              % (var, 'PostgreSQL' if key == 'postgres' else 'Redis', key, part))
                continue
            part = dict(part)
            part['port'] = _check_port(part.get('port', 5432 if key == 'postgres' else 6379), var + '.port', errors)
            if key == 'postgres':
                for field in ('user', 'name'):
                    if not isinstance(part.get(field), str) or not part.get(field):
                        errors.append('%s.%s must be set (the database %s the exporter connects with); got %r'
                                      % (var, field, 'user' if field == 'user' else 'name', part.get(field)))
            s[key] = part
    uid = s.get('container_uid', 65534)
    if isinstance(uid, bool) or not isinstance(uid, int) or uid < 0:
        errors.append('monitoring_container_uid must be a numeric user id such as 65534; got %r' % (uid,))
    grafana_dir = s.get('grafana_dir') or ''
    if grafana_dir and not os.path.isabs(grafana_dir):
        errors.append('monitoring_grafana_dir must be an absolute path on the host (or empty: no Grafana files); got %r'
                      % (grafana_dir,))
    # An alert that nothing feeds would never fire: say so instead of shipping a dead rule.
    for name, alert in sorted(alerts.items()):
        needs = ALERT_NEEDS[name]
        if alert['enabled'] and needs and not set(needs) & set(exporters):
            errors.append('monitoring_thresholds.%s: the alert needs the %s exporter in monitoring_exporters; add it or set '
                          'monitoring_thresholds.%s.enabled: false' % (name, ' or '.join(needs), name))
    if alerts['scan_failures']['enabled'] and 'postgres' in exporters and SCAN_QUERY not in queries:
        errors.append('monitoring_thresholds.scan_failures reads %s from a monitoring_postgres_queries entry named %s; '
                      'add it, or set monitoring_thresholds.scan_failures.enabled: false' % (' and '.join(SCAN_METRICS), SCAN_QUERY))
    if alerts['api_slow']['enabled'] and 'blackbox' in exporters and not any(p['kind'] == 'api' for p in probes):
        errors.append('monitoring_thresholds.api_slow needs a monitoring_probes entry of kind api; add one or set '
                      'monitoring_thresholds.api_slow.enabled: false')
    if any(p['auth'] == 'token' for p in probes) and not s.get('has_api_token'):
        errors.append('monitoring_probes: a probe with auth: token needs monitoring_api_token (a vaulted bearer token)')
    if errors:
        return None, errors

    source = 'cadvisor' if 'cadvisor' in exporters else 'containers'
    settings_out = dict(s, project=project, services=services, images=images,
                        app_network=s.get('app_network') or '%s_default' % project)
    groups = [{'name': 'aishield-containers', 'rules': recording_rules(source, project, services, durations['scrape_interval'])},
              {'name': 'aishield-runbook', 'rules': alert_rules(alerts, probes, durations['scrape_interval'])}]
    files = {
        'prometheus/prometheus.yml': prometheus_config(settings_out, exporters, probes),
        'prometheus/rules/aishield.yml': {'groups': groups},
        'alertmanager/alertmanager.yml': alertmanager_config(settings_out),
        'compose.yml': compose_project(settings_out, exporters),
    }
    if 'blackbox' in exporters:
        files['blackbox/config.yml'] = blackbox_config(s['probe_timeout'])
    if 'postgres' in exporters:
        files['postgres/queries.yml'] = queries
    secrets = []
    if 'postgres' in exporters:
        secrets.append({'path': 'postgres/secrets/postgres_password', 'secret': 'postgres_password'})
    if 'redis' in exporters and s.get('has_redis_password'):
        redis = s['redis']
        secrets.append({'path': 'redis/secrets/redis_password', 'secret': 'redis_password',
                        'json_key': 'redis://%s:%d' % (redis['service'], redis['port'])})
    if 'blackbox' in exporters and s.get('has_api_token'):
        secrets.append({'path': 'blackbox/secrets/api_token', 'secret': 'api_token'})
    # Which Compose service reads each mounted file that is not reloaded over HTTP: a change restarts it.
    service_of = {'exporters/container_exporter.py': 'container-exporter'}
    for path in list(files) + [item['path'] for item in secrets]:
        top = path.split('/', 1)[0]
        if top in ('blackbox', 'postgres', 'redis'):
            service_of[path] = '%s-exporter' % top
    table = [{'alert': name, 'rule': alert['rule'], 'threshold': alert['threshold'], 'for': alert['for'],
              'window': alert.get('window'), 'severity': alert['severity'], 'runbook': alert['runbook'],
              'enabled': alert['enabled']} for name, alert in ALERTS.items() for alert in [alerts[name]]]
    return {'files': files, 'secret_files': secrets, 'alerts': table, 'exporters': exporters,
            # The secret files' directories are created apart (owned by the containers' user, 0500).
            'directories': sorted({path.rsplit('/', 1)[0] for path in list(files) if '/' in path}
                                  | {x['path'].split('/', 1)[0] for x in secrets}
                                  | ({'exporters'} if 'containers' in exporters else set())),
            'container_exporter': 'containers' in exporters, 'service_of': service_of,
            'receiver': 'chat' if s.get('webhook') else 'none', 'webhook_placeholder': WEBHOOK_PLACEHOLDER}, []


def alert_lines(alerts, loaded=None, receiver='none'):
    """One line per alert for the play's output: rule, threshold, where it goes. With `loaded` (Prometheus's
    /api/v1/rules answer) an enabled rule Prometheus does not run is an error."""
    running = None
    if loaded is not None:
        running = set(rule.get('name') for group in ((loaded.get('data') or {}).get('groups') or [])
                      for rule in group.get('rules') or [])
    lines, missing = [], []
    for alert in alerts:
        if not alert['enabled']:
            lines.append('%s (%s): disabled' % (alert['rule'], alert['alert']))
            continue
        threshold = '' if alert['threshold'] is None else ' > %s%s' % (
            _fmt(alert['threshold']), ' ms p95' if alert['alert'] == 'api_slow' else ' %')
        window = ' over %s' % alert['window'] if alert.get('window') else ''
        lines.append('%s: %s%s%s for %s -> %s (%s)' % (alert['rule'], alert['alert'], threshold, window, alert['for'],
                                                       receiver, alert['severity']))
        if running is not None and alert['rule'] not in running:
            missing.append(alert['rule'])
    return lines, missing


def check_command(image, tool, args, name):
    """A file's check: the reader's own tool in its image, on a read-only copy, with no network. %s is the copy."""
    return (['docker', 'run', '--rm', '--network', 'none', '--user', '0', '-v', '%s:/check/' + name + ':ro',
             '--entrypoint', tool, image] + args + ['/check/' + name])


def write_set(plan, settings, dump):
    """What the role hands aishield.ops.files_write, secrets left out: the directories, then every file as text (dump
    turns data into YAML) or as a role file (src), each with its mode and check; secret_files name what fills each
    secret file (a secret's name, or alertmanager.yml's text with the webhook placeholder)."""
    uid = settings.get('container_uid', 65534)
    images = settings['images']
    directories = [{'path': ''}] + [{'path': path} for path in plan['directories']]
    directories += [{'path': path, 'mode': '0500', 'owner': uid}
                    for path in sorted({item['path'].rsplit('/', 1)[0] for item in plan['secret_files']})]
    files, secret_files = [], []
    for path, data in plan['files'].items():
        entry = {'path': path, 'content': dump(data), 'mode': '0644'}
        if path in CHECKED_BY:
            image, tool, args, name = CHECKED_BY[path]
            entry['validate'] = check_command(images[image], tool, args, name)
        if path == 'alertmanager/alertmanager.yml':
            # Only the containers' user reads it: it holds the chat webhook's URL (a secret) when there is one.
            entry.update(mode='0400', owner=uid)
            if plan['receiver'] != 'none':
                secret_files.append(dict(entry, template=entry.pop('content')))
                continue
        files.append(entry)
    if plan['container_exporter']:
        files.append({'path': 'exporters/container_exporter.py', 'src': 'container_exporter.py', 'mode': '0644'})
    for item in plan['secret_files']:
        secret_files.append(dict(item, mode='0400', owner=uid))
    grafana = settings.get('grafana_dir') or ''
    if grafana:
        directories += [{'path': os.path.join(grafana, path)}
                        for path in ('dashboards/aishield', 'provisioning/dashboards', 'provisioning/datasources')]
        files += [{'path': os.path.join(grafana, 'dashboards/aishield', name), 'src': 'dashboards/' + name, 'mode': '0644'}
                  for name in DASHBOARDS]
        files.append({'path': os.path.join(grafana, 'provisioning/dashboards/aishield.yml'), 'src': 'grafana/dashboards.yml',
                      'mode': '0644'})
        # The dashboards pick their Prometheus through a data source variable; this one is not made the default,
        # so it cannot clash with a Grafana that already has one. timeInterval: the rate() windows follow the scrapes.
        datasources = {'apiVersion': 1, 'datasources': [{
            'name': 'AI Shield Prometheus', 'uid': 'aishield-prometheus', 'type': 'prometheus', 'access': 'proxy',
            'url': settings.get('grafana_prometheus_url'), 'isDefault': False, 'editable': False,
            'jsonData': {'timeInterval': settings.get('scrape_interval')}}]}
        files.append({'path': os.path.join(grafana, 'provisioning/datasources/aishield-prometheus.yml'),
                      'content': dump(datasources), 'mode': '0644'})
    return {'directories': directories, 'files': files, 'secret_files': secret_files}


def fill_secrets(secret_files, values, webhook_url):
    """The secret files with their content, for aishield.ops.files_write's secret_files: each secret's value (as a
    JSON map when its reader wants one), alertmanager.yml with the webhook's URL in place of the placeholder."""
    out = []
    for item in secret_files:
        entry = dict((k, v) for k, v in item.items() if k not in ('secret', 'json_key', 'template'))
        if 'template' in item:
            entry['content'] = item['template'].replace(WEBHOOK_PLACEHOLDER, json.dumps(webhook_url or ''))
        elif item.get('json_key'):
            entry['content'] = json.dumps({item['json_key']: values[item['secret']]})
        else:
            entry['content'] = values[item['secret']]
        out.append(entry)
    return out
