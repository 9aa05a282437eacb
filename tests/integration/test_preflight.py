# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The preflight role through ansible-playbook on localhost, against real services.

Docker and the registry are this machine's engine and the test bed's 127.0.0.1:5000;
TLS is a local server with certificates made here by community.crypto (a private CA, and
self-signed, wrong-host and expired certificates); S3 is moto_server on a free port
(s3_fixtures). Secrets are planted and searched for in everything the run prints at -vvv.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
import yaml

pytest.register_assert_rewrite('s3_fixtures')
from conftest import PYTHON, REPO, VENV_BIN, free_port  # noqa: E402  pylint: disable=wrong-import-position
from s3_fixtures import AWS_ACCESS_KEY, AWS_REGION, AWS_SECRET_KEY  # noqa: E402  pylint: disable=wrong-import-position

pytest_plugins = ['s3_fixtures']


pytestmark = pytest.mark.integration

REGISTRY = '127.0.0.1:5000'
PRESENT_IMAGE = REGISTRY + '/aishield/redis:7'
ROLE = 'Run the pre-flight checks'
# The JSON callback names role tasks "<role> : <task>".
# One module call on the host runs every check (the TLS record comes from the controller) and fails once.
FAIL = 'aishield.ops.preflight : Check the lock, secrets, disk, Docker, Compose, registry and bucket on the host'
ALL_CHECKS = ['lock', 'env', 'disk', 'docker', 'compose', 'registry', 's3', 'tls']
CA_NAME = 'AI Shield test CA'


# --- certificates, made by community.crypto as an operator would --------------------------------

# name: (provider, subjectAltName, not before, not after); all for the one server key.
LEAVES = {
    'valid-60d': ('ownca', ['IP:127.0.0.1', 'DNS:localhost'], '-1h', '+60d'),
    'valid-2d': ('ownca', ['IP:127.0.0.1', 'DNS:localhost'], '-1h', '+2d'),
    'self-signed': ('selfsigned', ['IP:127.0.0.1', 'DNS:localhost'], '-1h', '+60d'),
    'wrong-host': ('ownca', ['DNS:aishield.example.com', 'DNS:*.aishield.example.com'], '-1h', '+60d'),
    'expired': ('ownca', ['IP:127.0.0.1', 'DNS:localhost'], '-30d', '-2d'),
}


def _pki_playbook(pki):
    # The CN is the first SAN's value: the subject a self-signed certificate names as its own issuer.
    leaves = [{'name': name, 'provider': provider, 'san': san, 'cn': san[0].split(':', 1)[1], 'not_before': not_before,
               'not_after': not_after} for name, (provider, san, not_before, not_after) in LEAVES.items()]
    return [{'name': 'pki', 'hosts': 'localhost', 'gather_facts': False, 'vars': {'pki': str(pki), 'leaves': leaves},
             'tasks': [
        {'name': 'Make the keys', 'community.crypto.openssl_privatekey': {
            'path': '{{ pki }}/{{ item }}.key', 'type': 'ECC', 'curve': 'secp256r1'}, 'loop': ['ca', 'server']},
        {'name': 'Request the CA certificate', 'register': 'ca_csr', 'community.crypto.openssl_csr_pipe': {
            'privatekey_path': '{{ pki }}/ca.key', 'common_name': CA_NAME, 'use_common_name_for_san': False,
            'basic_constraints': ['CA:TRUE'], 'basic_constraints_critical': True,
            'key_usage': ['keyCertSign', 'cRLSign'], 'key_usage_critical': True}},
        {'name': 'Self-sign the CA certificate', 'community.crypto.x509_certificate': {
            'path': '{{ pki }}/ca.pem', 'csr_content': '{{ ca_csr.csr }}', 'privatekey_path': '{{ pki }}/ca.key',
            'provider': 'selfsigned', 'selfsigned_not_before': '-1d', 'selfsigned_not_after': '+365d'}},
        {'name': 'Request the server certificates', 'register': 'csrs', 'loop': '{{ leaves }}',
         'community.crypto.openssl_csr_pipe': {
             'privatekey_path': '{{ pki }}/server.key', 'common_name': '{{ item.cn }}',
             'subject_alt_name': '{{ item.san }}', 'extended_key_usage': ['serverAuth']}},
        {'name': 'Sign the server certificates', 'loop': '{{ csrs.results }}',
         'community.crypto.x509_certificate': {
             'path': '{{ pki }}/{{ item.item.name }}.pem', 'csr_content': '{{ item.csr }}',
             'provider': '{{ item.item.provider }}', 'privatekey_path': '{{ pki }}/server.key',
             'selfsigned_not_before': '{{ item.item.not_before }}', 'selfsigned_not_after': '{{ item.item.not_after }}',
             'ownca_path': '{{ pki }}/ca.pem', 'ownca_privatekey_path': '{{ pki }}/ca.key',
             'ownca_not_before': '{{ item.item.not_before }}', 'ownca_not_after': '{{ item.item.not_after }}'}},
    ]}]


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    """A private CA (ca.pem) and the LEAVES certificates (<name>.pem) for server.key, in one directory."""
    pki = tmp_path_factory.mktemp('pki')
    playbook = pki / 'pki.yml'
    playbook.write_text(yaml.safe_dump(_pki_playbook(pki), sort_keys=False))
    inventory = pki / 'inventory.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % PYTHON)
    proc = subprocess.run([str(VENV_BIN / 'ansible-playbook'), '-i', str(inventory), str(playbook)], cwd=str(REPO),
                          env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                                   ANSIBLE_LOCAL_TEMP=str(pki / 'ansible-tmp')),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return pki


