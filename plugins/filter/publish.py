# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""image_publish: what to build and tag, which tags to push, and the digests the registry ends up serving."""

from __future__ import annotations

import os
import re

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


def publish_plan(images, registry, context, build_args=None):
    """One entry per image: its repository under the registry, an absolute build context, a Dockerfile and build args.

    build_args are the args of every image; an image's own build_args override them.
    """
    if build_args is not None and not isinstance(build_args, dict):
        raise AnsibleFilterError(f'image_publish_build_args must be a dict, got {type(build_args).__name__}')
    plan = []
    for index, image in enumerate(_list(images, 'image_publish_images'), 1):
        if not isinstance(image, dict) or 'name' not in image:
            raise AnsibleFilterError(f'image_publish_images entry #{index} must be a dict with at least a name '
                                     f'(and context, dockerfile, build_args), got {image!r:.200}')
        # An empty or null optional key means its default, as the role's documentation says.
        subdir = image.get('context') or '.'
        if not isinstance(subdir, str):
            raise AnsibleFilterError(f"image_publish_images entry {image['name']!r}: context must be a path, got {subdir!r}")
        own_args = image.get('build_args') or {}
        if not isinstance(own_args, dict):
            raise AnsibleFilterError(f"image_publish_images entry {image['name']!r}: build_args must be a dict, got {own_args!r:.200}")
        plan.append({'name': image['name'],
                     'repository': f"{registry}/{image['name']}",
                     'context': os.path.join(context, subdir),
                     'dockerfile': image.get('dockerfile') or 'Dockerfile',
                     'build_args': dict(build_args or {}, **own_args)})
    return plan


# BuildKit reads a secret id as a CSV field of --secret and mounts it at /run/secrets/<id>.
_SECRET_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$')
REDACTED = '********'


def publish_secret_errors(secrets):
    """What is wrong with image_publish_build_secrets, one message per problem; never a secret's value."""
    if not isinstance(secrets, (list, tuple)):
        return [f'must be a list of {{id, value}} or {{id, src}}, got {type(secrets).__name__}']
    errors = []
    seen = set()
    for index, secret in enumerate(secrets, 1):
        if not isinstance(secret, dict):
            errors.append(f'entry #{index} must be a dict, got {type(secret).__name__}')
            continue
        sid = secret.get('id')
        name = f'entry #{index} ({sid!r})' if isinstance(sid, str) else f'entry #{index}'
        if not isinstance(sid, str) or not _SECRET_ID.match(sid):
            errors.append(f'{name}: id must be letters, digits, _ . - (it names /run/secrets/<id>)')
        elif sid in seen:
            errors.append(f'{name}: id is used twice')
        else:
            seen.add(sid)
        value, src = secret.get('value'), secret.get('src')
        given = [key for key in ('value', 'src') if secret.get(key) not in (None, '')]
        if len(given) != 1:
            errors.append(f'{name}: set exactly one of value (the secret, from a vault) and src (a file on the build host)')
        elif value not in (None, '') and not isinstance(value, str):
            errors.append(f'{name}: value must be a string, got {type(value).__name__}')
        elif src not in (None, '') and (not isinstance(src, str) or not src.startswith('/') or any(c in src for c in ',"\n')):
            errors.append(f'{name}: src must be an absolute path without commas, quotes or newlines')
        unknown = sorted(set(secret) - {'id', 'value', 'src'})
        if unknown:
            errors.append(f"{name}: unknown keys {', '.join(map(str, unknown))} (known: id, value, src)")
    return errors


def _secrets(secrets):
    errors = publish_secret_errors(secrets)
    if errors:
        raise AnsibleFilterError('image_publish_build_secrets: ' + '; '.join(errors))
    return secrets


def publish_secret_values(secrets):
    """The values of the secrets given as value, to redact from build output."""
    return [s['value'] for s in _secrets(secrets) if s.get('value') not in (None, '')]


def publish_secret_files(secrets, directory):
    """{id, path, value} for each secret given as value: the file under directory that holds it during the build."""
    if not isinstance(directory, str) or not directory.startswith('/'):
        raise AnsibleFilterError(f'publish_secret_files needs an absolute directory, got {directory!r}')
    return [{'id': s['id'], 'path': os.path.join(directory, s['id']), 'value': s['value']}
            for s in _secrets(secrets) if s.get('value') not in (None, '')]


def publish_build_secrets(secrets, directory):
    """The secrets option of community.docker.docker_image_build: every secret as a file, none by value or environment.

    A value reaches BuildKit from its file in directory (see publish_secret_files), so it is on no command line and in
    no process environment, where `ps e` would show it.
    """
    files = {f['id']: f['path'] for f in publish_secret_files(secrets, directory)} if publish_secret_values(secrets) else {}
    return [{'id': s['id'], 'type': 'file', 'src': files.get(s['id']) or s['src']} for s in secrets]


def _mask_forms(values):
    """Each value, and each line of a multi-line one (BuildKit prints every output line behind its own step prefix)."""
    forms = set()
    for value in values:
        forms.add(value)
        forms.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 6)
    forms.discard('')
    return sorted(forms, key=len, reverse=True)


def _redact(text, forms):
    text = str(text)
    for form in forms:
        text = text.replace(form, REDACTED)
    return text


def publish_build_errors(failed, secret_values, lines=20):
    """The message of a failed build (the registered result, or a loop's), with each secret value masked.

    Each failed image gives its error and the last non-empty lines of the build output, where a Dockerfile step's errors are.
    """
    if not isinstance(failed, dict):
        raise AnsibleFilterError(f'publish_build_errors expects a task result (a dict), got {type(failed).__name__}')
    forms = _mask_forms([str(v) for v in _list(secret_values, 'secret_values') if v not in (None, '')])
    results = failed.get('results') if isinstance(failed.get('results'), list) else [failed]
    messages = []
    for result in results:
        if not isinstance(result, dict) or not result.get('failed'):
            continue
        item = result.get('item')
        what = item.get('repository', '?') if isinstance(item, dict) else 'the build'
        # Masked before it is cut into lines, so that a value spanning lines is still found whole.
        output = _redact(result.get('stderr') or result.get('stdout') or '', forms)
        tail = [line for line in output.splitlines() if line.strip()][-lines:]
        messages.append(f"{what}: {result.get('msg', 'failed')}" + ''.join('\n  ' + line for line in tail))
    if not messages:
        messages.append(str(failed.get('msg', 'the build failed')))
    return _redact('\n'.join(messages), forms)


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
            'publish_secret_errors': publish_secret_errors,
            'publish_secret_values': publish_secret_values,
            'publish_secret_files': publish_secret_files,
            'publish_build_secrets': publish_build_secrets,
            'publish_build_errors': publish_build_errors,
            'publish_refs': publish_refs,
            'publish_unreachable': publish_unreachable,
            'publish_pushes': publish_pushes,
            'publish_digests': publish_digests,
            'publish_result': publish_result,
            'publish_report_lines': publish_report_lines,
        }
