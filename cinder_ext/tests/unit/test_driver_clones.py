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

"""RBDDriver on a fake cluster: snapshots, clones and leak-free deletes."""

from unittest import mock

from cinder import exception
import ddt
from oslo_utils import units

from cinder_ext.ceph import connection
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph
from cinder_ext.volume import deletion

V1, V2 = 'luminous', 'mimic'   # require-min-compat-client -> clone format


@ddt.ddt
class SnapshotTestCase(base.DriverTestCase):

    def make(self, min_compat=V1, **overrides):
        self.cluster.require_min_compat_client = min_compat
        self.drv = self.make_driver(**overrides)
        self.vol = self.volume()
        self.drv.create_volume(self.vol)
        self.cluster.write(self.vol.name, b'parent data', 4096)
        self.snap = self.snapshot(self.vol)
        self.drv.create_snapshot(self.snap)

    def snap_data(self, name=None):
        image = self.cluster.image(self.vol.name)
        return image.user_snap(name or self.snap.name)

    @ddt.unpack
    @ddt.data(('luminous', 'auto', True), ('mimic', 'auto', False),
              ('nautilus', 'auto', False), ('squid', 'auto', False),
              ('luminous', '2', False), ('nautilus', '1', True))
    def test_protected_iff_clone_format_1(self, min_compat, configured,
                                          protected):
        self.cluster.file_conf['rbd_default_clone_format'] = configured
        self.make(min_compat)
        self.assertIs(protected, self.snap_data().protected)
        self.assertNoLeftOpenImages()

    @ddt.data(V1, V2)
    def test_delete_without_clones(self, min_compat):
        self.make(min_compat)
        self.drv.delete_snapshot(self.snap)
        self.assertEqual([], self.cluster.snap_names(self.vol.name))
        self.drv.delete_volume(self.vol)
        self.assertPoolEmpty()

    def test_delete_missing(self):
        self.make()
        self.drv.delete_snapshot(self.snap)
        self.drv.delete_snapshot(self.snap)
        self.drv.delete_volume(self.vol)
        self.drv.delete_snapshot(self.snap)
        self.assertPoolEmpty()

    def test_delete_v1_flattens_clones(self):
        self.make(V1)
        children = [self.volume(), self.volume()]
        for child in children:
            self.drv.create_volume_from_snapshot(child, self.snap)
        self.drv.delete_snapshot(self.snap)
        self.assertEqual(sorted(c.name for c in children),
                         sorted(self.cluster.flattened))
        self.assertEqual([], self.cluster.snap_names(self.vol.name))
        for child in children:
            self.assertIsNone(self.cluster.parent_of(child.name))
            self.assertEqual(b'parent data',
                             self.cluster.read(child.name, 4096, 11))
            self.drv.delete_volume(child)
        self.drv.delete_volume(self.vol)
        self.assertPoolEmpty()

    def test_delete_v2_keeps_clones(self):
        self.make(V2)
        child = self.volume()
        self.drv.create_volume_from_snapshot(child, self.snap)
        self.drv.delete_snapshot(self.snap)
        self.assertEqual([], self.cluster.flattened)
        self.assertEqual([], self.cluster.snap_names(self.vol.name))
        self.assertEqual(b'parent data',
                         self.cluster.read(child.name, 4096, 11))
        # The source's hidden snapshot goes with the last clone.
        self.drv.delete_volume(child)
        self.drv.delete_volume(self.vol)
        self.assertPoolEmpty()

    def test_delete_source_before_v2_clone(self):
        # The snapshot waits in the snapshot trash for its clone, so the
        # source can only go to the trash; the purge finishes the job.
        self.make(V2)
        child = self.volume()
        self.drv.create_volume_from_snapshot(child, self.snap)
        self.drv.delete_snapshot(self.snap)
        self.drv.delete_volume(self.vol)
        self.assertEqual([child.name], self.cluster.image_names())
        self.assertEqual([self.vol.name], self.cluster.trash_names())
        self.drv._purge_trash()
        self.assertEqual([self.vol.name], self.cluster.trash_names())
        self.drv.delete_volume(child)
        self.drv._purge_trash()
        self.assertPoolEmpty()

    def test_delete_busy_clone(self):
        self.make(V1)
        child = self.volume()
        self.drv.create_volume_from_snapshot(child, self.snap)
        # The flatten does not happen (the clone looked gone), so the
        # snapshot stays busy through every retry.
        self.cluster.fail('flatten', fake_ceph.rbd_error('ImageNotFound'))
        self.assertRaises(exception.SnapshotIsBusy, self.drv.delete_snapshot,
                          self.snap)
        self.assertEqual([self.snap.name],
                         self.cluster.snap_names(self.vol.name))
        # One try, then rados_connection_retries (2) attempts.
        self.assertEqual(3, self.cluster.calls['unprotect_snap'])

    @ddt.unpack
    @ddt.data((V1, 1, 0), (V1, 3, 1), (V2, 1, 0), (V2, 3, 1))
    def test_create_volume_from_snapshot(self, min_compat, size, resizes):
        self.make(min_compat)
        child = self.volume(size=size)
        self.assertEqual({}, self.drv.create_volume_from_snapshot(
            child, self.snap))
        self.assertEqual(('volumes', self.vol.name, self.snap.name),
                         self.cluster.parent_of(child.name))
        self.assertEqual(size * units.Gi,
                         self.cluster.image(child.name).size)
        self.assertEqual(resizes, self.cluster.calls['resize'])
        self.assertEqual([], self.cluster.flattened)
        self.assertNoLeftOpenImages()

    def test_create_from_snapshot_flattened_when_configured(self):
        self.make(rbd_flatten_volume_from_snapshot=True)
        child = self.volume()
        self.drv.create_volume_from_snapshot(child, self.snap)
        self.assertIsNone(self.cluster.parent_of(child.name))
        self.assertEqual([child.name], self.cluster.flattened)
        self.assertEqual(b'parent data',
                         self.cluster.read(child.name, 4096, 11))

    def test_temporary_volume_not_flattened(self):
        self.make(rbd_flatten_volume_from_snapshot=True)
        child = self.volume(use_quota=False)
        self.drv.create_volume_from_snapshot(child, self.snap)
        self.assertEqual(('volumes', self.vol.name, self.snap.name),
                         self.cluster.parent_of(child.name))
        self.assertEqual([], self.cluster.flattened)

    def test_create_from_snapshot_resize_failure_cleans_up(self):
        self.make()
        self.cluster.fail('resize', fake_ceph.rbd_error('NoSpace'))
        child = self.volume(size=5)
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.drv.create_volume_from_snapshot, child,
                          self.snap)
        self.assertEqual([self.vol.name], self.cluster.image_names())


