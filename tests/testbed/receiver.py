#!/usr/bin/env python
"""Status-page and webhook receiver for tests: records every request it gets.

It speaks just enough of two status-page APIs for the notify code to be
tested against real HTTP:
  * Atlassian Statuspage v1: /v1/pages/{page}/incidents[/unresolved|/{id}]
  * the runbook's generic endpoint: /api/incidents[/{id}]
and accepts chat webhooks on /hooks/{name} (/hooks/fail answers 500). GET /slow/{ms} answers after
that many milliseconds (at most 5000), for latency alerts.
GET /_received lists what was recorded; DELETE /_received forgets it all.
Standard library only, so it runs in any image with python3.
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RECEIVED: list[dict] = []
INCIDENTS: dict[str, list[dict]] = {}  # scope ("page:<id>" or "generic") -> incidents
COUNTER = {"n": 0}

SP_LIST = re.compile(r"^/v1/pages/([^/]+)/incidents(/unresolved)?$")
SP_ONE = re.compile(r"^/v1/pages/([^/]+)/incidents/([^/]+)$")
GEN_ONE = re.compile(r"^/api/incidents/([^/]+)$")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Handler(BaseHTTPRequestHandler):
    server_version = "aishield-receiver/1"
    api_key: str | None = None

    def log_message(self, fmt, *args):  # keep test output quiet
        return

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send(self, code: int, payload) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body) -> None:
        if self.path.startswith("/_received"):
            return
        with LOCK:
            RECEIVED.append({
                "time": time.time(),
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            })

    def _authorized(self, scheme: str) -> bool:
        if not self.api_key:
            return True
        return self.headers.get("Authorization", "") == f"{scheme} {self.api_key}"

    def _handle(self) -> None:
        body = self._body() if self.command in ("POST", "PUT", "PATCH") else None
        self._record(body)
        path = self.path.split("?", 1)[0]
        if path == "/_received":
            if self.command == "DELETE":
                with LOCK:
                    RECEIVED.clear()
                    INCIDENTS.clear()
                return self._send(200, {"cleared": True})
            with LOCK:
                return self._send(200, list(RECEIVED))
        if path == "/healthz":
            return self._send(200, {"status": "ok"})
        if path.startswith("/slow/") and path[6:].isdigit():
            # A slow endpoint for latency alerts: answers after N ms (at most 5 s).
            time.sleep(min(int(path[6:]), 5000) / 1000)
            return self._send(200, {"status": "ok", "slept_ms": min(int(path[6:]), 5000)})
        if path.startswith("/hooks/"):
            if path == "/hooks/fail":
                return self._send(500, b"failing on purpose")
            return self._send(200, b"ok")
        m_list, m_one = SP_LIST.match(path), SP_ONE.match(path)
        if m_list or m_one:
            if not self._authorized("OAuth"):
                return self._send(401, {"error": "bad OAuth key"})
            scope = "page:" + (m_list or m_one).group(1)
            if m_list:
                return self._incidents(scope, body, unresolved_only=bool(m_list.group(2)), wrapped=True)
            return self._incident(scope, m_one.group(2), body, wrapped=True)
        if path == "/api/incidents" or GEN_ONE.match(path):
            if not self._authorized("Bearer"):
                return self._send(401, {"error": "bad bearer token"})
            m = GEN_ONE.match(path)
            if m:
                return self._incident("generic", m.group(1), body, wrapped=False)
            return self._incidents("generic", body, unresolved_only="unresolved" in self.path, wrapped=False)
        return self._send(404, {"error": f"no route for {self.command} {path}"})

    def _incidents(self, scope, body, unresolved_only, wrapped):
        with LOCK:
            items = INCIDENTS.setdefault(scope, [])
            if self.command == "GET":
                found = [i for i in items if not unresolved_only or i["status"] != "resolved"]
                return self._send(200, found)
            if self.command != "POST":
                return self._send(405, {"error": "method not allowed"})
            fields = (body or {}).get("incident", {}) if wrapped else (body or {})
            if not isinstance(fields, dict) or not fields.get("name"):
                return self._send(422, {"error": "incident name is required"})
            COUNTER["n"] += 1
            incident = dict(fields, id=f"inc{COUNTER['n']}", created_at=_now(), updated_at=_now())
            incident.setdefault("status", "investigating")
            items.append(incident)
            return self._send(201, incident)

    def _incident(self, scope, incident_id, body, wrapped):
        with LOCK:
            for incident in INCIDENTS.get(scope, []):
                if incident["id"] == incident_id:
                    if self.command in ("PATCH", "PUT"):
                        fields = (body or {}).get("incident", {}) if wrapped else (body or {})
                        incident.update(fields, updated_at=_now())
                        if incident.get("status") == "resolved":
                            incident["resolved_at"] = _now()
                    return self._send(200, incident)
            return self._send(404, {"error": f"no incident {incident_id}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9080)
    parser.add_argument("--api-key-env", default="RECEIVER_API_KEY",
                        help="environment variable holding the key to require (unset: accept any)")
    args = parser.parse_args()
    import os
    Handler.api_key = os.environ.get(args.api_key_env) or None
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"receiver listening on {args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
