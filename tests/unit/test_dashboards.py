# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""roles/monitoring/files/dashboards: the five Grafana dashboards are well formed, name their data
source through the ${datasource} variable, and every panel query is PromQL that only uses the
Grafana variables the integration test knows how to replace (no Grafana here; the integration test
runs the same queries, from tests/tools/dashboard_queries.py, against a real Prometheus)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.aishield.ops.plugins.module_utils._monitoring import write_set

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / 'roles' / 'monitoring'
DASHBOARD_DIR = ROLE / 'files' / 'dashboards'
UIDS = ['aishield-api', 'aishield-celery', 'aishield-database', 'aishield-frontend', 'aishield-main']
PANEL_TYPES = {'timeseries', 'stat', 'table'}
DATASOURCE = {'type': 'prometheus', 'uid': '${datasource}'}


def _load_tool():
    spec = importlib.util.spec_from_file_location('dashboard_queries', REPO / 'tests' / 'tools' / 'dashboard_queries.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dq = _load_tool()
DASHBOARDS = dq.load_dashboards(DASHBOARD_DIR)
PANELS = [(uid, panel) for uid, board in DASHBOARDS.items() for panel in dq.iter_panels(board)]
TARGETS = [(uid, panel['title'], target) for uid, panel in PANELS for target in panel.get('targets', [])]


def balanced(expr):
    """None when the brackets and quotes of the expression pair up, else what is wrong. Quotes are
    "...", '...' (backslash escapes) and `...` (raw); brackets inside quotes do not count."""
    pairs = {')': '(', ']': '[', '}': '{'}
    stack = []
    quote = None
    escaped = False
    for index, char in enumerate(expr):
        if quote:
            if escaped:
                escaped = False
            elif char == '\\' and quote != '`':
                escaped = True
            elif char == quote:
                quote = None
        elif char in '"\'`':
            quote = char
        elif char in '([{':
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                return 'unmatched %r at %d' % (char, index)
    if quote:
        return 'unterminated %s' % quote
    if stack:
        return 'unclosed %r' % ''.join(stack)
    return None


def _panel_id(item):
    return '%s: %s' % (item[0], item[1]['title'])


def _target_id(item):
    return '%s: %s %s' % (item[0], item[1], item[2].get('refId'))


def test_exactly_the_five_dashboards():
    assert sorted(DASHBOARDS) == UIDS
    assert sorted(board['uid'] for board in DASHBOARDS.values()) == UIDS


@pytest.mark.parametrize('stem', UIDS)
def test_dashboard_header(stem):
    board = DASHBOARDS[stem]
    assert board['uid'] == stem, 'the uid is the file name stem'
    assert board['title'].startswith('AI Shield / ')
    assert board['tags'] == ['aishield']
    assert board['schemaVersion'] == 39
    assert '__inputs' not in board and '__requires' not in board, 'a provisioned dashboard, not an export for import'
    variables = {v['name']: v for v in board['templating']['list']}
    assert variables['datasource']['type'] == 'datasource'
    assert variables['datasource']['query'] == 'prometheus'
    assert variables['project']['type'] == 'query'
    assert variables['project']['datasource'] == DATASOURCE
    query = variables['project']['query']
    assert (query['query'] if isinstance(query, dict) else query) == 'label_values(aishield:service_running, project)'


def test_titles_are_unique_and_name_ai_shield():
    titles = [board['title'] for board in DASHBOARDS.values()]
    assert len(set(titles)) == len(titles)
    assert all('AI Shield' in title for title in titles)


@pytest.mark.parametrize('stem', UIDS)
def test_panel_layout(stem):
    panels = list(dq.iter_panels(DASHBOARDS[stem]))
    assert 4 <= len(panels) <= 8
    ids = [panel['id'] for panel in panels]
    assert len(set(ids)) == len(ids), 'panel ids are unique in a dashboard'
    assert len({panel['title'] for panel in panels}) == len(panels), 'panel titles are unique in a dashboard'
    cells = {}
    for panel in panels:
        grid = panel['gridPos']
        assert grid['w'] > 0 and grid['h'] > 0 and grid['x'] >= 0 and grid['y'] >= 0
        assert grid['x'] + grid['w'] <= 24, '%s is wider than the 24 grid columns' % panel['title']
        for x in range(grid['x'], grid['x'] + grid['w']):
            for y in range(grid['y'], grid['y'] + grid['h']):
                assert (x, y) not in cells, '%s overlaps %s' % (panel['title'], cells.get((x, y)))
                cells[(x, y)] = panel['title']


@pytest.mark.parametrize('item', PANELS, ids=_panel_id)
def test_panel(item):
    _uid, panel = item
    assert panel['type'] in PANEL_TYPES
    assert panel['datasource'] == DATASOURCE
    assert panel['targets'], 'at least one query'
    assert panel['fieldConfig']['defaults'].get('unit'), 'a unit'
    ref_ids = [target['refId'] for target in panel['targets']]
    assert len(set(ref_ids)) == len(ref_ids)
    for target in panel['targets']:
        assert target.get('datasource', DATASOURCE) == DATASOURCE
        assert 'legendFormat' in target


@pytest.mark.parametrize('item', TARGETS, ids=_target_id)
def test_target_expr(item):
    _uid, _title, target = item
    expr = target.get('expr')
    assert isinstance(expr, str) and expr.strip(), 'a non-empty expr'
    unknown = set(dq.variables(expr)) - dq.QUERY_VARIABLES
    assert not unknown, 'Grafana variables the integration test cannot replace: %s' % sorted(unknown)
    assert balanced(expr) is None, balanced(expr)
    assert '$' not in dq.substitute(expr, 'aishield')


@pytest.mark.parametrize('stem', UIDS)
def test_no_other_grafana_variables_anywhere(stem):
    text = json.dumps(DASHBOARDS[stem])
    assert set(dq.variables(text)) <= dq.DASHBOARD_VARIABLES


@pytest.mark.parametrize('stem', UIDS)
def test_project_selector_only_on_the_container_metrics(stem):
    for panel in dq.iter_panels(DASHBOARDS[stem]):
        for target in panel['targets']:
            if '$project' in target['expr']:
                assert 'aishield:' in target['expr'] or 'aishield_container_' in target['expr'], target['expr']


def test_panel_queries_substitutes_the_grafana_variables():
    queries = dq.panel_queries(DASHBOARD_DIR, 'demo-project')
    assert len(queries) == len(TARGETS)
    assert {query.uid for query in queries} == set(UIDS)
    for query in queries:
        assert query.title and '$' not in query.expr
        assert balanced(query.expr) is None
    exprs = '\n'.join(query.expr for query in queries)
    assert 'project="demo-project"' in exprs
    assert '[1m]' in exprs and '[5m]' in exprs


@pytest.mark.parametrize(('expr', 'expected'), [
    ('rate(x[$__rate_interval])', 'rate(x[1m])'),
    ('avg_over_time(x[$__range]) + avg_over_time(y[${__interval}])', 'avg_over_time(x[5m]) + avg_over_time(y[15s])'),
    ('x{project="$project"} or y{project="[[project]]"}', 'x{project="p"} or y{project="p"}'),
])
def test_substitute(expr, expected):
    assert dq.substitute(expr, 'p') == expected


def test_substitute_refuses_unknown_variables():
    with pytest.raises(ValueError, match='__interval_ms'):
        dq.substitute('x[$__interval_ms]', 'p')


@pytest.mark.parametrize(('expr', 'ok'), [
    ('sum(rate(x{a="b"}[1m]))', True),
    ('x{a="b)"}', True),
    ("x{a='it\\'s'}", True),
    ('x{a=`\\`}', True),
    ('sum(rate(x[1m])', False),
    ('x{a="b}', False),
    ('x[1m)', False),
    ('x)', False),
])
def test_balanced(expr, ok):
    assert (balanced(expr) is None) == ok


def test_provisioning_points_where_the_role_copies_the_dashboards():
    provisioning = yaml.safe_load((ROLE / 'files' / 'grafana' / 'dashboards.yml').read_text(encoding='utf-8'))
    [provider] = provisioning['providers']
    assert provider['name'] == 'aishield' and provider['type'] == 'file' and provider['folder'] == 'AI Shield'
    # The role writes monitoring_grafana_dir/dashboards/aishield, which Grafana sees under /etc/grafana.
    assert provider['options']['path'] == '/etc/grafana/dashboards/aishield'
    # The role's files_write task gets the dashboards from the plan's write set, as role files (src).
    settings = {'images': {}, 'grafana_dir': '/srv/grafana', 'grafana_prometheus_url': 'http://prometheus:9090',
                'scrape_interval': '15s'}
    plan = {'directories': [], 'secret_files': [], 'files': {}, 'receiver': 'none', 'container_exporter': False}
    written = write_set(plan, settings, json.dumps)
    copied = [item for item in written['files'] if item.get('src', '').startswith('dashboards/')]
    assert sorted(item['src'] for item in copied) == sorted('dashboards/%s.json' % stem for stem in UIDS)
    assert all(item['path'] == '/srv/grafana/dashboards/aishield/' + item['src'].split('/')[1] for item in copied)
    assert all((ROLE / 'files' / item['src']).is_file() for item in written['files'] if 'src' in item)
    assert {'path': '/srv/grafana/provisioning/dashboards/aishield.yml', 'src': 'grafana/dashboards.yml',
            'mode': '0644'} in written['files']
