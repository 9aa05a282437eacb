# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parse, compose and pin container image references (the grammar lives in module_utils/_images.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.aishield.ops.plugins.module_utils._images import (
    ImageRefError,
    compose_image_ref as _compose_image_ref,
    parse_image_ref as _parse_image_ref,
    pin_image,
)


def parse_image_ref(ref):
    """Parse a reference string into its normalised parts."""
    try:
        return _parse_image_ref(ref)
    except ImageRefError as exc:
        raise AnsibleFilterError(str(exc)) from None


def compose_image_ref(parts):
    """Compose "registry/repository[:tag][@digest]" from a dict as image_ref returns it."""
    try:
        return _compose_image_ref(parts)
    except ImageRefError as exc:
        raise AnsibleFilterError(str(exc)) from None


def image_ref(value):
    """Parse a reference string into a dict, or compose a dict back into a string."""
    if isinstance(value, dict):
        return compose_image_ref(value)
    return parse_image_ref(value)


def image_pin(ref, digest):
    """Return `ref` pinned to `digest`, keeping its tag; an existing digest is replaced."""
    try:
        return pin_image(ref, digest)
    except ImageRefError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """Container image reference filters."""

    def filters(self):
        return {
            'image_ref': image_ref,
            'image_pin': image_pin,
        }
