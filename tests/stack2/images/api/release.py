# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Build-time step: keep one release's migrations and write /app/release.json.

Usage: python3 release.py VERSION VERSIONS_JSON APP_DIR
"""
import json
import pathlib
import sys


def main(version, manifest, app_dir):
    releases = json.loads(pathlib.Path(manifest).read_text())
    if version not in releases:
        sys.exit(f"APP_VERSION {version!r} is not in {manifest} (known: {', '.join(sorted(releases))})")
    rel = releases[version]
    versions_dir = pathlib.Path(app_dir, "migrations", "versions")
    present = {p.stem: p for p in versions_dir.glob("*.py")}
    missing = sorted(set(rel["revisions"]) - set(present))
    if missing:
        sys.exit(f"{version}: migration files missing for {missing}")
    for rev, path in present.items():
        if rev not in rel["revisions"]:
            path.unlink()
    out = {"version": version, "head": rel["head"], "features": rel.get("features", [])}
    pathlib.Path(app_dir, "release.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"notes api {version}: head {rel['head']}, {len(rel['revisions'])} migration(s)")


if __name__ == "__main__":
    main(*sys.argv[1:4])
