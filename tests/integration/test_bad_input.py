# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input for every playbook: rejected before any change, with a message naming the variable and the fix.

Table-driven: each row runs one playbook with a throwaway inventory whose inputs are all valid
except one. No stack is needed; the assertions are the exit code, the message, and that
nothing was created (the root directory stays as it was, no container of the project exists).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Nothing answers on port 9 (discard): a row the checks fail to reject still stops at preflight's
# registry lookup, so a gap in validation shows up as a wrong message, never as a real deploy.
REGISTRY = "127.0.0.1:9"
GOOD_IMAGES = {"backend": f"{REGISTRY}/aishield/backend:v1", "frontend": f"{REGISTRY}/aishield/frontend:v1",
               "proxy": f"{REGISTRY}/aishield/proxy:v1", "db": f"{REGISTRY}/aishield/postgres:15",
               "redis": f"{REGISTRY}/aishield/redis:7"}
# A recorded release, so that rollback rows fail on their input and not on an empty root.
RELEASE_ID = "20261128T100000Z-v1"

pytestmark = pytest.mark.integration


# (id, playbook, overrides of the valid inputs, substrings the output must contain)
CASES = [
    ("deploy-version-missing", "deploy.yml", {"aishield_version": ""},
     ["compose_deploy_version must be a label", "aishield_version"]),
    ("deploy-version-not-a-label", "deploy.yml", {"aishield_version": "v2; rm -rf /"},
     ["compose_deploy_version must be a label", "aishield_version"]),
    ("deploy-version-wrong-type", "deploy.yml", {"aishield_version": {"major": 2}},
     ["compose_deploy_version"]),
    ("deploy-image-malformed", "deploy.yml", {"aishield_images": dict(GOOD_IMAGES, backend="UPPER/Case::x")},
     ["backend", "UPPER/Case::x"]),
    ("deploy-image-missing", "deploy.yml", {"aishield_images": {k: v for k, v in GOOD_IMAGES.items() if k != "redis"}},
     ["redis", "compose_deploy_images"]),
    ("deploy-images-wrong-type", "deploy.yml", {"aishield_images": "backend:v2"},
     ["compose_deploy_images"]),
    ("deploy-secret-missing", "deploy.yml", {"aishield_secrets": {"POSTGRES_PASSWORD": "pw" + secrets.token_hex(4),
                                                                  "ADMIN_PASSWORD": "ad" + secrets.token_hex(4)}},
     ["compose_deploy_secrets.SECRET_KEY is missing", "ansible-vault"]),
    ("deploy-db-password-not-url-safe", "deploy.yml", {"aishield_secrets": {"POSTGRES_PASSWORD": "p@ss/word", "SECRET_KEY": "s",
                                                                            "ADMIN_PASSWORD": "a"}},
     ["POSTGRES_PASSWORD may only hold"]),
    ("deploy-strategy-unknown", "deploy.yml", {"aishield_strategy": "bluegreen"},
     ["compose_deploy_strategy", "rolling, recreate"]),
    ("deploy-port-not-a-number", "deploy.yml", {"aishield_http_port": "eighty"},
     ["compose_deploy_http_port"]),
    ("deploy-keep-releases-wrong-type", "deploy.yml", {"aishield_keep_releases": "many"},
     ["compose_deploy_keep_releases", "'many'"]),
    ("deploy-backup-nowhere", "deploy.yml", {"aishield_backup_s3_bucket": ""},
     ["aishield_backup_s3_bucket", "aishield_backup_dest"]),
    ("deploy-public-url-malformed", "deploy.yml", {"aishield_public_url": "aishield.example.com"},
     ["preflight_tls_url must be an https:// URL", "aishield.example.com"]),
    ("deploy-webhook-url-malformed", "deploy.yml", {"aishield_chat_webhook_url": "hooks.example.com/T000"},
     ["aishield_chat_webhook_url"]),
    ("deploy-statuspage-provider-unknown", "deploy.yml", {"aishield_statuspage_provider": "pagerduty"},
     ["notify_statuspage_backend", "statuspage, generic, none", "aishield_statuspage_provider"]),
    ("rollback-target-missing", "rollback.yml", {"aishield_rollback_to": "20990101T000000Z-v9"},
     ["No release 20990101T000000Z-v9", RELEASE_ID]),
    ("rollback-mode-unknown", "rollback.yml", {"aishield_rollback_mode": "sideways"},
     ["rollback_mode", "quick, full"]),
    ("rollback-db-unknown", "rollback.yml", {"aishield_rollback_mode": "full", "aishield_rollback_db": "magic"},
     ["rollback_db", "restore, downgrade"]),
    ("restore-live-without-confirmation", "restore.yml", {"aishield_restore_target": "live"},
     ["-e aishield_restore_confirm=aishield", "Nothing was changed"]),
    ("restore-target-unknown", "restore.yml", {"aishield_restore_target": "staging"},
     ["aishield_restore_target must be scratch or live", "Nothing was changed"]),
    ("restore-key-malformed", "restore.yml", {"aishield_restore_key": "../../etc/passwd"},
     ["aishield_restore_key must be a backup key", "Nothing was changed"]),
    ("backup-bucket-and-dest", "backup.yml", {"aishield_backup_dest": "/var/backups/aishield"},
     ["Set exactly one of backup_s3_bucket", "aishield_backup_skip"]),
    ("preflight-min-free-not-a-number", "preflight.yml", {"aishield_min_free_mb": "lots"},
     ["preflight_min_free_mb"]),
    ("publish-version-missing", "publish.yml", {"aishield_version": ""},
     ["image_publish_version"]),
]


