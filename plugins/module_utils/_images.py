# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Container image references: parse, compose and pin, for modules and filters alike.

Modules run on the managed host, where ansible.errors is not importable: errors are
ImageRefError (a ValueError); the image filters turn them into AnsibleFilterError.
"""

from __future__ import annotations

import re
import threading

# The pulls import the Docker API client and the thread pool where they run: the image filters load
# this file on the controller in every task's worker, for parse_image_ref alone.


class ImageRefError(ValueError):
    """An image reference, tag or digest that docker would not accept."""


# Grammar follows github.com/distribution/reference (what docker pull accepts).
# See https://github.com/distribution/reference/blob/main/reference.go
_DOMAIN_COMPONENT = r'(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])'
_DOMAIN_RE = re.compile(
    r'^(?:' + _DOMAIN_COMPONENT + r'(?:\.' + _DOMAIN_COMPONENT + r')*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$')
_PATH_COMPONENT_RE = re.compile(r'^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$')
_TAG_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')
_DIGEST_RE = re.compile(r'^sha256:[0-9a-f]{64}$')

DEFAULT_REGISTRY = 'docker.io'
# Docker Hub's legacy aliases all name the same registry.
_HUB_ALIASES = ('docker.io', 'index.docker.io', 'registry-1.docker.io')
_NAME_MAX = 255
_DICT_KEYS = frozenset(('registry', 'repository', 'name', 'tag', 'digest', 'pinned'))


def _check_digest(digest, ref=None):
    where = f' in {ref!r}' if ref is not None else ''
    if not isinstance(digest, str):
        raise ImageRefError(f'digest {digest!r}{where} has type {type(digest).__name__}; expected "sha256:<64 hex>"')
    if _DIGEST_RE.match(digest):
        return digest
    if re.match(r'^sha256:[0-9A-Fa-f]{64}$', digest):
        raise ImageRefError(f'digest {digest!r}{where} has uppercase hex; digests must be lowercase "sha256:<64 hex>"')
    if re.match(r'^[0-9a-f]{64}$', digest):
        raise ImageRefError(f'digest {digest!r}{where} lacks the algorithm; write "sha256:{digest}"')
    raise ImageRefError(f'digest {digest!r}{where} is not "sha256:" followed by 64 lowercase hex characters')


def _check_tag(tag, ref=None):
    where = f' in {ref!r}' if ref is not None else ''
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise ImageRefError(
            f'tag {tag!r}{where} is invalid; a tag is 1-128 characters of letters, digits, "_", "." and "-", '
            f'not starting with "." or "-"')
    return tag


def _split_name(name, ref):
    """Split a name (no tag, no digest) into a normalised (registry, repository)."""
    if not name:
        raise ImageRefError(f'image reference {ref!r} has no repository name')
    first, sep, rest = name.partition('/')
    # Docker's rule: the first component is a registry only if it looks like a host.
    if sep and ('.' in first or ':' in first or first == 'localhost' or first.lower() != first):
        return _normalise(first, rest, ref)
    return _normalise(DEFAULT_REGISTRY, name, ref)


def _normalise(registry, path, ref):
    if not isinstance(registry, str) or not _DOMAIN_RE.match(registry):
        raise ImageRefError(f'registry {registry!r} in image reference {ref!r} is not a valid host[:port]')
    if registry in _HUB_ALIASES:
        registry = DEFAULT_REGISTRY
    components = path.split('/')
    for component in components:
        if not _PATH_COMPONENT_RE.match(component):
            hint = ' (repository names must be lowercase)' if component.lower() != component else ''
            raise ImageRefError(
                f'repository component {component!r} in image reference {ref!r} is invalid{hint}; '
                f'expected lowercase letters and digits separated by ".", "_", "__" or "-"')
    # Docker Hub keeps official images under library/.
    if registry == DEFAULT_REGISTRY and len(components) == 1:
        path = f'library/{path}'
    full = f'{registry}/{path}'
    if len(full) > _NAME_MAX:
        raise ImageRefError(f'image name {full!r} is longer than {_NAME_MAX} characters')
    return registry, path


def parse_image_ref(ref):
    """Parse a reference string into its normalised parts."""
    if not isinstance(ref, str):
        raise ImageRefError(f'image reference {ref!r} has type {type(ref).__name__}; expected a string or a dict')
    text = ref.strip()
    if not text:
        raise ImageRefError('image reference is empty; expected e.g. "registry.example.com/app:1.2@sha256:<64 hex>"')
    if any(ch.isspace() for ch in text):
        raise ImageRefError(f'image reference {ref!r} contains whitespace')

    remainder, at, digest = text.partition('@')
    if at:
        if '@' in digest:
            raise ImageRefError(f'image reference {ref!r} has more than one "@"; expected at most one digest')
        _check_digest(digest, ref)
    else:
        digest = None

    # A colon after the last slash is a tag; one before it belongs to a registry port.
    tag = None
    colon = remainder.rfind(':')
    if colon > remainder.rfind('/'):
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        _check_tag(tag, ref)

    registry, repository = _split_name(remainder, ref)
    return {
        'registry': registry,
        'repository': repository,
        'tag': tag,
        'digest': digest,
        'name': f'{registry}/{repository}',
        'pinned': digest is not None,
    }


def _text_field(parts, key):
    value = parts.get(key)
    if value is None or value == '':
        return None
    if not isinstance(value, str):
        raise ImageRefError(f'image reference dict key "{key}" is {value!r} ({type(value).__name__}); expected a string')
    return value


def compose_image_ref(parts):
    """Compose "registry/repository[:tag][@digest]" from a dict as image_ref returns it."""
    unknown = sorted(set(parts) - _DICT_KEYS)
    if unknown:
        # A typo such as "digests" would otherwise silently drop the pin.
        raise ImageRefError(
            f'image reference dict has unknown key(s) {unknown}; allowed keys are {sorted(_DICT_KEYS)}')

    registry = _text_field(parts, 'registry')
    repository = _text_field(parts, 'repository')
    name = _text_field(parts, 'name')
    for label, value in (('repository', repository), ('name', name)):
        if value is not None and ('@' in value or value.rfind(':') > value.rfind('/')):
            raise ImageRefError(
                f'{label} {value!r} carries a tag or digest; put them in the "tag" and "digest" keys')

    if repository is not None:
        if registry is not None:
            # An explicit registry is taken as given, even a bare host name without dots.
            registry, repository = _normalise(registry, repository, f'{registry}/{repository}')
        else:
            registry, repository = _split_name(repository, repository)
        if name is not None and _split_name(name, name) != (registry, repository):
            raise ImageRefError(
                f'image reference dict disagrees with itself: name {name!r} vs registry/repository '
                f'{registry + "/" + repository!r}; drop one of them')
    elif name is not None:
        if registry is not None:
            raise ImageRefError('image reference dict has both "registry" and "name"; use "registry" with "repository"')
        registry, repository = _split_name(name, name)
    else:
        raise ImageRefError(
            f'image reference dict {dict(parts)!r} needs "repository" (optionally with "registry") or "name"')

    ref = f'{registry}/{repository}'
    tag = _text_field(parts, 'tag')
    if tag is not None:
        ref += ':' + _check_tag(tag)
    digest = _text_field(parts, 'digest')
    if digest is not None:
        ref += '@' + _check_digest(digest)
    return ref


def pin_image(ref, digest):
    """Return `ref` pinned to `digest`, keeping its tag; an existing digest is replaced."""
    parts = parse_image_ref(ref) if not isinstance(ref, dict) else parse_image_ref(compose_image_ref(ref))
    if isinstance(digest, str) and '@' in digest:
        # Accept a RepoDigests entry ("name@sha256:..."), but only for the same image.
        other = parse_image_ref(digest)
        if other['name'] != parts['name']:
            raise ImageRefError(
                f'digest {digest!r} belongs to {other["name"]!r}, not to {parts["name"]!r}; pass the bare "sha256:..." '
                f'digest if the image really was pushed under another name')
        digest = other['digest']
    _check_digest(digest)
    parts['digest'] = digest
    parts['pinned'] = True
    return compose_image_ref(parts)


def digest_from_repo_digests(ref, repo_digests):
    """The digest of `ref` among an image's RepoDigests ("name@sha256:..."), preferring the same name."""
    name = parse_image_ref(ref)['name']
    fallback = None
    for entry in repo_digests or []:
        try:
            parts = parse_image_ref(entry)
        except ImageRefError:
            continue
        if parts['name'] == name:
            return parts['digest']
        fallback = fallback or parts['digest']
    return fallback


