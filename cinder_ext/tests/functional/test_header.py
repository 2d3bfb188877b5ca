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
"""cls_rbd header reads (cinder_ext.ceph.header) against a real cluster.

Each read must agree with what an image open tells (images.inspect), with
the driver's own user and caps, or refuse with Unreadable.
"""

from cinder_ext.ceph import bindings
from cinder_ext.ceph import header
from cinder_ext.ceph import images
from cinder_ext.tests.functional import base


class TestHeaderReads(base.DriverTestCase):

    def setUp(self):
        super(TestHeaderReads, self).setUp()
        self.driver = self.make_driver()

    def _both(self, name, pool=base.POOL):
        """(header facts, facts from an image open) as the driver reads."""
        backend = self.driver._backend
        with backend.session() as session:
            ioctx = session.ioctx(pool)
            facts = session.run(header.read, ioctx, name)
            info = session.run(images.inspect, ioctx, name)
        opened = header.HeaderFacts(
            size=info.size, snap_count=len(info.snaps) + info.hidden_snaps,
            parent=info.parent)
        return facts, opened

    def assert_agree(self, name):
        facts, opened = self._both(name)
        self.assertEqual(opened, facts)
        return facts

    def test_volumes_snapshots_and_clones(self):
        vol = self.volume(size=2)
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        from_snap = self.volume(size=3)
        self.driver.create_volume_from_snapshot(from_snap, snap)
        cloned = self.volume()
        self.driver.create_cloned_volume(cloned, from_snap)

        self.assertEqual(1, self.assert_agree(vol.name).snap_count)
        facts = self.assert_agree(from_snap.name)
        self.assertEqual((base.POOL, vol.name, snap.name), facts.parent)
        self.assertEqual(1, facts.snap_count)  # the clone's .clone_snap
        facts = self.assert_agree(cloned.name)
        self.assertEqual((base.POOL, from_snap.name,
                          cloned.name + '.clone_snap'), facts.parent)
        self.assertEqual(3 * 1024 ** 3, facts.size)  # as its source

        for volume in (cloned, from_snap):
            self.driver.delete_volume(volume)
        self.driver.delete_snapshot(snap)
        self.driver.delete_volume(vol)

    def test_parent_in_another_pool_is_unreadable(self):
        parent, child = 'img-' + self.new_id(), 'volume-' + self.new_id()
        rbd = bindings.rbd.RBD()
        other = self.rados(base.POOL2)
        rbd.create(other, parent, 4 * 1024 ** 2, old_format=False,
                   features=1)
        self.addCleanup(rbd.remove, other, parent)
        with bindings.rbd.Image(other, parent) as image:
            image.create_snap('snap')
            image.protect_snap('snap')
        self.addCleanup(self._drop_snap, other, parent, 'snap')
        rbd.clone(other, parent, 'snap', self.rados(), child, features=1)
        self.addCleanup(rbd.remove, self.rados(), child)
        with self.driver._backend.session() as session:
            self.assertRaises(header.Unreadable, session.run, header.read,
                              session.ioctx(base.POOL), child)

    @staticmethod
    def _drop_snap(ioctx, name, snap):
        with bindings.rbd.Image(ioctx, name) as image:
            image.unprotect_snap(snap)
            image.remove_snap(snap)

    def test_missing_image_is_unreadable(self):
        with self.driver._backend.session() as session:
            self.assertRaises(header.Unreadable, session.run, header.read,
                              session.ioctx(base.POOL),
                              'volume-' + self.new_id())


class TestHeaderReadsCloneV2(base.DriverTestCase):
    """A clone whose parent snapshot waits in the snapshot trash."""

    def setUp(self):
        super(TestHeaderReadsCloneV2, self).setUp()
        base.admin('osd', 'set-require-min-compat-client', 'mimic',
                   '--yes-i-really-mean-it')
        self.addCleanup(base.admin, 'osd', 'set-require-min-compat-client',
                        'luminous', '--yes-i-really-mean-it')
        self.driver = self.make_driver(group='hdr_v2')

    def test_trashed_parent_snapshot(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        clone = self.volume()
        self.driver.create_volume_from_snapshot(clone, snap)
        self.driver.delete_snapshot(snap)  # to the snapshot trash
        backend = self.driver._backend
        with backend.session() as session:
            ioctx = session.ioctx(backend.pool)
            for name in (vol.name, clone.name):
                facts = session.run(header.read, ioctx, name)
                info = session.run(images.inspect, ioctx, name)
                self.assertEqual(
                    (info.size, len(info.snaps) + info.hidden_snaps,
                     info.parent),
                    (facts.size, facts.snap_count, facts.parent))
            self.assertEqual(1, session.run(header.read, ioctx,
                                            vol.name).snap_count)
        self.driver.delete_volume(clone)
        self.driver.delete_volume(vol)
