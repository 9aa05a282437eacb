"""playbooks/deploy.yml against this machine's Docker engine: the path of README command 1.

Secrets are planted with unique values, and every byte the run prints (at -vv) and
every command line seen in `ps` while it runs is searched for them.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import free_port, run_playbook_watched

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deploy_env(tmp_path_factory):
    """A private root, project and ports, and planted secrets in a 0600 vars file."""
    tmp = tmp_path_factory.mktemp("deploy")
    planted = {
        "POSTGRES_PASSWORD": "pgPLANT" + secrets.token_hex(8),
        "SECRET_KEY": "skPLANT" + secrets.token_hex(16),
        "ADMIN_PASSWORD": "adPLANT" + secrets.token_hex(8),
    }
    project = "aishield-it-" + secrets.token_hex(3)
    extra = {
        "aishield_root": str(tmp / "root"),
        "aishield_project": project,
        "aishield_http_port": free_port(),
        "aishield_frontend_port": free_port(),
        "aishield_secrets": planted,
    }
    vars_file = tmp / "extra.yml"
    vars_file.write_text(yaml.safe_dump(extra))
    vars_file.chmod(0o600)
    yield {"tmp": tmp, "planted": planted, "project": project, "vars_file": vars_file, **extra}
    subprocess.run(["docker", "compose", "-p", project, "down", "-v", "--remove-orphans"], capture_output=True, timeout=180, check=False)


def _deploy(env, *extra_args, check=None, playbook="deploy.yml"):
    cmd = [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / playbook), "-i", "inventories/local",
           "-e", f"@{env['vars_file']}", "-vv", *extra_args]
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}",
                   ANSIBLE_NOCOLOR="1")
    returncode, output = run_playbook_watched(cmd, REPO, run_env, env["planted"])
    if check is not None:
        assert (returncode == 0) == check, output[-4000:]
    return returncode, output


def _recap_changed(output: str) -> int:
    line = next(line for line in output.splitlines() if line.startswith("localhost") and "changed=" in line)
    return int(line.split("changed=")[1].split()[0])


def test_bad_version_fails_before_any_change(deploy_env):
    rc, out = _deploy(deploy_env, "-e", "aishield_version='v1 beta!'")
    assert rc != 0
    assert "compose_deploy_version must be a label" in out and "aishield_version" in out
    assert not (Path(deploy_env["aishield_root"]) / "releases").exists()


def test_malformed_image_fails_naming_the_service(deploy_env):
    rc, out = _deploy(deploy_env, "-e", '{"aishield_images": {"backend": "UPPER/Case::x", "frontend": "a", "proxy": "b", "db": "c", "redis": "d"}}')
    assert rc != 0
    assert "backend" in out
    assert not (Path(deploy_env["aishield_root"]) / "releases").exists()


def test_deploy_v1_then_rerun_changes_nothing(deploy_env):
    out = _deploy(deploy_env, check=True)[1]
    root = Path(deploy_env["aishield_root"])
    release = json.loads((root / "current" / "release.json").read_text())
    assert release["status"] == "good" and release["version"] == "v1"
    assert all("@sha256:" in ref for ref in release["images"].values())
    versions = json.loads((REPO / "tests/stack/versions.json").read_text())
    assert release["alembic"]["after"] == [versions["v1"]["head"]]
    env_file = root / "current" / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert deploy_env["planted"]["SECRET_KEY"] in env_file.read_text()
    compose = (root / "current" / "compose.yml").read_text()
    assert not any(v in compose for v in deploy_env["planted"].values()), "a secret was written into compose.yml"
    assert f"release   {release['release_id']}" in out

    started = {c: _started_at(c) for c in _containers(deploy_env["project"])}
    out2 = _deploy(deploy_env, check=True)[1]
    assert _recap_changed(out2) == 0, "a second identical deploy reported changes"
    assert json.loads((root / "current" / "release.json").read_text())["release_id"] == release["release_id"]
    assert {c: _started_at(c) for c in _containers(deploy_env["project"])} == started, "a container was restarted"
    # The worker runs its own image (the runbook's aishield-worker).
    assert "/aishield/worker:v1@sha256:" in release["images"]["worker"]
    worker = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", f"{deploy_env['project']}-worker-1"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert worker == release["images"]["worker"], worker

    # Today's inventories without a worker image keep working (the worker runs the backend's), with a warning.
    legacy = deploy_env["tmp"] / "no-worker.yml"
    legacy.write_text(yaml.safe_dump({"aishield_images": {
        "backend": "127.0.0.1:5000/aishield/backend:v1", "frontend": "127.0.0.1:5000/aishield/frontend:v1",
        "proxy": "127.0.0.1:5000/aishield/proxy:v1", "db": "127.0.0.1:5000/aishield/postgres:15",
        "redis": "127.0.0.1:5000/aishield/redis:7"}}))
    out3 = _deploy(deploy_env, "-e", f"@{legacy}", "--check", "--diff", check=True)[1]
    assert "DEPRECATED: aishield_images (compose_deploy_images) names no worker image" in out3, out3[-3000:]
    assert re.search(r'^-AISHIELD_WORKER_IMAGE=', out3, re.M), out3[-3000:]  # the worker falls back to the backend's
    assert json.loads((root / "current" / "release.json").read_text())["release_id"] == release["release_id"]


def _containers(project):
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def _started_at(container):
    return subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_recreate_upgrade_to_v2_is_health_gated(deploy_env):
    """v1 -> v2 with the recreate strategy (the runbook's down/up, minus `sleep 10`) under a probe.

    The zero-downtime rolling switch is proven at 50 req/s in molecule/default; here the
    outage of recreate must be short and end with the service healthy again.
    """
    root = Path(deploy_env["aishield_root"])
    before = json.loads((root / "current" / "release.json").read_text())
    stop = deploy_env["tmp"] / "probe.stop"
    result = deploy_env["tmp"] / "probe.json"
    url = f"http://127.0.0.1:{deploy_env['aishield_http_port']}/health"
    probe = subprocess.Popen([sys.executable, str(REPO / "tests/tools/probe.py"), url, "--rate", "20", "--seconds", "600",
                              "--timeout", "5", "--stop-file", str(stop), "--out", str(result)],
                             stdout=subprocess.DEVNULL)
    try:
        _deploy(deploy_env, "-e", "aishield_version=v2", "-e", "aishield_strategy=recreate", check=True)
    finally:
        stop.touch()
        probe.wait(timeout=60)
    summary = json.loads(result.read_text())
    assert summary["requests"] >= 200, summary
    # Recreate stops the old backend before the new one answers: a gap, but a bounded one.
    assert summary["longest_gap_s"] < 30, summary
    assert summary["failures"] < summary["requests"] / 2, summary

    release = json.loads((root / "current" / "release.json").read_text())
    versions = json.loads((REPO / "tests/stack/versions.json").read_text())
    assert release["version"] == "v2" and release["status"] == "good" and release["strategy"] == "recreate"
    assert release["previous_release"] == before["release_id"]
    assert release["alembic"]["before"] == [versions["v1"]["head"]]
    assert release["alembic"]["after"] == [versions["v2"]["head"]]
    assert release["backup"]["sha256"] and release["backup"]["key"].startswith("backups/aishield/")
    backends = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={deploy_env['project']}",
                               "--filter", "label=com.docker.compose.service=backend"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert len(backends) == 1, "the old backend was not removed"


def _psql(env, sql):
    return subprocess.run(["docker", "exec", f"{env['project']}-db-1", "psql", "-U", "aishield", "-d", "aishield", "-tAc", sql],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_backup_restore_and_verify_playbooks(deploy_env):
    """backup.yml takes a backup now, restore.yml puts the newest into a scratch database, verify.yml checks the release."""
    out = _deploy(deploy_env, playbook="backup.yml", check=True)[1]
    assert "pg_dump compression at its default level" in out, out[-2000:]
    # aishield_backup_compress_level reaches pg_dump (level 1: fast, a bigger object) and the result says so.
    fast = _deploy(deploy_env, "-e", "aishield_backup_compress_level=1", playbook="backup.yml", check=True)[1]
    assert "pg_dump compression level 1." in fast, fast[-2000:]
    key = re.search(r"aishield_restore_key=(backups/aishield/\S+\.dump)", fast).group(1)
    # No aishield_restore_key: restore.yml takes the newest backup (the backup role's `latest` entry point).
    out = _deploy(deploy_env, playbook="restore.yml", check=True)[1]
    assert f"restored  {key} -> aishield_restore" in out
    users = _psql(deploy_env, "SELECT count(*) FROM users")
    assert re.search(rf"public\.users {users}\b", out), out[-2000:]  # row counts of the scratch copy
    assert "7/7 endpoints healthy" in _deploy(deploy_env, playbook="verify.yml", check=True)[1]
    # Live restore without the confirmation: refused before anything changes.
    rc, out = _deploy(deploy_env, "-e", "aishield_restore_target=live", playbook="restore.yml")
    assert rc != 0 and "-e aishield_restore_confirm=aishield" in out and "Nothing was changed" in out


def test_full_rollback_with_downgrade(deploy_env):
    """v2 -> v1 with `alembic downgrade` run by v2's image: schema back at v1's head, v1 serving."""
    root = Path(deploy_env["aishield_root"])
    v2 = json.loads((root / "current" / "release.json").read_text())
    versions = json.loads((REPO / "tests/stack/versions.json").read_text())
    out = _deploy(deploy_env, "-e", "aishield_rollback_mode=full", "-e", "aishield_rollback_db=downgrade",
                  playbook="rollback.yml", check=True)[1]
    assert f"full: {v2['release_id']} -> " in out and "dropped (columns, tables) is lost" in out
    assert _psql(deploy_env, "SELECT version_num FROM alembic_version") == versions["v1"]["head"]
    assert _psql(deploy_env, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'last_login_at'") == "0"
    current = json.loads((root / "current" / "release.json").read_text())
    assert current["version"] == "v1" and current["release_id"] == v2["previous_release"]
    assert json.loads((root / "releases" / v2["release_id"] / "release.json").read_text())["status"] == "rolled_back"
    audit = [json.loads(line) for line in (root / "audit.log").read_text().splitlines()]
    assert audit[-1]["action"] == "rollback" and audit[-1]["db"] == "downgrade" and audit[-1]["mode"] == "full"


def test_role_entry_points_for_own_playbooks(deploy_env, tmp_path):
    """The compose_deploy entry points a team's own playbook calls: preflight checks and changes nothing, data is
    a no-op that says why, lock/unlock hold the deploy lock, and activate is a quick rollback with its schema gate:
    v2 after the full rollback to v1 needs a newer schema, so it is refused, current stays v1 and the caller's rescue
    releases the lock."""
    root = Path(deploy_env["aishield_root"])
    before = json.loads((root / "current" / "release.json").read_text())
    v2 = next(p.name for p in (root / "releases").iterdir()
              if json.loads((p / "release.json").read_text()).get("status") == "rolled_back")
    playbook = tmp_path / "entry_points.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "A team's own deploy steps", "hosts": "aishield", "gather_facts": False,
        "vars_files": [str(REPO / "playbooks/vars/aishield.yml")],
        "vars": {"aishield_version": "v1", "compose_deploy_activate": v2},
        "tasks": [
            {"name": "Check", "ansible.builtin.include_role": {"name": "aishield.ops.compose_deploy", "tasks_from": "preflight"}},
            {"name": "Data", "ansible.builtin.include_role": {"name": "aishield.ops.compose_deploy", "tasks_from": "data"}},
            {"name": "Lock", "ansible.builtin.include_role": {"name": "aishield.ops.compose_deploy", "tasks_from": "lock"}},
            {"name": "Bring v2 back", "block": [
                {"name": "Activate", "ansible.builtin.include_role": {"name": "aishield.ops.compose_deploy", "tasks_from": "activate"}},
            ], "rescue": [
                {"name": "Unlock", "ansible.builtin.include_role": {"name": "aishield.ops.compose_deploy", "tasks_from": "unlock"}},
                {"name": "Say why", "ansible.builtin.fail": {"msg": "ACTIVATE REFUSED: {{ ansible_failed_result.msg }}"}},
            ]},
        ],
    }]))
    rc, out = _deploy(deploy_env, playbook=str(playbook))
    assert rc != 0, out[-3000:]
    assert "entry point 'data' is deprecated and does nothing" in out
    fatal = [line for line in out.splitlines() if "fatal:" in line or "ACTIVATE" in line]
    assert f"ACTIVATE REFUSED: Quick rollback to {v2} refused: the database is at" in out, fatal
    assert json.loads((root / "current" / "release.json").read_text())["release_id"] == before["release_id"]
    assert not (root / "deploy.lock").exists(), "the caller's unlock left the deploy lock behind"
