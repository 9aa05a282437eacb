# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # aishield.ops.s3: matches s3_argument_spec() in module_utils/_s3.py.
    DOCUMENTATION = r"""
options:
  bucket:
    description:
      - Name of the S3 bucket.
    type: str
  endpoint_url:
    description:
      - URL of an S3-compatible API (MinIO, Ceph, moto), for example V(http://127.0.0.1:9000).
      - When set, buckets are addressed path-style.
      - When unset, boto3 decides, which honours E(AWS_ENDPOINT_URL_S3) and E(AWS_ENDPOINT_URL).
    type: str
    aliases: [aws_endpoint_url]
  region:
    description:
      - AWS region of the bucket.
      - Falls back to E(AWS_REGION), then E(AWS_DEFAULT_REGION), then the boto3 profile.
    type: str
    aliases: [aws_region]
  access_key:
    description:
      - AWS access key id. Must be given together with O(secret_key).
      - When unset, boto3's normal credential chain applies (environment, shared
        credentials file and profile, container or instance role).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key. Never logged.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - AWS session token for temporary credentials. Never logged.
    type: str
    aliases: [aws_session_token]
notes:
  - Credentials given as options take precedence over the boto3 credential chain.
  - botocore sends CRC32 checksums with uploads; an S3-compatible store that rejects them
    needs E(AWS_REQUEST_CHECKSUM_CALCULATION=when_required) in the environment.
requirements:
  - boto3
"""

    # aishield.ops.s3.connection: the same options without a bucket, for non-S3 AWS APIs.
    CONNECTION = r"""
options:
  endpoint_url:
    description:
      - URL of an AWS-compatible API endpoint, for example a local moto server.
      - When unset, boto3 decides, which honours E(AWS_ENDPOINT_URL) and service-specific variants.
    type: str
    aliases: [aws_endpoint_url]
  region:
    description:
      - AWS region.
      - Falls back to E(AWS_REGION), then E(AWS_DEFAULT_REGION), then the boto3 profile.
    type: str
    aliases: [aws_region]
  access_key:
    description:
      - AWS access key id. Must be given together with O(secret_key).
      - When unset, boto3's normal credential chain applies (environment, shared
        credentials file and profile, container or instance role).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key. Never logged.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - AWS session token for temporary credentials. Never logged.
    type: str
    aliases: [aws_session_token]
requirements:
  - boto3
"""