# --- pulling and pinning (the daemon does the work; see _docker_api.py) ---------------------------

def auth_header_for(ref, credentials):
    """X-Registry-Auth for ref: the credentials when they are for its registry (or for any), else anonymous.

    credentials: {username, password, registry} or None; an empty registry means every registry.
    """
    from ansible_collections.aishield.ops.plugins.module_utils._docker_api import registry_auth_header  # pylint: disable=import-outside-toplevel
    creds = credentials or {}
    registry = parse_image_ref(ref)['registry']
    wanted = creds.get('registry') or ''
    # Docker Hub answers to several names; the image grammar calls them all docker.io.
    wanted = DEFAULT_REGISTRY if wanted in _HUB_ALIASES else wanted
    if creds.get('username') and wanted in ('', registry):
        return registry_auth_header(creds['username'], creds.get('password'), registry)
    return registry_auth_header(None, None)


def _parallel(func, items, workers=8):
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    items = list(items)
    if not items:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return dict(zip(items, pool.map(func, items)))


# Pull events that carry a layer's byte counts, and those that say the layer is all there.
_LAYER_MOVING = ('Downloading',)
_LAYER_DONE = ('Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete')


class PullProgress:
    """Bytes downloaded over all the pulls of one call, from the daemon's per-layer events.

    Layers are keyed by their id alone: two images sharing a layer download it once. report(done, total)
    is called after each event that moves a layer, under the lock: the pulls run in threads, and the
    report (a ProgressFile) is not meant for two writers at once.
    """

    def __init__(self, report=None):
        self.report = report
        self._layers = {}
        self._lock = threading.Lock()

    def event(self, event):
        layer, status = event.get('id'), event.get('status') or ''
        if not layer or status not in _LAYER_MOVING + _LAYER_DONE:
            return
        detail = event.get('progressDetail') or {}
        with self._lock:
            current, total = self._layers.get(layer, (0, 0))
            if status in _LAYER_MOVING:
                total = _count(detail.get('total')) or total
                current = max(current, _count(detail.get('current')))
            else:
                current = total = max(current, total)
            self._layers[layer] = (current, total)
            if self.report is not None:
                self.report(*self.totals())

    def totals(self):
        """(bytes downloaded, bytes known to download) so far."""
        return sum(c for c, _t in self._layers.values()), sum(t for _c, t in self._layers.values())


