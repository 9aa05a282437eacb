# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Release ids, the files under a deploy root, the deploy lock, pruning and the rollback choice."""

from __future__ import annotations

import datetime
import json
import os
import re

import pytest

from ansible_collections.aishield.ops.plugins.module_utils import _release as rel
from ansible_collections.aishield.ops.plugins.module_utils._release import ReleaseError, Root

UTC = datetime.timezone.utc
MOMENT = datetime.datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC)
A, B, C, D = ('20250101T000000Z-v1', '20250102T000000Z-v2', '20250103T000000Z-v3', '20250104T000000Z-v4')


def make_release(root, rid, **fields):
    """releases/<rid>/release.json holding {release_id: rid, **fields}."""
    os.makedirs(root.release_dir(rid), exist_ok=True)
    record = dict(release_id=rid, **fields)
    with open(root.record_path(rid), 'w') as handle:
        json.dump(record, handle)
    return record


@pytest.fixture
def root(tmp_path):
    made = Root(str(tmp_path / 'deploy'))
    made.ensure()
    return made


# --- identifiers ------------------------------------------------------------------------------

@pytest.mark.parametrize('version, expected', [
    ('v2', 'v2'),
    ('  1.4.2 ', '1.4.2'),
    (42, '42'),
    ('build_7-rc.1', 'build_7-rc.1'),
    ('a' * 200, 'a' * 200),
])
def test_check_version_accepts(version, expected):
    assert rel.check_version(version) == expected


@pytest.mark.parametrize('version, message', [
    (True, 'has type bool'),
    (None, 'has type NoneType'),
    (1.5, 'has type float'),
    (['v1'], 'has type list'),
    ('', 'version is empty'),
    ('   ', 'version is empty'),
    ('.', "version '.' must be a label"),
    ('..', "version '..' must be a label"),
    ('feature/x', "version 'feature/x' must be a label"),
    ('1 2', "version '1 2' must be a label"),
    ('1.0+build', "version '1.0+build' must be a label"),
    ('a' * 201, 'is 201 characters; at most 200 are allowed'),
])
def test_check_version_refuses(version, message):
    with pytest.raises(ReleaseError, match=re.escape(message)):
        rel.check_version(version)


def test_release_id_is_stamp_and_version():
    rid = rel.release_id(' v2 ', MOMENT)
    assert rid == '20250131T235959Z-v2'
    assert rel.check_release_id(rid) == rid


def test_iso():
    assert rel.iso(MOMENT) == '2025-01-31T23:59:59Z'


@pytest.mark.parametrize('value', ['v2', '20250131T235959Z', '20250131T235959Z-', '20250131-235959Z-v2',
                                   '20250131T235959Z-v/2', '../20250131T235959Z-v2', None, 20250131])
def test_check_release_id_refuses(value):
    with pytest.raises(ReleaseError, match='is not a release id like 20250131T235959Z-v2'):
        rel.check_release_id(value)


@pytest.mark.parametrize('name, valid', [
    ('appdb', True),
    ('app_db.v2', True),
    ('role$1', True),
    ('a' * 63, True),
    ('a' * 64, False),
    ('', False),
    (None, False),
    ('-U', False),
    ('db=x', False),
    ("db'x", False),
    ('db x', False),
])
def test_valid_name(name, valid):
    assert rel.valid_name(name) is valid


def test_root_paths(tmp_path):
    root = Root(str(tmp_path / 'd' / '..' / 'd'))
    base = str(tmp_path / 'd')
    assert (root.path, root.releases, root.current, root.lock, root.audit) == (
        base, base + '/releases', base + '/current', base + '/deploy.lock', base + '/audit.log')
    assert root.record_path(A) == base + '/releases/' + A + '/release.json'
    with pytest.raises(ReleaseError):
        root.release_dir('../../etc')


# --- files ------------------------------------------------------------------------------------

def test_write_atomic_leaves_no_temp_file(tmp_path):
    path = tmp_path / 'release.json'
    path.write_text('old')
    rel.write_atomic(str(path), 'new text', mode=0o600)
    assert path.read_text() == 'new text'
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ['release.json']


