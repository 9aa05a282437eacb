# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""End-to-end checks of the reference AI Shield stack (tests/stack).

One stack per module, brought up on random 127.0.0.1 ports with random secrets and
walked through the releases in order: v1 fresh install -> v2 upgrade -> v4 (failing
migration) -> v3 (bad build) -> v5 (breaking migration). Each test first puts
the stack in the state it needs, so a single test can also be run on its own.

Needs only the docker CLI (with the compose plugin); skipped when `docker info` fails.
"""
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = ROOT / "tests" / "stack"
# The compose file the compose_deploy role ships: the stack is tested in the shape it is deployed.
COMPOSE_FILE = ROOT / "roles" / "compose_deploy" / "files" / "compose.yml"
VERSIONS = json.loads((STACK_DIR / "versions.json").read_text())
SCAN_DEADLINE = 30  # seconds for the worker to finish one scan
RISKY_CODE = 'x = eval(input())\npassword = "hunter2"\nprint(x)\n'

# Variables compose.yml reads; scrubbed from the inherited environment so the .env rules.
COMPOSE_VARS = ("AISHIELD_", "POSTGRES_", "SECRET_KEY", "ADMIN_EMAIL", "ADMIN_PASSWORD",
                "COMPOSE_")


def _run(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)


class Stack:
    """A compose project in a temp dir laid out like a deploy: compose.yml + .env."""

    def __init__(self, workdir):
        self.dir = workdir
        self.project = "aishieldtest" + secrets.token_hex(4)
        self.http_port = free_port()
        self.frontend_port = free_port()
        self.admin_email = "admin@stack.test"
        self.admin_password = secrets.token_urlsafe(16)
        self.settings = {
            "AISHIELD_BACKEND_IMAGE": "aishield/backend:v1",
            "AISHIELD_FRONTEND_IMAGE": "aishield/frontend:v1",
            "AISHIELD_PROXY_IMAGE": "aishield/proxy:v1",
            "AISHIELD_DB_IMAGE": "aishield/postgres:15",
            "AISHIELD_REDIS_IMAGE": "aishield/redis:7",
            "AISHIELD_BIND_ADDRESS": "127.0.0.1",
            "AISHIELD_HTTP_PORT": str(self.http_port),
            "AISHIELD_FRONTEND_PORT": str(self.frontend_port),
            "AISHIELD_SCAN_SECONDS": "0.5",
            "POSTGRES_USER": "aishield",
            "POSTGRES_DB": "aishield",
            "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ADMIN_EMAIL": self.admin_email,
            "ADMIN_PASSWORD": self.admin_password,
        }
        shutil.copy(COMPOSE_FILE, self.dir / "compose.yml")
        self.version = None
        self._write_env()

    def _write_env(self):
        env_file = self.dir / ".env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))
        env_file.chmod(0o600)

    def compose(self, *args, timeout=180, image=None, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith(COMPOSE_VARS)}
        if image:  # like a deploy tool trying a new image before switching to it
            env["AISHIELD_BACKEND_IMAGE"] = image
        cmd = ["docker", "compose", "-p", self.project, "--project-directory", str(self.dir),
               "-f", str(self.dir / "compose.yml"), *args]
        res = _run(cmd, timeout, cwd=self.dir, env=env)
        if check:
            assert res.returncode == 0, f"{' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
        return res

    def migrate(self, version, check=True):
        return self.compose("run", "--rm", "-T", "backend", "alembic", "upgrade", "head",
                            image=f"aishield/backend:{version}", timeout=120, check=check)

    def deploy(self, version, migrate=True):
        """Migrate with the new image, then switch backend and worker to it."""
        if self.version == version:
            return
        if migrate:
            self.migrate(version)
        self.settings["AISHIELD_BACKEND_IMAGE"] = f"aishield/backend:{version}"
        self._write_env()
        self.compose("up", "-d", "--wait")
        self.version = version

    def psql(self, sql):
        res = self.compose("exec", "-T", "db", "psql", "-U", "aishield", "-d", "aishield",
                           "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql, timeout=60)
        return res.stdout.strip()

    # --- HTTP on the published ports --------------------------------------------

    def http(self, method, path, body=None, token=None, port=None):
        url = f"http://127.0.0.1:{port or self.http_port}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def login(self, password=None):
        status, body = self.http("POST", "/api/v1/auth/login",
                                 {"email": self.admin_email,
                                  "password": password or self.admin_password})
        assert status == 200, body
        return body

    def wait_scan(self, token, scan_id):
        deadline = time.monotonic() + SCAN_DEADLINE
        body = None
        while time.monotonic() < deadline:
            status, body = self.http("GET", f"/api/v1/scans/{scan_id}", token=token)
            assert status == 200, body
            if body["status"] == "done":
                return body
            time.sleep(0.5)
        pytest.fail(f"scan {scan_id} not done within {SCAN_DEADLINE}s: {body}")

    def logs(self):
        return self.compose("logs", "--no-color", "--tail", "40", check=False, timeout=60).stdout


@pytest.fixture(scope="module")
def images():
    res = _run(["bash", str(STACK_DIR / "build.sh"), "--no-push"], timeout=1200)
    assert res.returncode == 0, f"build.sh failed:\n{res.stdout}\n{res.stderr}"


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory, request):
    st = Stack(tmp_path_factory.mktemp("stack"))
    failed_before = request.session.testsfailed

    def teardown():
        if request.session.testsfailed > failed_before:
            print(f"--- last logs of {st.project} ---\n{st.logs()}")
        st.compose("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout=120)

    request.addfinalizer(teardown)
    st.compose("up", "-d", "--wait")
    st.migrate("v1")
    st.version = "v1"
    return st


@pytest.fixture(scope="module")
def v1_scan(stack):
    """A scan made on v1, to find again after the upgrades."""
    stack.deploy("v1")
    token = stack.login()["access_token"]
    status, body = stack.http("POST", "/api/v1/scans/code",
                              {"code": RISKY_CODE, "language": "python"}, token=token)
    assert status == 202, body
    assert body["status"] == "queued" and isinstance(body["id"], int)
    return stack.wait_scan(token, body["id"])


def test_migration_info_matches_manifest(images):
    # One container per release, started together: each spends most of its time importing.
    procs = {v: subprocess.Popen(["docker", "run", "--rm", f"aishield/backend:{v}", "python3", "-m",
                                  "app.migration_info"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for v in VERSIONS}
    outputs = {v: p.communicate(timeout=120) + (p.returncode,) for v, p in procs.items()}
    for version, rel in VERSIONS.items():
        image = f"aishield/backend:{version}"
        out, err, rc = outputs[version]
        assert rc == 0, err
        info = json.loads(out)
        assert info["heads"] == [rel["head"]], version
        assert [r["revision"] for r in info["revisions"]] == rel["revisions"], version
        assert all(isinstance(r["backward_compatible"], bool) for r in info["revisions"])
        breaking = {r["revision"] for r in info["revisions"] if not r["backward_compatible"]}
        assert breaking == ({"0005_display_name"} if version == "v5" else set()), version
        label = _run(["docker", "image", "inspect", "-f",
                      '{{index .Config.Labels "org.opencontainers.image.version"}}', image], 30)
        assert label.stdout.strip() == version


def test_v1_fresh_install(stack, v1_scan):
    status, body = stack.http("GET", "/health")
    assert (status, body) == (200, {"status": "ok", "version": "v1"})

    status, body = stack.http("GET", "/api/v1/health")
    assert status == 200, body
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert body["revision"] == VERSIONS["v1"]["head"]

    tokens = stack.login()
    assert tokens["token_type"] == "bearer" and tokens["refresh_token"]
    status, me = stack.http("GET", "/api/v1/auth/me", token=tokens["access_token"])
    assert status == 200, me
    assert me["id"] == tokens["id"] and me["email"] == stack.admin_email
    assert "last_login_at" not in me  # a v2 feature

    assert stack.http("GET", "/api/v1/auth/me")[0] == 401
    assert stack.http("GET", "/api/v1/auth/me", token=tokens["access_token"] + "x")[0] == 401
    assert stack.http("GET", "/api/v1/auth/me", token=tokens["refresh_token"])[0] == 401
    assert stack.http("POST", "/api/v1/auth/login",
                      {"email": stack.admin_email, "password": "wrong"})[0] == 401
    assert stack.http("GET", "/api/v1/projects")[0] == 401

    status, projects = stack.http("GET", "/api/v1/projects", token=tokens["access_token"])
    assert status == 200 and isinstance(projects, list) and projects, projects
    assert "demo" in {p["name"] for p in projects}

    assert v1_scan["status"] == "done"
    assert v1_scan["result"]["findings"] == 2, v1_scan

    status, page = stack.http("GET", "/", port=stack.frontend_port)
    assert status == 200 and "AI Shield" in page

    assert stack.psql("SHOW shared_preload_libraries") == "pg_stat_statements"
    assert stack.psql("SELECT extname FROM pg_extension WHERE extname = 'pg_stat_statements'") \
        == "pg_stat_statements"
    assert int(stack.psql("SELECT count(*) FROM pg_stat_statements")) > 0
    counts = stack.psql("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM organizations),"
                        " (SELECT count(*) FROM scans)")
    assert counts == "1|1|1"

    # Only the proxy and the frontend are published.
    published = stack.compose("ps", "--format", "{{.Service}} {{.Ports}}").stdout
    for line in published.splitlines():
        service, ports = (line.split(" ", 1) + [""])[:2]
        assert ("->" in ports) == (service in ("proxy", "frontend")), line


def test_v2_upgrade_keeps_v1_data(stack, v1_scan):
    before = stack.login()
    stack.deploy("v2")

    assert stack.http("GET", "/health") == (200, {"status": "ok", "version": "v2"})
    status, body = stack.http("GET", "/api/v1/health")
    assert status == 200 and body["revision"] == VERSIONS["v2"]["head"], body

    tokens = stack.login()
    assert tokens["id"] == before["id"]  # the same user row survived
    status, me = stack.http("GET", "/api/v1/auth/me", token=tokens["access_token"])
    assert status == 200 and me["last_login_at"], me

    status, old = stack.http("GET", f"/api/v1/scans/{v1_scan['id']}", token=tokens["access_token"])
    assert status == 200 and old["result"] == v1_scan["result"], old
    assert stack.psql("SELECT count(*) FROM users") == "1"

    status, body = stack.http("POST", "/api/v1/scans/code", {"code": "print(1)\n"},
                              token=tokens["access_token"])
    assert status == 202, body
    done = stack.wait_scan(tokens["access_token"], body["id"])
    assert done["result"]["findings"] == 0 and done["result"]["scanner_version"] == "v2"


def test_v4_failed_migration_rolls_back(stack):
    stack.deploy("v2")
    res = stack.migrate("v4", check=False)
    assert res.returncode != 0, res.stdout
    assert "deliberate failure" in res.stderr + res.stdout
    assert stack.psql("SELECT version_num FROM alembic_version") == VERSIONS["v2"]["head"]
    assert stack.psql("SELECT to_regclass('public.scan_audit')") == ""
    # The running release is untouched.
    status, body = stack.http("GET", "/api/v1/health")
    assert status == 200 and body["revision"] == VERSIONS["v2"]["head"], body


def test_v3_smoke_fails_while_container_healthy(stack):
    stack.deploy("v2")
    stack.deploy("v3")  # `up --wait` passes: the container healthcheck only asks /health
    assert stack.http("GET", "/health") == (200, {"status": "ok", "version": "v3"})
    status, body = stack.http("GET", "/api/v1/health")
    assert status == 503, body
    assert body["database"] == "error" and body["status"] == "error"


def test_v5_breaking_migration(stack):
    if stack.version not in ("v2", "v3"):  # any release that still reads users.full_name
        stack.deploy("v2")
    old_token = stack.login()["access_token"]
    stack.migrate("v5")
    assert stack.psql("SELECT version_num FROM alembic_version") == VERSIONS["v5"]["head"]
    # backward_compatible = False for real: the old code cannot read users any more.
    status, body = stack.http("GET", "/api/v1/auth/me", token=old_token)
    assert status == 503, body

    stack.deploy("v5", migrate=False)  # migrated above
    tokens = stack.login()
    status, me = stack.http("GET", "/api/v1/auth/me", token=tokens["access_token"])
    assert status == 200 and me["full_name"] == "Administrator", me
