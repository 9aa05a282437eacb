# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Rename users.full_name to display_name."""
from alembic import op

revision = "0005_display_name"
down_revision = "0002_last_login"
branch_labels = None
depends_on = None

# v1/v2 code selects users.full_name, which no longer exists afterwards.
backward_compatible = False


def upgrade():
    op.alter_column("users", "full_name", new_column_name="display_name")


def downgrade():
    op.alter_column("users", "display_name", new_column_name="full_name")
