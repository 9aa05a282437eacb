"""Each role's defaults/main.yml and meta/argument_specs.yml (main) match one to one."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import role_docs

ROLES = sorted(p for p in (Path(__file__).resolve().parents[3] / "roles").iterdir() if p.is_dir())


def _load(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_specs(role: Path):
    defaults = _load(role / "defaults" / "main.yml")
    spec = _load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(spec), (
        f"{role.name}: only in defaults: {sorted(set(defaults) - set(spec))}; "
        f"only in argument_specs: {sorted(set(spec) - set(defaults))}")
    for name, option in spec.items():
        assert name.startswith(role.name + "_"), f"{name} is not prefixed with the role name {role.name}_"
        assert option.get("description"), f"{role.name}: {name} has no description"
        if "default" in option:
            assert option["default"] == defaults[name], f"{role.name}: {name} default differs"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_variables_match_argument_specs(role: Path):
    readme = (role / "README.md").read_text(encoding="utf-8")
    assert role_docs.variables_section(role) in readme, (
        f"{role.name}/README.md variables drifted from meta/argument_specs.yml: run python tests/tools/role_docs.py")


@pytest.mark.parametrize("role", [r for r in ROLES if (r / "vars" / "main.yml").exists()], ids=lambda p: p.name)
def test_internal_vars_are_underscored(role: Path):
    vars_file = role / "vars" / "main.yml"
    bad = [name for name in _load(vars_file) if not name.startswith(f"_{role.name}_")]
    assert not bad, f"{role.name}/vars/main.yml names a user could want to set: {bad}"
