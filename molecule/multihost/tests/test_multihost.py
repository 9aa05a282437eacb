"""Verify what converge's fleet runs left: records on each host, the probes, the load balancer.

Every check reads the hosts through `docker exec`, so each test runs once for the fleet.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

RUNS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "runs"
VERSIONS = json.loads((Path(__file__).resolve().parents[3] / "tests/stack/versions.json").read_text())
ROOT = "/opt/aishield"
DB, APP1, APP2, LB = (f"aishield-multihost-{name}" for name in ("db", "app1", "app2", "lb"))
APPS = (APP1, APP2)


def _exec(host, *argv):
    return subprocess.run(["docker", "exec", host, *argv], capture_output=True, text=True, timeout=60, check=True).stdout


def _run(name):
    return json.loads((RUNS / f"{name}.json").read_text())


def _records(host):
    """Every release.json on the host, oldest first."""
    names = sorted(_exec(host, "ls", f"{ROOT}/releases").split())
    return [json.loads(_exec(host, "cat", f"{ROOT}/releases/{name}/release.json")) for name in names]


def _current(host):
    return json.loads(_exec(host, "cat", f"{ROOT}/current/release.json"))


def _audit(host):
    return [json.loads(line) for line in _exec(host, "cat", f"{ROOT}/audit.log").splitlines()]


def _recap(output):
    """{host: {ok, changed, failed, ...}} from a PLAY RECAP."""
    recap = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        recap[host] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
    return recap


def _v2(host):
    return [r for r in _records(host) if r["version"] == "v2"]


def test_v2_rolled_one_host_at_a_time_and_stopped_when_app2_was_lost():
    run = _run("deploy-v2")
    out = run["output"]
    assert run["rc"] != 0, out[-3000:]
    assert f"{APP2} failed at" in out and "It stays drained at the load balancer" in out, out[-3000:]
    assert "Cannot connect to the Docker daemon" in out
    # serial 1: app1 drained, switched and put back before app2 was drained; app2 stays drained to the end.
    states = re.findall(r"Load balancer aishield-lb: in rotation [^;]*; drained ([^.]+)\.", out)
    drained = [s for s in states if s != "none"]
    assert drained[:2] == [APP1, APP2] and set(drained[1:]) == {APP2}, states
    assert states.index(APP2) > states.index(APP1) + 1  # a "none" (app1 put back) between the two
    failed = [r for r in _v2(APP2) if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["failure"]["phase"] == "app", failed
    # app1, which this run had switched, went back to v1 (aishield_fleet_on_failure's default: rollback), in place:
    # draining it too would have left no host in rotation.
    assert f"Fleet deploy of v2 failed. failed: {APP2}" in out and f"rolled back: {APP1}" in out, out[-3000:]
    first = _v2(APP1)[0]
    assert first["status"] == "rolled_back", first
    assert _records(APP1)[0]["version"] == "v1" and first["rolled_back_to"] == _records(APP1)[0]["release_id"]
    rollback = [a for a in _audit(APP1) if a.get("action") == "rollback"][0]
    assert rollback["reason"].startswith("automatic: the fleet deploy of v2 failed"), rollback
    # Every lock of the run was released at its end, the failed host's too.
    for host in (DB, APP1, APP2):
        assert "deploy.lock" not in _exec(host, "ls", "-A", ROOT), host


def test_the_lb_served_every_request_through_the_rollout_and_the_lost_host():
    probe = json.loads(_exec(LB, "cat", "/root/probe.json"))
    assert probe["requests"] >= 1000 and probe["rate"] >= 45, probe
    assert probe["failures"] == 0, probe


def test_migration_ran_once_on_the_db_host_before_any_app_host():
    # The v2 releases up to the rerun (the last steps deploy v2 once more).
    db = [r for r in _v2(DB) if r["release_id"] <= _rerun(DB)["release_id"]]
    # The rerun found the db host's release current and good: one v2 release, one migration.
    assert len(db) == 1 and db[0]["status"] == "good", db
    db = db[0]
    assert db["alembic"]["before"] == [VERSIONS["v1"]["head"]]
    assert db["alembic"]["after"] == [VERSIONS["v2"]["head"]] and db["alembic"]["applied"] is True
    assert db["backup"]["key"] and db["role"] == "db" and sorted(db["app_hosts"]) == sorted(APPS)
    # v1 -> v2 only adds a column (declared backward compatible): no schema warning.
    assert db["schema_warning"] == ""
    # Up to the rerun: one v2 deploy on the db host (the last steps deploy v2 once more, as a release of its own).
    assert [a["status"] for a in _audit(DB) if a.get("action") == "deploy" and a.get("version") == "v2"
            and a.get("release_id") == db["release_id"]] == ["started", "good"]
    for host in APPS:
        # App hosts run no migration of their own: no one-off container ever ran there.
        assert _exec(host, "docker", "ps", "-a", "-q", "--filter", "label=com.docker.compose.oneoff=True") == ""
        rerun = _rerun(host)
        assert rerun["version"] == "v2" and rerun["status"] == "good", rerun
        assert rerun["db_release"] == db["release_id"] and rerun["alembic"]["after"] == db["alembic"]["after"]
        assert rerun["started_at"] >= db["finished_at"]  # the schema was ready before the host's release began


def _rerun(host):
    """The host's current release right after the rerun (converge kept it: later steps move the hosts)."""
    return json.loads((RUNS / f"current-rerun-{host}.json").read_text())