@pytest.fixture
def tls_server(pki):
    """start(name, host) -> https://<host>:<port>/ for a server on 127.0.0.1 serving the LEAVES certificate `name`."""
    servers = []

    def start(name, host='127.0.0.1'):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki / (name + '.pem')), str(pki / 'server.key'))
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
        return 'https://%s:%d/' % (host, listener.getsockname()[1])

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
def test_every_check_passes_and_no_secret_is_printed(ansible_playbook, tls_server, pki, moto_endpoint, bucket,
                                                     present_image, tmp_path, check_mode):
    planted = {'POSTGRES_PASSWORD': 'pgPLANT' + secrets.token_hex(8), 'SECRET_KEY': 'skPLANT' + secrets.token_hex(8)}
    registry_password = 'rgPLANT' + secrets.token_hex(8)
    role_vars = dict(
        preflight_required_env=list(planted), preflight_env=planted,
        preflight_disk_path=str(tmp_path / 'not' / 'created' / 'yet'), preflight_min_free_mb=1,
        preflight_tls_url=tls_server('valid-60d'), preflight_tls_min_days=14, preflight_tls_ca_bundle=str(pki / 'ca.pem'),
        preflight_images=[present_image],
        preflight_registry_username='deploy', preflight_registry_password=registry_password,
        preflight_s3_bucket=bucket, preflight_s3_endpoint_url=moto_endpoint, preflight_s3_region=AWS_REGION,
        preflight_s3_access_key=AWS_ACCESS_KEY, preflight_s3_secret_key=AWS_SECRET_KEY)
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars), check=check_mode, verbosity=3)
    assert run.rc == 0, run.output

    checks = checks_by_name(run)
    assert list(checks) == ALL_CHECKS
    # No deploy root given: the lock check is the only one skipped.
    assert {name: c['status'] for name, c in checks.items()} == dict({name: 'ok' for name in ALL_CHECKS}, lock='skipped'), checks
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


