# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pre-flight TLS check: which CA file to verify against, and the verdict on a fetched certificate.

community.crypto.get_certificate verifies the chain (with ca_cert) but not the host name, and says nothing
useful about dates once verification fails; this reads the certificate it returned and judges the rest.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - ansible-core itself requires cryptography
    x509 = None

# Where the common distributions keep the system bundle, for a Python whose OpenSSL default
# file is missing (it may only have a hashed directory, which get_certificate cannot take).
SYSTEM_BUNDLES = (
    '/etc/ssl/certs/ca-certificates.crt',  # Debian, Ubuntu, Alpine, Arch
    '/etc/pki/tls/certs/ca-bundle.crt',  # RHEL, Fedora
    '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',  # RHEL 7+
    '/etc/ssl/ca-bundle.pem',  # openSUSE
    '/etc/ssl/cert.pem',  # macOS, Alpine, BSD
    '/usr/local/share/certs/ca-root-nss.crt',  # FreeBSD
)
# OpenSSL's reasons (1.1 and 3.x wording) that mean "no trusted issuer found".
UNKNOWN_ISSUER = ('unable to get local issuer certificate', 'unable to get issuer certificate',
                  'self-signed certificate in certificate chain', 'self signed certificate in certificate chain',
                  'unable to verify the first certificate')
DATE_REASONS = ('certificate has expired', 'certificate is not yet valid')
VERIFY_REASON = re.compile(r'certificate verify failed: (.+?)\s*(?:\(_ssl\.c:\d+\))?$')


def tls_ca_file(bundle=''):
    """The CA file to verify against: the user's bundle, else the controller's system bundle, else ''."""
    if bundle:
        return os.path.abspath(os.path.expanduser(str(bundle)))
    # get_default_verify_paths() honours SSL_CERT_FILE, as a client on this controller would.
    default = ssl.get_default_verify_paths().cafile
    if default:
        return default
    return next((path for path in SYSTEM_BUNDLES if os.path.isfile(path)), '')


def _reference_host(host):
    """The URL's host as a certificate names it: an ip_address, or a lower-case A-label name."""
    host = host.strip().rstrip('.').lower()
    try:
        return ipaddress.ip_address(host.strip('[]'))
    except ValueError:
        pass
    try:
        return host.encode('idna').decode('ascii')
    except UnicodeError:
        return host


def dns_name_matches(pattern, host):
    """RFC 6125 6.4.3: a wildcard only as the whole left-most label, standing for exactly one label.

    The partial-label wildcards the RFC leaves optional (w*.example.com) are refused, as browsers and
    OpenSSL refuse them: this check predicts what clients accept. A wildcard needs two labels after it.
    """
    pattern = pattern.strip().rstrip('.').lower()
    host = host.rstrip('.').lower()
    if not pattern or not host:
        return False
    if '*' not in pattern:
        return pattern == host
    first, _dot, rest = pattern.partition('.')
    if first != '*' or '*' in rest or rest.count('.') < 1:
        return False
    label, dot, host_rest = host.partition('.')
    return bool(label and dot) and host_rest == rest


