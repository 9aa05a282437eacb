#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: alembic_version
short_description: Read a database's Alembic revision and compare it with the code's heads
version_added: 0.1.0
description:
  - Reads the C(alembic_version) table over psycopg2 (zero, one or several rows) and compares it with the revision(s) a
    release expects, so a deploy can gate a migration and verify it afterwards without running Alembic itself.
  - A missing table is not an error; it gives RV(current=[]) (a database never migrated).
  - O(state=query) only reads and reports. O(state=present) additionally fails unless the database is exactly at
    O(expected) (or, when O(expected) is not given, at O(heads)).
  - Why not community.postgresql? M(community.postgresql.postgresql_query) can read the table but knows nothing about Alembic
    (no head comparison, no pending or unknown revisions, and it errors when the table does not exist yet), so every
    playbook would re-implement this logic in Jinja.
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - aishield.ops.postgres
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so it runs unchanged in check mode.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details:
      - The module never changes anything and always reports RV(ignore:changed=false).
  platform:
    platforms: posix
options:
  state:
    description:
      - V(query) reads and compares, and never fails because of what it finds.
      - V(present) fails unless the database revisions equal O(expected), or O(heads) when O(expected) is not given.
    type: str
    choices: [query, present]
    default: query
  expected:
    description:
      - The revision or revisions the database should be at, in any order. V([]) means "never migrated".
    type: list
    elements: str
  heads:
    description:
      - The head revision(s) of the code about to run, for example from C(alembic heads) parsed with
        P(aishield.ops.alembic_heads#filter). Enables RV(is_head), RV(pending) and RV(unknown).
    type: list
    elements: str
  revisions:
    description:
      - Every revision the code knows (heads included), for example from Alembic's C(ScriptDirectory.walk_revisions()).
      - Without it a database revision that is not a head cannot be told apart from a foreign one, so RV(unknown) then lists
        every current revision that is not a head (the safe reading for a gate).
    type: list
    elements: str
  version_table:
    description: Name of Alembic's version table (Alembic's C(version_table) setting).
    type: str
    default: alembic_version
  version_table_schema:
    description: Schema of the version table. When unset, the connection's C(search_path) decides, as it does for Alembic.
    type: str
seealso:
  - module: community.postgresql.postgresql_query
  - name: Alembic branches and multiple heads
    description: How Alembic stores one row per head in the version table.
    link: https://alembic.sqlalchemy.org/en/latest/branches.html
"""

EXAMPLES = r"""
- name: List the migrations shipped in the new image
  community.docker.docker_compose_v2_run:
    project_src: /srv/aishield/current
    service: backend
    argv: [python3, -m, app.migration_info]
    cleanup: true
    no_deps: true
  register: __migration_info
  changed_when: false
  check_mode: false

- name: Read the revision before migrating
  aishield.ops.alembic_version:
    login_host: 127.0.0.1
    login_user: aishield
    login_password: "{{ vault_db_password }}"
    login_db: aishield
    heads: "{{ (__migration_info.stdout | from_json).heads }}"
    revisions: "{{ (__migration_info.stdout | from_json).revisions | map(attribute='revision') | list }}"
  register: __migration_before

- name: Refuse a migration the new code cannot run
  ansible.builtin.assert:
    that:
      - not __migration_before.multiple_heads
      - __migration_before.unknown | length == 0
    fail_msg: "database at {{ __migration_before.current }}: unknown {{ __migration_before.unknown }}"

- name: Verify the upgrade reached the heads (libpq variables supply the connection)
  aishield.ops.alembic_version:
    state: present
    heads: [0002_last_login]
  environment:
    PGHOST: 127.0.0.1
    PGUSER: aishield
    PGDATABASE: aishield
    PGPASSWORD: "{{ vault_db_password }}"
"""

RETURN = r"""
current:
  description: Revisions in the version table, sorted; empty when the table is missing or empty.
  returned: always
  type: list
  elements: str
  sample: [0002_last_login]
revision:
  description: The single current revision; V(null) when there are none or several.
  returned: always
  type: str
  sample: 0002_last_login
