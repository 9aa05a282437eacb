"""playbooks/dr_drill.yml on this machine's Docker engine: a throwaway compose project beside "production".

One module-scoped "production" (v1 deployed with its own root, project, ports and backup prefix, rows
written, a backup taken); then the drill: a check-mode plan, a kept drill whose stack is queried, a
drill of a corrupted backup (fails, tears down), and a clean drill with teardown.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
S3_ENDPOINT = "http://127.0.0.1:9000"
BUCKET = "aishield-backups"

pytestmark = pytest.mark.integration


def _run(env, playbook, *args, json_output=False):
    """ansible-playbook with the module's vars file; the output is also kept in tmp for a failing test."""
    cmd = [str(BIN / "ansible-playbook"), f"playbooks/{playbook}", "-i", "inventories/local", "-e", f"@{env['vars_file']}", *args]
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1")
    if json_output:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    proc = subprocess.run(cmd, cwd=REPO, env=run_env, capture_output=True, text=True, timeout=900, check=False)
    env["runs"] = env.get("runs", 0) + 1
    (env["tmp"] / f"run-{env['runs']}-{playbook}.out").write_text(proc.stdout + proc.stderr)
    return proc


def _facts(proc, task):
    """ansible_facts a task set, from the JSON callback's output."""
    # The JSON document, without what other callbacks (profile_tasks) print after it.
    data, _end = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])
    for play in data["plays"]:
        for item in play["tasks"]:
            # Role tasks are named "<role> : <task>".
            if item["task"]["name"].split(" : ")[-1] == task and "localhost" in item["hosts"]:
                return item["hosts"]["localhost"].get("ansible_facts", {})
    raise AssertionError(f"task {task!r} did not run:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")


def _ids(project, all_states=False):
    out = subprocess.run(["docker", "ps", *(["-a"] if all_states else []), "-q", "--no-trunc",
                          "--filter", f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def _volumes(project):
    return subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True, check=True).stdout.split()


def _psql(project, sql):
    return subprocess.run(["docker", "exec", f"{project}-db-1", "psql", "-X", "-U", "aishield", "-d", "aishield", "-tAc", sql],
                          capture_output=True, text=True, check=True).stdout.strip()


def _http(method, url, body=None, token=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as resp:  # nosec - 127.0.0.1 only
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """"Production": v1 deployed, a marked project written, a backup taken after it."""
    tmp = tmp_path_factory.mktemp("drill")
    token = secrets.token_hex(3)
    project, drill = "aishield-itp-" + token, "aishield-itd-" + token
    extra = {
        "aishield_root": str(tmp / "prod"),
        "aishield_project": project,
        "aishield_http_port": free_port(),
        "aishield_frontend_port": free_port(),
        "aishield_backup_prefix": "it-drill-" + token,
        "aishield_secrets": {"POSTGRES_PASSWORD": "pg" + secrets.token_hex(8), "SECRET_KEY": "sk" + secrets.token_hex(16),
                             "ADMIN_PASSWORD": "ad" + secrets.token_hex(8)},
        "aishield_smoke_deadline": 90,
        # Latency is the smoke test's own concern; a loaded CI machine must not fail the drill on it.
        "aishield_smoke_max_p95_ms": 5000,
        "aishield_dr_hosts": "aishield",
        "aishield_dr_root": str(tmp / "drill"),
        "aishield_dr_project": drill,
        "aishield_dr_http_port": free_port(),
        "aishield_dr_frontend_port": free_port(),
        "aishield_dr_report_dir": str(tmp / "reports"),
        # The shared test bed receiver, at a path of this module's own.
        "aishield_report_webhook_url": f"http://127.0.0.1:9080/hooks/it-dr-drill-{token}",
    }
    vars_file = tmp / "extra.yml"
    vars_file.touch(mode=0o600)
    vars_file.write_text(yaml.safe_dump(extra))
    env = {"tmp": tmp, "project": project, "drill": drill, "vars_file": vars_file, "token": token, **extra}
    try:
        proc = _run(env, "deploy.yml")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        org = "drill-" + token
        _psql(project, f"INSERT INTO organizations (id, name, slug) VALUES (gen_random_uuid(), '{org}', '{org}');"
                       f"INSERT INTO projects (id, organization_id, name) SELECT gen_random_uuid(), id, 'restored-{token}' "
                       f"FROM organizations WHERE slug = '{org}'")
        proc = _run(env, "backup.yml")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        env["backup_key"] = re.search(r"aishield_restore_key=(\S+\.dump)", proc.stdout).group(1)
        env["backup_time"] = datetime.datetime.strptime(re.search(r"(\d{8}T\d{6}Z)\.dump$", env["backup_key"]).group(1),
                                                        "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        env["prod_ids"] = _ids(project)
        yield env
    finally:
        for name in (project, drill):
            subprocess.run(["docker", "compose", "-p", name, "down", "-v", "--remove-orphans"], capture_output=True,
                           timeout=180, check=False)
        _s3().delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": o["Key"]} for o in _s3().list_objects_v2(
            Bucket=BUCKET, Prefix=extra["aishield_backup_prefix"] + "/").get("Contents", [])] or [{"Key": "none"}]})


def _s3():
    import boto3
    return boto3.client("s3", endpoint_url=S3_ENDPOINT, region_name="us-east-1", aws_access_key_id="testbed",
                        aws_secret_access_key="testbed")


