# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Image reference grammar, pinning, and pulling through a fake Docker API object."""

from __future__ import annotations

import base64
import json
import re
import threading

import pytest

from ansible_collections.aishield.ops.plugins.module_utils._images import (
    ImageRefError,
    auth_header_for,
    compose_image_ref,
    digest_from_repo_digests,
    parse_image_ref,
    pin_image,
    PullProgress,
    pull_images,
    registry_digests,
)

DA = 'sha256:' + 'a' * 64
DB = 'sha256:' + 'b' * 64
DC = 'sha256:' + 'c' * 64


def parts(registry, repository, tag=None, digest=None):
    return {'registry': registry, 'repository': repository, 'tag': tag, 'digest': digest,
            'name': '%s/%s' % (registry, repository), 'pinned': digest is not None}


# --- grammar --------------------------------------------------------------------------------

@pytest.mark.parametrize('ref, expected', [
    ('nginx', parts('docker.io', 'library/nginx')),
    ('  nginx:1.25  ', parts('docker.io', 'library/nginx', '1.25')),
    ('library/nginx', parts('docker.io', 'library/nginx')),
    ('docker.io/nginx', parts('docker.io', 'library/nginx')),
    ('index.docker.io/library/nginx:1', parts('docker.io', 'library/nginx', '1')),
    ('registry-1.docker.io/org/app', parts('docker.io', 'org/app')),
    ('org/app:v2', parts('docker.io', 'org/app', 'v2')),
    ('localhost/app', parts('localhost', 'app')),
    ('localhost:5000/app:v1', parts('localhost:5000', 'app', 'v1')),
    ('[::1]:5000/app', parts('[::1]:5000', 'app')),
    ('Registry/app', parts('Registry', 'app')),  # an uppercase first component is a host, as docker decides
    ('localhost:5000', parts('docker.io', 'library/localhost', '5000')),  # no slash: the port is a tag
    ('ghcr.io/org/app@' + DA, parts('ghcr.io', 'org/app', None, DA)),
    ('reg.example.com:443/a/b/c:1.0@' + DB, parts('reg.example.com:443', 'a/b/c', '1.0', DB)),
    ('r.io/a__b/c-d/e--f.g:x_Y.-1', parts('r.io', 'a__b/c-d/e--f.g', 'x_Y.-1')),
])
def test_parse_image_ref(ref, expected):
    assert parse_image_ref(ref) == expected


@pytest.mark.parametrize('ref, message', [
    ('', 'image reference is empty'),
    ('   ', 'image reference is empty'),
    (None, 'image reference None has type NoneType'),
    (5, 'image reference 5 has type int'),
    ('a b', "image reference 'a b' contains whitespace"),
    ('App', "repository component 'App' in image reference 'App' is invalid (repository names must be lowercase)"),
    ('r.io/org/App', "repository component 'App'"),
    ('r.io/a//b', "repository component ''"),
    ('r.io/a-/b', "repository component 'a-'"),
    ('r.io/a___b', "repository component 'a___b'"),
    ('app:', "tag '' in 'app:' is invalid"),
    ('app:-x', "tag '-x' in 'app:-x' is invalid"),
    ('app:.x', "tag '.x' in 'app:.x' is invalid"),
    ('app:a/b', "registry 'app:a' in image reference 'app:a/b'"),  # a colon before a slash makes a host
    ('app:' + 'a' * 129, 'is invalid; a tag is 1-128 characters'),
    ('app@sha256:' + 'A' * 64, 'has uppercase hex; digests must be lowercase'),
    ('app@' + 'a' * 64, 'lacks the algorithm; write "sha256:%s"' % ('a' * 64)),
    ('app@md5:abc', "digest 'md5:abc' in 'app@md5:abc' is not \"sha256:\" followed by 64 lowercase hex characters"),
    ('app@' + DA + '@x', 'has more than one "@"'),
    ('ex_ample.com/app', "registry 'ex_ample.com' in image reference 'ex_ample.com/app' is not a valid host[:port]"),
    ('-bad.io/app', "registry '-bad.io'"),
    ('r.io:port/app', "registry 'r.io:port'"),
    (':1', "image reference ':1' has no repository name"),
    ('a/' + 'b' * 250, 'is longer than 255 characters'),
])
def test_parse_image_ref_refuses(ref, message):
    with pytest.raises(ImageRefError, match=re.escape(message)):
        parse_image_ref(ref)


