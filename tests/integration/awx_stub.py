# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A tiny in-memory stand-in for the AWX v2 REST API, enough for the awx.awx modules that
playbooks/awx_configure.yml uses (no live AWX is reachable from the test bed).

What it implements, as awx.awx 24.6.1's controller_api.py calls it:
  * GET /api/v2/<type>/?<field>=..&or__id=..&or__name=.. -> {count, next: null, results}
  * POST /api/v2/<type>/ -> 201 with id, url, type, related; GET/PATCH/DELETE /api/v2/<type>/<id>/
  * /<obj>/survey_spec/ (GET, POST, DELETE), association lists (credentials, success_nodes, ...:
    GET; POST {id} or {id, disassociate: true} -> 204), /workflow_job_template_nodes/<id>/create_approval_template/
  * /api/v2/unified_job_templates/ searched across the template types by name and type.
  * a project created with an SCM URL starts its first sync, as AWX does: summary_fields.current_update
    names a project update that reads pending, running, then successful on successive GETs.
  * /api/v2/schedules/ like any other object type.
Every request is logged, so tests can tell reads from writes. It answers on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

SINGULAR = {
    'organizations': 'organization', 'execution_environments': 'execution_environment', 'projects': 'project',
    'inventories': 'inventory', 'inventory_sources': 'inventory_source', 'credential_types': 'credential_type',
    'credentials': 'credential', 'job_templates': 'job_template', 'workflow_job_templates': 'workflow_job_template',
    'workflow_job_template_nodes': 'workflow_job_template_node', 'workflow_approval_templates': 'workflow_approval_template',
    'labels': 'label', 'instance_groups': 'instance_group', 'notification_templates': 'notification_template',
    'schedules': 'schedule', 'project_updates': 'project_update',
}
# What a project update reads on successive GETs.
UPDATE_STATES = ('pending', 'running', 'successful')
UNIFIED = ('job_templates', 'workflow_job_templates', 'projects', 'inventory_sources', 'workflow_approval_templates')
SUBLISTS = ('credentials', 'labels', 'instance_groups', 'success_nodes', 'failure_nodes', 'always_nodes',
            'notification_templates_started', 'notification_templates_success', 'notification_templates_error',
            'notification_templates_approvals')


class AwxState(object):
    def __init__(self, sync_result='successful'):
        self.sync_result = sync_result
        self.lock = threading.Lock()
        self.objects = {kind: {} for kind in SINGULAR}
        self.surveys = {}
        self.links = {}
        self.requests = []
        self.next_id = 1
        self.create('organizations', {'name': 'Default'})

    def create(self, kind, fields):
        oid, self.next_id = self.next_id, self.next_id + 1
        url = '/api/v2/%s/%d/' % (kind, oid)
        obj = dict(fields, id=oid, url=url, type=SINGULAR[kind], summary_fields={},
                   related={sub: url + sub + '/' for sub in ('survey_spec',) + SUBLISTS})
        self.objects[kind][oid] = obj
        if kind == 'projects':
            obj.setdefault('scm_revision', '')
            if fields.get('scm_url'):
                update = self.create('project_updates', {'project': oid, 'status': 'pending', 'finished': None,
                                                         'failed': False, 'polls': 0})
                obj['summary_fields'] = {'current_update': {'id': update['id'], 'status': 'pending'}}
        return obj

    def poll(self, update):
        """A project update moves on one state per read, and is finished once successful."""
        update['polls'] += 1
        update['status'] = UPDATE_STATES[min(update['polls'], len(UPDATE_STATES) - 1)]
        if update['status'] == 'successful':
            update['status'] = self.sync_result
            update['failed'] = self.sync_result != 'successful'
            update['finished'] = '2026-01-01T00:00:00Z'
            if not update['failed']:
                self.objects['projects'][update['project']]['scm_revision'] = 'a' * 40
        return update

    def find(self, kind, query):
        pool = [o for k in (UNIFIED if kind == 'unified_job_templates' else (kind,)) for o in self.objects[k].values()]
        either = {k[4:]: v for k, v in query.items() if k.startswith('or__')}
        exact = {k: v for k, v in query.items() if not k.startswith('or__') and k not in ('page', 'page_size')}
        found = []
        for obj in pool:
            if any(str(obj.get(k)) != v for k, v in exact.items()):
                continue
            if either and not any(str(obj.get(k)) == v for k, v in either.items()):
                continue
            found.append(obj)
        return found

    def writes(self):
        return [r for r in self.requests if r['method'] in ('POST', 'PATCH', 'PUT', 'DELETE')]


