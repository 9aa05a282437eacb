# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The migration, run INSIDE the release's own image: `python3 - OPTIONS_JSON` with this file on stdin.

One container answers every question of the migration phase: the image's Alembic heads and
migration chain, the database's revision (read through the image's own env.py, so the tool
never needs the database's address or password), the gate, the upgrade and the check after
it. It prints a single line, MARKER followed by JSON, which the alembic_migrate module reads.

Standard library plus Alembic only: this file is not imported by Ansible on the host except by
the unit tests, which exercise the pure gate below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback

MARKER = 'AISHIELD_ALEMBIC '
_TAIL = 1500


def gate_problems(heads, unknown):
    """What stops a migration: anything but one head, or a database revision the image does not know."""
    problems = []
    if len(heads) != 1:
        problems.append('heads')
    if unknown:
        problems.append('unknown')
    return problems


def _chain(script):
    return [{'revision': rev.revision, 'down_revision': rev.down_revision,
             'backward_compatible': getattr(rev.module, 'backward_compatible', None)} for rev in script.walk_revisions()]


def _database_heads(config, script):
    """The revisions in alembic_version, through env.py like `alembic current`, without resolving them."""
    from alembic.runtime.environment import EnvironmentContext  # pylint: disable=import-outside-toplevel
    found = []

    def capture(_rev, context):
        found.extend(context.get_current_heads())
        return []

    with EnvironmentContext(config, script, fn=capture, dont_mutate=True):
        script.run_env()
    return sorted(found)


def _unknown(script, revisions):
    missing = []
    for rev in revisions:
        try:
            known = script.get_revision(rev) is not None
        except Exception:  # pylint: disable=broad-except
            known = False
        if not known:
            missing.append(rev)
    return missing


def _upgrade(config, command_argv):
    """Run the migration: Alembic in this process by default, or the team's own command."""
    if command_argv:
        proc = subprocess.run(command_argv, capture_output=True, text=True, check=False)
        output = (proc.stdout + proc.stderr)[-_TAIL:]
        return (None if proc.returncode == 0 else 'exit %d: %s' % (proc.returncode, output.strip())), output
    from alembic import command  # pylint: disable=import-outside-toplevel
    try:
        command.upgrade(config, 'head')
    except Exception:  # pylint: disable=broad-except
        return traceback.format_exc()[-_TAIL:], ''
    return None, ''


def run(options):
    from alembic.config import Config  # pylint: disable=import-outside-toplevel
    from alembic.script import ScriptDirectory  # pylint: disable=import-outside-toplevel
    config = Config(options.get('config') or 'alembic.ini')
    script = ScriptDirectory.from_config(config)
    result = {'heads': sorted(script.get_heads()), 'chain': _chain(script)}
    result['before'] = _database_heads(config, script)
    result['unknown'] = _unknown(script, result['before'])
    result['problems'] = gate_problems(result['heads'], result['unknown'])
    result['applied'] = False
    if result['problems'] or options.get('probe_only') or result['before'] == result['heads']:
        result['after'] = result['before']
        return result
    error, output = _upgrade(config, options.get('command'))
    result.update(applied=error is None, error=error, output=output)
    result['after'] = _database_heads(config, script)
    return result


def main(argv):
    try:
        result = run(json.loads(argv[1]) if len(argv) > 1 else {})
    except Exception:  # pylint: disable=broad-except
        result = {'crash': traceback.format_exc()[-_TAIL:]}
    sys.stdout.write('\n' + MARKER + json.dumps(result) + '\n')
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv)
