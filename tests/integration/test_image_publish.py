# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image_publish role through ansible-playbook on localhost.

A tiny image (the test bed's base image plus one file) is built with BuildKit from a temporary
git checkout and pushed to a random repository on the test bed registry (127.0.0.1:5000),
which is checked through its own v2 API. Its Dockerfile mounts a build secret
(`RUN --mount=type=secret`, which only BuildKit runs) and stores the secret's sha256, so the
test can tell the secret reached the build while it searches the image, the output and every
process's command line and environment for the secret itself. The ECR path is exercised only up to the login:
moto's ECR hands out a registry that cannot be pushed to (and is not on loopback). A login is
made with the run's TMPDIR and HOME in tmp_path, so the test can search every place it could
have stayed: after a publish, passed or failed, no file there holds the password.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import re
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.register_assert_rewrite('s3_fixtures')
from conftest import files_holding, secret_forms  # noqa: E402  pylint: disable=wrong-import-position
from s3_fixtures import AWS_ACCESS_KEY, AWS_REGION, AWS_SECRET_KEY  # noqa: E402  pylint: disable=wrong-import-position

pytest_plugins = ['s3_fixtures']


pytestmark = pytest.mark.integration

REGISTRY = '127.0.0.1:5000'
# tests/testbed/services.sh: the registry container and its storage root.
REGISTRY_CONTAINER = 'aishield-registry'
REGISTRY_REPOSITORIES = '/var/lib/docker-registry/docker/registry/v2/repositories'
BASE_IMAGE = 'aishield-testbed/base:bookworm'
MANIFEST_TYPES = ', '.join([
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
])
# The JSON callback names role tasks "<role> : <task>".
P = 'aishield.ops.image_publish : '
BUILD, TAG, LOOKUP, PUSH = (P + 'Build each image, tagged with its commit', P + 'Tag each image with the version and extra tags',
                            P + 'Look up each tag in the registry', P + 'Push the tags whose digest the registry lacks')
TEMP_CONFIG, LOGIN = P + 'Make a temporary Docker client config for the login', P + 'Log the Docker client in to the registry'
SECRETS_DIR, BUILD_FAILED = P + 'Make a temporary directory for the build secrets', P + 'Report the failed build, secrets masked'
# The fixture's Dockerfile: BuildKit mounts the secret pip_token for one RUN, which keeps only its sha256 (empty without
# the secret) and the build args it saw; the sleep keeps the build running while the test watches the processes.
DOCKERFILE = (
    'FROM %s\n'
    'ARG GREETING\n'
    'ARG CHANNEL\n'
    'COPY hello.txt /hello.txt\n'
    'RUN --mount=type=secret,id=pip_token (sha256sum /run/secrets/pip_token 2>/dev/null | cut -d" " -f1) >/pip_token.sha256'
    ' && echo "greeting=$GREETING channel=$CHANNEL" >/build-args.txt && sleep 1\n'
    'LABEL greeting=$GREETING\n'
) % BASE_IMAGE
ACCOUNT = '123456789012'
MOTO_ECR_PASSWORD = ACCOUNT + '-auth-token'  # moto's token is "AWS:<registry id>-auth-token"


# --- registry and docker helpers (the test's own view, independent of the role) --------------------


def registry_request(method, path):
    """(status, headers, body) of a registry v2 API call on 127.0.0.1:5000."""
    req = urllib.request.Request('http://%s/v2/%s' % (REGISTRY, path), method=method,
                                 headers={'Accept': MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # nosec - 127.0.0.1 only
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def registry_tags(name):
    status, _headers, body = registry_request('GET', '%s/tags/list' % name)
    if status == 404:
        return []
    assert status == 200, body
    return sorted(json.loads(body).get('tags') or [])


def registry_digest(name, tag):
    status, headers, body = registry_request('HEAD', '%s/manifests/%s' % (name, tag))
    assert status == 200, (name, tag, body)
    return headers['Docker-Content-Digest']


def docker(*args, check=True):
    proc = subprocess.run(['docker', *args], capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def git(ctx, *args):
    subprocess.run(['git', '-C', str(ctx), '-c', 'user.name=it', '-c', 'user.email=it@aishield.invalid', *args],
                   capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture
def checkout(tmp_path):
    """A git checkout with one tiny image, and a random repository on the registry; both cleaned up."""
    if docker('image', 'inspect', BASE_IMAGE, check=False).returncode != 0:
        pytest.fail('%s is missing; build it with tests/testbed/setup.sh' % BASE_IMAGE)
    ctx = tmp_path / 'src'
    (ctx / 'tiny').mkdir(parents=True)
    (ctx / 'tiny' / 'Dockerfile').write_text(DOCKERFILE)
    (ctx / 'tiny' / 'hello.txt').write_text('hello %s\n' % secrets.token_hex(8))
    git(ctx, 'init', '-q')
    git(ctx, 'add', '.')
    git(ctx, 'commit', '-q', '-m', 'tiny image')
    sha = subprocess.run(['git', '-C', str(ctx), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                         check=True).stdout.strip()
    name = 'it-publish-%s/tiny' % secrets.token_hex(4)
    try:
        yield {'ctx': ctx, 'sha': sha, 'name': name, 'repository': '%s/%s' % (REGISTRY, name)}
    finally:
        # Registry: delete each manifest (and so every tag on it); delete is enabled in the test bed registry.
        for digest in {registry_digest(name, tag) for tag in registry_tags(name)}:
            registry_request('DELETE', '%s/manifests/%s' % (name, digest))
        # The API cannot delete a repository; drop its (now tagless) directory so the catalog stays clean.
        docker('exec', REGISTRY_CONTAINER, 'rm', '-rf', '%s/%s' % (REGISTRY_REPOSITORIES, name.split('/')[0]),
               check=False)
        # Local: every image of the repository, by id.
        listing = docker('image', 'ls', '--format', '{{.Repository}} {{.ID}}', check=False).stdout.split('\n')
        ids = {line.split()[1] for line in listing if line.startswith('%s/%s ' % (REGISTRY, name))}
        if ids:
            docker('image', 'rm', '-f', *ids, check=False)


def publish(**role_vars):
    """Include the role with its inputs taken from extra vars (secrets as a vault would supply them)."""
    return [{'name': 'Publish', 'ansible.builtin.include_role': {'name': 'aishield.ops.image_publish'},
             'vars': {name: '{{ %s }}' % ('it_' + name) for name in role_vars}, 'tags': ['always']},
            {'name': 'Show the result', 'ansible.builtin.debug': {'var': 'image_publish_result'}, 'tags': ['always']}]


def extra(**role_vars):
    return {'it_' + name: value for name, value in role_vars.items()}


def changed(run):
    return run.data['stats']['localhost']['changed']


def item_results(result):
    return result.get('results', [])


def assert_secret_not_printed(output, password, username='publisher'):
    assert password not in output
    # The password also travels base64-encoded in X-Registry-Auth: decode every header value printed.
    for value in re.findall(r'X-Registry-Auth\W+([A-Za-z0-9_=+/-]{8,})', output):
        assert password.encode() not in base64.urlsafe_b64decode(value + '=' * (-len(value) % 4))
    assert base64.b64encode(('%s:%s' % (username, password)).encode()).decode() not in output


def login_places(tmp_path):
    """The run's TMPDIR and HOME (for ~/.docker) inside tmp_path: env for ansible_playbook."""
    env = {'TMPDIR': str(tmp_path / 'tmp'), 'HOME': str(tmp_path / 'home')}
    for path in env.values():
        Path(path).mkdir(exist_ok=True)
    return env


def assert_secret_not_in(data, secret, where):
    """Neither the secret nor any base64 text holding it is in data (bytes or str)."""
    data = data.encode() if isinstance(data, str) else data
    found = [form for form in secret_forms(secret) if form in data]
    assert not found, 'the build secret is in %s' % where


def image_holds(ref, secret):
    """Whether `docker save` of the image (every layer and its config) holds the secret, in any form."""
    forms = secret_forms(secret)
    overlap = max(len(form) for form in forms)
    proc = subprocess.Popen(['docker', 'save', ref], stdout=subprocess.PIPE)
    found, tail, size = False, b'', 0
    try:
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b''):
            size += len(chunk)
            window = tail + chunk
            found = found or any(form in window for form in forms)
            tail = window[-overlap:]
    finally:
        proc.stdout.close()
        assert proc.wait(timeout=120) == 0
    assert size > 1 << 20, 'docker save gave %d bytes: nothing was searched' % size
    return found


class ProcessWatch(threading.Thread):
    """Reads every process's command line and environment (what `ps auxeww` shows) until stopped, at most 10 minutes."""

    def __init__(self, secret):
        super().__init__(daemon=True)
        self.forms = secret_forms(secret)
        self.hits = set()
        self.builds = []  # the command lines of `docker buildx build` seen, to prove the build was watched
        self.done = threading.Event()

    def run(self):
        deadline = time.monotonic() + 600
        while not self.done.wait(0.05) and time.monotonic() < deadline:
            for proc in glob.glob('/proc/[0-9]*'):
                for part in ('cmdline', 'environ'):
                    try:
                        with open('%s/%s' % (proc, part), 'rb') as handle:
                            data = handle.read()
                    except OSError:
                        continue
                    if any(form in data for form in self.forms):
                        self.hits.add((proc, part))
                    if part == 'cmdline' and b'buildx\0build\0' in data:
                        self.builds.append(data.replace(b'\0', b' ').decode(errors='replace'))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(10)


def assert_no_secrets_left(run, tmp_path, secret):
    """The build secret was written to a temporary directory of the run's TMPDIR, now gone, and to no file that stayed."""
    hits = files_holding({'the build secret': secret}, [tmp_path / 'tmp', tmp_path / 'home', tmp_path / 'ansible-tmp'])
    assert not hits, 'the build secret stayed on disk: %s' % sorted(hits)
    made = run[SECRETS_DIR]
    assert not made.get('skipped') and made['path'].startswith(str(tmp_path / 'tmp') + '/'), made
    assert not Path(made['path']).exists(), 'the temporary build secrets outlived the run'


def assert_no_login_left(run, tmp_path, password):
    """No file in the run's TMPDIR, HOME or Ansible temp holds the password; the login went to a temporary config, now gone."""
    # files_holding also finds the password base64-encoded, as config.json stores a login.
    hits = files_holding({'the registry password': password}, [tmp_path / 'tmp', tmp_path / 'home', tmp_path / 'ansible-tmp'])
    assert not hits, 'the registry password stayed on disk: %s' % sorted(hits)
    assert not run[LOGIN].get('skipped'), 'the role did not log in: nothing was proved'
    made = run[TEMP_CONFIG]
    assert not made.get('skipped') and made['path'].startswith(str(tmp_path / 'tmp') + '/'), made
    assert not Path(made['path']).exists(), 'the temporary Docker client config (and its login) outlived the run'


# --- tests ----------------------------------------------------------------------------------------


def test_publish_check_real_and_idempotent(ansible_playbook, checkout, tmp_path):
    password = 'rgPLANT' + secrets.token_hex(8)
    build_secret = 'bsPLANT' + secrets.token_hex(12)
    role_vars = dict(
        image_publish_images=[{'name': checkout['name'], 'context': 'tiny', 'build_args': {'GREETING': 'hi'}}],
        image_publish_build_args={'GREETING': 'overridden', 'CHANNEL': 'stable'},
        image_publish_build_secrets=[{'id': 'pip_token', 'value': build_secret}],
        image_publish_context=str(checkout['ctx']), image_publish_version='v1', image_publish_extra_tags=['latest'],
        image_publish_registry=REGISTRY,
        # The test bed registry has no auth and accepts any login; the password must still never be printed.
        image_publish_registry_username='publisher', image_publish_registry_password=password)
    tags = sorted(['v1', checkout['sha'], 'latest'])
    repository = checkout['repository']
    places = login_places(tmp_path)

    # 1. Check mode: predicts the build and pushes nothing; writes no secret.
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars), check=True, diff=True, env=places)
    assert run.rc == 0, run.output
    assert_no_login_left(run, tmp_path, password)
    assert run[SECRETS_DIR].get('skipped'), run[SECRETS_DIR]
    assert run[BUILD]['changed'] is True
    assert all(r.get('skipped') for r in item_results(run[PUSH])), run[PUSH]
    assert registry_tags(checkout['name']) == []
    assert docker('image', 'inspect', '%s:%s' % (repository, checkout['sha']), check=False).returncode != 0
    predicted = run['Show the result']['image_publish_result'][checkout['name']]
    assert sorted(predicted['pushed']) == tags and predicted['digest'] == ''
    assert_secret_not_in(run.output, build_secret, 'the check mode output')

    # 2. Real run, at -vvv, watching every process: builds with BuildKit, tags and pushes every tag; the digests
    #    recorded are the registry's.
    with ProcessWatch(build_secret) as watch:
        run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars), diff=True, verbosity=3, env=places)
    assert run.rc == 0, run.output
    assert changed(run) > 0
    assert registry_tags(checkout['name']) == tags
    digest = registry_digest(checkout['name'], 'v1')
    assert {registry_digest(checkout['name'], tag) for tag in tags} == {digest}
    result = run['Show the result']['image_publish_result'][checkout['name']]
    assert result['digest'] == digest
    assert result['ref'] == '%s:v1@%s' % (repository, digest)
    assert sorted(result['pushed']) == tags and result['tag_digests'] == [digest] * 3
    assert sorted(r['item']['tag'] for r in item_results(run[PUSH]) if r.get('changed')) == tags
    inspect = json.loads(docker('image', 'inspect', '%s:v1' % repository).stdout)[0]
    assert '%s@%s' % (repository, digest) in inspect['RepoDigests']
    assert inspect['Config']['Labels']['org.opencontainers.image.revision'] == checkout['sha']
    assert inspect['Config']['Labels']['greeting'] == 'hi'
    assert_secret_not_printed(run.output, password)
    assert_no_login_left(run, tmp_path, password)
    # BuildKit built it (its history comment; the classic builder also refuses RUN --mount), the RUN step got the secret
    # and both build args (the image's own GREETING over the common one) ...
    history = docker('history', '--no-trunc', '--format', '{{.CreatedBy}} {{.Comment}}', '%s:v1' % repository).stdout
    assert 'RUN |2 GREETING=hi CHANNEL=stable /bin/sh -c (sha256sum /run/secrets/pip_token' in history, history
    assert 'buildkit.dockerfile.v0' in history, history
    files = docker('run', '--rm', '--entrypoint', 'cat', '%s:v1' % repository, '/pip_token.sha256', '/build-args.txt').stdout
    assert files.split('\n')[:2] == [hashlib.sha256(build_secret.encode()).hexdigest(), 'greeting=hi channel=stable'], files
    # ... but the secret itself is in no layer and no history, in no output (-vvv), in no process's command line or
    # environment while the build ran, and in no file left behind.
    assert_secret_not_in(history, build_secret, 'the image history')
    assert not image_holds('%s:v1' % repository, build_secret), 'the build secret is in the image (docker save)'
    assert_secret_not_in(run.output, build_secret, 'the -vvv output')
    assert watch.builds, 'no docker buildx build was seen running: the process watch proved nothing'
    assert not watch.hits, 'the build secret was visible to ps in %s' % sorted(watch.hits)
    assert all('--secret id=pip_token,type=file,src=' in cmd for cmd in watch.builds), watch.builds
    assert_no_secrets_left(run, tmp_path, build_secret)

    # 3. Check mode again: nothing to do.
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars), check=True, diff=True, env=places)
    assert run.rc == 0, run.output
    assert changed(run) == 0, run.output

    # 4. Real run again, keeping the login in image_publish_docker_config as that setting asks: no build, no push, same digest.
    kept = tmp_path / 'docker-config'
    role_vars['image_publish_docker_config'] = str(kept)
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars), diff=True, env=places)
    assert run.rc == 0, run.output
    assert changed(run) == 0, run.output
    assert run[TEMP_CONFIG].get('skipped'), run[TEMP_CONFIG]
    # Also shows that files_holding finds a login as Docker stores it (base64 of user:password).
    assert files_holding({'the registry password': password}, [kept]) == {(str(kept / 'config.json'), 'the registry password')}
    assert (kept / 'config.json').stat().st_mode & 0o777 == 0o600
    assert not [r for r in item_results(run[PUSH]) if not r.get('skipped')], run[PUSH]
    assert run['Show the result']['image_publish_result'][checkout['name']]['pushed'] == []
    assert run['Show the result']['image_publish_result'][checkout['name']]['digest'] == digest
    assert {registry_digest(checkout['name'], tag) for tag in tags} == {digest}
    assert_secret_not_in(run.output, build_secret, 'the output of the second run')
    assert_no_secrets_left(run, tmp_path, build_secret)


