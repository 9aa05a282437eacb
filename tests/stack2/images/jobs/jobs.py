# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""notes jobs: every 2 s, count the notes and log the count, until SIGTERM.

Each loop touches HEARTBEAT (the image's HEALTHCHECK checks it is fresh), whether or not the
database answered: a database blip must not recycle the worker, a stuck loop must.
"""
import logging
import os
import pathlib
import signal
import sys
import threading

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

INTERVAL = 2.0
HEARTBEAT = pathlib.Path("/tmp/jobs.heartbeat")

log = logging.getLogger("notes.jobs")
stop = threading.Event()
stopped_by = []


def _on_signal(signum, _frame):
    # Only flag it here: logging from a signal handler can deadlock.
    stopped_by.append(signal.Signals(signum).name)
    stop.set()


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    url = os.environ.get("NOTES_DATABASE_URL", "")
    if not url:
        log.error("NOTES_DATABASE_URL is not set")
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    engine = create_engine(url, future=True, pool_pre_ping=True, pool_size=1, max_overflow=0,
                           connect_args={"connect_timeout": 3})
    log.info("notes jobs started: counting notes every %.0f s", INTERVAL)
    last_error = None
    while not stop.is_set():
        try:
            with engine.connect() as conn:
                count = conn.execute(text("SELECT count(*) FROM notes")).scalar_one()
            log.info("notes: %d", count)
            last_error = None
        except SQLAlchemyError as exc:
            # Before the first migration the table is missing: say so once, not every loop.
            kind = type(exc.orig if getattr(exc, "orig", None) else exc).__name__
            if kind != last_error:
                log.warning("cannot count notes yet: %s", kind)
                last_error = kind
        HEARTBEAT.touch()
        # wait() instead of sleep(): SIGTERM ends the wait at once.
        stop.wait(INTERVAL)
    HEARTBEAT.unlink(missing_ok=True)
    engine.dispose()
    log.info("notes jobs stopped (%s)", ", ".join(stopped_by) or "no signal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