@ddt.ddt
class CloneTestCase(base.DriverTestCase):

    def make(self, min_compat=V1, **overrides):
        self.cluster.require_min_compat_client = min_compat
        self.drv = self.make_driver(**overrides)
        self.src = self.volume()
        self.drv.create_volume(self.src)
        self.cluster.write(self.src.name, b'source data', 8192)

    def clone(self, src, size=1, **kwargs):
        dst = self.volume(size=size, **kwargs)
        dst.source_volid = src.id  # as Cinder records it
        self.assertEqual({}, self.drv.create_cloned_volume(dst, src))
        self.assertNoLeftOpenImages()
        return dst

    @ddt.data(V1, V2)
    def test_cow_clone(self, min_compat):
        self.make(min_compat)
        dst = self.clone(self.src, size=2)
        clone_snap = dst.name + '.clone_snap'
        self.assertEqual(('volumes', self.src.name, clone_snap),
                         self.cluster.parent_of(dst.name))
        # Protected on every cluster, as the in-tree driver expects.
        self.assertTrue(
            self.cluster.image(self.src.name).user_snap(clone_snap).protected)
        self.assertEqual(2 * units.Gi, self.cluster.image(dst.name).size)
        self.assertEqual(b'source data',
                         self.cluster.read(dst.name, 8192, 11))
        self.assertEqual([], self.cluster.flattened)

    def test_max_depth_flattens(self):
        self.make(rbd_max_clone_depth=2)
        first = self.clone(self.src)       # depth of src: 0
        second = self.clone(first)         # depth of first: 1
        self.assertEqual([], self.cluster.flattened)
        third = self.clone(second)         # depth of second: 2 -> flatten
        self.assertEqual([third.name], self.cluster.flattened)
        self.assertIsNone(self.cluster.parent_of(third.name))
        self.assertEqual([], self.cluster.snap_names(second.name))
        self.assertEqual(b'source data',
                         self.cluster.read(third.name, 8192, 11))

    def test_max_depth_one(self):
        self.make(rbd_max_clone_depth=1)
        first = self.clone(self.src)
        self.assertIsNotNone(self.cluster.parent_of(first.name))
        second = self.clone(first)
        self.assertIsNone(self.cluster.parent_of(second.name))
        self.assertEqual([], self.cluster.snap_names(first.name))

    def test_temporary_volume_not_flattened_at_max_depth(self):
        self.make(rbd_max_clone_depth=1)
        first = self.clone(self.src)
        second = self.clone(first, use_quota=False)
        self.assertIsNotNone(self.cluster.parent_of(second.name))
        self.assertEqual([], self.cluster.flattened)

    def test_depth_zero_full_copy(self):
        self.make(rbd_max_clone_depth=0)
        dst = self.clone(self.src, size=3)
        self.assertIsNone(self.cluster.parent_of(dst.name))
        self.assertEqual([], self.cluster.snap_names(self.src.name))
        self.assertEqual(3 * units.Gi, self.cluster.image(dst.name).size)
        self.assertEqual(b'source data',
                         self.cluster.read(dst.name, 8192, 11))
        self.assertEqual(1, self.cluster.calls['copy'])
        self.assertEqual(0, self.cluster.calls['clone'])

    def test_clone_failure_removes_clone_snap(self):
        self.make()
        self.cluster.fail('clone', fake_ceph.rbd_error('IOError'))
        dst = self.volume()
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  self.drv.create_cloned_volume, dst,
                                  self.src)
        self.assertIn('create_cloned_volume failed', str(error))
        self.assertEqual({'image:volumes/%s' % self.src.name: []},
                         self.cluster.contents())

    def test_flatten_failure_removes_clone(self):
        self.make(rbd_max_clone_depth=1)
        first = self.clone(self.src)
        self.cluster.fail('flatten', fake_ceph.rbd_error('IOError'))
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.drv.create_cloned_volume, self.volume(),
                          first)
        self.assertEqual(sorted([self.src.name, first.name]),
                         self.cluster.image_names())
        self.assertEqual([], self.cluster.snap_names(first.name))


