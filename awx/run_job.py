# -*- coding: utf-8 -*-
# Copyright (c) 2025, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run an aishield.ops job template the way AWX does, for CI systems without AWX.

    python awx/run_job.py deploy -i inventories/prod --extra-vars @answers.yml
    python awx/run_job.py list

The job template and its survey come from awx/job_templates.yml. The answers (and any secret,
such as aishield_secrets) are read from a YAML/JSON file given as @path, checked against the
survey as AWX checks a launch, and written to <private data dir>/env/extravars (mode 0600):
ansible-runner passes that file as `-e @file`, so no value reaches a command line. The private
data dir holds env/, inventory/ (a link to -i) and project/ (a link to this checkout), as
AWX lays it out. When the job ends, however it ends, the files written to env/ are removed, so
no secret stays on disk; artifacts/ (events, stdout, the command) is kept for whoever reads it.
Progress is printed per task from the event stream, then a summary: per-host counts, failed
hosts and the set_stats artifacts. Values of secret-looking variables are masked in everything
printed. The exit code is ansible-playbook's (0 only when the job passed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TEMPLATES_FILE = REPO / 'awx' / 'job_templates.yml'
SECRET_NAME = re.compile(r'(password|secret|token|api_key|access_key|webhook_url)', re.I)
SURVEY_TYPES = ('text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect')


class JobError(Exception):
    """A launch AWX would refuse: unknown template, bad survey answer, unreadable file."""


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """SafeLoader that reads Ansible's !unsafe tag as a plain string."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def load_yaml(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.load(handle, Loader=_Loader)  # nosec - SafeLoader subclass


def load_templates(path=TEMPLATES_FILE):
    return load_yaml(path)['aishield_awx_job_templates']


def find_template(templates, name):
    for template in templates:
        if name in (template['key'], template['name']):
            return template
    raise JobError('no job template %r; known: %s' % (name, ', '.join(t['key'] for t in templates)))


def _choices(question):
    choices = question.get('choices') or []
    return choices.split('\n') if isinstance(choices, str) else [str(c) for c in choices]


def survey_answers(template, given):
    """The survey's defaults overlaid with the given answers, validated like an AWX launch."""
    spec = (template.get('survey_spec') or {}).get('spec') or []
    answers = {}
    errors = []
    for question in spec:
        var = question['variable']
        value = given.get(var, question.get('default'))
        if value in (None, '') and question.get('required'):
            errors.append('%s is required (%s)' % (var, question['question_name']))
            continue
        if value in (None, ''):
            answers[var] = value if value is not None else ''
            continue
        kind = question['type']
        if kind == 'multiplechoice':
            value = str(value).lower() if isinstance(value, bool) else str(value)
            if value not in _choices(question):
                errors.append('%s must be one of %s, not %r' % (var, ', '.join(_choices(question)), value))
        elif kind in ('text', 'textarea', 'password'):
            value = str(value)
            low, high = int(question.get('min') or 0), int(question.get('max') or 1024)
            if not low <= len(value) <= high:
                errors.append('%s must be %d to %d characters long' % (var, low, high))
        elif kind in ('integer', 'float'):
            try:
                value = int(value) if kind == 'integer' else float(value)
            except (TypeError, ValueError):
                errors.append('%s must be a number' % var)
        answers[var] = value
    if errors:
        raise JobError('survey answers refused: ' + '; '.join(errors))
    return answers


def secret_values(data, under_secret=False):
    """Every string in data held under a secret-looking key (or anywhere below aishield_secrets)."""
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            found |= secret_values(value, under_secret or bool(SECRET_NAME.search(str(key))) or key == 'aishield_secrets')
    elif isinstance(data, list):
        for value in data:
            found |= secret_values(value, under_secret)
    elif under_secret and isinstance(data, str) and len(data) >= 4:
        found.add(data)
    return found


class Masker(object):
    def __init__(self, secrets):
        self.secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text):
        text = str(text)
        for value in self.secrets:
            text = text.replace(value, '********')
        return text


