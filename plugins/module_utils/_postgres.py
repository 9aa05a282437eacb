# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PostgreSQL connection options shared by the collection's modules (doc fragment: aishield.ops.postgres)."""

from __future__ import annotations

import getpass
import os
import re
import traceback

from ansible.module_utils.basic import missing_required_lib

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    HAS_PSYCOPG2 = True
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']

# Option name -> libpq keyword, and the libpq variable that fills it when the option is unset.
_LIBPQ = (
    ('login_host', 'host', 'PGHOST'),
    ('login_port', 'port', 'PGPORT'),
    ('login_user', 'user', 'PGUSER'),
    ('login_password', 'password', 'PGPASSWORD'),
    ('login_db', 'dbname', 'PGDATABASE'),
    ('ssl_mode', 'sslmode', 'PGSSLMODE'),
    ('ca_cert', 'sslrootcert', 'PGSSLROOTCERT'),
    ('connect_timeout', 'connect_timeout', 'PGCONNECT_TIMEOUT'),
)
# libpq prefixes connection failures with where it tried; the module names the target itself.
_SERVER_PREFIX_RE = re.compile(r'^(connection to server (at|on) .*?failed:\s*)', re.I)


def postgres_common_argument_spec():
    """Connection options; unset ones are left to libpq (PG* variables, ~/.pgpass, defaults)."""
    return dict(
        login_host=dict(type='str', aliases=['host']),
        login_port=dict(type='int', aliases=['port']),
        login_user=dict(type='str', aliases=['login']),
        login_password=dict(type='str', no_log=True),
        login_db=dict(type='str', aliases=['db']),
        connect_timeout=dict(type='int', default=10),
        ssl_mode=dict(type='str', choices=SSL_MODES),
        ca_cert=dict(type='path', aliases=['ssl_rootcert']),
    )


def connect_kwargs(params, application_name='aishield.ops'):
    """psycopg2.connect() keywords for the options that are set, and nothing else."""
    kwargs = {'application_name': application_name}
    for option, keyword, _env in _LIBPQ:
        value = params.get(option)
        if value is not None and value != '':
            kwargs[keyword] = value
    return kwargs


def describe_target(params, environ=None):
    """host:port/db as user, as libpq will resolve it; never includes the password."""
    env = os.environ if environ is None else environ
    resolved = {}
    for option, keyword, var in _LIBPQ:
        value = params.get(option)
        resolved[keyword] = value if value not in (None, '') else env.get(var)
    host = resolved['host'] or 'local socket'
    port = resolved['port'] or 5432
    user = resolved['user']
    if not user:
        try:
            user = getpass.getuser()
        except Exception:  # pylint: disable=broad-except
            user = 'unknown'
    dbname = resolved['dbname'] or user
    return '%s:%s/%s as user %s' % (host, port, dbname, user)


def one_line_error(exc, secrets=()):
    """A psycopg2 error as one line without libpq's location prefix or any secret."""
    text = ' '.join(str(getattr(exc, 'pgerror', None) or exc).split())
    text = _SERVER_PREFIX_RE.sub('', text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text or type(exc).__name__


def ensure_psycopg2(module):
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)


def connect(module, application_name='aishield.ops', readonly=True):
    """Open an autocommit connection, failing the task with a one-line message naming the target."""
    ensure_psycopg2(module)
    params = module.params
    try:
        conn = psycopg2.connect(**connect_kwargs(params, application_name))
        conn.set_session(readonly=readonly, autocommit=True)
    except psycopg2.Error as exc:
        module.fail_json(msg='cannot connect to PostgreSQL at %s: %s' % (
            describe_target(params), one_line_error(exc, [params.get('login_password'), os.environ.get('PGPASSWORD')])))
    return conn
