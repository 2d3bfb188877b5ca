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

"""Glance images for the end-to-end tests: the guest, uploads, waits."""

import hashlib
import os

from openstack import exceptions

from cinder_ext.tests.e2e import base
from cinder_ext.tests.e2e import servers
from cinder_ext.tests.e2e import stack

GLANCE_POOL = 'images'
GUEST_RAW = os.path.join(stack.STATE, 'guest', 'cinder-ext-guest.raw')
GUEST_QCOW2 = os.path.join(stack.STATE, 'guest', 'cinder-ext-guest.qcow2')
IMAGE_TIMEOUT = 300


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 22), b''):
            digest.update(chunk)
    return digest.hexdigest()


def guest_disk():
    """The guest disk the stack registered in Glance (size, sha256)."""
    return os.path.getsize(GUEST_RAW), file_sha256(GUEST_RAW)


class ImageTestCase(servers.ServerTestCase):
    """E2E tests with Glance images (and servers)."""

    def setUp(self):
        super(ImageTestCase, self).setUp()
        self.glance = base.cloud().image

    def find_image(self, name):
        return self.glance.find_image(name, ignore_missing=False)

    def assert_holds_guest(self, vol_id):
        size, digest = guest_disk()
        self.assertEqual(digest, self.pool_sha(vol_id, 0, size),
                         'volume %s does not start with the guest disk'
                         % vol_id)

    def wait_image(self, image_id):
        return self._wait(
            'image %s' % image_id,
            lambda: self._get_or_none(self.glance.get_image, image_id),
            lambda i: i is not None and i.status == 'active',
            failed=('killed', 'deleted', 'gone'), timeout=IMAGE_TIMEOUT)

    def delete_image(self, image_id):
        try:
            self.glance.delete_image(image_id)
        except exceptions.NotFoundException:
            pass

    def boot_from_volume(self, vol_id):
        """A server boots from the volume; then it is deleted again."""
        server = self.create_server(block_device_mapping=[{
            'boot_index': 0, 'uuid': vol_id, 'source_type': 'volume',
            'destination_type': 'volume', 'delete_on_termination': False}])
        disks = self.wait_guest(server.id, 'disks').disks
        self.assertEqual(vol_id[:20], disks['vda'][1],
                         'the guest did not boot from the volume')
        self.wait_volume(vol_id, 'in-use')
        self.delete_server(server.id)
        self.wait_volume(vol_id, 'available')

    def upload_volume(self, vol_id):
        """Upload the volume to a raw image; the image once active."""
        uploaded = self.bs.upload_volume_to_image(
            vol_id, self.name('image'), disk_format='raw',
            container_format='bare')
        image_id = uploaded['image_id']
        self.api_objects.append(('image', self.glance.get_image, image_id))
        self.addCleanup(self.delete_image, image_id)
        image = self.wait_image(image_id)
        self.wait_volume(vol_id, 'available')
        return image

    def upload_image(self, path, disk_format):
        image = self.glance.create_image(
            name=self.name('image'), filename=path, disk_format=disk_format,
            container_format='bare', wait=True, timeout=IMAGE_TIMEOUT)
        self.addCleanup(self.delete_image, image.id)
        return image
