# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64
import datetime
import json

import pytest
from botocore.exceptions import ClientError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aishield.ops.plugins.modules import ecr_login
from ansible_collections.aishield.ops.plugins.modules.ecr_login import decode_login

PASSWORD = 'eyJwYXlsb2FkIjoiZmFrZSJ9-very-long-token'


def entry(account='123456789012', password=PASSWORD, user='AWS'):
    return {
        'authorizationToken': base64.b64encode(('%s:%s' % (user, password)).encode()).decode(),
        'expiresAt': datetime.datetime(2025, 2, 1, 11, 59, 59, tzinfo=datetime.timezone.utc),
        'proxyEndpoint': 'https://%s.dkr.ecr.eu-west-1.amazonaws.com' % account,
    }


class FakeEcr:
    def __init__(self, data=None, error=None):
        self.data = data
        self.error = error
        self.kwargs = None

    def get_authorization_token(self, **kwargs):
        self.kwargs = kwargs
        if self.error:
            raise self.error
        return {'authorizationData': self.data}


def run(args, capsys, monkeypatch, fake):
    monkeypatch.setattr(ecr_login, 'aws_client', lambda *a, **k: fake)
    with patch_module_args(dict(region='eu-west-1', **args)):
        with pytest.raises(SystemExit):
            ecr_login.main()
    out = capsys.readouterr().out
    return json.loads(out), out


def test_decode_login():
    login = decode_login(entry())
    assert login == {'registry': '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
                     'proxy_endpoint': 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
                     'username': 'AWS', 'password': PASSWORD, 'expires_at': '2025-02-01T11:59:59Z'}


def test_decode_login_keeps_colons_in_the_password():
    assert decode_login(entry(password='a:b:c'))['password'] == 'a:b:c'


@pytest.mark.parametrize('token', ['not base64!', base64.b64encode(b'no-colon').decode(),
                                   base64.b64encode(b'AWS:').decode(), base64.b64encode(b'\xff\xfe').decode()])
def test_decode_login_rejects_garbage(token):
    with pytest.raises(ValueError) as info:
        decode_login({'authorizationToken': token, 'proxyEndpoint': 'https://x'})
    assert 'AWS' not in str(info.value) or 'AWS:' not in str(info.value)


def test_no_log_task_gets_the_password(capsys, monkeypatch):
    fake = FakeEcr([entry()])
    result, _out = run(dict(_ansible_no_log=True), capsys, monkeypatch, fake)
    assert result['password'] == PASSWORD and result['username'] == 'AWS'
    assert result['registry'] == '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
    assert result['changed'] is False and 'warnings' not in result
    assert fake.kwargs == {}


def test_without_no_log_the_password_is_masked_and_warned(capsys, monkeypatch):
    # Once controller code is imported (other tests do), Ansible routes warnings to its
    # display instead of the result, so capture them at the module's warn() boundary.
    warned = []
    monkeypatch.setattr(AnsibleModule, 'warn', lambda self, msg: warned.append(msg))
    result, out = run({}, capsys, monkeypatch, FakeEcr([entry()]))
    assert PASSWORD not in out
    assert result['password'] != PASSWORD and result['registries'][0]['password'] != PASSWORD
    assert result['registry'] == '123456789012.dkr.ecr.eu-west-1.amazonaws.com'
    assert 'no_log: true' in json.dumps(warned)


def test_registry_ids_and_several_logins(capsys, monkeypatch):
    fake = FakeEcr([entry('111111111111', 'p1-secret'), entry('222222222222', 'p2-secret')])
    result, out = run(dict(registry_ids=['111111111111', '222222222222']), capsys, monkeypatch, fake)
    assert fake.kwargs == {'registryIds': ['111111111111', '222222222222']}
    assert [r['registry'].split('.')[0] for r in result['registries']] == ['111111111111', '222222222222']
    assert 'p1-secret' not in out and 'p2-secret' not in out


def test_check_mode_still_fetches(capsys, monkeypatch):
    fake = FakeEcr([entry()])
    result, _out = run(dict(_ansible_check_mode=True, _ansible_no_log=True), capsys, monkeypatch, fake)
    assert result['password'] == PASSWORD and fake.kwargs == {}


def test_api_errors_fail_clearly(capsys, monkeypatch):
    err = ClientError({'Error': {'Code': 'AccessDeniedException', 'Message': 'not allowed'}}, 'GetAuthorizationToken')
    result, _out = run({}, capsys, monkeypatch, FakeEcr(error=err))
    assert result['failed'] and 'AccessDeniedException' in result['msg']
    result, _out = run({}, capsys, monkeypatch, FakeEcr([]))
    assert result['failed'] and 'no authorization data' in result['msg']


def test_secret_options_are_not_echoed(capsys, monkeypatch):
    result, out = run(dict(access_key='AKIDEXAMPLE', secret_key='wJalrXUtnFEMI-example', session_token='tok-example'),
                      capsys, monkeypatch, FakeEcr([entry()]))
    assert 'wJalrXUtnFEMI-example' not in out and 'tok-example' not in out
