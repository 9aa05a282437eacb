# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parse, compose and pin container image references."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

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
        raise AnsibleFilterError(f'digest {digest!r}{where} has type {type(digest).__name__}; expected "sha256:<64 hex>"')
    if _DIGEST_RE.match(digest):
        return digest
    if re.match(r'^sha256:[0-9A-Fa-f]{64}$', digest):
        raise AnsibleFilterError(f'digest {digest!r}{where} has uppercase hex; digests must be lowercase "sha256:<64 hex>"')
    if re.match(r'^[0-9a-f]{64}$', digest):
        raise AnsibleFilterError(f'digest {digest!r}{where} lacks the algorithm; write "sha256:{digest}"')
    raise AnsibleFilterError(f'digest {digest!r}{where} is not "sha256:" followed by 64 lowercase hex characters')


def _check_tag(tag, ref=None):
    where = f' in {ref!r}' if ref is not None else ''
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise AnsibleFilterError(
            f'tag {tag!r}{where} is invalid; a tag is 1-128 characters of letters, digits, "_", "." and "-", '
            f'not starting with "." or "-"')
    return tag


def _split_name(name, ref):
    """Split a name (no tag, no digest) into a normalised (registry, repository)."""
    if not name:
        raise AnsibleFilterError(f'image reference {ref!r} has no repository name')
    first, sep, rest = name.partition('/')
    # Docker's rule: the first component is a registry only if it looks like a host.
    if sep and ('.' in first or ':' in first or first == 'localhost' or first.lower() != first):
        return _normalise(first, rest, ref)
    return _normalise(DEFAULT_REGISTRY, name, ref)


def _normalise(registry, path, ref):
    if not isinstance(registry, str) or not _DOMAIN_RE.match(registry):
        raise AnsibleFilterError(f'registry {registry!r} in image reference {ref!r} is not a valid host[:port]')
    if registry in _HUB_ALIASES:
        registry = DEFAULT_REGISTRY
    components = path.split('/')
    for component in components:
        if not _PATH_COMPONENT_RE.match(component):
            hint = ' (repository names must be lowercase)' if component.lower() != component else ''
            raise AnsibleFilterError(
                f'repository component {component!r} in image reference {ref!r} is invalid{hint}; '
                f'expected lowercase letters and digits separated by ".", "_", "__" or "-"')
    # Docker Hub keeps official images under library/.
    if registry == DEFAULT_REGISTRY and len(components) == 1:
        path = f'library/{path}'
    full = f'{registry}/{path}'
    if len(full) > _NAME_MAX:
        raise AnsibleFilterError(f'image name {full!r} is longer than {_NAME_MAX} characters')
    return registry, path


def parse_image_ref(ref):
    """Parse a reference string into its normalised parts."""
    if not isinstance(ref, str):
        raise AnsibleFilterError(f'image reference {ref!r} has type {type(ref).__name__}; expected a string or a dict')
    text = ref.strip()
    if not text:
        raise AnsibleFilterError('image reference is empty; expected e.g. "registry.example.com/app:1.2@sha256:<64 hex>"')
    if any(ch.isspace() for ch in text):
        raise AnsibleFilterError(f'image reference {ref!r} contains whitespace')

    remainder, at, digest = text.partition('@')
    if at:
        if '@' in digest:
            raise AnsibleFilterError(f'image reference {ref!r} has more than one "@"; expected at most one digest')
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
        raise AnsibleFilterError(f'image reference dict key "{key}" is {value!r} ({type(value).__name__}); expected a string')
    return value


def compose_image_ref(parts):
    """Compose "registry/repository[:tag][@digest]" from a dict as image_ref returns it."""
    unknown = sorted(set(parts) - _DICT_KEYS)
    if unknown:
        # A typo such as "digests" would otherwise silently drop the pin.
        raise AnsibleFilterError(
            f'image reference dict has unknown key(s) {unknown}; allowed keys are {sorted(_DICT_KEYS)}')

    registry = _text_field(parts, 'registry')
    repository = _text_field(parts, 'repository')
    name = _text_field(parts, 'name')
    for label, value in (('repository', repository), ('name', name)):
        if value is not None and ('@' in value or value.rfind(':') > value.rfind('/')):
            raise AnsibleFilterError(
                f'{label} {value!r} carries a tag or digest; put them in the "tag" and "digest" keys')

    if repository is not None:
        if registry is not None:
            # An explicit registry is taken as given, even a bare host name without dots.
            registry, repository = _normalise(registry, repository, f'{registry}/{repository}')
        else:
            registry, repository = _split_name(repository, repository)
        if name is not None and _split_name(name, name) != (registry, repository):
            raise AnsibleFilterError(
                f'image reference dict disagrees with itself: name {name!r} vs registry/repository '
                f'{registry + "/" + repository!r}; drop one of them')
    elif name is not None:
        if registry is not None:
            raise AnsibleFilterError('image reference dict has both "registry" and "name"; use "registry" with "repository"')
        registry, repository = _split_name(name, name)
    else:
        raise AnsibleFilterError(
            f'image reference dict {dict(parts)!r} needs "repository" (optionally with "registry") or "name"')

    ref = f'{registry}/{repository}'
    tag = _text_field(parts, 'tag')
    if tag is not None:
        ref += ':' + _check_tag(tag)
    digest = _text_field(parts, 'digest')
    if digest is not None:
        ref += '@' + _check_digest(digest)
    return ref


def image_ref(value):
    """Parse a reference string into a dict, or compose a dict back into a string."""
    if isinstance(value, dict):
        return compose_image_ref(value)
    return parse_image_ref(value)


def image_pin(ref, digest):
    """Return `ref` pinned to `digest`, keeping its tag; an existing digest is replaced."""
    parts = parse_image_ref(ref) if not isinstance(ref, dict) else parse_image_ref(compose_image_ref(ref))
    if isinstance(digest, str) and '@' in digest:
        # Accept a RepoDigests entry ("name@sha256:..."), but only for the same image.
        other = parse_image_ref(digest)
        if other['name'] != parts['name']:
            raise AnsibleFilterError(
                f'digest {digest!r} belongs to {other["name"]!r}, not to {parts["name"]!r}; pass the bare "sha256:..." '
                f'digest if the image really was pushed under another name')
        digest = other['digest']
    _check_digest(digest)
    parts['digest'] = digest
    parts['pinned'] = True
    return compose_image_ref(parts)


class FilterModule:
    """Container image reference filters."""

    def filters(self):
        return {
            'image_ref': image_ref,
            'image_pin': image_pin,
        }
