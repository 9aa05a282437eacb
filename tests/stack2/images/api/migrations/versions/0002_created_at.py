# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Add notes.created_at timestamptz default now() (additive)."""
from alembic import op
import sqlalchemy as sa

revision = "0002_created_at"
down_revision = "0001_notes"
branch_labels = None
depends_on = None

# A new column with a default: v1 code neither reads nor writes it, its inserts still work.
backward_compatible = True


def upgrade():
    op.add_column("notes", sa.Column("created_at", sa.DateTime(timezone=True),
                                     server_default=sa.text("now()")))


def downgrade():
    op.drop_column("notes", "created_at")
