# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Matches module_utils/_postgres.py postgres_common_argument_spec().
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host running the database. A path starting with C(/) is a Unix socket directory.
      - When unset, libpq uses E(PGHOST), then its default socket.
    type: str
    aliases: [host]
  login_port:
    description:
      - Database port. When unset, libpq uses E(PGPORT), then C(5432).
    type: int
    aliases: [port]
  login_user:
    description:
      - Role to log in as. When unset, libpq uses E(PGUSER), then the name of the user running the module.
    type: str
    aliases: [login]
  login_password:
    description:
      - Password for O(login_user). Never returned, and left out of error messages.
      - When unset, libpq uses E(PGPASSWORD), then C(~/.pgpass) (or E(PGPASSFILE)).
    type: str
  login_db:
    description:
      - Database to connect to. When unset, libpq uses E(PGDATABASE), then the user name.
    type: str
    aliases: [db]
  connect_timeout:
    description:
      - Seconds to wait for the connection before giving up.
    type: int
    default: 10
  ssl_mode:
    description:
      - Whether and how TLS is negotiated; see U(https://www.postgresql.org/docs/current/libpq-ssl.html).
      - When unset, libpq uses E(PGSSLMODE), then V(prefer).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - File of CA certificates the server certificate must chain to (libpq C(sslrootcert)).
      - Needed for O(ssl_mode=verify-ca) and O(ssl_mode=verify-full).
    type: path
    aliases: [ssl_rootcert]
requirements:
  - psycopg2 (C(python3-psycopg2) on Debian, or C(psycopg2-binary) from PyPI) on the host that runs the module.
notes:
  - Only options that are set are passed to libpq, so the usual libpq environment variables and C(~/.pgpass) apply to the
    rest. Set them with the task's C(environment) keyword.
"""
