"""A team's own stack, described as data: tests/stack2 ("notes") through inventories/notes.

Other service names (api, jobs, pg, edge), no redis, no frontend, its own Alembic migrations and
/healthz. Deployed v1 -> v2 under a 50 req/s probe through the documented variables only, then a
broken v3 whose smoke checks fail and which rolls back by itself, bad input refused, a restore into a
scratch database, and a full rollback to v1 that reads the stack from the release record.
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
STACK2 = REPO / "tests" / "stack2"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def notes(tmp_path_factory):
    """A private root, project and port for the notes stack, with a planted secret."""
    tmp = tmp_path_factory.mktemp("notes")
    planted = {"NOTES_DB_PASSWORD": "ntPLANT" + secrets.token_hex(10)}
    project = "notes-it-" + secrets.token_hex(3)
    extra = {"aishield_root": str(tmp / "root"), "aishield_project": project, "aishield_http_port": free_port(),
             "aishield_secrets": planted, "aishield_backup_prefix": "notes-it-" + secrets.token_hex(3),
             # p95 on 2 cores shared by the other CI lane says more about the neighbours than about the stack (CI saw
             # 1010 ms); the 500 ms gate itself is proven in test_health_check.py, as Molecule's base config does.
             "aishield_smoke_max_p95_ms": 5000}
    vars_file = tmp / "extra.yml"
    vars_file.write_text(yaml.safe_dump(extra))
    vars_file.chmod(0o600)
    yield {"tmp": tmp, "planted": planted, "project": project, "vars_file": vars_file, **extra}
    subprocess.run(["docker", "compose", "-p", project, "down", "-v", "--remove-orphans"], capture_output=True,
                   timeout=180, check=False)


def deploy(env, version, *extra_args, playbook="deploy.yml"):
    cmd = [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / playbook), "-i", "inventories/notes",
           "-e", f"@{env['vars_file']}", "-e", f"aishield_version={version}", *extra_args]
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}",
                   ANSIBLE_NOCOLOR="1")
    return run_playbook_watched(cmd, REPO, run_env, env["planted"])


def current(env):
    return json.loads((Path(env["aishield_root"]) / "current" / "release.json").read_text())


def containers(env, service):
    return subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={env['project']}",
                           "--filter", f"label=com.docker.compose.service={service}"],
                          capture_output=True, text=True, check=True).stdout.split()


def psql(env, sql):
    return subprocess.run(["docker", "exec", f"{env['project']}-pg-1", "psql", "-U", "notes", "-d", "notes", "-tAc", sql],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_v1_deploys_with_its_own_names_and_checks(notes):
    rc, out = deploy(notes, "v1")
    assert rc == 0, out[-4000:]
    release = current(notes)
    assert release["status"] == "good" and release["version"] == "v1"
    # Each service's image is pinned by digest through the override; the team's file is copied unchanged.
    assert set(release["images"]) == {"api", "jobs", "pg", "edge"}
    assert all("@sha256:" in ref for ref in release["images"].values()), release["images"]
    rdir = Path(release["release_dir"])
    assert (rdir / "compose.yml").read_text() == (STACK2 / "compose.yml").read_text()
    pins = yaml.safe_load((rdir / "compose.images.yml").read_text())
    assert pins["services"]["api"]["image"] == release["images"]["api"]
    assert oct((rdir / ".env").stat().st_mode & 0o777) == "0o600"
    assert psql(notes, "select version_num from alembic_version") == release["alembic"]["after"][0]
    assert "healthz" in release["smoke"]["summary"] or release["smoke"]["summary"].startswith("3/3"), release["smoke"]
    assert len(containers(notes, "api")) == 1 and len(containers(notes, "jobs")) == 1
    # The team's own smoke script ran in the api container (inventories/notes: smoke.command).
    assert re.search(r"Run the smoke command in its service's container\].*\n(?:.*\n){0,3}ok: \[localhost\]", out), out[-3000:]


def test_v2_rolls_with_zero_downtime_migrates_and_backs_up(notes):
    before = current(notes)
    stop, result = notes["tmp"] / "probe.stop", notes["tmp"] / "probe.json"
    url = f"http://127.0.0.1:{notes['aishield_http_port']}/healthz"
    probe = subprocess.Popen([sys.executable, str(REPO / "tests/tools/probe.py"), url, "--rate", "50", "--seconds", "600",
                              "--stop-file", str(stop), "--out", str(result)], stdout=subprocess.DEVNULL)
    try:
        rc, out = deploy(notes, "v2")
    finally:
        stop.touch()
        probe.wait(timeout=60)
    assert rc == 0, out[-4000:]
    summary = json.loads(result.read_text())
    assert summary["requests"] >= 250 and summary["failures"] == 0, summary
    release = current(notes)
    assert release["version"] == "v2" and release["previous_release"] == before["release_id"]
    assert release["alembic"]["before"] == before["alembic"]["after"]
    assert release["alembic"]["after"] != release["alembic"]["before"]
    assert psql(notes, "select count(*) from information_schema.columns where table_name='notes' and column_name='created_at'") == "1"
    # The backup came from the stack's own database service, under its prefix.
    assert release["backup"]["key"].startswith(notes["aishield_backup_prefix"] + "/notes/"), release["backup"]
    assert release["backup"]["sha256"]
    assert len(containers(notes, "api")) == 1, "the old api container was not removed"


def test_broken_v3_fails_its_smoke_checks_and_rolls_back(notes):
    good = current(notes)
    # list_notes never passes on v3: 20 s proves it as well as the default 60 s does.
    rc, out = deploy(notes, "v3", "-e", "aishield_smoke_deadline=20")
    assert rc != 0, out[-3000:]
    assert "list_notes" in out and "Rolled back automatically" in out, out[-4000:]
    after = current(notes)
    assert after["release_id"] == good["release_id"] and after["version"] == "v2"
    failed = sorted((Path(notes["aishield_root"]) / "releases").glob("*-v3"))
    assert failed and json.loads((failed[-1] / "release.json").read_text())["status"] == "failed"


def test_bad_stack_input_is_refused_before_any_change(notes):
    good = current(notes)
    bad = notes["tmp"] / "bad.yml"
    bad.write_text(yaml.safe_dump({"aishield_images": {"api": "127.0.0.1:5000/notes/api:v2", "jobs": "127.0.0.1:5000/notes/jobs:v1",
                                                       "pg": "127.0.0.1:5000/aishield/postgres:15",
                                                       "edge": "127.0.0.1:5000/aishield/proxy:v1",
                                                       "cron": "127.0.0.1:5000/notes/cron:v1"}}))
    rc, out = deploy(notes, "v2", "-e", f"@{bad}")
    assert rc != 0
    assert "compose_deploy_images.cron names no service" in out, out[-3000:]
    assert current(notes)["release_id"] == good["release_id"]


def test_restore_into_scratch_uses_the_stacks_database(notes):
    rc, out = deploy(notes, "v2", playbook="restore.yml")
    assert rc == 0, out[-4000:]
    assert "-> notes_restore" in out, out[-3000:]
    count = psql(notes, "select count(*) from notes")
    assert count != "0"  # the smoke checks added notes
    scratch = subprocess.run(["docker", "exec", f"{notes['project']}-pg-1", "psql", "-U", "notes", "-d", "notes_restore",
                              "-tAc", "select count(*) from alembic_version"], capture_output=True, text=True, check=True)
    assert scratch.stdout.strip() == "1"


def test_dr_drill_recovers_the_stack_into_a_throwaway_project(notes):
    drill = notes["project"] + "-drill"
    port = free_port()
    rc, out = deploy(notes, "v2", "-e", "aishield_dr_hosts=aishield", "-e", f"aishield_dr_project={drill}",
                     "-e", f"aishield_dr_root={notes['tmp'] / 'drill'}", "-e", f"aishield_dr_http_port={port}",
                     "-e", f"aishield_dr_report_dir={notes['tmp'] / 'drill-reports'}", playbook="dr_drill.yml")
    try:
        assert rc == 0, out[-5000:]
        report = json.loads((notes["tmp"] / "drill-reports" / "dr_drill-latest.json").read_text())
        rows = {row["name"]: row for row in report["rows"]}
        assert rows["restore"]["status"] == "ok" and " into " + drill + "/notes" in rows["restore"]["detail"], rows["restore"]
        assert rows["smoke"]["status"] == "ok", rows["smoke"]  # the stack's own checks and command, on the drill
        assert rows["teardown"]["value"] == "removed"
        # The drill ran the team's smoke command in its own api container, not in production's.
        assert re.search(r"Run the smoke command in its service's container\].*\n(?:.*\n){0,3}ok: \[localhost\]", out)
    finally:
        subprocess.run(["docker", "compose", "-p", drill, "down", "-v"], capture_output=True, timeout=180, check=False)
    assert len(containers(notes, "api")) == 1, "production's api was touched"


def test_maintenance_daily_checks_the_stacks_own_services(notes):
    rc, out = deploy(notes, "v2", playbook="maintenance.yml")
    report_path = Path(notes["aishield_root"]) / "reports" / "daily-latest.json"
    assert report_path.exists(), out[-3000:]
    report = json.loads(report_path.read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert rows["services"]["value"] == "4/4 healthy", rows["services"]
    assert rows["services"]["detail"] == "api, edge, jobs, pg"
    assert rows["db connections"]["status"] == "ok" and rows["db size"]["status"] == "ok"
    assert rows["backup age"]["detail"].startswith(notes["aishield_backup_prefix"] + "/notes/"), rows["backup age"]
    assert rows["api p95"]["status"] == "ok", rows["api p95"]  # measured on /healthz through edge
    # No Redis in this stack: no Redis or Celery rows, and no failure for their absence.
    assert not {"redis memory", "redis clients", "celery queue"} & set(rows), sorted(rows)
    breaching = [row for row in report["rows"] if row["status"] != "ok" and row["name"] not in ("cpu", "memory")]
    assert not breaching, breaching


def test_full_rollback_to_v1_reads_the_stack_from_the_record(notes):
    v2 = current(notes)
    rc, out = deploy(notes, "v2", "-e", "aishield_rollback_mode=full", playbook="rollback.yml")
    assert rc == 0, out[-4000:]
    after = current(notes)
    assert after["version"] == "v1" and after["release_id"] == v2["previous_release"]
    # The backup v2 took before its migration came back: the schema is v1's again.
    assert psql(notes, "select version_num from alembic_version") == after["alembic"]["after"][0]
    assert psql(notes, "select count(*) from information_schema.columns where table_name='notes' and column_name='created_at'") == "0"
    assert after["stack"]["database"]["service"] == "pg" and after["stack"]["roll"] == ["api"]
    # The stack's own smoke checks ran on the release rolled back to.
    assert "list_notes" in out or "3/3" in out, out[-3000:]


def test_the_smoke_commands_exit_status_decides(notes):
    """verify.yml with the stack's smoke command swapped for one that fails: the verification fails on it alone."""
    stack = yaml.safe_load((REPO / "inventories/notes/group_vars/aishield.yml").read_text())["aishield_stack"]
    stack["smoke"]["command"] = {"argv": ["false"]}  # on the host, in the current release's directory
    override = notes["tmp"] / "failing-command.yml"
    override.write_text(yaml.safe_dump({"aishield_stack": stack}))
    rc, out = deploy(notes, "v1", "-e", f"@{override}", playbook="verify.yml")
    assert rc != 0, out[-3000:]
    assert re.search(r"Run the smoke command on the host.*\n(?:.*\n){0,3}fatal: \[localhost\]", out), out[-3000:]
    assert "non-zero return code" in out
    rc, out = deploy(notes, "v1", playbook="verify.yml")  # the inventory's own command passes
    assert rc == 0 and "3/3 endpoints healthy" in out, out[-3000:]


