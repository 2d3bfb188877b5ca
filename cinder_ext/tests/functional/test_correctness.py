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
"""Ceph decides, checks come first, failures leave nothing: on the cluster.

Each test reproduces a defect found in review (Cinder records that do not
say what Ceph holds, checks made after the image changed, half-made clones,
unreadable Glance locations, features refused too late).
"""

from unittest import mock

from cinder import exception
from cinder.tests.unit import fake_volume
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images
from cinder_ext.tests.functional import base
from cinder_ext.volume import deletion
from cinder_ext.volume.drivers import rbd as ext_rbd
from cinder_ext.volume import type_settings

LUKS_HEADER = b'LUKS\xba\xbe\x00\x01'


class TestCephDecides(base.DriverTestCase):
    """Parent releases follow the image's parent, not ``source_volid``."""

    def setUp(self):
        super(TestCephDecides, self).setUp()
        self.driver = self.make_driver(group='ceph_decides')

    def test_clone_without_source_volid_releases_parent(self):
        # The image-volume cache, manage and migration make clones with no
        # source_volid recorded.
        for _round in range(3):
            src = self.volume()
            self.driver.create_volume(src)
            clone = self.volume()
            self.driver.create_cloned_volume(clone, src)
            self.assertIsNone(clone.source_volid)
            self.driver.delete_volume(src)
            self.assertIn(src.name + '.deleted', self.image_names())
            self.driver.delete_volume(clone)
            self.settle()
            self.assertEqual([], self.ours(self.image_names()))

    def test_source_deleted_right_after_its_clone(self):
        # The clone's parent release may still run when the source's delete
        # arrives: the source leaves its name at once, then goes for good.
        for _round in range(3):
            src = self.volume()
            self.driver.create_volume(src)
            clone = self.volume()
            self.driver.create_cloned_volume(clone, src)
            self.driver.delete_volume(clone)
            self.driver.delete_volume(src)
            self.assertNotIn(src.name, self.image_names())
            self.settle()
            self.assertEqual([], self.ours(self.image_names()))

    def source_with_clones(self, count):
        """A volume deleted in Cinder (now ``.deleted``) and its clones."""
        src = self.volume()
        self.driver.create_volume(src)
        clones = [self.volume() for _ in range(count)]
        for clone in clones:
            self.driver.create_cloned_volume(clone, src)
        self.driver.delete_volume(src)
        return src, clones

    def remove_behind_cinders_back(self, volume):
        # As a failed parent release, or in-tree's delete of a clone of a
        # clone, leaves it: the parent keeps a childless .clone_snap.
        bindings.rbd.RBD().remove(self.rados(), volume.name)

    def test_release_drops_stale_clone_snapshots(self):
        _src, (clone, stale) = self.source_with_clones(2)
        self.remove_behind_cinders_back(stale)
        self.driver.delete_volume(clone)
        self.settle()
        self.assertEqual([], self.ours(self.image_names()))

    def test_purge_finishes_a_stranded_deleted_parent(self):
        src, (clone,) = self.source_with_clones(1)
        self.remove_behind_cinders_back(clone)
        self.assertEqual([src.name + '.deleted'],
                         self.ours(self.image_names()))
        self.driver._purge_trash()
        self.assertEqual([], self.ours(self.image_names()))

    def test_purge_goes_on_while_an_image_migrates_out(self):
        # python-rbd 16.2 cannot list the trash during a live migration.
        src, (clone,) = self.source_with_clones(1)
        self.remove_behind_cinders_back(clone)
        moving = 'migrating-%s' % self.new_id()
        self.create_raw_image(moving)
        rbd = bindings.rbd.RBD()
        rbd.migration_prepare(self.rados(), moving, self.rados(),
                              moving + '-to')
        try:
            self.assertRaises(images.TrashUnreadable, images.trash_entries,
                              self.rados())
            self.assertEqual([src.name + '.deleted'],
                             deletion.purge_trash(self.driver._backend))
        finally:
            rbd.migration_abort(self.rados(), moving)
            rbd.remove(self.rados(), moving)
        self.assertEqual([], self.ours(self.image_names()))


