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
"""Glance images into volumes and back, through Cinder's image_utils.

Glance itself is absent (a dict-backed image service stands in for it),
Cinder's root helper runs commands directly and its privsep functions run
in-process (the tests run as root); Ceph and qemu-img are real.
"""

import os
import threading
import time
from unittest import mock

from cinder.image import image_utils
from cinder import privsep
from cinder.tests.unit import fake_volume
from cinder import utils as cinder_utils
import ddt
import fixtures

from cinder_ext.ceph import bindings
from cinder_ext.tests.functional import base

MiB = 1024 * 1024
KiB = 1024


class DictImageService(object):
    """The part of Cinder's GlanceImageService that image_utils uses."""

    def __init__(self):
        self.images = {}
        self.temp_images = None  # image_utils.TemporaryImages' cache

    def add(self, image_id, data, disk_format='raw'):
        self.images[image_id] = ({'id': image_id, 'disk_format': disk_format,
                                  'container_format': 'bare',
                                  'size': len(data), 'status': 'active',
                                  'properties': {}}, data)

    def show(self, context, image_id):
        return dict(self.images[image_id][0])

    def download(self, context, image_id, data=None):
        data.write(self.images[image_id][1])

    def update(self, context, image_id, image_meta, data=None, **kwargs):
        meta, _old = self.images.get(image_id, ({'id': image_id}, b''))
        self.images[image_id] = (meta, data.read() if data else b'')
        return meta

    def add_location(self, context, image_id, url, metadata):
        """Glance's "add location": the image is active with no data here."""
        self.images[image_id] = ({'id': image_id, 'status': 'active',
                                  'url': url}, None)


def run_image_tools_locally(test):
    """qemu-img and friends run directly: no rootwrap or privsep here."""
    patcher = mock.patch.object(cinder_utils, 'get_root_helper',
                                return_value='env')
    patcher.start()
    test.addCleanup(patcher.stop)
    privsep.sys_admin_pctxt.set_client_mode(False)
    test.addCleanup(privsep.sys_admin_pctxt.set_client_mode, True)


