# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The preflight role through ansible-playbook on localhost, against real services.

Docker and the registry are this machine's engine and the test bed's 127.0.0.1:5000;
TLS is a local server with a short-lived self-signed certificate made here; S3 is
moto_server on a free port (s3_fixtures). Secrets are planted and searched for in
everything the run prints at -vvv.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
import socket
import ssl
import threading
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytest.register_assert_rewrite('s3_fixtures')
from conftest import docker_available, free_port  # noqa: E402  pylint: disable=wrong-import-position
from s3_fixtures import AWS_ACCESS_KEY, AWS_REGION, AWS_SECRET_KEY  # noqa: E402  pylint: disable=wrong-import-position

pytest_plugins = ['s3_fixtures']


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not docker_available(), reason='no Docker engine answers: the preflight tests need one'),
]

REGISTRY = '127.0.0.1:5000'
PRESENT_IMAGE = REGISTRY + '/aishield/redis:7'
ROLE = 'Run the pre-flight checks'
# The JSON callback names role tasks "<role> : <task>".
FAIL = 'aishield.ops.preflight : Fail once, with one line per failed check'
PUBLISH = 'aishield.ops.preflight : Publish the pre-flight result'
ALL_CHECKS = ['env', 'disk', 'docker', 'compose', 'tls', 'registry', 's3']


# --- a TLS server with a certificate valid for N days ------------------------------------------


def _self_signed(tmp_path, days):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName('localhost')]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / ('cert-%d.pem' % days), tmp_path / ('key-%d.pem' % days)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path):
    """start(days) -> https://127.0.0.1:<port>/ serving a self-signed certificate valid for `days`."""
    servers = []

    def start(days):
        cert_file, key_file = _self_signed(tmp_path, days)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        listener = socket.socket()
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)
        listener.settimeout(0.5)
        stop = threading.Event()

        def serve():
            # Handshake, then close: the checker only reads the certificate.
            while not stop.is_set():
                try:
                    conn, _addr = listener.accept()
                except OSError:
                    continue
                try:
                    conn.settimeout(5)
                    with context.wrap_socket(conn, server_side=True):
                        pass
                except (OSError, ssl.SSLError):
                    pass
                finally:
                    conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((stop, thread, listener))
        return 'https://127.0.0.1:%d/' % listener.getsockname()[1]

    yield start
    for stop, thread, listener in servers:
        stop.set()
        thread.join(5)
        listener.close()


# --- helpers --------------------------------------------------------------------------------------


def preflight(**role_vars):
    """Include the role with its inputs taken from extra vars (as a vault would supply secrets)."""
    return [{'name': ROLE, 'ansible.builtin.include_role': {'name': 'aishield.ops.preflight'},
             'vars': {name: '{{ %s }}' % ('it_' + name) for name in role_vars}},
            {'name': 'Show the result', 'ansible.builtin.debug': {'var': 'preflight_result'}}]


def extra(**role_vars):
    return {'it_' + name: value for name, value in role_vars.items()}


def checks_by_name(run):
    return {check['name']: check for check in run['Show the result']['preflight_result']['checks']}


def assert_nothing_changed(run):
    stats = run.data['stats']['localhost']
    assert stats['changed'] == 0, stats


def assert_no_registry_auth_printed(output, password):
    """The password also travels base64-encoded in X-Registry-Auth; decode whatever header value was printed."""
    auth = json.dumps({'username': 'deploy', 'password': password}).encode()
    assert base64.urlsafe_b64encode(auth).decode() not in output
    for value in re.findall(r'X-Registry-Auth\W+([A-Za-z0-9_=+/-]{8,})', output):
        decoded = base64.urlsafe_b64decode(value + '=' * (-len(value) % 4))
        assert password.encode() not in decoded, 'X-Registry-Auth with the password was printed'


@pytest.fixture(scope='module')
def present_image():
    req = urllib.request.Request('http://%s/v2/aishield/redis/manifests/7' % REGISTRY, method='HEAD',
                                 headers={'Accept': 'application/vnd.docker.distribution.manifest.v2+json'})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # nosec - 127.0.0.1 only
            status = resp.status
    except (urllib.error.URLError, OSError):
        status = None
    if status != 200:
        pytest.fail('%s is not in the test bed registry; run tests/testbed/setup.sh' % PRESENT_IMAGE)
    return PRESENT_IMAGE


# --- tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize('check_mode', [False, True], ids=['real', 'check'])
def test_every_check_passes_and_no_secret_is_printed(ansible_playbook, tls_server, moto_endpoint, bucket,
                                                     present_image, tmp_path, check_mode):
    planted = {'POSTGRES_PASSWORD': 'pgPLANT' + secrets.token_hex(8), 'SECRET_KEY': 'skPLANT' + secrets.token_hex(8)}
    registry_password = 'rgPLANT' + secrets.token_hex(8)
    role_vars = dict(
        preflight_required_env=list(planted), preflight_env=planted,
        preflight_disk_path=str(tmp_path / 'not' / 'created' / 'yet'), preflight_min_free_mb=1,
        preflight_tls_url=tls_server(60), preflight_tls_min_days=14,
        preflight_images=[present_image],
        preflight_registry_username='deploy', preflight_registry_password=registry_password,
        preflight_s3_bucket=bucket, preflight_s3_endpoint_url=moto_endpoint, preflight_s3_region=AWS_REGION,
        preflight_s3_access_key=AWS_ACCESS_KEY, preflight_s3_secret_key=AWS_SECRET_KEY)
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars), check=check_mode, verbosity=3)
    assert run.rc == 0, run.output

    checks = checks_by_name(run)
    assert list(checks) == ALL_CHECKS
    assert {name: c['status'] for name, c in checks.items()} == {name: 'ok' for name in ALL_CHECKS}, checks
    assert run['Show the result']['preflight_result']['passed'] is True
    # Real measurements, not placeholders: the missing path was measured at an existing parent.
    assert re.match(r'^\d+ MiB free on /\S* \(for %s\)' % re.escape(role_vars['preflight_disk_path']),
                    checks['disk']['detail'])
    days = float(re.search(r'\(([0-9.]+) days left\)', checks['tls']['detail']).group(1))
    assert 59 < days <= 60
    assert re.match(r'^Docker Compose \d+\.\d+\.\d+ ', checks['compose']['detail'])
    assert bucket in checks['s3']['detail']
    assert_nothing_changed(run)
    for secret in list(planted.values()) + [registry_password, AWS_SECRET_KEY]:
        assert secret not in run.output
    assert_no_registry_auth_printed(run.output, registry_password)


