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
    for required in ("plugins/modules", "roles/compose_deploy/tasks/main.yml", "playbooks/deploy.yml", "meta/runtime.yml",
                     "meta/execution-environment.yml", "requirements.txt", "bindep.txt"):
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
    # ansible-builder finds the installed collection's own Python and system needs (meta/execution-environment.yml).
    found = yaml.safe_load(_run([BIN / "ansible-builder", "introspect", "--sanitize", str(dest)], cwd=tmp_path, env=env))
    python = " ".join(found["python"]) if isinstance(found["python"], list) else str(found["python"])
    assert "boto3==" in python and "aishield.ops" in python, found
    assert "aishield.ops" in str(found["system"]), found


# Galaxy's own import checks, pinned. galaxy-importer pins its own ansible-core and ansible-lint,
# which would clash with requirements/test.txt, so it lives in its own venv (created once, then reused).
GALAXY_IMPORTER = "galaxy-importer==0.4.44"
IMPORTER_VENV = REPO / ".cache" / "galaxy-importer-venv"


def _importer_venv():
    python = IMPORTER_VENV / "bin" / "python"
    probe = subprocess.run([str(python), "-m", "pip", "show", "galaxy-importer"], capture_output=True, text=True, check=False) \
        if python.exists() else None
    if probe is None or probe.returncode != 0 or "Version: " + GALAXY_IMPORTER.split("==")[1] not in probe.stdout:
        proc = subprocess.run([sys.executable, "-m", "venv", "--clear", str(IMPORTER_VENV)], capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", GALAXY_IMPORTER], capture_output=True, text=True,
                              timeout=900, check=False)
        assert proc.returncode == 0, f"installing {GALAXY_IMPORTER} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return IMPORTER_VENV / "bin"


def test_galaxy_importer_accepts_the_tarball(tmp_path):
    """What Galaxy runs on upload: manifest, content discovery, ansible-doc on every plugin."""
    bin_dir = _importer_venv()
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO)], cwd=tmp_path)
    config = tmp_path / "galaxy-importer.cfg"
    # ansible-test sanity and ansible-lint (production profile, stricter than the importer's) run in their own
    # CI stages; the importer's lint has a fixed 180 s timeout that a busy CI machine can exceed.
    config.write_text("[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = False\nRUN_ANSIBLE_DOC = True\n")
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=str(config), PATH=f"{bin_dir}:{os.environ['PATH']}")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([str(bin_dir / "python"), "-m", "galaxy_importer.main", str(tmp_path / f"aishield-ops-{version}.tar.gz")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Importer processing completed successfully" in out, out[-5000:]
    assert "ansible-doc not found" not in out, "a check was skipped:\n" + out[-3000:]
    problems = [line for line in out.splitlines() if line.startswith("ERROR") or "Linting" in line and "failed" in line]
    assert not problems, "\n".join(problems)
    # A Galaxy user sees every warning of the import log (each role's description comes from its meta/main.yml).
    warnings = [line for line in out.splitlines() if "WARNING" in line.upper()]
    assert not warnings, "\n".join(warnings)
