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
"""QoS spec translation: the key table, per-GB scaling, bad input."""

from unittest import mock

from cinder import exception
import ddt
import testtools

from cinder_ext.volume import qos
from cinder_ext.volume import type_settings


@ddt.ddt
class TestCephSettings(testtools.TestCase):
    @ddt.data(
        ('total_iops_sec', 'rbd_qos_iops_limit'),
        ('read_iops_sec', 'rbd_qos_read_iops_limit'),
        ('write_iops_sec', 'rbd_qos_write_iops_limit'),
        ('total_bytes_sec', 'rbd_qos_bps_limit'),
        ('read_bytes_sec', 'rbd_qos_read_bps_limit'),
        ('write_bytes_sec', 'rbd_qos_write_bps_limit'),
        # The in-tree table maps this one to rbd_qos_bps_burst.
        ('total_iops_sec_max', 'rbd_qos_iops_burst'),
        ('read_iops_sec_max', 'rbd_qos_read_iops_burst'),
        ('write_iops_sec_max', 'rbd_qos_write_iops_burst'),
        ('total_bytes_sec_max', 'rbd_qos_bps_burst'),
        ('read_bytes_sec_max', 'rbd_qos_read_bps_burst'),
        ('write_bytes_sec_max', 'rbd_qos_write_bps_burst'))
    @ddt.unpack
    def test_key_map(self, cinder_key, ceph_key):
        self.assertEqual({ceph_key: 42},
                         qos.ceph_settings({cinder_key: '42'}, 1))

    def test_map_is_one_to_one(self):
        self.assertEqual(len(qos.KEY_MAP), len(set(qos.KEY_MAP.values())))

    @ddt.data(({'total_iops_sec_per_gb': '10'}, 5,
               {'rbd_qos_iops_limit': 50}),
              ({'read_bytes_sec_per_gb': '1000',
                'read_bytes_sec_per_gb_min': '8000'}, 2,
               {'rbd_qos_read_bps_limit': 8000}),
              ({'read_bytes_sec_per_gb': '1000',
                'read_bytes_sec_per_gb_min': '8000'}, 20,
               {'rbd_qos_read_bps_limit': 20000}),
              ({'total_iops_sec': '100', 'total_iops_sec_per_gb': '1'}, 500,
               {'rbd_qos_iops_limit': 500}))
    @ddt.unpack
    def test_per_gb(self, specs, size, expected):
        self.assertEqual(expected, qos.ceph_settings(specs, size))

    @ddt.data(('total_iops_sec', 'fast'), ('total_iops_sec', '-1'),
              ('write_bytes_sec_per_gb', '1.5'), ('bogus_key', '1'))
    @ddt.unpack
    def test_bad_specs_name_key_and_value(self, key, value):
        error = self.assertRaises(exception.InvalidQoSSpecs,
                                  qos.ceph_settings, {key: value}, 1)
        self.assertIn(key, str(error))
        self.assertIn(value, str(error))

    def test_front_end_keys_skipped_for_both(self):
        self.assertEqual({'rbd_qos_bps_limit': 5},
                         qos.ceph_settings({'size_iops_sec': '4096',
                                            'total_bytes_sec': '5'},
                                           1, consumer='both'))


class TestTypeSettings(testtools.TestCase):
    def test_no_type_no_settings(self):
        self.assertEqual({}, type_settings.check_type(None, 1))

    def test_replication_refused(self):
        vtype = {'extra_specs': {'replication_enabled': '<is> True'}}
        error = self.assertRaises(exception.InvalidVolumeType,
                                  type_settings.check_type, vtype, 1)
        self.assertIn('replication_enabled', str(error))

    @mock.patch('cinder.volume.qos_specs.get_qos_specs')
    def test_front_end_consumer_ignored(self, get_qos_specs):
        get_qos_specs.return_value = {'consumer': 'front-end',
                                      'specs': {'total_iops_sec': '1'}}
        vtype = {'qos_specs_id': 'q', 'extra_specs': {}}
        self.assertEqual({}, type_settings.check_type(vtype, 1))

    def test_saved_features_garbage(self):
        volume = mock.Mock(id='v', provider_location='not json')
        self.assertRaises(exception.VolumeDriverException,
                          type_settings._saved_features, volume)