@ddt.ddt
class CloneLifecycleTestCase(base.DriverTestCase):
    """Deleting clone sources and clones in any order leaks nothing."""

    def setUp(self):
        super(CloneLifecycleTestCase, self).setUp()
        self.drv = self.make_driver()

    def create(self, src=None, record_source=True):
        vol = self.volume()
        if src is None:
            self.drv.create_volume(vol)
        else:
            if record_source:
                vol.source_volid = src.id  # as Cinder records it
            self.drv.create_cloned_volume(vol, src)
        return vol

    @ddt.data(True, False)
    def test_parent_released_whatever_cinder_recorded(self, record_source):
        # The image-volume cache, manage and migration clone volumes
        # without recording a source_volid: the image's parent decides.
        src = self.create()
        dst = self.create(src, record_source)
        self.drv.delete_volume(src)
        self.drv.delete_volume(dst)
        self.assertPoolEmpty()

    def test_stale_clone_snap_dropped_on_release(self):
        src = self.create()
        dst = self.create(src)
        self.drv.delete_volume(src)
        deleted = self.cluster.image(src.name + '.deleted')
        deleted.snaps.append(fake_ceph.SnapData(78, 'volume-y.clone_snap',
                                                deleted.size, []))
        deleted.snaps[-1].protected = True
        self.drv.delete_volume(dst)
        self.assertPoolEmpty()

    def test_purge_removes_deleted_parent_without_clones(self):
        src = self.create()
        dst = self.create(src)
        self.drv.delete_volume(src)
        # The clone went without releasing its parent (a failed release).
        self.cluster.pool().images.pop(dst.name)
        self.cluster.image(src.name + '.deleted').snaps[0].children.clear()
        self.drv._purge_trash()
        self.assertPoolEmpty()

    def test_source_deleted_first(self):
        src = self.create()
        dst = self.create(src)
        self.drv.delete_volume(src)
        self.assertEqual(sorted([src.name + '.deleted', dst.name]),
                         self.cluster.image_names())
        self.assertEqual(('volumes', src.name + '.deleted',
                          dst.name + '.clone_snap'),
                         self.cluster.parent_of(dst.name))
        self.drv.delete_volume(dst)
        self.assertPoolEmpty()

    def test_clone_deleted_first(self):
        src = self.create()
        dst = self.create(src)
        self.drv.delete_volume(dst)
        self.assertEqual([src.name], self.cluster.image_names())
        self.assertEqual([], self.cluster.snap_names(src.name))
        self.drv.delete_volume(src)
        self.assertPoolEmpty()

    def test_two_clones(self):
        src = self.create()
        one, two = self.create(src), self.create(src)
        self.drv.delete_volume(src)
        self.drv.delete_volume(one)
        self.assertIn(src.name + '.deleted', self.cluster.image_names())
        self.assertEqual([two.name + '.clone_snap'],
                         self.cluster.snap_names(src.name + '.deleted'))
        self.drv.delete_volume(two)
        self.assertPoolEmpty()

    @ddt.data((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1),
              (2, 1, 0))
    def test_chain_any_order(self, order):
        first = self.create()
        second = self.create(first)
        third = self.create(second)
        chain = [first, second, third]
        for index in order:
            self.drv.delete_volume(chain[index])
            self.assertNoLeftOpenImages()
        self.assertPoolEmpty()

    def test_leaked_clone_snap_dropped(self):
        # A clone snapshot whose clone is gone (e.g. an in-tree leftover).
        src = self.create()
        image = self.cluster.image(src.name)
        image.snaps.append(fake_ceph.SnapData(77, 'volume-x.clone_snap',
                                              image.size, []))
        image.snaps[-1].protected = True
        self.drv.delete_volume(src)
        self.assertPoolEmpty()


