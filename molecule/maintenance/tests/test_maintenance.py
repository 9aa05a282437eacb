"""Verify what converge's maintenance runs left (testinfra: `host` is each DinD host)."""
from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import testinfra.utils.ansible_runner

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
RUNS = EPHEMERAL / "runs"
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("aishield")


def _run(name):
    return json.loads((RUNS / f"{name}.json").read_text())


def _rows(name):
    return {row["name"]: row for row in json.loads((RUNS / f"{name}-report.json").read_text())["rows"]}


def _posts():
    hook = (EPHEMERAL / "hook-path").read_text().strip()
    with urllib.request.urlopen("http://127.0.0.1:9080/_received", timeout=10) as resp:  # nosec - loopback
        return [r for r in json.load(resp) if r.get("path") == hook]


def test_healthy_daily_is_all_ok():
    rows = _rows("daily-healthy")
    assert rows and all(row["status"] == "ok" for row in rows.values()), rows
    assert rows["services"]["value"] == "6/6 healthy"


def test_each_breach_is_in_the_report_and_reached_the_webhook():
    rows = _rows("daily-breaches")
    assert rows["services"]["status"] == "fail" and "worker" in rows["services"]["detail"]
    assert rows["celery queue"]["status"] == "fail" and rows["celery queue"]["value"] == "12"
    assert rows["memory"]["status"] == "fail"
    assert rows["cpu"]["status"] == "fail" and "aishield-backend-1 " in rows["cpu"]["detail"], rows["cpu"]
    assert rows["slow queries"]["status"] == "fail" and "pg_sleep" in rows["slow queries"]["detail"], rows["slow queries"]
    assert "source: pg_stat_statements" in rows["slow queries"]["detail"]
    posts = _posts()
    assert len(posts) == 1, "the healthy run posted, or the breach run did not post exactly once: %s" % posts
    text = posts[0]["body"]["text"]
    assert "FAIL celery queue: 12" in text and "FAIL memory" in text and "FAIL services" in text and "worker" in text
    assert "FAIL cpu" in text and "FAIL slow queries" in text and "pg_sleep" in text


def test_restart_needed_confirmation_and_left_the_worker_healthy(host):
    assert "aishield_troubleshoot_confirm=aishield" in _run("restart-refused")["output"]
    assert "worker restarted and healthy" in _run("restart-worker")["output"]
    state = host.check_output("docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' aishield-worker-1")
    assert state == "running healthy"


def test_logs_shows_the_restarted_worker_and_no_more_than_asked():
    output = _run("logs-worker")["output"]
    # Compose prefixes each line with the container's name; the debug task prints one JSON string per line.
    lines = [line for line in output.splitlines() if re.match(r'\s*"worker-1\s+\| ', line)]
    assert len(lines) == 3, output[-3000:]
    # No terminal control codes reach the operator (compose writes an erase-line code before each line).
    assert "\\u001b" not in output and "\x1b" not in output, output[-3000:]
    # Celery's "ready." line comes from the worker restarted just before.
    assert any("ready." in line for line in lines), lines


def test_restart_stack_restarted_every_service_and_left_it_healthy(host):
    assert "The stack restarted and healthy" in _run("restart-stack")["output"]
    before = dict(line.split() for line in host.file("/root/started-before").content_string.splitlines())
    assert len(before) == 6, before
    for name, started in before.items():
        state = host.check_output("docker inspect -f '{{.State.StartedAt}} {{.State.Status}} {{.State.Health.Status}}' %s" % name[1:])
        now, status, health = state.split()
        assert now != started, "%s was not restarted" % name
        assert (status, health) == ("running", "healthy"), (name, state)


def test_weekly_restore_passed_then_failed_on_the_corrupted_object(host):
    good = json.loads(host.file("/opt/aishield/reports/weekly-latest.json").content_string)
    assert good["status"] == "fail", "the corrupted run is the latest weekly report"
    restore = {row["name"]: row for row in good["rows"]}["restore"]
    assert "sha256 mismatch" in restore["detail"]
    reports = host.check_output("ls /opt/aishield/reports").split()
    weekly = sorted(name for name in reports if name.startswith("weekly-2") and name.endswith(".json"))
    assert len(weekly) == 2
    first = json.loads(host.file("/opt/aishield/reports/" + weekly[0]).content_string)
    assert first["status"] == "ok", first
    assert host.file("/opt/aishield/reports/" + weekly[0]).mode == 0o640
    assert "monthly-latest.md" in reports
    assert host.check_output("docker exec aishield-db-1 psql -U aishield -d postgres -tAc "
                             "\"SELECT count(*) FROM pg_database WHERE datname = 'aishield_maintenance_restore'\"") == "0"