@pytest.mark.parametrize('value, expected', [
    ({'repository': 'app', 'tag': '1'}, 'docker.io/library/app:1'),
    ({'registry': 'reg', 'repository': 'app'}, 'reg/app'),  # an explicit registry needs no dot
    ({'registry': 'index.docker.io', 'repository': 'nginx', 'tag': ''}, 'docker.io/library/nginx'),
    ({'name': 'ghcr.io/o/a', 'digest': DA}, 'ghcr.io/o/a@' + DA),
    ({'repository': 'ghcr.io/o/a', 'tag': '1', 'digest': DA}, 'ghcr.io/o/a:1@' + DA),
    ({'registry': 'ghcr.io', 'repository': 'o/a', 'name': 'ghcr.io/o/a', 'tag': None}, 'ghcr.io/o/a'),
    (parse_image_ref('r.io:5000/a/b:2@' + DB), 'r.io:5000/a/b:2@' + DB),
])
def test_compose_image_ref(value, expected):
    assert compose_image_ref(value) == expected


@pytest.mark.parametrize('value, message', [
    ({'repository': 'a', 'digests': DA}, "unknown key(s) ['digests']"),
    ({'repository': 'a:1'}, "repository 'a:1' carries a tag or digest"),
    ({'name': 'a@' + DA}, 'carries a tag or digest'),
    ({'tag': '1'}, 'needs "repository" (optionally with "registry") or "name"'),
    ({'registry': 'r.io', 'name': 'x'}, 'has both "registry" and "name"'),
    ({'repository': 'o/a', 'name': 'other'}, "disagrees with itself: name 'other' vs registry/repository 'docker.io/o/a'"),
    ({'repository': 5}, 'key "repository" is 5 (int); expected a string'),
    ({'repository': 'a', 'tag': '-bad'}, "tag '-bad' is invalid"),
    ({'repository': 'a', 'digest': 'sha256:x'}, "digest 'sha256:x' is not"),
    ({'registry': 'bad_host', 'repository': 'a'}, "registry 'bad_host'"),
])
def test_compose_image_ref_refuses(value, message):
    with pytest.raises(ImageRefError, match=re.escape(message)):
        compose_image_ref(value)


@pytest.mark.parametrize('ref', ['nginx', 'org/app:v2', 'localhost:5000/app:v1@' + DA, 'ghcr.io/a/b/c@' + DB])
def test_parse_compose_round_trip(ref):
    once = compose_image_ref(parse_image_ref(ref))
    assert parse_image_ref(once) == parse_image_ref(ref)
    assert compose_image_ref(parse_image_ref(once)) == once


@pytest.mark.parametrize('ref, digest, expected', [
    ('ghcr.io/o/a:1', DA, 'ghcr.io/o/a:1@' + DA),
    ('ghcr.io/o/a:1@' + DB, DA, 'ghcr.io/o/a:1@' + DA),  # an old pin is replaced
    ('ghcr.io/o/a', 'ghcr.io/o/a@' + DA, 'ghcr.io/o/a@' + DA),  # a RepoDigests entry
    ('nginx:1', 'docker.io/library/nginx@' + DA, 'docker.io/library/nginx:1@' + DA),
    ({'repository': 'nginx', 'tag': '1'}, 'nginx@' + DA, 'docker.io/library/nginx:1@' + DA),
])
def test_pin_image(ref, digest, expected):
    assert pin_image(ref, digest) == expected


@pytest.mark.parametrize('ref, digest, message', [
    ('ghcr.io/o/a:1', 'ghcr.io/o/b@' + DA, "belongs to 'ghcr.io/o/b', not to 'ghcr.io/o/a'"),
    ('a', 'sha256:zz', "digest 'sha256:zz' is not"),
    ('a', None, 'digest None has type NoneType'),
    ('a', 'b' * 64, 'lacks the algorithm'),
])
def test_pin_image_refuses(ref, digest, message):
    with pytest.raises(ImageRefError, match=re.escape(message)):
        pin_image(ref, digest)


@pytest.mark.parametrize('ref, repo_digests, expected', [
    ('ghcr.io/o/a:1', ['mirror.io/o/a@' + DB, 'ghcr.io/o/a@' + DA], DA),  # the same name wins
    ('ghcr.io/o/a:1', ['mirror.io/o/a@' + DB, 'other.io/x@' + DC], DB),  # else the first one
    ('nginx:1', ['nginx@' + DC], DC),
    ('ghcr.io/o/a', ['garbage', 'ghcr.io/o/a@' + DA], DA),
    ('ghcr.io/o/a', [], None),
    ('ghcr.io/o/a', None, None),
])
def test_digest_from_repo_digests(ref, repo_digests, expected):
    assert digest_from_repo_digests(ref, repo_digests) == expected


