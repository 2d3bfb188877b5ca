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

"""LUKS-encrypted volumes with their keys in Barbican.

Cinder orders each volume's key from Barbican; Nova reads it and has QEMU
decrypt the volume (its native LUKS driver over librbd). The test opens
the pool image the same way with the key it reads from Barbican, so the
guest's plaintext and the pool's ciphertext are both checked.
"""

import binascii

from cinder_ext.tests.e2e import base
from cinder_ext.tests.e2e import ceph
from cinder_ext.tests.e2e import images
from cinder_ext.tests.e2e import servers

# qemu-img's LUKS1 header for AES-256-XTS, in front of the volume's data.
HEADER_256 = 2068480


class EncryptionTest(images.ImageTestCase):

    def luks_type(self, key_size=256):
        vtype = self.create_type()
        self.bs.create_type_encryption(
            vtype, provider='luks', cipher='aes-xts-plain64',
            key_size=key_size, control_location='front-end')
        self.addCleanup(self.bs.delete_type_encryption,
                        volume_type=vtype.id)
        return vtype

    def passphrase(self, vol_id):
        """What Nova gives QEMU: the volume's Barbican key in hex."""
        key_id = self.bs.get_volume(vol_id).encryption_key_id
        self.assertTrue(key_id, 'volume %s has no encryption key' % vol_id)
        payload = base.cloud().key_manager.get(
            '/secrets/%s/payload' % key_id, raise_exc=True,
            headers={'Accept': 'application/octet-stream'}).content
        return binascii.hexlify(payload).decode('ascii')

    def test_encrypted_volume_on_a_server(self):
        vol = self.create_volume(size=1, volume_type=self.luks_type().id)
        name = self.image(vol.id)
        # The pool holds the size Cinder shows after the LUKS header.
        self.assertEqual(ceph.GiB + HEADER_256, ceph.size(name))
        self.assertEqual(b'LUKS\xba\xbe\x00\x01',
                         ceph.read_at(name, 0, 512)[:8])
        self.passphrases[vol.id] = self.passphrase(vol.id)

        server = self.create_server()
        disk = self.attach(server.id, vol.id)
        # The guest writes plaintext; through the key the pool has it, and
        # without the key only ciphertext is there.
        token = self.guest_write(server.id, vol.id, disk)
        self.assertEqual(self.pattern_sha(token),
                         self.pool_sha(vol.id, servers.DATA_OFFSET))
        raw = ceph.read_at(name, HEADER_256 + servers.DATA_OFFSET,
                           servers.DATA_LENGTH)
        self.assertNotEqual(self.pattern_sha(token), servers.sha256(raw))
        self.detach(server.id, vol.id, disk)
        self.wait_volume(vol.id, 'available')

    def test_clone_snapshot_and_extend_keep_the_data(self):
        """Copies get a copy of the key (Cinder) and the same LUKS bytes.

        Cinder attaches each encrypted clone in cinder-volume to try a
        rekey (os-brick's RBD connector), which RBD skips; the clone must
        survive that. Sizes stay what Cinder shows, grown or not.
        """
        vtype = self.luks_type()
        vol = self.create_volume(size=1, volume_type=vtype.id)
        vol = self.bs.get_volume(vol.id)
        self.passphrases[vol.id] = self.passphrase(vol.id)
        data = b'plaintext of an encrypted volume' * 128
        ceph.write_at(self.image(vol.id), servers.DATA_OFFSET, data,
                      self.passphrases[vol.id])
        snap = self.create_snapshot(vol.id)
        copies = [self.create_volume(size=2, volume_type=vtype.id,
                                     source_volid=vol.id),
                  self.create_volume(size=1, volume_type=vtype.id,
                                     snapshot_id=snap.id)]
        self.bs.extend_volume(vol.id, 3)
        self.wait_volume(vol.id, 'available', size=3)
        for copy, size in ((vol, 3), (copies[0], 2), (copies[1], 1)):
            key_id = self.bs.get_volume(copy.id).encryption_key_id
            self.assertEqual(size * ceph.GiB + HEADER_256,
                             ceph.size(self.image(copy.id)), copy.id)
            self.assertEqual(
                data, ceph.read_at(self.image(copy.id), servers.DATA_OFFSET,
                                   len(data), self.passphrase(copy.id)))
            if copy is not vol:
                self.assertNotEqual(vol.encryption_key_id, key_id)

    def test_boot_from_encrypted_volume_made_from_an_image(self):
        """The plain guest image, encrypted on its way into the volume."""
        image = self.find_image(servers.IMAGE)
        vol = self.create_volume(size=1, image_id=image.id,
                                 volume_type=self.luks_type().id)
        self.passphrases[vol.id] = self.passphrase(vol.id)
        self.assert_holds_guest(vol.id)
        size, digest = images.guest_disk()
        self.assertNotEqual(digest, servers.sha256(ceph.read_at(
            self.image(vol.id), HEADER_256, size)), 'not encrypted')
        self.boot_from_volume(vol.id)

    def test_upload_encrypted_volume_and_back(self):
        """Glance gets the LUKS container and a copy of the key."""
        vtype = self.luks_type()
        vol = self.create_volume(size=1, volume_type=vtype.id)
        data = b'uploaded plaintext' * 512
        ceph.write_at(self.image(vol.id), servers.DATA_OFFSET, data,
                      self.passphrase(vol.id))
        image = self.upload_volume(vol.id)
        self.assertTrue(image.properties.get('cinder_encryption_key_id'))
        # The container is the header plus 1 GiB, so Cinder asks for 2.
        back = self.create_volume(size=2, image_id=image.id,
                                  volume_type=vtype.id)
        self.assertEqual(2 * ceph.GiB + HEADER_256,
                         ceph.size(self.image(back.id)))
        self.assertEqual(data, ceph.read_at(
            self.image(back.id), servers.DATA_OFFSET, len(data),
            self.passphrase(back.id)))

    def test_retype_into_encryption_refused_nothing_lost(self):
        """A retype that adds encryption needs Cinder's generic copy.

        That copy opens LUKS on a host block device, which RBD volumes are
        not; the driver refuses its target before creating it, and the
        volume keeps its type, its data and no key.
        """
        vol = self.create_volume(size=1)
        data = b'still plaintext after the retype' * 128
        ceph.write_at(self.image(vol.id), servers.DATA_OFFSET, data)
        luks = self.luks_type()
        self.bs.retype_volume(vol.id, luks.id, migration_policy='on-demand')
        after = self._wait(
            'retype of volume %s' % vol.id,
            lambda: self.bs.get_volume(vol.id),
            lambda v: v.status == 'available' and v.migration_status in (
                'error', 'success'), ids=(vol.id,))
        self.assertEqual('error', after.migration_status)
        self.assertEqual(vol.volume_type, after.volume_type)
        self.assertFalse(after.encryption_key_id)
        self.assertEqual(data, ceph.read_at(
            self.image(vol.id), servers.DATA_OFFSET, len(data)))
        self.assertIn("Cinder's generic migration copies encrypted volumes",
                      base.log_tail(vol.id))