def test_failed_publish_leaves_no_login_behind(ansible_playbook, checkout, tmp_path):
    """The temporary login and build secrets are removed when the build fails after them, too; the error is shown masked."""
    # A careless Dockerfile that prints the secret before it fails: BuildKit's output, and so the module's, holds it.
    (checkout['ctx'] / 'tiny' / 'Dockerfile').write_text(
        'FROM %s\nRUN --mount=type=secret,id=pip_token echo "token=$(cat /run/secrets/pip_token)" && false\n' % BASE_IMAGE)
    git(checkout['ctx'], 'commit', '-q', '-am', 'a build that fails')
    sha = subprocess.run(['git', '-C', str(checkout['ctx']), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                         check=True).stdout.strip()
    password = 'rgPLANT' + secrets.token_hex(8)
    build_secret = 'bsPLANT' + secrets.token_hex(12)
    role_vars = dict(image_publish_images=[{'name': checkout['name'], 'context': 'tiny'}],
                     image_publish_context=str(checkout['ctx']), image_publish_version='v1', image_publish_registry=REGISTRY,
                     image_publish_nocache=False, image_publish_registry_username='publisher',
                     image_publish_registry_password=password,
                     image_publish_build_secrets=[{'id': 'pip_token', 'value': build_secret}])
    for verbosity in (0, 3):
        run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars), env=login_places(tmp_path),
                               verbosity=verbosity)
        assert run.rc != 0
        assert run[BUILD].get('failed'), run[BUILD]
        assert run[BUILD].get('censored'), run[BUILD]
        # The error is there, with the secret masked where the Dockerfile printed it.
        msg = run[BUILD_FAILED]['msg']
        assert msg.startswith('%s: Building %s:%s failed' % (checkout['repository'], checkout['repository'], sha)), msg
        assert 'token=********' in msg and 'ERROR' in msg, msg
        assert_secret_not_in(run.output, build_secret, 'the output at -%s' % ('v' * verbosity or '0'))
        assert_no_secrets_left(run, tmp_path, build_secret)
        assert_no_login_left(run, tmp_path, password)
        assert_secret_not_printed(run.output, password)
        assert registry_tags(checkout['name']) == []