# --- credentials ------------------------------------------------------------------------------

def decode(header):
    return json.loads(base64.urlsafe_b64decode(header.encode()))


@pytest.mark.parametrize('ref, credentials, expected', [
    ('ghcr.io/o/a', {'username': 'u', 'password': 'p', 'registry': 'ghcr.io'},
     {'username': 'u', 'password': 'p', 'serveraddress': 'ghcr.io'}),
    ('ghcr.io/o/a', {'username': 'u', 'password': 'p', 'registry': ''},
     {'username': 'u', 'password': 'p', 'serveraddress': 'ghcr.io'}),
    ('nginx', {'username': 'u', 'password': None}, {'username': 'u', 'password': '', 'serveraddress': 'docker.io'}),
    ('ghcr.io/o/a', {'username': 'u', 'password': 'p', 'registry': 'other.io'}, {}),  # never sent elsewhere
    ('ghcr.io/o/a', {'username': '', 'password': 'p', 'registry': 'ghcr.io'}, {}),
    ('ghcr.io/o/a', None, {}),
])
def test_auth_header_for(ref, credentials, expected):
    assert decode(auth_header_for(ref, credentials)) == expected


@pytest.mark.parametrize('ref, registry', [
    ('index.docker.io/org/app:1', 'index.docker.io'),
    ('org/app:1', 'index.docker.io'),
    ('registry-1.docker.io/org/app', 'registry-1.docker.io'),
])
def test_auth_header_for_hub_aliases(ref, registry):
    # parse_image_ref names every Docker Hub alias docker.io; credentials given for an alias are for the same registry.
    sent = decode(auth_header_for(ref, {'username': 'u', 'password': 'p', 'registry': registry}))
    assert (sent.get('username'), sent.get('password')) == ('u', 'p')


# --- pulling through the daemon ----------------------------------------------------------------

class FakeApi:
    """The daemon's image store: `images` before the pull, `pulled` what each pull leaves behind."""

    def __init__(self, images=None, pulled=None, pull_errors=None, remote=None, events=None):
        self.images = dict(images or {})
        self.events = dict(events or {})
        self.pulled = dict(pulled or {})
        self.pull_errors = dict(pull_errors or {})
        self.remote = dict(remote or {})
        self.calls = []
        self._lock = threading.Lock()

    def image(self, ref):
        return self.images.get(ref)

    def pull(self, ref, auth_header, on_event=None):
        with self._lock:
            self.calls.append(('pull', ref, decode(auth_header)))
        for event in self.events.get(ref, []):
            if on_event is not None:
                on_event(event)
        if ref in self.pull_errors:
            raise self.pull_errors[ref]
        if ref in self.pulled:
            self.images[ref] = self.pulled[ref]

    def distribution(self, ref, auth_header):
        with self._lock:
            self.calls.append(('distribution', ref, decode(auth_header)))
        found = self.remote.get(ref)
        if isinstance(found, Exception):
            raise found
        return found


APP = 'ghcr.io/o/app:v2'
WEB = 'ghcr.io/o/web:v2'


def test_pull_images_reports_digest_and_change():
    api = FakeApi(images={WEB: {'Id': 'sha256:web', 'RepoDigests': ['ghcr.io/o/web@' + DB]}},
                  pulled={APP: {'Id': 'sha256:new', 'RepoDigests': ['mirror.io/o/app@' + DC, 'ghcr.io/o/app@' + DA]},
                          WEB: {'Id': 'sha256:web', 'RepoDigests': ['ghcr.io/o/web@' + DB]}})
    creds = {'username': 'u', 'password': 'p', 'registry': 'ghcr.io'}
    assert pull_images(api, [APP, WEB, APP], creds) == {
        APP: {'digest': DA, 'changed': True},
        WEB: {'digest': DB, 'changed': False},
    }
    pulls = sorted(call[1] for call in api.calls)
    assert pulls == [APP, WEB]  # a reference listed twice is pulled once
    assert all(call[2] == {'username': 'u', 'password': 'p', 'serveraddress': 'ghcr.io'} for call in api.calls)


def test_pull_images_changed_when_the_image_id_moves():
    api = FakeApi(images={APP: {'Id': 'sha256:old', 'RepoDigests': ['ghcr.io/o/app@' + DB]}},
                  pulled={APP: {'Id': 'sha256:new', 'RepoDigests': ['ghcr.io/o/app@' + DA]}})
    assert pull_images(api, [APP]) == {APP: {'digest': DA, 'changed': True}}
    assert api.calls == [('pull', APP, {})]  # no credentials: anonymous