@ddt.ddt
class TestImageTransfer(base.DriverTestCase):
    def setUp(self):
        super(TestImageTransfer, self).setUp()
        run_image_tools_locally(self)
        self.driver = self.make_driver(group='images')
        self.glance = DictImageService()

    def test_image_to_volume_and_back(self):
        payload = os.urandom(MiB) + bytes(6 * MiB) + b'tail' * 1024
        self.glance.add('img-1', payload)
        vol = self.volume()
        # Cinder gives every volume a type; upload reads its extra specs.
        vol.volume_type = fake_volume.fake_volume_type_obj(self.ctx)
        vol.glance_metadata = {}
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.driver.copy_image_to_volume(self.ctx, vol, self.glance, 'img-1')
        self.assertEqual(payload, self.read(vol.name, len(payload)))
        # Zero chunks were skipped, not written: the image stays thin.
        with self.open_image(vol.name) as image:
            used = []
            image.diff_iterate(0, image.size(), None,
                               lambda off, length, exists:
                               used.append(length) if exists else None)
        self.assertLess(sum(used), 5 * MiB)  # 7 MiB if zeros were written

        self.glance.images['img-2'] = ({'id': 'img-2'}, b'')
        self.driver.copy_volume_to_image(
            self.ctx, vol, self.glance,
            {'id': 'img-2', 'disk_format': 'raw', 'container_format': 'bare'})
        uploaded = self.glance.images['img-2'][1]
        self.assertEqual(vol.size * 1024 * MiB, len(uploaded))
        self.assertEqual(payload, uploaded[:len(payload)])

    @ddt.data(True, False)
    def test_reimage_overwrites_old_data(self, disable_sparse):
        # Cinder's reimage passes disable_sparse=True; either way a volume
        # that holds data must read back exactly as the new image.
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.write_pattern(vol.name, b'\xaa' * (8 * MiB))
        self.write_pattern(vol.name, b'old-tail' * 1024, 512 * MiB)
        image = b'new!' * (16 * KiB) + bytes(8 * MiB - 64 * KiB)
        self.glance.add('img-new', image)
        self.driver.copy_image_to_volume(self.ctx, vol, self.glance,
                                         'img-new',
                                         disable_sparse=disable_sparse)
        data = self.read(vol.name, 8 * MiB)
        stale = [n for n in range(128)
                 if data[n * 64 * KiB:(n + 1) * 64 * KiB] !=
                 image[n * 64 * KiB:(n + 1) * 64 * KiB]]
        self.assertEqual([], stale, '64 KiB blocks of old data left')
        # Past the end of the new image the volume reads as zeros too.
        self.assertEqual(bytes(8 * KiB),
                         self.read(vol.name, 8 * KiB, 512 * MiB))

    def test_reimage_of_clone_hides_parent_data(self):
        # A clone's holes show its parent: zeros must be written there.
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.write_pattern(vol.name, b'\xbb' * (4 * MiB))
        clone = self.volume()
        self.driver.create_cloned_volume(clone, vol)
        self.addCleanup(self.driver.delete_volume, clone)
        self.glance.add('img-zero', b'z' + bytes(4 * MiB - 1))
        self.driver.copy_image_to_volume(self.ctx, clone, self.glance,
                                         'img-zero')
        self.assertEqual(b'z' + bytes(4 * MiB - 1),
                         self.read(clone.name, 4 * MiB))

    def test_reimage_detaches_a_clone_from_its_parent(self):
        # Nova's rebuild of a volume-backed server reimages the root volume,
        # which was often a clone: afterwards it holds exactly the new image
        # and no longer pins its parent (the source's .clone_snap goes).
        src = self.volume()
        self.driver.create_volume(src)
        self.addCleanup(self.driver.delete_volume, src)
        self.write_pattern(src.name, b'\xcc' * (8 * MiB))
        clone = self.volume()
        self.driver.create_cloned_volume(clone, src)
        self.addCleanup(self.driver.delete_volume, clone)
        self.assertIsNotNone(self.parent_of(clone.name))
        image = b'rebuilt!' * (512 * KiB)  # 4 MiB: half the old data
        self.glance.add('img-rebuild', image)
        self.driver.copy_image_to_volume(self.ctx, clone, self.glance,
                                         'img-rebuild', disable_sparse=True)
        self.assertIsNone(self.parent_of(clone.name))
        self.assertEqual([], self.snap_names(src.name))
        self.assertEqual(image + bytes(4 * MiB),
                         self.read(clone.name, 8 * MiB))

    def test_raw_upload_streams(self):
        vol = self.volume()
        vol.volume_type = fake_volume.fake_volume_type_obj(self.ctx)
        vol.glance_metadata = {}
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.write_pattern(vol.name, b'head', 0)
        self.write_pattern(vol.name, b'tail', 1024 * MiB - 4)
        self.glance.images['img-up'] = ({'id': 'img-up'}, b'')
        with mock.patch('tempfile.NamedTemporaryFile',
                        side_effect=AssertionError('temporary file used')):
            self.driver.copy_volume_to_image(
                self.ctx, vol, self.glance,
                {'id': 'img-up', 'disk_format': 'raw',
                 'container_format': 'bare'})
        uploaded = self.glance.images['img-up'][1]
        self.assertEqual(1024 * MiB, len(uploaded))
        self.assertEqual((b'head', b'tail'), (uploaded[:4], uploaded[-4:]))
        self.assertEqual(1024 * MiB - 8, uploaded.count(0))

    def test_qcow2_image_is_converted(self):
        raw = os.path.join(self.useFixture_tmp(), 'src.raw')
        with open(raw, 'wb') as out:
            out.write(b'qcow2-payload' + bytes(MiB))
        qcow = raw + '.qcow2'
        cinder_utils.execute('qemu-img', 'convert', '-O', 'qcow2', raw, qcow)
        with open(qcow, 'rb') as src:
            self.glance.add('img-q', src.read(), disk_format='qcow2')
        vol = self.volume()
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.driver.copy_image_to_volume(self.ctx, vol, self.glance, 'img-q')
        self.assertEqual(b'qcow2-payload', self.read(vol.name, 13))

    def useFixture_tmp(self):
        return self.useFixture(fixtures.TempDir()).path