def _host_vars(root, project, overrides):
    group = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "aishield_version": "v1", "aishield_root": str(root), "aishield_project": project,
        "aishield_images": GOOD_IMAGES,
        "aishield_secrets": {"POSTGRES_PASSWORD": "pw" + secrets.token_hex(6), "SECRET_KEY": "sk" + secrets.token_hex(8),
                             "ADMIN_PASSWORD": "ad" + secrets.token_hex(6)},
        "aishield_backup_s3_bucket": "aishield-backups", "aishield_backup_s3_endpoint_url": "http://127.0.0.1:9",
        "aishield_backup_s3_access_key": "testbed", "aishield_backup_s3_secret_key": "testbed",
        "aishield_http_port": 1, "aishield_frontend_port": 2,
        # publish.yml's inputs
        "aishield_source_dir": str(REPO / "tests/stack"), "aishield_registry": REGISTRY,
        "aishield_build_images": [{"name": "backend", "context": "images/backend"}],
    }
    group.update(overrides)
    return group


def _tree(root):
    """Everything under root except audit.log, which a refused deploy appends its `failed` line to."""
    return sorted((str(p.relative_to(root)), p.is_dir(), p.read_bytes() if p.is_file() else b"")
                  for p in root.rglob("*") if p.name != "audit.log")


def _make_root(root):
    release = root / "releases" / RELEASE_ID
    release.mkdir(parents=True)
    (release / "release.json").write_text(json.dumps({"release_id": RELEASE_ID, "version": "v1", "status": "good",
                                                      "images": GOOD_IMAGES, "alembic": {"after": ["0001_initial"]}}))
    (root / "current").symlink_to("releases/" + RELEASE_ID)


