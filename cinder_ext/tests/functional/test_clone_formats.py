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
"""Clone formats: v1 (luminous clients) and v2 (mimic clients) clusters.

The same cluster is switched with ``ceph osd set-require-min-compat-client``
and put back to luminous (the fresh-cluster default) after each test; the
driver detects the format at run time.
"""

from cinder_ext.ceph import bindings
from cinder_ext.tests.functional import base


class CloneFormatMixin(object):
    min_compat = None

    def setUp(self):
        super(CloneFormatMixin, self).setUp()
        base.admin('osd', 'set-require-min-compat-client', self.min_compat,
                   '--yes-i-really-mean-it')
        self.addCleanup(base.admin, 'osd', 'set-require-min-compat-client',
                        'luminous', '--yes-i-really-mean-it')
        self.driver = self.make_driver(group='fmt_' + self.min_compat)

    def source_with_clone(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.write_pattern(vol.name, b'parent')
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        clone = self.volume()
        self.driver.create_volume_from_snapshot(clone, snap)
        return vol, snap, clone

    def is_protected(self, vol, snap):
        with self.open_image(vol.name) as image:
            return image.is_protected_snap(snap.name)


class TestCloneV1(CloneFormatMixin, base.DriverTestCase):
    min_compat = 'luminous'

    def test_snapshot_with_clone_flattens_on_delete(self):
        vol, snap, clone = self.source_with_clone()
        self.assertTrue(self.is_protected(vol, snap))
        self.driver.delete_snapshot(snap)
        self.assertEqual([], self.snap_names(vol.name))
        self.assertIsNone(self.parent_of(clone.name))
        self.assertEqual(b'parent', self.read(clone.name, 6))
        self.driver.delete_volume(clone)
        self.driver.delete_volume(vol)


class TestCloneV2(CloneFormatMixin, base.DriverTestCase):
    min_compat = 'mimic'

    def test_snapshot_unprotected_and_clone_is_v2(self):
        vol, snap, clone = self.source_with_clone()
        self.assertFalse(self.is_protected(vol, snap))
        with self.open_image(clone.name) as image:
            self.assertTrue(image.op_features() &
                            bindings.OP_FEATURE_CLONE_CHILD)
        self.driver.delete_volume(clone)
        self.driver.delete_snapshot(snap)
        self.driver.delete_volume(vol)

    def test_snapshot_with_clone_deleted_without_flatten(self):
        vol, snap, clone = self.source_with_clone()
        self.driver.delete_snapshot(snap)
        self.assertEqual([], self.snap_names(vol.name))
        # Still a COW clone: nothing was copied.
        self.assertIsNotNone(self.parent_of(clone.name))
        self.assertEqual(b'parent', self.read(clone.name, 6))
        # The source now only has a trashed snapshot: it goes to the
        # trash, and the purge removes it once the clone is gone.
        self.driver.delete_volume(vol)
        self.assertNotIn(vol.name, self.image_names())
        self.driver.delete_volume(clone)
        self.driver._purge_trash()
        self.assertEqual([], self.ours(self.trash_names()))

    def test_volume_clone_chain(self):
        a = self.volume()
        self.driver.create_volume(a)
        b = self.volume()
        b.source_volid = a.id  # as Cinder records it
        self.driver.create_cloned_volume(b, a)
        self.driver.delete_volume(a)
        self.driver.delete_volume(b)
        self.settle()
        self.assertEqual([], self.ours(self.image_names()))

    def test_unprotected_snapshot_cloned_after_lowering_to_luminous(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        snap = self.snapshot(vol)
        self.driver.create_snapshot(snap)
        self.assertFalse(self.is_protected(vol, snap))
        base.admin('osd', 'set-require-min-compat-client', 'luminous',
                   '--yes-i-really-mean-it')
        clone = self.volume()
        # The driver still believes in v2 (cached): librbd refuses a v1
        # clone of an unprotected snapshot, and the driver protects it.
        self.driver.create_volume_from_snapshot(clone, snap)
        self.assertTrue(self.is_protected(vol, snap))
        self.assertEqual(('volumes', vol.name, snap.name),
                         self.parent_of(clone.name))
        self.driver.delete_volume(clone)
        self.driver.delete_snapshot(snap)
        self.driver.delete_volume(vol)
