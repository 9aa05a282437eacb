"""Verify the rollback cases converge walked through (testinfra: `host` is the DinD host)."""
from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import boto3

ROOT = "/opt/aishield"
VERSIONS = json.loads((Path(__file__).resolve().parents[3] / "tests/stack/versions.json").read_text())
RUNS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "runs"


def _run(name):
    return json.loads((RUNS / f"{name}.json").read_text())


def _records(host):
    names = host.check_output(f"ls {ROOT}/releases").split()
    return {json.loads(host.file(f"{ROOT}/releases/{n}/release.json").content_string)["version"]:
            json.loads(host.file(f"{ROOT}/releases/{n}/release.json").content_string) for n in names}


def _psql(host, sql):
    return host.check_output(
        "docker compose -p aishield exec -T db sh -c "
        f"'psql -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -tAc \"{sql}\"'")


def _audit(host):
    return [json.loads(line) for line in host.file(f"{ROOT}/audit.log").content_string.splitlines()]


def test_manual_quick_rollback_to_a_named_release(host):
    assert _run("rollback-quick-v1")["rc"] == 0
    rollback = [line for line in _audit(host) if line["action"] == "rollback"][0]
    assert rollback["mode"] == "quick" and rollback["to"].endswith("-v1") and rollback["from"].endswith("-v2")
    assert rollback["revision"] == [VERSIONS["v2"]["head"]]  # quick: the schema stayed


def test_broken_release_rolled_back_automatically_without_a_failed_request(host):
    run = _run("deploy-v3")
    assert run["rc"] != 0
    assert "Rolled back automatically to" in run["output"]
    probe = json.loads(host.file("/root/probe.json").content_string)
    assert probe["requests"] >= 1000 and probe["rate"] >= 45, probe
    assert probe["failures"] == 0, probe
    records = _records(host)
    assert records["v3"]["status"] == "failed" and records["v3"]["failure"]["phase"] == "smoke"
    auto = [line for line in _audit(host) if line["action"] == "rollback" and line["from"] == records["v3"]["release_id"]]
    assert len(auto) == 1 and auto[0]["reason"].startswith("automatic") and auto[0]["to"].endswith("-v1")


def test_failed_migration_stops_before_the_switch(host):
    run = _run("deploy-v4")
    assert run["rc"] != 0
    assert "failed in phase migrate" in run["output"] and "Nothing was switched" in run["output"]
    revision, audit_table = host.file("/root/after-v4").content_string.split()
    assert revision == VERSIONS["v2"]["head"]  # transactional DDL: the failed upgrade left nothing
    assert audit_table == "0"
    v4 = [line for line in _audit(host) if line.get("version") == "v4"]
    assert [(line["action"], line.get("status")) for line in v4] == [("deploy", "started"), ("deploy", "failed")]
    assert not any(line["action"] == "rollback" and line["from"].endswith("-v4") for line in _audit(host))


def test_quick_rollback_refused_across_an_incompatible_migration(host):
    run = _run("rollback-quick-refused")
    assert run["rc"] != 0
    assert "Quick rollback to" in run["output"] and "refused" in run["output"]
    assert "0005_display_name" in run["output"] and "aishield_rollback_mode=full" in run["output"]


def test_full_rollback_restored_the_backup_and_says_what_was_lost(host):
    run = _run("rollback-full")
    assert run["rc"] == 0, run["output"][-3000:]
    assert _psql(host, "SELECT version_num FROM alembic_version") == VERSIONS["v2"]["head"]
    before = int(host.file("/root/scan-before").content_string)
    after = int(host.file("/root/scan-after").content_string)
    assert _psql(host, f"SELECT count(*) FROM scans WHERE id = {before}") == "1"
    assert _psql(host, f"SELECT count(*) FROM scans WHERE id = {after}") == "0"
    full = [line for line in _audit(host) if line["action"] == "rollback" and line["mode"] == "full"][0]
    v5 = _records(host)["v5"]
    assert full["backup"] == v5["backup"]["key"] and "is lost" in full["data_loss"]
    assert v5["status"] == "rolled_back"
    # v1 serves again, and its smoke test passed in the run.
    assert "7/7 endpoints healthy" in run["output"]
    health = json.loads(host.check_output("curl -sS -m 5 http://127.0.0.1:8000/api/v1/health"))
    assert health["version"] == "v1" and health["database"] == "ok"
    assert host.file(f"{ROOT}/current").linked_to.endswith("-v1")