def _rows(facts):
    return {row["name"]: row for row in facts["dr_drill_rows"]}


def test_check_mode_shows_the_plan_and_changes_nothing(prod):
    proc = _run(prod, "dr_drill.yml", "--check")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert prod["backup_key"] in proc.stdout, "the plan does not name the newest backup"
    assert f"compose project {prod['drill']}" in proc.stdout and "check mode: nothing is changed" in proc.stdout
    assert _ids(prod["drill"], all_states=True) == [] and not Path(prod["aishield_dr_root"], "releases").exists()


def test_kept_drill_serves_the_restored_rows(prod):
    started = datetime.datetime.now(datetime.timezone.utc)
    proc = _run(prod, "dr_drill.yml", "-e", "aishield_dr_keep=true", json_output=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    facts = _facts(proc, "Measure RTO and RPO and build the report rows")
    result, rows = facts["dr_drill_result"], _rows(facts)
    release = json.loads(Path(prod["aishield_root"], "current", "release.json").read_text())
    assert result["backup_key"] == prod["backup_key"], "the drill did not take the newest backup"
    assert result["release"] == release["release_id"]
    # RTO: a real recovery takes seconds, never zero, and cannot exceed the run itself.
    elapsed = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    assert 0 < result["rto_seconds"] < elapsed, result
    # RPO: the backup's age when the drill started (second resolution of the key's stamp).
    assert (started - prod["backup_time"]).total_seconds() - 1 <= result["rpo_seconds"] <= elapsed + (
        started - prod["backup_time"]).total_seconds() + 1, result
    assert [r["status"] for r in facts["dr_drill_rows"]] == ["ok", "ok", "ok", "ok", "warn"], rows
    assert rows["restore"]["detail"].startswith(prod["backup_key"] + " sha256 ")
    assert rows["teardown"]["value"] == "kept"
    report = json.loads(Path(prod["aishield_dr_report_dir"], "dr_drill-latest.json").read_text())
    assert report["name"] == "dr_drill" and report["rows"] == facts["dr_drill_rows"]

    # The recovered stack serves the rows written before the backup, through its own proxy.
    api = f"http://127.0.0.1:{prod['aishield_dr_http_port']}"
    login = {"email": "admin@aishield.local", "password": prod["aishield_secrets"]["ADMIN_PASSWORD"]}
    token = _http("POST", api + "/api/v1/auth/login", login)["access_token"]
    assert f"restored-{prod['token']}" in [p["name"] for p in _http("GET", api + "/api/v1/projects", token=token)]
    assert _psql(prod["drill"], "SELECT version_num FROM alembic_version") == release["alembic"]["after"][0]
    assert _ids(prod["project"]) == prod["prod_ids"], "a production container was replaced"


def test_corrupted_backup_fails_clearly_and_tears_down(prod):
    s3 = _s3()
    head = s3.head_object(Bucket=BUCKET, Key=prod["backup_key"])
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=prod["backup_key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    bad_key = prod["backup_key"].rsplit("/", 1)[0] + f"/{stamp}.dump"
    s3.put_object(Bucket=BUCKET, Key=bad_key, Body=bytes(body), Metadata=head["Metadata"])
    # The backup's record (<key>.json: its sha256 and size) comes along, so the bytes are what is wrong.
    record = s3.get_object(Bucket=BUCKET, Key=prod["backup_key"] + ".json")["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=bad_key + ".json", Body=record)
    try:
        proc = _run(prod, "dr_drill.yml", "-e", f"aishield_dr_backup_key={bad_key}", json_output=True)
    finally:
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": bad_key}, {"Key": bad_key + ".json"}]})
    assert proc.returncode != 0, "a drill of a corrupted backup passed"
    rows = _rows(_facts(proc, "Measure RTO and RPO and build the report rows"))
    assert rows["restore"]["status"] == "fail" and "sha256" in rows["restore"]["detail"], rows["restore"]
    assert rows["smoke"]["status"] == "fail" and rows["rto_seconds"]["value"] is None
    assert rows["teardown"] == {"name": "teardown", "threshold": "nothing left", "status": "ok", "value": "removed"}
    assert "The disaster-recovery drill failed at 'Restore the backup into the fresh database" in proc.stdout
    assert "sha256 mismatch" in proc.stdout
    # The maintenance role's report: written on the drill host and the breach posted to the webhook.
    report = json.loads(Path(prod["aishield_dr_report_dir"], "dr_drill-latest.json").read_text())
    assert report["status"] == "fail" and [r["status"] for r in report["rows"]] == ["fail", "fail", "fail", "ok", "ok"]
    with urllib.request.urlopen("http://127.0.0.1:9080/_received", timeout=10) as resp:  # nosec - 127.0.0.1 only
        posts = [r for r in json.loads(resp.read()) if r["path"] == "/hooks/it-dr-drill-" + prod["token"]]
    # Two posts: the kept drill's (teardown warn) and this one's, naming the failed restore.
    assert ["FAIL restore" in post["body"]["text"] for post in posts] == [False, True], posts
    # The stack the previous test kept and this run's stack are both gone, volumes included.
    assert _ids(prod["drill"], all_states=True) == [] and _volumes(prod["drill"]) == []
    assert not Path(prod["aishield_dr_root"], "releases").exists()
    assert _ids(prod["project"]) == prod["prod_ids"], "a production container was replaced"
