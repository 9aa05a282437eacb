# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet-wide values: the load balancer's backends, and a release's images as the hosts pull them."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
# Jinja's own int filter: a port reads as the `| int` it replaces did (not a number gives 0, which the lb role refuses).
from jinja2.filters import do_int

from ansible_collections.aishield.ops.plugins.filter.image import parse_image_ref


def fleet_lb_backends(hosts, hostvars, address_var='aishield_address', port_var='aishield_http_port', default_port=8000):
    """One {name, address, port} per host: the address and API port from its variables, else its name and default_port."""
    if isinstance(hosts, str) or not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError(f'fleet_lb_backends expects a list of host names (such as groups.app), got {hosts!r:.100}')
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f'fleet_lb_backends needs hostvars as its first argument, got {type(hostvars).__name__}')
    backends = []
    for name in hosts:
        if name not in hostvars:
            raise AnsibleFilterError(f'fleet_lb_backends: host {name!r} is not in the inventory (no hostvars)')
        # hostvars templates each variable on access, in that host's context.
        host = hostvars[name]
        backends.append({'name': name,
                         'address': host[address_var] if address_var in host else name,
                         'port': do_int(host[port_var] if port_var in host else default_port)})
    return backends


def fleet_digest_refs(images):
    """Each service's image as name@digest (the tag dropped); a reference without a digest stays as it is."""
    if not isinstance(images, Mapping):
        raise AnsibleFilterError(f'fleet_digest_refs expects a dict of service -> image reference (a release record\'s images), '
                                 f'got {type(images).__name__}')
    refs = {}
    for service, ref in images.items():
        if not isinstance(ref, str):
            raise AnsibleFilterError(f'the image of {service!r} must be a reference string such as '
                                     f'"registry.example.com/app:1.4@sha256:<64 hex>", got {ref!r:.100}')
        parsed = parse_image_ref(ref)
        refs[service] = f"{parsed['name']}@{parsed['digest']}" if parsed['digest'] else ref
    return refs


class FilterModule(object):
    """Fleet filters."""

    def filters(self):
        return {
            'fleet_lb_backends': fleet_lb_backends,
            'fleet_digest_refs': fleet_digest_refs,
        }
