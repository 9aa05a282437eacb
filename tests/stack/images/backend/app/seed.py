# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Idempotent seed data: the admin user, one organization and one project."""
import logging
import threading

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from . import config, db, security

log = logging.getLogger("aishield.seed")
_lock = threading.Lock()
_done = False
_last_reason = None

ORG_SLUG = "default"
ORG_NAME = "Default organization"
PROJECT_NAME = "demo"


def ensure_seeded():
    """Seed once per process; a missing schema or database just means 'later'."""
    global _done
    if _done:
        return True
    with _lock:
        if _done:
            return True
        try:
            with db.session() as s:
                if not db.schema_ready(s.connection()):
                    _postponed("schema not migrated yet")
                    return False
                _seed(s)
                s.commit()
        except Exception as exc:  # the app must keep serving /health
            _postponed(type(exc).__name__)
            return False
        _done = True
        log.info("seed data present")
        return True


def _postponed(reason):
    global _last_reason
    if reason != _last_reason:  # say it once, not on every request
        log.warning("seeding postponed: %s", reason)
        _last_reason = reason


def _seed(s):
    # ON CONFLICT keeps two replicas starting at once from tripping over each other.
    s.execute(insert(db.Organization).values(name=ORG_NAME, slug=ORG_SLUG)
              .on_conflict_do_nothing(index_elements=["slug"]))
    org = s.execute(select(db.Organization).where(db.Organization.slug == ORG_SLUG)).scalar_one()
    s.execute(insert(db.Project).values(organization_id=org.id, name=PROJECT_NAME)
              .on_conflict_do_nothing(constraint="uq_projects_org_name"))
    if not (config.ADMIN_EMAIL and config.ADMIN_PASSWORD):
        log.warning("ADMIN_EMAIL/ADMIN_PASSWORD not set; no admin user seeded")
        return
    email = config.ADMIN_EMAIL.strip().lower()
    s.execute(insert(db.User).values(
        email=email, full_name="Administrator", is_admin=True, is_active=True,
        organization_id=org.id, password_hash=security.hash_password(config.ADMIN_PASSWORD),
    ).on_conflict_do_nothing(index_elements=["email"]))
    admin = s.execute(select(db.User).where(db.User.email == email)).scalar_one()
    # Only rewrite the hash when the configured password changed.
    if not security.verify_password(config.ADMIN_PASSWORD, admin.password_hash):
        admin.password_hash = security.hash_password(config.ADMIN_PASSWORD)
        log.info("admin password updated from ADMIN_PASSWORD")