def test_every_failure_is_collected_and_reported_once(ansible_playbook, tls_server, pki, moto_endpoint, present_image,
                                                      tmp_path):
    closed_port = free_port()
    role_vars = dict(
        preflight_required_env=['POSTGRES_PASSWORD', 'SECRET_KEY', 'ADMIN_PASSWORD'],
        preflight_env={'POSTGRES_PASSWORD': 'pgPLANT' + secrets.token_hex(8), 'SECRET_KEY': '  '},
        preflight_disk_path=str(tmp_path), preflight_min_free_mb=1024 ** 3,  # a petabyte
        preflight_compose_min_version='99.0.0',
        preflight_tls_url=tls_server('valid-2d'), preflight_tls_min_days=14, preflight_tls_ca_bundle=str(pki / 'ca.pem'),
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
    checks = {c['name']: c for c in run[FAIL]['checks']}
    assert {name: c['status'] for name, c in checks.items()} == {
        'lock': 'skipped', 'env': 'failed', 'disk': 'failed', 'docker': 'ok', 'compose': 'failed', 'tls': 'failed',
        'registry': 'failed', 's3': 'failed'}

    assert run[FAIL]['msg'].startswith('Pre-flight failed 6 of 7 checks: ')
    by_check = {c['name']: '%s: %s' % (c['name'], c['detail']) for c in checks.values() if c['status'] == 'failed'}
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
    assert run[FAIL]['msg'].startswith('Pre-flight failed 2 of 3 checks: '), run[FAIL]['msg']
    lines = ['%s: %s' % (c['name'], c['detail']) for c in run[FAIL]['checks'] if c['status'] == 'failed']
    assert lines[0].startswith('docker: Docker does not answer on unix://%s' % socket_path)
    assert 'preflight_docker_socket' in lines[0]
    assert lines[1].startswith('registry: not found or not reachable: %s' % present_image)


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
    assert 'preflight_tls_url must be an https:// URL' in run['aishield.ops.preflight : Check the pre-flight inputs']['msg']
    assert FAIL not in run.results()


# --- the certificate itself: chain, host name, dates ----------------------------------------------


def tls_only(tls_server, pki, leaf, bundle, host='127.0.0.1'):
    """Role vars that run the TLS check alone."""
    role_vars = dict(preflight_min_free_mb=0, preflight_docker=False, preflight_tls_url=tls_server(leaf, host),
                     preflight_tls_min_days=14)
    if bundle:
        role_vars['preflight_tls_ca_bundle'] = str(pki / 'ca.pem')
    return role_vars


def tls_failure(run):
    """The one failed check's detail, from the report that fails the role."""
    assert run.rc != 0, run.output
    msg = run[FAIL]['msg']
    assert msg.startswith('Pre-flight failed 1 of 1 checks: tls: '), msg
    return msg[len('Pre-flight failed 1 of 1 checks: tls: '):]


@pytest.mark.parametrize('host', ['127.0.0.1', 'localhost'])
def test_private_ca_certificate_passes_with_its_bundle(ansible_playbook, tls_server, pki, host):
    role_vars = tls_only(tls_server, pki, 'valid-60d', bundle=True, host=host)
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc == 0, run.output
    tls = checks_by_name(run)['tls']
    assert tls['status'] == 'ok', tls
    port = role_vars['preflight_tls_url'].rsplit(':', 1)[1].rstrip('/')
    assert tls['detail'].startswith('certificate of %s:%s for %s, trusted by preflight_tls_ca_bundle (%s), expires '
                                    % (host, port, host, pki / 'ca.pem')), tls['detail']
    days = float(re.search(r'\(([0-9.]+) days left\)', tls['detail']).group(1))
    assert 59 < days <= 60


def test_private_ca_certificate_fails_without_its_bundle(ansible_playbook, tls_server, pki):
    role_vars = tls_only(tls_server, pki, 'valid-60d', bundle=False)
    detail = tls_failure(ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars)))
    # Verified against the system store: the private CA is an unknown issuer, and the fix names the variable.
    assert re.match(r"^certificate of 127\.0\.0\.1:\d+ has an unknown issuer \(CN=%s\) that the controller's system CA "
                    r"store \(/\S+\) does not trust \(unable to get local issuer certificate\)" % CA_NAME, detail), detail
    assert 'set preflight_tls_ca_bundle to its CA certificate' in detail
    assert 'days' not in detail


def test_self_signed_certificate_fails(ansible_playbook, tls_server, pki):
    role_vars = tls_only(tls_server, pki, 'self-signed', bundle=False)
    detail = tls_failure(ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars)))
    assert re.match(r"^certificate of 127\.0\.0\.1:\d+ is self-signed \(CN=127\.0\.0\.1\), and the controller's system CA "
                    r"store \(/\S+\) does not trust it: ", detail), detail
    assert 'preflight_tls_ca_bundle' in detail
    # Only the chain is wrong: the host and the dates pass.
    assert '. It ' not in detail


def test_self_signed_certificate_fails_against_a_private_bundle(ansible_playbook, tls_server, pki):
    role_vars = tls_only(tls_server, pki, 'self-signed', bundle=True)
    detail = tls_failure(ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars)))
    assert 'is self-signed (CN=127.0.0.1), and preflight_tls_ca_bundle (%s) does not trust it' % (pki / 'ca.pem') in detail


def test_wrong_host_fails_naming_the_certificate_names(ansible_playbook, tls_server, pki):
    role_vars = tls_only(tls_server, pki, 'wrong-host', bundle=True)
    detail = tls_failure(ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars)))
    assert re.match(r'^certificate of 127\.0\.0\.1:\d+ is for aishield\.example\.com, \*\.aishield\.example\.com, '
                    r'not 127\.0\.0\.1: serve a certificate whose subjectAltName names 127\.0\.0\.1, or fix '
                    r'preflight_tls_url$', detail), detail


def test_expired_certificate_fails(ansible_playbook, tls_server, pki):
    role_vars = tls_only(tls_server, pki, 'expired', bundle=True)
    detail = tls_failure(ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars)))
    match = re.match(r'^certificate of 127\.0\.0\.1:\d+ expired (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC \(([0-9.]+) days ago\): '
                     r'renew the certificate before deploying$', detail)
    assert match, detail
    assert 2.0 <= float(match.group(2)) < 2.1


def test_missing_ca_bundle_stops_before_any_check(ansible_playbook, tmp_path):
    role_vars = dict(preflight_tls_url='https://127.0.0.1:%d/' % free_port(), preflight_min_free_mb=0,
                     preflight_tls_ca_bundle=str(tmp_path / 'no-such-ca.pem'))
    run = ansible_playbook(preflight(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc != 0
    msg = run['aishield.ops.preflight : Check the pre-flight inputs']['msg']
    assert "preflight_tls_ca_bundle must be a CA bundle file (PEM) on the controller (got '%s')" % (
        tmp_path / 'no-such-ca.pem') in msg
    assert FAIL not in run.results()