def _after_fleet_rollback(host):
    """The host's current release right after the quick fleet rollback (converge kept it)."""
    return json.loads((RUNS / f"current-fleet-rollback-{host}.json").read_text())


def test_the_rerun_converged_every_host_on_the_same_release():
    assert _run("rerun-v2")["rc"] == 0
    records = [_rerun(host) for host in APPS]
    assert all(r["status"] == "good" and r["role"] == "app" and r["version"] == "v2" for r in records), records
    assert records[0]["images"] == records[1]["images"]
    assert records[0]["config_checksum"] == records[1]["config_checksum"]
    assert records[0]["images"]["backend"] == _rerun(DB)["images"]["backend"]
    for host in APPS:
        running = _exec(host, "docker", "ps", "--format", "{{.Label \"com.docker.compose.service\"}}").split()
        assert sorted(running) == ["backend", "frontend", "proxy", "worker"], (host, running)
    assert sorted(_exec(DB, "docker", "ps", "--format", "{{.Label \"com.docker.compose.service\"}}").split()) == ["db", "redis"]
    # Nothing drained any more; through the load balancer, the API answers on the v2 schema.
    assert json.loads(_exec(LB, "cat", "/opt/aishield-lb/drained.json")) == []
    conf = _exec(LB, "cat", "/opt/aishield-lb/nginx.conf")
    assert " down;" not in conf and conf.count("max_fails=1") == 2
    health = json.loads((RUNS / "health-rerun.json").read_text())  # right after the rerun (converge kept it)
    assert health["database"] == "ok" and health["revision"] == VERSIONS["v2"]["head"]


def test_the_same_command_on_the_converged_fleet_changes_nothing():
    run = _run("again-v2")
    assert run["rc"] == 0
    recap = _recap(run["output"])
    assert set(recap) == {DB, APP1, APP2, LB}, recap
    assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in recap.values()), recap


def _state(name):
    """{(host, what): sorted lines} from tasks/fleet_state.yml's snapshot."""
    state = {}
    for line in (RUNS / f"state-{name}.txt").read_text().splitlines():
        host, what, value = line.split(" ", 2)
        state.setdefault((host, what), []).append(value)
    return {key: sorted(values) for key, values in state.items()}


def test_check_mode_predicted_v2_and_changed_nothing():
    run = _run("check-v2")
    out = run["output"]
    assert run["rc"] == 0, out[-3000:]
    before, after = _state("before-check"), _state("after-check")
    assert before == after, "the --check run changed a host"
    assert {key[0] for key in before} == {DB, APP1, APP2, LB} and before[(APP1, "container")], before
    predicted = dict(re.findall(r'^ok: \[(\S+)\] => \{\n\s+"msg": "New release \S+ \(v2\), replacing \S+\. '
                                r'Services to recreate: ([a-z, ]+)\."', out, re.M))
    assert predicted == {DB: "none", APP1: "backend, worker", APP2: "backend, worker"}, predicted
    # The masked .env diff shows the new backend image and no secret.
    assert '+AISHIELD_BACKEND_IMAGE="registry:5000/aishield/backend:v2@sha256:' in out
    assert "molecule-pg-Zq81Lw0" not in out and "molecule-secret-key-5tR2pB" not in out
    # What the prediction said is what happened: app1 (never disturbed) had exactly those two replaced, the db host none.
    now = dict(line.split() for line in _containers(APP1))
    was = dict(value.split() for value in before[(APP1, "container")])
    assert {service for service, cid in now.items() if was.get(service) != cid} == {"backend", "worker"}, (was, now)
    assert _containers(DB) == before[(DB, "container")]


