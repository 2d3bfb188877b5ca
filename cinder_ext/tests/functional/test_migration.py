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

"""Backend-assisted migration between the test bed's two pools.

Our driver live migrates ``volumes`` -> ``volumes2``; the in-tree driver
gets the same request where the comparison says something.
"""

import contextlib
from unittest import mock
import uuid

from cinder import exception
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import migration as ceph_migration
from cinder_ext.tests.functional import base

# Far enough apart to land in different 4 MiB objects.
OFFSETS = (0, 300 * units.Mi + 123, units.Gi - 4096)


def host(pool, fsid):
    """What the scheduler passes: the destination's capabilities."""
    info = 'ceph:%s:%s:cinder:%s' % (base.CEPH_CONF, fsid, pool)
    return {'host': 'dest@rbd#rbd',
            'capabilities': {'storage_protocol': 'ceph',
                             'location_info': info}}


class MigrationTestCase(base.DriverTestCase):
    def setUp(self):
        super(MigrationTestCase, self).setUp()
        self.driver = self.make_driver()
        # The destination backend, to clean up what was moved.
        self.driver2 = self.make_driver(group='ext2', rbd_pool=base.POOL2)
        self.fsid = self.driver._backend.client.fsid()
        self.to_pool2 = host(base.POOL2, self.fsid)

    def cleanup(self, vol):
        """Delete ``vol`` from whichever pool it ends up in."""
        def delete():
            moved = vol.name in self.image_names(base.POOL2)
            (self.driver2 if moved else self.driver).delete_volume(vol)
        self.addCleanup(delete)

    def volume_with_data(self, driver=None, **kwargs):
        vol = self.volume(**kwargs)
        self.cleanup(vol)
        (driver or self.driver).create_volume(vol)
        for offset in OFFSETS:
            self.write_pattern(vol.name, vol.id.encode(), offset)
        return vol

    def assert_data(self, vol, pool, snapshot=None, written_to=None):
        expected = (written_to or vol).id.encode()
        with self.open_image(vol.name, snapshot, pool) as image:
            for offset in OFFSETS:
                self.assertEqual(expected, image.read(offset, len(expected)))

    def assert_untouched(self, vol):
        self.assertIn(vol.name, self.image_names())
        self.assertNotIn(vol.name, self.image_names(base.POOL2))
        self.assertEqual([], self.ours(self.trash_names()))
        self.assert_data(vol, base.POOL)