def test_build_secret_from_a_file_on_the_build_host(ansible_playbook, checkout, tmp_path):
    """A secret given as src is mounted from that file: nothing is written for it, and it is not printed either."""
    build_secret = 'bsPLANT' + secrets.token_hex(12)
    src = tmp_path / 'pip_token'
    src.touch(mode=0o600)
    src.write_text(build_secret)
    role_vars = dict(image_publish_images=[{'name': checkout['name'], 'context': 'tiny'}],
                     image_publish_context=str(checkout['ctx']), image_publish_version='v1', image_publish_registry=REGISTRY,
                     image_publish_nocache=False, image_publish_build_secrets=[{'id': 'pip_token', 'src': str(src)}])
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars), verbosity=3)
    assert run.rc == 0, run.output
    assert run[SECRETS_DIR].get('skipped'), run[SECRETS_DIR]
    files = docker('run', '--rm', '--entrypoint', 'cat', '%s:v1' % checkout['repository'], '/pip_token.sha256').stdout
    assert files.strip() == hashlib.sha256(build_secret.encode()).hexdigest()
    assert_secret_not_in(run.output, build_secret, 'the -vvv output')
    assert not image_holds('%s:v1' % checkout['repository'], build_secret), 'the build secret is in the image (docker save)'


def test_build_errors_are_shown_in_full_without_secrets(ansible_playbook, checkout):
    """Without build secrets the build is not hidden: its own error shows, and the rescue repeats it."""
    (checkout['ctx'] / 'tiny' / 'Dockerfile').write_text('FROM %s\nRUN echo "step output before failing" && false\n' % BASE_IMAGE)
    git(checkout['ctx'], 'commit', '-q', '-am', 'a build that fails')
    role_vars = dict(image_publish_images=[{'name': checkout['name'], 'context': 'tiny'}],
                     image_publish_context=str(checkout['ctx']), image_publish_version='v1', image_publish_registry=REGISTRY,
                     image_publish_nocache=False)
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc != 0
    build = item_results(run[BUILD])[0]
    assert build['failed'] and not run[BUILD].get('censored') and 'step output before failing' in build['stderr'], build
    assert 'step output before failing' in run[BUILD_FAILED]['msg']


