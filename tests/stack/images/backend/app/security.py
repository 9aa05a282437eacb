# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Password hashing (PBKDF2) and HMAC-SHA256 signed tokens, stdlib only."""
import base64
import hashlib
import hmac
import json
import secrets
import time

from . import config

_ITERATIONS = 120_000


def _b64e(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password):
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${_b64e(salt)}${_b64e(digest)}"


def verify_password(password, stored):
    try:
        algo, iterations, salt, digest = stored.split("$")
        if algo != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), _b64d(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _b64d(digest))


def _key():
    if not config.SECRET_KEY:
        raise RuntimeError("SECRET_KEY is not set")
    return config.SECRET_KEY.encode()


def make_token(subject, kind, ttl):
    payload = {"sub": subject, "typ": kind, "exp": int(time.time()) + ttl,
               "jti": secrets.token_hex(8)}
    body = _b64e(json.dumps(payload, separators=(",", ":")).encode())
    sig = _b64e(hmac.new(_key(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def read_token(token, kind):
    """Return the subject of a valid, unexpired token of this kind, else None."""
    try:
        body, sig = token.split(".")
        want = hmac.new(_key(), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, _b64d(sig)):
            return None
        payload = json.loads(_b64d(body))
    except (ValueError, TypeError):
        return None
    if payload.get("typ") != kind or payload.get("exp", 0) < time.time():
        return None
    return payload.get("sub")