class TestLiveMigration(MigrationTestCase):
    def test_moves_data_and_leaves_nothing_behind(self):
        vol = self.volume_with_data()
        # Per-image librbd settings (QoS from the volume type) move too.
        with bindings.rbd.Image(self.rados(), vol.name) as image:
            image.metadata_set('conf_rbd_qos_iops_limit', '123')
        self.assertEqual((True, None),
                         self.driver.migrate_volume(self.ctx, vol,
                                                    self.to_pool2))
        self.assertNotIn(vol.name, self.image_names())
        self.assertEqual([], self.ours(self.trash_names()))
        self.assertIn(vol.name, self.image_names(base.POOL2))
        self.assert_data(vol, base.POOL2)
        with self.open_image(vol.name, pool=base.POOL2) as image:
            self.assertEqual(units.Gi, image.size())
            self.assertEqual('123',
                             image.metadata_get('conf_rbd_qos_iops_limit'))
            # Sparse: only the three written objects were copied.
            used = sum(e[1] for e in _extents(image))
        self.assertLessEqual(used, 3 * 4 * units.Mi)

    def test_intree_copies_the_same_request(self):
        intree = self.make_intree_driver()
        vol = self.volume_with_data(intree)
        self.assertEqual((True, None),
                         intree.migrate_volume(self.ctx, vol, self.to_pool2))
        self.assertNotIn(vol.name, self.image_names())
        self.assert_data(vol, base.POOL2)

    def volume_with_snapshot(self, driver=None):
        # Cinder refuses volumes with Cinder snapshots; images still carry
        # others, e.g. the Ceph backup driver's incremental base.
        vol = self.volume_with_data(driver)
        snap = 'backup.%s.snap.1' % self.new_id()
        with bindings.rbd.Image(self.rados(), vol.name) as image:
            image.create_snap(snap)
        self.addCleanup(self._remove_snap, vol.name, snap)
        self.write_pattern(vol.name, b'after', 0)
        return vol, snap

    def test_snapshots_move_with_the_image(self):
        vol, snap = self.volume_with_snapshot()
        self.assertEqual((True, None),
                         self.driver.migrate_volume(self.ctx, vol,
                                                    self.to_pool2))
        self.assertEqual([snap], self.snap_names(vol.name, base.POOL2))
        self.assert_data(vol, base.POOL2, snapshot=snap)
        with self.open_image(vol.name, pool=base.POOL2) as image:
            self.assertEqual(b'after', image.read(0, 5))

    def test_intree_drops_the_snapshots(self):
        vol, snap = self.volume_with_snapshot(self.make_intree_driver())
        self.assertEqual((True, None),
                         self.make_intree_driver().migrate_volume(
                             self.ctx, vol, self.to_pool2))
        self.assertEqual([], self.snap_names(vol.name, base.POOL2))

    def _remove_snap(self, name, snap):
        for pool in (base.POOL, base.POOL2):
            if name in self.image_names(pool) and \
                    snap in self.snap_names(name, pool):
                with bindings.rbd.Image(self.rados(pool), name) as image:
                    image.remove_snap(snap)

    def test_clone_moves_keeping_its_parent_which_stays(self):
        parent = self.volume_with_data()
        clone = self.volume(source_volid=parent.id)
        self.cleanup(clone)
        self.driver.create_cloned_volume(clone, parent)
        link = self.parent_of(clone.name)
        self.assertEqual((True, None),
                         self.driver.migrate_volume(self.ctx, clone,
                                                    self.to_pool2))
        self.assertEqual(link, _parent(self.open_image(clone.name,
                                                       pool=base.POOL2)))
        self.assert_data(clone, base.POOL2, written_to=parent)
        with self.open_image(clone.name, pool=base.POOL2) as image:
            self.assertEqual([], _extents(image))  # still shares the data
        # The parent has a clone now: Cinder must copy it.
        self.assertEqual((False, None),
                         self.driver.migrate_volume(self.ctx, parent,
                                                    self.to_pool2))
        self.assert_untouched(parent)

    def test_intree_flattens_a_clone(self):
        intree = self.make_intree_driver()
        parent = self.volume_with_data(intree)
        clone = self.volume(source_volid=parent.id)
        self.cleanup(clone)
        intree.create_cloned_volume(clone, parent)
        self.assertEqual((True, None),
                         intree.migrate_volume(self.ctx, clone,
                                               self.to_pool2))
        self.assertIsNone(self.parent_of_in(clone.name, base.POOL2))
        with self.open_image(clone.name, pool=base.POOL2) as image:
            self.assertNotEqual([], _extents(image))  # a full copy

    def parent_of_in(self, name, pool):
        try:
            return _parent(self.open_image(name, pool=pool))
        except bindings.ImageNotFound:
            return None


