# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Celery app and the scan task. Run: celery -A app.worker worker --loglevel=info --concurrency=1"""
import datetime
import logging
import pathlib
import re
import time

from celery import Celery, signals

from . import config, db

log = logging.getLogger("aishield.worker")

celery_app = Celery("aishield", broker=config.REDIS_URL)
celery_app.conf.update(
    task_default_queue="celery",      # backlog visible as `redis-cli LLEN celery`
    task_ignore_result=True,          # results live in the scans table
    worker_prefetch_multiplier=1,     # one task in hand; the rest stays in the queue
    broker_connection_timeout=3,
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=True,
)
app = celery_app  # `celery -A app.worker` looks for `app` or `celery`

# The container healthcheck looks at this file: present between ready and shutdown.
READY_FILE = pathlib.Path("/tmp/worker.ready")


@signals.worker_ready.connect
def _ready(**_):
    READY_FILE.write_text("ready\n")


@signals.worker_shutting_down.connect
def _shutting_down(**_):
    READY_FILE.unlink(missing_ok=True)


# A fake scanner: counts a few well-known risky patterns.
RULES = {
    "eval": re.compile(r"\beval\s*\("),
    "exec": re.compile(r"\bexec\s*\("),
    "os-system": re.compile(r"\bos\.system\s*\("),
    "shell-true": re.compile(r"shell\s*=\s*True"),
    "pickle-loads": re.compile(r"\bpickle\.loads?\s*\("),
    "hardcoded-secret": re.compile(r"(password|secret|token)\s*=\s*['\"][^'\"]+['\"]", re.I),
}


def analyse(code):
    findings = []
    for lineno, line in enumerate(code.splitlines(), 1):
        for rule, rx in RULES.items():
            if rx.search(line):
                findings.append({"rule": rule, "line": lineno})
    return findings


@celery_app.task(name="aishield.scan_code")
def scan_code(scan_id):
    with db.session() as s:
        scan = s.get(db.Scan, scan_id)
        if scan is None:
            log.warning("scan %s not found; dropping", scan_id)
            return
        scan.status = "running"
        s.commit()
        code, language = scan.code, scan.language
    time.sleep(config.SCAN_SECONDS)
    findings = analyse(code)
    with db.session() as s:
        scan = s.get(db.Scan, scan_id)
        scan.status = "done"
        scan.result = {"findings": len(findings), "details": findings[:50],
                       "language": language, "lines": len(code.splitlines()),
                       "scanner_version": config.APP_VERSION}
        scan.finished_at = datetime.datetime.now(datetime.timezone.utc)
        s.commit()
    log.info("scan %s done: %d finding(s)", scan_id, len(findings))
