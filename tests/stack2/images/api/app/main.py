# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""notes API: GET /healthz (no database), GET and POST /api/notes."""
import json
import logging
import os
import pathlib

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictStr
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

APP_DIR = pathlib.Path(__file__).resolve().parent.parent


def _release():
    path = APP_DIR / "release.json"
    if path.exists():
        return json.loads(path.read_text())
    # From the source tree (no build step): the v1 feature set.
    return {"version": "dev", "features": []}


RELEASE = _release()
VERSION = RELEASE["version"]
FEATURES = frozenset(RELEASE.get("features", []))

log = logging.getLogger("notes")
# Our own handler: uvicorn configures its loggers, a root handler would print their lines twice.
_handler = logging.StreamHandler()
_handler.setFormatter(logging.Formatter("%(levelname)s:     [%(name)s] %(message)s"))
log.addHandler(_handler)
log.setLevel(logging.INFO)
log.propagate = False


class _SkipHealthz(logging.Filter):
    """The healthcheck and the proxy's probes hit /healthz every few seconds: not worth a log line."""

    def filter(self, record):
        args = record.args if isinstance(record.args, tuple) else ()
        return not (len(args) >= 3 and args[2] == "/healthz")


logging.getLogger("uvicorn.access").addFilter(_SkipHealthz())

app = FastAPI(title="notes", version=VERSION)
_engine = None


def engine():
    global _engine
    if _engine is None:
        _engine = create_engine(os.environ["NOTES_DATABASE_URL"], future=True, pool_pre_ping=True,
                                pool_size=5, max_overflow=5, pool_timeout=5,
                                connect_args={"connect_timeout": 3})
    return _engine


@app.on_event("startup")
def _startup():
    # Fail at start, not on the first request: a container without its database URL must not look healthy.
    if not os.environ.get("NOTES_DATABASE_URL"):
        raise RuntimeError("NOTES_DATABASE_URL is not set")
    log.info("notes api %s starting (features: %s)", VERSION, ",".join(sorted(FEATURES)) or "none")


@app.exception_handler(SQLAlchemyError)
def _db_error(request: Request, exc: SQLAlchemyError):
    log.error("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"detail": "database unavailable"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@app.get("/healthz")
def healthz():
    return {"ok": True, "version": VERSION}


def _revision(conn):
    """The database's Alembic revision (several heads joined by commas), None before any migration."""
    if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
        return None
    revs = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return ",".join(revs) or None


@app.get("/api/notes")
def list_notes():
    if "broken_list" in FEATURES:
        # Release v3: a deliberately bad build; only a smoke check of this endpoint notices.
        return JSONResponse({"detail": "notes listing is broken in this build"},
                            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    with_created = "created_at" in FEATURES
    cols = "id, body, created_at" if with_created else "id, body"
    with engine().connect() as conn:
        rows = conn.execute(text(f"SELECT {cols} FROM notes ORDER BY id")).mappings().all()
        revision = _revision(conn)
    notes = []
    for row in rows:
        note = {"id": row["id"], "body": row["body"]}
        if with_created:
            note["created_at"] = row["created_at"].isoformat() if row["created_at"] else None
        notes.append(note)
    return {"notes": notes, "revision": revision}


class NoteIn(BaseModel):
    body: StrictStr = Field(..., min_length=1, max_length=10_000)


@app.post("/api/notes", status_code=status.HTTP_201_CREATED)
def create_note(note: NoteIn):
    with engine().begin() as conn:
        new_id = conn.execute(text("INSERT INTO notes (body) VALUES (:body) RETURNING id"),
                              {"body": note.body}).scalar_one()
    return {"id": new_id}
