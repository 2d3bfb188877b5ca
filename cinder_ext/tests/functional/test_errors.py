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
"""Error paths on the real cluster: clear errors, nothing created or lost."""

import os

from cinder import exception
import fixtures
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.tests.functional import base


class TestSetupErrors(base.DriverTestCase):
    def assert_setup_fails(self, exc_class, expected, **overrides):
        error = self.assertRaises(exc_class, self.make_driver,
                                  group='bad', **overrides)
        for text in expected:
            self.assertIn(text, str(error))
        return error

    def test_missing_pool(self):
        self.assert_setup_fails(exception.VolumeBackendAPIException,
                                ['rbd_pool=no-such-pool', 'no such pool'],
                                rbd_pool='no-such-pool')

    def test_unknown_user(self):
        self.assert_setup_fails(exception.VolumeBackendAPIException,
                                ['client.nobody', 'authentication'],
                                rbd_user='nobody',
                                rados_connection_retries=1)

    def test_user_with_client_prefix(self):
        self.assert_setup_fails(exception.InvalidConfigurationValue,
                                ['rbd_user', 'client.cinder'],
                                rbd_user='client.cinder')

    def test_missing_conf_file(self):
        self.assert_setup_fails(exception.InvalidConfigurationValue,
                                ['rbd_ceph_conf', '/nonexistent/ceph.conf'],
                                rbd_ceph_conf='/nonexistent/ceph.conf')

    def test_bad_chunk_size(self):
        self.assert_setup_fails(exception.InvalidConfigurationValue,
                                ['rbd_store_chunk_size', '3'],
                                rbd_store_chunk_size=3)

    def test_wrong_key(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        keyring = os.path.join(tmp, 'bad.keyring')
        with open(keyring, 'w') as out:
            # A well-formed key that is not client.cinder's.
            out.write('[client.cinder]\n'
                      'key = AQBSdFtiAAAAABAAmrGZIHQqEanm8U5h5BvLwQ==\n')
        conf = os.path.join(tmp, 'ceph.conf')
        with open(base.CEPH_CONF) as real, open(conf, 'w') as out:
            for line in real:
                if not line.strip().startswith('keyring'):
                    out.write(line)
            out.write('[client.cinder]\nkeyring = %s\n' % keyring)
        error = self.assert_setup_fails(
            exception.VolumeBackendAPIException,
            ['client.cinder', 'authentication'], rbd_ceph_conf=conf,
            rados_connection_retries=1, rados_connect_timeout=10)
        self.assertNotIn('AQBSdFti', str(error))

    def test_unreachable_cluster_within_deadline(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        conf = os.path.join(tmp, 'ceph.conf')
        with open(conf, 'w') as out:
            out.write('[global]\nmon_host = 127.0.0.1:1\n'
                      'keyring = %s/ceph.client.cinder.keyring\n'
                      % base.CEPH_DIR)
        self.assert_setup_fails(exception.VolumeBackendAPIException,
                                ['could not reach', 'within 3 s'],
                                rbd_ceph_conf=conf, rados_connect_timeout=3,
                                rados_connection_retries=1)


class TestOperationErrors(base.DriverTestCase):
    def setUp(self):
        super(TestOperationErrors, self).setUp()
        self.driver = self.make_driver(rados_connection_retries=2,
                                       rados_connection_interval=0)

    def test_create_existing_image_keeps_it(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.write_pattern(vol.name, b'precious')
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  self.driver.create_volume, vol)
        self.assertIn('create_volume', str(error))
        self.assertEqual(b'precious', self.read(vol.name, 8))

    def test_bad_size_and_name_create_nothing(self):
        before = self.image_names()
        vol = self.volume(size=0)
        self.assertRaises(exception.InvalidInput, self.driver.create_volume,
                          vol)
        bad = self.volume()
        bad.id = 'a/b'
        self.assertRaises(exception.InvalidInput, self.driver.create_volume,
                          bad)
        self.assertEqual(sorted(before), sorted(self.image_names()))

    def test_busy_volume_is_not_deleted(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        # An open read-write image holds a watch, like an attached QEMU.
        image = bindings.rbd.Image(self.rados(), vol.name)
        try:
            self.assertRaises(exception.VolumeIsBusy,
                              self.driver.delete_volume, vol)
            self.assertIn(vol.name, self.image_names())
        finally:
            image.close()
        self.driver.delete_volume(vol)

    def test_missing_sources(self):
        vol = self.volume()
        snap = self.snapshot(vol)
        self.driver.delete_snapshot(snap)  # nothing there: fine
        for call, args in ((self.driver.extend_volume, (vol, 2)),
                           (self.driver.create_snapshot, (snap,)),
                           (self.driver.create_volume_from_snapshot,
                            (self.volume(), snap)),
                           (self.driver.create_cloned_volume,
                            (self.volume(), vol))):
            self.assertRaises(exception.VolumeBackendAPIException, call,
                              *args)
        self.assertEqual([], self.ours(self.image_names()))

    def test_clone_onto_existing_name_cleans_clone_snap(self):
        src = self.volume()
        self.driver.create_volume(src)
        self.addCleanup(self.driver.delete_volume, src)
        dst = self.volume()
        self.driver.create_volume(dst)
        self.addCleanup(self.driver.delete_volume, dst)
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.driver.create_cloned_volume, dst, src)
        self.assertEqual([], self.snap_names(src.name))
        self.assertEqual(units.Gi, self.image_size(dst.name))

    def test_protected_snapshot_with_clone_is_deleted(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        clone = self.volume()
        self.driver.create_volume_from_snapshot(clone, snap)
        # Its clone is in use: librbd flattens live images, so the
        # snapshot still goes and the clone keeps working.
        image = bindings.rbd.Image(self.rados(), clone.name)
        try:
            self.driver.delete_snapshot(snap)
            self.assertEqual(b'\0' * 4, image.read(0, 4))
        finally:
            image.close()
        self.assertEqual([], self.snap_names(vol.name))
        self.assertIsNone(self.parent_of(clone.name))
        self.driver.delete_volume(clone)
        self.driver.delete_volume(vol)
