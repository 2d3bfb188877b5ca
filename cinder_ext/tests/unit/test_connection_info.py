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

"""Attach information: monitor addresses and the connection info dict."""

import copy
from unittest import mock
import uuid

from cinder import context
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as base_driver
import ddt

from cinder_ext.ceph import connection
from cinder_ext.tests.unit import base
from cinder_ext.volume import connection_info


def mon(name, addrvec=None, addr=None):
    entry = {'name': name, 'rank': 0}
    if addrvec is not None:
        entry['public_addrs'] = {'addrvec': [
            {'type': t, 'addr': a, 'nonce': 0} for t, a in addrvec]}
    if addr is not None:
        entry['addr'] = addr
    return entry


V2V1 = mon('a', [('v2', '10.0.0.1:3300'), ('v1', '10.0.0.1:6789')],
           '10.0.0.1:6789/0')


@ddt.ddt
class MonAddressesTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(
        # addrvec with both messengers: v1 unless v2 is asked for.
        ([V2V1], 'v1', ['10.0.0.1'], ['6789']),
        ([V2V1], 'v2', ['10.0.0.1'], ['3300']),
        # A v2-only monitor is reported by the address it has.
        ([mon('a', [('v2', '10.0.0.2:3300')])], 'v1',
         ['10.0.0.2'], ['3300']),
        ([mon('a', [('v1', '10.0.0.2:6789')])], 'v2',
         ['10.0.0.2'], ['6789']),
        # Pre-Nautilus monmaps only have 'addr'.
        ([mon('a', addr='10.0.0.3:6789/0')], 'v1', ['10.0.0.3'], ['6789']),
        ([mon('a', addr='10.0.0.3:6789/0')], 'v2', ['10.0.0.3'], ['6789']),
        # IPv6 hosts lose their brackets, as in-tree.
        ([mon('a', addr='[::1]:6789/0')], 'v1', ['::1'], ['6789']),
        ([mon('a', [('v2', '[2001:db8::5]:3300'),
                    ('v1', '[2001:db8::5]:6789')])], 'v1',
         ['2001:db8::5'], ['6789']),
        # Several monitors, each once, in monmap order.
        ([V2V1,
          mon('b', [('v2', '10.0.0.4:3300'), ('v1', '10.0.0.4:6789')]),
          mon('c', addr='10.0.0.5:6790/0')], 'v1',
         ['10.0.0.1', '10.0.0.4', '10.0.0.5'], ['6789', '6789', '6790']),
        # A monitor without any address is skipped.
        ([mon('a'), V2V1], 'v1', ['10.0.0.1'], ['6789']),
        ([], 'v1', [], []),
    )
    def test_mon_addresses(self, mons, addr_type, hosts, ports):
        self.assertEqual(
            (hosts, ports),
            connection_info.mon_addresses({'mons': mons}, addr_type))

    def test_default_address_type_is_v1(self):
        self.assertEqual((['10.0.0.1'], ['6789']),
                         connection_info.mon_addresses({'mons': [V2V1]}))


class MonAddressCacheTestCase(base.TestCase):

    def _session(self):
        session = mock.Mock()
        session.mon_command.return_value = {'mons': [V2V1]}
        return session

    def test_ttl(self):
        now = [50.0]
        cache = connection_info.MonAddressCache(30, 'v1', clock=lambda: now[0])
        session = self._session()
        self.assertEqual((['10.0.0.1'], ['6789']), cache.get(session))
        now[0] += 29
        cache.get(session)
        session.mon_command.assert_called_once_with('mon dump')
        now[0] += 1
        cache.get(session)
        self.assertEqual(2, session.mon_command.call_count)

    def test_ttl_zero_reads_every_time(self):
        cache = connection_info.MonAddressCache(0, 'v2', clock=lambda: 7.0)
        session = self._session()
        self.assertEqual((['10.0.0.1'], ['3300']), cache.get(session))
        cache.get(session)
        self.assertEqual(2, session.mon_command.call_count)

    def test_invalidate(self):
        cache = connection_info.MonAddressCache(30, 'v1', clock=lambda: 1.0)
        session = self._session()
        cache.get(session)
        cache.invalidate()
        cache.get(session)
        self.assertEqual(2, session.mon_command.call_count)