def prepare(private_data_dir, template, inventory, extravars):
    """Lay out the private data dir as AWX does; extravars go to a 0600 file, never argv."""
    pdd = Path(private_data_dir)
    (pdd / 'env').mkdir(parents=True, exist_ok=True)
    os.chmod(pdd / 'env', 0o700)
    extravars_file = pdd / 'env' / 'extravars'
    fd = os.open(str(extravars_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        yaml.safe_dump(extravars, handle, default_flow_style=False)
    os.chmod(extravars_file, 0o600)
    for name, target in (('project', REPO), ('inventory', Path(inventory).resolve())):
        link = pdd / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    if template.get('job_tags'):
        (pdd / 'env' / 'cmdline').write_text('--tags %s' % template['job_tags'], encoding='utf-8')
    return pdd


# The files prepare() writes to env/: extravars holds every answer and secret; a cmdline left behind
# would also hand its --tags to the next job run in the same private data dir.
ENV_FILES = ('extravars', 'cmdline')


def scrub(private_data_dir):
    """Remove what prepare() wrote to env/ (and env/ itself once empty); artifacts/ stays."""
    env = Path(private_data_dir) / 'env'
    for name in ENV_FILES:
        try:
            (env / name).unlink()
        except FileNotFoundError:
            pass
    try:
        env.rmdir()
    except OSError:
        pass  # missing, or holds files of a caller's own private data dir: not ours to remove


class Progress(object):
    """Prints one line per play, task and host result; collects the summary from the stream."""

    def __init__(self, out, mask):
        self.out = out
        self.mask = mask
        self.stats = {}
        self.artifacts = {}
        self.failed = []

    def __call__(self, event):
        kind = event.get('event', '')
        data = event.get('event_data', {})
        host = data.get('host', '')
        if kind == 'playbook_on_play_start':
            self._print('PLAY  %s' % data.get('play', ''))
        elif kind == 'playbook_on_task_start':
            role = data.get('role')
            self._print('TASK  %s%s' % ('[%s] ' % role if role else '', data.get('task', '')))
        elif kind in ('runner_on_ok', 'runner_item_on_ok'):
            if kind == 'runner_on_ok':
                self._print('      %s: %s' % ('changed' if data.get('res', {}).get('changed') else 'ok', host))
        elif kind == 'runner_on_failed':
            msg = data.get('res', {}).get('msg', '')
            ignored = data.get('ignore_errors')
            self._print('      %s: %s %s' % ('failed (ignored)' if ignored else 'FAILED', host, str(msg)[:400]))
            if not ignored:
                self.failed.append(host)
        elif kind == 'runner_on_unreachable':
            self._print('      UNREACHABLE: %s' % host)
            self.failed.append(host)
        elif kind == 'runner_on_skipped':
            self._print('      skipped: %s' % host)
        elif kind == 'playbook_on_stats':
            self.artifacts = data.get('artifact_data') or {}
            for field in ('ok', 'changed', 'failures', 'dark', 'skipped', 'rescued', 'ignored'):
                for name, count in (data.get(field) or {}).items():
                    self.stats.setdefault(name, {})[field] = count
        return True  # keep the event in artifacts/, as AWX keeps it

    def _print(self, line):
        self.out.write(self.mask(line) + '\n')
        self.out.flush()


def run(template, inventory, given, private_data_dir=None, limit=None, out=sys.stdout, verbosity=0):
    """Run one job; returns (runner object, Progress)."""
    import ansible_runner  # pylint: disable=import-outside-toplevel

    extravars = dict(template.get('extra_vars') or {})
    extravars.update(given)
    extravars.update(survey_answers(template, given))
    mask = Masker(secret_values(extravars))
    pdd = Path(private_data_dir or tempfile.mkdtemp(prefix='aishield-job-'))
    progress = Progress(out, mask)
    envvars = {'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'), 'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0'}
    try:
        prepare(pdd, template, inventory, extravars)
        progress._print('JOB   %s: %s on %s (private data dir %s)' % (template['name'], template['playbook'], inventory, pdd))
        # ansible-runner turns SIGINT/SIGTERM into a cancel and returns, so this finally runs then too.
        runner = ansible_runner.run(private_data_dir=str(pdd), playbook=template['playbook'],
                                    inventory=str(pdd / 'inventory'), limit=limit, envvars=envvars, event_handler=progress,
                                    quiet=True, verbosity=verbosity)
    finally:
        scrub(pdd)
    return runner, progress


def summary(runner, progress, template):
    lines = ['', 'SUMMARY %s: %s (rc %s)' % (template['name'], runner.status, runner.rc)]
    for host, counts in sorted(progress.stats.items()):
        lines.append('  %-24s ok=%d changed=%d failed=%d unreachable=%d skipped=%d rescued=%d' % (
            host, counts.get('ok', 0), counts.get('changed', 0), counts.get('failures', 0), counts.get('dark', 0),
            counts.get('skipped', 0), counts.get('rescued', 0)))
    failed = sorted(set(progress.failed) | {h for h, c in progress.stats.items() if c.get('failures') or c.get('dark')})
    lines.append('  failed hosts: %s' % (', '.join(failed) or 'none'))
    lines.append('  artifacts (set_stats): %s' % (json.dumps(progress.artifacts, sort_keys=True) if progress.artifacts else 'none'))
    lines.append('  events and stdout: %s' % runner.config.artifact_dir)
    return '\n'.join(progress.mask(line) for line in lines)


def _read_answers(items):
    given = {}
    for item in items or []:
        if item.startswith('@'):
            data = load_yaml(item[1:]) or {}
            if not isinstance(data, dict):
                raise JobError('%s must hold a mapping of variables' % item[1:])
            given.update(data)
        elif '=' in item:
            key, value = item.split('=', 1)
            if SECRET_NAME.search(key) or key == 'aishield_secrets':
                raise JobError('%s looks like a secret: put it in a 0600 file and pass --extra-vars @file' % key)
            given[key] = value
        else:
            raise JobError('--extra-vars takes @file or key=value, not %r' % item)
    return given


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('job', help="job template key or name (awx/job_templates.yml), or 'list'")
    parser.add_argument('-i', '--inventory', default=str(REPO / 'inventories' / 'local'))
    parser.add_argument('-e', '--extra-vars', action='append', help='@file.yml (secrets go here) or key=value for plain answers')
    parser.add_argument('-l', '--limit')
    parser.add_argument('--private-data-dir', help='default: a new temporary directory (its artifacts are kept; '
                        'the secrets in env/ are removed when the job ends)')
    parser.add_argument('-v', '--verbose', action='count', default=0)
    args = parser.parse_args(argv)
    try:
        templates = load_templates()
        if args.job == 'list':
            for template in templates:
                print('%-20s %-28s %s%s' % (template['key'], template['name'], template['playbook'],
                                            ' --tags ' + template['job_tags'] if template.get('job_tags') else ''))
            return 0
        template = find_template(templates, args.job)
        runner, progress = run(template, args.inventory, _read_answers(args.extra_vars), args.private_data_dir,
                               args.limit, verbosity=args.verbose)
    except JobError as exc:
        sys.stderr.write('run_job: %s\n' % exc)
        return 2
    print(summary(runner, progress, template))
    return 0 if runner.rc == 0 and runner.status == 'successful' else (runner.rc or 1)


if __name__ == '__main__':
    sys.exit(main())
