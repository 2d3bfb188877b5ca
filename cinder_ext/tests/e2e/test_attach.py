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

"""Our volumes on running servers.

Nova attaches them, QEMU opens them over librbd with the libvirt secret the
attach answer names, and the guest reads and writes the same bytes the pool
holds.
"""

import os

from cinder_ext.tests.e2e import ceph
from cinder_ext.tests.e2e import servers
from cinder_ext.tests.e2e.servers import sha256


class AttachTest(servers.ServerTestCase):

    def test_data_both_ways_then_detach(self):
        vol = self.create_volume(size=1)
        server = self.create_server()
        disk = self.attach(server.id, vol.id)
        self.assertNotEqual([], ceph.watchers(self.image(vol.id)),
                            'QEMU does not hold the image open')

        # Guest to pool: the guest writes, the pool has the bytes.
        token = self.guest_write(server.id, vol.id, disk)
        self.assertEqual(self.pattern_sha(token),
                         self.pool_sha(vol.id, servers.DATA_OFFSET))

        # Pool to guest: bytes put into the pool are what the guest reads.
        data = os.urandom(servers.DATA_LENGTH)
        offset = 2 * servers.DATA_OFFSET
        ceph.write_at(self.image(vol.id), offset, data)
        self.assertEqual(sha256(data),
                         self.guest_read(server.id, vol.id, disk, offset))

        self.detach(server.id, vol.id, disk)
        vol = self.wait_volume(vol.id, 'available')
        self.assertEqual([], vol.attachments)
        self.assertEqual([], ceph.watchers(self.image(vol.id)),
                         'the image is still open after the detach')

    def test_extend_in_use(self):
        """The guest sees the new size.

        Cinder tells Nova (an external event), and QEMU resizes the disk.
        """
        vol = self.create_volume(size=1)
        server = self.create_server()
        disk = self.attach(server.id, vol.id)
        after = len(self.events(server.id))
        self.bs.extend_volume(vol.id, 2)
        self.wait_volume(vol.id, 'in-use', size=2)
        self.assertEqual(2 * ceph.GiB, ceph.size(self.image(vol.id)))
        self.wait_guest(server.id, 'size', after, disk=disk,
                        size=2 * ceph.GiB)
        self.detach(server.id, vol.id, disk)
        self.wait_volume(vol.id, 'available')

    def test_snapshot_in_use(self):
        """A snapshot of an attached volume holds what the guest wrote."""
        vol = self.create_volume(size=1)
        server = self.create_server()
        disk = self.attach(server.id, vol.id)
        token = self.guest_write(server.id, vol.id, disk)
        snap = self.bs.create_snapshot(volume_id=vol.id, force=True,
                                       name=self.name('snap'))
        self.ids.append(snap.id)
        self.api_objects.append(('snapshot', self.bs.get_snapshot, snap.id))
        self.addCleanup(self.delete_snapshot, snap.id, ignore_missing=True)
        self.wait_snapshot(snap.id)
        copy = self.create_volume(size=1, snapshot_id=snap.id)
        self.assertEqual(self.pattern_sha(token),
                         self.pool_sha(copy.id, servers.DATA_OFFSET))
        self.detach(server.id, vol.id, disk)
        self.wait_volume(vol.id, 'available')

    def test_multiattach_two_servers(self):
        """One volume on two servers: one guest reads what the other wrote."""
        vtype = self.create_type(multiattach='<is> True')
        vol = self.create_volume(size=1, volume_type=vtype.name)
        first = self.create_server()
        second = self.create_server()
        disk1 = self.attach(first.id, vol.id)
        token = self.guest_write(first.id, vol.id, disk1)
        # Every guest runs the command in sector 0 when it sees the disk:
        # the second must not write the pattern itself.
        self.clear_command(vol.id)
        disk2 = self.attach(second.id, vol.id)
        self.assertEqual(2, len(self.bs.get_volume(vol.id).attachments))
        self.assertEqual(self.pattern_sha(token),
                         self.guest_read(second.id, vol.id, disk2))

        self.detach(first.id, vol.id, disk1)
        self.wait_volume(vol.id, 'in-use')
        self.detach(second.id, vol.id, disk2)
        self.wait_volume(vol.id, 'available')
