"""The default scenario deploys as the unprivileged user `deploy`: what it made is deploy's, and root was used once."""
from __future__ import annotations

ROOT = "/opt/aishield"
USER = "deploy"


def _root_log(host):
    """sudo's log (tests/testbed/host/sudoers-deploy), read with sudo: the reading itself is one more line in it."""
    cmd = host.run("sudo -n cat /var/log/sudo.log")
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.splitlines()


def test_the_scenario_connects_as_an_unprivileged_docker_user(host):
    user = host.user()
    assert user.name == USER and user.uid == 1000, (user.name, user.uid)
    assert "docker" in user.groups and "sudo" not in user.groups, user.groups
    # Docker without root: the socket is the docker group's.
    socket = host.file("/var/run/docker.sock")
    assert (socket.user, socket.group, socket.mode) == ("root", "docker", 0o660)


def test_the_deploy_root_was_created_for_deploy_under_a_root_owned_parent(host):
    parent = host.file("/opt")
    # The parent stays root's: deploy could not have created the root itself, so this run had to.
    assert (parent.user, parent.group, parent.mode) == ("root", "root", 0o755)
    root = host.file(ROOT)
    assert root.is_directory
    assert (root.user, root.group, root.mode) == (USER, USER, 0o750)


def test_every_file_of_the_deploy_belongs_to_deploy(host):
    listed = host.check_output(f"find {ROOT} | wc -l")
    assert int(listed) > 5, listed  # the root, releases/, a release with its files, current, audit.log
    foreign = host.check_output(f"find {ROOT} \\( ! -user {USER} -o ! -group {USER} \\) -printf '%u:%g %p\\n'")
    assert foreign == "", foreign
    for path in (f"{ROOT}/audit.log", f"{ROOT}/current/release.json", f"{ROOT}/current/compose.yml"):
        assert host.file(path).user == USER, path


def test_the_env_file_is_0600_and_deploys(host):
    env = host.file(f"{ROOT}/current/.env")
    assert (env.user, env.group, env.mode) == (USER, USER, 0o600)


def test_become_was_used_once_for_the_root_and_not_by_the_idempotence_run(host):
    # Each Ansible become is a `sudo ... /bin/sh -c 'echo BECOME-SUCCESS-<id> ; python3'` line in the log.
    becomes = [line for line in _root_log(host) if "BECOME-SUCCESS-" in line]
    assert len(becomes) == 1, "\n".join(becomes) or "no become in /var/log/sudo.log"
    assert f" : {USER} : " in becomes[0] and "USER=root" in becomes[0], becomes[0]
