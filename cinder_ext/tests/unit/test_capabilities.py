#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Clone format discovery from the cluster's settings."""

from unittest import mock

import ddt

from cinder_ext.ceph import capabilities
from cinder_ext.tests.unit import base


class FakeClock(object):
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def fake_session(min_compat='luminous', configured='auto'):
    session = mock.Mock()
    session.mon_command.return_value = {
        'require_min_compat_client': min_compat}
    session.handle.conf_get.return_value = configured
    return session


@ddt.ddt
class ReleaseTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(
        ('luminous', 'mimic', False),
        ('mimic', 'mimic', True),
        ('nautilus', 'mimic', True),
        ('jewel', 'luminous', False),
        ('squid', 'reef', True),
        ('reef', 'squid', False),
        # Names this code has never heard of are newer releases.
        ('zebra', 'mimic', True),
        ('zebra', 'tentacle', True),
        ('mimic', 'zebra', False),
    )
    def test_release_at_least(self, release, minimum, expected):
        self.assertIs(expected,
                      capabilities.release_at_least(release, minimum))


@ddt.ddt
class CloneFormatTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(
        ('1', 'luminous', 1), ('1', 'mimic', 1), ('1', 'nautilus', 1),
        ('1', 'zebra', 1),
        ('2', 'luminous', 2), ('2', 'mimic', 2), ('2', 'nautilus', 2),
        ('2', 'zebra', 2),
        ('auto', 'jewel', 1), ('auto', 'luminous', 1), ('auto', 'mimic', 2),
        ('auto', 'nautilus', 2), ('auto', 'reef', 2), ('auto', 'zebra', 2),
        (None, 'luminous', 1), (None, 'nautilus', 2),
    )
    def test_clone_format(self, configured, min_compat, expected):
        self.assertEqual(expected,
                         capabilities.clone_format(configured, min_compat))

    @ddt.data(None, '')
    def test_auto_without_min_compat_client_is_v1(self, min_compat):
        # librbd compares the OSD map's require_min_compat_client with
        # mimic; an unset value (release "unknown") is older, so librbd
        # makes v1 clones and needs protected snapshots.
        self.assertEqual(1, capabilities.clone_format('auto', min_compat))


class CloneFormatProbeTestCase(base.TestCase):

    def test_cached_within_ttl_and_reread_after(self):
        clock = FakeClock()
        probe = capabilities.CloneFormatProbe(ttl=60, clock=clock)
        session = fake_session('luminous')

        self.assertEqual(1, probe.get(session))
        clock.now += 60
        self.assertEqual(1, probe.get(session))
        self.assertEqual(1, session.mon_command.call_count)
        session.mon_command.assert_called_once_with('osd dump')

        # The operator raised require-min-compat-client meanwhile.
        session.mon_command.return_value = {
            'require_min_compat_client': 'mimic'}
        clock.now += 1
        self.assertEqual(2, probe.get(session))
        self.assertEqual(2, session.mon_command.call_count)
        self.assertEqual(2, probe.get(session))
        self.assertEqual(2, session.mon_command.call_count)

    def test_reads_configured_format_from_the_connection(self):
        probe = capabilities.CloneFormatProbe(clock=FakeClock())
        session = fake_session('nautilus', configured='1')
        self.assertEqual(1, probe.get(session))
        session.handle.conf_get.assert_called_once_with(
            'rbd_default_clone_format')

    def test_default_ttl(self):
        probe = capabilities.CloneFormatProbe()
        self.assertEqual(capabilities.CLONE_FORMAT_TTL, probe.ttl)
        self.assertGreater(probe.ttl, 0)
