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

"""Glance images in and out through librbd, and Glance COW clones."""

import os

from cinder import exception
import ddt
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.tests.unit import base
from cinder_ext.volume import image_transfer

CHUNK = image_transfer.CHUNK


@ddt.ddt
class LocationTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(
        ('rbd://fsid/images/abc/snap', ['fsid', 'images', 'abc', 'snap']),
        ('rbd://fs%2Fid/im%40ages/a%20b/snap',
         ['fs/id', 'im@ages', 'a b', 'snap']),
    )
    def test_parse(self, url, expected):
        self.assertEqual(expected, image_transfer.parse_location(url))

    @ddt.data(None, '', 'http://x/y', 'rbd://fsid/images/abc',
              'rbd://fsid//abc/snap', 'rbd://fsid/images/abc/snap/extra')
    def test_parse_rejects(self, url):
        self.assertRaises(exception.ImageUnacceptable,
                          image_transfer.parse_location, url)

    @ddt.unpack
    @ddt.data((0, 0), (1, 1), (units.Gi, 1), (units.Gi + 1, 2))
    def test_size_in_gb(self, size, expected):
        self.assertEqual(expected, image_transfer.size_in_gb(size))


class DataTestCase(base.TestCase):

    def setUp(self):
        super(DataTestCase, self).setUp()
        self.cluster = self.use_fake_ceph()
        rados = bindings.rados.Rados(conffile='')
        rados.connect()
        self.ioctx = rados.open_ioctx('volumes')
        bindings.rbd.RBD().create(self.ioctx, 'vol', CHUNK)

    def test_write_is_sparse_and_grows(self):
        data = bytes(CHUNK) + b'x' * 10 + bytes(CHUNK - 10) + b'tail'
        path = self.temp_file()
        with open(path, 'wb') as f:
            f.write(data)
        self.assertEqual(len(data), image_transfer.write_file_to_image(
            self.ioctx, 'vol', path))
        image = self.cluster.image('vol')
        self.assertEqual(len(data), image.size)
        # The all-zero first chunk was not written.
        self.assertEqual([CHUNK, 2 * CHUNK], [o for o, _d in image.extents])
        self.assertEqual(data, self.cluster.read('vol', 0, len(data)))
        self.assertEqual([], self.cluster.open_images)

    def test_read_leaves_holes(self):
        self.cluster.write('vol', b'hello', 100)
        path = self.temp_file()
        self.assertEqual(CHUNK, image_transfer.read_image_to_file(
            self.ioctx, 'vol', path))
        self.assertEqual(CHUNK, os.path.getsize(path))
        with open(path, 'rb') as f:
            content = f.read()
        self.assertEqual(b'hello', content[100:105])
        self.assertEqual(CHUNK - 5, content.count(0))


class CloneImageTestCase(base.DriverTestCase):

    def setUp(self):
        super(CloneImageTestCase, self).setUp()
        self.cluster.add_pool('images')
        self.drv = self.make_driver()
        ioctx = self.cluster.handles[0].open_ioctx('images')
        bindings.rbd.RBD().create(ioctx, 'img', units.Gi)
        with bindings.rbd.Image(ioctx, 'img') as image:
            image.write(b'glance', 0)
            image.create_snap('snap')
            image.protect_snap('snap')

    def url(self, fsid=None):
        return 'rbd://%s/images/img/snap' % (fsid or self.cluster.fsid)

    def test_cow_clone_from_glance(self):
        vol = self.volume(size=2)
        update, cloned = self.drv.clone_image(
            self.ctx, vol, (self.url(), [{'url': self.url('other-fsid')},
                                         {'url': self.url()}]),
            {'disk_format': 'raw'}, None)
        self.assertTrue(cloned)
        self.assertEqual(('images', 'img', 'snap'),
                         self.cluster.parent_of(vol.name))
        self.assertEqual(2 * units.Gi, self.cluster.image(vol.name).size)
        self.assertEqual(b'glance', self.cluster.read(vol.name, 0, 6))

    def test_not_cloneable(self):
        for location, meta in (
                ((self.url(), []), {'disk_format': 'qcow2'}),
                ((self.url('other-fsid'), []), {'disk_format': 'raw'}),
                (('http://glance/img', []), {'disk_format': 'raw'}),
                (None, {'disk_format': 'raw'})):
            self.assertEqual(({}, False), self.drv.clone_image(
                self.ctx, self.volume(), location, meta, None))
        self.assertEqual([], self.cluster.image_names())
