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


# --- build args and build secrets -----------------------------------------------------------------


@pytest.mark.parametrize('common, own, expected', [
    ({'A': '1', 'B': '2'}, {'B': '3'}, {'A': '1', 'B': '3'}),  # the image's own win
    ({'A': '1'}, None, {'A': '1'}),
    (None, {'B': '3'}, {'B': '3'}),
    ({}, {}, {}),
])
def test_plan_merges_common_build_args(common, own, expected):
    assert p.publish_plan([{'name': 'backend', 'build_args': own}], REG, '/src', common)[0]['build_args'] == expected


@pytest.mark.parametrize('common, own, match', [
    (['A=1'], None, 'image_publish_build_args must be a dict'),
    (None, ['A=1'], "'backend': build_args must be a dict"),
])
def test_plan_rejects_bad_build_args(common, own, match):
    with pytest.raises(AnsibleFilterError, match=match):
        p.publish_plan([{'name': 'backend', 'build_args': own}], REG, '/src', common)


VALUE = 'pLANTed-s3cret'
SECRETS = [{'id': 'pip_token', 'value': VALUE}, {'id': 'npmrc', 'src': '/etc/ci/npmrc'}, {'id': 'b.2', 'value': 'two'}]


@pytest.mark.parametrize('secrets, expected', [
    ([], []),
    (SECRETS, []),
    ([{'id': 'pip token', 'value': VALUE}], ["entry #1 ('pip token'): id must be letters, digits, _ . - (it names /run/secrets/<id>)"]),
    ([{'id': '-x', 'value': VALUE}], ["entry #1 ('-x'): id must be letters, digits, _ . - (it names /run/secrets/<id>)"]),
    ([{'id': 'a,b', 'value': VALUE}], ["entry #1 ('a,b'): id must be letters, digits, _ . - (it names /run/secrets/<id>)"]),
    ([{'value': VALUE}], ['entry #1: id must be letters, digits, _ . - (it names /run/secrets/<id>)']),
    ([{'id': 'a', 'value': VALUE}, {'id': 'a', 'src': '/x'}], ["entry #2 ('a'): id is used twice"]),
    ([{'id': ['a'], 'value': VALUE}], ['entry #1: id must be letters, digits, _ . - (it names /run/secrets/<id>)']),
    ([{'id': 'a'}], ["entry #1 ('a'): set exactly one of value (the secret, from a vault) and src (a file on the build host)"]),
    ([{'id': 'a', 'value': '', 'src': None}],
     ["entry #1 ('a'): set exactly one of value (the secret, from a vault) and src (a file on the build host)"]),
    ([{'id': 'a', 'value': VALUE, 'src': '/x'}],
     ["entry #1 ('a'): set exactly one of value (the secret, from a vault) and src (a file on the build host)"]),
    ([{'id': 'a', 'value': 12345}], ["entry #1 ('a'): value must be a string, got int"]),
    ([{'id': 'a', 'src': 'relative/file'}], ["entry #1 ('a'): src must be an absolute path without commas, quotes or newlines"]),
    ([{'id': 'a', 'src': '/x,type=env'}], ["entry #1 ('a'): src must be an absolute path without commas, quotes or newlines"]),
    ([{'id': 'a', 'value': VALUE, 'type': 'env'}], ["entry #1 ('a'): unknown keys type (known: id, value, src)"]),
    (['pip_token'], ['entry #1 must be a dict, got str']),
    ({'id': 'a'}, ['must be a list of {id, value} or {id, src}, got dict']),
])
def test_secret_errors(secrets, expected):
    errors = p.publish_secret_errors(secrets)
    assert errors == expected
    assert not any(VALUE in error for error in errors)


def test_secret_values_files_and_build_entries():
    assert p.publish_secret_values(SECRETS) == [VALUE, 'two']
    assert p.publish_secret_files(SECRETS, '/tmp/s') == [{'id': 'pip_token', 'path': '/tmp/s/pip_token', 'value': VALUE},
                                                         {'id': 'b.2', 'path': '/tmp/s/b.2', 'value': 'two'}]
    entries = p.publish_build_secrets(SECRETS, '/tmp/s')
    assert entries == [{'id': 'pip_token', 'type': 'file', 'src': '/tmp/s/pip_token'},
                       {'id': 'npmrc', 'type': 'file', 'src': '/etc/ci/npmrc'},
                       {'id': 'b.2', 'type': 'file', 'src': '/tmp/s/b.2'}]
    assert VALUE not in repr(entries)


