# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet load balancer's pure logic: its inputs, the drained set a call leaves, and nginx.conf.

No I/O here: plugins/modules/lb_apply.py reads and writes the files and talks to the engine.
"""

from __future__ import annotations

import re

ADDRESS_RE = re.compile(r'^[A-Za-z0-9.:_-]+$')
IP_RE = re.compile(r'^[0-9.]+$')


def _port(value):
    """The port as an int, or None when it is not a whole number >= 1 (nginx judges the upper bound)."""
    if isinstance(value, bool):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if port >= 1 and str(port) == str(value).strip() else None


def check_inputs(image, backends, port, drain, undrain):
    """None when the inputs are usable, else the message that names the variables and what they must be."""
    ok = bool(image) and isinstance(backends, list) and len(backends) > 0
    names = []
    if ok:
        for backend in backends:
            if not isinstance(backend, dict) or 'name' not in backend or 'address' not in backend:
                ok = False
                break
            names.append(str(backend['name']))
            if not ADDRESS_RE.match(str(backend['address'])) or _port(backend.get('port', 80)) is None:
                ok = False
    lb_port = _port(port)
    ok = ok and lb_port is not None and lb_port <= 65535
    ok = ok and not set(list(drain) + list(undrain)) - set(names)
    if ok:
        return None
    shown = [b.get('name', '?') if isinstance(b, dict) else '?' for b in (backends if isinstance(backends, list) else [])]
    return ("lb_image must name the nginx image (aishield_lb_image, by default aishield_images.proxy), lb_backends must "
            "list every app host as {name, address, port} with a plain host name or IP address (the app group's hosts "
            "and their aishield_address), lb_port must be a port number, and lb_drain/lb_undrain may only name those "
            "hosts. Got image '%s', backends %s, port %s, drain %s, undrain %s."
            % (image, shown, port, list(drain), list(undrain)))


def plan_drained(before, drain, undrain, names, keep_serving):
    """(drained, kept_serving, error) after a call: the sorted drained set, the hosts left serving, or why it is refused.

    The set is what the last call left (before) with drain, less undrain, among the backends (names). A drain that
    would leave no host in rotation is refused, or, with keep_serving, skipped: those hosts stay in rotation.
    """
    names = set(names)
    kept = set(before) - set(undrain)
    drained, kept_serving = sorted(((set(before) | set(drain)) - set(undrain)) & names), []
    if keep_serving and names and len(drained) >= len(names):
        drained, kept_serving = sorted(kept & names), list(drain)
    if len(drained) >= len(names):
        return drained, [], ('Draining %s would leave no app host in rotation (drained: %s). Roll fewer hosts at a '
                             'time (aishield_serial) or put a host back first.' % (', '.join(drain), ', '.join(drained)))
    return drained, kept_serving, None


def resolves_names(backends):
    """Whether nginx must resolve a host name (an address that is neither an IPv4 address nor holds a colon)."""
    return any(not IP_RE.match(str(b['address'])) and ':' not in str(b['address']) for b in backends)


def render_nginx_conf(backends, drained):
    """nginx.conf for the backends, the drained ones listed as `down` (nginx sends them nothing)."""
    servers = []
    for backend in sorted(backends, key=lambda b: str(b['name'])):
        servers.append('        # %s\n        server %s:%s max_fails=1 fail_timeout=5s%s;\n'
                       % (backend['name'], backend['address'], backend.get('port', 80),
                          ' down' if backend['name'] in drained else ''))
    return (
        "# Managed by aishield.ops.lb_apply: changes here are replaced by the next call.\n"
        "# The fleet's load balancer. Drained hosts stay listed as `down`: nginx sends them nothing.\n"
        "daemon off;\n"
        "user www-data;\n"
        "worker_processes 1;\n"
        "pid /run/nginx-lb.pid;\n"
        "error_log /dev/stderr warn;\n"
        "\n"
        "events { worker_connections 1024; }\n"
        "\n"
        "http {\n"
        "    default_type application/json;\n"
        "    access_log off;\n"
        "    server_tokens off;\n"
        "    client_max_body_size 2m;\n"
        "\n"
        "    upstream aishield_app {\n"
        + ''.join(servers) +
        "        keepalive 16;\n"
        "    }\n"
        "\n"
        "    server {\n"
        "        listen 8080;\n"
        "\n"
        "        location = /lb-health {\n"
        "            default_type text/plain;\n"
        "            return 200 \"ok\\n\";\n"
        "        }\n"
        "\n"
        "        location / {\n"
        "            proxy_pass http://aishield_app;\n"
        "            # A host that refuses or times out (a dead engine) costs one retry on the next host.\n"
        "            proxy_connect_timeout 500ms;\n"
        "            proxy_read_timeout 60s;\n"
        "            proxy_next_upstream error timeout http_502 http_503;\n"
        "            proxy_next_upstream_tries 3;\n"
        "            proxy_http_version 1.1;\n"
        "            proxy_set_header Connection \"\";\n"
        "            proxy_set_header Host $host;\n"
        "            proxy_set_header X-Real-IP $remote_addr;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        }\n"
        "    }\n"
        "}\n"
    )


def rotation_message(name, backends, drained, kept_serving):
    """The one line a human reads after each call: who serves, who is drained."""
    serving = [str(b['name']) for b in backends if b['name'] not in drained]
    text = 'Load balancer %s: in rotation %s; drained %s.' % (name, ', '.join(serving), ', '.join(drained) or 'none')
    if kept_serving:
        text += ' Not drained: %s, the last in rotation (kept serving through its own rolling switch).' % ', '.join(kept_serving)
    return text
