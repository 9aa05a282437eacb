# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Add users.last_login_at (nullable, additive)."""
from alembic import op
import sqlalchemy as sa

revision = "0002_last_login"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# A new nullable column: v1 code neither reads nor writes it.
backward_compatible = True


def upgrade():
    op.add_column("users", sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column("users", "last_login_at")
