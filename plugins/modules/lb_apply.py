#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_apply
short_description: Drain or put back a fleet's app hosts at its nginx load balancer, checked by nginx first
version_added: 0.1.0
description:
  - Works out the drained set this call leaves (the one in C(drained.json) in O(dir), with O(drain), less
    O(undrain)), renders C(nginx.conf) with the drained hosts listed as C(down), has nginx check the candidate,
    then replaces C(nginx.conf) and C(drained.json) and reloads nginx gracefully (old workers finish their
    in-flight requests).
  - nginx checks the candidate in the running load balancer (O(name)) when it runs O(image) with O(dir) mounted,
    else in a throwaway container of O(image). A config nginx rejects never lands in O(dir), where a restarted or
    recreated container would read it.
  - Refuses a drain that would leave no host in rotation, or, with O(drain_keep_serving), skips it (those hosts
    keep serving through their own rolling switch).
  - Starts no container; the role runs M(community.docker.docker_container) after this module, which starts or
    recreates the load balancer with what this module wrote.
  - Why not M(ansible.builtin.template) and M(ansible.builtin.copy)? The role did this in ten tasks (six module
    runs and a throwaway container per call), and a fleet's rollout calls it twice per batch; no well-kept
    collection manages nginx upstreams (M(community.general.nginx_status_info) only reads status).
