# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Print the migrations shipped in this image as JSON (no database needed).

python3 -m app.migration_info
-> {"heads": [...], "revisions": [{"revision", "down_revision", "backward_compatible"}]}
"""
import json
import sys

from alembic.config import Config
from alembic.script import ScriptDirectory

from .config import APP_DIR


def collect(ini=APP_DIR / "alembic.ini"):
    script = ScriptDirectory.from_config(Config(str(ini)))
    revisions = []
    for rev in reversed(list(script.walk_revisions())):  # base first
        revisions.append({
            "revision": rev.revision,
            "down_revision": rev.down_revision,
            "backward_compatible": getattr(rev.module, "backward_compatible", None),
        })
    return {"heads": list(script.get_heads()), "revisions": revisions}


def main():
    info = collect()
    json.dump(info, sys.stdout)
    sys.stdout.write("\n")
    missing = [r["revision"] for r in info["revisions"] if not isinstance(r["backward_compatible"], bool)]
    if missing:
        print(f"migrations without a boolean backward_compatible: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