def test_write_atomic_failure_keeps_old_file_and_removes_temp(tmp_path):
    path = tmp_path / 'release.json'
    path.write_text('old')
    with pytest.raises(TypeError):
        rel.write_atomic(str(path), b'bytes are not text')
    assert path.read_text() == 'old'
    assert sorted(os.listdir(tmp_path)) == ['release.json']


def test_write_json_round_trips(tmp_path):
    path = str(tmp_path / 'r.json')
    rel.write_json(path, {'b': [1, 2], 'a': 'x'})
    assert rel.read_json(path) == {'b': [1, 2], 'a': 'x'}
    assert open(path).read().endswith('}\n')


def test_read_records_skips_unreadable_and_mismatched(root):
    good_b = make_release(root, B, status='good')
    good_a = make_release(root, A, status='failed')
    os.makedirs(root.release_dir(C))
    with open(root.record_path(C), 'w') as handle:
        handle.write('{"release_id": "%s", ' % C)  # half a record
    os.makedirs(root.release_dir(D))
    with open(root.record_path(D), 'w') as handle:
        json.dump({'release_id': A, 'status': 'good'}, handle)  # names another release
    os.makedirs(os.path.join(root.releases, '20250105T000000Z-v5'))  # no record at all
    os.makedirs(os.path.join(root.releases, '20250106T000000Z-v6'))
    with open(os.path.join(root.releases, '20250106T000000Z-v6', 'release.json'), 'w') as handle:
        json.dump(['not', 'a', 'dict'], handle)
    assert rel.read_records(root) == [good_a, good_b]


def test_read_records_without_releases_dir(tmp_path):
    assert rel.read_records(Root(str(tmp_path / 'nothing'))) == []


def test_current_id_and_record(root):
    assert rel.current_id(root) == ''
    assert rel.current_record(root) == {}
    record = make_release(root, A, status='good')
    rel.switch_current(root, A)
    assert os.readlink(root.current) == 'releases/' + A  # relative: the root can be moved
    assert rel.current_id(root) == A
    assert rel.current_record(root) == record


def test_current_record_unreadable_is_empty(root):
    os.makedirs(root.release_dir(A))
    rel.switch_current(root, A)
    assert rel.current_id(root) == A
    assert rel.current_record(root) == {}


def test_current_that_is_not_a_symlink_is_no_current(root):
    os.makedirs(root.current)
    assert rel.current_id(root) == ''


def test_switch_current_replaces_symlink(root):
    make_release(root, A)
    make_release(root, B)
    rel.switch_current(root, A)
    rel.switch_current(root, B)
    assert os.path.islink(root.current)
    assert os.readlink(root.current) == 'releases/' + B
    assert rel.current_id(root) == B
    assert sorted(os.listdir(root.path)) == ['current', 'releases']  # no temporary link left


def test_switch_current_clears_a_leftover_temp_link(root):
    make_release(root, A)
    os.symlink('releases/elsewhere', '%s.tmp-%d' % (root.current, os.getpid()))
    rel.switch_current(root, A)
    assert rel.current_id(root) == A
    assert sorted(os.listdir(root.path)) == ['current', 'releases']


def test_switch_current_refuses_a_bad_id(root):
    with pytest.raises(ReleaseError):
        rel.switch_current(root, '../x')
    assert not os.path.lexists(root.current)


def test_append_audit_appends_json_lines(root):
    rel.append_audit(root, {'b': 1, 'a': 'deploy'})
    rel.append_audit(root, {'action': 'rollback'})
    lines = open(root.audit).read().splitlines()
    assert lines == ['{"a": "deploy", "b": 1}', '{"action": "rollback"}']


# --- the lock -------------------------------------------------------------------------------------

HOLDER = {'holder': 'alice@ctrl', 'pid': 4242, 'version': 'v2', 'time': '2025-01-31T23:59:59Z', 'token': 's3cret'}


def test_take_lock_is_exclusive(tmp_path):
    root = Root(str(tmp_path / 'fresh'))  # take_lock creates the root
    assert rel.take_lock(root, HOLDER) == {}
    assert rel.read_lock(root) == HOLDER
    other = dict(HOLDER, holder='bob@ctrl', token='other')
    assert rel.take_lock(root, other) == HOLDER
    assert rel.read_lock(root) == HOLDER  # the second run changed nothing