class TestRefusedAndRolledBack(MigrationTestCase):
    def test_same_pool_is_database_only(self):
        vol = self.volume_with_data()
        same = host(base.POOL, self.fsid)
        self.assertEqual((True, None),
                         self.driver.migrate_volume(self.ctx, vol, same))
        self.assertEqual((True, None),
                         self.make_intree_driver().migrate_volume(
                             self.ctx, vol, same))
        self.assert_untouched(vol)

    def test_other_cluster_is_copied_by_cinder(self):
        vol = self.volume_with_data()
        other = host(base.POOL2, str(uuid.uuid4()))
        self.assertEqual((False, None),
                         self.driver.migrate_volume(self.ctx, vol, other))
        self.assertEqual((False, None),
                         self.make_intree_driver().migrate_volume(
                             self.ctx, vol, other))
        self.assert_untouched(vol)

    def test_open_image_is_copied_by_cinder(self):
        vol = self.volume_with_data()
        with bindings.rbd.Image(self.rados(), vol.name):  # a watcher
            self.assertEqual((False, None),
                             self.driver.migrate_volume(self.ctx, vol,
                                                        self.to_pool2))
        self.assert_untouched(vol)

    def test_attached_volume_is_copied_by_cinder(self):
        vol = self.volume_with_data()
        vol.status = 'in-use'
        self.assertEqual((False, None),
                         self.driver.migrate_volume(self.ctx, vol,
                                                    self.to_pool2))
        self.assert_untouched(vol)

    def test_destination_taken_at_prepare_leaves_source(self):
        vol = self.volume_with_data()
        bindings.rbd.RBD().create(self.rados(base.POOL2), vol.name,
                                  4 * units.Mi, old_format=False, features=1)
        self.addCleanup(bindings.rbd.RBD().remove, self.rados(base.POOL2),
                        vol.name)
        # Checked before prepare, and again by librbd in prepare (a race).
        for race in (False, True):
            with mock.patch.object(ceph_migration, 'exists',
                                   return_value=False) if race else \
                    contextlib.nullcontext():
                self.assertEqual((False, None),
                                 self.driver.migrate_volume(self.ctx, vol,
                                                            self.to_pool2))
            self.assertEqual(4 * units.Mi, self.image_size_in(vol.name))
            self.assertIn(vol.name, self.image_names())
            self.assert_data(vol, base.POOL)

    def image_size_in(self, name):
        with self.open_image(name, pool=base.POOL2) as image:
            return image.size()

    def test_failure_after_prepare_rolls_back(self):
        vol = self.volume_with_data()
        real_execute = ceph_migration.execute

        def execute_then_fail(ioctx, name):
            real_execute(ioctx, name)  # the data is copied, then it fails
            raise bindings.RBDOSError('injected', errno=5)

        with mock.patch.object(ceph_migration, 'execute',
                               side_effect=execute_then_fail):
            self.assertRaises(exception.VolumeMigrationFailed,
                              self.driver.migrate_volume, self.ctx, vol,
                              self.to_pool2)
        self.assert_untouched(vol)
        self.assertNotIn(vol.name, self.trash_names(base.POOL2))


class TestUpdateMigratedVolume(MigrationTestCase):
    def test_renames_back_unless_attached(self):
        vol = self.volume()
        new = self.volume()
        self.cleanup(vol)
        self.cleanup(new)
        self.driver.create_volume(new)
        self.write_pattern(new.name, vol.id.encode())
        self.assertEqual(
            {'_name_id': new.id, 'provider_location': None},
            self.driver.update_migrated_volume(self.ctx, vol, new, 'in-use'))
        self.assertIn(new.name, self.image_names())
        self.assertEqual(
            {'_name_id': None, 'provider_location': None},
            self.driver.update_migrated_volume(self.ctx, vol, new,
                                               'available'))
        self.assertNotIn(new.name, self.image_names())
        self.assertEqual(vol.id.encode(), self.read(vol.name, len(vol.id)))

    def test_name_taken_keeps_migration_name(self):
        vol = self.volume()
        new = self.volume()
        for each in (vol, new):
            self.cleanup(each)
            self.driver.create_volume(each)
        self.assertEqual(
            {'_name_id': new.id, 'provider_location': None},
            self.driver.update_migrated_volume(self.ctx, vol, new,
                                               'available'))
        self.assertIn(new.name, self.image_names())


def _extents(image):
    found = []
    # Only the image's own objects, not what it reads from a parent.
    image.diff_iterate(0, image.size(), None,
                       lambda offset, length, exists: found.append(
                           (offset, length)) if exists else None,
                       include_parent=False)
    return found


def _parent(opened):
    with opened as image:
        return tuple(image.parent_info())