def _containers(host):
    """Sorted "<service> <container id>" lines of the host's compose project, as fleet_state.yml records them."""
    return sorted(_exec(host, "docker", "ps", "--filter", "label=com.docker.compose.project=aishield", "--format",
                        "{{.Label \"com.docker.compose.service\"}} {{.ID}}").splitlines())


def test_the_published_redis_asks_for_its_password():
    """The db host publishes Redis to the app hosts: without the vaulted password it answers NOAUTH."""
    assert "NOAUTH" in _exec(DB, "docker", "exec", "aishield-redis-1", "redis-cli", "ping")
    args = _exec(DB, "docker", "top", "aishield-redis-1", "-o", "pid,args")
    assert "molecule-redis-Kp3x9" not in args and "redis-server" in args, args
    # The app hosts' worker reached it with the password: its scans got done (the smoke test ran one per host).
    for host in APPS:
        worker = _exec(host, "docker", "ps", "-q", "--filter", "label=com.docker.compose.service=worker").split()
        assert len(worker) == 1, (host, worker)
        env = _exec(host, "docker", "inspect", worker[0], "--format", "{{range .Config.Env}}{{println .}}{{end}}")
        assert "REDIS_URL=redis://:molecule-redis-Kp3x9@" in env


def test_a_second_fleet_run_and_a_single_host_run_are_refused_while_a_fleet_run_holds_the_lock():
    busy = _run("busy-fleet")
    assert busy["rc"] != 0 and "The fleet is busy" in busy["output"] and "fleet deploy of v2" in busy["output"], busy["output"][-3000:]
    assert "the locks this run took were given back" in busy["output"]
    single = _run("busy-app1")
    assert single["rc"] != 0, single["output"][-3000:]
    assert "Another deploy holds /opt/aishield/deploy.lock" in single["output"] and "fleet deploy of v2" in single["output"]
    # Neither touched anything: the run holding the lock ended as the converged no-op it was (changed=0).
    assert all(counts["changed"] == 0 for counts in _recap(_run("again-v2")["output"]).values())


def test_v3_failing_its_smoke_test_on_app1_rolls_app1_back_and_stops_the_rollout():
    run = _run("deploy-v3")
    out = run["output"]
    assert run["rc"] != 0, out[-3000:]
    # app1 failed after its switch: the fleet returned it to the release before (and put it back in rotation).
    assert f"Fleet deploy of v3 failed. failed: {APP1}; stopped after a failure: {APP2}; rolled back: {APP1}." in out, out[-3000:]
    v3 = [r for r in _records(APP1) if r["version"] == "v3"]
    # The failure is recorded in the host's fleet phase (app), naming the smoke test's task.
    assert len(v3) == 1 and v3[0]["status"] == "failed" and v3[0]["failure"]["phase"] == "app", v3
    assert "smoke" in json.dumps(v3[0]["failure"]).lower(), v3[0]["failure"]
    assert f"{APP1} (app): failed: " in out and f"rolled back to {_rerun(APP1)['release_id']}" in out
    # app2 was never reached: no v3 release there.
    assert not [r for r in _records(APP2) if r["version"] == "v3"]


