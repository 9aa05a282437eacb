#!/usr/bin/env python
"""Flip 16 bytes in the middle of an S3 object (keeping its metadata, so its recorded sha256 no longer
matches), or put back the original saved by the flip. Usage: s3_object.py flip|restore BUCKET PREFIX SAVE_FILE"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3


def main(action, bucket, prefix, save):
    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:9000", region_name="us-east-1",
                      aws_access_key_id="testbed", aws_secret_access_key="testbed")
    save = Path(save)
    if action == "restore":
        saved = json.loads(save.with_suffix(".json").read_text())
        s3.put_object(Bucket=bucket, Key=saved["key"], Body=save.read_bytes(), Metadata=saved["metadata"])
        print(saved["key"])
        return 0
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []) if o["Key"].endswith(".dump"))
    obj = s3.get_object(Bucket=bucket, Key=keys[-1])
    data = obj["Body"].read()
    save.write_bytes(data)
    save.with_suffix(".json").write_text(json.dumps({"key": keys[-1], "metadata": obj["Metadata"]}))
    flipped = bytearray(data)
    middle = len(flipped) // 2
    flipped[middle:middle + 16] = bytes(b ^ 0xFF for b in flipped[middle:middle + 16])
    s3.put_object(Bucket=bucket, Key=keys[-1], Body=bytes(flipped), Metadata=obj["Metadata"])
    print(keys[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
