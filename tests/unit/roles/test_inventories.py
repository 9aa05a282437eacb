"""inventories/staging and inventories/prod parse, decrypt, and document every aishield_* variable the playbooks read."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ENVS = ["staging", "prod"]
# playbook -> the group whose hosts it runs on (the variables must be set for that group).
PLAYBOOKS = {"deploy.yml": "aishield", "preflight.yml": "aishield", "publish.yml": "aishield_build",
             "rollback.yml": "aishield", "backup.yml": "aishield", "verify.yml": "aishield", "restore.yml": "aishield",
             "maintenance.yml": "aishield", "troubleshoot.yml": "aishield", "dr_drill.yml": "aishield",
             "monitoring.yml": "aishield"}
# Given with -e for one run (each playbook's header shows how), not kept in an inventory.
RUN_TIME = {"aishield_rollback_to", "aishield_rollback_mode", "aishield_rollback_db", "aishield_rollback_reason",
            "aishield_restore_key", "aishield_restore_target", "aishield_restore_confirm", "aishield_restore_scratch_db",
            "aishield_troubleshoot", "aishield_troubleshoot_service", "aishield_troubleshoot_lines",
            "aishield_troubleshoot_confirm", "aishield_dr_hosts", "aishield_dr_source_hosts", "aishield_dr_keep",
            "aishield_dr_report", "aishield_dr_backup_key", "aishield_fleet_rollback_to"}
# Read only for a fleet (deploy_multihost.yml, the lb role's mapping): documented by inventories/fleet.
FLEET_ONLY = {"aishield_lb_bind_address", "aishield_lb_port"}
# What a playbook hands to the next AWX workflow node with set_stats: outputs, not inputs.
OUTPUTS = {"aishield_releases", "aishield_rollbacks", "aishield_release_id", "aishield_release_version",
           "aishield_release_status", "aishield_previous_release", "aishield_backup_key", "aishield_rollback_status",
           "aishield_rollback_release", "aishield_rollback_from", "aishield_rollback_backup_key"}
EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
# A quoted name is a string (a group name, a set_stats key), not a variable read.
NAME = re.compile(r"(?<!['\"])\baishield_[a-z0-9_]+\b")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{BIN}:{os.environ['PATH']}")
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def _vault_args(env: str) -> list[str]:
    return ["--vault-password-file", f"inventories/{env}/vault-pass.example.txt"]


@lru_cache(maxsize=None)
def _inventory(env: str) -> dict:
    proc = _run("ansible-inventory", "-i", f"inventories/{env}", "--list", *_vault_args(env))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _read_variables(playbook: str) -> set[str]:
    """aishield_* names used inside Jinja expressions of a playbook (not group names like hosts: aishield)."""
    text = (REPO / "playbooks" / playbook).read_text(encoding="utf-8")
    # Plus the shared mapping files the playbook loads with vars_files.
    for shared in re.findall(r"^\s+- (vars/[\w.-]+\.yml)$", text, re.M):
        text += (REPO / "playbooks" / shared).read_text(encoding="utf-8")
    return {name for expr in EXPRESSION.findall(text) for name in NAME.findall(expr)}


@pytest.mark.parametrize("env", ENVS)
def test_inventory_lists_the_groups(env):
    data = _inventory(env)
    assert data["aishield"]["hosts"], "group aishield has no hosts"
    assert data["aishield_build"]["hosts"] == ["localhost"]
    # Only the hosts of hosts.yml: no stray file of the directory was read as an inventory.
    assert set(data["_meta"]["hostvars"]) == set(data["aishield"]["hosts"]) | {"localhost"}


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("playbook", sorted(PLAYBOOKS))
def test_every_variable_a_playbook_reads_is_documented(env, playbook):
    data = _inventory(env)
    host = data[PLAYBOOKS[playbook]]["hosts"][0]
    documented = set(data["_meta"]["hostvars"][host])
    read = _read_variables(playbook)
    assert read, f"no aishield_* variables found in {playbook}"
    missing = sorted(read - documented - RUN_TIME - OUTPUTS - FLEET_ONLY)
    assert not missing, f"inventories/{env} does not set {missing}, which playbooks/{playbook} reads"


def test_fleet_inventory_documents_what_the_fleet_playbooks_read():
    """inventories/fleet: the prod settings (linked) plus each group's own; serial and max-fail come with -e."""
    proc = _run("ansible-inventory", "-i", "inventories/fleet", "--list", *_vault_args("prod"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [len(data[group]["hosts"]) for group in ("db", "app", "lb")] == [1, 2, 1]
    hostvars = data["_meta"]["hostvars"]
    documented = set().union(*(hostvars[host] for host in hostvars))
    for playbook in ("deploy_multihost.yml", "rollback_multihost.yml"):
        read = _read_variables(playbook)
        missing = sorted(read - documented - RUN_TIME - OUTPUTS - {"aishield_serial", "aishield_max_fail_percentage"})
        assert not missing, f"inventories/fleet does not set {missing}, which playbooks/{playbook} reads"
    db = hostvars[data["db"]["hosts"][0]]
    assert db["aishield_data_publish_address"] == db["aishield_address"]


@pytest.mark.parametrize("env", ENVS)
def test_playbooks_pass_syntax_check(env):
    proc = _run("ansible-playbook", "--syntax-check", "-i", f"inventories/{env}", *_vault_args(env),
                *[f"playbooks/{name}" for name in sorted(PLAYBOOKS)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("env", ENVS)
def test_example_secrets_decrypt_to_placeholders(env):
    host = _inventory(env)["aishield"]["hosts"][0]
    # debug runs on the controller; ansible_connection=local makes sure nothing is contacted.
    expr = ("{{ (aishield_secrets | dict2items | map(attribute='value') | list) + [aishield_backup_s3_secret_key,"
            " aishield_statuspage_api_key, aishield_chat_webhook_url] }}")
    proc = _run("ansible", "-i", f"inventories/{env}", host, "-e", "ansible_connection=local", *_vault_args(env),
                "-m", "ansible.builtin.debug", "-a", f"msg={expr}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    values = json.loads(proc.stdout.split("=>", 1)[1])["msg"]
    assert len(values) == 7 and all("CHANGE-ME" in value for value in values), values
    assert sorted(_inventory(env)["_meta"]["hostvars"][host]["aishield_secrets"]) == [
        "ADMIN_PASSWORD", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY"]
    # POSTGRES_PASSWORD goes into DATABASE_URL: compose_deploy accepts only URL-safe characters.
    assert re.match(r"^[A-Za-z0-9._~-]+$", values[0]), values[0]
