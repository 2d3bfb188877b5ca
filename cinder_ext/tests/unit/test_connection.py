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
import threading
import time

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
        # python-rados ignores connect(timeout=): the deadline must come
        # from the configuration, so nothing is passed there.
        self.assertEqual(0, handle.connect_timeout)
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
        # (30 s - 2 pauses of 4 s) / 3 attempts
        self.assertEqual(['7'] * 3, [h.conf_at_connect['client_mount_timeout']
                                     for h in handles])
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

    @ddt.data(('rados', 'ConnectionShutdown'),
              ('rados', 'RadosStateError'), ('rados', 'IoctxStateError'),
              # Most calls go through librbd, which raises its own class
              # for a dead (shut down or blocklisted) connection.
              ('rbd', 'ConnectionShutdown'))
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
              ('rados', 'ObjectNotFound'),
              # An operation that timed out (an OSD restarting, a monitor
              # election) leaves a handle that recovers by itself.
              ('rados', 'TimedOut'), ('rbd', 'Timeout'))
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


class _Clock(object):
    """Monotonic time that only moves when told (or on a mocked sleep)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@ddt.ddt
class DeadlineTestCase(base.TestCase):
    """A hung monitor costs at most the deadline, never attempts x it."""

    def setUp(self):
        super(DeadlineTestCase, self).setUp()
        self.use_fake_ceph()
        self.conf_file = self.temp_file('[global]\n', 'ceph.conf')
        self.clock = _Clock()
        self.useFixture(fixtures.MockPatchObject(
            connection.time, 'monotonic', self.clock.monotonic))
        self.useFixture(fixtures.MockPatchObject(
            connection.time, 'sleep', self.clock.sleep))
        self.hung = True
        original = self.ceph.rados.Rados.connect
        test = self

        def connect(handle, timeout=0):
            if not test.hung:
                return original(handle, timeout)
            # librados waits client_mount_timeout (300 s when unset) for
            # a monitor that never answers; the timeout argument does not
            # matter.
            test.clock.sleep(float(handle.conf.get('client_mount_timeout',
                                                   300)))
            raise fake_ceph.rados_error('TimedOut',
                                        'error connecting to the cluster')
        self.useFixture(fixtures.MockPatchObject(
            self.ceph.rados.Rados, 'connect', connect))

    def client(self, timeout, attempts, interval, hold=5):
        client = connection.ClusterClient(
            connection.ClusterSpec(conf_file=self.conf_file, user='cinder',
                                   timeout=timeout),
            attempts, interval, hold)
        self.addCleanup(client.close)
        return client

    @ddt.unpack
    @ddt.data((30, 3, 5, 3), (30, 1, 5, 1), (10, 3, 1, 1), (4, 3, 1, 1),
              (60, 10, 2, 8), (20, 2, 30, 1))
    def test_whole_connect_within_deadline(self, timeout, attempts,
                                           interval, made):
        client = self.client(timeout, attempts, interval)
        start = self.clock.now
        error = self.assertRaises(connection.CephConnectionError,
                                  client.session().__enter__)
        self.assertLessEqual(self.clock.now - start, timeout)
        self.assertIn('within %d s' % timeout, str(error))
        self.assertEqual(made, client.attempts)

    @ddt.unpack
    @ddt.data((30, 3, 5, (3, 6)), (30, 1, 5, (1, 30)), (10, 3, 1, (1, 10)),
              (12, 3, 1, (2, 5)), (0, 3, 1, (1, 1)), (30, 0, 0, (1, 30)))
    def test_connect_plan(self, timeout, attempts, interval, plan):
        self.assertEqual(plan, connection.connect_plan(timeout, attempts,
                                                       interval))

    def test_failure_remembered_then_recovers(self):
        client = self.client(timeout=6, attempts=1, interval=0, hold=5)
        first = self.assertRaises(connection.CephConnectionError,
                                  client.session().__enter__)
        self.assertEqual(1, client.attempts)
        # Within the hold: the same error at once, no new attempt.
        self.clock.sleep(4.9)
        self.hung = False
        again = self.assertRaises(connection.CephConnectionError,
                                  client.session().__enter__)
        self.assertEqual(str(first), str(again))
        self.assertEqual(1, client.attempts)
        # After it the next caller tries again, and Ceph is back.
        self.clock.sleep(0.2)
        with client.session() as session:
            session.ioctx('volumes')
        self.assertEqual((2, 1), (client.attempts, client.connects))

    def test_no_hold_retries_every_call(self):
        client = self.client(timeout=6, attempts=1, interval=0, hold=0)
        for _ in range(2):
            self.assertRaises(connection.CephConnectionError,
                              client.session().__enter__)
        self.assertEqual(2, client.attempts)

    def test_close_forgets_failure(self):
        client = self.client(timeout=6, attempts=1, interval=0)
        self.assertRaises(connection.CephConnectionError,
                          client.session().__enter__)
        client.close()
        self.hung = False
        with client.session():
            pass
        self.assertEqual(2, client.attempts)


class SingleFlightTestCase(base.TestCase):
    """Many callers, one connect; none waits for the client lock."""

    def setUp(self):
        super(SingleFlightTestCase, self).setUp()
        self.cluster = self.use_fake_ceph()
        self.conf_file = self.temp_file('[global]\n', 'ceph.conf')
        # Connect on the calling (green)thread, so a blocked connect
        # parks that thread only, in both concurrency modes.
        self.useFixture(fixtures.MockPatchObject(
            connection.blocking, 'call', lambda f, *a, **k: f(*a, **k)))
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.fail = None
        original = self.ceph.rados.Rados.connect
        test = self

        def connect(handle, timeout=0):
            test.entered.set()
            test.gate.wait(10)
            if test.fail:
                raise test.fail
            return original(handle, timeout)
        self.useFixture(fixtures.MockPatchObject(
            self.ceph.rados.Rados, 'connect', connect))

    def client(self, timeout=30):
        client = connection.ClusterClient(
            connection.ClusterSpec(conf_file=self.conf_file, user='cinder',
                                   timeout=timeout), 3, 0)
        self.addCleanup(client.close)
        return client

    def _callers(self, client, count):
        results = [None] * count

        def caller(index):
            try:
                with client.session() as session:
                    results[index] = session
            except connection.CephConnectionError as error:
                results[index] = error
        threads = [threading.Thread(target=caller, args=(i,))
                   for i in range(count)]
        for thread in threads:
            thread.start()
        self.assertTrue(self.entered.wait(5))
        time.sleep(0.2)  # let the others queue up behind the connect
        return threads, results

    def _finish(self, threads):
        self.gate.set()
        for thread in threads:
            thread.join(10)
            self.assertFalse(thread.is_alive())

    def test_one_connect_for_all_waiters(self):
        client = self.client()
        threads, results = self._callers(client, 6)
        # Nobody waits on the lock: a new caller sees it free at once.
        self.assertTrue(client._lock.acquire(timeout=1))
        client._lock.release()
        self.assertEqual(1, client.attempts)
        self._finish(threads)
        self.assertEqual(1, client.attempts)
        self.assertEqual(1, client.connects)
        self.assertEqual(1, len({id(r) for r in results}))
        self.assertIsInstance(results[0], connection.Session)

    def test_waiters_share_the_failure(self):
        self.fail = fake_ceph.rados_error('TimedOut', 'error connecting')
        client = self.client()
        threads, results = self._callers(client, 6)
        self._finish(threads)
        # One attempt at a time; no waiter started a connect of its own.
        self.assertEqual(3, client.attempts)
        self.assertEqual(1, len({str(r) for r in results}))
        self.assertIn('within 30 s', str(results[0]))

    def test_waiter_gives_up_at_its_deadline(self):
        self.useFixture(fixtures.MockPatchObject(connection, 'WAIT_SLACK',
                                                 0))
        client = self.client(timeout=1)
        threads, results = self._callers(client, 2)
        start = time.monotonic()
        while time.monotonic() - start < 5 and not any(results):
            time.sleep(0.05)
        self._finish(threads)
        waiter = [r for r in results
                  if isinstance(r, connection.CephConnectionError)]
        self.assertEqual(1, len(waiter))
        self.assertIn('still running after 1 s', str(waiter[0]))


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
