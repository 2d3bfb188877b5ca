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

"""LUKS-encrypted volumes on the real cluster.

The key comes from Cinder's ConfKeyManager (one fixed key: real code, no
key service needed); the volume type's encryption spec, which Cinder reads
from its database, is given directly. The headers are checked with
cryptsetup, the tool os-brick and dm-crypt use.
"""

import os
import subprocess
import tempfile
from unittest import mock

from cinder import exception
from cinder.volume import volume_utils
import ddt
from oslo_config import cfg
from oslo_utils import units

from cinder_ext.tests.functional import base
from cinder_ext.tests.functional import test_image_transfer

# ConfKeyManager's one key, and the passphrase Nova derives from it.
FIXED_KEY = '00112233445566778899aabbccddeeff' * 2
FIXED_KEY_ID = '00000000-0000-0000-0000-000000000000'
# qemu-img's LUKS1 header for AES-256-XTS (4040 sectors).
HEADER_256 = 2068480


def _encryption(cipher='aes-xts-plain64', key_size=256):
    return {'provider': 'luks', 'cipher': cipher, 'key_size': key_size,
            'control_location': 'front-end',
            'encryption_key_id': FIXED_KEY_ID}


@ddt.ddt
class TestEncryptedVolumes(base.DriverTestCase):

    def setUp(self):
        super(TestEncryptedVolumes, self).setUp()
        from cinder.keymgr import conf_key_mgr  # noqa: F401 (its options)
        for key, value in (
                ('backend', 'cinder.keymgr.conf_key_mgr.ConfKeyManager'),
                ('fixed_key', FIXED_KEY)):
            cfg.CONF.set_override(key, value, group='key_manager')
            self.addCleanup(cfg.CONF.clear_override, key,
                            group='key_manager')
        self.spec = _encryption()
        patcher = mock.patch.object(volume_utils, 'check_encryption_provider',
                                    side_effect=lambda v, c: dict(self.spec))
        patcher.start()
        self.addCleanup(patcher.stop)
        self.driver = self.make_driver(group='luks')

    def encrypted_volume(self, size=1):
        return self.volume(size=size, encryption_key_id=FIXED_KEY_ID)

    def luks_dump(self, name):
        """cryptsetup's view of the image's header.

        Only after the passphrase Nova would use opens it.
        """
        with tempfile.TemporaryDirectory() as tmp:
            header = os.path.join(tmp, 'header')
            key = os.path.join(tmp, 'key')
            with open(header, 'wb') as f:
                f.write(self.read(name, 4 * units.Mi))
            with open(key, 'w') as f:
                f.write(FIXED_KEY)
            subprocess.check_call(['cryptsetup', 'luksOpen',
                                   '--test-passphrase', '--key-file', key,
                                   header])
            dump = subprocess.check_output(['cryptsetup', 'luksDump',
                                            header], text=True)
        fields = {}
        for line in dump.splitlines():
            name_, sep, value = line.partition(':')
            if sep and not line.startswith((' ', '\t')):
                fields.setdefault(name_.strip(), value.strip())
        return fields

    @ddt.data((256, 'aes', 'xts-plain64', 512),
              (512, 'aes', 'xts-plain64', 512),
              (128, 'aes', 'xts-plain64', 256))
    @ddt.unpack
    def test_create_writes_a_luks1_header_nova_can_open(self, key_size,
                                                        cipher, mode, mk):
        self.spec = _encryption(key_size=key_size)
        vol = self.encrypted_volume()
        self.driver.create_volume(vol)
        dump = self.luks_dump(vol.name)
        self.assertEqual(('1', cipher, mode, str(mk)),
                         (dump['Version'], dump['Cipher name'],
                          dump['Cipher mode'], dump['MK bits']))
        payload = int(dump['Payload offset']) * 512
        # The guest sees exactly the size Cinder shows.
        self.assertEqual(units.Gi + payload, self.image_size(vol.name))
        # Thin: only the header was written.
        with self.open_image(vol.name) as image:
            written = []
            image.diff_iterate(0, image.size(), None,
                               lambda off, length, exists:
                               written.append(length) if exists else None)
        self.assertLessEqual(sum(written), 4 * units.Mi)
        self.driver.delete_volume(vol)

    def test_extend_keeps_the_size_cinder_shows(self):
        vol = self.encrypted_volume()
        self.driver.create_volume(vol)
        self.driver.extend_volume(vol, 3)
        self.assertEqual(3 * units.Gi + HEADER_256,
                         self.image_size(vol.name))
        self.assertEqual('1', self.luks_dump(vol.name)['Version'])
        self.driver.delete_volume(vol)

    def test_clone_and_volume_from_snapshot_keep_header_and_key(self):
        src = self.encrypted_volume()
        self.driver.create_volume(src)
        self.write_pattern(src.name, b'ciphertext' * 100, HEADER_256)
        snap = self.snapshot(src)
        self.driver.create_snapshot(snap)
        made = []
        for size, create, source in (
                (1, self.driver.create_cloned_volume, src),
                (2, self.driver.create_cloned_volume, src),
                (1, self.driver.create_volume_from_snapshot, snap),
                (3, self.driver.create_volume_from_snapshot, snap)):
            vol = self.encrypted_volume(size)
            create(vol, source)
            made.append(vol)
            self.assertEqual(size * units.Gi + HEADER_256,
                             self.image_size(vol.name), vol.name)
            self.assertEqual(self.read(src.name, HEADER_256 + 1000),
                             self.read(vol.name, HEADER_256 + 1000))
            self.luks_dump(vol.name)
        for vol in made:
            self.driver.delete_volume(vol)
        self.driver.delete_snapshot(snap)
        self.driver.delete_volume(src)

    @ddt.data(('cipher', 'aes-ecb-plain64', 256),
              ('cipher', 'serpent-xts-plain64', 256),
              ('cipher', 'aes-xts', 256),
              ('cipher', 'aes-cbc-essiv', 256),
              ('key_size', 'aes-xts-plain64', 384),
              ('key_size', 'aes-xts-plain64', None))
    @ddt.unpack
    def test_unsupported_spec_refused_before_anything_exists(self, key,
                                                             cipher,
                                                             key_size):
        self.spec = _encryption(cipher=cipher, key_size=key_size)
        vol = self.encrypted_volume()
        error = self.assertRaises(exception.VolumeDriverException,
                                  self.driver.create_volume, vol)
        self.assertIn('encryption %s=%r' % (key, self.spec[key]),
                      str(error))
        self.assertIn('nothing was created', str(error))
        self.assertNotIn(vol.name, self.image_names())

    def plaintext(self, name, length):
        """What a guest reads: QEMU's LUKS driver over librbd, as admin."""
        with tempfile.TemporaryDirectory() as tmp:
            key, out = os.path.join(tmp, 'key'), os.path.join(tmp, 'out')
            with open(key, 'w') as f:
                f.write(FIXED_KEY)
            subprocess.check_call([
                'qemu-img', 'dd', '--object', 'secret,id=s,file=' + key,
                '--image-opts', '-O', 'raw', 'bs=1M',
                'count=%d' % (length // units.Mi),
                'if=driver=luks,key-secret=s,file.driver=rbd,file.pool=%s,'
                'file.image=%s,file.conf=%s,file.user=admin'
                % (base.POOL, name, base.CEPH_CONF), 'of=' + out])
            with open(out, 'rb') as f:
                return f.read()

    def test_plain_image_into_encrypted_volume(self):
        test_image_transfer.run_image_tools_locally(self)
        glance = test_image_transfer.DictImageService()
        payload = os.urandom(units.Mi) + bytes(2 * units.Mi) + b'end' * 1024
        payload += bytes(-len(payload) % units.Mi)
        glance.add('plain', payload)
        vol = self.encrypted_volume()
        self.driver.create_volume(vol)
        self.driver.copy_image_to_encrypted_volume(self.ctx, vol, glance,
                                                   'plain')
        self.assertEqual(payload, self.plaintext(vol.name, len(payload)))
        # Ciphertext in the pool, after the header.
        self.assertNotEqual(payload[:units.Mi],
                            self.read(vol.name, units.Mi, HEADER_256))
        self.assertEqual(units.Gi + HEADER_256, self.image_size(vol.name))
        self.driver.delete_volume(vol)

    def test_reimage_leaves_nothing_of_the_old_data(self):
        """disable_sparse (Cinder's reimage): past the image, zeros."""
        test_image_transfer.run_image_tools_locally(self)
        glance = test_image_transfer.DictImageService()
        payload = os.urandom(units.Mi)
        glance.add('small', payload)
        vol = self.encrypted_volume()
        self.driver.create_volume(vol)
        old = HEADER_256 + 5 * units.Mi
        self.write_pattern(vol.name, b'old data' * 512, old)
        self.driver.copy_image_to_encrypted_volume(
            self.ctx, vol, glance, 'small', disable_sparse=True)
        self.assertEqual(payload, self.plaintext(vol.name, units.Mi))
        self.assertEqual(bytes(4096), self.read(vol.name, 4096, old))
        self.luks_dump(vol.name)
        self.driver.delete_volume(vol)

    def test_encrypted_image_into_encrypted_volume(self):
        """An uploaded encrypted volume comes back with its header."""
        test_image_transfer.run_image_tools_locally(self)
        glance = test_image_transfer.DictImageService()
        src = self.encrypted_volume()
        self.driver.create_volume(src)
        data = os.urandom(units.Mi)
        self.write_pattern(src.name, data, HEADER_256)
        glance.add('luks', self.read(src.name, self.image_size(src.name)))
        vol = self.encrypted_volume(size=2)
        self.driver.create_volume(vol)
        self.driver.copy_image_to_volume(self.ctx, vol, glance, 'luks')
        self.assertEqual(self.read(src.name, HEADER_256 + units.Mi),
                         self.read(vol.name, HEADER_256 + units.Mi))
        self.assertEqual(self.plaintext(src.name, 2 * units.Mi),
                         self.plaintext(vol.name, 2 * units.Mi))
        self.assertEqual(2 * units.Gi + HEADER_256, self.image_size(vol.name))
        for volume in (vol, src):
            self.driver.delete_volume(volume)
