#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ecr_login
short_description: Get an Amazon ECR registry login for M(community.docker.docker_login)
version_added: 0.1.0
description:
  - Calls ECR C(GetAuthorizationToken) with boto3 and returns the registry host, user name and
    password, decoded and ready for M(community.docker.docker_login).
  - Why a module? Neither amazon.aws (10.x) nor community.aws (10.x) has one that returns ECR
    login credentials; M(community.aws.ecs_ecr) only manages repositories. The usual workaround
    is C(aws ecr get-login-password) in a shell task, which needs the AWS CLI on the host and
    puts the token in a registered stdout.
  - "The password is returned in clear only when the task has C(no_log: true): Ansible then hides
    the whole result from output and logs, while the registered variable keeps the value for
    M(community.docker.docker_login). Without C(no_log), the module adds the password to its
    no-log values, so Ansible replaces it with C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER) in the result
    and a warning says to set C(no_log: true). A module cannot hide a single return value from
    output and still hand it on to the next task."
extends_documentation_fragment:
  - aishield.ops.s3.connection
options:
  registry_ids:
    description:
      - AWS account ids of the registries to get logins for. The caller's own registry when empty.
      - RV(registry), RV(username), RV(password) and RV(expires_at) describe the first; RV(registries) has all.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details:
      - The module changes nothing, so check mode fetches a real token too.
  diff_mode:
    description: Will return details on what has changed when in diff mode.
    support: N/A
    details:
      - The module changes nothing.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
    details:
      - Always C(changed=false); each run fetches a fresh token (valid for 12 hours).
notes:
  - The caller needs the IAM permission C(ecr:GetAuthorizationToken).
requirements:
  - boto3
seealso:
  - module: community.docker.docker_login
  - module: community.aws.ecs_ecr
  - name: GetAuthorizationToken API
    description: ECR API reference for the call this module makes.
    link: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html
author:
  - AI Shield SRE (@aishield)
"""

EXAMPLES = r"""
- name: Get an ECR login
  aishield.ops.ecr_login:
    region: eu-west-1
  register: __ecr
  no_log: true

- name: Log the Docker daemon in to ECR
  community.docker.docker_login:
    registry_url: "{{ __ecr.registry }}"
    username: "{{ __ecr.username }}"
    password: "{{ __ecr.password }}"
  no_log: true

- name: Get logins for two accounts' registries
  aishield.ops.ecr_login:
    region: eu-west-1
    registry_ids:
      - "123456789012"
      - "210987654321"
  register: __ecr_all
  no_log: true
"""

RETURN = r"""
registry:
  description: Registry host of the first login, without scheme, as M(community.docker.docker_login) and image names use it.
  returned: success
  type: str
  sample: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
proxy_endpoint:
  description: Registry URL of the first login, with scheme, as ECR returns it.
  returned: success
  type: str
  sample: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com
username:
  description: User name of the first login (always C(AWS) on ECR).
  returned: success
  type: str
  sample: AWS
password:
  description:
    - Password of the first login. In clear only when the task has C(no_log=true);
      C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER) otherwise.
  returned: success
  type: str
  sample: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER
expires_at:
  description: When the first login expires (UTC, ISO 8601).
  returned: success
  type: str
  sample: "2025-02-01T11:59:59Z"
registries:
  description: Every login returned, in the order ECR gave them.
  returned: success
  type: list
  elements: dict
  contains:
    registry:
      description: Registry host without scheme.
      type: str
    proxy_endpoint:
      description: Registry URL with scheme.
      type: str
    username:
      description: User name.
      type: str
    password:
      description: Password, masked unless the task has C(no_log=true).
      type: str
    expires_at:
      description: Expiry (UTC, ISO 8601).
      type: str
  sample:
    - registry: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
      proxy_endpoint: https://123456789012.dkr.ecr.eu-west-1.amazonaws.com
      username: AWS
      password: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER
      expires_at: "2025-02-01T11:59:59Z"
"""

import base64
import binascii
import datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.aishield.ops.plugins.module_utils._s3 import (
    AWS_REQUIRED_TOGETHER,
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    BotoCoreError,
    ClientError,
    aws_client,
    aws_connection_argument_spec,
    error_text,
)


def decode_login(entry):
    """Turn one authorizationData entry into a login dict; raises ValueError on a malformed token."""
    try:
        token = base64.b64decode(entry['authorizationToken'], validate=True).decode('utf-8')
    except (KeyError, binascii.Error, UnicodeDecodeError) as e:
        raise ValueError('ECR returned an unreadable authorization token (%s)' % type(e).__name__) from None
    username, sep, password = token.partition(':')
    if not sep or not username or not password:
        raise ValueError('ECR returned an authorization token that is not "user:password"')
    endpoint = entry.get('proxyEndpoint') or ''
    registry = endpoint.split('://', 1)[-1].rstrip('/')
    expires = entry.get('expiresAt')
    if isinstance(expires, datetime.datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.timezone.utc)
        expires = expires.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return dict(registry=registry, proxy_endpoint=endpoint, username=username, password=password,
                expires_at=expires)


class EcrLogin:
    def __init__(self, module):
        self.module = module

    def fetch(self):
        p = self.module.params
        try:
            client = aws_client('ecr', p, max_pool_connections=2, read_timeout=60)
            kwargs = {'registryIds': p['registry_ids']} if p['registry_ids'] else {}
            data = client.get_authorization_token(**kwargs).get('authorizationData') or []
        except (ClientError, BotoCoreError, ValueError) as e:
            self.module.fail_json(msg='ECR GetAuthorizationToken failed: %s' % error_text(e))
        if not data:
            self.module.fail_json(msg='ECR GetAuthorizationToken returned no authorization data')
        try:
            return [decode_login(entry) for entry in data]
        except ValueError as e:
            self.module.fail_json(msg=str(e))

    def run(self):
        logins = self.fetch()
        if not self.module.no_log:
            # Masks the value everywhere in the result, including the registered variable.
            for login in logins:
                self.module.no_log_values.add(login['password'])
            self.module.warn('ecr_login returns the registry password only to tasks with no_log: true; '
                             'without it the password is masked and cannot be used for docker_login')
        first = logins[0]
        self.module.exit_json(changed=False, registries=logins, **first)


def main():
    argument_spec = aws_connection_argument_spec()
    argument_spec.update(registry_ids=dict(type='list', elements='str', default=[]))
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_together=AWS_REQUIRED_TOGETHER,
    )
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib('boto3'), exception=BOTO3_IMPORT_ERROR)
    EcrLogin(module).run()


if __name__ == '__main__':
    main()