def _count(value):
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def pull_images(api, refs, credentials=None, workers=8, progress=None):
    """Pull every reference side by side: {ref: {digest, changed} or {error}}. progress: a PullProgress, or None."""
    on_event = progress.event if progress is not None else None

    def pull(ref):
        try:
            before = api.image(ref)
            api.pull(ref, auth_header_for(ref, credentials), on_event=on_event)
            after = api.image(ref)
        except Exception as exc:  # pylint: disable=broad-except
            return {'error': str(exc) or exc.__class__.__name__}
        if after is None:
            return {'error': 'the daemon has no image %s after pulling it' % ref}
        digest = parse_image_ref(ref)['digest'] or digest_from_repo_digests(ref, after.get('RepoDigests'))
        if not digest:
            return {'error': 'image %s has no registry digest (built locally and never pushed?)' % ref}
        return {'digest': digest, 'changed': before is None or before.get('Id') != after.get('Id')}
    return _parallel(pull, sorted(set(refs)), workers)


def registry_digests(api, refs, credentials=None, workers=8):
    """Ask each reference's registry for its digest through the daemon, pulling nothing: {ref: {digest} or {error}}."""
    def lookup(ref):
        pinned = parse_image_ref(ref)['digest']
        try:
            digest = api.distribution(ref, auth_header_for(ref, credentials))
        except Exception as exc:  # pylint: disable=broad-except
            return {'error': str(exc) or exc.__class__.__name__}
        return {'digest': pinned or digest} if (pinned or digest) else {'error': 'the registry returned no digest'}
    return _parallel(lookup, sorted(set(refs)), workers)