def test_a_fleet_quick_rollback_takes_every_app_host_back_behind_the_lb():
    run = _run("fleet-rollback")
    assert run["rc"] == 0, run["output"][-3000:]
    # It ran through awx/run_job.py as the "AI Shield fleet rollback" job template, which handed its result over
    # (set_stats) the way it reaches the AWX workflow's next node.
    assert "SUMMARY AI Shield fleet rollback: successful (rc 0)" in run["output"], run["output"][-3000:]
    artifacts = json.loads(re.search(r"^  artifacts \(set_stats\): (\{.*\})$", run["output"], re.M).group(1))
    assert artifacts["aishield_rollback_status"] == "done", artifacts
    assert artifacts["aishield_fleet_rolled_back"] == {host: _after_fleet_rollback(host)["release_id"] for host in APPS}, artifacts
    for host in APPS:
        current = _after_fleet_rollback(host)
        assert current["version"] == "v1" and current["status"] == "good", (host, current, run["output"][-6000:])
        assert _rerun(host)["release_id"] in [r["release_id"] for r in _records(host) if r["status"] == "rolled_back"]
    # The database and the db host are left as they were (a quick rollback is code only).
    assert _after_fleet_rollback(DB)["version"] == "v3"
    fleet = json.loads((RUNS / "fleet-after-fleet-rollback.json").read_text())
    assert fleet["run"] == "Fleet rollback" and fleet["outcome"] == "good" and fleet["uniform"] is True, fleet
    assert fleet["versions"] == ["v1"] and fleet["hosts"][APP1]["version"] == "v1" and fleet["hosts"][DB]["role"] == "db"
    # One batch at a time: app1 drained and put back before app2 was drained.
    # run_job prints progress and a summary; ansible-playbook's own output is in the job's artifacts.
    states = re.findall(r"Load balancer aishield-lb: in rotation [^;]*; drained ([^.]+)\.", run["job_stdout"])
    assert [s for s in states if s != "none"] == [APP1, APP2], states
    for host in (DB, APP1, APP2):
        assert "deploy.lock" not in _exec(host, "ls", "-A", ROOT), host


def _states(host, service):
    """The states of the project's containers of one service on a host (rolling switches renumber them)."""
    return _exec(host, "docker", "ps", "--all", "--filter", "label=com.docker.compose.project=aishield", "--filter",
                 f"label=com.docker.compose.service={service}", "--format", "{{.State}}").split()


def _fleet_report_rows(host):
    return json.loads(_exec(DB, "cat", f"{ROOT}/reports/fleet-daily-latest.json"))["rows"] if host is None else \
        json.loads(_exec(host, "cat", f"{ROOT}/reports/daily-latest.json"))["rows"]


def test_the_fleet_daily_is_one_report_with_each_hosts_part_and_one_message():
    run = _run("fleet-daily")
    out = run["output"]
    # A 0 % memory threshold breaches on every host: the fleet report ends the run red, once.
    assert run["rc"] != 0, out[-3000:]
    assert f"AI Shield fleet-daily on {DB}: FAIL" in out, out[-3000:]
    rows = _fleet_report_rows(None)
    by_host = {}
    for row in rows:
        by_host.setdefault(row["host"], {})[row["name"][len(row["host"]) + 1:]] = row
    assert set(by_host) == {DB, APP1, APP2}, rows
    for host, checks in by_host.items():
        assert checks["services"]["status"] == "ok", (host, checks["services"])
        assert checks["memory"]["status"] == "fail", (host, checks["memory"])
    # The db host reports the database, Redis, the queue and the backups; the app hosts the API.
    assert {"db connections", "redis memory", "celery queue", "backup age"} <= set(by_host[DB]) and "api p95" not in by_host[DB]
    for host in APPS:
        assert "api p95" in by_host[host] and not {"db connections", "redis memory", "backup age"} & set(by_host[host])
    assert by_host[DB]["backup age"]["status"] == "ok" and by_host[DB]["celery queue"]["status"] == "ok"
    # Each host kept its own report too; the lb is not checked.
    for host in (DB, APP1, APP2):
        assert {row["name"] for row in _fleet_report_rows(host)} == set(by_host[host]), host
    assert "daily-latest.json" not in _exec(LB, "sh", "-c", f"ls {ROOT}/reports 2>/dev/null || true")
    # One chat message for the fleet, naming each host's breach.
    hook = (RUNS.parent / "hook-path").read_text().strip()
    with urllib.request.urlopen("http://127.0.0.1:9080/_received", timeout=5) as response:  # nosec - loopback
        received = json.loads(response.read())
    messages = [r["body"]["text"] for r in received if r["path"] == hook]
    assert len(messages) == 1, messages
    assert all(f"{host} memory" in messages[0] for host in (DB, APP1, APP2)), messages[0]


def test_troubleshooting_on_the_fleet_visits_the_hosts_that_run_the_service():
    logs = _run("fleet-logs")
    assert logs["rc"] == 0, logs["output"][-3000:]
    # backend runs on the app hosts only; one host at a time.
    assert logs["output"].count("TASK [aishield.ops.maintenance : Print the logs of backend]") == 2, logs["output"][-3000:]
    refused = _run("fleet-restart-refused")
    assert refused["rc"] != 0 and "must be a service of the fleet's current release" in refused["output"]
    assert "Nothing was changed" in refused["output"]
    restart = _run("fleet-restart-worker")
    assert restart["rc"] == 0, restart["output"][-3000:]
    assert restart["output"].count("worker restarted and healthy") == 2, restart["output"][-3000:]
    for host in APPS:
        assert _states(host, "worker") == ["running"], host
    # The db host runs no worker: nothing was restarted there.
    assert _states(DB, "worker") == []


