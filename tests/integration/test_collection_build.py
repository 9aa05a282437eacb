"""ansible-galaxy builds the collection, the tarball installs, and aishield.ops resolves from it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import ansible_collections
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


def _declared_collections(root):
    """A sys.path entry holding (as links into the installed bundle) each collection the collection declares."""
    names = set(yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"])
    names |= {c["name"] for c in yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]}
    for name in sorted(names):
        namespace, collection = name.split(".")
        source = next((Path(path) / namespace / collection for path in ansible_collections.__path__
                       if (Path(path) / namespace / collection / "MANIFEST.json").is_file()), None)
        assert source, f"{name} is declared but not installed here"
        (root / "ansible_collections" / namespace).mkdir(parents=True, exist_ok=True)
        (root / "ansible_collections" / namespace / collection).symlink_to(source)
    return root


def test_galaxy_importer_accepts_the_tarball(tmp_path):
    """What Galaxy runs on upload: manifest, content discovery, ansible-doc on every plugin."""
    bin_dir = _importer_venv()
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO)], cwd=tmp_path)
    config = tmp_path / "galaxy-importer.cfg"
    # ansible-test sanity runs in its own CI stage. The importer's own ansible-lint pass runs here: its log is
    # what a Galaxy user reads.
    config.write_text("[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = True\nRUN_ANSIBLE_DOC = True\n")
    # The importer lints offline against its own ansible-core. The collections aishield.ops declares
    # (galaxy.yml, requirements.yml) are put on its Python path, from the bundle CI tests with, as they are
    # installed for any user of the collection; so the lint resolves their modules as it would there.
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=str(config), PATH=f"{bin_dir}:{os.environ['PATH']}",
               PYTHONPATH=str(_declared_collections(tmp_path / "deps")))
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
    # The lint pass ran, to its end (it stops at 180 s on a busy machine, which is an ERROR line above).
    assert "Linting collection via ansible-lint" in out and "ansible-lint run complete" in out, out[-3000:]


def test_an_awx_project_sync_installs_the_collection_from_its_own_checkout(tmp_path):
    """AWX runs the playbooks from the project's checkout and resolves aishield.ops from what its project sync
    installed: `ansible-galaxy collection install -r collections/requirements.yml`, run in the checkout."""
    stage = tmp_path / "requirements_collections"
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")  # not the checkout's: no .collections
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(stage))
    _run([BIN / "ansible-galaxy", "collection", "install", "-r", "collections/requirements.yml",
          "--collections-path", str(stage)], cwd=REPO, env=env)
    installed = stage / "ansible_collections" / "aishield" / "ops"
    manifest = json.loads((installed / "MANIFEST.json").read_text())["collection_info"]
    assert manifest["version"] == yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    # The same commit as the playbooks: every role and plugin file is the checkout's.
    for tree in ("roles", "plugins"):
        for path in (REPO / tree).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert (installed / path.relative_to(REPO)).read_bytes() == path.read_bytes(), path
    assert not (installed / ".venv").exists() and not (installed / "collections").exists()
    check = [BIN / "ansible-playbook", "--syntax-check", "-i", "localhost,", "playbooks/deploy.yml"]
    _run(check, cwd=REPO, env=env)
    # Without the sync's install the same check cannot resolve the collection's roles.
    bare = subprocess.run(check, cwd=REPO, env=dict(env, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "empty")),
                          capture_output=True, text=True, timeout=300, check=False)
    assert bare.returncode != 0 and "aishield.ops" in bare.stdout + bare.stderr, bare.stdout + bare.stderr
