# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The team's own smoke script (`python3 -m app.selfcheck`, in the api container): exit 0 when this build can
read the notes it serves at the schema it expects, 1 with the reason otherwise. The deploy's smoke command."""
import sys

from sqlalchemy import text

from app.main import FEATURES, VERSION, engine


def main():
    if "broken_list" in FEATURES:
        print("selfcheck %s: FAILED: listing notes is broken in this build" % VERSION)
        return 1
    columns = "id, body, created_at" if "created_at" in FEATURES else "id, body"
    with engine().connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM (SELECT %s FROM notes) AS n" % columns)).scalar_one()
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    print("selfcheck %s: ok (%d notes, revision %s)" % (VERSION, count, revision))
    return 0


if __name__ == "__main__":
    sys.exit(main())
