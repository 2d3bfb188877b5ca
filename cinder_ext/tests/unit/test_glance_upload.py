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

"""Volume to image inside Ceph (rbd_glance_store_pool), and its fallback."""

from unittest import mock

from cinder import exception
from cinder.volume import volume_utils
import ddt
import fixtures

from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph
from cinder_ext.volume import glance_upload

IMAGE_ID = '5e0f4d7e-1c1b-4b9e-9d55-6d3c9b0e1a11'
RAW = {'id': IMAGE_ID, 'disk_format': 'raw', 'container_format': 'bare'}


class FakeImageService(object):
    """Glance as Cinder's image service sees it: statuses in turn."""

    def __init__(self, statuses=('active',), refuse=None):
        self.statuses = list(statuses)
        self.refuse = refuse
        self.locations = []

    def add_location(self, context, image_id, url, metadata):
        if self.refuse:
            raise self.refuse
        self.locations.append((image_id, url, metadata))

    def show(self, context, image_id):
        status = (self.statuses.pop(0) if len(self.statuses) > 1
                  else self.statuses[0])
        return {'id': image_id, 'status': status}


@ddt.ddt
class GlanceUploadTestCase(base.DriverTestCase):

    def setUp(self):
        super(GlanceUploadTestCase, self).setUp()
        self.cluster.add_pool('images')
        self.streamed = self.useFixture(fixtures.MockPatchObject(
            volume_utils, 'upload_volume')).mock
        # Streaming itself is test_image_transfer's business.
        self.useFixture(fixtures.MockPatch(
            'cinder_ext.ceph.transfer.open_reader'))
        self.useFixture(fixtures.MockPatch('time.sleep'))

    def upload(self, service, meta=RAW, **overrides):
        settings = dict(rbd_glance_store_pool='images')
        settings.update(overrides)
        drv = self.make_driver(**settings)
        vol = self.volume()
        drv.create_volume(vol)
        self.cluster.write(vol.name, b'volume-data', 4096)
        drv.copy_volume_to_image(self.ctx, vol, service, dict(meta))
        return vol

    def test_copy_inside_ceph_becomes_the_image(self):
        service = FakeImageService(statuses=('queued', 'active'))
        vol = self.upload(service)
        url = 'rbd://%s/images/%s/snap' % (self.cluster.fsid, IMAGE_ID)
        self.assertEqual([(IMAGE_ID, url, {})], service.locations)
        self.assertFalse(self.streamed.called)
        # Glance's RBD store layout: <pool>/<image id>@snap, protected.
        self.assertEqual(['snap'], self.cluster.snap_names(IMAGE_ID,
                                                           pool='images'))
        image = self.cluster.image(IMAGE_ID, pool='images')
        self.assertTrue(image.user_snap('snap').protected)
        self.assertIsNone(self.cluster.parent_of(IMAGE_ID, pool='images'))
        self.assertEqual(self.cluster.image(vol.name).size, image.size)
        self.assertEqual(b'volume-data',
                         self.cluster.read(IMAGE_ID, 4096, 11, pool='images'))
        # The snapshot the copy was read from is gone again.
        self.assertEqual([], self.cluster.snap_names(vol.name))
        self.assertNoLeftOpenImages()

    @ddt.data(
        ('refused', exception.ImageNotAuthorized(image_id=IMAGE_ID)),
        ('never active', None),
        ('killed', None))
    @ddt.unpack
    def test_glance_refuses_then_streams(self, case, error):
        statuses = {'never active': ('queued',), 'killed': ('killed',)}
        service = FakeImageService(statuses=statuses.get(case, ('active',)),
                                   refuse=error)
        with mock.patch.object(glance_upload, 'ACTIVE_WAIT_SECONDS', 0):
            vol = self.upload(service)
        self.assertEqual([], self.cluster.image_names(pool='images'))
        self.assertEqual([], self.cluster.snap_names(vol.name))
        self.assertEqual(1, self.streamed.call_count)
        self.assertIn('uploading through Glance instead', self.logs.output)
        self.assertNoLeftOpenImages()

    @ddt.data(('clone', 'PermissionError'), ('flatten', 'NoSpace'))
    @ddt.unpack
    def test_copy_fails_then_streams(self, op, error):
        # A read-only rbd_user on Glance's pool, or a full pool.
        self.cluster.fail(op, fake_ceph.rbd_error(error))
        service = FakeImageService()
        vol = self.upload(service)
        self.assertEqual([], service.locations)
        self.assertEqual([], self.cluster.image_names(pool='images'))
        self.assertEqual([], self.cluster.snap_names(vol.name))
        self.assertEqual(1, self.streamed.call_count)
        self.assertIn('rbd_glance_store_pool', self.logs.output)

    @ddt.data(
        ('images', {}, None, True),
        ('images', {'disk_format': 'qcow2'}, None, False),
        ('images', {'container_format': 'ova'}, None, False),
        ('images', {}, 'c7a6c7c8-2a3b-4b8e-8a5e-0f1d2c3b4a59', False),
        (None, {}, None, False))
    @ddt.unpack
    def test_eligible(self, pool, meta_changes, key_id, expected):
        conf = mock.Mock()
        conf.safe_get.side_effect = {'rbd_glance_store_pool': pool}.get
        meta = dict(RAW, **meta_changes)
        vol = self.volume(encryption_key_id=key_id)
        self.assertEqual(expected, glance_upload.eligible(conf, vol, meta))

    def test_unset_streams(self):
        service = FakeImageService()
        self.upload(service, rbd_glance_store_pool=None)
        self.assertEqual([], service.locations)
        self.assertEqual(1, self.streamed.call_count)
        self.assertEqual([], self.cluster.image_names(pool='images'))

    def test_location_url_quotes(self):
        self.assertEqual('rbd://f/my%2Fpool/i/snap',
                         glance_upload.location_url('f', 'my/pool', 'i'))
