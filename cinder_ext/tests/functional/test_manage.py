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
"""Manage and unmanage images and snapshots made outside Cinder."""

from cinder import exception

from cinder_ext.ceph import bindings
from cinder_ext.tests.functional import base

MiB = 1024 * 1024


class TestManage(base.DriverTestCase):
    def setUp(self):
        super(TestManage, self).setUp()
        self.driver = self.make_driver(group='manage')

    def outside_image(self, size=3 * MiB):
        name = 'legacy-%s' % self.new_id()
        bindings.rbd.RBD().create(self.rados(), name, size, old_format=False,
                                  features=1)
        return name

    def entry(self, entries, name):
        return next(e for e in entries
                    if e['reference']['source-name'] == name)

    def test_manage_volume_and_listing(self):
        legacy = self.outside_image()
        busy = self.outside_image()
        managed = self.volume()
        self.driver.create_volume(managed)
        self.addCleanup(self.driver.delete_volume, managed)
        watch = bindings.rbd.Image(self.rados(), busy)
        try:
            entries = self.driver.get_manageable_volumes(
                [{'id': managed.id}], None, 1000, 0, ['size'], ['asc'])
        finally:
            watch.close()
        self.assertTrue(self.entry(entries, legacy)['safe_to_manage'])
        self.assertEqual(1, self.entry(entries, legacy)['size'])
        self.assertEqual('volume in use',
                         self.entry(entries, busy)['reason_not_safe'])
        self.assertEqual(managed.id,
                         self.entry(entries, managed.name)['cinder_id'])
        bindings.rbd.RBD().remove(self.rados(), busy)

        vol = self.volume()
        ref = {'source-name': legacy}
        self.assertEqual(1, self.driver.manage_existing_get_size(vol, ref))
        self.driver.manage_existing(vol, ref)
        self.assertIn(vol.name, self.image_names())
        self.assertNotIn(legacy, self.image_names())
        self.driver.delete_volume(vol)

    def test_manage_missing_or_bad_reference(self):
        vol = self.volume()
        for ref in ({'source-name': 'no-such-image'}, {}, {'source-id': 'x'}):
            self.assertRaises(exception.ManageExistingInvalidReference,
                              self.driver.manage_existing_get_size, vol, ref)

    def test_manage_and_unmanage_snapshot(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        with bindings.rbd.Image(self.rados(), vol.name) as image:
            image.create_snap('user-made')
        entries = self.driver.get_manageable_snapshots(
            [], None, 1000, 0, ['size'], ['asc'])
        entry = self.entry(entries, 'user-made')
        self.assertTrue(entry['safe_to_manage'])
        self.assertEqual({'source-name': vol.name},
                         entry['source_reference'])
        snap = self.snapshot(vol)
        self.assertEqual(1, self.driver.manage_existing_snapshot_get_size(
            snap, {'source-name': 'user-made'}))
        self.driver.manage_existing_snapshot(snap,
                                             {'source-name': 'user-made'})
        self.assertEqual([snap.name], self.snap_names(vol.name))
        self.driver.unmanage_snapshot(snap)
        with self.open_image(vol.name) as image:
            self.assertFalse(image.is_protected_snap(snap.name))
            image_rw = bindings.rbd.Image(self.rados(), vol.name)
            image_rw.remove_snap(snap.name)
            image_rw.close()
