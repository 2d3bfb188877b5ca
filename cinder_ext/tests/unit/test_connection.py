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

"""Pooled, deadline-bound cluster connections, against fake bindings."""

import contextlib

import ddt
import fixtures

from cinder_ext.ceph import bindings
from cinder_ext.ceph import connection
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph


@ddt.ddt
class ClusterClientTestCase(base.TestCase):

    def setUp(self):
        super(ClusterClientTestCase, self).setUp()
        self.cluster = self.use_fake_ceph(pools=('volumes', 'images'))
        self.conf_file = self.temp_file('[global]\n', 'ceph.conf')
        self.sleeps = self.useFixture(fixtures.MockPatchObject(
            connection.time, 'sleep')).mock

    def client(self, attempts=1, interval=0, **spec):
        spec.setdefault('conf_file', self.conf_file)
        spec.setdefault('user', 'cinder')
        client = connection.ClusterClient(connection.ClusterSpec(**spec),
                                          attempts, interval)
        self.addCleanup(client.close)
        return client

    def test_one_connection_for_many_sessions(self):
        client = self.client()
        for _ in range(5):
            with client.session() as session:
                session.ioctx('volumes')
                session.mon_command('df')
        self.assertEqual(1, client.connects)
        self.assertEqual(1, len(self.cluster.handles))
        handle = self.cluster.handles[0]
        self.assertEqual(0, handle.shutdown_calls)
        self.assertEqual('cinder', handle.rados_id)
        self.assertEqual('ceph', handle.clustername)
        self.assertEqual(self.conf_file, handle.conffile)

    def test_ioctx_cached_per_pool(self):
        client = self.client()
        with client.session() as session:
            first = session.ioctx('volumes')
        with client.session() as session:
            self.assertIs(first, session.ioctx('volumes'))
            other = session.ioctx('images')
        self.assertIsNot(first, other)
        self.assertEqual(['volumes', 'images'],
                         [i.pool_name for i in self.cluster.handles[0].ioctxs])

    def test_conf_overrides_before_connect(self):
        keyring = self.temp_file('[client.cinder]\n', 'keyring')
        client = self.client(timeout=17, keyring_file=keyring)
        with client.session():
            pass
        handle = self.cluster.handles[0]
        self.assertEqual(17, handle.connect_timeout)
        for option in ('client_mount_timeout', 'rados_mon_op_timeout',
                       'rados_osd_op_timeout'):
            self.assertEqual('17', handle.conf_at_connect[option], option)
        self.assertEqual(keyring, handle.conf_at_connect['keyring'])

    def test_default_timeout_and_keyring(self):
        client = self.client()
        with client.session():
            pass
        conf = self.cluster.handles[0].conf_at_connect
        self.assertEqual(str(connection.DEFAULT_TIMEOUT),
                         conf['client_mount_timeout'])
        self.assertNotIn('keyring', conf)

    def test_default_conf_file_reads_librados_search_path(self):
        # rbd_ceph_conf='' (the default) must behave like the in-tree
        # driver's Rados(conffile=''): read /etc/ceph/$cluster.conf and the
        # rest of librados' default search path. conffile=None reads no
        # file at all, so librados has no monitor address to connect to.
        client = self.client(conf_file='')
        with client.session() as session:
            session.ioctx('volumes')
        self.assertEqual('default search path',
                         self.cluster.handles[0].conf_read)

    def test_missing_conf_file_named(self):
        client = self.client(conf_file='/nonexistent/ceph-test.conf')
        error = self.assertRaises(connection.CephConnectionError,
                                  client.session().__enter__)
        self.assertIn('/nonexistent/ceph-test.conf', str(error))
        self.assertEqual([], self.cluster.handles)

    def test_bindings_missing(self):
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_ext.ceph.bindings.rados', None))
        error = self.assertRaises(connection.CephConnectionError,
                                  self.client().session().__enter__)
        self.assertIn('python3-rados', str(error))

    def test_connect_retries_then_succeeds(self):
        self.cluster.connect_errors = [
            fake_ceph.rados_error('TimedOut', 'error connecting'),
            fake_ceph.rados_error('TimedOut', 'error connecting')]
        client = self.client(attempts=3, interval=4)
        with client.session() as session:
            session.ioctx('volumes')
        self.assertEqual(1, client.connects)
        handles = self.cluster.handles
        self.assertEqual(3, len(handles))
        # Failed handles are shut down, the good one is kept.
        self.assertEqual([1, 1, 0], [h.shutdown_calls for h in handles])
        self.assertEqual(2, self.sleeps.call_count)
        self.sleeps.assert_called_with(4)

    @ddt.unpack
    @ddt.data(
        ('TimedOut', ['within 30 s', 'monitors']),
        ('PermissionError', ['authentication', 'client.cinder',
                             'keyring']),
        # cephx rejecting the key: librados returns EACCES.
        ('PermissionDeniedError', ['authentication', 'client.cinder',
                                   'keyring']),
        # No keyring found for the user: ENOENT.
        ('ObjectNotFound', ['authentication', 'client.cinder']),
        ('IOError', ["'ceph'", 'client.cinder']),
    )
    def test_connect_gives_up_with_explanation(self, error, words):
        self.cluster.connect_errors = [
            fake_ceph.rados_error(error, 'error connecting to the cluster')
            for _ in range(3)]
        client = self.client(attempts=3)
        raised = self.assertRaises(connection.CephConnectionError,
                                   client.session().__enter__)
        for word in words:
            self.assertIn(word, str(raised))
        self.assertEqual(3, len(self.cluster.handles))
        self.assertTrue(all(h.shutdown_calls for h in self.cluster.handles))
        self.assertEqual(0, client.connects)

    def test_connect_attempts_at_least_one(self):
        self.cluster.connect_errors = [fake_ceph.rados_error('TimedOut')]
        client = self.client(attempts=0)
        self.assertRaises(connection.CephConnectionError,
                          client.session().__enter__)
        self.assertEqual(1, len(self.cluster.handles))

    def _retire_on(self, error):
        client = self.client()
        outer = contextlib.ExitStack()
        self.addCleanup(outer.close)
        old = outer.enter_context(client.session())
        old.ioctx('volumes')
        self.assertRaises(type(error), _raise_in_session, client, error)
        old_handle = old.handle
        # Still leased by ``outer``: not shut down under its feet.
        self.assertEqual(0, old_handle.shutdown_calls)
        with client.session() as session:
            self.assertIsNot(old, session)
            self.assertIsNot(old_handle, session.handle)
            session.ioctx('volumes')
        self.assertEqual(2, client.connects)
        self.assertEqual(0, old_handle.shutdown_calls)
        outer.close()
        self.assertEqual(1, old_handle.shutdown_calls)
        self.assertTrue(all(i.closed for i in old_handle.ioctxs))
        self.assertEqual(0, self.cluster.handles[-1].shutdown_calls)

    @ddt.data(('rados', 'ConnectionShutdown'), ('rados', 'TimedOut'),
              ('rados', 'RadosStateError'), ('rados', 'IoctxStateError'),
              # Most calls go through librbd, which raises its own classes
              # for a dead connection (ESHUTDOWN) or a timed out op.
              ('rbd', 'ConnectionShutdown'), ('rbd', 'Timeout'))
    @ddt.unpack
    def test_retire_on_dead_connection(self, module, name):
        self._retire_on(_error(module, name, 'connection is gone'))

    def test_retire_when_unused_closes_at_once(self):
        client = self.client()
        self.assertRaises(
            fake_ceph.RADOS_ERRORS['ConnectionShutdown'],
            _raise_in_session, client,
            fake_ceph.rados_error('ConnectionShutdown'))
        self.assertEqual(1, self.cluster.handles[0].shutdown_calls)

    @ddt.data(('rbd', 'ImageNotFound'), ('rbd', 'ImageBusy'),
              ('rados', 'ObjectNotFound'))
    @ddt.unpack
    def test_other_errors_keep_connection(self, module, name):
        client = self.client()
        error = _error(module, name, 'nope')
        self.assertRaises(type(error), _raise_in_session, client, error)
        with client.session():
            pass
        self.assertEqual(1, client.connects)
        self.assertEqual(0, self.cluster.handles[0].shutdown_calls)

    def test_mon_command(self):
        client = self.client()
        with client.session() as session:
            answer = session.mon_command('osd pool get-quota',
                                         pool='volumes')
        self.assertEqual('volumes', answer['pool_name'])
        self.assertEqual({'prefix': 'osd pool get-quota', 'pool': 'volumes',
                          'format': 'json'}, self.cluster.mon_commands[-1])

    def test_mon_command_error_raises(self):
        self.cluster.mon_errors['df'] = (-13, 'access denied')
        client = self.client()
        with client.session() as session:
            error = self.assertRaises(bindings.RadosError,
                                      session.mon_command, 'df')
        self.assertIn('df', str(error))
        self.assertIn('-13', str(error))
        self.assertIn('access denied', str(error))

    def test_fsid_cached(self):
        client = self.client()
        self.assertEqual(self.cluster.fsid, client.fsid())
        self.assertEqual(self.cluster.fsid, client.fsid())
        self.assertEqual(1, self.cluster.handles[0].fsid_calls)

    def test_close(self):
        client = self.client()
        with client.session() as session:
            session.ioctx('volumes')
        client.close()
        handle = self.cluster.handles[0]
        self.assertEqual(1, handle.shutdown_calls)
        self.assertTrue(handle.ioctxs[0].closed)
        with client.session():
            pass
        self.assertEqual(2, client.connects)


class RegistryTestCase(base.TestCase):

    def setUp(self):
        super(RegistryTestCase, self).setUp()
        self.cluster = self.use_fake_ceph()
        self.conf_file = self.temp_file('[global]\n', 'ceph.conf')

    def test_get_client_shared_per_spec(self):
        spec = connection.ClusterSpec(conf_file=self.conf_file, user='a')
        same = connection.ClusterSpec(conf_file=self.conf_file, user='a')
        other = connection.ClusterSpec(conf_file=self.conf_file, user='b')
        client = connection.get_client(spec)
        self.assertIs(client, connection.get_client(same))
        self.assertIsNot(client, connection.get_client(other))

    def test_close_all(self):
        spec = connection.ClusterSpec(conf_file=self.conf_file)
        client = connection.get_client(spec)
        with client.session():
            pass
        connection.close_all()
        self.assertEqual(1, self.cluster.handles[0].shutdown_calls)
        self.assertIsNot(client, connection.get_client(spec))


def _error(module, name, message):
    table = {'rados': fake_ceph.RADOS_ERRORS, 'rbd': fake_ceph.RBD_ERRORS}
    return table[module][name](message)


def _raise_in_session(client, error):
    with client.session():
        raise error
