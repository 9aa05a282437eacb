#!/usr/bin/env python
"""The PromQL of every panel of the monitoring role's Grafana dashboards, ready to send to Prometheus.

There is no Grafana here: the dashboards are tested by running each panel query against the real
Prometheus (the integration test) after the Grafana variables they use are replaced the way Grafana
would replace them. tests/unit/test_dashboards.py checks the files with the same helpers.
Stdlib only.

Usage: python tests/tools/dashboard_queries.py PROJECT [DASHBOARD_DIR]   (prints one query a line)
"""
from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "roles" / "monitoring" / "files" / "dashboards"

# The only Grafana variables a panel query may use, and what each becomes outside Grafana
# ($project: the app's Compose project, given by the caller).
SUBSTITUTES = {"__rate_interval": "1m", "__range": "5m", "__interval": "15s"}
QUERY_VARIABLES = frozenset(SUBSTITUTES) | {"project"}
# Anywhere in a dashboard: those, plus the data source variable the panels name.
DASHBOARD_VARIABLES = QUERY_VARIABLES | {"datasource"}

# Grafana's three variable syntaxes: $name, ${name} or ${name:format}, and [[name]].
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]")

PanelQuery = collections.namedtuple("PanelQuery", ["uid", "title", "expr"])


def load_dashboards(dashboard_dir=DASHBOARD_DIR) -> dict:
    """Every *.json in the directory, parsed, by file stem (sorted)."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(Path(dashboard_dir).glob("*.json"))}


def iter_panels(dashboard: dict):
    """The dashboard's panels, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variables(text: str) -> list:
    """The names of the Grafana variables the text uses, in order."""
    return [next(name for name in match.groups() if name) for match in VARIABLE.finditer(text)]


def substitute(expr: str, project: str) -> str:
    """The query as Grafana would send it: $__rate_interval 1m, $__range 5m, $__interval 15s, $project
    the project. A variable outside that set raises ValueError (no query would run with it)."""
    values = dict(SUBSTITUTES, project=project)

    def one(match):
        name = next(n for n in match.groups() if n)
        if name not in values:
            raise ValueError("unknown Grafana variable %r in %r" % (match.group(0), expr))
        return values[name]
    return VARIABLE.sub(one, expr)


def panel_queries(dashboard_dir, project) -> list:
    """[(dashboard uid, panel title, expr with the Grafana variables replaced)], one per panel target,
    dashboards in file name order, panels and targets in the dashboard's order."""
    queries = []
    for dashboard in load_dashboards(dashboard_dir).values():
        for panel in iter_panels(dashboard):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    queries.append(PanelQuery(dashboard["uid"], panel["title"], substitute(target["expr"], project)))
    return queries


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    for query in panel_queries(args[1] if len(args) > 1 else DASHBOARD_DIR, args[0]):
        print("%s\t%s\t%s" % query)
    return 0


if __name__ == "__main__":
    sys.exit(main())
