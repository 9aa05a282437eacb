"""Verify the reference stack deployed on the DinD host (runs inside it via testinfra)."""
from __future__ import annotations

import json

ROOT = "/opt/aishield"
PROJECT = "aishield"
SERVICES = {"db", "redis", "backend", "worker", "frontend", "proxy"}


def _curl(host, *args):
    cmd = host.run("curl -sS -m 5 -w '\\n%{http_code}' " + " ".join(args))
    assert cmd.rc == 0, cmd.stderr
    body, code = cmd.stdout.rsplit("\n", 1)
    return int(code), body


def test_every_service_running_and_healthy(host):
    out = host.check_output(f"docker compose -p {PROJECT} ps --format json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    states = {r["Service"]: (r["State"], r.get("Health", "")) for r in rows}
    assert set(states) == SERVICES, states
    for service, (state, health) in states.items():
        assert state == "running", f"{service} is {state}"
        assert health == "healthy", f"{service} health is {health!r}"


def test_health_endpoints(host):
    code, body = _curl(host, "http://127.0.0.1:8000/health")
    assert code == 200
    assert json.loads(body)["status"] == "ok"
    code, body = _curl(host, "http://127.0.0.1:8000/api/v1/health")
    assert code == 200
    data = json.loads(body)
    assert data["database"] == "ok" and data["redis"] == "ok"
    release = json.loads(host.file(f"{ROOT}/current/release.json").content_string)
    assert [data["revision"]] == release["alembic"]["after"]


def test_login_me_round_trip(host):
    env = host.file(f"{ROOT}/current/.env")
    assert env.mode == 0o600
    values = dict(line.split("=", 1) for line in env.content_string.splitlines() if "=" in line and not line.startswith("#"))
    email, password = values["ADMIN_EMAIL"].strip('"'), values["ADMIN_PASSWORD"].strip('"')
    login = json.dumps({"email": email, "password": password})
    # The body goes through a file so the password never appears on a command line.
    host.run(f"umask 077; cat > /tmp/login.json <<'EOF'\n{login}\nEOF")
    code, body = _curl(host, "-X POST -H 'Content-Type: application/json' --data @/tmp/login.json",
                       "http://127.0.0.1:8000/api/v1/auth/login")
    host.run("rm -f /tmp/login.json")
    assert code == 200, body
    token = json.loads(body)
    assert token["id"] and token["access_token"] and token["refresh_token"]
    code = _curl(host, "-H 'Authorization: Bearer not-a-token'", "http://127.0.0.1:8000/api/v1/auth/me")[0]
    assert code == 401
    code, body = _curl(host, f"-H 'Authorization: Bearer {token['access_token']}'", "http://127.0.0.1:8000/api/v1/auth/me")
    assert code == 200
    assert json.loads(body)["email"] == email


def test_release_record(host):
    current = host.file(f"{ROOT}/current")
    assert current.is_symlink
    release = json.loads(host.file(f"{ROOT}/current/release.json").content_string)
    assert release["status"] == "good"
    # The scenario's version is the tag the backend image was pinned from.
    assert f"/aishield/backend:{release['version']}@sha256:" in release["images"]["backend"], release["images"]
    for service, ref in release["images"].items():
        assert "@sha256:" in ref, f"{service} image not pinned: {ref}"
