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
"""Volume types on the real cluster: back-end QoS and multiattach.

Only Cinder's database lookup of a QoS spec is replaced (there is no
database here); everything Ceph sees is real.
"""

import json
from unittest import mock

from cinder import exception
from cinder.tests.unit import fake_volume

from cinder_ext.ceph import bindings
from cinder_ext.tests.functional import base

QOS_SPECS = {}


def fake_get_qos_specs(ctxt, spec_id):
    return QOS_SPECS[spec_id]


class TestVolumeTypes(base.DriverTestCase):
    def setUp(self):
        super(TestVolumeTypes, self).setUp()
        patcher = mock.patch('cinder.volume.qos_specs.get_qos_specs',
                             side_effect=fake_get_qos_specs)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.addCleanup(QOS_SPECS.clear)
        self.driver = self.make_driver(group='types')

    def vtype(self, qos=None, consumer='back-end', **extra_specs):
        qos_id = None
        if qos is not None:
            qos_id = self.new_id()
            QOS_SPECS[qos_id] = {'id': qos_id, 'consumer': consumer,
                                 'specs': qos}
        return fake_volume.fake_volume_type_obj(
            self.ctx, id=self.new_id(), qos_specs_id=qos_id,
            extra_specs=extra_specs)

    def typed_volume(self, vtype, size=1):
        vol = self.volume(size=size, volume_type_id=vtype.id)
        vol.volume_type = vtype
        return vol

    def image_qos(self, name):
        with self.open_image(name) as image:
            return {e['name']: e['value'] for e in image.config_list()
                    if e['source'] == bindings.CONFIG_SOURCE_IMAGE}

    def test_qos_applied_with_iops_burst_and_per_gb(self):
        vtype = self.vtype({'total_iops_sec': '100',
                            'total_iops_sec_max': '200',
                            'total_bytes_sec_per_gb': '1000'})
        vol = self.typed_volume(vtype, size=2)
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.assertEqual({'rbd_qos_iops_limit': '100',
                          'rbd_qos_iops_burst': '200',
                          'rbd_qos_bps_limit': '2000'},
                         self.image_qos(vol.name))
        self.driver.extend_volume(vol, 3)
        self.assertEqual('3000', self.image_qos(vol.name)['rbd_qos_bps_limit'])

    def test_qos_on_clone_and_full_copy(self):
        vtype = self.vtype({'read_iops_sec': '50'})
        src = self.volume()
        self.driver.create_volume(src)
        self.addCleanup(self.driver.delete_volume, src)
        for drv in (self.driver,
                    self.make_driver(group='copy', rbd_max_clone_depth=0)):
            dst = self.typed_volume(vtype)
            dst.source_volid = src.id  # as Cinder records it
            drv.create_cloned_volume(dst, src)
            self.assertEqual({'rbd_qos_read_iops_limit': '50'},
                             self.image_qos(dst.name))
            drv.delete_volume(dst)

    def test_bad_qos_creates_nothing(self):
        for specs in ({'total_iops_sec': 'fast'},
                      {'total_iops_sec': '-5'},
                      {'iops_unknown_key': '5'}):
            vol = self.typed_volume(self.vtype(specs))
            error = self.assertRaises(exception.InvalidQoSSpecs,
                                      self.driver.create_volume, vol)
            key, value = list(specs.items())[0]
            self.assertIn(key, str(error))
            self.assertIn(value, str(error))
            self.assertNotIn(vol.name, self.image_names())

    def test_front_end_keys_ignored_for_both_consumer(self):
        vtype = self.vtype({'size_iops_sec': '4096',
                            'write_bytes_sec': '1048576'}, consumer='both')
        vol = self.typed_volume(vtype)
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.assertEqual({'rbd_qos_write_bps_limit': '1048576'},
                         self.image_qos(vol.name))

    def test_front_end_only_qos_not_applied(self):
        vol = self.typed_volume(self.vtype({'total_iops_sec': '10'},
                                           consumer='front-end'))
        self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        self.assertEqual({}, self.image_qos(vol.name))

    def test_multiattach_and_retype_back(self):
        multi = self.vtype(multiattach='<is> True')
        vol = self.typed_volume(multi)
        update = self.driver.create_volume(vol)
        self.addCleanup(self.driver.delete_volume, vol)
        with self.open_image(vol.name) as image:
            features = image.features()
        self.assertFalse(features & bindings.FEATURE_EXCLUSIVE_LOCK)
        saved = json.loads(update['provider_location'])['saved_features']
        self.assertTrue(saved & bindings.FEATURE_EXCLUSIVE_LOCK)
        vol.provider_location = update['provider_location']
        plain = self.vtype({'total_iops_sec': '7'})
        ok, update = self.driver.retype(self.ctx, vol, plain, {}, {})
        self.assertTrue(ok)
        self.assertEqual({'provider_location': None}, update)
        with self.open_image(vol.name) as image:
            self.assertEqual(saved, image.features())
        self.assertEqual({'rbd_qos_iops_limit': '7'},
                         self.image_qos(vol.name))
        vol.volume_type = plain
        ok, update = self.driver.retype(self.ctx, vol, self.vtype(), {}, {})
        self.assertEqual({}, self.image_qos(vol.name))

    def test_replication_type_refused_before_create(self):
        vol = self.typed_volume(self.vtype(replication_enabled='<is> True'))
        error = self.assertRaises(exception.InvalidVolumeType,
                                  self.driver.create_volume, vol)
        self.assertIn('replication_enabled', str(error))
        self.assertNotIn(vol.name, self.image_names())