class BuildTestCase(base.TestCase):

    def setUp(self):
        super(BuildTestCase, self).setUp()
        self.ctx = context.get_admin_context()
        self.volume = fake_volume.fake_volume_obj(self.ctx,
                                                  id=str(uuid.uuid4()))
        self.spec = connection.ClusterSpec(cluster_name='ceph',
                                           conf_file='/etc/ceph/ceph.conf',
                                           user='cinder')

    def test_fields(self):
        info = connection_info.build(self.volume, 'volumes', ['h1', 'h2'],
                                     ['6789', '6789'], self.spec, 'uuid-1')
        self.assertEqual({
            'driver_volume_type': 'rbd',
            'data': {
                'name': 'volumes/%s' % self.volume.name,
                'hosts': ['h1', 'h2'],
                'ports': ['6789', '6789'],
                'cluster_name': 'ceph',
                'auth_enabled': True,
                'auth_username': 'cinder',
                'secret_type': 'ceph',
                'secret_uuid': 'uuid-1',
                'volume_id': self.volume.id,
                'discard': True,
            }}, info)

    def test_no_user_means_no_auth(self):
        spec = connection.ClusterSpec(user=None)
        data = connection_info.build(self.volume, 'p', [], [], spec,
                                     None)['data']
        self.assertIs(False, data['auth_enabled'])
        self.assertIsNone(data['auth_username'])

    def test_keyring_only_when_given(self):
        args = (self.volume, 'volumes', ['h'], ['6789'], self.spec, 'u')
        self.assertNotIn('keyring',
                         connection_info.build(*args)['data'])
        self.assertNotIn('keyring',
                         connection_info.build(*args, keyring='')['data'])
        self.assertEqual('[client.cinder]\n\tkey = S3CR3T\n',
                         connection_info.build(
                             *args, keyring='[client.cinder]\n\tkey = '
                                            'S3CR3T\n')['data']['keyring'])

    def test_same_as_intree_driver(self):
        from cinder.volume.drivers import rbd as intree
        conf = configuration.Configuration(base_driver.volume_opts,
                                           config_group='intree_compare')
        # The in-tree driver copies rbd_pool when it is constructed.
        conf.append_config_values(intree.RBD_OPTS)
        self.config.config(group='intree_compare', rbd_pool='volumes')
        drv = intree.RBDDriver(configuration=conf)
        drv._active_config = {'name': 'ceph', 'conf': '/etc/ceph/ceph.conf',
                              'user': 'cinder', 'secret_uuid': 'uuid-1'}
        for keyring in (None, 'KEYRING-DATA'):
            drv.keyring_data = keyring
            with mock.patch.object(drv, '_get_mon_addrs',
                                   return_value=(['h1', 'h2'],
                                                 ['6789', '3300'])):
                theirs = drv.initialize_connection(self.volume, {})
            ours = connection_info.build(
                self.volume, 'volumes', ['h1', 'h2'], ['6789', '3300'],
                self.spec, 'uuid-1', keyring=keyring)
            self.assertEqual(theirs, ours)


class LoggableTestCase(base.TestCase):

    def test_masks_keyring_without_touching_the_original(self):
        info = {'driver_volume_type': 'rbd',
                'data': {'name': 'p/v', 'keyring': 'S3CR3T-KEY'}}
        original = copy.deepcopy(info)
        safe = connection_info.loggable(info)
        self.assertEqual('***', safe['data']['keyring'])
        self.assertNotIn('S3CR3T-KEY', str(safe))
        self.assertEqual('p/v', safe['data']['name'])
        self.assertEqual('rbd', safe['driver_volume_type'])
        self.assertEqual(original, info)

    def test_without_keyring_unchanged(self):
        info = {'driver_volume_type': 'rbd', 'data': {'name': 'p/v'}}
        self.assertEqual(info, connection_info.loggable(info))
