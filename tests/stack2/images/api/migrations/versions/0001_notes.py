# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Table notes(id serial primary key, body text not null)."""
from alembic import op
import sqlalchemy as sa

revision = "0001_notes"
down_revision = None
branch_labels = None
depends_on = None

# Nothing precedes it: there is no older code to break.
backward_compatible = True


def upgrade():
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("notes")
