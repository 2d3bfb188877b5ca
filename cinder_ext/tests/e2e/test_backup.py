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

"""Backups of our volumes with cinder-backup's Ceph driver (pool backups).

From an RBD volume the Ceph backup driver copies RBD diffs between backup
snapshots, so an incremental backup holds only what changed. Restores must
give back the volume byte for byte.
"""

import os

from cinder_ext.tests.e2e import ceph
from cinder_ext.tests.e2e import servers

BACKUP_POOL = 'backups'
MiB = 1024 * 1024
BACKUP_TIMEOUT = 300


class BackupTest(servers.ServerTestCase):

    def setUp(self):
        super(BackupTest, self).setUp()
        # Registered first, so it runs after every backup is deleted.
        self.addCleanup(self.assert_no_backup_leaks)

    def assert_no_backup_leaks(self):
        left = [name for name in ceph.images(BACKUP_POOL)
                if any(i in name for i in self.ids)]
        self.assertEqual([], left, 'pool %s still holds' % BACKUP_POOL)

    def create_backup(self, vol_id, **attrs):
        backup = self.bs.create_backup(volume_id=vol_id,
                                       name=self.name('backup'), **attrs)
        self.ids.append(backup.id)
        self.api_objects.append(('backup', self.bs.get_backup, backup.id))
        self.addCleanup(self.delete_backup, backup.id)
        return self.wait_backup(backup.id)

    def wait_backup(self, backup_id, status='available'):
        return self._wait(
            'backup %s' % backup_id,
            lambda: self._get_or_none(self.bs.get_backup, backup_id),
            lambda b: b is not None and b.status == status,
            failed=('error', 'gone'), ids=(backup_id,),
            timeout=BACKUP_TIMEOUT)

    def delete_backup(self, backup_id):
        backup = self._get_or_none(self.bs.get_backup, backup_id)
        if backup is None:
            return
        if backup.status not in ('available', 'error'):
            self.wait_backup(backup_id)
        self.bs.delete_backup(backup_id)
        self._wait('backup %s (deleting)' % backup_id,
                   lambda: self._get_or_none(self.bs.get_backup, backup_id),
                   lambda b: b is None, failed=('error_deleting',),
                   ids=(backup_id,), timeout=BACKUP_TIMEOUT)

    def restore(self, backup_id, vol_id=None):
        """Restore onto ``vol_id``, or into a new volume; its id."""
        if vol_id is None:
            result = self.bs.restore_backup(backup_id,
                                            name=self.name('restored'))
            self.track_volume(result.volume_id)
            vol_id = result.volume_id
        else:
            self.bs.restore_backup(backup_id, volume=vol_id)
        self.wait_backup(backup_id)
        self.wait_volume(vol_id, timeout=BACKUP_TIMEOUT)
        return vol_id

    def sha(self, vol_id):
        return ceph.image_sha256(self.image(vol_id))

    def test_full_incremental_and_restores(self):
        vol = self.create_volume(size=1)
        name = self.image(vol.id)
        ceph.write_at(name, 0, os.urandom(4 * MiB))
        first = self.sha(vol.id)
        full = self.create_backup(vol.id)
        self.assertFalse(full.is_incremental)

        ceph.write_at(name, 512 * MiB, os.urandom(MiB))
        second = self.sha(vol.id)
        incremental = self.create_backup(vol.id, is_incremental=True)
        self.assertTrue(incremental.is_incremental)

        # The incremental into a new volume gives the second state, the
        # full onto the volume itself the first.
        self.assertEqual(second, self.sha(self.restore(incremental.id)))
        self.restore(full.id, vol.id)
        self.assertEqual(first, self.sha(vol.id))

        self.delete_backup(incremental.id)
        self.delete_backup(full.id)

    def test_backup_in_use(self):
        """A backup of an attached volume holds what the guest wrote."""
        vol = self.create_volume(size=1)
        server = self.create_server()
        disk = self.attach(server.id, vol.id)
        token = self.guest_write(server.id, vol.id, disk)
        backup = self.create_backup(vol.id, force=True)
        self.wait_volume(vol.id, 'in-use')
        restored = self.restore(backup.id)
        self.assertEqual(self.pattern_sha(token),
                         self.pool_sha(restored, servers.DATA_OFFSET))
        self.detach(server.id, vol.id, disk)
        self.wait_volume(vol.id, 'available')