class Runs:
    """One ansible-playbook run per playbook, one inventory host per case: cases fail independently, in parallel."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.done = {}
        self.cases = {}

    def case(self, case_id):
        playbook = self.cases[case_id]["playbook"]
        if playbook not in self.done:
            self.done[playbook] = self._run(playbook)
        return self.cases[case_id], self.done[playbook]

    def add(self, case_id, playbook, overrides):
        root = self.tmp / case_id / "root"
        _make_root(root)
        project = "aishield-bad-" + secrets.token_hex(3)
        self.cases[case_id] = {"playbook": playbook, "root": root, "project": project, "before": _tree(root),
                               "vars": _host_vars(root, project, overrides)}

    def _run(self, playbook):
        hosts = {cid: c["vars"] for cid, c in self.cases.items() if c["playbook"] == playbook}
        inventory = {"all": {"children": {"aishield": {"hosts": hosts}, "aishield_build": {"hosts": hosts}}}}
        path = self.tmp / f"inventory-{playbook}"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(inventory))
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_LOCAL_TEMP=str(self.tmp / "ansible-tmp"),
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_FORKS="10")
        proc = subprocess.run([str(BIN / "ansible-playbook"), f"playbooks/{playbook}", "-i", str(path)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        (self.tmp / f"run-{playbook}.json").write_text(proc.stdout + proc.stderr)
        # The JSON document starts on a line of its own; warnings may come before it.
        start = proc.stdout.find("\n{")
        data = json.JSONDecoder().raw_decode(proc.stdout[start + 1 if start >= 0 else 0:])[0] if "{" in proc.stdout else {}
        return {"rc": proc.returncode, "data": data, "raw": proc.stdout + proc.stderr}


def _host_messages(data, host):
    """Every message the run produced for one host, and whether any of its tasks failed."""
    texts, failed = [], False
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            result = task.get("hosts", {}).get(host)
            if result is None:
                continue
            failed = failed or bool(result.get("failed"))
            texts.append(json.dumps(result.get("msg", "")))
            for item in result.get("results", []) or []:
                if isinstance(item, dict) and item.get("failed"):
                    # The loop item is what the output labels the failure with (the service, the secret's name).
                    texts.append(json.dumps([item.get("item"), item.get("msg", "")]))
    return "\n".join(texts), failed


def _values(case):
    return case.values if hasattr(case, "values") else case


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    collection = Runs(tmp_path_factory.mktemp("bad"))
    for case_id, playbook, overrides, _expected in map(_values, CASES):
        collection.add(case_id, playbook, overrides)
    return collection


@pytest.mark.parametrize("case_id,expected", [pytest.param(_values(c)[0], _values(c)[3], id=_values(c)[0],
                                                           marks=getattr(c, "marks", ())) for c in CASES])
def test_bad_input_is_rejected_before_any_change(runs, case_id, expected):
    case, run = runs.case(case_id)
    assert run["rc"] != 0, run["raw"][-3000:]
    text, failed = _host_messages(run["data"], case_id)
    assert failed, f"{case_id}: no task failed for this host:\n{text[-3000:]}"
    missing = [want for want in expected if want not in text]
    assert not missing, f"{case_id}: the messages lack {missing}:\n{text[-3000:]}"
    assert _tree(case["root"]) == case["before"], "a rejected run changed the release root"
    audit = case["root"] / "audit.log"
    if audit.exists():
        lines = [json.loads(line) for line in audit.read_text().splitlines()]
        assert all(a["status"] == "failed" and a["phase"] == "preflight" for a in lines), lines
    containers = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={case['project']}"],
                                capture_output=True, text=True, check=False).stdout.split()
    assert containers == [], "a rejected run started containers"


def test_deploy_while_another_holds_the_lock_is_refused_before_preflight(tmp_path):
    """A second deploy is refused by the pre-flight's first check, the look at deploy.lock, naming the holder,
    before its registry and S3 checks run; the holder's lock and the root stay as they were."""
    root = tmp_path / "root"
    _make_root(root)
    # The holder is this test process: it runs on this controller, so the refusal says to wait for it.
    lock = {"holder": f"alice@{socket.gethostname()}", "version": "v9", "time": "2026-11-29T03:00:00Z",
            "pid": str(os.getpid()), "token": "planted"}
    (root / "deploy.lock").write_text(json.dumps(lock) + "\n")
    before = _tree(root)
    project = "aishield-bad-" + secrets.token_hex(3)
    inventory = tmp_path / "inventory.yml"
    inventory.touch(mode=0o600)
    inventory.write_text(yaml.safe_dump({"all": {"children": {"aishield": {"hosts": {
        "locked": _host_vars(root, project, {"aishield_version": "v2"})}}}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "playbooks/deploy.yml", "-i", str(inventory)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert (f"Another deploy holds {root}/deploy.lock: {lock['holder']} deploying v9 since {lock['time']} "
            f"(pid {os.getpid()})") in out, out[-3000:]
    assert "still runs on this controller: wait for it" in out
    data = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.find("\n{") + 1:])[0]
    tasks = [(t["task"]["name"], t["hosts"]["locked"]) for p in data["plays"] for t in p["tasks"] if "locked" in t["hosts"]]
    failed = [(name, result) for name, result in tasks if result.get("failed")]
    # The host check refused at its first check: the lock. Its registry lookup (port 9, refused) and the
    # bucket check never ran, and the release was never prepared (the lock is taken there).
    assert failed[0][0].startswith("aishield.ops.preflight : Check the lock, secrets, disk"), failed[0][0]
    assert [c["name"] for c in failed[0][1]["checks"]] == ["lock"], failed[0][1]["checks"]
    assert not any("Prepare the release" in name for name, result in tasks if not result.get("skipped")), tasks
    assert json.loads((root / "deploy.lock").read_text()) == lock
    assert _tree(root) == before


# (id, inventory groups {group: [hosts]}, extra vars, substrings the output must contain)
FLEET_CASES = [
    ("two-db-hosts", {"db": ["db1", "db2"], "app": ["app1"]}, {}, ["exactly one host in group db (got 2)"]),
    ("no-app-host", {"db": ["db1"], "lb": ["lb1"]}, {}, ["at least one in app", "(got 0)"]),
    ("db-also-app", {"db": ["db1"], "app": ["db1", "app1"]}, {}, ["no host in both db and app"]),
    ("serial-not-a-count", {"db": ["db1"], "app": ["app1"]}, {"aishield_serial": "all"}, ["aishield_serial", "(got all)"]),
    ("no-publish-address", {"db": ["db1"], "app": ["app1"]}, {"_no_publish": True}, ["aishield_data_publish_address"]),
    # The stack's fleet.required_secrets, checked by the db host's deploy before it changes anything.
    ("no-redis-password", {"db": ["db1"], "app": ["app1"]}, {"_no_redis_password": True},
     ["compose_deploy_secrets.REDIS_PASSWORD is missing"]),
    # rollback_multihost.yml's plan from a fleet deploy (_playbook: the playbook run instead of deploy_multihost.yml).
    ("rollback-to-not-a-dict", {"db": ["db1"], "app": ["app1"]},
     {"_playbook": "rollback_multihost.yml", "aishield_fleet_rollback_to": "app1"},
     ["aishield_fleet_rollback_to must be a dict of app host -> release id", "got str 'app1'", "or leave it out"]),
    ("rollback-to-not-an-app-host", {"db": ["db1"], "app": ["app1"]},
     {"_playbook": "rollback_multihost.yml", "aishield_fleet_rollback_to": {"db1": RELEASE_ID}},
     ["aishield_fleet_rollback_to names db1, not an app host of this inventory (app hosts: app1)"]),
    ("rollback-to-not-a-release-id", {"db": ["db1"], "app": ["app1"]},
     {"_playbook": "rollback_multihost.yml", "aishield_fleet_rollback_to": {"app1": "v1"}},
     ["aishield_fleet_rollback_to[app1] is 'v1', not a release id like 20250131T235959Z-v2"]),
    ("rollback-mode-unknown", {"db": ["db1"], "app": ["app1"]},
     {"_playbook": "rollback_multihost.yml", "aishield_rollback_mode": "sideways"},
     ["aishield_rollback_mode is quick", "got sideways"]),
    ("rollback-full-downgrade", {"db": ["db1"], "app": ["app1"]},
     {"_playbook": "rollback_multihost.yml", "aishield_rollback_mode": "full", "aishield_rollback_db": "downgrade"},
     ["restores the recorded backup (aishield_rollback_db restore; got downgrade)"]),
]


@pytest.mark.parametrize("case_id,groups,extra,expected", FLEET_CASES, ids=[c[0] for c in FLEET_CASES])
def test_fleet_inventory_mistakes_are_rejected_before_any_change(tmp_path, case_id, groups, extra, expected):
    """deploy_multihost.yml checks the fleet's shape and its rollout settings before any host is touched (and
    rollback_multihost.yml its aishield_fleet_rollback_to)."""
    root = tmp_path / "root"
    project = "aishield-bad-" + secrets.token_hex(3)
    hostvars = _host_vars(root, project, {})
    if not extra.pop("_no_publish", False):
        hostvars["aishield_data_publish_address"] = "127.0.0.1"
    if not extra.pop("_no_redis_password", False):
        hostvars["aishield_secrets"]["REDIS_PASSWORD"] = "rd" + secrets.token_hex(6)
    inventory = tmp_path / "fleet.yml"
    inventory.touch(mode=0o600)
    inventory.write_text(yaml.safe_dump({"all": {"vars": hostvars, "children": {
        group: {"hosts": {name: {} for name in names}} for group, names in groups.items()}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    playbook = extra.pop("_playbook", "deploy_multihost.yml")
    args = [str(BIN / "ansible-playbook"), f"playbooks/{playbook}", "-i", str(inventory)]
    args += [f"--extra-vars={json.dumps(extra)}"] if extra else []
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    missing = [want for want in expected + ["Nothing was changed"] if want not in out]
    assert not missing, f"{case_id}: the output lacks {missing}:\n{out[-3000:]}"
    # Stopped by the first play (no role ran), or by the db host's input check: no root was created.
    assert case_id == "no-redis-password" or "TASK [aishield.ops.compose_deploy" not in out
    assert not root.exists()
