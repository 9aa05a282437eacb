#!/usr/bin/env python
"""Bounded HTTP probe: GET a URL at a fixed rate and count failures.

Used to prove zero-downtime switches. Stdlib only, so it also runs inside the
Docker-in-Docker hosts. It stops by itself after --seconds, or when --stop-file
appears, and writes a JSON summary (requests, failures, longest failure gap).
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
import urllib.error
import urllib.request


def probe(url: str, rate: float, seconds: float, timeout: float, stop_file: str | None) -> dict:
    results: list[tuple[float, bool, str]] = []
    lock = threading.Lock()

    def one(started: float) -> None:
        ok, note = False, ""
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback only)
                ok = response.status == 200
                note = str(response.status)
        except urllib.error.HTTPError as exc:
            note = f"HTTP {exc.code}"
        except Exception as exc:  # pylint: disable=broad-exception-caught
            note = type(exc).__name__
        with lock:
            results.append((started, ok, note))

    threads = []
    wall_begin = time.time()
    begin = time.monotonic()
    interval = 1.0 / rate
    tick = 0
    while time.monotonic() - begin < seconds:
        if stop_file and os.path.exists(stop_file):
            break
        target = begin + tick * interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(time.monotonic() - begin,), daemon=True)
        thread.start()
        threads.append(thread)
        tick += 1
    for thread in threads:
        thread.join(timeout + 1)
    results.sort()
    failures = [r for r in results if not r[1]]
    gap, gap_start = 0.0, None
    for started, ok, _note in results:
        if not ok and gap_start is None:
            gap_start = started
        elif ok and gap_start is not None:
            gap, gap_start = max(gap, started - gap_start), None
    if gap_start is not None and results:
        gap = max(gap, results[-1][0] - gap_start)
    elapsed = time.monotonic() - begin
    return {
        "url": url, "requests": len(results), "failures": len(failures), "seconds": round(elapsed, 2),
        "rate": round(len(results) / elapsed, 1) if elapsed else 0.0, "longest_gap_s": round(gap, 3),
        "failure_samples": sorted({note for _s, _ok, note in failures})[:5],
        # When failures happened (seconds from the start), to line them up with a deploy's log.
        "failure_times": [round(started, 2) for started, _ok, _note in failures[:20]],
        "started_at": round(wall_begin, 3),
        # First failure of each burst (1 s apart or more), as wall-clock time and note.
        "bursts": _bursts(failures, wall_begin),
    }


def _bursts(failures: list[tuple[float, bool, str]], wall_begin: float) -> list[dict]:
    bursts: list[dict] = []
    for started, _ok, note in failures:
        if bursts and started - bursts[-1]["last"] < 1.0:
            bursts[-1]["last"] = started
            bursts[-1]["count"] += 1
            continue
        bursts.append({"at": time.strftime("%H:%M:%S", time.gmtime(wall_begin + started)),
                       "first": started, "last": started, "count": 1, "note": note})
    return bursts[:20]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="hard upper bound on the run")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--stop-file", help="stop early once this file exists")
    parser.add_argument("--out", help="write the JSON summary here as well")
    args = parser.parse_args()
    summary = probe(args.url, args.rate, args.seconds, args.timeout, args.stop_file)
    text = json.dumps(summary)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
