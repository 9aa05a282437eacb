# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""release_preflight's pure checks: secrets present, free disk, versions, the deploy root's access and the report lines."""

from __future__ import annotations

import os

import pytest

from ansible_collections.aishield.ops.plugins.modules import release_preflight
from ansible_collections.aishield.ops.plugins.modules.release_preflight import (
    check_disk,
    check_env,
    current_user,
    is_placeholder,
    nearest_existing,
    report_lines,
    root_access,
    root_refusal,
    version_tuple,
)

MIB = 1024 * 1024


@pytest.mark.parametrize('required, env, status, detail', [
    ([], {'X': '1'}, 'skipped', 'no required secrets listed'),
    (['A', 'B'], {'A': 'x1', 'B': 'y', 'C': ''}, 'ok', '2 required keys are set'),
    (['A', 'B', 'C', 'D'], {'A': '', 'B': '  ', 'C': None}, 'failed',
     'preflight_env is missing or has empty values for: A, B, C, D; add them to the vaulted secrets (aishield_secrets) '
     'or drop them from preflight_required_env'),
    (['N', 'F'], {'N': 0, 'F': False}, 'ok', '2 required keys are set'),  # falsy but set
])
def test_check_env(required, env, status, detail):
    assert check_env(required, env) == {'name': 'env', 'status': status, 'detail': detail}


def test_check_env_never_shows_values():
    result = check_env(['DB_PASSWORD', 'TOKEN'], {'DB_PASSWORD': 'hunter2', 'TOKEN': ''})
    assert result['status'] == 'failed'
    assert 'hunter2' not in result['detail'] and 'TOKEN' in result['detail']


def test_nearest_existing(tmp_path):
    assert nearest_existing(str(tmp_path / 'a' / 'b' / 'c')) == str(tmp_path)
    assert nearest_existing(str(tmp_path)) == str(tmp_path)
    (tmp_path / 'a').mkdir()
    assert nearest_existing(str(tmp_path / 'a' / 'b')) == str(tmp_path / 'a')
    assert nearest_existing('/no-such-dir-aishield/x/y') == '/'
    assert nearest_existing('') == '/'


class FakeStat:
    def __init__(self, free_mib, frsize=4096):
        self.f_frsize = frsize
        self.f_bavail = free_mib * MIB // frsize


@pytest.fixture
def statvfs(monkeypatch):
    asked = []

    def install(free_mib, frsize=4096):
        def fake(path):
            asked.append(path)
            return FakeStat(free_mib, frsize)
        monkeypatch.setattr(release_preflight.os, 'statvfs', fake)
        return asked
    return install


def test_check_disk_ok_measures_the_nearest_existing_parent(tmp_path, statvfs):
    asked = statvfs(5000)
    target = str(tmp_path / 'opt' / 'aishield')
    assert check_disk(target, 2048) == {
        'name': 'disk', 'status': 'ok',
        'detail': '5000 MiB free on %s (for %s), preflight_min_free_mb=2048' % (tmp_path, target)}
    assert asked == [str(tmp_path)]


@pytest.mark.parametrize('free, needed, status', [(2047, 2048, 'failed'), (2048, 2048, 'ok'), (0, 1, 'failed')])
def test_check_disk_threshold(tmp_path, statvfs, free, needed, status):
    statvfs(free, frsize=512)
    result = check_disk(str(tmp_path), needed)
    assert result['status'] == status
    assert result['detail'].startswith('%d MiB free on %s' % (free, tmp_path))
    assert result['detail'].endswith('(docker image prune, old releases) or lower preflight_min_free_mb') is (
        status == 'failed')


@pytest.mark.parametrize('needed', [0, -5])
def test_check_disk_skipped(statvfs, needed):
    asked = statvfs(0)
    assert check_disk('/', needed) == {'name': 'disk', 'status': 'skipped', 'detail': 'min_free_mb is 0'}
    assert asked == []


def test_check_disk_real_statvfs(tmp_path):
    stat = os.statvfs(str(tmp_path))
    free = stat.f_bavail * stat.f_frsize // MIB
    assert check_disk(str(tmp_path), free + 1)['status'] == 'failed'
    if free >= 1:
        assert check_disk(str(tmp_path), 1)['status'] == 'ok'


@pytest.mark.parametrize('text, expected', [
    ('2.29.7', (2, 29, 7)),
    ('v2.18.0', (2, 18, 0)),
    ('2.20.2+ds1-0ubuntu1~22.04.1', (2, 20, 2)),
    ('2.24.6-desktop.1', (2, 24, 6)),
    ('2.18', (2, 18, 0)),  # padded: 2.18 is 2.18.0
    ('', (0, 0, 0)),
    (None, (0, 0, 0)),
    ('unknown', (0, 0, 0)),
])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


@pytest.mark.parametrize('found, minimum, ok', [
    ('2.29.7', '2.18.0', True),
    ('2.18.0', '2.18.0', True),
    ('2.17.3', '2.18.0', False),
    ('2.9.0', '2.18.0', False),    # numbers, not text: 9 < 18
    ('10.0.0', '2.18.0', True),
    ('2.18.1', '2.18', True),
])
def test_version_tuple_orders_versions(found, minimum, ok):
    assert (version_tuple(found) >= version_tuple(minimum)) is ok


