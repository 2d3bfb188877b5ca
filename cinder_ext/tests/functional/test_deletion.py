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
"""Deferred deletion and the trash purge on the real cluster."""

from cinder_ext.tests.functional import base


class TestDeferredDeletion(base.DriverTestCase):
    def setUp(self):
        super(TestDeferredDeletion, self).setUp()
        self.driver = self.make_driver(group='deferred',
                                       enable_deferred_deletion=True,
                                       deferred_deletion_delay=0)

    def test_delete_goes_to_trash_then_purge_removes_it(self):
        vol = self.volume()
        self.driver.create_volume(vol)
        self.driver.delete_volume(vol)
        self.assertNotIn(vol.name, self.image_names())
        self.assertEqual([vol.name], self.ours(self.trash_names()))
        self.driver._purge_trash()
        self.assertEqual([], self.ours(self.trash_names()))

    def test_delay_is_honoured(self):
        drv = self.make_driver(group='deferred_late',
                               enable_deferred_deletion=True,
                               deferred_deletion_delay=3600)
        vol = self.volume()
        drv.create_volume(vol)
        drv.delete_volume(vol)
        drv._purge_trash()  # not expired: stays
        self.assertEqual([vol.name], self.ours(self.trash_names()))
        # An operator (or a later purge) can still finish it.
        entry = next(e for e in self.trash_entries() if e['name'] == vol.name)
        self.trash_remove(entry['id'])

    def test_trashed_clone_releases_parent_at_purge(self):
        src = self.volume()
        self.driver.create_volume(src)
        dst = self.volume()
        dst.source_volid = src.id  # as Cinder records it
        self.driver.create_cloned_volume(dst, src)
        self.driver.delete_volume(src)  # has a clone: renamed .deleted
        self.assertIn(src.name + '.deleted', self.image_names())
        self.driver.delete_volume(dst)  # to the trash
        self.assertEqual([dst.name], self.ours(self.trash_names()))
        self.driver._purge_trash()
        self.assertEqual([], self.ours(self.trash_names()))
        self.assertEqual([], self.ours(self.image_names()))

    def test_purge_leaves_foreign_trash_alone(self):
        foreign = 'not-cinder-%s' % self.new_id()
        self.create_raw_image(foreign)
        self.move_to_trash(foreign)
        self.driver._purge_trash()
        self.assertIn(foreign, self.trash_names())
        entry = next(e for e in self.trash_entries() if e['name'] == foreign)
        self.trash_remove(entry['id'])
