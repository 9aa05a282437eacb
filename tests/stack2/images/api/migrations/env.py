# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Alembic environment: the URL comes from NOTES_DATABASE_URL, never from alembic.ini."""
import logging.config
import os

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

url = os.environ.get("NOTES_DATABASE_URL", "")
if not url:
    # An exception, not sys.exit: callers that run Alembic in-process can report it.
    raise RuntimeError("NOTES_DATABASE_URL is not set")

# Every migration is written by hand: no metadata to compare against.
target_metadata = None


def run_offline():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online():
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"connect_timeout": 5})
    with engine.connect() as connection:
        # One transaction for the whole upgrade: PostgreSQL DDL is transactional,
        # so a failing migration leaves the schema at the previous head.
        context.configure(connection=connection, target_metadata=target_metadata,
                          transactional_ddl=True, transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