class _Handler(BaseHTTPRequestHandler):
    state = None  # set per server
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        return

    def _reply(self, code, payload=None):
        data = b'' if payload is None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        state = self.state
        parts = urlsplit(self.path)
        length = int(self.headers.get('Content-Length') or 0)
        body = json.loads(self.rfile.read(length) or b'{}') if length else {}
        segs = [s for s in parts.path.split('/') if s]
        with state.lock:
            state.requests.append({'method': self.command, 'path': parts.path, 'query': parts.query, 'body': body,
                                   'authorization': self.headers.get('Authorization')})
            if segs[:2] != ['api', 'v2'] or len(segs) < 3:
                return self._reply(404, {'detail': 'not found'})
            kind, rest = segs[2], segs[3:]
            if kind not in SINGULAR and kind != 'unified_job_templates':
                return self._reply(404, {'detail': 'no endpoint %s' % kind})
            if not rest:
                if self.command == 'GET':
                    found = state.find(kind, dict(parse_qsl(parts.query)))
                    return self._reply(200, {'count': len(found), 'next': None, 'previous': None, 'results': found})
                if self.command == 'POST':
                    return self._reply(201, state.create(kind, body))
                return self._reply(405, {'detail': 'method'})
            obj = state.objects.get(kind, {}).get(int(rest[0]))
            if obj is None:
                return self._reply(404, {'detail': 'no %s %s' % (kind, rest[0])})
            if len(rest) == 1:
                if self.command == 'GET':
                    return self._reply(200, state.poll(obj) if kind == 'project_updates' else obj)
                if self.command == 'PATCH':
                    obj.update(body)
                    return self._reply(200, obj)
                if self.command == 'DELETE':
                    del state.objects[kind][obj['id']]
                    return self._reply(204)
                return self._reply(405, {'detail': 'method'})
            return self._sub(state, kind, obj, rest[1], body)

    def _sub(self, state, kind, obj, sub, body):
        key = (kind, obj['id'])
        if sub == 'survey_spec':
            if self.command == 'GET':
                return self._reply(200, state.surveys.get(key, {}))
            if self.command == 'POST':
                state.surveys[key] = body
                return self._reply(200, {})
            state.surveys.pop(key, None)
            return self._reply(200, {})
        if sub == 'create_approval_template' and kind == 'workflow_job_template_nodes' and self.command == 'POST':
            approval = state.create('workflow_approval_templates', body)
            obj['unified_job_template'] = approval['id']
            obj['related']['unified_job_template'] = approval['url']
            return self._reply(201, approval)
        if sub in SUBLISTS:
            ids = state.links.setdefault(key + (sub,), [])
            if self.command == 'GET':
                results = [{'id': i} for i in ids]
                return self._reply(200, {'count': len(results), 'next': None, 'previous': None, 'results': results})
            if self.command == 'POST':
                if body.get('disassociate'):
                    ids.remove(body['id'])
                elif body['id'] not in ids:
                    ids.append(body['id'])
                return self._reply(204)
        return self._reply(404, {'detail': 'no sub-endpoint %s' % sub})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


class AwxStub(object):
    """Context manager: AwxStub() as stub -> stub.url, stub.state. sync_result: how project syncs end."""

    def __init__(self, sync_result='successful'):
        self.state = AwxState(sync_result)
        handler = type('AwxHandler', (_Handler,), {'state': self.state})
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
