# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""image_publish: what to build and tag, which tags to push, and the digests the registry ends up serving."""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.filter.image import image_pin


def _list(value, what):
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError(f'{what} must be a list, got {type(value).__name__}')
    return value


def _ref_item(result, what):
    """The {repository, tag} a registry lookup was made for (the loop item of its result)."""
    item = result.get('item') if isinstance(result, dict) else None
    if not isinstance(item, dict) or 'repository' not in item or 'tag' not in item:
        raise AnsibleFilterError(f'{what} expects the results of a loop over image references, each with item.repository '
                                 f'and item.tag; got {result!r:.200}')
    return item


def _plan(plan, what):
    for image in _list(plan, f'{what} input (the publish plan)'):
        if not isinstance(image, dict) or 'name' not in image or 'repository' not in image:
            raise AnsibleFilterError(f'{what} expects the plan as publish_plan returns it, got an entry {image!r:.200}')
    return plan


def _descriptor_digest(result):
    """The digest in a GET /distribution/<ref>/json answer, or None."""
    body = result.get('json')
    descriptor = body.get('Descriptor') if isinstance(body, dict) else None
    return descriptor.get('digest') if isinstance(descriptor, dict) else None


def publish_plan(images, registry, context):
    """One entry per image: its repository under the registry, an absolute build context, a Dockerfile and build args."""
    plan = []
    for index, image in enumerate(_list(images, 'image_publish_images'), 1):
        if not isinstance(image, dict) or 'name' not in image:
            raise AnsibleFilterError(f'image_publish_images entry #{index} must be a dict with at least a name '
                                     f'(and context, dockerfile, build_args), got {image!r:.200}')
        # An empty or null optional key means its default, as the role's documentation says.
        subdir = image.get('context') or '.'
        if not isinstance(subdir, str):
            raise AnsibleFilterError(f"image_publish_images entry {image['name']!r}: context must be a path, got {subdir!r}")
        plan.append({'name': image['name'],
                     'repository': f"{registry}/{image['name']}",
                     'context': os.path.join(context, subdir),
                     'dockerfile': image.get('dockerfile') or 'Dockerfile',
                     'build_args': image.get('build_args') or {}})
    return plan


def publish_refs(plan, tags):
    """One {name, repository, tag} per image and tag, image by image."""
    refs = []
    for image in _plan(plan, 'publish_refs'):
        refs.extend({'name': image['name'], 'repository': image['repository'], 'tag': tag} for tag in _list(tags, 'tags'))
    return refs


def publish_unreachable(results):
    """'repository:tag (reason)' for each lookup the registry answered with neither 200 (found) nor 404 (no such tag)."""
    out = []
    for result in _list(results, 'publish_unreachable input (the registry lookup results)'):
        item = _ref_item(result, 'publish_unreachable')
        if result.get('status', -1) in (200, 404):
            continue
        body = result.get('json')
        reason = body['message'] if isinstance(body, dict) and 'message' in body else result.get('msg', '?')
        out.append(f"{item['repository']}:{item['tag']} ({reason})")
    return out


def publish_pushes(results, local_digests, local_tags, sha):
    """The lookups' items whose tag must be pushed, each with local: whether the commit-tagged image is on this host.

    A tag is pushed unless the registry already serves, at that tag, a digest this build host pushed for the image.
    """
    local_digests = _list(local_digests, 'local_digests')
    local_tags = _list(local_tags, 'local_tags')
    pushes = []
    for result in _list(results, 'publish_pushes input (the registry lookup results)'):
        item = _ref_item(result, 'publish_pushes')
        remote = (_descriptor_digest(result) or '') if result.get('status', -1) == 200 else ''
        if not remote or f"{item['repository']}@{remote}" not in local_digests:
            pushes.append(dict(item, local=f"{item['repository']}:{sha}" in local_tags))
    return pushes


def publish_digests(remote, pushed, pushes):
    """repository:tag -> digest: tags not pushed as looked up before the push, pushed tags as read back after it."""
    push_refs = [f"{p['repository']}:{p['tag']}" for p in _list(pushes, 'pushes')]
    digests = {}
    for result in list(_list(remote, 'publish_digests input (the lookups before the push)')) + list(_list(pushed, 'pushed')):
        item = result.get('item') if isinstance(result, dict) else None
        item = item if isinstance(item, dict) else {}
        ref = f"{item.get('repository', '')}:{item.get('tag', '')}"
        # Only items from the pushes carry 'local': those are the answers read back after pushing.
        if result.get('status', -1) == 200 and ('local' in item or ref not in push_refs):
            digest = _descriptor_digest(result)
            if digest is None:
                raise AnsibleFilterError(f'the lookup of {ref} answered 200 without Descriptor.digest; check that '
                                         f'image_publish_docker_socket is a Docker Engine socket')
            digests[ref] = digest
    return digests


def publish_result(plan, tags, version, digests, pushes):
    """Per image name: ref (version tag pinned to its digest), digest, tags, tag_digests and the tags pushed."""
    tags = _list(tags, 'tags')
    if not tags:
        raise AnsibleFilterError('publish_result needs at least one tag (the version)')
    if not isinstance(digests, dict):
        raise AnsibleFilterError(f'digests must be a dict of repository:tag -> digest, got {type(digests).__name__}')
    pushes = _list(pushes, 'pushes')
    result = {}
    for image in _plan(plan, 'publish_result'):
        tag_digests = [digests.get(f"{image['repository']}:{tag}", '') for tag in tags]
        primary = f"{image['repository']}:{version}"
        digest = tag_digests[0]
        result[image['name']] = {
            'ref': image_pin(primary, digest) if digest else primary,
            'digest': digest,
            'tags': tags,
            'tag_digests': tag_digests,
            'pushed': [p['tag'] for p in pushes if p['name'] == image['name']],
        }
    return result


def publish_report_lines(result, check_mode):
    """One aligned line per image: name, reference, tags and what was (or in check mode would be) pushed."""
    if not isinstance(result, dict):
        raise AnsibleFilterError(f'publish_report_lines expects the dict publish_result returns, got {type(result).__name__}')
    lines = []
    for name, image in result.items():
        if image['pushed']:
            action = ('would push ' if check_mode else 'pushed ') + ','.join(str(tag) for tag in image['pushed'])
        else:
            action = 'unchanged'
        lines.append('%-20s %s  [%s]  %s' % (name, image['ref'], ','.join(str(tag) for tag in image['tags']), action))
    return lines


class FilterModule(object):
    """image_publish filters."""

    def filters(self):
        return {
            'publish_plan': publish_plan,
            'publish_refs': publish_refs,
            'publish_unreachable': publish_unreachable,
            'publish_pushes': publish_pushes,
            'publish_digests': publish_digests,
            'publish_result': publish_result,
            'publish_report_lines': publish_report_lines,
        }
