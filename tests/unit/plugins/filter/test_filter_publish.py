# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter import publish as p

REG = '127.0.0.1:5000/team'
BACKEND = f'{REG}/backend'
A = 'sha256:' + 'a' * 64
B = 'sha256:' + 'b' * 64
C = 'sha256:' + 'c' * 64


def _ref(tag, name='backend'):
    return {'name': name, 'repository': f'{REG}/{name}', 'tag': tag}


def _lookup(item, status, digest=None, **extra):
    result = {'item': item, 'status': status, **extra}
    if digest:
        result['json'] = {'Descriptor': {'digest': digest}}
    return result


@pytest.mark.parametrize('image, expected', [
    ({'name': 'backend', 'context': 'backend', 'dockerfile': 'Dockerfile.prod', 'build_args': {'A': '1'}},
     {'name': 'backend', 'repository': BACKEND, 'context': '/src/backend', 'dockerfile': 'Dockerfile.prod', 'build_args': {'A': '1'}}),
    ({'name': 'backend'}, {'name': 'backend', 'repository': BACKEND, 'context': '/src/.', 'dockerfile': 'Dockerfile', 'build_args': {}}),
    ({'name': 'backend', 'context': None, 'dockerfile': '', 'build_args': None},
     {'name': 'backend', 'repository': BACKEND, 'context': '/src/.', 'dockerfile': 'Dockerfile', 'build_args': {}}),
    ({'name': 'backend', 'context': '/elsewhere/proxy'},
     {'name': 'backend', 'repository': BACKEND, 'context': '/elsewhere/proxy', 'dockerfile': 'Dockerfile', 'build_args': {}}),
])
def test_plan(image, expected):
    assert p.publish_plan([image], REG, '/src') == [expected]


@pytest.mark.parametrize('images, match', [
    ({'name': 'backend'}, 'image_publish_images must be a list'),
    ([{'context': 'backend'}], 'entry #1 must be a dict with at least a name'),
    (['backend'], 'entry #1 must be a dict'),
    ([{'name': 'backend', 'context': 5}], "'backend': context must be a path"),
])
def test_plan_rejects_bad_images(images, match):
    with pytest.raises(AnsibleFilterError, match=match):
        p.publish_plan(images, REG, '/src')


PLAN = p.publish_plan([{'name': 'backend'}, {'name': 'frontend'}], REG, '/src')


@pytest.mark.parametrize('tags, expected', [
    (['v2', 'abc123'], [_ref('v2'), _ref('abc123'), _ref('v2', 'frontend'), _ref('abc123', 'frontend')]),
    ([], []),
])
def test_refs_image_by_image(tags, expected):
    assert p.publish_refs(PLAN, tags) == expected


@pytest.mark.parametrize('plan, tags', [([{'name': 'x'}], ['v1']), (PLAN, 'v1'), ('plan', ['v1'])])
def test_refs_reject_bad_input(plan, tags):
    with pytest.raises(AnsibleFilterError, match='plan|tags must be a list'):
        p.publish_refs(plan, tags)


@pytest.mark.parametrize('results, expected', [
    ([_lookup(_ref('v2'), 200, A), _lookup(_ref('abc'), 404, json={'message': 'manifest unknown'})], []),
    ([_lookup(_ref('v2'), 500, json={'message': 'internal error'})], [f'{BACKEND}:v2 (internal error)']),
    ([_lookup(_ref('v2'), -1, msg='Connection refused')], [f'{BACKEND}:v2 (Connection refused)']),
    ([_lookup(_ref('v2'), 401, json={'errors': []}, msg='HTTP 401')], [f'{BACKEND}:v2 (HTTP 401)']),
    ([_lookup(_ref('v2'), 401)], [f'{BACKEND}:v2 (?)']),
    ([{'item': _ref('v2'), 'failed': True, 'msg': 'no socket'}], [f'{BACKEND}:v2 (no socket)']),
])
def test_unreachable(results, expected):
    assert p.publish_unreachable(results) == expected


@pytest.mark.parametrize('results', [[{'status': 500}], [{'item': {'repository': 'x'}, 'status': 500}], 'x'])
def test_unreachable_needs_the_lookup_items(results):
    with pytest.raises(AnsibleFilterError, match='item.repository|must be a list'):
        p.publish_unreachable(results)


LOCAL_DIGESTS = [f'{BACKEND}@{A}']
LOCAL_TAGS = [f'{BACKEND}:abc', f'{BACKEND}:v2']