table_exists:
  description: Whether the version table exists.
  returned: always
  type: bool
  sample: true
multiple_heads:
  description: Whether the code (O(heads)) or the database (RV(current)) has more than one head.
  returned: always
  type: bool
  sample: false
is_head:
  description: Whether the database revisions are exactly O(heads).
  returned: when O(heads) is given
  type: bool
  sample: false
pending:
  description: Whether some head is not applied yet, that is an upgrade has work to do.
  returned: when O(heads) is given
  type: bool
  sample: true
unknown:
  description: Current revisions the code does not know (see O(revisions)).
  returned: when O(heads) or O(revisions) is given
  type: list
  elements: str
  sample: []
matches:
  description: Whether the database revisions are exactly O(expected) (or O(heads) with O(state=present)).
  returned: when O(expected) is given, or with O(state=present)
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aishield.ops.plugins.module_utils._postgres import (
    connect, describe_target, one_line_error, postgres_common_argument_spec,
)

try:
    from psycopg2 import Error as PsycopgError
    from psycopg2.sql import SQL, Identifier
except ImportError:  # reported by connect() through ensure_psycopg2()
    PsycopgError = Exception


def compare(current, heads=None, expected=None, revisions=None):
    """Compare database revisions with the code's heads and the expected revisions (pure)."""
    have = set(current)
    out = {'current': sorted(have), 'revision': sorted(have)[0] if len(have) == 1 else None,
           'multiple_heads': len(have) > 1 or len(set(heads or [])) > 1}
    if heads is not None:
        out['is_head'] = have == set(heads)
        out['pending'] = bool(set(heads) - have)
    if heads is not None or revisions is not None:
        out['unknown'] = sorted(have - set(revisions or []) - set(heads or []))
    if expected is not None:
        out['matches'] = have == set(expected)
    return out


def target_revisions(state, heads, expected):
    """What state=present asserts: expected, else heads; None when neither is given."""
    if state != 'present':
        return None
    return expected if expected is not None else heads


class AlembicVersion(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params

    def read(self):
        """Return (table_exists, revisions)."""
        p = self.params
        conn = connect(self.module, application_name='aishield.ops.alembic_version')
        names = [p['version_table_schema'], p['version_table']] if p['version_table_schema'] else [p['version_table']]
        table = Identifier(*names)
        try:
            with conn.cursor() as cur:
                # to_regclass gives NULL instead of an error when the table (or schema) is missing.
                cur.execute('SELECT to_regclass(%s)', (table.as_string(conn),))
                if cur.fetchone()[0] is None:
                    return False, []
                cur.execute(SQL('SELECT version_num FROM {}').format(table))
                return True, [row[0] for row in cur.fetchall()]
        except PsycopgError as exc:
            self.module.fail_json(msg='cannot read %s at %s: %s' % (
                '.'.join(names), describe_target(p), one_line_error(exc, [p['login_password']])))
        finally:
            conn.close()

    def run(self):
        p = self.params
        target = target_revisions(p['state'], p['heads'], p['expected'])
        if p['state'] == 'present' and target is None:
            self.module.fail_json(msg='state=present needs expected or heads to compare with')
        exists, current = self.read()
        result = dict(changed=False, table_exists=exists,
                      **compare(current, p['heads'], p['expected'], p['revisions']))
        if target is not None:
            result['matches'] = set(current) == set(target)
            if not result['matches']:
                self.module.fail_json(msg='database %s is at %s, expected %s' % (
                    describe_target(p), result['current'] or 'no revision', sorted(set(target)) or 'no revision'),
                    **result)
        self.module.exit_json(**result)


def main():
    # The shared spec marks login_password no_log=True (module_utils/_postgres.py).
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        state=dict(type='str', choices=['query', 'present'], default='query'),
        expected=dict(type='list', elements='str'),
        heads=dict(type='list', elements='str'),
        revisions=dict(type='list', elements='str'),
        version_table=dict(type='str', default='alembic_version'),
        version_table_schema=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    AlembicVersion(module).run()


if __name__ == '__main__':
    main()
