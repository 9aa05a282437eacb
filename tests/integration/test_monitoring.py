# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""playbooks/monitoring.yml against a v1 stack deployed on this machine's engine, end to end.

The monitoring project runs the test bed's Prometheus, Alertmanager and exporters (Debian builds with the
upstream entry points) on short intervals. Alertmanager posts to a receiver (tests/testbed/receiver.py) that
runs in a container on the app's network, published on 127.0.0.1 for the test to read. In file order: the
deploy and its rerun, every dashboard query, the service-down alert and its resolution, the p95 alert on an
injected slow endpoint, a deploy under its own silence, the daily report from Prometheus, and bad input.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / 'tests' / 'tools'))
from dashboard_queries import panel_queries  # noqa: E402  pylint: disable=wrong-import-position,import-error

BASE_IMAGE = 'aishield-testbed/base:bookworm'
IMAGES = {'prometheus': 'aishield-testbed/prometheus:2.42', 'alertmanager': 'aishield-testbed/alertmanager:0.25',
          'node': 'aishield-testbed/node-exporter:1.5', 'containers': BASE_IMAGE,
          'postgres': 'aishield-testbed/postgres-exporter:0.11', 'redis': 'aishield-testbed/redis-exporter:1.45',
          'blackbox': 'aishield-testbed/blackbox-exporter:0.23', 'cadvisor': 'unused/cadvisor:none'}
PROBES = [{'name': 'health', 'url': 'http://backend:8000/api/v1/health', 'kind': 'api'},
          {'name': 'auth_me', 'url': 'http://backend:8000/api/v1/auth/me', 'kind': 'api', 'auth': 'unauthorized'},
          {'name': 'frontend', 'url': 'http://frontend:3000/', 'kind': 'frontend'}]

pytestmark = pytest.mark.integration


def _run(env, playbook, *args, extra=None, timeout=900):
    cmd = [str(BIN / 'ansible-playbook'), f'playbooks/{playbook}', '-i', 'inventories/local', '-e', f"@{env['vars_file']}"]
    if extra is not None:
        path = env['tmp'] / f'extra-{secrets.token_hex(3)}.yml'
        path.write_text(yaml.safe_dump(extra))
        path.chmod(0o600)
        cmd += ['-e', f'@{path}']
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(cmd + list(args), cwd=REPO, env=run_env, capture_output=True, text=True, timeout=timeout, check=False)
    output = proc.stdout + proc.stderr
    _no_secret(env, output, playbook)
    return proc.returncode, output


def _no_secret(env, output, what):
    for name, value in env['planted'].items():
        assert value not in output, f'planted {name} appeared in the output of {what}'
    assert env['hook_token'] not in output, f'the webhook URL (a secret) appeared in the output of {what}'


def _get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec - 127.0.0.1 only
        return json.load(resp)