@pytest.mark.parametrize('result, expected', [
    (_lookup(_ref('v2'), 200, A), []),  # the registry serves what this host pushed
    (_lookup(_ref('v2'), 200, B), [dict(_ref('v2'), local=True)]),  # another build holds the tag: move it
    (_lookup(_ref('v2'), 404), [dict(_ref('v2'), local=True)]),
    (_lookup(_ref('v2'), 200), [dict(_ref('v2'), local=True)]),  # no digest in the answer
    (_lookup(_ref('v2', 'frontend'), 404), [dict(_ref('v2', 'frontend'), local=False)]),  # not built here
    (_lookup(_ref('v2'), 500, A), [dict(_ref('v2'), local=True)]),
])
def test_pushes(result, expected):
    assert p.publish_pushes([result], LOCAL_DIGESTS, LOCAL_TAGS, 'abc') == expected


def test_pushes_check_the_local_lists():
    with pytest.raises(AnsibleFilterError, match='local_digests must be a list'):
        p.publish_pushes([], f'{BACKEND}@{A}', LOCAL_TAGS, 'abc')


@pytest.mark.parametrize('remote, pushed, pushes, expected', [
    # Not pushed: the lookup before the push counts.
    ([_lookup(_ref('v2'), 200, A), _lookup(_ref('abc'), 404)], [], [], {f'{BACKEND}:v2': A}),
    # Pushed: the lookup before is ignored, the one after counts.
    ([_lookup(_ref('v2'), 200, B)], [_lookup(dict(_ref('v2'), local=True), 200, C)], [dict(_ref('v2'), local=True)],
     {f'{BACKEND}:v2': C}),
    # Check mode: the read back is skipped, so a pushed tag has no digest.
    ([_lookup(_ref('v2'), 200, B)], [{'item': dict(_ref('v2'), local=True), 'skipped': True}], [dict(_ref('v2'), local=True)], {}),
    ([{'skipped': True}], [], [], {}),
])
def test_digests(remote, pushed, pushes, expected):
    assert p.publish_digests(remote, pushed, pushes) == expected


def test_digests_need_the_descriptor_of_a_found_tag():
    with pytest.raises(AnsibleFilterError, match=f'{BACKEND}:v2 answered 200 without Descriptor.digest'):
        p.publish_digests([_lookup(_ref('v2'), 200, json={})], [], [])


@pytest.mark.parametrize('digests, pushes, expected', [
    ({f'{BACKEND}:v2': A, f'{BACKEND}:abc': A}, [dict(_ref('abc'), local=True)],
     {'ref': f'{BACKEND}:v2@{A}', 'digest': A, 'tags': ['v2', 'abc'], 'tag_digests': [A, A], 'pushed': ['abc']}),
    ({f'{BACKEND}:abc': A}, [dict(_ref('v2'), local=True), dict(_ref('v2', 'frontend'), local=True)],
     {'ref': f'{BACKEND}:v2', 'digest': '', 'tags': ['v2', 'abc'], 'tag_digests': ['', A], 'pushed': ['v2']}),
])
def test_result(digests, pushes, expected):
    assert p.publish_result(PLAN[:1], ['v2', 'abc'], 'v2', digests, pushes) == {'backend': expected}


@pytest.mark.parametrize('tags, digests, match', [
    ([], {}, 'at least one tag'),
    (['v2'], [], 'digests must be a dict'),
    (['v2'], {f'{BACKEND}:v2': 'sha256:short'}, 'is not "sha256:"'),
])
def test_result_rejects_bad_input(tags, digests, match):
    with pytest.raises(AnsibleFilterError, match=match):
        p.publish_result(PLAN[:1], tags, 'v2', digests, [])


RESULT = {'backend': {'ref': f'{BACKEND}:v2@{A}', 'tags': ['v2', 'abc'], 'pushed': ['v2', 'abc']},
          'frontend': {'ref': f'{REG}/frontend:v2', 'tags': ['v2', 'abc'], 'pushed': []}}


@pytest.mark.parametrize('check_mode, expected', [
    (False, [f'backend              {BACKEND}:v2@{A}  [v2,abc]  pushed v2,abc',
             f'frontend             {REG}/frontend:v2  [v2,abc]  unchanged']),
    (True, [f'backend              {BACKEND}:v2@{A}  [v2,abc]  would push v2,abc',
            f'frontend             {REG}/frontend:v2  [v2,abc]  unchanged']),
])
def test_report_lines(check_mode, expected):
    assert p.publish_report_lines(RESULT, check_mode) == expected


def test_report_lines_need_the_result_dict():
    with pytest.raises(AnsibleFilterError, match='expects the dict publish_result returns'):
        p.publish_report_lines([RESULT], False)