def cert_names(cert):
    """(DNS names, IP addresses, common names) the certificate is for; the CN only without DNS/IP SANs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        dns, ips = [], []
    common = [] if dns or ips else [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return dns, ips, common


def host_matches(cert, host):
    """Whether the certificate is valid for host (a name or an IP address)."""
    dns, ips, common = cert_names(cert)
    ref = _reference_host(host)
    if isinstance(ref, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        # An IP address matches an iPAddress SAN only, never a DNS name or the CN (RFC 2818 3.1), as clients do.
        return ref in ips
    return any(dns_name_matches(name, ref) for name in dns + common)


def _utc(cert, attr):
    value = getattr(cert, attr + '_utc', None)  # cryptography >= 42
    if value is None:
        value = getattr(cert, attr).replace(tzinfo=datetime.timezone.utc)
    return value


def _when(moment):
    return moment.strftime('%Y-%m-%d %H:%M:%S UTC')


def _verify_reason(msg):
    match = VERIFY_REASON.search(msg or '')
    return match.group(1) if match else (msg or 'no reason given')


def _chain_clause(cert, reason, store, ca_file):
    """What is wrong with the chain, and the fix."""
    if not ca_file:
        return ('could not be verified: the controller has no system CA bundle; set preflight_tls_ca_bundle to '
                'the CA bundle your clients trust')
    issuer = cert.issuer.rfc4514_string() or 'an empty name'
    if cert.issuer == cert.subject:
        return ('is self-signed (%s), and %s does not trust it: serve a certificate from a CA your clients trust, '
                'or set preflight_tls_ca_bundle to a CA bundle that holds this certificate' % (issuer, store))
    if reason in UNKNOWN_ISSUER:
        return ('has an unknown issuer (%s) that %s does not trust (%s): for a private CA set preflight_tls_ca_bundle '
                'to its CA certificate; otherwise serve the full chain of a trusted CA' % (issuer, store, reason))
    return ('does not verify against %s (%s): fix the chain the server sends, or preflight_tls_ca_bundle'
            % (store, reason))


def _date_clause(cert, now, min_days):
    """(clause, failed) for the validity dates; the clause also states the days left when they pass."""
    not_before, not_after = _utc(cert, 'not_valid_before'), _utc(cert, 'not_valid_after')
    exact = (not_after - now).total_seconds() / 86400
    days = round(exact, 1)  # for the message; the threshold compares the exact value
    if now < not_before:
        return ('is not valid before %s: check its dates and the controller clock' % _when(not_before)), True
    if now >= not_after:
        return ('expired %s (%s days ago): renew the certificate before deploying' % (_when(not_after), -days)), True
    clause = 'expires %s (%s days left), preflight_tls_min_days=%s' % (_when(not_after), days, min_days)
    if exact < float(min_days):
        return clause + '; renew the certificate before deploying', True
    return clause, False


def tls_check(url, verified, unverified=None, ca_file='', ca_bundle='', min_days=14, now=None):
    """The pre-flight record {name: tls, status, detail} for the certificate of url.

    verified: get_certificate's result with ca_cert=ca_file (it returns the certificate only if the chain
    verifies); unverified: its result without ca_cert, fetched only when verification failed.
    """
    if not url:
        return {'name': 'tls', 'status': 'skipped', 'detail': 'preflight_tls_url is empty'}
    if x509 is None:
        raise AnsibleFilterError('tls_check needs the Python cryptography library on the controller')
    parts = urlsplit(url)
    host = parts.hostname or ''
    where = '%s:%s' % (host, parts.port or 443)
    verified = verified or {}
    unverified = unverified or {}
    if verified.get('cert'):
        pem, reason = verified['cert'], None
    elif unverified.get('cert'):
        pem, reason = unverified['cert'], _verify_reason(verified.get('msg'))
    else:
        # The unverified fetch, when it ran, failed at the connection: its message is the plainer one.
        msg = unverified.get('msg') or verified.get('msg') or 'no answer'
        return {'name': 'tls', 'status': 'failed',
                'detail': 'could not fetch the certificate of %s: %s; check preflight_tls_url%s'
                          % (where, msg, ' and preflight_tls_ca_bundle' if ca_bundle else '')}
    try:
        cert = x509.load_pem_x509_certificate(pem.encode('ascii') if isinstance(pem, str) else pem)
    except ValueError as exc:
        return {'name': 'tls', 'status': 'failed',
                'detail': 'the certificate of %s does not parse (%s); check preflight_tls_url' % (where, exc)}

    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    store = ('preflight_tls_ca_bundle (%s)' % ca_file if ca_bundle
             else "the controller's system CA store (%s)" % (ca_file or 'none found'))
    date_clause, date_failed = _date_clause(cert, now, min_days)

    problems = []
    # No ca_file means get_certificate returned the certificate unverified.
    if reason is not None or not ca_file:
        # OpenSSL names one error: a date one is about the leaf when the leaf's own dates fail.
        if not (reason in DATE_REASONS and date_failed):
            problems.append(_chain_clause(cert, reason, store, ca_file))
    if not host_matches(cert, host):
        dns, ips, common = cert_names(cert)
        names = ', '.join(dns + [str(ip) for ip in ips] + ['CN=' + cn for cn in common]) or 'no host name'
        problems.append('is for %s, not %s: serve a certificate whose subjectAltName names %s, or fix preflight_tls_url'
                        % (names, host, host))
    if date_failed:
        problems.append(date_clause)
    if not problems:
        return {'name': 'tls', 'status': 'ok',
                'detail': 'certificate of %s for %s, trusted by %s, %s' % (where, host, store, date_clause)}
    return {'name': 'tls', 'status': 'failed', 'detail': 'certificate of %s %s' % (where, '. It '.join(problems))}


class FilterModule:
    """Pre-flight TLS certificate filters."""

    def filters(self):
        return {
            'tls_ca_file': tls_ca_file,
            'tls_check': tls_check,
        }