def test_pull_images_pinned_ref_keeps_its_digest():
    ref = 'ghcr.io/o/app@' + DA
    api = FakeApi(pulled={ref: {'Id': 'sha256:x', 'RepoDigests': []}})
    assert pull_images(api, [ref]) == {ref: {'digest': DA, 'changed': True}}


class SilentError(Exception):
    pass


@pytest.mark.parametrize('api, error', [
    (FakeApi(pull_errors={APP: RuntimeError('manifest unknown')}), 'manifest unknown'),
    (FakeApi(pull_errors={APP: SilentError()}), 'SilentError'),
    (FakeApi(), 'the daemon has no image %s after pulling it' % APP),
    (FakeApi(pulled={APP: {'Id': 'sha256:x', 'RepoDigests': []}}),
     'image %s has no registry digest (built locally and never pushed?)' % APP),
])
def test_pull_images_errors(api, error):
    assert pull_images(api, [APP]) == {APP: {'error': error}}


def test_pull_images_error_of_one_does_not_hide_the_others():
    api = FakeApi(pulled={WEB: {'Id': 'w', 'RepoDigests': ['ghcr.io/o/web@' + DB]}},
                  pull_errors={APP: RuntimeError('denied')})
    assert pull_images(api, [APP, WEB], workers=1) == {APP: {'error': 'denied'}, WEB: {'digest': DB, 'changed': True}}


def test_pull_images_of_nothing():
    assert pull_images(FakeApi(), []) == {}


def test_registry_digests():
    pinned = 'ghcr.io/o/pinned@' + DC
    gone = 'ghcr.io/o/gone:1'
    broken = 'ghcr.io/o/broken:1'
    api = FakeApi(remote={APP: DA, pinned: DB, broken: RuntimeError('no such host')})
    assert registry_digests(api, [APP, pinned, gone, broken], {'username': 'u', 'password': 'p'}) == {
        APP: {'digest': DA},
        pinned: {'digest': DC},  # the pin is what will be pulled
        gone: {'error': 'the registry returned no digest'},
        broken: {'error': 'no such host'},
    }
    assert all(call[0] == 'distribution' for call in api.calls)
    assert sorted(call[1] for call in api.calls) == sorted([APP, pinned, gone, broken])


def moving(layer, current, total):
    return {'status': 'Downloading', 'id': layer, 'progressDetail': {'current': current, 'total': total}}


def test_pull_progress_sums_layers_and_counts_a_shared_layer_once():
    seen = []
    progress = PullProgress(lambda done, total: seen.append((done, total)))
    for event in [{'status': 'Pulling from o/app', 'id': 'v2'}, {'status': 'Pulling fs layer', 'id': 'l1'},
                  moving('l1', 100, 1000), moving('l2', 50, 500), {'status': 'Already exists', 'id': 'l0'},
                  moving('l1', 600, 1000), {'status': 'Download complete', 'id': 'l2'},
                  moving('l2', 10, 500),  # the same layer seen again by a second image's pull: never backwards
                  {'status': 'Extracting', 'id': 'l1', 'progressDetail': {'current': 5, 'total': 1000}},
                  {'status': 'Pull complete', 'id': 'l1'}, {'status': 'Digest: sha256:abc'}]:
        progress.event(event)
    assert seen == [(100, 1000), (150, 1500), (650, 1500), (1100, 1500), (1100, 1500), (1500, 1500),
                    (1500, 1500)]
    assert progress.totals() == (1500, 1500)


def test_pull_progress_ignores_odd_counts():
    progress = PullProgress()
    progress.event({'status': 'Downloading', 'id': 'l1', 'progressDetail': {'current': 'x', 'total': None}})
    progress.event({'status': 'Downloading', 'id': 'l2', 'progressDetail': {'current': -5, 'total': 10}})
    progress.event({'status': 'Downloading', 'id': 'l3'})
    assert progress.totals() == (0, 10)


def test_pull_images_feeds_every_pull_into_one_progress():
    api = FakeApi(pulled={APP: {'Id': 'a', 'RepoDigests': ['ghcr.io/o/app@' + DA]},
                          WEB: {'Id': 'w', 'RepoDigests': ['ghcr.io/o/web@' + DB]}},
                  events={APP: [moving('shared', 10, 10), moving('app', 5, 20)],
                          WEB: [moving('shared', 10, 10), {'status': 'Pull complete', 'id': 'web'}]})
    progress = PullProgress()
    assert pull_images(api, [APP, WEB], progress=progress)[APP] == {'digest': DA, 'changed': True}
    assert progress.totals() == (15, 30)