@ddt.ddt
class DeferredDeletionTestCase(base.DriverTestCase):

    def test_trash_then_purge(self):
        drv = self.make_driver(enable_deferred_deletion=True,
                               deferred_deletion_delay=600)
        vol = self.volume()
        drv.create_volume(vol)
        drv.delete_volume(vol)
        self.assertEqual([], self.cluster.image_names())
        self.assertEqual([vol.name], self.cluster.trash_names())
        drv._purge_trash()
        self.assertEqual([vol.name], self.cluster.trash_names())
        self.cluster.now += 600
        drv._purge_trash()
        self.assertPoolEmpty()

    def test_purge_leaves_other_entries(self):
        drv = self.make_driver()
        pool = self.cluster.pool()
        other = fake_ceph.ImageData(pool, 'glance-image', units.Gi, 22, 1)
        other.trash_entry = {'id': other.id, 'name': other.name,
                             'source': 'USER', 'deletion_time': 0,
                             'deferment_end_time': 0}
        pool.trash[other.id] = other
        drv._purge_trash()
        self.assertEqual(['glance-image'], self.cluster.trash_names())

    def test_purge_goes_on_after_a_busy_entry(self):
        drv = self.make_driver(enable_deferred_deletion=True)
        vols = [self.volume(), self.volume()]
        for vol in vols:
            drv.create_volume(vol)
            drv.delete_volume(vol)
        self.cluster.fail('trash_remove', fake_ceph.rbd_error('ImageBusy'))
        drv._purge_trash()
        self.assertEqual(1, len(self.cluster.trash_names()))
        drv._purge_trash()
        self.assertPoolEmpty()

    def test_purge_opens_only_expired_entries(self):
        drv = self.make_driver(enable_deferred_deletion=True,
                               deferred_deletion_delay=600)
        vol = self.volume()
        drv.create_volume(vol)
        drv.delete_volume(vol)
        opens = self.cluster.calls['open']
        with mock.patch.object(deletion.time, 'time',
                               return_value=self.cluster.now):
            self.assertEqual([], deletion.purge_trash(drv._backend))
        self.assertEqual(opens, self.cluster.calls['open'])
        self.cluster.now += 600
        with mock.patch.object(deletion.time, 'time',
                               return_value=self.cluster.now):
            self.assertEqual([vol.name], deletion.purge_trash(drv._backend))
        self.assertPoolEmpty()

    def test_purge_follows_volume_name_template(self):
        self.config.config(volume_name_template='disk-%s')
        drv = self.make_driver(enable_deferred_deletion=True,
                               deferred_deletion_delay=0)
        vol = self.volume()
        self.assertTrue(vol.name.startswith('disk-'))
        drv.create_volume(vol)
        drv.delete_volume(vol)
        drv._purge_trash()
        self.assertPoolEmpty()

    def test_purge_failure_logged(self):
        drv = self.make_driver()
        connection.close_all()
        self.cluster.connect_errors = [
            fake_ceph.rados_error('TimedOut', 'error connecting')] * 2
        drv._purge_trash()
        self.assertIn('Trash purge failed on pool volumes', self.logs.output)

    @ddt.data(0, 600)
    def test_clone_in_trash_releases_parent(self, delay):
        drv = self.make_driver(enable_deferred_deletion=True,
                               deferred_deletion_delay=delay)
        src = self.volume()
        drv.create_volume(src)
        dst = self.volume()
        dst.source_volid = src.id  # as Cinder records it
        drv.create_cloned_volume(dst, src)
        drv.delete_volume(src)
        drv.delete_volume(dst)
        self.assertEqual([dst.name], self.cluster.trash_names())
        self.cluster.now += delay
        drv._purge_trash()
        self.assertPoolEmpty()

    def test_source_deleted_while_clone_in_trash(self):
        # The clone still depends on the source's clone snapshot while it
        # waits in the trash: deleting the source must keep it (as
        # <name>.deleted) instead of failing to unprotect that snapshot.
        drv = self.make_driver(enable_deferred_deletion=True,
                               deferred_deletion_delay=600)
        src = self.volume()
        drv.create_volume(src)
        dst = self.volume()
        dst.source_volid = src.id  # as Cinder records it
        drv.create_cloned_volume(dst, src)
        drv.delete_volume(dst)
        drv.delete_volume(src)
        self.assertNotIn(src.name, self.cluster.image_names())
        self.cluster.now += 600
        drv._purge_trash()
        drv._purge_trash()
        self.assertPoolEmpty()
