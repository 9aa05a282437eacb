# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Shield SRE <sre@aishield.invalid>
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import datetime

from ansible_collections.aishield.ops.plugins.modules.alertmanager_silence import matching, same_matchers, silence_body


def silence(state='active', comment='deploy v2', matchers=None, regex=False):
    return {'id': 's-' + state, 'status': {'state': state}, 'comment': comment,
            'matchers': matchers or [{'name': 'project', 'value': 'aishield', 'isRegex': regex, 'isEqual': True}]}


def test_same_matchers_is_exact():
    assert same_matchers(silence(), {'project': 'aishield'})
    assert not same_matchers(silence(), {'project': 'aishield', 'service': 'backend'})
    assert not same_matchers(silence(), {'project': 'other'})
    assert not same_matchers(silence(regex=True), {'project': 'aishield'})


def test_matching_keeps_only_live_silences_with_the_comment():
    found = matching([silence('active'), silence('pending'), silence('expired'), silence(comment='other')],
                     {'project': 'aishield'}, 'deploy v2')
    assert [s['id'] for s in found] == ['s-active', 's-pending']


def test_silence_body_ends_after_the_duration():
    now = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=datetime.timezone.utc)
    body = silence_body({'project': 'aishield'}, 'deploy v2', 'aishield.ops', 30, now)
    assert body == {'matchers': [{'name': 'project', 'value': 'aishield', 'isRegex': False, 'isEqual': True}],
                    'startsAt': '2026-12-06T10:00:00.000Z', 'endsAt': '2026-12-06T10:30:00.000Z',
                    'createdBy': 'aishield.ops', 'comment': 'deploy v2'}
