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

"""Configuration and request checks: errors that name the culprit."""

import types
import uuid

from cinder import exception
import ddt

from cinder_ext.tests.unit import base
from cinder_ext.volume import options
from cinder_ext.volume import validation


def make_conf(**overrides):
    values = {opt.dest: opt.default for opt in options.all_opts()}
    values.update(overrides)
    return types.SimpleNamespace(**values)


def volume(size=1, name=None):
    if name is None:
        name = 'volume-%s' % uuid.uuid4()
    return types.SimpleNamespace(size=size, name=name)


@ddt.ddt
class CheckConfigurationTestCase(base.TestCase):

    def test_defaults_are_valid(self):
        validation.check_configuration(make_conf())

    def test_existing_conf_file_is_valid(self):
        validation.check_configuration(
            make_conf(rbd_ceph_conf=self.temp_file('[global]\n')))

    @ddt.unpack
    @ddt.data(
        ('rbd_pool', ''),
        ('rbd_pool', None),
        ('rbd_cluster_name', ''),
        ('rbd_store_chunk_size', 3),
        ('rbd_store_chunk_size', 0),
        ('rbd_store_chunk_size', 64),
        ('rbd_ceph_conf', '/nonexistent/ceph-test/ceph.conf'),
        ('rbd_user', 'client.cinder'),
        ('deferred_deletion_delay', -1),
        ('deferred_deletion_purge_interval', 0),
        ('deferred_deletion_purge_interval', -5),
        ('rbd_stats_max_age', -1),
    )
    def test_bad_value_named(self, option, value):
        error = self.assertRaises(
            exception.InvalidConfigurationValue,
            validation.check_configuration, make_conf(**{option: value}))
        message = str(error)
        self.assertIn(option, message)
        self.assertIn(str(value), message)

    @ddt.data(1, 2, 4, 8, 16, 32)
    def test_chunk_sizes_accepted(self, size):
        validation.check_configuration(make_conf(rbd_store_chunk_size=size))

    def test_rbd_user_hint(self):
        error = self.assertRaises(
            exception.InvalidConfigurationValue,
            validation.check_configuration,
            make_conf(rbd_user='client.cinder'))
        self.assertIn('e.g. cinder', str(error))


class KeyringTestCase(base.TestCase):

    def test_not_set(self):
        conf = make_conf()
        self.assertIsNone(validation.read_keyring(conf))
        validation.check_keyring(conf)

    def test_read(self):
        conf = make_conf()
        conf.rbd_keyring_conf = self.temp_file('[client.cinder]\nkey = K\n')
        self.assertEqual('[client.cinder]\nkey = K\n',
                         validation.read_keyring(conf))
        validation.check_keyring(conf)

    def test_unreadable_named(self):
        conf = make_conf()
        conf.rbd_keyring_conf = '/nonexistent/ceph-test/keyring'
        self.assertIsNone(validation.read_keyring(conf))
        error = self.assertRaises(exception.InvalidConfigurationValue,
                                  validation.check_keyring, conf)
        self.assertIn('rbd_keyring_conf', str(error))
        self.assertIn('/nonexistent/ceph-test/keyring', str(error))


@ddt.ddt
class RequestTestCase(base.TestCase):

    @ddt.data(1, 2, 1024)
    def test_good_volume(self, size):
        validation.check_new_volume(volume(size))

    @ddt.data(0, -1, '1', 1.5, None)
    def test_bad_size(self, size):
        error = self.assertRaises(exception.InvalidInput,
                                  validation.check_new_volume, volume(size))
        self.assertIn(repr(size), str(error))

    @ddt.data('pool/volume-1', 'volume-1@snap', 'volume 1', 'volume-1\n',
              'volume\t1', 'volume:1', '')
    def test_bad_name(self, name):
        self.assertRaises(exception.InvalidInput,
                          validation.check_new_volume, volume(1, name=name))

    def test_source_name(self):
        self.assertEqual('legacy-image', validation.source_name(
            {'source-name': 'legacy-image'}))

    @ddt.data(None, {}, {'source-id': 'abc'}, {'source-name': ''})
    def test_source_name_missing(self, ref):
        self.assertRaises(exception.ManageExistingInvalidReference,
                          validation.source_name, ref)

    @ddt.data('pool/image', 'image@snap', 'my image')
    def test_source_name_invalid(self, name):
        self.assertRaises(exception.InvalidInput, validation.source_name,
                          {'source-name': name})


class _Conf(types.SimpleNamespace):
    def safe_get(self, key):
        return getattr(self, key, None)


@ddt.ddt
class UnsupportedFeaturesTestCase(base.TestCase):
    """Replication and encryption are refused until they exist."""

    @ddt.data(None, '', 'default')
    def test_primary_backend_starts(self, active_backend_id):
        validation.check_no_replication(_Conf(), active_backend_id)

    def test_replication_device_named_without_its_values(self):
        conf = _Conf(replication_device=[{'backend_id': 'dr',
                                          'conf': '/etc/ceph/dr.conf',
                                          'secret_uuid': 'SECRET'}])
        error = self.assertRaises(exception.InvalidConfigurationValue,
                                  validation.check_no_replication, conf,
                                  None)
        self.assertIn('replication_device', str(error))
        self.assertNotIn('SECRET', str(error))

    def test_failed_over_backend_refused(self):
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  validation.check_no_replication, _Conf(),
                                  'dr')
        self.assertIn('active_backend_id=dr', str(error))

    def test_encrypted_refused_naming_the_operation(self):
        volume = types.SimpleNamespace(id='v1', encryption_key_id='key')
        error = self.assertRaises(exception.VolumeDriverException,
                                  validation.check_not_encrypted, volume,
                                  'copy an image to')
        self.assertIn('volume v1 is encrypted', str(error))
        self.assertIn('cannot copy an image to an encrypted volume',
                      str(error))

    def test_plain_volume_passes(self):
        plain = types.SimpleNamespace(id='v', encryption_key_id=None)
        validation.check_not_encrypted(plain, 'copy an image to')