author:
  - AI Shield SRE (@aishield)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Works out and shows the change; nginx checks nothing and nothing is written or reloaded.
  diff_mode:
    support: full
    details:
      - The diffs of C(nginx.conf) and C(drained.json).
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    platforms: posix
options:
  name:
    description: The load balancer's container name.
    type: str
    default: aishield-lb
  image:
    description: An image with nginx (the stack's proxy image); nginx from it checks the candidate.
    type: str
    required: true
  dir:
    description: The directory on the host for C(nginx.conf) and C(drained.json), mounted at C(/etc/aishield-lb).
    type: path
    required: true
  port:
    description: The load balancer's published port, checked with the other inputs before anything is written.
    type: raw
    default: 80
  backends:
    description: The app hosts, each V({name, address, port}); name is the inventory host name.
    type: list
    elements: dict
    required: true
  drain:
    description: Hosts (by name) to take out of rotation.
    type: list
    elements: str
    default: []
  undrain:
    description: Hosts (by name) to put back in rotation.
    type: list
    elements: str
    default: []
  drain_keep_serving:
    description: When the drain would leave no host in rotation, skip it instead of failing.
    type: bool
    default: false
seealso:
  - module: community.docker.docker_container
"""

EXAMPLES = r"""
- name: Drain app1
  aishield.ops.lb_apply:
    image: registry.example.com/aishield/proxy:v1
    dir: /opt/aishield-lb
    backends: [{name: app1, address: 10.0.0.11, port: 8000}, {name: app2, address: 10.0.0.12, port: 8000}]
    drain: [app1]
"""

RETURN = r"""
drained:
  description: The hosts drained after this call, sorted.
  returned: always
  type: list
  elements: str
newly_drained:
  description: The hosts this call took out of rotation (the caller waits for their in-flight requests).
  returned: always
  type: list
  elements: str
kept_serving:
  description: Hosts asked to drain but kept serving, the last in rotation (O(drain_keep_serving)).
  returned: always
  type: list
  elements: str
reloaded:
  description: Whether the running nginx was reloaded with the new configuration.
  returned: always
  type: bool
message:
  description: Who is in rotation and who is drained, in one line.
  returned: always
  type: str
  sample: "Load balancer aishield-lb: in rotation app2; drained app1."
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aishield.ops.plugins.module_utils._lb import (
    check_inputs, plan_drained, render_nginx_conf, resolves_names, rotation_message)
from ansible_collections.aishield.ops.plugins.module_utils._release import write_atomic

MOUNT = '/etc/aishield-lb'
CANDIDATE = '.nginx.conf.candidate'


def read_text(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def container_state(module, name):
    """(running, image, source of the MOUNT mount) of the container, or (False, '', '') when there is none."""
    fmt = '{{.State.Running}}|{{.Config.Image}}|{{range .Mounts}}{{if eq .Destination "%s"}}{{.Source}}{{end}}{{end}}' % MOUNT
    rc, out, _err = module.run_command(['docker', 'inspect', '--type', 'container', '-f', fmt, name])
    if rc != 0:
        return False, '', ''
    running, image, source = (out.strip().split('|') + ['', '', ''])[:3]
    return running == 'true', image, source


def nginx_check(module, p, candidate, in_container):
    """(rc, output) of nginx -t on the candidate: in the running load balancer, or in a throwaway container."""
    if in_container:
        argv = ['docker', 'exec', p['name'], 'nginx', '-t', '-q', '-c', '%s/%s' % (MOUNT, CANDIDATE)]
    else:
        # With only IP addresses nginx resolves nothing, so it needs no network.
        network = [] if resolves_names(p['backends']) else ['--network', 'none']
        argv = (['docker', 'run', '--rm', '--user', '0'] + network
                + ['-v', '%s:%s/nginx.conf:ro' % (candidate, MOUNT), p['image'], 'nginx', '-t', '-q', '-c', MOUNT + '/nginx.conf'])
    rc, out, err = module.run_command(argv)
    return rc, (err or out).strip()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', default='aishield-lb'),
            image=dict(type='str', required=True),
            dir=dict(type='path', required=True),
            port=dict(type='raw', default=80),
            backends=dict(type='list', elements='dict', required=True),
            drain=dict(type='list', elements='str', default=[]),
            undrain=dict(type='list', elements='str', default=[]),
            drain_keep_serving=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problem = check_inputs(p['image'], p['backends'], p['port'], p['drain'], p['undrain'])
    if problem:
        module.fail_json(msg=problem)
    directory = p['dir']
    conf_path, drained_path = os.path.join(directory, 'nginx.conf'), os.path.join(directory, 'drained.json')

    drained_text_before = read_text(drained_path)
    try:
        before = json.loads(drained_text_before) if drained_text_before is not None else []
        if not isinstance(before, list):
            raise ValueError('not a list')
    except ValueError as e:
        module.fail_json(msg='%s is not the JSON list of drained hosts this module writes (%s): fix or remove it; '
                             'nothing was changed' % (drained_path, e))
    names = [str(b['name']) for b in p['backends']]
    drained, kept_serving, refused = plan_drained(before, p['drain'], p['undrain'], names, p['drain_keep_serving'])
    if refused:
        module.fail_json(msg=refused)

    conf_before = read_text(conf_path)
    conf = render_nginx_conf(p['backends'], drained)
    drained_text = json.dumps(drained) + '\n'
    make_dir = not os.path.isdir(directory)
    fix_dir = not make_dir and stat.S_IMODE(os.stat(directory).st_mode) != 0o755
    conf_changed, drained_changed = conf != conf_before, drained_text != drained_text_before
    result = dict(
        changed=make_dir or fix_dir or conf_changed or drained_changed,
        drained=drained, newly_drained=sorted(set(drained) - set(before)), kept_serving=kept_serving, reloaded=False,
        message=rotation_message(p['name'], p['backends'], drained, kept_serving))
    if module._diff:
        result['diff'] = [
            {'before_header': conf_path, 'after_header': conf_path, 'before': conf_before or '', 'after': conf},
            {'before_header': drained_path, 'after_header': drained_path, 'before': drained_text_before or '',
             'after': drained_text}]
    if module.check_mode or not result['changed']:
        module.exit_json(**result)

    if make_dir:
        os.makedirs(directory, exist_ok=True)
    if make_dir or fix_dir:
        os.chmod(directory, 0o755)
    running, image, source = container_state(module, p['name'])
    serving_here = running and image == p['image'] and os.path.realpath(source or '/nonexistent') == os.path.realpath(directory)
    if conf_changed:
        candidate = os.path.join(directory, CANDIDATE)
        write_atomic(candidate, conf, 0o644)
        rc, output = nginx_check(module, p, candidate, serving_here)
        if rc != 0:
            os.unlink(candidate)
            module.fail_json(
                msg='the new nginx.conf failed its check (nginx -t in %s): %s and drained.json were left as they were '
                    'and the running nginx keeps its configuration. %s' % (p['image'], conf_path, output), **result)
        os.replace(candidate, conf_path)
    if drained_changed:
        write_atomic(drained_path, drained_text, 0o644)
    if conf_changed and running:
        rc, out, err = module.run_command(['docker', 'exec', p['name'], 'nginx', '-s', 'reload', '-c', MOUNT + '/nginx.conf'])
        if rc != 0:
            module.fail_json(msg='nginx in %s did not reload the new nginx.conf (it is in %s): %s'
                                 % (p['name'], directory, (err or out).strip()), **result)
        result['reloaded'] = True
    module.exit_json(**result)


if __name__ == '__main__':
    main()
