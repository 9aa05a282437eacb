# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What compose_deploy hands to the next AWX workflow node (roles/compose_deploy/tasks/stats.yml), as
ansible-runner collects it: scalars from a single-host deploy, never strings added up across a fleet's hosts."""

from __future__ import annotations

import os
from pathlib import Path

import ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[3]


def _record(host, previous):
    return {'record': {'release_id': f'20260101T00000{host[-1]}Z-v2', 'version': 'v2', 'status': 'good',
                       'previous_release': previous, 'backup': {'key': f'backups/{host}.dump'}}}


def _artifacts(tmp_path, plays):
    """Run one play per (fleet role, hosts) pair, each host with its own recorded release; return the stats."""
    hosts = [host for _role, names in plays for host in names]
    inventory = {'all': {'hosts': {host: {'ansible_connection': 'local', 'ansible_python_interpreter': str(Path(os.sys.executable)),
                                          'compose_deploy_recorded': _record(host, f'20251231T00000{host[-1]}Z-v1')}
                                   for host in hosts}}}
    playbook = [{'name': f'part {role or "whole"}', 'hosts': ':'.join(names), 'gather_facts': False,
                 'tasks': [{'ansible.builtin.include_role': {'name': 'aishield.ops.compose_deploy', 'tasks_from': 'stats'},
                            'vars': {'compose_deploy_fleet_role': role}}]}
                for role, names in plays]
    (tmp_path / 'project').mkdir()
    (tmp_path / 'project' / 'stats.yml').write_text(yaml.safe_dump(playbook))
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    run = ansible_runner.run(private_data_dir=str(tmp_path), playbook='stats.yml', inventory=str(tmp_path / 'inventory.yml'),
                             quiet=True, envvars={'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'),
                                                  'ANSIBLE_COLLECTIONS_PATH': str(REPO / '.collections')})
    assert run.rc == 0, ''.join(event.get('stdout', '') for event in run.events)
    return next(event['event_data'] for event in run.events if event['event'] == 'playbook_on_stats')['artifact_data']


def test_a_single_host_deploy_hands_over_its_release(tmp_path):
    stats = _artifacts(tmp_path, [('', ['host1', 'host2'])])
    assert set(stats['aishield_releases']) == {'host1', 'host2'}
    # The first host's release, not the two added up.
    assert stats['aishield_release_id'] == '20260101T000001Z-v2'
    assert stats['aishield_previous_release'] == stats['aishield_rollback_to'] == '20251231T000001Z-v1'
    assert stats['aishield_backup_key'] == 'backups/host1.dump'


def test_a_fleets_hosts_add_no_scalars_up(tmp_path):
    stats = _artifacts(tmp_path, [('db', ['db1']), ('app', ['app1', 'app2'])])
    assert set(stats['aishield_releases']) == {'db1', 'app1', 'app2'}
    assert stats['aishield_releases']['app2']['aishield_previous_release'] == '20251231T000002Z-v1'
    # The fleet run's end hands over the fleet's own (deploy_multihost.yml, fleet_end_stats).
    for key in ('aishield_release_id', 'aishield_previous_release', 'aishield_rollback_to', 'aishield_backup_key'):
        assert key not in stats, (key, stats[key])