@pytest.mark.parametrize('text, expected', [
    ('', {'holder': '?', 'raw': ''}),
    ('garbage{', {'holder': '?', 'raw': 'garbage{'}),
    ('[1, 2]', {'holder': '?', 'raw': '[1, 2]'}),
    ('x' * 300, {'holder': '?', 'raw': 'x' * 200}),
])
def test_unreadable_lock_is_still_a_lock(root, text, expected):
    with open(root.lock, 'w') as handle:
        handle.write(text)
    assert rel.read_lock(root) == expected
    assert rel.take_lock(root, HOLDER) == expected


def test_read_lock_without_lock(root):
    assert rel.read_lock(root) == {}


@pytest.mark.parametrize('token, released', [('s3cret', True), ('other', False), ('', False), (None, False)])
def test_only_the_token_holder_releases(root, token, released):
    rel.take_lock(root, HOLDER)
    assert rel.release_lock(root, token) is released
    assert os.path.exists(root.lock) is not released


def test_release_lock_without_lock_or_token_in_it(root):
    assert rel.release_lock(root, 's3cret') is False
    rel.take_lock(root, {'holder': 'old@ctrl'})  # a record without a token cannot be matched
    assert rel.release_lock(root, 's3cret') is False
    assert os.path.exists(root.lock)


def test_replace_lock_hands_over(root):
    rel.take_lock(root, HOLDER)
    mine = dict(HOLDER, holder='bob@ctrl', token='mine')
    rel.replace_lock(root, mine)
    assert rel.read_lock(root) == mine
    assert rel.release_lock(root, 's3cret') is False
    assert rel.release_lock(root, 'mine') is True


def test_public_holder_drops_only_the_token():
    assert rel.public_holder(HOLDER) == {'holder': 'alice@ctrl', 'pid': 4242, 'version': 'v2',
                                         'time': '2025-01-31T23:59:59Z'}
    assert 'token' in HOLDER  # the argument is not modified


@pytest.mark.parametrize('holder, controller, state', [
    ({'holder': 'alice@ctrl', 'pid': 4242}, {'host': 'ctrl', 'pids': [1, 4242]}, 'running'),
    ({'holder': 'alice@ctrl', 'pid': '4242'}, {'host': 'ctrl', 'pids': ['4242']}, 'running'),
    ({'holder': 'alice@ctrl', 'pid': 4242}, {'host': 'ctrl', 'pids': [1, 2]}, 'gone'),
    ({'holder': 'alice@ctrl', 'pid': 4242}, {'host': 'ctrl', 'pids': []}, 'gone'),
    ({'holder': 'alice@ctrl', 'pid': 4242}, {'host': 'ctrl'}, 'gone'),
    ({'holder': 'alice@other', 'pid': 4242}, {'host': 'ctrl', 'pids': [4242]}, 'unknown'),
    ({'holder': 'alice@ctrl', 'pid': 4242}, {'pids': [4242]}, 'unknown'),
    ({'holder': 'alice@ctrl', 'pid': 4242}, {}, 'unknown'),
    ({'holder': 'alice@ctrl', 'pid': 4242}, None, 'unknown'),
    ({'holder': 'alice@ctrl', 'pid': '?'}, {'host': 'ctrl', 'pids': [4242]}, 'unknown'),
    ({'holder': 'alice@ctrl'}, {'host': 'ctrl', 'pids': [4242]}, 'unknown'),
    ({'holder': '?', 'raw': 'garbage'}, {'host': 'ctrl', 'pids': [4242]}, 'unknown'),
    ({'holder': 'a@b@ctrl', 'pid': 7}, {'host': 'ctrl', 'pids': [7]}, 'running'),
])
def test_holder_state(holder, controller, state):
    assert rel.holder_state(holder, controller) == state


@pytest.mark.parametrize('state, lock_break, lock_break_live, allowed', [
    ('gone', False, False, False),
    ('gone', True, False, True),
    ('unknown', False, True, False),
    ('unknown', True, False, True),
    ('running', True, False, False),
    ('running', False, True, False),
    ('running', True, True, True),
])
def test_may_break(state, lock_break, lock_break_live, allowed):
    assert rel.may_break(state, lock_break, lock_break_live) is allowed