class TestCheckFirst(base.DriverTestCase):
    """Every change is checked before Ceph sees it; failures clean up."""

    def setUp(self):
        super(TestCheckFirst, self).setUp()
        self.driver = self.make_driver(group='check_first')

    def bad_qos_type(self):
        qos_id = self.new_id()
        specs = {'id': qos_id, 'consumer': 'back-end',
                 'specs': {'read_iops_sec': 'lots'}}
        patcher = mock.patch('cinder.volume.qos_specs.get_qos_specs',
                             return_value=specs)
        patcher.start()
        self.addCleanup(patcher.stop)
        return fake_volume.fake_volume_type_obj(
            self.ctx, id=self.new_id(), qos_specs_id=qos_id, extra_specs={})

    def test_extend_checks_type_before_growing(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        vol.volume_type = self.bad_qos_type()
        self.assertRaises(exception.InvalidQoSSpecs,
                          self.driver.extend_volume, vol, 2)
        self.assertEqual(units.Gi, self.image_size(vol.name))
        self.driver.delete_volume(vol)

    def test_failed_clone_leaves_no_clone_snap(self):
        src = self.volume()
        self.driver.create_volume(src)
        clone = self.volume()
        with mock.patch.object(type_settings, 'apply',
                               side_effect=RuntimeError('late failure')):
            self.assertRaises(RuntimeError, self.driver.create_cloned_volume,
                              clone, src)
        self.assertEqual([src.name], self.ours(self.image_names()))
        self.assertEqual([], self.snap_names(src.name))
        self.driver.delete_volume(src)

    def test_unreadable_glance_locations_fall_back_to_copy(self):
        image = 'glance-%s' % self.new_id()
        self.create_raw_image(image)
        with bindings.rbd.Image(self.rados(), image) as img:
            img.create_snap('snap')
            img.protect_snap('snap')  # as Glance's RBD store does
        fsid = self.driver._backend.client.fsid()
        meta = {'disk_format': 'raw'}
        locations = {
            'missing pool': 'rbd://%s/no-such-pool/%s/snap' % (fsid, image),
            'missing image': 'rbd://%s/%s/gone-%s/snap' % (
                fsid, base.POOL, image),
            'missing snapshot': 'rbd://%s/%s/%s/nosnap' % (
                fsid, base.POOL, image),
        }
        for why, url in locations.items():
            vol = self.volume()
            self.assertEqual(({}, False), self.driver.clone_image(
                self.ctx, vol, (url, None), meta, None), why)
            self.assertNotIn(vol.name, self.image_names(), why)
        # A readable location after unreadable ones is still used.
        vol = self.volume()
        good = 'rbd://%s/%s/%s/snap' % (fsid, base.POOL, image)
        urls = [{'url': locations['missing pool'], 'metadata': {}},
                {'url': good, 'metadata': {}}]
        update, cloned = self.driver.clone_image(
            self.ctx, vol, (good, urls), meta, None)
        self.assertTrue(cloned)
        self.assertEqual((base.POOL, image, 'snap'), self.parent_of(vol.name))
        self.driver.delete_volume(vol)
        with bindings.rbd.Image(self.rados(), image) as img:
            img.unprotect_snap('snap')
            img.remove_snap('snap')
        bindings.rbd.RBD().remove(self.rados(), image)


class TestRefusedClearly(base.DriverTestCase):
    """Replication is refused until it exists; LUKS images are not managed."""

    def test_replication_device_refused_at_setup(self):
        error = self.assertRaises(
            exception.InvalidConfigurationValue, self.make_driver,
            group='replicated',
            replication_device=[{'backend_id': 'secondary',
                                 'conf': '/etc/ceph/secondary.conf',
                                 'user': 'cinder'}])
        self.assertIn('replication_device', str(error))
        self.assertNotIn('secondary.conf', str(error))

    def test_failed_over_backend_refused_at_setup(self):
        conf = self._configure(ext_rbd.RBDDriver, 'failed_over')
        drv = ext_rbd.RBDDriver(configuration=conf,
                                active_backend_id='secondary')
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  drv.do_setup, self.ctx)
        self.assertIn('active_backend_id=secondary', str(error))

    def test_manage_refuses_luks_image(self):
        driver = self.make_driver(group='no_luks_manage')
        legacy = 'volume-%s' % self.new_id()
        self.create_raw_image(legacy)
        self.write_pattern(legacy, LUKS_HEADER)
        vol = self.volume()
        ref = {'source-name': legacy}
        for call in (driver.manage_existing_get_size, driver.manage_existing):
            error = self.assertRaises(
                exception.ManageExistingInvalidReference, call, vol, ref)
            self.assertIn('LUKS', str(error))
        self.assertIn(legacy, self.image_names())
        bindings.rbd.RBD().remove(self.rados(), legacy)