def test_retention_kept_the_rollback_targets(host):
    names = host.check_output(f"ls {ROOT}/releases").split()
    versions = sorted(name.split("-", 1)[1] for name in names)
    # keep 4, the protected ones counted: v5 (current when it was deployed), v1 (its rollback target, older
    # than v2), then the newest others, v4 and v3; v2 went.
    assert versions == ["v1", "v3", "v4", "v5"], versions
    backup = _records(host)["v5"]["backup"]
    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9000", region_name="us-east-1",
                      aws_access_key_id="testbed", aws_secret_access_key="testbed")
    assert s3.head_object(Bucket=backup["bucket"], Key=backup["key"])["ContentLength"] == backup["size"]


def test_status_page_and_chat_told_the_story_of_v3(host):
    received = []
    for _attempt in range(10):  # bounded: the receiver answers at once
        with urllib.request.urlopen("http://127.0.0.1:9080/_received", timeout=5) as response:
            received = json.loads(response.read())
        if received:
            break
        time.sleep(0.5)
    v3 = _records(host)["v3"]["release_id"]
    incident = [r for r in received if "/pages/molecule-rollback/incidents" in r["path"] and r["body"]
                and v3 in json.dumps(r["body"])]
    statuses = [r["body"]["incident"]["status"] for r in incident]
    assert statuses[0] == "investigating" and statuses[-1] == "resolved", statuses
    hooks = [r["body"]["text"] for r in received if r["path"] == "/hooks/molecule-rollback" and v3 in r["body"]["text"]]
    assert len(hooks) == 3, hooks
    assert hooks[0].startswith("Deploying") and "failed" in hooks[1] and hooks[2].startswith("Rolled back"), hooks
    for body in (json.dumps(r) for r in received):
        assert "molecule-admin-Hn4c7" not in body and "molecule-pg-Zq81Lw0" not in body


def _incident_changes(release_id):
    received = []
    for _attempt in range(10):  # bounded: the receiver answers at once
        with urllib.request.urlopen("http://127.0.0.1:9080/_received", timeout=5) as response:
            received = json.loads(response.read())
        if received:
            break
        time.sleep(0.5)
    return [r["body"]["incident"] for r in received
            if "/pages/molecule-rollback/incidents" in r["path"] and r["body"] and release_id in json.dumps(r["body"])]


def test_every_incident_ends_resolved(host):
    """No path leaves the status page saying the site is down once service is confirmed."""
    records = _records(host)
    # v4 failed in its migration, before the switch: v1 never stopped serving, so its incident closes at once
    # and the component is operational again.
    v4 = _incident_changes(records["v4"]["release_id"])
    assert v4 and v4[0]["status"] == "investigating" and v4[-1]["status"] == "resolved", v4
    assert [c["components"] for c in v4 if "components" in c][-1] == {"cmp-api": "operational"}, v4
    # v3 failed its smoke test after the switch and was rolled back automatically: resolved, operational.
    v3 = _incident_changes(records["v3"]["release_id"])
    assert v3[-1]["status"] == "resolved" and [c["components"] for c in v3 if "components" in c][-1] == {"cmp-api": "operational"}
    # v5 was rolled back by hand (full): resolved once the rolled-back release passed its smoke test.
    v5 = _incident_changes(records["v5"]["release_id"])
    assert v5 and v5[-1]["status"] == "resolved", v5