def test_lock_refusal_names_the_holder(root):
    text = rel.lock_refusal(root, HOLDER, 'gone')
    assert text.startswith('Another deploy holds %s: alice@ctrl deploying v2 since 2025-01-31T23:59:59Z (pid 4242). '
                           % root.lock)
    assert 's3cret' not in text


@pytest.mark.parametrize('state, break_hint, present, absent', [
    ('gone', True, ['the lock is STALE', '-e aishield_lock_break=true'], ['aishield_lock_break_live']),
    ('running', True, ['still runs on this controller', 'aishield_lock_break=true', 'aishield_lock_break_live=true'],
     ['STALE']),
    ('running', False, ['still runs on this controller: wait for it to finish.'], ['aishield_lock_break']),
    ('unknown', True, ['Wait for it, or if it is stale', 'aishield_lock_break=true'], ['aishield_lock_break_live']),
])
def test_lock_refusal_advice(root, state, break_hint, present, absent):
    text = rel.lock_refusal(root, HOLDER, state, break_hint=break_hint)
    for fragment in present:
        assert fragment in text
    for fragment in absent:
        assert fragment not in text


def test_lock_refusal_of_an_unreadable_lock(root):
    assert 'Another deploy holds %s: ? deploying ? since ? (pid ?).' % root.lock in rel.lock_refusal(root, {}, 'unknown')


# --- interrupted runs and pruning --------------------------------------------------------------

def test_recover_pending_marks_pending_failed(root):
    make_release(root, A, status='good')
    make_release(root, B, status='pending', version='v2')
    make_release(root, C, status='pending', version='v3')
    rel.switch_current(root, B)
    assert rel.recover_pending(root, 'the run deploying v4', MOMENT) == [B, C]

    by_id = dict((r['release_id'], r) for r in rel.read_records(root))
    assert by_id[A] == {'release_id': A, 'status': 'good'}
    for rid, where in ((B, 'current pointed at it'), (C, 'current still pointed at the release before it')):
        record = by_id[rid]
        assert record['status'] == 'failed'
        assert record['finished_at'] == '2025-01-31T23:59:59Z'
        assert record['version'] == 'v' + rid[-1]  # the rest of the record is kept
        assert record['failure'] == {
            'phase': 'interrupted', 'task': '?',
            'message': 'the run that deployed it stopped before finishing (interrupted or killed); %s. '
                       'Found by the run deploying v4.' % where}
    assert rel.recover_pending(root, 'again', MOMENT) == []


# The protected releases count towards `keep`: `keep` releases remain whenever it allows the protected ones.
@pytest.mark.parametrize('keep, protect, expected', [
    (2, [], [B, A]),
    (2, [A], [C, B]),
    (2, [D, None, ''], [B, A]),
    (4, [], []),
    (10, [], []),
    (1, [C, A], [D, B]),
    (3, [A], [B]),
    (0, [D], [C, B, A]),
    (-1, [], [D, C, B, A]),
])
def test_releases_to_prune(keep, protect, expected):
    assert rel.releases_to_prune([B, D, A, C], keep, protect) == expected


def test_prune_keeps_the_newest_and_the_protected(root):
    for rid in (A, B, C, D):
        make_release(root, rid, status='good')
    os.makedirs(os.path.join(root.releases, 'notes'))  # not a release: never touched
    assert rel.prune(root, 2, [B]) == [C, A]
    assert sorted(os.listdir(root.releases)) == [B, D, 'notes']


def test_prune_without_releases_dir(tmp_path):
    assert rel.prune(Root(str(tmp_path / 'none')), 1, []) == []


# --- rollback -------------------------------------------------------------------------------------

def records_of(*pairs):
    return [{'release_id': rid, 'status': status, 'version': rid[-2:]} for rid, status in pairs]


RECORDS = records_of((A, 'good'), (B, 'rolled_back'), (C, 'good'), (D, 'failed'))