# A stack without a database: a static site behind its proxy. No backup, no migration, no schema gate.
SITE_COMPOSE = """\
services:
  site:
    image: aishield/frontend:v1
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "curl", "-fsS", "-m", "2", "-o", "/dev/null", "http://127.0.0.1:3000/healthz"]
      interval: 2s
      timeout: 3s
      retries: 5
      start_period: 10s
  edge:
    image: aishield/proxy:v1
    restart: unless-stopped
    environment:
      PROXY_UPSTREAM: site:3000
      SITE_TITLE: ${SITE_TITLE:?the stack's env provides it}
    ports:
      - "${AISHIELD_BIND_ADDRESS:-127.0.0.1}:${AISHIELD_HTTP_PORT:?}:8000"
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An inventory of its own for a database-less stack, with a planted secret."""
    tmp = tmp_path_factory.mktemp("site")
    (tmp / "inventory" / "group_vars").mkdir(parents=True)
    (tmp / "inventory" / "hosts.yml").write_text((REPO / "inventories/notes/hosts.yml").read_text())
    (tmp / "compose.yml").write_text(SITE_COMPOSE)
    planted = {"SITE_TOKEN": "stPLANT" + secrets.token_hex(10)}
    project = "site-it-" + secrets.token_hex(3)
    group_vars = {
        "aishield_root": str(tmp / "root"), "aishield_project": project, "aishield_http_port": free_port(),
        "aishield_stack": {
            "compose_files": [str(tmp / "compose.yml")],
            "services": {"site": {"role": "web", "port": 3000, "health_path": "/healthz"}, "edge": {"role": "plain"}},
            "env": {"SITE_TITLE": "Static site"},
            "smoke": {"checks": [{"name": "page", "path": "/", "body_contains": "Frontend {{ aishield_version }}."}]},
        },
        "aishield_images": {"site": "127.0.0.1:5000/aishield/frontend:{{ aishield_version }}",
                            "edge": "127.0.0.1:5000/aishield/proxy:v1"},
        "aishield_required_secrets": ["SITE_TOKEN"], "aishield_secrets": planted, "aishield_smoke_max_p95_ms": 5000,
    }
    vars_file = tmp / "inventory" / "group_vars" / "aishield.yml"
    vars_file.write_text(yaml.safe_dump(group_vars))
    vars_file.chmod(0o600)
    yield {"tmp": tmp, "planted": planted, "project": project, **group_vars}
    subprocess.run(["docker", "compose", "-p", project, "down", "-v", "--remove-orphans"], capture_output=True,
                   timeout=180, check=False)