def test_bad_build_secrets_are_refused_without_printing_them(ansible_playbook, tmp_path):
    build_secret = 'bsPLANT' + secrets.token_hex(12)
    role_vars = dict(image_publish_images=[{'name': 'tiny'}], image_publish_context=str(tmp_path), image_publish_version='v1',
                     image_publish_git_sha='abc1234', image_publish_registry=REGISTRY,
                     image_publish_build_secrets=[{'id': 'pip token', 'value': build_secret, 'src': '/etc/hostname'}])
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars), verbosity=3)
    assert run.rc != 0
    msg = run[P + 'Check the build secrets']['msg']
    assert "entry #1 ('pip token'): id must be" in msg and 'set exactly one of value' in msg, msg
    assert_secret_not_in(run.output, build_secret, 'the -vvv output')


def test_new_commit_moves_the_version_tag(ansible_playbook, checkout):
    role_vars = dict(image_publish_images=[{'name': checkout['name'], 'context': 'tiny'}],
                     image_publish_context=str(checkout['ctx']), image_publish_version='v1',
                     image_publish_registry=REGISTRY, image_publish_nocache=False)
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc == 0, run.output
    first_sha, first = checkout['sha'], registry_digest(checkout['name'], 'v1')

    (checkout['ctx'] / 'tiny' / 'hello.txt').write_text('changed %s\n' % secrets.token_hex(8))
    git(checkout['ctx'], 'commit', '-q', '-am', 'change')
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc == 0, run.output
    second_sha = run['Show the result']['image_publish_result'][checkout['name']]['tags'][1]
    assert second_sha != first_sha
    second = registry_digest(checkout['name'], 'v1')
    assert second != first
    assert registry_digest(checkout['name'], second_sha) == second
    assert registry_digest(checkout['name'], first_sha) == first, 'the old commit tag must stay where it was'
    assert run['Show the result']['image_publish_result'][checkout['name']]['digest'] == second


