"""Nested task files must name their includes through role_path.

A relative `import_tasks: x.yml` inside a role's non-main task file resolves against the
playbook's own `tasks/` directory first (measured with ansible-core 2.19): a user playbook
next to a `tasks/preflight.yml` would silently replace the role's. Molecule's rollback
scenario hit this with its own `tasks/scan.yml`.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROLES = Path(__file__).resolve().parents[3] / "roles"
INCLUDE = re.compile(r"^\s+ansible\.builtin\.(?:import|include)_tasks:\s*(\S.*)$", re.M)
NESTED = sorted(p for p in ROLES.glob("*/tasks/*.yml") if p.name != "main.yml")


@pytest.mark.parametrize("path", NESTED, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_nested_includes_go_through_role_path(path):
    targets = INCLUDE.findall(path.read_text(encoding="utf-8"))
    relative = [t for t in targets if "role_path" not in t]
    assert not relative, f"{path}: use \"{{{{ role_path }}}}/tasks/<file>\" for {relative}"


def test_the_rule_sees_the_includes_it_guards():
    assert any(INCLUDE.search(p.read_text(encoding="utf-8")) for p in NESTED)