def run_site(env, version, *extra_args, playbook="deploy.yml"):
    cmd = [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / playbook), "-i", str(env["tmp"] / "inventory"),
           "-e", f"aishield_version={version}", *extra_args]
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}",
                   ANSIBLE_NOCOLOR="1")
    return run_playbook_watched(cmd, REPO, run_env, env["planted"])


def test_a_stack_without_a_database_deploys_and_rolls_back(site):
    for version in ("v1", "v2"):
        rc, out = run_site(site, version)
        assert rc == 0, out[-4000:]
        release = current(site)
        assert release["status"] == "good" and release["version"] == version
        # Nothing to back up or migrate, and the record says so: no database in its stack.
        assert "backup" not in release and "alembic" not in release, sorted(release)
        assert release["stack"]["database"] is None and release["stack"]["roll"] == ["site"]
    # The stack's env reached its compose file through .env, beside the deploy's own variables.
    env_file = (Path(release["release_dir"]) / ".env").read_text()
    assert "SITE_TITLE=" in env_file and "AISHIELD_HTTP_PORT=" in env_file
    assert "POSTGRES_DB" not in env_file and "AISHIELD_FRONTEND_PORT" not in env_file  # the reference stack's, not this one's
    edge = subprocess.run(["docker", "exec", f"{site['project']}-edge-1", "printenv", "SITE_TITLE"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert edge == "Static site"
    v2 = current(site)
    # The smoke check reads aishield_version: after the rollback it expects v1's page.
    rc, out = run_site(site, "v1", playbook="rollback.yml")
    assert rc == 0, out[-4000:]
    after = current(site)
    assert after["version"] == "v1" and after["release_id"] == v2["previous_release"]
    # The page the proxy serves is v1's again, checked by the stack's own smoke check after the rollback.
    page = subprocess.run(["curl", "-fsS", "-m", "5", f"http://127.0.0.1:{site['aishield_http_port']}/"],
                          capture_output=True, text=True, check=True).stdout
    assert "Frontend v1." in page
    assert "1/1 endpoints healthy" in out, out[-3000:]