@pytest.mark.parametrize('current, from_release, to, expected', [
    (C, '', '', (C, A)),          # B was rolled back once: not a default target
    (D, '', '', (D, C)),          # from a failed release to the newest good one
    ('', D, '', (D, C)),
    (C, D, '', (D, C)),           # from_release wins over current
    (D, '', B, (D, B)),           # a rolled_back release can be named
    (A, '', C, (A, C)),           # forward to a newer good release
])
def test_choose_rollback_targets(current, from_release, to, expected):
    source, target = rel.choose_rollback(RECORDS, current, from_release, to)
    assert (source['release_id'], target['release_id']) == expected


@pytest.mark.parametrize('current, from_release, to, message', [
    (C, D.replace('v4', 'v9'), '', 'No release %s under the releases directory: nothing to roll back from. Known: %s.'
     % (D.replace('v4', 'v9'), ', '.join([A, B, C, D]))),
    ('', '', '', 'No current release (current/release.json): nothing to roll back from. Known: %s.'
     % ', '.join([A, B, C, D])),
    (C, '', '20250101T000000Z-v0', 'No release 20250101T000000Z-v0 under the releases directory. Known: %s.'
     % ', '.join([A, B, C, D])),
    (A, '', '', 'No good release before %s to roll back to (kept: %s).' % (A, ', '.join([A, B, C, D]))),
    (C, '', C, '%s is already the current release.' % C),
    (C, '', D, '%s has status failed; only a release that was good can be a target.' % D),
])
def test_choose_rollback_refusals(current, from_release, to, message):
    with pytest.raises(ReleaseError) as caught:
        rel.choose_rollback(RECORDS, current, from_release, to)
    assert str(caught.value) == message


def test_choose_rollback_without_records():
    with pytest.raises(ReleaseError) as caught:
        rel.choose_rollback([], '')
    assert str(caught.value) == 'No current release (current/release.json): nothing to roll back from. Known: none.'


def test_choose_rollback_target_without_status():
    records = [{'release_id': A}, {'release_id': B, 'status': 'good'}]
    with pytest.raises(ReleaseError, match='%s has status None; only a release that was good' % A):
        rel.choose_rollback(records, B, to=A)


def test_migration_chain_prefers_the_source_then_the_newest():
    old = [{'revision': 'a', 'down_revision': None}]
    new = old + [{'revision': 'b', 'down_revision': 'a'}]
    newer = new + [{'revision': 'c', 'down_revision': 'b'}]
    records = [{'release_id': A, 'alembic': {'chain': old}}, {'release_id': B, 'alembic': {'chain': new}},
               {'release_id': C}, {'release_id': D, 'alembic': {'chain': []}}]
    assert rel.migration_chain({'alembic': {'chain': newer}}, records) == newer
    assert rel.migration_chain({'release_id': D, 'alembic': None}, records) == new
    assert rel.migration_chain(None, records[:1]) == old
    assert rel.migration_chain({}, [{'release_id': A}]) == []


E = '20250105T000000Z-v5'


def test_protected_releases_after_a_good_deploy(root):
    make_release(root, A)
    make_release(root, B, previous_release=A)
    rel.switch_current(root, B)
    assert rel.protected_releases(root, rel.record_of(root, B), failed=False) == [B, A, B, A]


def test_protected_releases_after_a_failed_deploy_keep_the_targets_target(root):
    # v1 (A) current, then v2 (D, replacing A), then v3 (E, replacing D) fails while current: the automatic
    # rollback makes D current, and A (D's own target) is the manual rollback target after it.
    for rid in (B, C):
        make_release(root, rid)
    make_release(root, A)
    make_release(root, D, previous_release=A)
    make_release(root, E, previous_release=D)
    rel.switch_current(root, E)
    protect = rel.protected_releases(root, rel.record_of(root, E), failed=True)
    assert set(protect) == {A, D, E}
    assert rel.prune(root, 3, protect) == [C, B]
    # A good record protects no more than current and its target.
    assert A not in rel.protected_releases(root, rel.record_of(root, E), failed=False)


def test_record_of_missing_or_bad_id_is_empty(root):
    assert rel.record_of(root, '') == {}
    assert rel.record_of(root, A) == {}
    assert rel.record_of(root, '../etc') == {}
