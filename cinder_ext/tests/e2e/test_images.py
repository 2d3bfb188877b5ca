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

"""Glance images and our volumes.

Glance keeps images in pool ``images`` (RBD store, direct URLs on): a
volume from a raw image is a copy-on-write clone of the image's ``snap``,
a qcow2 image is converted, a volume boots a server, a rebuild of that
server with another image reimages the volume, and a volume uploaded to an
image (with cinder-ext: copied inside Ceph into Glance's pool) comes back
byte for byte.
"""

import os
import tempfile

from cinder_ext.tests.e2e import base
from cinder_ext.tests.e2e import ceph
from cinder_ext.tests.e2e import images
from cinder_ext.tests.e2e import servers
from cinder_ext.tests.e2e import stack


class ImageTest(images.ImageTestCase):

    def other_guest_image(self):
        """A raw image that boots like the guest but differs from it.

        The guest disk with 1 MiB of a marker after it; returns (image,
        size, sha256).
        """
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'other.raw')
            with open(images.GUEST_RAW, 'rb') as src, open(path, 'wb') as dst:
                for chunk in iter(lambda: src.read(1 << 22), b''):
                    dst.write(chunk)
                dst.write(b'cinder-ext other guest image '.ljust(64) *
                          (1 << 14))
            image = self.upload_image(path, 'raw')
            return image, os.path.getsize(path), images.file_sha256(path)

    def wait_rebuilt(self, server_id, vol_id, image_id, console):
        """The rebuild is done and the guest booted again."""
        self._wait('volume %s (reimaged)' % vol_id,
                   lambda: self.bs.get_volume(vol_id),
                   lambda v: (v.volume_image_metadata or {}).get(
                       'image_id') == image_id,
                   failed=('error',), timeout=images.IMAGE_TIMEOUT)
        self._wait('server %s (rebuild)' % server_id,
                   lambda: self.compute.get_server(server_id),
                   lambda s: s.status == 'ACTIVE' and not s.task_state,
                   failed=('ERROR',), timeout=servers.BOOT_TIMEOUT)
        # The console log goes on after a rebuild, or starts anew.
        now = self.console(server_id)
        after = (len(servers.guestcmd.parse_console(console))
                 if now.startswith(console) else 0)
        self.wait_guest(server_id, 'booted', after)

    def test_rebuild_volume_backed_server_reimages_the_volume(self):
        # Nova (API 2.93) reimages the root volume through Cinder, which
        # calls copy_image_to_volume with disable_sparse: afterwards the
        # volume holds exactly the new image, and no longer is a clone of
        # the old one (which Glance could then not delete).
        other, other_size, other_sha = self.other_guest_image()
        image = self.find_image(servers.IMAGE)
        vol = self.create_volume(size=1, image_id=image.id)
        self.assertIsNotNone(ceph.parent(self.image(vol.id)))
        old_data = 100 * 1024 * 1024
        ceph.write_at(self.image(vol.id), old_data, b'old data' * 64)
        server = self.create_server(block_device_mapping=[{
            'boot_index': 0, 'uuid': vol.id, 'source_type': 'volume',
            'destination_type': 'volume', 'delete_on_termination': False}])
        console = self.console(server.id)
        self.compute.rebuild_server(server.id, image=other.id)
        self.wait_rebuilt(server.id, vol.id, other.id, console)
        self.assertEqual(other_sha, self.pool_sha(vol.id, 0, other_size),
                         'the volume does not hold the new image')
        self.assertEqual(servers.sha256(bytes(512)),
                         self.pool_sha(vol.id, old_data, 512),
                         'data from before the rebuild survived it')
        self.assertIsNone(ceph.parent(self.image(vol.id)),
                          'the reimaged volume still pins the old image')
        self.wait_volume(vol.id, 'in-use')

    def test_volume_from_raw_image_is_a_clone(self):
        image = self.find_image(servers.IMAGE)
        vol = self.create_volume(size=1, image_id=image.id)
        parent = ceph.info(self.image(vol.id)).get('parent') or {}
        self.assertEqual((images.GLANCE_POOL, image.id, 'snap'),
                         (parent.get('pool'), parent.get('image'),
                          parent.get('snapshot')),
                         'not a copy-on-write clone of the image')
        self.assertTrue(self.bs.get_volume(vol.id).is_bootable)
        self.assert_holds_guest(vol.id)

    def cache_entries(self, image_id):
        """Image-volume cache volumes of IMAGE_ID (any project)."""
        return list(self.bs.volumes(all_projects=True,
                                    name='image-%s' % image_id))

    def evict(self, image_id):
        """Delete the image's cache volumes, as an operator would."""
        for entry in self.cache_entries(image_id):
            self.ids.append(entry.id)
            self.delete_volume(entry.id)

    def test_volume_from_qcow2_image_is_converted(self):
        # An image of its own: the stack's qcow2 image may be cached.
        image = self.upload_image(images.GUEST_QCOW2, 'qcow2')
        self.addCleanup(self.evict, image.id)
        vol = self.create_volume(size=1, image_id=image.id)
        self.assertIsNone(ceph.parent(self.image(vol.id)))
        self.assert_holds_guest(vol.id)

    def test_image_volume_cache_clones_and_eviction(self):
        # The full stack enables Cinder's image-volume cache. The first
        # volume from an image Cinder cannot clone is converted, and the
        # cache entry is a clone of it; later volumes are clones of the
        # entry. Evicting the entry while those live, then deleting them,
        # leaves nothing behind (the leak check covers all three).
        image = self.upload_image(images.GUEST_QCOW2, 'qcow2')
        self.addCleanup(self.evict, image.id)
        first = self.create_volume(size=1, image_id=image.id)
        entries = self.cache_entries(image.id)
        self.assertEqual(1, len(entries), 'cache entries of the image')
        entry = entries[0]
        self.ids.append(entry.id)
        self.assertEqual(self.image(first.id),
                         (ceph.parent(self.image(entry.id)) or ('-',))[0],
                         'the cache entry is not a clone of the first volume')
        second = self.create_volume(size=1, image_id=image.id)
        self.assertEqual(self.image(entry.id),
                         (ceph.parent(self.image(second.id)) or ('-',))[0],
                         'the second volume is not a clone of the cache entry')
        self.evict(image.id)
        self.assertEqual([], self.cache_entries(image.id))
        for vol in (first, second):
            self.assert_holds_guest(vol.id)

    def test_boot_from_volume(self):
        image = self.find_image(servers.IMAGE)
        vol = self.create_volume(size=1, image_id=image.id)
        self.boot_from_volume(vol.id)

    def test_upload_and_back_byte_identical(self):
        image = self.find_image(servers.IMAGE)
        vol = self.create_volume(size=1, image_id=image.id)
        before = ceph.image_sha256(self.image(vol.id))
        image_id = self.upload_volume(vol.id).id
        if stack.DRIVER == 'cinder-ext':
            # The full stack sets rbd_glance_store_pool: the data never
            # went through Glance, and Glance took the location.
            self.assertIn('is image %s at rbd://' % image_id,
                          base.log_tail(image_id),
                          'not copied inside Ceph')
        self.assertEqual(before,
                         ceph.image_sha256(image_id, images.GLANCE_POOL),
                         'the image in Glance differs from the volume')
        # Glance hashes the image by reading it back from its store.
        self._wait('image %s hash' % image_id,
                   lambda: self.glance.get_image(image_id),
                   lambda i: i.hash_value and i.checksum,
                   failed=('killed', 'deleted'), timeout=images.IMAGE_TIMEOUT)
        back = self.create_volume(size=1, image_id=image_id)
        self.assertEqual(before, ceph.image_sha256(self.image(back.id)),
                         'a volume from the uploaded image differs')
