# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A pytest plugin for the pg_backup, pg_restore and ecr_login integration tests.

Load it with `pytest_plugins = ['s3_fixtures']` at the top of a test file. It
starts moto_server (S3 and ECR over real HTTP) on a free 127.0.0.1 port, hands
out throw-away buckets, and has small PostgreSQL helpers on top of the shared
`postgres` fixture in conftest.py. Every wait is bounded.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get('AISHIELD_VENV', REPO / '.venv')) / 'bin'

# moto accepts any credentials; these are recognisable if they ever leak into output.
AWS_ACCESS_KEY = 'AKIAMOTOTESTKEY00001'
AWS_SECRET_KEY = 'moto-secret-' + 'x' * 20
AWS_REGION = 'us-east-1'


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # nosec - 127.0.0.1 only
            return resp.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


@pytest.fixture(scope='session')
def moto_endpoint(tmp_path_factory):
    """URL of a moto_server started for this session (S3, ECR and the rest of moto's APIs)."""
    port = free_port()
    log = tmp_path_factory.mktemp('moto') / 'moto.log'
    with open(log, 'wb') as handle:
        proc = subprocess.Popen([str(VENV_BIN / 'moto_server'), '-H', '127.0.0.1', '-p', str(port)],
                                stdout=handle, stderr=subprocess.STDOUT)
    url = 'http://127.0.0.1:%d' % port
    try:
        wait_for(lambda: proc.poll() is None and _answers(url + '/'), 60, 0.25, 'moto_server on %s' % url)
        yield url
    finally:
        stop_process(proc, grace=10)


@pytest.fixture(scope='session')
def aws_env(moto_endpoint):
    """Environment for boto3's own credential chain (no module options needed)."""
    return {'AWS_ACCESS_KEY_ID': AWS_ACCESS_KEY, 'AWS_SECRET_ACCESS_KEY': AWS_SECRET_KEY,
            'AWS_REGION': AWS_REGION, 'AWS_DEFAULT_REGION': AWS_REGION,
            'AWS_EC2_METADATA_DISABLED': 'true'}


def _client(service, endpoint):
    import boto3
    return boto3.client(service, endpoint_url=endpoint, region_name=AWS_REGION,
                        aws_access_key_id=AWS_ACCESS_KEY, aws_secret_access_key=AWS_SECRET_KEY)


@pytest.fixture(scope='session')
def s3(moto_endpoint):
    return _client('s3', moto_endpoint)


@pytest.fixture
def bucket(s3):
    """A fresh bucket; emptied (objects and multipart uploads) and deleted afterwards."""
    name = 'it-' + secrets.token_hex(6)
    s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for upload in s3.list_multipart_uploads(Bucket=name).get('Uploads', []):
            s3.abort_multipart_upload(Bucket=name, Key=upload['Key'], UploadId=upload['UploadId'])
        for obj in s3.list_objects_v2(Bucket=name).get('Contents', []):
            s3.delete_object(Bucket=name, Key=obj['Key'])
        s3.delete_bucket(Bucket=name)


def s3_args(endpoint, bucket_name):
    """Module options for moto, with explicit credentials."""
    return {'bucket': bucket_name, 'endpoint_url': endpoint, 'region': AWS_REGION,
            'access_key': AWS_ACCESS_KEY, 'secret_key': AWS_SECRET_KEY}


def bucket_is_empty(s3_client, bucket_name):
    """(objects, uploads) left in a bucket: both must be empty after a failed backup."""
    objects = [o['Key'] for o in s3_client.list_objects_v2(Bucket=bucket_name).get('Contents', [])]
    uploads = s3_client.list_multipart_uploads(Bucket=bucket_name).get('Uploads', [])
    return objects, uploads


# --- PostgreSQL helpers (on top of conftest's session `postgres` fixture) -------------------------

ROW_COUNT_SQL = (
    "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1"
)


def row_counts(postgres, db):
    """{schema.table: exact row count} for every user table of `db`."""
    counts = {}
    for table in postgres.psql(ROW_COUNT_SQL, db=db).split():
        counts[table] = int(postgres.psql('SELECT count(*) FROM %s' % table, db=db).strip())
    return counts


def fill_small(postgres, db):
    postgres.psql(
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);"
        "INSERT INTO users SELECT g, 'user' || g || '@example.test' FROM generate_series(1, 1000) g;"
        "CREATE TABLE items (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), body text);"
        "INSERT INTO items (user_id, body) SELECT 1 + g % 1000, md5(g::text) FROM generate_series(1, 5000) g;"
        "CREATE INDEX items_user ON items (user_id);", db=db)


def fill_big(postgres, db, rows, timeout=900):
    """About 110 bytes of poorly compressible text per row; its own exec, since it outlasts psql()'s timeout."""
    sql = ("CREATE TABLE blobs (id bigint PRIMARY KEY, a text, b text, c text);"
           "INSERT INTO blobs SELECT g, md5(g::text), md5((g * 7)::text), md5((g * 13)::text) "
           "FROM generate_series(1, %d) g;" % rows)
    proc = subprocess.run(['docker', 'exec', '-u', 'postgres', postgres.container, 'psql', '-X', '-q',
                           '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr


def kill_in_container(container, program, marker, signal='KILL'):
    """Kill processes in `container` whose argv[0] is `program` and whose argv mentions `marker`.

    Runs inside the container with docker exec; the image has no pkill, so it walks /proc.
    Returns how many were signalled.
    """
    script = (
        'n=0; for d in /proc/[0-9]*; do '
        'c=$(tr "\\000" " " < "$d/cmdline" 2>/dev/null) || continue; '
        'case "$c" in "$1 "*"$2"*) kill -%s "${d#/proc/}" && n=$((n+1));; esac; '
        'done; echo $n' % signal)
    proc = subprocess.run(['docker', 'exec', container, 'sh', '-c', script, 'sh', program, marker],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip() or 0)