def _send(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # nosec - 127.0.0.1 only
        raw = resp.read()
    return json.loads(raw) if raw.strip() else None


def _alerts_received(env):
    """Every alert Alertmanager posted to our hook, in order: (status, labels) per alert."""
    out = []
    for record in _get(env['receiver_url'] + '/_received'):
        if record.get('path') == env['hook_path'] and isinstance(record.get('body'), dict):
            out += [(alert['status'], alert['labels']) for alert in record['body'].get('alerts', [])]
    return out


def _received(env, alertname, status, **labels):
    return [a for a in _alerts_received(env)
            if a[0] == status and a[1].get('alertname') == alertname and all(a[1].get(k) == v for k, v in labels.items())]


def _query(env, expr):
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel
    answer = _get(env['prometheus_url'] + '/api/v1/query?query=' + quote(expr))
    assert answer['status'] == 'success', answer
    return answer['data']['result']


@pytest.fixture(scope='module')
def mon(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('mon')
    token = secrets.token_hex(4)
    project = 'aishield-itmo-' + token
    planted = {'POSTGRES_PASSWORD': 'pgMON' + secrets.token_hex(8), 'SECRET_KEY': 'skMON' + secrets.token_hex(16),
               'ADMIN_PASSWORD': 'adMON' + secrets.token_hex(8)}
    receiver = f'{project}-receiver'
    hook_token = 'hook' + secrets.token_hex(8)
    hook_path = f'/hooks/alerts-{hook_token}'
    receiver_port, prometheus_port, alertmanager_port = free_port(), free_port(), free_port()
    extra = {
        'aishield_root': str(tmp / 'root'), 'aishield_project': project, 'aishield_http_port': free_port(),
        'aishield_frontend_port': free_port(), 'aishield_secrets': planted, 'aishield_backup_prefix': 'it-monitoring-' + token,
        'aishield_smoke_max_p95_ms': 5000,
        'aishield_monitoring_root': str(tmp / 'monitoring'),
        # The receiver as Alertmanager reaches it, by its container name on the app's network.
        'aishield_monitoring_webhook_url': f'http://{receiver}:9080{hook_path}',
        'monitoring_images': IMAGES, 'monitoring_probes': PROBES,
        'monitoring_prometheus_port': prometheus_port, 'monitoring_alertmanager_port': alertmanager_port,
        'monitoring_scrape_interval': '2s', 'monitoring_scrape_timeout': '2s', 'monitoring_evaluation_interval': '2s',
        'monitoring_probe_timeout': '1500ms', 'monitoring_group_wait': '1s', 'monitoring_group_interval': '2s',
        'monitoring_repeat_interval': '1h', 'monitoring_grafana_dir': str(tmp / 'grafana'),
        # api_slow at 1 s: the p95 of a 10 s window is about its slowest probe, and a health probe slowed by a
        # busy CI machine once crossed the default 500 ms (see the p95 test).
        'monitoring_thresholds': {'service_down': {'for': '4s'},
                                  'api_slow': {'window': '10s', 'for': '2s', 'threshold': 1000}},
    }
    vars_file = tmp / 'extra.yml'
    vars_file.write_text(yaml.safe_dump(extra))
    vars_file.chmod(0o600)
    env = {'tmp': tmp, 'planted': planted, 'project': project, 'vars_file': vars_file, 'extra': extra,
           'hook_token': hook_token, 'hook_path': hook_path, 'receiver_url': f'http://127.0.0.1:{receiver_port}',
           'prometheus_url': f'http://127.0.0.1:{prometheus_port}', 'alertmanager_url': f'http://127.0.0.1:{alertmanager_port}',
           'root': tmp / 'monitoring', 'mon_project': project + '-monitoring'}
    try:
        rc, out = _run(env, 'deploy.yml', extra={'aishield_version': 'v1'})
        assert rc == 0, out[-4000:]
        subprocess.run(['docker', 'run', '-d', '--name', receiver, '--network', f'{project}_default',
                        '-p', f'127.0.0.1:{receiver_port}:9080', '-v', f'{REPO}/tests/testbed/receiver.py:/receiver.py:ro',
                        BASE_IMAGE, 'python3', '/receiver.py', '--host', '0.0.0.0', '--port', '9080'],
                       check=True, capture_output=True, timeout=60)
        wait_for(lambda: _get(env['receiver_url'] + '/healthz', timeout=2), 30, interval=0.5, what='the receiver container')
        yield env
    finally:
        # The receiver and the monitoring stack sit on the app's network: they go first, or `down` leaves the
        # network behind (each run leaked one, until Docker ran out of address pools for new networks).
        subprocess.run(['docker', 'rm', '-f', receiver], capture_output=True, timeout=60, check=False)
        for name in (env['mon_project'], project):
            subprocess.run(['docker', 'compose', '-p', name, 'down', '-v', '--remove-orphans', '-t', '2'],
                           capture_output=True, timeout=180, check=False)
        _delete_backups('it-monitoring-' + token)
        left = subprocess.run(['docker', 'network', 'ls', '-q', '--filter', f'name=^{project}_'],
                              capture_output=True, text=True, timeout=60, check=False).stdout.split()
        assert not left, f'the networks of {project} were left behind'


def _delete_backups(prefix):
    import boto3  # pylint: disable=import-outside-toplevel
    s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:9000', region_name='us-east-1', aws_access_key_id='testbed',
                      aws_secret_access_key='testbed')
    keys = [obj['Key'] for obj in s3.list_objects_v2(Bucket='aishield-backups', Prefix=prefix + '/').get('Contents', [])]
    if keys:
        s3.delete_objects(Bucket='aishield-backups', Delete={'Objects': [{'Key': key} for key in keys]})


def test_monitoring_deploys_then_rerun_changes_nothing(mon):
    # At -vvv with --diff: the run that writes the secret files and the webhook URL shows neither (_run greps).
    rc, out = _run(mon, 'monitoring.yml', '--diff', '-vvv')
    assert rc == 0, out[-4000:]
    assert 'postgres/secrets/postgres_password' in out and '(a secret file: its content is not shown)' in out
    # The play lists the rules in force, each with its threshold and where it goes.
    assert 'AIShieldServiceDown: service_down for 4s -> chat (critical)' in out, out[-3000:]
    assert 'AIShieldHighCPU: high_cpu > 80 % for 5m -> chat (warning)' in out
    assert 'AIShieldAPISlow: api_slow > 1000 ms p95 over 10s for 2s -> chat (warning)' in out
    root = mon['root']
    # Secrets: files only the containers' user reads; the webhook URL is in alertmanager.yml, never printed.
    for path in ('alertmanager/alertmanager.yml', 'postgres/secrets/postgres_password'):
        st = (root / path).stat()
        assert (st.st_mode & 0o777, st.st_uid) == (0o400, 65534), path
    assert (root / 'postgres/secrets/postgres_password').read_text() == mon['planted']['POSTGRES_PASSWORD']
    assert mon['hook_token'] in (root / 'alertmanager/alertmanager.yml').read_text()
    assert mon['planted']['POSTGRES_PASSWORD'] not in (root / 'compose.yml').read_text()
    # The password is on no command line in the host's process list.
    ps = subprocess.run(['ps', '-eo', 'args'], capture_output=True, text=True, check=True).stdout
    assert mon['planted']['POSTGRES_PASSWORD'] not in ps
    # Grafana's files, for a team that runs it: the five dashboards and the provisioning that loads them.
    grafana = mon['tmp'] / 'grafana'
    assert sorted(p.name for p in (grafana / 'dashboards/aishield').iterdir()) == [
        'aishield-api.json', 'aishield-celery.json', 'aishield-database.json', 'aishield-frontend.json', 'aishield-main.json']
    datasource = yaml.safe_load((grafana / 'provisioning/datasources/aishield-prometheus.yml').read_text())
    assert datasource['datasources'][0]['url'] == 'http://prometheus:9090'
    assert yaml.safe_load((grafana / 'provisioning/dashboards/aishield.yml').read_text())['providers'][0]['options']['path'] \
        == '/etc/grafana/dashboards/aishield'
    rc, out = _run(mon, 'monitoring.yml')
    assert rc == 0, out[-4000:]
    assert re.search(r'localhost\s*:\s*ok=\d+\s+changed=0\s', out), out[-2500:]


def test_check_mode_shows_a_threshold_change_and_changes_nothing(mon):
    rules = mon['root'] / 'prometheus/rules/aishield.yml'
    before = rules.read_text()
    rc, out = _run(mon, 'monitoring.yml', '--check', '--diff',
                   extra={'monitoring_thresholds': {'service_down': {'for': '4s'},
                                                    'api_slow': {'window': '10s', 'for': '2s', 'threshold': 1000},
                                                    'high_cpu': {'threshold': 90}}})
    assert rc == 0, out[-4000:]
    assert '+    expr: aishield:container_cpu_percent > 90' in out and '-    expr: aishield:container_cpu_percent > 80' in out, out[-4000:]
    assert rules.read_text() == before


def test_every_target_is_up_and_every_dashboard_query_returns_series(mon):
    def all_up():
        targets = _get(mon['prometheus_url'] + '/api/v1/targets')['data']['activeTargets']
        return len(targets) >= 8 and all(t['health'] == 'up' for t in targets)
    wait_for(all_up, 60, interval=1, what='every scrape target up')
    jobs = {t['labels']['job'] for t in _get(mon['prometheus_url'] + '/api/v1/targets')['data']['activeTargets']}
    assert jobs == {'prometheus', 'node', 'containers', 'postgres', 'redis', 'probe'}, jobs
    # Real values behind the alerts: every expected service runs, the database answers, Celery's queue is read.
    # Recording rules and the first scrapes take an evaluation or two after the targets come up: bounded waits.
    expected = {s: '1' for s in ('db', 'redis', 'backend', 'worker', 'frontend', 'proxy')}
    seen = {}

    def every_service_running():
        seen.clear()
        seen.update({r['metric']['service']: r['value'][1] for r in _query(mon, 'aishield:service_running')})
        return seen == expected
    try:
        wait_for(every_service_running, 30, interval=1, what='aishield:service_running for every service')
    except pytest.fail.Exception:
        pytest.fail(f'aishield:service_running: {seen}, expected {expected}')
    wait_for(lambda: [r for r in _query(mon, 'pg_up') if r['value'][1] == '1'], 30, interval=1, what='pg_up 1')
    wait_for(lambda: _query(mon, 'redis_key_size{key="celery"}'), 30, interval=1, what="the Celery queue's length")
    queries = panel_queries(REPO / 'roles/monitoring/files/dashboards', mon['project'])
    assert len({uid for uid, _title, _expr in queries}) == 5
    empty = []

    def every_panel_has_data():
        empty[:] = [(uid, title, expr) for uid, title, expr in queries if not _query(mon, expr)]
        return not empty
    try:
        wait_for(every_panel_has_data, 90, interval=3, what='a series for every dashboard panel')
    except pytest.fail.Exception:
        pytest.fail(f'dashboard panels without data: {empty}')


def test_service_down_alert_reaches_the_webhook_and_resolves(mon):
    backend = f"{mon['project']}-backend-1"
    subprocess.run(['docker', 'stop', '-t', '2', backend], check=True, capture_output=True, timeout=60)
    try:
        wait_for(lambda: _received(mon, 'AIShieldServiceDown', 'firing', service='backend', project=mon['project']),
                 60, interval=1, what='AIShieldServiceDown for backend at the webhook')
    finally:
        subprocess.run(['docker', 'start', backend], check=True, capture_output=True, timeout=60)
    wait_for(lambda: _received(mon, 'AIShieldServiceDown', 'resolved', service='backend'), 90, interval=1,
             what='AIShieldServiceDown resolved at the webhook')


def test_an_injected_slow_endpoint_fires_the_p95_alert(mon):
    receiver = f"{mon['project']}-receiver"
    # Over the fixture's 1 s line, and inside the blackbox exporter's 1.5 s timeout (the 2 s scrape timeout
    # less its 0.5 s offset).
    slow = PROBES + [{'name': 'slow', 'url': f'http://{receiver}:9080/slow/1300', 'kind': 'api'}]
    rc, out = _run(mon, 'monitoring.yml', extra={'monitoring_probes': slow})
    assert rc == 0, out[-4000:]
    wait_for(lambda: _received(mon, 'AIShieldAPISlow', 'firing', probe='slow'), 90, interval=1,
             what='AIShieldAPISlow for the slow probe at the webhook')
    # The fast endpoints stay under the line.
    assert not _received(mon, 'AIShieldAPISlow', 'firing', probe='health')
    rc, out = _run(mon, 'monitoring.yml')
    assert rc == 0, out[-4000:]
    wait_for(lambda: _received(mon, 'AIShieldAPISlow', 'resolved', probe='slow'), 90, interval=1,
             what='AIShieldAPISlow resolved once the slow probe is gone')


def _post_alert(mon, name, ends_in_s):
    now = datetime.datetime.now(datetime.timezone.utc)
    _send('POST', mon['alertmanager_url'] + '/api/v2/alerts', [{
        'labels': {'alertname': name, 'project': mon['project'], 'service': 'canary', 'severity': 'warning'},
        'annotations': {'summary': 'posted by the test'},
        'startsAt': (now - datetime.timedelta(seconds=1)).isoformat(),
        'endsAt': (now + datetime.timedelta(seconds=ends_in_s)).isoformat()}])


def test_a_deploy_under_its_silence_sends_no_alert(mon):
    am = mon['alertmanager_url']
    # Control: the same alert, outside any silence, reaches the webhook.
    _post_alert(mon, 'AIShieldCanaryControl', 60)
    wait_for(lambda: _received(mon, 'AIShieldCanaryControl', 'firing'), 30, interval=0.5, what='the control alert at the webhook')
    _post_alert(mon, 'AIShieldCanaryControl', 0)

    cmd = [str(BIN / 'ansible-playbook'), 'playbooks/deploy.yml', '-i', 'inventories/local', '-e', f"@{mon['vars_file']}",
           '-e', 'aishield_version=v2', '-e', f'aishield_alertmanager_url={am}']
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR='1')
    comment = 'aishield.ops deploy of v2 on localhost'
    with subprocess.Popen(cmd, cwd=REPO, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as deploy:
        try:
            def active_silence():
                return [s for s in _get(am + '/api/v2/silences') if s['comment'] == comment and s['status']['state'] == 'active']
            wait_for(active_silence, 120, interval=0.5, what="the deploy's silence")
            silence = active_silence()[0]
            assert silence['matchers'] == [{'name': 'project', 'value': mon['project'], 'isRegex': False, 'isEqual': True}]
            # An alert about the project while the deploy runs: Alertmanager holds it back.
            _post_alert(mon, 'AIShieldCanaryDuringDeploy', 600)

            def suppressed():
                alerts = _get(am + '/api/v2/alerts?silenced=true&filter=alertname%3D%22AIShieldCanaryDuringDeploy%22')
                return [a for a in alerts if a['status']['state'] == 'suppressed' and silence['id'] in a['status']['silencedBy']]
            wait_for(suppressed, 30, interval=0.5, what='the alert suppressed by the deploy silence')
            assert deploy.poll() is None, 'the deploy ended before the alert was checked: the test proves nothing'
            # It clears before the deploy ends, as an alert the deploy itself caused would.
            _post_alert(mon, 'AIShieldCanaryDuringDeploy', 0)
            output = deploy.communicate(timeout=900)[0]
        finally:
            if deploy.poll() is None:
                deploy.kill()
    _no_secret(mon, output, 'deploy.yml')
    assert deploy.returncode == 0, output[-4000:]
    # Lifted at the end of the deploy, and nothing was sent for the alert it covered.
    states = [s['status']['state'] for s in _get(am + '/api/v2/silences') if s['comment'] == comment]
    assert states == ['expired'], states
    time.sleep(5)  # more than group_wait + group_interval: a notification would have gone out
    assert not [a for a in _alerts_received(mon) if a[1].get('alertname') == 'AIShieldCanaryDuringDeploy']


def test_the_daily_report_reads_the_window_from_prometheus(mon):
    started = time.time()
    rc, out = _run(mon, 'maintenance.yml', extra={'aishield_maintenance_prometheus_url': mon['prometheus_url'],
                                                  'aishield_maintenance_prometheus_window': '30s'})
    ended = time.time()
    assert rc == 0, out[-4000:]
    report = json.loads((Path(mon['extra']['aishield_root']) / 'reports/daily-latest.json').read_text())
    rows = {row['name']: row for row in report['rows']}
    # Every container seen in the window: the 6 services', and those the v2 deploy replaced a moment ago.
    match = re.fullmatch(r'highest of (\d+) containers \(average over 30s, Prometheus\)', rows['cpu']['detail'])
    assert match and int(match.group(1)) >= 6, rows['cpu']
    assert rows['memory']['detail'].endswith('(average over 30s, Prometheus)'), rows['memory']
    assert rows['api p95']['detail'] == 'p95 of the API probes, average over 30s, Prometheus', rows['api p95']
    # The numbers are Prometheus's: the p95 row is the same query's answer (the highest probe's) at the moment the
    # role asked. A 30 s window moves: its answer changes only when a probe sample enters it (at the sample's time)
    # or leaves it (30 s later), and an entering and a leaving sample can be a few ms apart. So the answers the
    # role could have got are those just after each such moment of the run, asked of Prometheus at that moment.
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel
    expr = '1000 * quantile_over_time(0.95, probe_duration_seconds{kind="api"}[30s])'
    lookback = int(ended - started) + 40
    raw = _get('%s/api/v1/query?query=%s&time=%.3f' % (mon['prometheus_url'], quote('probe_duration_seconds{kind="api"}[%ds]' % lookback),
                                                       ended + 1))
    moments = sorted(set(round(float(stamp) + shift, 3) for series in raw['data']['result'] for stamp, _value in series['values']
                         for shift in (0, 30)))
    moments = [m for m in moments if started - 1 <= m <= ended + 1] + [started, ended]
    assert len(moments) < 2000, len(moments)  # bounded: a few probes a second over the run
    possible = set()
    for moment in moments:
        for at in (moment, moment + 0.001):
            answer = _get('%s/api/v1/query?query=%s&time=%.3f' % (mon['prometheus_url'], quote(expr), at))
            values = [float(series['value'][1]) for series in answer['data']['result']]
            if values:
                possible.add(round(max(values), 1))
    reported = float(rows['api p95']['value'].split()[0])
    assert possible and any(abs(reported - value) < 0.11 for value in possible), (rows['api p95'], sorted(possible))


def test_bad_input_is_refused_before_anything_changes(mon):
    bad_root = mon['tmp'] / 'bad-monitoring'
    rc, out = _run(mon, 'monitoring.yml', extra={
        'aishield_monitoring_root': str(bad_root), 'monitoring_root': str(bad_root),
        'monitoring_exporters': ['node', 'containers', 'postgres', 'redis', 'blackbox', 'statsd'],
        'monitoring_thresholds': {'high_cpu': {'threshold': 'eighty'}, 'disk_full': {'for': '5m'}}})
    assert rc != 0
    assert 'monitoring_exporters: unknown entry statsd' in out, out[-3000:]
    assert "monitoring_thresholds.high_cpu.threshold must be a number >= 0; got 'eighty'" in out
    assert 'monitoring_thresholds.disk_full: unknown alert' in out
    assert 'nothing was changed' in out
    assert not bad_root.exists()


def test_an_alertmanager_that_does_not_answer_warns_or_fails_as_asked(tmp_path):
    """The deploy's silence passes fail_on_unreachable=false: monitoring being down never blocks a change."""
    port = free_port()
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR='1')

    def silence(*extra):
        args = f'url=http://127.0.0.1:{port} comment=test matchers={{"project":"x"}} timeout=2 ' + ' '.join(extra)
        proc = subprocess.run([str(BIN / 'ansible'), 'localhost', '-i', 'inventories/local', '-m', 'aishield.ops.alertmanager_silence',
                               '-a', args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        return proc.returncode, proc.stdout + proc.stderr
    rc, out = silence('fail_on_unreachable=false')
    assert rc == 0 and 'did not answer' in out and '"changed": false' in out, out
    rc, out = silence()
    assert rc != 0 and f'Alertmanager at http://127.0.0.1:{port}: GET /api/v2/silences failed' in out, out