def test_every_failure_is_collected_and_reported_once(ansible_playbook, tls_server, moto_endpoint, present_image,
                                                      tmp_path):
    closed_port = free_port()
    role_vars = dict(
        preflight_required_env=['POSTGRES_PASSWORD', 'SECRET_KEY', 'ADMIN_PASSWORD'],
        preflight_env={'POSTGRES_PASSWORD': 'pgPLANT' + secrets.token_hex(8), 'SECRET_KEY': '  '},
        preflight_disk_path=str(tmp_path), preflight_min_free_mb=1024 ** 3,  # a petabyte
        preflight_compose_min_version='99.0.0',
        preflight_tls_url=tls_server(2), preflight_tls_min_days=14,
        preflight_images=[present_image, REGISTRY + '/aishield/redis:no-such-tag-' + secrets.token_hex(3),
                          '127.0.0.1:%d/aishield/redis:7' % closed_port],
        preflight_s3_bucket='it-missing-' + secrets.token_hex(4), preflight_s3_endpoint_url=moto_endpoint,
        preflight_s3_region=AWS_REGION, preflight_s3_access_key=AWS_ACCESS_KEY,
        preflight_s3_secret_key=AWS_SECRET_KEY)
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc != 0

    # Only the final task failed: every check before it ran to the end.
    results = run.results()
    failed = [name for name, result in results.items() if result.get('failed')]
    assert failed == [FAIL], failed
    checks = {c['name']: c for c in run[PUBLISH]['ansible_facts']['preflight_result']['checks']}
    assert {name: c['status'] for name, c in checks.items()} == {
        'env': 'failed', 'disk': 'failed', 'docker': 'ok', 'compose': 'failed', 'tls': 'failed',
        'registry': 'failed', 's3': 'failed'}

    lines = run[FAIL]['msg']
    assert lines[0] == 'Pre-flight failed 6 of 7 checks:'
    by_check = {line.split(':', 1)[0]: line for line in lines[1:]}
    assert sorted(by_check) == ['compose', 'disk', 'env', 'registry', 's3', 'tls']
    # Each line names the variable to change (and the fix).
    assert 'SECRET_KEY, ADMIN_PASSWORD' in by_check['env'] and 'preflight_env' in by_check['env']
    assert 'POSTGRES_PASSWORD' not in by_check['env']
    assert 'preflight_min_free_mb=%d' % 1024 ** 3 in by_check['disk']
    assert 'preflight_compose_min_version=99.0.0' in by_check['compose']
    assert 'preflight_tls_min_days=14' in by_check['tls'] and 'renew' in by_check['tls']
    days = float(re.search(r'\(([0-9.]+) days left\)', by_check['tls']).group(1))
    assert 1.5 < days <= 2
    assert 'no-such-tag' in by_check['registry'] and 'manifest unknown' in by_check['registry']
    assert '127.0.0.1:%d' % closed_port in by_check['registry'] and 'preflight_images' in by_check['registry']
    assert present_image + ' ' not in by_check['registry']
    assert role_vars['preflight_s3_bucket'] in by_check['s3'] and 'preflight_s3_bucket' in by_check['s3']
    assert role_vars['preflight_env']['POSTGRES_PASSWORD'] not in run.output


def test_unreachable_docker_fails_docker_and_registry(ansible_playbook, present_image, tmp_path):
    socket_path = str(tmp_path / 'no-docker.sock')
    role_vars = dict(preflight_docker_socket=socket_path, preflight_images=[present_image], preflight_min_free_mb=0)
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc != 0
    lines = run[FAIL]['msg']
    assert lines[0] == 'Pre-flight failed 2 of 3 checks:', lines
    assert lines[1].startswith('docker: Docker does not answer on unix://%s' % socket_path)
    assert 'preflight_docker_socket' in lines[1]
    assert lines[2].startswith('registry: not found or not reachable: %s' % present_image)


def test_empty_inputs_skip_every_check(ansible_playbook):
    role_vars = dict(preflight_min_free_mb=0, preflight_docker=False)
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars), check=True)
    assert run.rc == 0, run.output
    checks = checks_by_name(run)
    assert list(checks) == ALL_CHECKS
    assert {c['status'] for c in checks.values()} == {'skipped'}
    assert run[FAIL]['msg'] == 'Pre-flight passed: no checks ran'


def test_bad_inputs_stop_before_any_check(ansible_playbook):
    role_vars = dict(preflight_tls_url='http://aishield.example.com/', preflight_min_free_mb=0)
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc != 0
    assert 'preflight_tls_url must be an https:// URL' in run['aishield.ops.preflight : Check the TLS URL']['msg']
    assert 'aishield.ops.preflight : Measure free disk space' not in run.results()