def test_uncommitted_changes_are_refused(ansible_playbook, checkout):
    (checkout['ctx'] / 'tiny' / 'hello.txt').write_text('edited, not committed\n')
    role_vars = dict(image_publish_images=[{'name': checkout['name'], 'context': 'tiny'}],
                     image_publish_context=str(checkout['ctx']), image_publish_version='v1',
                     image_publish_registry=REGISTRY)
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc != 0
    msg = run[P + 'Refuse uncommitted changes']['msg']
    assert 'uncommitted changes' in msg and 'image_publish_git_sha' in msg and checkout['sha'] in msg
    assert BUILD not in run.results()
    assert registry_tags(checkout['name']) == []


def test_bad_inputs_name_the_variable(ansible_playbook, tmp_path):
    role_vars = dict(image_publish_images=[{'name': 'Not/Lowercase', 'context': '.'}],
                     image_publish_context=str(tmp_path), image_publish_version='v1', image_publish_registry=REGISTRY)
    run = ansible_playbook(publish(**role_vars), extra_vars=extra(**role_vars))
    assert run.rc != 0
    assert 'image_publish_images must list images' in run[P + 'Check the images']['msg']


@pytest.mark.parametrize('verbosity', [0, 3])
def test_ecr_login_feeds_the_push_without_printing_secrets(ansible_playbook, moto_endpoint, tmp_path, verbosity):
    """Only the ECR step: moto's ECR registry is not on loopback, so the login and the push are not run."""
    role_vars = dict(image_publish_images=[{'name': 'aishield-backend', 'context': '.'}],
                     image_publish_context=str(tmp_path), image_publish_version='v2', image_publish_git_sha='abc1234',
                     image_publish_ecr=True, image_publish_ecr_region=AWS_REGION,
                     image_publish_ecr_endpoint_url=moto_endpoint,
                     image_publish_aws_access_key=AWS_ACCESS_KEY, image_publish_aws_secret_key=AWS_SECRET_KEY)
    tasks = publish(**role_vars)[:1] + [
        {'name': 'registry', 'ansible.builtin.debug': {'msg': '{{ __image_publish_ecr.registry }}'}, 'tags': ['always']},
        {'name': 'username', 'ansible.builtin.debug': {'msg': '{{ __image_publish_ecr.username }}'}, 'tags': ['always']},
        # What docker_login would receive, compared in the play so the value itself is never printed.
        {'name': 'usable', 'ansible.builtin.debug': {'msg': "{{ __image_publish_ecr.password == '%s' }}"
                                                            % MOTO_ECR_PASSWORD}, 'tags': ['always']},
    ]
    run = ansible_playbook(tasks, extra_vars=extra(**role_vars), verbosity=verbosity,
                           env={'ANSIBLE_RUN_TAGS': 'image_publish_preflight,image_publish_ecr'})
    assert run.rc == 0, run.output
    assert run['registry']['msg'] == '%s.dkr.ecr.%s.amazonaws.com' % (ACCOUNT, AWS_REGION)
    assert run['username']['msg'] == 'AWS'
    assert run['usable']['msg'] is True
    assert run[P + 'Get an ECR login'].get('censored')
    assert P + 'Log the Docker client in to the registry' not in run.results()
    assert MOTO_ECR_PASSWORD not in run.output
    assert AWS_SECRET_KEY not in run.output
    assert base64.b64encode(('AWS:' + MOTO_ECR_PASSWORD).encode()).decode() not in run.output


def test_ecr_login_failure_is_reported(ansible_playbook, tmp_path):
    role_vars = dict(image_publish_images=[{'name': 'aishield-backend'}], image_publish_context=str(tmp_path),
                     image_publish_version='v2', image_publish_git_sha='abc1234', image_publish_ecr=True,
                     image_publish_ecr_region=AWS_REGION, image_publish_ecr_endpoint_url='http://127.0.0.1:9',
                     image_publish_aws_access_key=AWS_ACCESS_KEY, image_publish_aws_secret_key=AWS_SECRET_KEY)
    run = ansible_playbook(publish(**role_vars)[:1], extra_vars=extra(**role_vars),
                           env={'ANSIBLE_RUN_TAGS': 'image_publish_preflight,image_publish_ecr'})
    assert run.rc != 0
    msg = run[P + 'Check the ECR login']['msg']
    assert msg.startswith('ECR login failed: ECR GetAuthorizationToken failed') and 'image_publish_ecr_region' in msg
    assert AWS_SECRET_KEY not in run.output
