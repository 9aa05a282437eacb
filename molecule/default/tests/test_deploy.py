"""Verify the rolling v1 -> v2 deploy (runs inside the DinD host via testinfra, as the user `deploy`)."""
from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import testinfra

ROOT = "/opt/aishield"
VERSIONS = json.loads((Path(__file__).resolve().parents[3] / "tests/stack/versions.json").read_text())


def _probe(host):
    host.run("touch /home/deploy/probe.stop")
    for _attempt in range(30):  # the probe finishes its in-flight requests, bounded
        if host.file("/home/deploy/probe.json").exists:
            break
        time.sleep(1)
    return json.loads(host.file("/home/deploy/probe.json").content_string)


def _audit_time(line):
    return datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def test_no_request_failed_during_the_switch(host):
    probe = _probe(host)
    assert probe["rate"] >= 45, json.dumps(probe)
    # The probe ran across the whole v2 deploy: it started before the switch and still ran when the release was
    # marked good (the audit log's times are whole seconds). A request count would measure the machine's speed:
    # once deploys got faster, 1,000 requests (20 s) no longer fitted between prepare and verify.
    audit = [json.loads(line) for line in host.file(f"{ROOT}/audit.log").content_string.splitlines()]
    switch = next(_audit_time(line) for line in audit if line["action"] == "switch" and line.get("version") == "v2")
    good = next(_audit_time(line) for line in audit
                if line["action"] == "deploy" and line.get("status") == "good" and line.get("version") == "v2")
    assert probe["started_at"] < switch and probe["started_at"] + probe["seconds"] > good + 1, (json.dumps(probe), switch, good)
    assert probe["requests"] >= 250, json.dumps(probe)
    assert probe["failures"] == 0, json.dumps(probe)


def test_release_record_is_complete(host):
    release = json.loads(host.file(f"{ROOT}/current/release.json").content_string)
    assert release["version"] == "v2" and release["status"] == "good"
    assert all("@sha256:" in ref for ref in release["images"].values())
    assert release["alembic"]["before"] == [VERSIONS["v1"]["head"]]
    assert release["alembic"]["after"] == [VERSIONS["v2"]["head"]]
    previous = json.loads(host.file(f"{ROOT}/releases/{release['previous_release']}/release.json").content_string)
    assert previous["version"] == "v1" and previous["status"] == "good"


def test_database_at_v2_head_and_old_data_kept(host):
    env = dict(line.split("=", 1) for line in host.file(f"{ROOT}/current/.env").content_string.splitlines()
               if "=" in line and not line.startswith("#"))
    user, db = env["POSTGRES_USER"].strip('"'), env["POSTGRES_DB"].strip('"')
    psql = f"docker compose -p aishield exec -T db psql -U {user} -d {db} -tAc"
    assert host.check_output(f"{psql} 'SELECT version_num FROM alembic_version'") == VERSIONS["v2"]["head"]
    scan_id = host.file("/home/deploy/scan-before-upgrade").content_string.strip()
    assert host.check_output(f"{psql} 'SELECT count(*) FROM scans WHERE id = {int(scan_id)}'") == "1"


def test_only_one_backend_left_and_it_runs_v2(host):
    ids = host.check_output("docker ps -q --filter label=com.docker.compose.project=aishield "
                            "--filter label=com.docker.compose.service=backend").split()
    images = [host.check_output(f"docker inspect -f '{{{{.Config.Image}}}}' {cid}") for cid in ids]
    assert len(images) == 1 and "/aishield/backend:v2@sha256:" in images[0], images


def _check_log():
    text = (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "check-v2.log").read_text()
    return re.sub(r"\x1b\[[0-9;]*m", "", text)  # in case colour slipped through


def test_check_mode_predicted_the_real_run(host):
    """The --check --diff run in prepare named exactly the services whose containers converge replaced."""
    log = _check_log()
    line = next(line for line in log.splitlines() if "Services to recreate:" in line)
    predicted = set(line.split("Services to recreate:")[1].strip().rstrip('."').split(", "))
    before = dict(line.split() for line in host.file("/home/deploy/containers-before.txt").content_string.splitlines())
    after = dict(line.split() for line in host.check_output(
        "docker ps --filter label=com.docker.compose.project=aishield "
        "--format '{{.Label \"com.docker.compose.service\"}} {{.ID}}'").splitlines() if line.strip()).items()
    replaced = {service for service, cid in after if before.get(service) != cid}
    assert predicted == replaced == {"backend", "worker"}, (predicted, replaced)


def test_check_mode_masked_the_secrets_and_changed_nothing(host):
    log = _check_log()
    # The masked .env diff shows the new backend image (diff context stops short of the secrets).
    assert '+AISHIELD_BACKEND_IMAGE="registry-auth:5001/aishield/backend:v2@sha256:' in log
    masked = host.file(f"{ROOT}/current/env.masked")
    assert 'POSTGRES_PASSWORD="********"' in masked.content_string and masked.mode == 0o640
    for secret in ("molecule-pg-Zq81Lw0", "molecule-secret-key-5tR2pB", "molecule-admin-Hn4c7"):
        assert secret not in log
    # Check mode wrote no release: only v1 and v2 (from converge) exist.
    releases = host.check_output(f"ls {ROOT}/releases").split()
    assert [name.split("-", 1)[1] for name in sorted(releases)] == ["v1", "v2"], releases


def test_audit_log_tells_the_story(host):
    lines = [json.loads(line) for line in host.file(f"{ROOT}/audit.log").content_string.splitlines()]
    story = [(line["action"], line.get("status"), line.get("version")) for line in lines]
    assert story == [("deploy", "started", "v1"), ("switch", None, "v1"), ("deploy", "good", "v1"),
                     ("deploy", "started", "v2"), ("switch", None, "v2"), ("deploy", "good", "v2")], story
    assert set(lines[-1]["phases"]) == {"preflight", "pull", "backup", "migrate", "switch", "smoke"}


def test_images_came_from_the_login_registry_and_no_credential_stayed_on_disk(host):
    """The pulls used the registry login the deploy was given; it was sent per pull, never written down."""
    login = json.loads((Path(os.environ.get("TESTBED_STATE", "/var/tmp/aishield-testbed")) / "registry-auth.json").read_text())
    release = json.loads(host.file(f"{ROOT}/current/release.json").content_string)
    assert all(ref.startswith("registry-auth:5001/") for ref in release["images"].values()), release["images"]
    # Every small file on the host where a login could land: both users' docker configs, the release tree, temp dirs.
    # Read as root: the scenario's user cannot read root's files, and a leak could be in one of them.
    root = testinfra.get_host(f"docker://root@{host.backend.get_hostname()}")
    found = root.check_output("find /root /home/deploy /opt/aishield /tmp /etc/docker -xdev -type f -size -1024k 2>/dev/null || true")
    paths = [p for p in found.splitlines() if p.strip()]
    assert paths, "nothing to search: the find failed"
    leaked = []
    for path in paths:
        try:
            content = root.file(path).content
        except RuntimeError:
            # Gone between the find and the read (runc's /tmp/runc-process* of a docker exec): no file, no leak.
            assert not root.file(path).exists, f"{path} exists but cannot be read"
            continue
        if login["password"].encode() in content:
            leaked.append(path)
    assert not leaked, f"the registry password was left in {leaked}"
