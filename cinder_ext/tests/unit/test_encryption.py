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

"""The encryption spec, the key and the LUKS header (qemu-img, no Ceph)."""

import subprocess
import tempfile
import types
from unittest import mock

from cinder import exception
import ddt
import testtools

from cinder_ext.volume import encryption

PASSPHRASE = 'ab' * 32


def _volume(key_id='key-1'):
    return types.SimpleNamespace(id='vol-1', volume_type_id='type-1',
                                 encryption_key_id=key_id,
                                 obj_context=mock.sentinel.context)


@ddt.ddt
class TestLuksSpec(testtools.TestCase):

    @ddt.data(('aes-xts-plain64', 256, 'aes-256', 'xts', 'plain64', ''),
              ('aes-xts-plain64', 512, 'aes-256', 'xts', 'plain64', ''),
              ('aes-xts-plain64', 128, 'aes-128', 'xts', 'plain64', ''),
              ('aes-cbc-essiv:sha256', '192', 'aes-192', 'cbc', 'essiv',
               'sha256'))
    @ddt.unpack
    def test_accepted(self, cipher, key_size, alg, mode, ivgen, ivhash):
        spec = encryption.luks_spec(_volume(), {'cipher': cipher,
                                                'key_size': key_size})
        self.assertEqual((alg, mode, ivgen, ivhash),
                         (spec.cipher_alg, spec.cipher_mode, spec.ivgen_alg,
                          spec.ivgen_hash_alg))

    @ddt.data(('cipher', None, 256), ('cipher', 'aes', 256),
              ('cipher', 'twofish-xts-plain64', 256),
              ('cipher', 'aes-ctr-plain64', 256),
              ('cipher', 'aes-xts-essiv', 256),
              ('cipher', 'aes-xts-plain64:sha256', 256),
              ('key_size', 'aes-xts-plain64', 1024),
              ('key_size', 'aes-xts-plain64', 'big'),
              ('key_size', 'aes-xts-plain64', None))
    @ddt.unpack
    def test_refused_naming_key_and_value(self, key, cipher, key_size):
        spec = {'cipher': cipher, 'key_size': key_size}
        error = self.assertRaises(exception.VolumeDriverException,
                                  encryption.luks_spec, _volume(), spec)
        self.assertIn('encryption %s=%r' % (key, spec[key]), str(error))
        self.assertIn('type-1', str(error))


class TestKeyAndHeader(testtools.TestCase):

    @mock.patch.object(encryption.key_manager, 'API')
    def test_passphrase_is_the_key_in_hex(self, api):
        api.return_value.get.return_value.get_encoded.return_value = (
            b'\x01\xab')
        self.assertEqual('01ab', encryption.passphrase(_volume()))
        api.return_value.get.assert_called_once_with(mock.sentinel.context,
                                                     'key-1')

    @mock.patch.object(encryption.key_manager, 'API')
    def test_key_manager_failure_is_a_clear_error(self, api):
        api.return_value.get.side_effect = RuntimeError('secret-ish detail')
        error = self.assertRaises(exception.VolumeDriverException,
                                  encryption.passphrase, _volume())
        self.assertIn('key key-1', str(error))
        self.assertIn('RuntimeError', str(error))
        self.assertNotIn('secret-ish', str(error))

    def test_plain_volume_has_no_header(self):
        self.assertIsNone(encryption.new_volume_header(_volume(None), 10))

    def test_header_opens_with_the_passphrase(self):
        spec = encryption.LuksSpec('aes-256', 'xts', 'plain64')
        with mock.patch.object(encryption.processutils, 'execute',
                               wraps=encryption.processutils.execute) as ex:
            header = encryption.luks_header(spec, PASSPHRASE, 10)
        self.assertNotIn(PASSPHRASE, repr(ex.call_args))
        self.assertEqual(2068480, len(header))
        with tempfile.NamedTemporaryFile() as f:
            f.write(header)
            f.flush()
            check = subprocess.run(
                ['qemu-img', 'info', '--object',
                 'secret,id=s,data=%s' % PASSPHRASE, '--image-opts',
                 'driver=luks,key-secret=s,file.filename=%s' % f.name],
                capture_output=True, text=True)
        self.assertEqual(0, check.returncode, check.stderr)
        self.assertIn('virtual size: 0 B', check.stdout)

    def test_qemu_img_failure_is_a_clear_error(self):
        spec = encryption.LuksSpec('aes-512', 'xts', 'plain64')
        error = self.assertRaises(exception.VolumeDriverException,
                                  encryption.luks_header, spec, PASSPHRASE,
                                  10)
        self.assertIn('cipher-alg=aes-512', str(error))


@ddt.ddt
class TestGenericMigration(testtools.TestCase):

    def _target(self, key_id, status='target:src-1'):
        volume = _volume(key_id)
        volume.migration_status = status
        return volume

    @ddt.data((None, None), ('key-1', None), (None, 'migrating'),
              ('key-1', 'migrating'))
    @ddt.unpack
    def test_not_a_target_passes(self, key_id, status):
        encryption.check_generic_migration(self._target(key_id, status))

    @mock.patch.object(encryption.objects.Volume, 'get_by_id')
    def test_plain_to_plain_passes(self, get_by_id):
        get_by_id.return_value = types.SimpleNamespace(encryption_key_id=None)
        encryption.check_generic_migration(self._target(None))
        get_by_id.assert_called_once_with(mock.sentinel.context, 'src-1')

    @ddt.data(('new-key', None), ('key-1', 'key-1'), (None, 'key-1'))
    @ddt.unpack
    def test_encrypted_on_either_side_refused(self, target_key, source_key):
        with mock.patch.object(encryption.objects.Volume, 'get_by_id',
                               return_value=types.SimpleNamespace(
                                   encryption_key_id=source_key)):
            error = self.assertRaises(exception.VolumeDriverException,
                                      encryption.check_generic_migration,
                                      self._target(target_key))
        self.assertIn('volume src-1', str(error))
        self.assertIn('Nothing was created', str(error))
