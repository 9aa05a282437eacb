# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Alembic decisions: the migration gate, whether older code runs on a newer schema, and the
one-off container that migrates (module_utils/_alembic_runner.py runs inside it)."""

from __future__ import annotations

import json

from ansible_collections.aishield.ops.plugins.module_utils import _alembic_runner


class AlembicError(Exception):
    """The migration could not run or was refused; the message is for the operator."""


def revision_list(value, what):
    if isinstance(value, str):
        value = [value] if value else []
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise ValueError('%s %r is not a list of revision ids' % (what, value))
    return sorted(value)


def rollback_check(chain, current, target):
    """Can code whose schema head is `target` run on a database at `current`?

    `chain` lists the revisions the newer code ships ({revision, down_revision,
    backward_compatible}). Walking down from the database's revision to the target's,
    every revision passed must be declared backward compatible.
    """
    if not isinstance(chain, (list, tuple)):
        raise ValueError('chain %r is not a list of {revision, down_revision, backward_compatible}' % (chain,))
    current = revision_list(current, 'current')
    target = revision_list(target, 'target')
    result = {'compatible': False, 'same': current == target, 'between': [], 'incompatible': [], 'reason': ''}
    if result['same']:
        result.update(compatible=True, reason='the database is at the target revision %s' % (','.join(target) or '(empty)'))
        return result
    if len(current) != 1 or len(target) != 1:
        result['reason'] = ('the database is at %s and the target expects %s: only a single-head history can be checked'
                            % (','.join(current) or '(empty)', ','.join(target) or '(empty)'))
        return result
    parents, flags = {}, {}
    for entry in chain:
        if not isinstance(entry, dict) or 'revision' not in entry:
            raise ValueError('chain entry %r has no "revision"' % (entry,))
        parents[entry['revision']] = entry.get('down_revision')
        flags[entry['revision']] = entry.get('backward_compatible')
    walked, revision = [], current[0]
    while revision is not None and revision != target[0] and len(walked) <= len(parents):
        if revision not in parents:
            result['reason'] = ('revision %s is not in the recorded migration chain, so the path from the database (%s) '
                                'to the target (%s) is unknown' % (revision, current[0], target[0]))
            return result
        walked.append(revision)
        parent = parents[revision]
        if isinstance(parent, (list, tuple)):
            result['reason'] = 'revision %s is a merge point; a rollback across it needs a full rollback' % revision
            return result
        revision = parent
    if revision != target[0]:
        result['reason'] = ('the target revision %s is not below the database revision %s: '
                            'the database is behind or on another branch' % (target[0], current[0]))
        return result
    result['between'] = walked
    result['incompatible'] = [rev for rev in walked if flags.get(rev) is not True]
    result['compatible'] = not result['incompatible']
    result['reason'] = (
        'migrations %s are all declared backward compatible' % ', '.join(walked) if result['compatible'] else
        'migrations %s are not declared backward compatible (module-level backward_compatible = True)'
        % ', '.join(result['incompatible']))
    return result


def gate_message(found):
    """Why the gate refused, in the operator's words ('' when it did not)."""
    parts = []
    if 'heads' in found.get('problems', []):
        parts.append('The new image has %d Alembic heads (%s): merge them in the code (alembic merge heads) before '
                     'deploying.' % (len(found['heads']), ', '.join(found['heads']) or 'none'))
    if 'unknown' in found.get('problems', []):
        parts.append('The database is at %s, a revision the new image does not know: the database is ahead of this code '
                     '(a newer release migrated it) or on another branch. Deploy a release that knows it, or restore a '
                     'backup first.' % ', '.join(found['unknown']))
    return ' '.join(parts) + (' Nothing was changed.' if parts else '')


def failure_message(found):
    """The upgrade failed: alembic's own last error line, and where it left the database."""
    lines = [line.strip() for line in (found.get('error') or '').splitlines() if line.strip()]
    error = next((line for line in reversed(lines) if 'Error' in line or 'error' in line or 'Exception' in line),
                 lines[-1] if lines else 'no error text')
    same = found.get('after') == found.get('before')
    where = ('unchanged, the failed migration was rolled back with its transaction.' if same else
             'CHANGED from %s - inspect it before deploying again.' % (','.join(found.get('before') or []) or 'no revision'))
    return ('alembic upgrade head failed in the new image: %s. The database is at %s: %s'
            % (error[:300], ','.join(found.get('after') or []) or 'no revision', where))


def runner_source():
    """This collection's runner, sent to the container on stdin (never written to the host's disk)."""
    loader = getattr(_alembic_runner, '__loader__', None)
    source = None
    if loader is not None and hasattr(loader, 'get_source'):
        source = loader.get_source(_alembic_runner.__name__)
    if not source:
        with open(_alembic_runner.__file__) as handle:
            source = handle.read()
    return source


def run_in_image(compose, service, options, python='python3', timeout=900, deps=False):
    """Run the runner in a one-off container of `service` (the release's image); return its findings."""
    # Imported here: the alembic filters load this file on the controller in every task's worker, and
    # _compose brings the Docker API client and http.client with it.
    from ansible_collections.aishield.ops.plugins.module_utils._compose import ComposeError  # pylint: disable=import-outside-toplevel
    argv = ['run', '--rm'] + ([] if deps else ['--no-deps']) + ['-T', service, python, '-', json.dumps(options, sort_keys=True)]
    try:
        proc = compose.run(*argv, stdin=runner_source(), timeout=timeout, check=False)
    except ComposeError as exc:
        raise AlembicError(str(exc))
    found = None
    for line in proc.stdout.splitlines():
        if line.startswith(_alembic_runner.MARKER):
            found = json.loads(line[len(_alembic_runner.MARKER):])
    if found is None:
        tail = ' | '.join([line for line in (proc.stderr + proc.stdout).strip().splitlines() if line.strip()][-6:])
        raise AlembicError('the migration container of service %s ended (exit %d) without a result: %s'
                           % (service, proc.returncode, tail[-600:] or 'no output'))
    if found.get('crash'):
        last = [line for line in found['crash'].splitlines() if line.strip()][-1:]
        raise AlembicError('Alembic could not read the migrations or the database in the image of service %s: %s'
                           % (service, last[0] if last else found['crash'][-300:]))
    return found
