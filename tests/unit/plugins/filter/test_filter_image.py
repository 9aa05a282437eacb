# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.image import (
    FilterModule,
    image_pin,
    image_ref,
)

D1 = 'sha256:' + '0123456789abcdef' * 4
D2 = 'sha256:' + 'f' * 64


def parts(registry, repository, tag=None, digest=None):
    return {
        'registry': registry,
        'repository': repository,
        'tag': tag,
        'digest': digest,
        'name': f'{registry}/{repository}',
        'pinned': digest is not None,
    }


def test_filter_module_exports():
    assert FilterModule().filters() == {'image_ref': image_ref, 'image_pin': image_pin}


@pytest.mark.parametrize('ref, expected', [
    ('nginx', parts('docker.io', 'library/nginx')),
    ('nginx:1.27', parts('docker.io', 'library/nginx', '1.27')),
    ('nginx@' + D1, parts('docker.io', 'library/nginx', None, D1)),
    ('bitnami/redis:7.2', parts('docker.io', 'bitnami/redis', '7.2')),
    ('docker.io/nginx', parts('docker.io', 'library/nginx')),
    ('index.docker.io/library/nginx:latest', parts('docker.io', 'library/nginx', 'latest')),
    ('registry-1.docker.io/bitnami/redis', parts('docker.io', 'bitnami/redis')),
    ('localhost/app', parts('localhost', 'app')),
    ('localhost:5000/x', parts('localhost:5000', 'x')),
    ('localhost:5000/x:v1', parts('localhost:5000', 'x', 'v1')),
    ('127.0.0.1:5000/a/b:v1', parts('127.0.0.1:5000', 'a/b', 'v1')),
    ('[::1]:5000/app:1', parts('[::1]:5000', 'app', '1')),
    ('ghcr.io/org/team/app:1.4.2@' + D1, parts('ghcr.io', 'org/team/app', '1.4.2', D1)),
    ('123456789012.dkr.ecr.eu-west-1.amazonaws.com/aishield/backend:git-abc123',
     parts('123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'aishield/backend', 'git-abc123')),
    ('registry.example.com:443/a/b@' + D1, parts('registry.example.com:443', 'a/b', None, D1)),
    ('MyRegistry/app', parts('MyRegistry', 'app')),  # uppercase first component is a host
    ('myhost/app', parts('docker.io', 'myhost/app')),  # a bare lowercase word is a Hub namespace
    ('a/b.c/d_e/f__g/h--i', parts('docker.io', 'a/b.c/d_e/f__g/h--i')),
    ('app:_tag', parts('docker.io', 'library/app', '_tag')),
    ('app:V1.0-RC_1', parts('docker.io', 'library/app', 'V1.0-RC_1')),
    ('app:' + 'x' * 128, parts('docker.io', 'library/app', 'x' * 128)),
    ('  nginx:1  ', parts('docker.io', 'library/nginx', '1')),
])
def test_image_ref_parses(ref, expected):
    assert image_ref(ref) == expected


@pytest.mark.parametrize('value, expected', [
    ({'registry': 'ghcr.io', 'repository': 'org/app', 'tag': '1.4', 'digest': D1}, f'ghcr.io/org/app:1.4@{D1}'),
    ({'registry': 'ghcr.io', 'repository': 'org/app', 'digest': D1}, f'ghcr.io/org/app@{D1}'),
    ({'registry': 'ghcr.io', 'repository': 'org/app', 'tag': '1.4'}, 'ghcr.io/org/app:1.4'),
    ({'registry': 'ghcr.io', 'repository': 'org/app'}, 'ghcr.io/org/app'),
    ({'repository': 'nginx', 'tag': '1.27'}, 'docker.io/library/nginx:1.27'),
    ({'registry': 'docker.io', 'repository': 'nginx'}, 'docker.io/library/nginx'),
    ({'registry': 'index.docker.io', 'repository': 'library/nginx'}, 'docker.io/library/nginx'),
    # an explicit registry is a registry, even without a dot
    ({'registry': 'myhost', 'repository': 'app'}, 'myhost/app'),
    ({'name': 'localhost:5000/x', 'tag': 'v1'}, 'localhost:5000/x:v1'),
    ({'name': 'nginx', 'tag': '', 'digest': None}, 'docker.io/library/nginx'),
    (parts('127.0.0.1:5000', 'a/b', 'v1', D1), f'127.0.0.1:5000/a/b:v1@{D1}'),
    (dict(parts('docker.io', 'library/nginx'), pinned=True), 'docker.io/library/nginx'),
])
def test_image_ref_composes(value, expected):
    assert image_ref(value) == expected


@pytest.mark.parametrize('ref', [
    'nginx', 'nginx:1.27', f'nginx:1.27@{D1}', f'127.0.0.1:5000/a/b:v1@{D1}', 'localhost:5000/x',
    'ghcr.io/org/team/app:1.4.2', '[::1]:5000/app:1',
])
def test_image_ref_round_trips(ref):
    parsed = image_ref(ref)
    composed = image_ref(parsed)
    assert image_ref(composed) == parsed
    assert image_ref(image_ref(composed)) == composed


_component = st.from_regex(r'\A[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,5}){0,2}\Z')
_tag = st.from_regex(r'\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z')
_registry = st.sampled_from(['docker.io', 'ghcr.io', 'localhost:5000', '127.0.0.1:5000', 'reg.example.com'])


@given(registry=_registry, path=st.lists(_component, min_size=1, max_size=3), tag=st.none() | _tag,
       digest=st.none() | st.from_regex(r'\A[0-9a-f]{64}\Z').map(lambda h: 'sha256:' + h))
def test_image_ref_compose_parse_property(registry, path, tag, digest):
    repository = '/'.join(path)
    ref = image_ref({'registry': registry, 'repository': repository, 'tag': tag, 'digest': digest})
    parsed = image_ref(ref)
    assert parsed['tag'] == tag
    assert parsed['digest'] == digest
    assert parsed['pinned'] is (digest is not None)
    assert parsed['registry'] == registry
    if registry == 'docker.io' and len(path) == 1:
        assert parsed['repository'] == f'library/{repository}'
    else:
        assert parsed['repository'] == repository
    assert image_ref(parsed) == ref


@pytest.mark.parametrize('ref, message', [
    ('', 'image reference is empty'),
    ('   ', 'image reference is empty'),
    (None, 'image reference None has type NoneType'),
    (5, 'image reference 5 has type int'),
    (['nginx'], 'has type list'),
    ('nginx 1', "image reference 'nginx 1' contains whitespace"),
    ('Nginx', "repository component 'Nginx' in image reference 'Nginx' is invalid (repository names must be lowercase)"),
    ('ghcr.io/Org/app', "repository component 'Org'"),
    ('ghcr.io/org//app', "repository component ''"),
    ('ghcr.io/org/app-', "repository component 'app-'"),
    ('ghcr.io/org/_app', "repository component '_app'"),
    ('ghcr.io/org/a___b', "repository component 'a___b'"),
    ('ghcr.io/', "repository component ''"),
    (':tag', "has no repository name"),
    ('bad_host.io/app', "registry 'bad_host.io' in image reference 'bad_host.io/app' is not a valid host[:port]"),
    ('host.io:port/app', "registry 'host.io:port'"),
    ('-host.io/app', "registry '-host.io'"),
    ('app:.tag', "tag '.tag' in 'app:.tag' is invalid"),
    ('app:-tag', "tag '-tag'"),
    ('app:', "tag ''"),
    ('app:t@g', "digest 'g'"),
    ('app:' + 'x' * 129, 'is invalid; a tag is 1-128 characters'),
    ('app:ta/g', "registry 'app:ta' in image reference 'app:ta/g' is not a valid host[:port]"),
    ('app@sha256:' + 'A' * 64, 'has uppercase hex; digests must be lowercase'),
    ('app@' + 'a' * 64, 'lacks the algorithm; write "sha256:'),
    ('app@sha256:' + 'a' * 63, 'is not "sha256:" followed by 64 lowercase hex characters'),
    ('app@sha512:' + 'a' * 128, "digest 'sha512:"),
    ('app@sha256:' + 'g' * 64, 'is not "sha256:" followed by 64'),
    ('app@', "digest ''"),
    (f'app@{D1}@{D2}', 'has more than one "@"'),
    ('reg.io/' + 'a' * 250, 'is longer than 255 characters'),
])
def test_image_ref_rejects_bad_strings(ref, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        image_ref(ref)


@pytest.mark.parametrize('value, message', [
    ({'repository': 'app', 'digests': D1}, "unknown key(s) ['digests']"),
    ({'tag': 'v1'}, 'needs "repository" (optionally with "registry") or "name"'),
    ({}, 'needs "repository"'),
    ({'registry': 'ghcr.io', 'name': 'org/app'}, 'has both "registry" and "name"'),
    ({'repository': 'app:v1'}, "repository 'app:v1' carries a tag or digest"),
    ({'name': f'app@{D1}'}, 'carries a tag or digest'),
    ({'repository': 'app', 'tag': 'bad tag'}, "tag 'bad tag' is invalid"),
    ({'repository': 'app', 'digest': 'sha256:abc'}, "digest 'sha256:abc' is not"),
    ({'repository': 'app', 'digest': 5}, 'key "digest" is 5 (int); expected a string'),
    ({'repository': 'App'}, "repository component 'App'"),
    ({'registry': 'bad_host', 'repository': 'app'}, "registry 'bad_host'"),
    ({'registry': 'ghcr.io', 'repository': 'org/app', 'name': 'ghcr.io/org/other'},
     "disagrees with itself: name 'ghcr.io/org/other' vs registry/repository 'ghcr.io/org/app'"),
])
def test_image_ref_rejects_bad_dicts(value, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        image_ref(value)


@pytest.mark.parametrize('ref, digest, expected', [
    ('nginx', D1, f'docker.io/library/nginx@{D1}'),
    ('nginx:1.27', D1, f'docker.io/library/nginx:1.27@{D1}'),
    (f'nginx:1.27@{D2}', D1, f'docker.io/library/nginx:1.27@{D1}'),  # replaces an old pin
    ('localhost:5000/x:v1', D1, f'localhost:5000/x:v1@{D1}'),
    ('localhost:5000/x:v1', f'localhost:5000/x@{D1}', f'localhost:5000/x:v1@{D1}'),  # a RepoDigests entry
    ('nginx:1.27', f'docker.io/library/nginx@{D1}', f'docker.io/library/nginx:1.27@{D1}'),
    ({'registry': 'ghcr.io', 'repository': 'org/app', 'tag': '2'}, D1, f'ghcr.io/org/app:2@{D1}'),
])
def test_image_pin(ref, digest, expected):
    assert image_pin(ref, digest) == expected
    assert image_ref(image_pin(ref, digest))['pinned'] is True


@pytest.mark.parametrize('ref, digest, message', [
    ('nginx', 'sha256:' + 'A' * 64, 'uppercase hex'),
    ('nginx', 'abc', "digest 'abc' is not"),
    ('nginx', None, 'digest None has type NoneType'),
    ('nginx', 'a' * 64, 'lacks the algorithm'),
    ('localhost:5000/x', f'localhost:5000/y@{D1}',
     "belongs to 'localhost:5000/y', not to 'localhost:5000/x'"),
    ('Nginx', D1, "repository component 'Nginx'"),
])
def test_image_pin_rejects(ref, digest, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        image_pin(ref, digest)
