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

"""Volume types with back-end QoS: create, retype, extend, a bad value.

Where the drivers differ, each test states what each driver does (keyed by
``stack.DRIVER``), so both runs assert the truth and nothing is skipped.
"""

import ddt

from cinder_ext.tests.e2e import base
from cinder_ext.tests.e2e import ceph
from cinder_ext.tests.e2e import stack

IOPS_100 = {'rbd_qos_iops_limit': '100'}

QOS_CASES = {
    'iops': ({'total_iops_sec': '100'},
             {'cinder-ext': IOPS_100, 'intree': IOPS_100}),
    # In-tree's key table maps total_iops_sec_max to the bytes/s burst,
    # so an IOPS burst limits bandwidth to 200 B/s there.
    'iops_burst': ({'total_iops_sec': '100', 'total_iops_sec_max': '200'},
                   {'cinder-ext': dict(IOPS_100, rbd_qos_iops_burst='200'),
                    'intree': dict(IOPS_100, rbd_qos_bps_burst='200')}),
    'bytes': ({'total_iops_sec': '100', 'read_bytes_sec': '1048576'},
              {'cinder-ext': dict(IOPS_100,
                                  rbd_qos_read_bps_limit='1048576'),
               'intree': dict(IOPS_100, rbd_qos_read_bps_limit='1048576')}),
}

# Capacity-based QoS (10 IOPS per GiB): cinder-ext multiplies by the size
# and follows an extend; in-tree does not know the key and sets nothing.
PER_GB = {'total_iops_sec_per_gb': '10'}
PER_GB_EXPECTED = {
    'cinder-ext': {2: {'rbd_qos_iops_limit': '20'},
                   3: {'rbd_qos_iops_limit': '30'}},
    'intree': {2: {}, 3: {}},
}

# User message event: "create volume from backend storage: Driver failed to
# create the volume".
DRIVER_CREATE_FAILED = 'VOLUME_VOLUME_008_012'

# A QoS value Ceph refuses (total_iops_sec=fast). cinder-ext checks the
# spec before it creates anything. In-tree creates the image, fails to set
# the value, then removes the image through the ioctx of a RADOSClient
# block that has already closed (create_volume's error path): the
# cinder-volume worker dies of SIGSEGV, oslo.service starts a new one, and
# its start-up clean-up puts the volume in error. No user message is
# recorded, and the image stays until the volume is deleted.
BAD_QOS_LEAVES_IMAGE = {'cinder-ext': False, 'intree': True}


@ddt.ddt
class VolumeTypeTest(base.E2ETestCase):

    @ddt.data(*sorted(QOS_CASES))
    def test_type_with_qos(self, case):
        specs, expected = QOS_CASES[case]
        vtype = self.create_type(qos_specs=specs)
        self.assertEqual({'volume_backend_name': stack.BACKEND},
                         self.bs.get_type(vtype.id).extra_specs)
        vol = self.create_volume(volume_type=vtype.id)
        self.assertEqual(vtype.name, vol.volume_type)
        self.assertEqual(stack.POOL_HOST, vol.host)
        name = self.image(vol.id)
        self.assertEqual(expected[stack.DRIVER], ceph.qos(name))
        self.assertEqual('100', ceph.config_get(name, 'rbd_qos_iops_limit'))

    def test_retype_changes_qos(self):
        """Retype on the same backend (policy never) rewrites the QoS."""
        slow = self.create_type(qos_specs={'total_iops_sec': '100'})
        fast = self.create_type(qos_specs={'total_iops_sec': '200',
                                           'write_bytes_sec': '1048576'})
        plain = self.create_type()
        vol = self.create_volume(volume_type=slow.id)
        name = self.image(vol.id)
        self.assertEqual(IOPS_100, ceph.qos(name))

        steps = ((fast, {'rbd_qos_iops_limit': '200',
                         'rbd_qos_write_bps_limit': '1048576'}),
                 (plain, {}))
        for vtype, expected in steps:
            self.bs.retype_volume(vol.id, vtype.id, migration_policy='never')
            vol = self.wait_volume(vol.id, volume_type=vtype.name)
            self.assertEqual(stack.POOL_HOST, vol.host)
            self.assertIsNone(vol.migration_status)
            self.assertEqual(expected, ceph.qos(name),
                             'QoS of %s after retype to %s'
                             % (name, vtype.name))
        self.assert_image(vol.id, 1)

    def test_per_gb_qos_follows_extend(self):
        vtype = self.create_type(qos_specs=PER_GB)
        vol = self.create_volume(size=2, volume_type=vtype.id)
        name = self.image(vol.id)
        expected = PER_GB_EXPECTED[stack.DRIVER]
        self.assertEqual(expected[2], ceph.qos(name))

        self.bs.extend_volume(vol.id, 3)
        self.wait_volume(vol.id, size=3)
        self.assert_image(vol.id, 3)
        self.assertEqual(expected[3], ceph.qos(name))

    @base.exclusive('intree')
    def test_bad_qos_value(self):
        """A QoS value Ceph cannot take: the volume goes to error."""
        vtype = self.create_type(qos_specs={'total_iops_sec': 'fast'})
        vol = self.create_volume(volume_type=vtype.id, status='error')
        self.assertEqual(vtype.name, vol.volume_type)
        image_left = self.image(vol.id) in ceph.images()
        self.assertEqual(BAD_QOS_LEAVES_IMAGE[stack.DRIVER], image_left,
                         'image of the failed volume %s left in the pool'
                         % vol.id)
        if not image_left:
            # The driver refused it (not the scheduler), and said so.
            events = [m['event_id'] for m in self.messages(vol.id)]
            self.assertIn(DRIVER_CREATE_FAILED, events)
            self.assert_no_image(vol.id)
        self.delete_volume(vol.id)
        self.assert_no_image(vol.id)
