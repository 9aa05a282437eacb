"""ansible-galaxy builds the collection, the tarball installs, and aishield.ops resolves from it."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(args, cwd, env=None):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_build_install_and_resolve(tmp_path):
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO)], cwd=tmp_path)
    tarball = tmp_path / f"aishield-ops-{version}.tar.gz"
    assert tarball.is_file()

    names = tarfile.open(tarball).getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    for required in ("plugins/modules", "roles/compose_deploy/tasks/main.yml", "playbooks/deploy.yml", "meta/runtime.yml"):
        assert any(n == required or n.startswith(required + "/") for n in names), f"{required} missing from {tarball.name}"
    for leaked in (".venv", ".collections", ".cache", ".git/", "tests/output"):
        assert not any(n.startswith(leaked) for n in names), f"{leaked} leaked into {tarball.name}"

    dest = tmp_path / "installed"
    # An empty config and only the install target on the path, so the checkout's
    # .collections (which the repo's ansible.cfg adds) can neither satisfy nor resolve it.
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest), ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"))
    # --offline: dependencies resolve against the installed ansible bundle, as Galaxy is unreachable here.
    _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", str(dest), str(tarball)], cwd=tmp_path, env=env)
    assert (dest / "ansible_collections/aishield/ops/MANIFEST.json").is_file()

    listing = _run([BIN / "ansible-galaxy", "collection", "list", "aishield.ops", "-p", str(dest)], cwd=tmp_path, env=env)
    assert "aishield.ops" in listing and version in listing
    doc = _run([BIN / "ansible-doc", "-t", "filter", "aishield.ops.release_id"], cwd=tmp_path, env=env)
    assert "release_id" in doc
    _run([BIN / "ansible-playbook", "--syntax-check", "-i", "localhost,", "aishield.ops.deploy"], cwd=tmp_path, env=env)
