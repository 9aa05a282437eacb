# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.aishield.ops.plugins.filter import tls
from ansible_collections.aishield.ops.plugins.filter.tls import (
    FilterModule, dns_name_matches, host_matches, tls_ca_file, tls_check)

NOW = datetime.datetime(2025, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
KEY = ec.generate_private_key(ec.SECP256R1())
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Test CA')])
URL = 'https://aishield.example.com/'
CA_FILE = '/etc/ssl/certs/ca-certificates.crt'
VERIFY_MSG = ('Failed to get cert from aishield.example.com:443, error: [SSL: CERTIFICATE_VERIFY_FAILED] '
              'certificate verify failed: %s (_ssl.c:1006)')


def make_cert(dns=(), ips=(), cn='aishield.example.com', issuer=CA_NAME, days=(-30, 60), san=True):
    """A certificate valid from NOW+days[0] to NOW+days[1]; issuer=None makes it self-signed."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
               .public_key(KEY.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW + datetime.timedelta(days=days[0]))
               .not_valid_after(NOW + datetime.timedelta(days=days[1])))
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if san and names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(KEY, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode('ascii')


def fetched(cert):
    return {'changed': False, 'cert': pem(cert), 'not_after': 'ignored'}


def refused(reason):
    return {'changed': False, 'failed': False, 'msg': VERIFY_MSG % reason}


def check(verified, unverified=None, url=URL, ca_file=CA_FILE, ca_bundle='', min_days=14):
    return tls_check(url, verified, unverified, ca_file=ca_file, ca_bundle=ca_bundle, min_days=min_days, now=NOW)


def test_filter_module_exports():
    assert FilterModule().filters() == {'tls_ca_file': tls_ca_file, 'tls_check': tls_check}


# --- host names ---------------------------------------------------------------------------------


@pytest.mark.parametrize('pattern, host, expected', [
    ('aishield.example.com', 'aishield.example.com', True),
    ('AIShield.Example.COM', 'aishield.example.com', True),
    ('aishield.example.com.', 'aishield.example.com', True),
    ('aishield.example.com', 'www.aishield.example.com', False),
    ('example.com', 'aishield.example.com', False),
    ('*.example.com', 'aishield.example.com', True),
    ('*.Example.com', 'AISHIELD.example.com.', True),
    # One label only, and never the parent domain itself.
    ('*.example.com', 'a.b.example.com', False),
    ('*.example.com', 'example.com', False),
    ('*.example.com', '.example.com', False),
    # Partial-label wildcards (RFC 6125 6.4.3 leaves them optional): refused, as browsers refuse them.
    ('aishield*.example.com', 'aishield1.example.com', False),
    ('*shield.example.com', 'aishield.example.com', False),
    ('a*d.example.com', 'aishield.example.com', False),
    # Only the left-most label, and at least two labels after it.
    ('www.*.example.com', 'www.aishield.example.com', False),
    ('*.*.example.com', 'a.b.example.com', False),
    ('*.com', 'example.com', False),
    ('*', 'localhost', False),
    ('', 'aishield.example.com', False),
    ('aishield.example.com', '', False),
])
def test_dns_name_matches(pattern, host, expected):
    assert dns_name_matches(pattern, host) is expected


@pytest.mark.parametrize('cert, host, expected', [
    (make_cert(dns=['aishield.example.com']), 'aishield.example.com', True),
    (make_cert(dns=['other.example.com', '*.example.com']), 'aishield.example.com', True),
    (make_cert(dns=['other.example.com']), 'aishield.example.com', False),
    (make_cert(ips=['127.0.0.1']), '127.0.0.1', True),
    (make_cert(ips=['127.0.0.2']), '127.0.0.1', False),
    (make_cert(ips=['::1']), '[::1]', True),
    (make_cert(ips=['::1']), '::1', True),
    # An IP address matches only an IP SAN: not a DNS SAN spelling it, not the CN.
    (make_cert(dns=['127.0.0.1']), '127.0.0.1', False),
    (make_cert(cn='127.0.0.1'), '127.0.0.1', False),
    # The CN counts only when there is no DNS or IP SAN.
    (make_cert(cn='aishield.example.com'), 'aishield.example.com', True),
    (make_cert(cn='*.example.com'), 'aishield.example.com', True),
    (make_cert(cn='aishield.example.com', dns=['other.example.com']), 'aishield.example.com', False),
    (make_cert(cn='aishield.example.com', ips=['127.0.0.1']), 'aishield.example.com', False),
    (make_cert(cn=None), 'aishield.example.com', False),
    # A Unicode host is compared in its A-label form, as certificates carry it.
    (make_cert(dns=['xn--bcher-kva.example.com']), 'bücher.example.com', True),
], ids=lambda v: v if isinstance(v, str) else None)
def test_host_matches(cert, host, expected):
    assert host_matches(cert, host) is expected


# --- which CA file ------------------------------------------------------------------------------


def test_ca_file_is_the_bundle_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert tls_ca_file('ca.pem') == str(tmp_path / 'ca.pem')
    assert tls_ca_file('~/pki/ca.pem') == str(tmp_path / 'home' / 'pki' / 'ca.pem')
    assert tls_ca_file('/srv/ca.pem') == '/srv/ca.pem'


def _verify_paths(cafile):
    return ssl.DefaultVerifyPaths(cafile, None, 'SSL_CERT_FILE', '/nonexistent/cert.pem', 'SSL_CERT_DIR',
                                  '/nonexistent/certs')


def test_ca_file_defaults_to_what_python_loads(monkeypatch):
    monkeypatch.setattr(tls.ssl, 'get_default_verify_paths', lambda: _verify_paths('/opt/pki/system.pem'))
    assert tls_ca_file('') == '/opt/pki/system.pem'


def test_ca_file_falls_back_to_a_distribution_bundle_or_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(tls.ssl, 'get_default_verify_paths', lambda: _verify_paths(None))
    present = tmp_path / 'ca-bundle.crt'
    present.write_text('')
    monkeypatch.setattr(tls, 'SYSTEM_BUNDLES', (str(tmp_path / 'missing.crt'), str(present)))
    assert tls_ca_file('') == str(present)
    os.unlink(present)
    assert tls_ca_file('') == ''


# --- the record ---------------------------------------------------------------------------------


def test_empty_url_skips():
    assert tls_check('', {'skipped': True}) == {'name': 'tls', 'status': 'skipped', 'detail': 'preflight_tls_url is empty'}


def test_a_trusted_certificate_for_the_host_passes():
    record = check(fetched(make_cert(dns=['aishield.example.com'], days=(-30, 60))))
    assert record == {'name': 'tls', 'status': 'ok', 'detail': (
        "certificate of aishield.example.com:443 for aishield.example.com, trusted by the controller's system CA store"
        " (/etc/ssl/certs/ca-certificates.crt), expires 2025-07-31 12:00:00 UTC (60.0 days left),"
        " preflight_tls_min_days=14")}


def test_a_private_ca_bundle_is_named_as_the_store():
    record = check(fetched(make_cert(ips=['127.0.0.1'])), url='https://127.0.0.1:8443/', ca_file='/srv/pki/ca.pem',
                   ca_bundle='/srv/pki/ca.pem')
    assert record['status'] == 'ok'
    assert record['detail'].startswith('certificate of 127.0.0.1:8443 for 127.0.0.1, trusted by preflight_tls_ca_bundle '
                                       '(/srv/pki/ca.pem), expires ')


def test_self_signed_fails_naming_the_fix():
    cert = make_cert(dns=['aishield.example.com'], issuer=None)
    record = check(refused('self-signed certificate'), fetched(cert))
    assert record['status'] == 'failed'
    assert record['detail'] == (
        "certificate of aishield.example.com:443 is self-signed (CN=aishield.example.com), and the controller's system"
        " CA store (/etc/ssl/certs/ca-certificates.crt) does not trust it: serve a certificate from a CA your clients"
        " trust, or set preflight_tls_ca_bundle to a CA bundle that holds this certificate")


def test_unknown_issuer_fails_naming_the_issuer_and_the_store():
    record = check(refused('unable to get local issuer certificate'), fetched(make_cert(dns=['aishield.example.com'])),
                   ca_file='/srv/pki/other.pem', ca_bundle='/srv/pki/other.pem')
    assert record['status'] == 'failed'
    assert record['detail'] == (
        'certificate of aishield.example.com:443 has an unknown issuer (CN=Test CA) that preflight_tls_ca_bundle'
        ' (/srv/pki/other.pem) does not trust (unable to get local issuer certificate): for a private CA set'
        ' preflight_tls_ca_bundle to its CA certificate; otherwise serve the full chain of a trusted CA')


def test_another_chain_error_is_quoted():
    record = check(refused('invalid CA certificate'), fetched(make_cert(dns=['aishield.example.com'])))
    assert record['status'] == 'failed'
    assert 'does not verify against the controller' in record['detail']
    assert '(invalid CA certificate): fix the chain the server sends, or preflight_tls_ca_bundle' in record['detail']


def test_wrong_host_fails_naming_the_certificate_names():
    cert = make_cert(dns=['www.example.org', '*.example.net'], ips=['10.0.0.1'])
    record = check(fetched(cert))
    assert record['status'] == 'failed'
    assert record['detail'] == (
        'certificate of aishield.example.com:443 is for www.example.org, *.example.net, 10.0.0.1, not'
        ' aishield.example.com: serve a certificate whose subjectAltName names aishield.example.com, or fix'
        ' preflight_tls_url')


def test_wrong_host_names_the_cn_when_it_was_used():
    record = check(fetched(make_cert(cn='other.example.com')))
    assert 'is for CN=other.example.com, not aishield.example.com' in record['detail']


def test_expired_fails_once_though_the_chain_reported_it_too():
    cert = make_cert(dns=['aishield.example.com'], days=(-90, -3))
    record = check(refused('certificate has expired'), fetched(cert))
    assert record['status'] == 'failed'
    assert record['detail'] == ('certificate of aishield.example.com:443 expired 2025-05-29 12:00:00 UTC (3.0 days ago):'
                                ' renew the certificate before deploying')


def test_an_expired_ca_is_a_chain_error():
    # The leaf is in date, so OpenSSL's "expired" is about a CA in the chain.
    record = check(refused('certificate has expired'), fetched(make_cert(dns=['aishield.example.com'])))
    assert record['status'] == 'failed'
    assert '(certificate has expired): fix the chain the server sends' in record['detail']
    assert 'days left' not in record['detail']


def test_not_yet_valid_fails():
    cert = make_cert(dns=['aishield.example.com'], days=(2, 90))
    record = check(refused('certificate is not yet valid'), fetched(cert))
    assert record == {'name': 'tls', 'status': 'failed', 'detail': (
        'certificate of aishield.example.com:443 is not valid before 2025-06-03 12:00:00 UTC: check its dates and the'
        ' controller clock')}


@pytest.mark.parametrize('days_left, min_days, status', [
    (2, 14, 'failed'), (13.9, '14', 'failed'), (14, 14, 'ok'), (0.5, 0, 'ok'),
    # Shown as 14.0, but the threshold compares the exact value.
    (13.96, 14, 'failed'),
])
def test_days_left_against_min_days(days_left, min_days, status):
    cert = make_cert(dns=['aishield.example.com'], days=(-30, days_left))
    record = check(fetched(cert), min_days=min_days)
    assert record['status'] == status
    assert '(%s days left), preflight_tls_min_days=%s' % (round(float(days_left), 1), min_days) in record['detail']
    assert ('renew the certificate before deploying' in record['detail']) is (status == 'failed')


def test_every_problem_is_reported_together():
    cert = make_cert(dns=['localhost'], issuer=None, days=(-30, 2))
    record = check(refused('self signed certificate'), fetched(cert), url='https://127.0.0.1:4443/')
    problems = record['detail'].split('. It ')
    assert record['status'] == 'failed'
    assert len(problems) == 3, record['detail']
    assert problems[0].startswith('certificate of 127.0.0.1:4443 is self-signed (CN=aishield.example.com)')
    assert problems[1].startswith('is for localhost, not 127.0.0.1: ')
    assert problems[2].startswith('expires 2025-06-03 12:00:00 UTC (2.0 days left), preflight_tls_min_days=14; renew')


def test_no_ca_file_means_nothing_was_verified():
    # get_certificate ran without ca_cert, so it returned the certificate without verifying it.
    record = check(fetched(make_cert(dns=['aishield.example.com'])), ca_file='')
    assert record['status'] == 'failed'
    assert record['detail'] == (
        'certificate of aishield.example.com:443 could not be verified: the controller has no system CA bundle; set'
        ' preflight_tls_ca_bundle to the CA bundle your clients trust')


@pytest.mark.parametrize('verified, unverified, bundle, expected', [
    ({'failed': False, 'msg': 'Failed to get cert from h:1, error: [Errno 111] Connection refused'}, {'skipped': True},
     '', 'could not fetch the certificate of aishield.example.com:443: Failed to get cert from h:1, error: [Errno 111]'
         ' Connection refused; check preflight_tls_url'),
    # A verify error and then no answer: the unverified fetch's message is the plainer one.
    (refused('self-signed certificate'), {'msg': 'Failed to get cert from h:1, error: timed out'}, '/srv/ca.pem',
     'could not fetch the certificate of aishield.example.com:443: Failed to get cert from h:1, error: timed out;'
     ' check preflight_tls_url and preflight_tls_ca_bundle'),
    ({}, None, '', 'could not fetch the certificate of aishield.example.com:443: no answer; check preflight_tls_url'),
])
def test_no_certificate_fails_with_the_fetch_error(verified, unverified, bundle, expected):
    record = check(verified, unverified, ca_bundle=bundle, ca_file=bundle or CA_FILE)
    assert record == {'name': 'tls', 'status': 'failed', 'detail': expected}


def test_now_defaults_to_the_clock_and_a_naive_now_is_utc():
    cert = make_cert(dns=['aishield.example.com'], days=(-30, 60))
    real = tls_check(URL, fetched(cert), ca_file=CA_FILE)
    assert real['status'] == 'failed' and 'expired' in real['detail']  # NOW is in the past of the real clock
    naive = tls_check(URL, fetched(cert), ca_file=CA_FILE, now=NOW.replace(tzinfo=None))
    assert '(60.0 days left)' in naive['detail']