def test_build_secrets_from_files_only_need_no_directory():
    assert p.publish_build_secrets([{'id': 'npmrc', 'src': '/etc/ci/npmrc'}], '') == [
        {'id': 'npmrc', 'type': 'file', 'src': '/etc/ci/npmrc'}]
    assert p.publish_secret_values([]) == [] and p.publish_build_secrets([], '') == []


@pytest.mark.parametrize('call', [
    lambda: p.publish_secret_values([{'id': 'a b', 'value': VALUE}]),
    lambda: p.publish_secret_files([{'id': 'a', 'value': VALUE, 'src': '/x'}], '/tmp/s'),
    lambda: p.publish_build_secrets([{'id': 'a', 'value': VALUE}, {'id': 'a', 'value': VALUE}], '/tmp/s'),
])
def test_secret_filters_refuse_bad_secrets_without_naming_the_value(call):
    with pytest.raises(AnsibleFilterError, match='image_publish_build_secrets: entry') as info:
        call()
    assert VALUE not in str(info.value)


@pytest.mark.parametrize('directory', ['', 'relative', None])
def test_secret_files_need_an_absolute_directory(directory):
    with pytest.raises(AnsibleFilterError, match='needs an absolute directory'):
        p.publish_secret_files(SECRETS, directory)
    with pytest.raises(AnsibleFilterError, match='needs an absolute directory'):
        p.publish_build_secrets(SECRETS, directory)


def _build(repository, failed, **extra):
    return dict({'item': {'repository': repository}, 'failed': failed, 'changed': False}, **extra)


def test_build_errors_mask_secrets_and_keep_the_end_of_the_output():
    output = '\n'.join(['#%d step' % n for n in range(30)] + ['#7 ERROR: token %s rejected (and two)' % VALUE])
    failed = {'failed': True, 'msg': 'One or more items failed', 'results': [
        _build(BACKEND, False, stderr='fine ' + VALUE),
        _build(f'{REG}/frontend', True, msg='Building x:abc failed', stderr=output, stdout='plain'),
        {'skipped': True, 'item': {'repository': 'x'}}]}
    text = p.publish_build_errors(failed, [VALUE, 'two'], 3)
    assert VALUE not in text and 'two' not in text
    assert text == (f'{REG}/frontend: Building x:abc failed\n  #28 step\n  #29 step\n'
                    '  #7 ERROR: token ******** rejected (and ********)')


def test_build_errors_mask_each_line_of_a_multiline_secret():
    key = '-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQAB\nok\n-----END KEY-----\n'
    # BuildKit prints each line of a step's output behind the step number and a timestamp.
    printed = '\n'.join('#5 0.%d %s' % (n, line) for n, line in enumerate(key.splitlines()))
    failed = {'failed': True, 'results': [_build(BACKEND, True, msg='Building failed', stderr=printed + '\n#5 ERROR: exit code: 1')]}
    text = p.publish_build_errors(failed, [key])
    assert 'AAAAB3NzaC1yc2EAAAADAQAB' not in text and 'BEGIN KEY' not in text and 'END KEY' not in text, text
    assert '#5 0.1 ********' in text and '#5 ERROR: exit code: 1' in text


@pytest.mark.parametrize('failed, expected', [
    ({'failed': True, 'msg': 'Docker CLI does not have the buildx plugin installed ' + VALUE},
     'the build: Docker CLI does not have the buildx plugin installed ********'),
    ({'failed': True, 'msg': 'One or more items failed', 'results': []}, 'One or more items failed'),
    ({'failed': True, 'results': [_build(BACKEND, True, stdout='out only')]}, f'{BACKEND}: failed\n  out only'),
])
def test_build_errors_of_single_and_odd_results(failed, expected):
    assert p.publish_build_errors(failed, [VALUE, '', None]) == expected


@pytest.mark.parametrize('failed, values, match', [
    ('failed', [], 'expects a task result'),
    ({'failed': True}, VALUE, 'secret_values must be a list'),
])
def test_build_errors_reject_bad_input(failed, values, match):
    with pytest.raises(AnsibleFilterError, match=match):
        p.publish_build_errors(failed, values)
