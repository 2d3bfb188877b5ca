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

"""Every core operation of our driver against the real cluster."""

from cinder import exception
from oslo_utils import units

from cinder_ext.ceph import blocking
from cinder_ext.tests.functional import attach
from cinder_ext.tests.functional import base


class TestMode(base.DriverTestCase):
    def test_concurrency_mode_matches_environment(self):
        active = blocking.eventlet_active()
        self.assertEqual(base.expected_mode() == 'eventlet', active)


class TestVolumeLifecycle(base.DriverTestCase):
    def setUp(self):
        super(TestVolumeLifecycle, self).setUp()
        self.driver = self.make_driver()

    def test_create_delete(self):
        vol = self.volume(size=2)
        self.assertEqual({}, self.driver.create_volume(vol))
        self.assertIn(vol.name, self.image_names())
        self.assertEqual(2 * units.Gi, self.image_size(vol.name))
        with self.open_image(vol.name) as image:
            self.assertEqual(22, image.stat()['order'])  # 4 MiB objects
        self.driver.delete_volume(vol)
        self.assertNotIn(vol.name, self.image_names())

    def test_delete_is_idempotent(self):
        vol = self.volume()
        self.driver.delete_volume(vol)  # never existed
        self.driver.create_volume(vol)
        self.driver.delete_volume(vol)
        self.driver.delete_volume(vol)
        self.assertNotIn(vol.name, self.image_names())

    def test_extend(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.driver.extend_volume(vol, 3)
        self.assertEqual(3 * units.Gi, self.image_size(vol.name))

    def test_extend_refuses_to_shrink(self):
        vol = self.volume(size=2)
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.assertRaises(exception.InvalidInput,
                          self.driver.extend_volume, vol, 1)
        self.assertEqual(2 * units.Gi, self.image_size(vol.name))

    def test_snapshot_and_revert(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.write_pattern(vol.name, b'before' * 100)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        self.assertIn(snap.name, self.snap_names(vol.name))
        self.write_pattern(vol.name, b'after!' * 100)
        self.driver.revert_to_snapshot(self.ctx, vol, snap)
        self.assertEqual(b'before' * 100, self.read(vol.name, 600))
        self.driver.delete_snapshot(snap)
        self.assertEqual([], self.snap_names(vol.name))
        self.driver.delete_snapshot(snap)  # already gone: no error

    def test_volume_from_snapshot_grows_and_keeps_data(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.write_pattern(vol.name, b'golden')
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        clone = self.volume(size=2)
        self.driver.create_volume_from_snapshot(clone, snap)
        self.assertEqual(2 * units.Gi, self.image_size(clone.name))
        self.assertEqual(b'golden', self.read(clone.name, 6))
        self.assertEqual(('volumes', vol.name, snap.name),
                         self.parent_of(clone.name))
        self.driver.delete_volume(clone)
        self.driver.delete_snapshot(snap)
        self.driver.delete_volume(vol)

    def test_volume_from_snapshot_flattened_when_configured(self):
        drv = self.make_driver(group='flat',
                               rbd_flatten_volume_from_snapshot=True)
        vol = self.volume()
        drv.create_volume(vol)
        snap = self.snapshot(vol)
        drv.create_snapshot(snap)
        clone = self.volume()
        drv.create_volume_from_snapshot(clone, snap)
        self.assertIsNone(self.parent_of(clone.name))
        # Flattened: the snapshot has no clones and deletes at once.
        drv.delete_snapshot(snap)
        for item in (clone, vol):
            drv.delete_volume(item)

    def test_cloned_volume(self):
        src = self.volume()
        self.driver.create_volume(src)
        self.write_pattern(src.name, b'source')
        dst = self.volume(size=2)
        dst.source_volid = src.id  # as Cinder records it
        self.driver.create_cloned_volume(dst, src)
        clone_snap = dst.name + '.clone_snap'
        self.assertEqual(('volumes', src.name, clone_snap),
                         self.parent_of(dst.name))
        self.assertEqual(b'source', self.read(dst.name, 6))
        self.assertEqual(2 * units.Gi, self.image_size(dst.name))
        # Source deleted first: kept as .deleted until the clone goes.
        self.driver.delete_volume(src)
        self.assertIn(src.name + '.deleted', self.image_names())
        self.driver.delete_volume(dst)
        self.settle()  # the parent goes after the delete returned
        self.assertNotIn(src.name + '.deleted', self.image_names())

    def test_clone_of_clone_releases_chain(self):
        a = self.volume()
        self.driver.create_volume(a)
        b = self.volume()
        b.source_volid = a.id  # as Cinder records it
        self.driver.create_cloned_volume(b, a)
        c = self.volume()
        c.source_volid = b.id  # as Cinder records it
        self.driver.create_cloned_volume(c, b)
        self.driver.delete_volume(a)
        self.driver.delete_volume(b)
        names = self.image_names()
        self.assertIn(a.name + '.deleted', names)
        self.assertIn(b.name + '.deleted', names)
        self.driver.delete_volume(c)  # releases b.deleted, then a.deleted

    def test_clone_depth_flattens(self):
        drv = self.make_driver(group='depth1', rbd_max_clone_depth=1)
        a = self.volume()
        drv.create_volume(a)
        b = self.volume()
        b.source_volid = a.id  # as Cinder records it
        drv.create_cloned_volume(b, a)  # depth of a: 0 -> COW clone
        self.assertIsNotNone(self.parent_of(b.name))
        c = self.volume()
        c.source_volid = b.id  # as Cinder records it
        drv.create_cloned_volume(c, b)  # depth of b: 1 -> flatten
        self.assertIsNone(self.parent_of(c.name))
        self.assertNotIn(c.name + '.clone_snap', self.snap_names(b.name))
        for vol in (c, b, a):
            drv.delete_volume(vol)

    def test_clone_depth_zero_is_full_copy(self):
        drv = self.make_driver(group='depth0', rbd_max_clone_depth=0)
        src = self.volume()
        drv.create_volume(src)
        self.write_pattern(src.name, b'copied')
        dst = self.volume(size=2)
        dst.source_volid = src.id  # as Cinder records it
        drv.create_cloned_volume(dst, src)
        self.assertIsNone(self.parent_of(dst.name))
        self.assertEqual([], self.snap_names(src.name))
        self.assertEqual(b'copied', self.read(dst.name, 6))
        self.assertEqual(2 * units.Gi, self.image_size(dst.name))
        for vol in (dst, src):
            drv.delete_volume(vol)

    def test_exports_are_noops(self):
        vol = self.volume()
        self.assertIsNone(self.driver.create_export(self.ctx, vol, {}))
        self.assertIsNone(self.driver.ensure_export(self.ctx, vol))
        self.assertIsNone(self.driver.remove_export(self.ctx, vol))
        self.assertIsNone(self.driver.terminate_connection(vol, {}))


class TestAttachAndStats(base.DriverTestCase):
    def setUp(self):
        super(TestAttachAndStats, self).setUp()
        self.driver = self.make_driver()

    def test_connection_info_reaches_cluster_alone(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.write_pattern(vol.name, b'attach-me')
        info = self.driver.initialize_connection(vol, {'host': 'hv1'})
        self.assertEqual('rbd', info['driver_volume_type'])
        data = info['data']
        self.assertEqual('volumes/' + vol.name, data['name'])
        self.assertEqual(['127.0.0.1'], data['hosts'])
        self.assertEqual(['6789'], data['ports'])
        fsid = self.rados_fsid()
        self.assertEqual(fsid, data['secret_uuid'])
        self.assertNotIn('keyring', data)
        self.assertEqual(b'attach-me', attach.read_like_qemu(info, 9))

    def test_connection_info_msgr2(self):
        drv = self.make_driver(group='v2', rbd_mon_address_type='v2')
        vol = self.volume()
        drv.create_volume(vol)
        self.addCleanup(drv.delete_volume, vol)
        info = drv.initialize_connection(vol, {})
        self.assertEqual(['3300'], info['data']['ports'])
        self.assertEqual(bytes(4), attach.read_like_qemu(info, 4))

    def rados_fsid(self):
        return base.admin('fsid').strip()

    def test_stats(self):
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual('up', stats['backend_state'])
        self.assertEqual('ceph', stats['storage_protocol'])
        self.assertGreater(stats['total_capacity_gb'], 0)
        self.assertGreater(stats['free_capacity_gb'], 0)
        self.assertNotIn('provisioned_capacity_gb', stats)
        self.assertTrue(stats['location_info'].endswith(':cinder:volumes'))

    def test_stats_shared_pool_counts_provisioned(self):
        drv = self.make_driver(group='shared',
                               rbd_exclusive_cinder_pool=False)
        before = drv.get_volume_stats(refresh=True)['provisioned_capacity_gb']
        vol = self.volume(size=3)
        drv.create_volume(vol)
        self.addCleanup(drv.delete_volume, vol)
        after = drv.get_volume_stats(refresh=True)['provisioned_capacity_gb']
        self.assertEqual(3, after - before)

    def test_one_connection_for_many_operations(self):
        vols = [self.volume() for _ in range(5)]
        for vol in vols:
            self.driver.create_volume(vol)
            self.driver.initialize_connection(vol, {})
            self.driver.get_volume_stats(refresh=True)
            self.driver.delete_volume(vol)
        self.assertEqual(1, self.driver._backend.client.connects)
