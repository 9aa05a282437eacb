# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""FastAPI app: health, auth, projects and code scans."""
import datetime
import logging
import secrets
import threading
import uuid
from typing import Optional

import redis
from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from . import config, db, security, seed

log = logging.getLogger("aishield.api")
# Our own handler: uvicorn configures its loggers, a root handler would print their lines twice.
_handler = logging.StreamHandler()
_handler.setFormatter(logging.Formatter("%(levelname)s:     [%(name)s] %(message)s"))
logging.getLogger("aishield").addHandler(_handler)
logging.getLogger("aishield").setLevel(logging.INFO)
logging.getLogger("aishield").propagate = False


class _SkipHealth(logging.Filter):
    """Healthchecks hit /health every few seconds; keep them out of the access log."""

    def filter(self, record):
        args = record.args if isinstance(record.args, tuple) else ()
        return not (len(args) >= 3 and args[2] == "/health")


logging.getLogger("uvicorn.access").addFilter(_SkipHealth())

app = FastAPI(title="AI Shield", version=config.APP_VERSION)
_redis = redis.Redis.from_url(config.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
_bearer = HTTPBearer(auto_error=False)


@app.on_event("startup")
def _startup():
    if not config.SECRET_KEY:
        raise RuntimeError("SECRET_KEY is not set")
    log.info("AI Shield backend %s starting (features: %s)", config.APP_VERSION,
             ",".join(sorted(config.FEATURES)) or "none")
    # Seed (and load Celery) in the background: a missing schema, a slow database or a
    # heavy import must not delay the first /health answer.
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()


def _warm_up():
    seed.ensure_seeded()
    _celery()


def _celery():
    from .worker import celery_app  # imported lazily: Celery is slow to import
    return celery_app


@app.exception_handler(SQLAlchemyError)
def _db_error(request: Request, exc: SQLAlchemyError):
    log.error("database error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"detail": "database unavailable"}, status_code=503)


@app.get("/")
def root():
    return {"service": "aishield-backend", "version": config.APP_VERSION}


@app.get("/health")
def health():
    return {"status": "ok", "version": config.APP_VERSION}


@app.get("/api/v1/health")
def api_health(response: Response):
    body = {"status": "ok", "version": config.APP_VERSION, "database": "ok",
            "redis": "ok", "revision": None}
    if "broken_api_health" in config.FEATURES:
        body["database"] = "error"  # release v3: a deliberately bad build
    else:
        try:
            with db.engine().connect() as conn:
                conn.exec_driver_sql("SELECT 1")
                body["revision"] = db.current_revision(conn)
        except Exception as exc:
            log.warning("health: database check failed: %s", type(exc).__name__)
            body["database"] = "error"
    try:
        _redis.ping()
    except Exception as exc:
        log.warning("health: redis check failed: %s", type(exc).__name__)
        body["redis"] = "error"
    if "error" in (body["database"], body["redis"]):
        body["status"] = "error"
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif body["revision"]:
        seed.ensure_seeded()
    return body


# --- auth -----------------------------------------------------------------

class LoginIn(BaseModel):
    email: str = Field(..., max_length=320)
    password: str = Field(..., max_length=1024)


class RefreshIn(BaseModel):
    refresh_token: str


_dummy_hash = None


def _dummy():
    """A throwaway hash, made on first use so it does not slow down startup."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = security.hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


def _tokens(user_id):
    sub = str(user_id)
    return {"id": sub,
            "access_token": security.make_token(sub, "access", config.ACCESS_TTL),
            "refresh_token": security.make_token(sub, "refresh", config.REFRESH_TTL),
            "token_type": "bearer", "expires_in": config.ACCESS_TTL}


def _unauthorized(detail="not authenticated"):
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail,
                         headers={"WWW-Authenticate": "Bearer"})


@app.post("/api/v1/auth/login")
def login(body: LoginIn):
    seed.ensure_seeded()
    with db.session() as s:
        user = s.execute(select(db.User).where(db.User.email == body.email.strip().lower())
                         ).scalar_one_or_none()
        # Hash even for unknown users so timing does not reveal which emails exist.
        ok = security.verify_password(body.password, user.password_hash if user else _dummy())
        if user is None or not ok or not user.is_active:
            raise _unauthorized("invalid credentials")
        if "last_login" in config.FEATURES:
            user.last_login_at = datetime.datetime.now(datetime.timezone.utc)
            s.commit()
        return _tokens(user.id)


@app.post("/api/v1/auth/refresh")
def refresh(body: RefreshIn):
    sub = security.read_token(body.refresh_token, "refresh")
    if not sub:
        raise _unauthorized("invalid refresh token")
    return _tokens(sub)


def current_user(creds: Optional[HTTPAuthorizationCredentials] = Depends(_bearer)):
    if creds is None:
        raise _unauthorized()
    sub = security.read_token(creds.credentials, "access")
    try:
        user_id = uuid.UUID(sub) if sub else None
    except ValueError:
        user_id = None
    if user_id is None:
        raise _unauthorized("invalid token")
    with db.session() as s:
        user = s.get(db.User, user_id)
    if user is None or not user.is_active:
        raise _unauthorized("invalid token")
    return user


def _user_out(user):
    out = {"id": str(user.id), "email": user.email, "full_name": user.full_name,
           "is_admin": user.is_admin,
           "organization_id": str(user.organization_id) if user.organization_id else None}
    if "last_login" in config.FEATURES:
        out["last_login_at"] = user.last_login_at.isoformat() if user.last_login_at else None
    return out


@app.get("/api/v1/auth/me")
def me(user=Depends(current_user)):
    return _user_out(user)


# --- projects and scans ------------------------------------------------------

def _visible_projects(user):
    q = select(db.Project).order_by(db.Project.created_at, db.Project.name)
    if not user.is_admin:
        q = q.where(db.Project.organization_id == user.organization_id)
    return q


@app.get("/api/v1/projects")
def projects(user=Depends(current_user)):
    with db.session() as s:
        rows = s.execute(_visible_projects(user)).scalars().all()
    return [{"id": str(p.id), "name": p.name, "organization_id": str(p.organization_id)}
            for p in rows]


class ScanIn(BaseModel):
    code: str = Field(..., max_length=200_000)
    language: str = Field("python", min_length=1, max_length=32)
    project_id: Optional[uuid.UUID] = None


@app.post("/api/v1/scans/code", status_code=status.HTTP_202_ACCEPTED)
def create_scan(body: ScanIn, user=Depends(current_user)):
    with db.session() as s:
        if body.project_id is not None:
            ok = s.execute(_visible_projects(user).where(db.Project.id == body.project_id)).first()
            if not ok:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "project not found")
        scan = db.Scan(user_id=user.id, project_id=body.project_id, language=body.language,
                       code=body.code, status="queued")
        s.add(scan)
        s.commit()
        scan_id = scan.id
    try:
        _celery().send_task("aishield.scan_code", args=[scan_id], retry=True,
                             retry_policy={"max_retries": 2, "interval_start": 0,
                                           "interval_step": 0.5, "interval_max": 1})
    except Exception as exc:
        log.error("could not enqueue scan %s: %s", scan_id, type(exc).__name__)
        with db.session() as s:
            s.get(db.Scan, scan_id).status = "error"
            s.commit()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "task queue unavailable")
    return {"id": scan_id, "status": "queued"}


@app.get("/api/v1/scans/{scan_id}")
def get_scan(scan_id: int, user=Depends(current_user)):
    with db.session() as s:
        scan = s.get(db.Scan, scan_id)
    if scan is None or (not user.is_admin and scan.user_id != user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "scan not found")
    return {"id": scan.id, "status": scan.status, "result": scan.result,
            "language": scan.language,
            "created_at": scan.created_at.isoformat() if scan.created_at else None,
            "finished_at": scan.finished_at.isoformat() if scan.finished_at else None}
