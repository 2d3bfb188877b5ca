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
import tempfile
from unittest import mock

from cinder import exception
from cinder.image import image_utils
from cinder.volume import volume_utils
import ddt
import fixtures
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import transfer
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_image
from cinder_ext.volume import image_transfer

CHUNK = transfer.CHUNK
BLOCK = transfer.BLOCK


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


class FakeCompletion(object):
    def __init__(self, ret, callback=None, *args):
        self.ret = ret
        self._callback = (callback, args)

    def wait_for_complete_and_cb(self):
        callback, args = self._callback
        if callback is not None:
            self._callback = (None, ())
            callback(self, *args)

    def get_return_value(self):
        return self.ret


class AioMixin(object):
    """librbd's aio calls and diff_iterate on the fake image.

    Requests complete at once but their callbacks run when waited for, as
    on a real cluster they may run any time before that.
    """

    def use_aio(self, fail_at=None):
        self.in_flight = []  # requests issued and not yet waited for

        def request(image, apply, offset, callback, *args):
            ret = -5 if offset == fail_at else apply()
            completion = FakeCompletion(ret, callback, *args)
            self.in_flight.append(completion)
            original = completion.wait_for_complete_and_cb

            def wait():
                if completion in self.in_flight:
                    self.in_flight.remove(completion)
                original()
            completion.wait_for_complete_and_cb = wait
            return completion

        def aio_write(image, data, offset, oncomplete):
            return request(image, lambda: image.write(data, offset), offset,
                           oncomplete)

        def aio_write_zeroes(image, offset, length, oncomplete):
            self.zeroed.append((offset, length))
            return request(image, lambda: image.write(bytes(length), offset),
                           offset, oncomplete)

        def aio_read(image, offset, length, oncomplete):
            data = image.read(offset, length)
            self.reads.append(offset)
            completion = request(image, lambda: len(data), offset,
                                 lambda c: oncomplete(c, data))
            return completion

        def diff_iterate(image, offset, length, from_snap, cb,
                         include_parent=True, whole_object=False):
            objects = set()
            for start, data in image._open().view():
                for pos in range(start, start + len(data), OBJECT):
                    objects.add(pos // OBJECT)
                objects.add((start + len(data) - 1) // OBJECT)
            for index in sorted(objects):
                cb(index * OBJECT, OBJECT, True)

        self.zeroed = []
        self.reads = []
        for name, func in (('aio_write', aio_write),
                           ('aio_write_zeroes', aio_write_zeroes),
                           ('aio_read', aio_read),
                           ('diff_iterate', diff_iterate)):
            self.useFixture(fixtures.MockPatchObject(
                fake_image.FakeImage, name, func, create=True))


OBJECT = 4 * units.Mi


@ddt.ddt
class DataTestCase(AioMixin, base.TestCase):

    def setUp(self):
        super(DataTestCase, self).setUp()
        self.cluster = self.use_fake_ceph()
        rados = bindings.rados.Rados(conffile='')
        rados.connect()
        self.ioctx = rados.open_ioctx('volumes')
        bindings.rbd.RBD().create(self.ioctx, 'vol', CHUNK)
        self.use_aio()

    def write_file(self, data):
        path = self.temp_file()
        with open(path, 'wb') as f:
            f.write(data)
        return path

    @ddt.unpack
    @ddt.data((bytes(10), [(0, 0, True)]),
              (b'', []),
              (bytes(BLOCK) + b'x' + bytes(BLOCK),
               [(0, BLOCK, True), (BLOCK, 2 * BLOCK, False),
                (2 * BLOCK, 0, True)]),
              (b'x' + bytes(2 * BLOCK) + b'y',
               [(0, BLOCK, False), (BLOCK, 2 * BLOCK, True),
                (2 * BLOCK, 2 * BLOCK + 2, False)]))
    def test_runs(self, data, expected):
        expected = [(s, e if e else len(data), z) for s, e, z in expected]
        self.assertEqual(expected, transfer.runs(data))

    def test_write_is_sparse_and_grows(self):
        data = bytes(CHUNK) + b'x' * 10 + bytes(CHUNK - 10) + b'tail'
        path = self.write_file(data)
        self.assertEqual(len(data), transfer.write_file_to_image(
            self.ioctx, 'vol', path))
        image = self.cluster.image('vol')
        self.assertEqual(len(data), image.size)
        # The all-zero first chunk was not written, nor anything zeroed.
        self.assertEqual([CHUNK, 2 * CHUNK], [o for o, _d in image.extents])
        self.assertEqual([], self.zeroed)
        self.assertEqual(data, self.cluster.read('vol', 0, len(data)))
        self.assertEqual([], self.cluster.open_images)
        self.assertEqual([], self.in_flight)

    def test_write_over_data_zeroes_it(self):
        # Reimage without disable_sparse still must not leave old data.
        self.cluster.write('vol', b'old' * 1000, BLOCK)
        path = self.write_file(b'new' + bytes(2 * BLOCK))
        transfer.write_file_to_image(self.ioctx, 'vol', path)
        self.assertEqual(b'new' + bytes(CHUNK - 3),
                         self.cluster.read('vol', 0, CHUNK))
        end = 2 * BLOCK + 3
        # The zero run inside the file, then everything past its end.
        self.assertEqual([(BLOCK, BLOCK + 3), (end, CHUNK - end)],
                         self.zeroed)

    def test_holes_are_zeroed_where_needed_not_read(self):
        self.cluster.image('vol').size = 3 * CHUNK
        self.cluster.write('vol', b'old', 5)
        path = self.temp_file()
        with open(path, 'wb') as f:
            f.truncate(3 * CHUNK)
            f.seek(2 * CHUNK)
            f.write(b'x')
        with open(path, 'rb') as f:
            extents = transfer.file_extents(f.fileno(), 3 * CHUNK)
        if extents[0] != (0, 2 * CHUNK, True):
            self.skipTest('no SEEK_DATA on this filesystem')
        transfer.write_file_to_image(self.ioctx, 'vol', path)
        # Only the hole over old data (object 0) is zeroed.
        self.assertEqual([(0, OBJECT)], self.zeroed)
        self.assertEqual(bytes(8), self.cluster.read('vol', 0, 8))
        self.assertEqual(b'x', self.cluster.read('vol', 2 * CHUNK, 1))

    @ddt.data(True, False)
    def test_overwrite_zeroes_fresh_image(self, overwrite):
        self.cluster.image('vol').size = 3 * CHUNK
        path = self.write_file(b'x' + bytes(CHUNK))
        transfer.write_file_to_image(self.ioctx, 'vol', path,
                                     overwrite=overwrite)
        if overwrite:
            self.assertEqual((BLOCK, CHUNK - BLOCK), self.zeroed[0])
            self.assertEqual(3 * CHUNK, sum(length for _o, length
                                            in self.zeroed) + BLOCK)
        else:
            self.assertEqual([], self.zeroed)

    def test_write_failure_waits_for_requests_in_flight(self):
        self.use_aio(fail_at=2 * CHUNK)
        path = self.write_file(b'x' * (20 * CHUNK))
        error = self.assertRaises(bindings.rbd.OSError,
                                  transfer.write_file_to_image,
                                  self.ioctx, 'vol', path)
        self.assertIn('write at %d' % (2 * CHUNK), str(error))
        self.assertEqual([], self.in_flight)
        self.assertEqual([], self.cluster.open_images)

    def test_read_leaves_holes_and_skips_unallocated(self):
        self.cluster.image('vol').size = 3 * CHUNK
        self.cluster.write('vol', b'hello', 2 * CHUNK + 100)
        path = self.temp_file()
        self.assertEqual(3 * CHUNK, transfer.read_image_to_file(
            self.ioctx, 'vol', path))
        self.assertEqual(3 * CHUNK, os.path.getsize(path))
        with open(path, 'rb') as f:
            content = f.read()
        self.assertEqual(b'hello', content[2 * CHUNK + 100:2 * CHUNK + 105])
        self.assertEqual(3 * CHUNK - 5, content.count(0))
        self.assertEqual([2 * CHUNK], self.reads)
        self.assertEqual([], self.cluster.open_images)

    def test_reader_streams_in_order(self):
        size = 3 * CHUNK + 7
        self.cluster.image('vol').size = size
        self.cluster.write('vol', b'first', 0)
        self.cluster.write('vol', b'last', size - 4)
        reader = transfer.open_reader(self.ioctx, 'vol')
        pieces = list(iter(lambda: reader.read(units.Mi), b''))
        reader.close()
        reader.close()  # twice is harmless
        self.assertEqual(units.Mi, len(pieces[0]))
        data = b''.join(pieces)
        self.assertEqual(size, len(data))
        self.assertEqual(b'first', data[:5])
        self.assertEqual(b'last', data[-4:])
        self.assertEqual(size - 9, data.count(0))
        self.assertEqual([0, 3 * CHUNK], self.reads)
        self.assertEqual([], self.cluster.open_images)

    def test_reader_read_all(self):
        self.cluster.write('vol', b'abc', 10)
        reader = transfer.open_reader(self.ioctx, 'vol')
        self.addCleanup(reader.close)
        self.assertEqual(b'abc', reader.read()[10:13])
        self.assertEqual(b'', reader.read(5))


@ddt.ddt
class DriverTransferTestCase(AioMixin, base.DriverTestCase):

    def test_transfers_are_bounded_per_backend(self):
        drv = self.make_driver(rbd_max_concurrent_transfers=2)
        slot = drv._backend.transfer_limit
        self.assertTrue(slot.acquire(blocking=False))
        self.assertTrue(slot.acquire(blocking=False))
        self.assertFalse(slot.acquire(blocking=False))
        other = self.make_driver()
        self.assertIsNot(slot, other._backend.transfer_limit)

    @ddt.data(True, False)
    def test_reimage_overwrites_through_driver(self, disable_sparse):
        self.use_aio()
        drv = self.make_driver()
        vol = self.volume()
        drv.create_volume(vol)
        self.cluster.write(vol.name, b'old' * 100, 3 * BLOCK)

        def fetch_to_raw(ctx, svc, image_id, path, *args, **kwargs):
            with open(path, 'wb') as f:
                f.write(b'new' + bytes(8 * BLOCK))
        with mock.patch.object(image_utils, 'fetch_to_raw', fetch_to_raw):
            drv.copy_image_to_volume(self.ctx, vol, None, 'img',
                                     disable_sparse=disable_sparse)
        self.assertEqual(b'new' + bytes(units.Mi),
                         self.cluster.read(vol.name, 0, units.Mi + 3))
        # disable_sparse zeroes the whole volume past the image, not only
        # the allocated part.
        zeroed = sum(length for _o, length in self.zeroed)
        self.assertEqual(units.Gi - BLOCK if disable_sparse
                         else OBJECT - BLOCK, zeroed)
        self.assertNoLeftOpenImages()

    @ddt.data(True, False)
    def test_reimage_detaches_a_clone(self, disable_sparse):
        # Only a reimage (disable_sparse) rewrites every byte, so only then
        # may the clone drop its parent, and the source its .clone_snap.
        self.use_aio()
        drv = self.make_driver()
        src, vol = self.volume(), self.volume()
        drv.create_volume(src)
        drv.create_cloned_volume(vol, src)

        def fetch_to_raw(ctx, svc, image_id, path, *args, **kwargs):
            with open(path, 'wb') as f:
                f.write(b'new' + bytes(BLOCK))
        with mock.patch.object(image_utils, 'fetch_to_raw', fetch_to_raw):
            drv.copy_image_to_volume(self.ctx, vol, None, 'img',
                                     disable_sparse=disable_sparse)
        self.assertEqual(disable_sparse,
                         self.cluster.parent_of(vol.name) is None)
        self.assertEqual([] if disable_sparse else [vol.name + '.clone_snap'],
                         self.cluster.snap_names(src.name))
        self.assertNoLeftOpenImages()

    def test_upload_streams_raw_without_temp_file(self):
        self.use_aio()
        drv = self.make_driver()
        vol = self.volume()
        drv.create_volume(vol)
        self.cluster.write(vol.name, b'volume-data', 0)
        with mock.patch.object(volume_utils, 'upload_volume') as upload, \
                mock.patch.object(tempfile, 'NamedTemporaryFile',
                                  side_effect=AssertionError('temp file')):
            upload.side_effect = (
                lambda ctx, svc, meta, path, volume, volume_fd: self.sent.
                append(volume_fd.read(11)))
            self.sent = []
            drv.copy_volume_to_image(self.ctx, vol, None,
                                     {'id': 'i', 'disk_format': 'raw',
                                      'container_format': 'bare'})
        self.assertEqual([b'volume-data'], self.sent)
        self.assertIsNone(upload.call_args[0][3])
        self.assertNoLeftOpenImages()


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
