# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Create scan_audit, then fail on purpose.

Test data for failed upgrades: transactional DDL must roll the table back and
leave alembic_version at 0002_last_login.
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_failing_audit"
down_revision = "0002_last_login"
branch_labels = None
depends_on = None

# Only adds a table (if it ever got that far).
backward_compatible = True


def upgrade():
    op.create_table(
        "scan_audit",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("scan_id", sa.BigInteger, sa.ForeignKey("scans.id", ondelete="CASCADE")),
        sa.Column("note", sa.Text),
    )
    raise RuntimeError("0004_failing_audit: deliberate failure after creating scan_audit (test data)")


def downgrade():
    op.drop_table("scan_audit")