@ddt.ddt
class TestUploadIntoGlancePool(base.DriverTestCase):
    """rbd_glance_store_pool: the image is a copy in Glance's own pool."""

    def glance_image(self, driver, vol):
        """``vol`` made as a COW clone of a Glance-like image.

        Glance writes 8 MiB objects (order 23): the clone takes that
        object size and stripe unit, which the copy must keep.
        """
        parent = self.new_id()
        ioctx = self.rados(base.GLANCE_POOL)
        bindings.rbd.RBD().create(ioctx, parent, 64 * MiB, order=23,
                                  old_format=False, features=1)
        with bindings.rbd.Image(ioctx, parent) as image:
            image.write(b'parent', 8 * MiB)
            image.create_snap('snap')
            image.protect_snap('snap')
        self.addCleanup(self.remove_glance_image, parent)
        url = 'rbd://%s/%s/%s/snap' % (base.admin('fsid').strip(),
                                       base.GLANCE_POOL, parent)
        _update, cloned = driver.clone_image(
            self.ctx, vol, (url, None), {'disk_format': 'raw'}, None)
        self.assertTrue(cloned)

    @ddt.data(False, True)
    def test_volume_copied_as_glance_lays_out_images(self, from_image):
        driver = self.make_driver(group='glance-pool',
                                  rbd_glance_store_pool=base.GLANCE_POOL)
        glance = DictImageService()
        vol = self.volume()
        if from_image:
            self.glance_image(driver, vol)
        else:
            driver.create_volume(vol)
        self.addCleanup(driver.delete_volume, vol)
        self.write_pattern(vol.name, b'head', 0)
        self.write_pattern(vol.name, b'tail', 1024 * MiB - 4)
        image_id = self.new_id()
        self.addCleanup(self.remove_glance_image, image_id)
        with mock.patch('cinder.volume.volume_utils.upload_volume',
                        side_effect=AssertionError('streamed')):
            driver.copy_volume_to_image(
                self.ctx, vol, glance,
                {'id': image_id, 'disk_format': 'raw',
                 'container_format': 'bare'})
        self.assertEqual('rbd://%s/%s/%s/snap' % (
            base.admin('fsid').strip(), base.GLANCE_POOL, image_id),
            glance.images[image_id][0]['url'])
        with self.open_image(image_id, 'snap', base.GLANCE_POOL) as image:
            self.assertEqual(1024 * MiB, image.size())
            self.assertEqual((b'head', b'tail'),
                             (image.read(0, 4), image.read(1024 * MiB - 4, 4)))
            self.assertTrue(image.is_protected_snap('snap'))
            self.assertRaises(bindings.ImageNotFound, image.parent_info)
            used = []
            image.diff_iterate(0, image.size(), None,
                               lambda off, length, exists:
                               used.append(length) if exists else None)
            if from_image:
                self.assertEqual(b'parent', image.read(8 * MiB, 6))
        # A few objects, not 1 GiB.
        self.assertLessEqual(sum(used), 24 * MiB)
        # The snapshot the copy read from is gone from the volume.
        self.assertEqual([], self.snap_names(vol.name))


class TestGlanceClone(base.DriverTestCase):
    """Glance images stored in the same cluster are cloned, not copied."""

    def setUp(self):
        super(TestGlanceClone, self).setUp()
        self.driver = self.make_driver(group='glance')
        self.image = 'glance-image-%s' % self.new_id()
        ioctx = self.rados()
        bindings.rbd.RBD().create(ioctx, self.image, 8 * MiB,
                                  old_format=False, features=1)
        self.write_pattern(self.image, b'glance-bits')
        with bindings.rbd.Image(ioctx, self.image) as image:
            image.create_snap('snap')
            image.protect_snap('snap')
        self.addCleanup(self._remove_image)
        self.url = 'rbd://%s/volumes/%s/snap' % (
            base.admin('fsid').strip(), self.image)

    def _remove_image(self):
        with bindings.rbd.Image(self.rados(), self.image) as image:
            image.unprotect_snap('snap')
            image.remove_snap('snap')
        bindings.rbd.RBD().remove(self.rados(), self.image)

    def test_clone_raw_image_from_same_cluster(self):
        vol = self.volume(size=1)
        update, cloned = self.driver.clone_image(
            self.ctx, vol, (self.url, None), {'disk_format': 'raw'}, None)
        self.assertTrue(cloned)
        self.assertIsNone(update['provider_location'])
        self.assertEqual(('volumes', self.image, 'snap'),
                         self.parent_of(vol.name))
        self.assertEqual(b'glance-bits', self.read(vol.name, 11))
        self.assertEqual(1024 * MiB, self.image_size(vol.name))
        self.driver.delete_volume(vol)

    def test_not_cloneable(self):
        other = self.url.replace(self.url[6:42], '0' * 8 + self.url[14:42])
        for location, meta in (((self.url, None), {'disk_format': 'qcow2'}),
                               ((other, None), {'disk_format': 'raw'}),
                               (('file:///x', None), {'disk_format': 'raw'}),
                               (None, {'disk_format': 'raw'})):
            vol = self.volume()
            self.assertEqual(({}, False), self.driver.clone_image(
                self.ctx, vol, location, meta, None))
            self.assertNotIn(vol.name, self.image_names())


