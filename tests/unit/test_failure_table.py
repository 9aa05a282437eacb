# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""README.md's "## Failure behaviour" table names, for every fault, the test that proves it.

Each node id in the table's last column (`path::test_name` or `path::test_name[param]`) must
point at a test function (or a parametrize id) that exists, so the table cannot promise
what no test checks. A row without a test must say "not applicable yet".
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_ID = re.compile(r"`((?:tests|molecule)/[\w/.-]+\.py)::(\w+)(?:\[([^\]`]+)\])?`")


def _section(text, title):
    match = re.search(r"^## %s\s*$(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
    return match.group(1) if match else None


def _rows(section):
    lines = [line for line in section.splitlines() if line.startswith("|")]
    # header, separator, rows
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _tests_in(path):
    """Test function names defined in a file, and the literal strings it contains (parametrize ids)."""
    tree = ast.parse(path.read_text())
    names = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return names, strings


def _table():
    section = _section((REPO / "README.md").read_text(), "Failure behaviour")
    if section is None:
        pytest.fail('README.md has no "## Failure behaviour" section (issue 9 asks for one; see tests/integration/test_faults.py)')
    rows = _rows(section)
    assert rows, "the Failure behaviour section has no table rows"
    return rows


def test_every_fault_row_names_an_existing_test():
    problems = []
    for row in _table():
        ids = NODE_ID.findall(row[-1])
        if not ids:
            if "not applicable yet" not in row[-1]:
                problems.append("row %r names no test node id and is not marked 'not applicable yet'" % row[0])
            continue
        for path, name, param in ids:
            file = REPO / path
            if not file.is_file():
                problems.append("%s: no such file" % path)
                continue
            names, strings = _tests_in(file)
            if name not in names or not name.startswith("test_"):
                problems.append("%s::%s: no such test function" % (path, name))
            elif param and param not in strings:
                problems.append("%s::%s[%s]: no such parametrize id" % (path, name, param))
    assert not problems, "\n".join(problems)
