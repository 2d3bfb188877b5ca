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
"""The cinder.conf backend section writer shared by DevStack and tools."""

import os

import ddt
import fixtures
import testtools

from cinder_ext import backend_section

ORIGINAL = """[DEFAULT]
# keep this comment
enabled_backends = ceph-ext

[ceph-ext]
rbd_pool = old
custom_option = keep

[other]
rbd_pool = untouched
"""


@ddt.ddt
class TestBackendSection(testtools.TestCase):
    def setUp(self):
        super(TestBackendSection, self).setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'cinder.conf')

    def write_and_read(self, original, argv):
        if original is not None:
            with open(self.path, 'w') as conf:
                conf.write(original)
        self.assertEqual(0, backend_section.main(
            ['--config-file', self.path] + argv))
        with open(self.path) as conf:
            return conf.read()

    def test_updates_existing_section_only(self):
        text = self.write_and_read(ORIGINAL, [
            '--backend', 'ceph-ext', '--pool', 'volumes', '--user',
            'cinder', '--ceph-conf', '/etc/ceph/ceph.conf',
            '--set', 'rbd_max_clone_depth=3'])
        self.assertIn('# keep this comment', text)
        self.assertIn('custom_option = keep', text)
        self.assertIn('[other]\nrbd_pool = untouched', text)
        section = text.split('[ceph-ext]')[1].split('[other]')[0]
        self.assertEqual(1, section.count('rbd_pool'))
        self.assertIn('rbd_pool = volumes', section)
        self.assertIn('volume_driver = '
                      'cinder_ext.volume.drivers.rbd.RBDDriver', section)
        self.assertIn('rbd_max_clone_depth = 3', section)

    def test_idempotent(self):
        argv = ['--backend', 'b', '--pool', 'p', '--user', 'u',
                '--ceph-conf', 'c', '--secret-uuid', 'abc']
        first = self.write_and_read(ORIGINAL, argv)
        self.assertEqual(first, self.write_and_read(None, argv))

    def test_new_file_and_intree_driver(self):
        text = self.write_and_read(None, [
            '--backend', 'ceph-intree', '--pool', 'p', '--user', 'u',
            '--ceph-conf', 'c', '--driver', 'intree'])
        self.assertTrue(text.startswith('[ceph-intree]\n'))
        self.assertIn('volume_driver = cinder.volume.drivers.rbd.RBDDriver',
                      text)
        self.assertNotIn('rbd_secret_uuid', text)

    @ddt.data(['--set', 'Bad Key=1'], ['--set', 'novalue'],
              ['--driver', 'lvm'])
    def test_bad_input_changes_nothing(self, extra):
        with open(self.path, 'w') as conf:
            conf.write(ORIGINAL)
        self.assertRaises(SystemExit, backend_section.main,
                          ['--config-file', self.path, '--backend', 'b',
                           '--pool', 'p', '--user', 'u', '--ceph-conf',
                           'c'] + extra)
        with open(self.path) as conf:
            self.assertEqual(ORIGINAL, conf.read())