class TestTransfersDoNotStarve(base.DriverTestCase):
    """24 image imports at once leave control calls answering promptly.

    Under eventlet every Ceph call needs one of tpool's 20 threads; a
    transfer holds one for as long as it writes. Unbounded, 24 transfers
    take them all and a control call waits for a whole transfer.
    Downloads and conversions (Cinder's part, CPU bound on a small test
    bed) all finish first; then every transfer starts writing at once and
    the latency of a monitor command on the driver's connection (what a
    stats reconcile runs; the one OSD is busy with the transfers, so an
    image call would measure the disk) is measured while they run.
    """

    TRANSFERS = 24
    FETCH_WAIT = 300  # seconds; downloads take a few on the test bed

    def setUp(self):
        super(TestTransfersDoNotStarve, self).setUp()
        run_image_tools_locally(self)
        if base.expected_mode() != 'eventlet':
            # Cinder's image_utils writes downloads through eventlet's tpool,
            # whose results reach only the thread that started it: from
            # other native threads it must call directly.
            from eventlet import tpool
            self.useFixture(fixtures.MockPatchObject(tpool, '_nthreads', 0))
        self.driver = self.make_driver(group='busy')
        self.glance = DictImageService()
        self.fetched = []
        self.all_fetched = threading.Event()
        fetch = image_utils.fetch_to_raw

        def fetch_then_wait(*args, **kwargs):
            # All transfers then reach the volume at the same moment.
            try:
                fetch(*args, **kwargs)
            finally:
                # A failed download counts too: the others must not wait
                # for it forever.
                self.fetched.append(args[3])
                if len(self.fetched) == self.TRANSFERS:
                    self.all_fetched.set()
            self.all_fetched.wait(self.FETCH_WAIT)
        self.useFixture(fixtures.MockPatchObject(image_utils, 'fetch_to_raw',
                                                 fetch_then_wait))

    def _import_all(self, volumes, done):
        def one(vol):
            try:
                self.driver.copy_image_to_volume(self.ctx, vol, self.glance,
                                                 'img-big')
            finally:
                done.append(vol)
        # Patched threading makes these greenthreads under eventlet.
        threads = [threading.Thread(target=one, args=(vol,))
                   for vol in volumes]
        for thread in threads:
            thread.start()
        return threads

    def _control_call(self):
        """Seconds a ``df`` monitor command takes on the driver's session."""
        start = time.monotonic()
        with self.driver._backend.session() as session:
            session.mon_command('df')
        return time.monotonic() - start

    def test_control_calls_answer_during_transfers(self):
        payload = os.urandom(MiB) * 64
        self.glance.add('img-big', payload)
        volumes = [self.volume() for _n in range(self.TRANSFERS)]
        for vol in volumes:
            self.driver.create_volume(vol)
            self.addCleanup(self.driver.delete_volume, vol)
        idle = self._control_call()
        done = []
        threads = self._import_all(volumes, done)
        self.assertTrue(self.all_fetched.wait(self.FETCH_WAIT),
                        'downloads did not end within %d s' % self.FETCH_WAIT)
        time.sleep(0.5)
        worst, samples = 0.0, 0
        while len(done) < self.TRANSFERS:
            latency = self._control_call()
            if len(done) < self.TRANSFERS:  # measured under load
                worst, samples = max(worst, latency), samples + 1
            time.sleep(0.1)
        for thread in threads:
            thread.join()
        self.assertGreater(samples, 0, 'transfers too short to measure')
        self.assertLess(worst, 0.5,
                        'a monitor command took %.2f s during transfers (idle '
                        '%.3f s, %d samples)' % (worst, idle, samples))
        for vol in (volumes[0], volumes[-1]):
            self.assertEqual(payload[-MiB:],
                             self.read(vol.name, MiB, 63 * MiB))
