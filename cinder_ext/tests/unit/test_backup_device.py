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
"""get_backup_device: the Ceph backup driver reads the volume itself."""

from unittest import mock

from cinder.volume import driver as base_driver

from cinder_ext.tests.unit import base


class TestBackupDevice(base.DriverTestCase):
    def setUp(self):
        super(TestBackupDevice, self).setUp()
        self.drv = self.make_driver()

    @mock.patch('cinder.objects.Volume.get_by_id')
    def test_ceph_backup_gets_the_volume_itself(self, get_by_id):
        backup = mock.Mock(service='cinder.backup.drivers.ceph.'
                                   'CephBackupDriver',
                           snapshot_id=None, volume_id='vol-id')
        device, is_snapshot = self.drv.get_backup_device(self.ctx, backup)
        self.assertIs(get_by_id.return_value, device)
        self.assertFalse(is_snapshot)
        get_by_id.assert_called_once_with(self.ctx, 'vol-id')

    def test_other_backups_use_the_generic_path(self):
        for backup in (mock.Mock(service='cinder.backup.drivers.swift.'
                                         'SwiftBackupDriver',
                                 snapshot_id=None),
                       mock.Mock(service='cinder.backup.drivers.ceph.'
                                         'CephBackupDriver',
                                 snapshot_id='snap-id')):
            with mock.patch.object(base_driver.BaseVD,
                                   'get_backup_device') as generic:
                result = self.drv.get_backup_device(self.ctx, backup)
            self.assertIs(generic.return_value, result)
            generic.assert_called_once_with(self.ctx, backup)
