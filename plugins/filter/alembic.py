# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parse Alembic CLI output and compare the database revision with the script heads."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.module_utils._alembic import rollback_check

# Alembic forbids "@", "-" and "+" in revision ids; whitespace, parentheses and
# commas cannot occur either, because they delimit the id in CLI output.
_REV = r'[^\s()@+,-]+'
# Alembic's default log format is "%(levelname)-5.5s [%(name)s] %(message)s",
# so WARNING shows as "WARNI [...]" and CRITICAL as "CRITI [...]".
_LOG_LINE_RE = re.compile(r'^[A-Z]{4,8}\s*\[[^\]]+\]')
# Non-verbose form: "<rev> (branch labels) (head) (effective head) (current) (branchpoint) (mergepoint)".
_PLAIN_RE = re.compile(r'^(' + _REV + r')((?:\s+\([^()]*\))*)$')
# Verbose form starts each entry with "Rev: <rev> (head) ...".
_VERBOSE_RE = re.compile(r'^Rev:\s+(' + _REV + r')((?:\s+\([^()]*\))*)$')
_VERBOSE_FIELD_RE = re.compile(r'^(?:Parent|Merges|Also depends on|Branches into|Branch names|Path):(?:\s|$)')
_CURRENT_HEADER_RE = re.compile(r'^Current revision\(s\) for .*:$')
_SHOW_MAX = 120


def _show(line):
    return line if len(line) <= _SHOW_MAX else line[:_SHOW_MAX] + '...'


def _lines_of(output, what):
    """Return the lines of CLI output given as text, a list of lines or a registered command result."""
    if output is None:
        return []
    if isinstance(output, dict):
        rc = output.get('rc')
        if rc not in (None, 0):
            stderr = str(output.get('stderr') or '').strip().splitlines()
            detail = f': {_show(stderr[-1])}' if stderr else ''
            raise AnsibleFilterError(f'{what} comes from a command that failed with rc={rc}{detail}')
        if 'stdout_lines' in output:
            output = output['stdout_lines']
        elif 'stdout' in output:
            output = output['stdout']
        else:
            raise AnsibleFilterError(
                f'{what} is a dict without "stdout" or "stdout_lines"; pass the output of alembic or a registered command result')
    if isinstance(output, str):
        return output.splitlines()
    if isinstance(output, (list, tuple)):
        lines = []
        for index, item in enumerate(output):
            if not isinstance(item, str):
                raise AnsibleFilterError(f'{what}[{index}]={item!r} is not a string; expected revision ids or output lines')
            lines.extend(item.splitlines())
        return lines
    raise AnsibleFilterError(
        f'{what} has type {type(output).__name__}; expected alembic output text, a list of lines or a command result')


def parse_revisions(output, strict=True, what='input'):
    revisions = []
    in_entry = False
    for raw in _lines_of(output, what):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or _LOG_LINE_RE.match(stripped):
            continue
        if _CURRENT_HEADER_RE.match(stripped):
            in_entry = False
            continue
        # Only an unindented "Rev:" starts an entry; an indented one is docstring text.
        match = _VERBOSE_RE.match(line)
        if match:
            in_entry = True
            revisions.append(match.group(1))
            continue
        # Inside a verbose entry: its fields, and the docstring indented by four spaces.
        if in_entry and (line[:1].isspace() or _VERBOSE_FIELD_RE.match(stripped)):
            continue
        match = _PLAIN_RE.match(stripped)
        if match:
            in_entry = False
            revisions.append(match.group(1))
            continue
        if strict:
            raise AnsibleFilterError(
                f'unrecognised line in alembic output ({what}): {_show(stripped)!r}; expected lines like '
                f'"abc123 (head)" or "Rev: abc123 (head)". Pass strict=false to skip lines you know are noise')
    # Alembic prints from sets, so order carries no meaning; sorting keeps release records stable.
    return sorted(set(revisions))


def alembic_heads(output, strict=True):
    """Return the revision ids listed by `alembic heads` or `alembic current` (any verbosity)."""
    if not isinstance(strict, bool):
        raise AnsibleFilterError(f'strict={strict!r} must be a boolean')
    return parse_revisions(output, strict=strict)


def alembic_compare(current, heads, strict=True):
    """Compare the database's current revisions with the script heads."""
    if not isinstance(strict, bool):
        raise AnsibleFilterError(f'strict={strict!r} must be a boolean')
    current_revs = parse_revisions(current, strict=strict, what='current')
    head_revs = parse_revisions(heads, strict=strict, what='heads')
    current_set, head_set = set(current_revs), set(head_revs)
    return {
        'current': current_revs,
        'heads': head_revs,
        'at_head': current_set == head_set,
        'pending': bool(head_set - current_set),
        'multiple_heads': len(head_revs) > 1,
        'unknown': sorted(current_set - head_set),
    }


def alembic_rollback_check(chain, current, target):
    """Can code whose schema head is `target` run on a database at `current`? (see module_utils/_alembic.py)"""
    try:
        return rollback_check(chain, current, target)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """Alembic output filters."""

    def filters(self):
        return {
            'alembic_rollback_check': alembic_rollback_check,
            'alembic_heads': alembic_heads,
            'alembic_compare': alembic_compare,
        }
