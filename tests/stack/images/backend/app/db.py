# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Engine, sessions and ORM models. The schema itself belongs to Alembic."""
import uuid

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, ForeignKey, String, Text,
                        create_engine, func, text)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import declarative_base, sessionmaker

from . import config

TABLES = ("users", "organizations", "projects", "scans")

_engine = None
_Session = None


def engine():
    global _engine, _Session
    if _engine is None:
        if not config.DATABASE_URL:
            raise RuntimeError("DATABASE_URL is not set")
        _engine = create_engine(config.DATABASE_URL, future=True, pool_pre_ping=True,
                                pool_size=5, max_overflow=5, pool_timeout=5,
                                connect_args={"connect_timeout": 3})
        _Session = sessionmaker(_engine, future=True, expire_on_commit=False)
    return _engine


def session():
    engine()
    return _Session()


def schema_ready(conn):
    """True when Alembic has created every table the app needs."""
    sql = text("SELECT count(to_regclass(t)) FROM unnest(CAST(:t AS text[])) AS t")
    return conn.execute(sql, {"t": list(TABLES)}).scalar() == len(TABLES)


def current_revision(conn):
    if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
        return None
    revs = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return ",".join(revs) if revs else None


Base = declarative_base()


class Organization(Base):
    __tablename__ = "organizations"
    id = Column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name = Column(String(200), nullable=False)
    slug = Column(String(100), nullable=False, unique=True)
    created_at = Column(DateTime(timezone=True), server_default=func.now())


class User(Base):
    __tablename__ = "users"
    id = Column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    email = Column(String(320), nullable=False, unique=True)
    # Release v5 renamed the column; the attribute name stays the same.
    full_name = Column("display_name" if "display_name" in config.FEATURES else "full_name",
                       String(200), nullable=False, default="")
    password_hash = Column(String(255), nullable=False)
    is_active = Column(Boolean, nullable=False, default=True)
    is_admin = Column(Boolean, nullable=False, default=False)
    organization_id = Column(UUID(as_uuid=True), ForeignKey("organizations.id"))
    created_at = Column(DateTime(timezone=True), server_default=func.now())
    if "last_login" in config.FEATURES:
        last_login_at = Column(DateTime(timezone=True), nullable=True)


class Project(Base):
    __tablename__ = "projects"
    id = Column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    organization_id = Column(UUID(as_uuid=True), ForeignKey("organizations.id"), nullable=False)
    name = Column(String(200), nullable=False)
    created_at = Column(DateTime(timezone=True), server_default=func.now())


class Scan(Base):
    __tablename__ = "scans"
    id = Column(BigInteger, primary_key=True)
    user_id = Column(UUID(as_uuid=True), ForeignKey("users.id"))
    project_id = Column(UUID(as_uuid=True), ForeignKey("projects.id"))
    language = Column(String(32), nullable=False)
    code = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default="queued")
    result = Column(JSONB)
    created_at = Column(DateTime(timezone=True), server_default=func.now())
    finished_at = Column(DateTime(timezone=True))