def test_a_live_restore_on_the_fleet_stops_the_app_hosts_writers_restores_on_the_db_host_and_starts_them():
    run = _run("fleet-restore-live")
    out = run["output"]
    assert run["rc"] == 0, out[-3000:]
    # The row written after the backup is gone: the live database was replaced (by v1's schema, before v2 migrated).
    assert (RUNS / "fleet-restore-live-count").read_text().strip() == "0"
    restore = [line for line in _audit(DB) if line["action"] == "restore"]
    assert restore and restore[-1]["target"] == "live", restore
    for host in APPS:
        assert _states(host, "backend") == ["running"] and _states(host, "worker") == ["running"], host
        # Only the writers were started: an app host runs no database or Redis of its own.
        assert _states(host, "db") == [] and _states(host, "redis") == [], host
    # The writers were stopped before the restore and started after it; every lock was released.
    stop = out.index("Stop the writers (the stack's web and worker services) on the app hosts")
    assert stop < out.index("Restore the backup (sha256 verified, one transaction)") < out.index("Start the writers again")
    for host in (DB, APP1, APP2):
        assert "deploy.lock" not in _exec(host, "ls", "-A", ROOT), host


def test_the_dr_drill_rebuilds_the_fleets_release_on_one_host_and_tears_it_down():
    run = _run("fleet-dr-drill")
    out = run["output"]
    assert run["rc"] == 0, out[-3000:]
    # The app hosts' release (the code serving), with the db host's data services' images.
    assert f"Release {_after_fleet_rollback(APP1)['release_id']} as recorded on the production host." in out, out[-3000:]
    images = re.search(r"images    ([^\n\"]+)", out).group(1)
    assert "aishield/backend@sha256:" in images and "aishield/postgres@sha256:" in images, images
    assert "aishield-drill" not in _exec(LB, "docker", "ps", "-a", "--format", "{{.Names}}")


def test_a_full_fleet_rollback_restores_the_database_on_the_db_host_then_rolls_the_app_hosts_back():
    redeploy = _run("redeploy-v2")
    assert redeploy["rc"] == 0, redeploy["output"][-3000:]
    run = _run("fleet-rollback-full")
    out = run["output"]
    assert run["rc"] == 0, out[-3000:]
    # The row written after v2's backup is gone, and the database is at v1's schema again.
    count, revision = (RUNS / "fleet-rollback-full-state").read_text().split()
    assert count == "0" and revision == VERSIONS["v1"]["head"], (count, revision)
    # The db host went back to the release the app hosts' v1 code ran against, restoring the backup its v2 release took.
    v2_db = [r for r in _records(DB) if r["version"] == "v2"][-1]
    assert v2_db["status"] == "rolled_back" and v2_db["backup"]["key"], v2_db
    full = [line for line in _audit(DB) if line["action"] == "rollback" and line["mode"] == "full"]
    assert full and full[-1]["from"] == v2_db["release_id"] and full[-1]["backup"] == v2_db["backup"]["key"], full
    for host in APPS:
        current = _current(host)
        assert current["version"] == "v1" and current["db_release"] == _current(DB)["release_id"], (host, current)
        assert _states(host, "backend") == ["running"] and _states(host, "worker") == ["running"], host
        assert _states(host, "db") == [] and _states(host, "redis") == [], host
    assert _current(DB)["version"] == "v1"
    fleet = json.loads(_exec(DB, "cat", f"{ROOT}/fleet.json"))
    assert fleet["run"] == "Fleet rollback" and fleet["outcome"] == "good" and fleet["uniform"] is True, fleet
    assert f"database restored from {v2_db['backup']['key']}" in out, out[-3000:]
    # Everything was planned before the writers stopped; they stopped before the restore.
    assert out.index("Plan it (nothing changes yet)") < out.index("Stop the stack's web and worker services") \
        < out.index("Restore the backup and switch (the rollback role, full)")
    for host in (DB, APP1, APP2):
        assert "deploy.lock" not in _exec(host, "ls", "-A", ROOT), host