def test_report_lines():
    checks = [{'name': 'lock', 'status': 'ok', 'detail': 'free'},
              {'name': 'registry', 'status': 'failed', 'detail': 'not found: app'},
              {'name': 'compose', 'status': 'skipped', 'detail': 'docker=false'}]
    assert report_lines(checks) == ['lock     ok      free',
                                    'registry failed  not found: app',
                                    'compose  skipped docker=false']
    assert report_lines([]) == []


@pytest.mark.parametrize('value, placeholder', [
    ('CHANGE-ME', True), ('change-me-please', True), ('CHANGEME', True), ('changeme_123', True), ('password', True),
    ('Secret', True), ('xxxx', True), ('********', True), ('<your key here>', True), ('example', True),
    ('k8Hq2-real-one', False), ('passwords-are-long-here', False), ('x1', False), ('', False),
])
def test_is_placeholder(value, placeholder):
    assert is_placeholder(value) is placeholder


def test_check_env_refuses_example_values_naming_only_the_keys():
    result = check_env(['A', 'B', 'C'], {'A': 'CHANGE-ME', 'B': 'genuine-9Qx', 'C': 'password'})
    assert result['status'] == 'failed'
    assert result['detail'].startswith('preflight_env holds example values (like CHANGE-ME) for: A, C;')
    assert 'genuine' not in result['detail']


# --- the deploy root: can this user write or create it (else the role creates it once with become) ---------------


@pytest.fixture
def access(monkeypatch):
    """os.access that grants only the paths given (the tests run as root, which may write anywhere); records the asks."""

    def install(*writable):
        asked = []

        def fake(path, mode):
            asked.append((path, mode))
            return path in writable
        monkeypatch.setattr(release_preflight.os, 'access', fake)
        return asked
    return install


def test_root_access_existing_root_is_asked_itself(tmp_path, access):
    root = str(tmp_path / 'aishield')
    os.mkdir(root)
    asked = access(root)
    assert root_access(root) == {'root_exists': True, 'root_writable': True}
    assert asked == [(root, os.W_OK | os.X_OK)]
    access()  # now nothing is writable
    assert root_access(root) == {'root_exists': True, 'root_writable': False}


def test_root_access_missing_root_is_decided_at_its_nearest_existing_parent(tmp_path, access):
    root = str(tmp_path / 'opt' / 'aishield')
    asked = access(str(tmp_path))
    assert root_access(root) == {'root_exists': False, 'root_writable': True}
    assert asked == [(str(tmp_path), os.W_OK | os.X_OK)]
    asked = access()  # the parent belongs to root: the deploy user cannot create the root
    assert root_access(root) == {'root_exists': False, 'root_writable': False}
    assert asked == [(str(tmp_path), os.W_OK | os.X_OK)]


def test_root_access_a_file_in_the_way_is_not_writable_root(tmp_path, access):
    root = tmp_path / 'aishield'
    root.write_text('')
    access(str(root), str(tmp_path))
    assert root_access(str(root)) == {'root_exists': False, 'root_writable': False}


def test_root_access_real_filesystem(tmp_path):
    assert root_access(str(tmp_path / 'a' / 'b')) == {'root_exists': False, 'root_writable': True}
    if os.geteuid() != 0:  # root may write a 0555 directory: only an unprivileged run can show the refusal
        locked = tmp_path / 'locked'
        locked.mkdir(mode=0o555)
        assert root_access(str(locked / 'aishield')) == {'root_exists': False, 'root_writable': False}


def test_root_refusal_only_for_an_existing_root_this_user_cannot_write(tmp_path):
    root = tmp_path / 'aishield'
    missing = {'root_exists': False, 'root_writable': False}
    assert root_refusal(str(root), missing, 'deploy') == ''  # created with become, not refused
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    assert root_refusal(str(root), {'root_exists': True, 'root_writable': True}, 'deploy') == ''
    detail = root_refusal(str(root), {'root_exists': True, 'root_writable': False}, 'deploy')
    owner = current_user()[0]
    assert detail == ('user deploy cannot write the deploy root %s (a directory owned by %s, mode 0755), so this run '
                      'could not take its lock; give it to the deploy user (chown -R deploy %s) or deploy as its owner'
                      % (root, owner, root))


def test_root_refusal_names_a_file_in_the_way(tmp_path):
    root = tmp_path / 'aishield'
    root.write_text('')
    detail = root_refusal(str(root), {'root_exists': False, 'root_writable': False}, 'deploy')
    assert '(not a directory)' in detail and detail.startswith('user deploy cannot write the deploy root')


def test_current_user_names_or_ids(monkeypatch):
    user, group = current_user()
    assert user and group
    monkeypatch.setattr(release_preflight.os, 'geteuid', lambda: 4242)
    monkeypatch.setattr(release_preflight.os, 'getegid', lambda: 4343)

    def unknown(_id):
        raise KeyError(_id)
    monkeypatch.setattr(release_preflight.pwd, 'getpwuid', unknown)
    monkeypatch.setattr(release_preflight.grp, 'getgrgid', unknown)
    assert current_user() == ('4242', '4343')  # a container's bare --user uid still names the owner (numeric)
