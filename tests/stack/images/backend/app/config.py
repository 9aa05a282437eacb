# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Settings from the environment plus the release facts baked in at build time."""
import json
import os
import pathlib

APP_DIR = pathlib.Path(__file__).resolve().parent.parent


def _release():
    path = APP_DIR / "release.json"
    if path.exists():
        return json.loads(path.read_text())
    # Running from the source tree (no build step): behave like the newest schema-less dev build.
    return {"version": os.environ.get("APP_VERSION", "dev"), "revisions": [], "features": []}


RELEASE = _release()
APP_VERSION = os.environ.get("APP_VERSION") or RELEASE["version"]
FEATURES = frozenset(RELEASE.get("features", []))

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ADMIN_EMAIL = os.environ.get("ADMIN_EMAIL", "")
ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD", "")
# How long the fake scanner "works" on one scan, so drains and backlogs can be observed.
SCAN_SECONDS = float(os.environ.get("SCAN_SECONDS", "1"))

ACCESS_TTL = 15 * 60
REFRESH_TTL = 7 * 24 * 3600
