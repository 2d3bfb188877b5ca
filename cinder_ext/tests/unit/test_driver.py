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

"""RBDDriver on a fake cluster: setup, volumes, attach, stats, errors."""

from cinder import exception
import ddt
from oslo_utils import units

from cinder_ext.ceph import connection
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph

KEYRING_SECRET = 'AQBx+dxmAAAAABAA7OoUnS3cReTk3yr1ngK3Y=='
KEYRING = '[client.cinder]\n\tkey = %s\n' % KEYRING_SECRET


@ddt.ddt
class SetupTestCase(base.DriverTestCase):

    def test_setup_starts_purge_task(self):
        drv = self.make_driver(deferred_deletion_purge_interval=90)
        self.looping_call.assert_called_once_with(drv._purge_trash)
        self.looping_call.return_value.start.assert_called_once_with(
            interval=90, initial_delay=90)

    def test_missing_pool_named(self):
        drv = self.make_driver(setup=False, rbd_pool='nopool')
        drv.do_setup(self.ctx)
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  drv.check_for_setup_error)
        self.assertIn('rbd_pool=nopool', str(error))
        self.assertIn('ceph', str(error))
        self.looping_call.assert_not_called()

    def test_unreachable_cluster_explained(self):
        self.cluster.connect_errors = [
            fake_ceph.rados_error('TimedOut', 'error connecting')] * 2
        drv = self.make_driver(setup=False, rados_connect_timeout=12)
        drv.do_setup(self.ctx)
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  drv.check_for_setup_error)
        self.assertIn('within 12 s', str(error))
        self.assertEqual(2, len(self.cluster.handles))

    def test_bad_option_stops_setup(self):
        drv = self.make_driver(setup=False, rbd_store_chunk_size=3)
        error = self.assertRaises(exception.InvalidConfigurationValue,
                                  drv.do_setup, self.ctx)
        self.assertIn('rbd_store_chunk_size', str(error))
        self.assertEqual([], self.cluster.handles)

    def test_unreadable_keyring_named(self):
        drv = self.make_driver(setup=False)
        drv.configuration.rbd_keyring_conf = '/nonexistent/ceph-test.keyring'
        drv.do_setup(self.ctx)
        error = self.assertRaises(exception.InvalidConfigurationValue,
                                  drv.check_for_setup_error)
        self.assertIn('rbd_keyring_conf', str(error))

    @ddt.unpack
    @ddt.data((-1, 30, '15'), (0, 30, '15'), (12, 12, '6'))
    def test_timeout(self, connect_timeout, expected, per_attempt):
        # Two attempts (rados_connection_retries=2) share the deadline;
        # python-rados ignores connect(timeout=), so only conf counts.
        self.make_driver(rados_connect_timeout=connect_timeout)
        conf = self.cluster.handles[0].conf_at_connect
        self.assertEqual(per_attempt, conf['client_mount_timeout'])
        for option in ('rados_osd_op_timeout', 'rados_mon_op_timeout'):
            self.assertEqual(str(expected), conf[option])


@ddt.ddt
class VolumeTestCase(base.DriverTestCase):

    def setUp(self):
        super(VolumeTestCase, self).setUp()
        self.drv = self.make_driver()

    @ddt.unpack
    @ddt.data((4, 22), (1, 20), (32, 25))
    def test_create(self, chunk_mb, order):
        drv = self.make_driver(rbd_store_chunk_size=chunk_mb)
        vol = self.volume(size=2)
        self.assertEqual({}, drv.create_volume(vol))
        image = self.cluster.image(vol.name)
        self.assertEqual(2 * units.Gi, image.size)
        self.assertEqual(order, image.order)
        # librbd's rbd_default_features, as the in-tree driver.
        self.assertEqual(61, image.features)
        self.assertNoLeftOpenImages()

    def test_create_uses_configured_features(self):
        self.cluster.file_conf['rbd_default_features'] = 'layering'
        connection.close_all()   # a new connection reads the new conf
        drv = self.make_driver()
        vol = self.volume()
        drv.create_volume(vol)
        self.assertEqual(1, self.cluster.image(vol.name).features)

    @ddt.data(0, -1)
    def test_create_bad_size(self, size):
        self.assertRaises(exception.InvalidInput, self.drv.create_volume,
                          self.volume(size=size))
        self.assertEqual({}, self.cluster.contents())

    def test_delete(self):
        vol = self.volume()
        self.drv.create_volume(vol)
        self.drv.delete_volume(vol)
        self.assertPoolEmpty()

    def test_delete_missing_is_noop(self):
        vol = self.volume()
        self.drv.delete_volume(vol)
        self.drv.create_volume(vol)
        self.drv.delete_volume(vol)
        self.drv.delete_volume(vol)
        self.assertPoolEmpty()

    def test_delete_removes_backup_snapshots(self):
        vol = self.volume()
        self.drv.create_volume(vol)
        snaps = ['backup.%s.snap.1712345678.5' % vol.id,
                 'backup.%s.snap.1712349999.1' % vol.id]
        image = self.cluster.image(vol.name)
        for n, name in enumerate(snaps):
            image.snaps.append(fake_ceph.SnapData(90 + n, name, image.size,
                                                  []))
        self.drv.delete_volume(vol)
        self.assertPoolEmpty()

    def test_delete_busy(self):
        vol = self.volume()
        self.drv.create_volume(vol)
        self.cluster.image(vol.name).watchers = 1   # attached elsewhere
        self.assertRaises(exception.VolumeIsBusy, self.drv.delete_volume,
                          vol)
        # The quick remove, then rados_connection_retries attempts.
        self.assertEqual(1 + 2, self.cluster.calls['remove'])
        self.assertEqual([vol.name], self.cluster.image_names())

    def test_extend(self):
        vol = self.volume()
        self.drv.create_volume(vol)
        self.drv.extend_volume(vol, 3)
        self.assertEqual(3 * units.Gi, self.cluster.image(vol.name).size)
        self.assertNoLeftOpenImages()

    def test_extend_refuses_to_shrink(self):
        vol = self.volume(size=3)
        self.drv.create_volume(vol)
        self.assertRaises(exception.InvalidInput, self.drv.extend_volume,
                          vol, 2)
        self.assertEqual(3 * units.Gi, self.cluster.image(vol.name).size)
        self.assertEqual(0, self.cluster.calls['resize'])

    def test_one_connection_for_everything(self):
        for _ in range(3):
            vol = self.volume()
            self.drv.create_volume(vol)
            self.drv.extend_volume(vol, 2)
            self.drv.initialize_connection(vol, {})
            self.drv.get_volume_stats(refresh=True)
            self.drv.delete_volume(vol)
        self.assertEqual(1, len(self.cluster.handles))
        self.assertEqual(0, self.cluster.handles[0].shutdown_calls)
        self.assertEqual(['volumes'], [
            i.pool_name for i in self.cluster.handles[0].ioctxs])

    def test_revert_to_snapshot(self):
        vol = self.volume()
        self.drv.create_volume(vol)
        self.cluster.write(vol.name, b'before')
        snap = self.snapshot(vol)
        self.drv.create_snapshot(snap)
        self.cluster.write(vol.name, b'AFTER!')
        self.drv.revert_to_snapshot(self.ctx, vol, snap)
        self.assertEqual(b'before', self.cluster.read(vol.name, 0, 6))


class AttachTestCase(base.DriverTestCase):

    def test_connection_info(self):
        drv = self.make_driver()
        vol = self.volume()
        drv.create_volume(vol)
        info = drv.initialize_connection(vol, {'host': 'compute-1'})
        self.assertEqual({
            'driver_volume_type': 'rbd',
            'data': {'name': 'volumes/%s' % vol.name,
                     'hosts': ['192.0.2.10'], 'ports': ['6789'],
                     'cluster_name': 'ceph', 'auth_enabled': True,
                     'auth_username': 'cinder', 'secret_type': 'ceph',
                     'secret_uuid': self.cluster.fsid,
                     'volume_id': vol.id, 'discard': True}}, info)

    def test_configured_secret_uuid_and_v2(self):
        drv = self.make_driver(rbd_secret_uuid='5a4d-secret',
                               rbd_mon_address_type='v2')
        data = drv.initialize_connection(self.volume(), {})['data']
        self.assertEqual('5a4d-secret', data['secret_uuid'])
        self.assertEqual(['3300'], data['ports'])

    def test_mon_dump_cached(self):
        drv = self.make_driver()
        for _ in range(3):
            drv.initialize_connection(self.volume(), {})
        self.assertEqual(1, [c['prefix'] for c in
                             self.cluster.mon_commands].count('mon dump'))

    def test_keyring_sent_but_never_logged(self):
        drv = self.make_driver(setup=False)
        drv.configuration.rbd_keyring_conf = self.temp_file(KEYRING,
                                                            'keyring')
        drv.do_setup(self.ctx)
        drv.check_for_setup_error()
        vol = self.volume()
        drv.create_volume(vol)
        info = drv.initialize_connection(vol, {})
        self.assertEqual(KEYRING, info['data']['keyring'])
        self.assertIn('Connection info', self.logs.output)
        self.assertNotIn(KEYRING_SECRET, self.logs.output)

    def test_no_keyring_by_default(self):
        drv = self.make_driver()
        self.assertNotIn('keyring',
                         drv.initialize_connection(self.volume(), {})['data'])


class StatsTestCase(base.DriverTestCase):

    def test_stats(self):
        pool = self.cluster.pool()
        pool.stored, pool.max_avail = 20 * units.Gi, 80 * units.Gi
        drv = self.make_driver(volume_backend_name='fast')
        stats = drv.get_volume_stats(refresh=True)
        self.assertEqual(80.0, stats['free_capacity_gb'])
        self.assertEqual(100.0, stats['total_capacity_gb'])
        self.assertEqual('up', stats['backend_state'])
        self.assertEqual('fast', stats['volume_backend_name'])
        self.assertEqual('ceph', stats['storage_protocol'])
        self.assertEqual('ceph:%s:%s:cinder:volumes' % (
            self.ceph_conf, self.cluster.fsid), stats['location_info'])
        self.assertNotIn('provisioned_capacity_gb', stats)

    def test_quota_and_shared_pool(self):
        pool = self.cluster.pool()
        pool.stored, pool.max_avail = 20 * units.Gi, 80 * units.Gi
        pool.quota_max_bytes = 50 * units.Gi
        drv = self.make_driver(rbd_exclusive_cinder_pool=False,
                               report_dynamic_total_capacity=False)
        drv.create_volume(self.volume(size=2))
        drv.create_volume(self.volume(size=3))
        stats = drv.get_volume_stats(refresh=True)
        self.assertEqual(30.0, stats['free_capacity_gb'])
        self.assertEqual(50.0, stats['total_capacity_gb'])
        self.assertEqual(5, stats['provisioned_capacity_gb'])

    def test_failure_reports_down(self):
        # Reading on every poll; test_stats has the background reconciles.
        drv = self.make_driver(rbd_stats_max_age=0)
        self.assertEqual('up', drv.get_volume_stats(True)['backend_state'])
        self.cluster.mon_errors['df'] = (-110, 'timed out')
        stats = drv.get_volume_stats(refresh=True)
        self.assertEqual('down', stats['backend_state'])
        self.assertEqual('unknown', stats['free_capacity_gb'])
        self.assertEqual('unknown', stats['total_capacity_gb'])
        self.assertIn('timed out', self.logs.output)


class ManageTestCase(base.DriverTestCase):

    def setUp(self):
        super(ManageTestCase, self).setUp()
        self.drv = self.make_driver()
        self.legacy = self.volume(size=1)
        self.drv.create_volume(self.legacy)
        self.cluster.image(self.legacy.name).size = 2 * units.Gi + 1
        self.ref = {'source-name': self.legacy.name}

    def test_get_size_rounds_up(self):
        self.assertEqual(3, self.drv.manage_existing_get_size(
            self.volume(), self.ref))

    def test_get_size_missing(self):
        self.assertRaises(exception.ManageExistingInvalidReference,
                          self.drv.manage_existing_get_size, self.volume(),
                          {'source-name': 'nothing-here'})

    def test_manage_missing_image(self):
        self.assertRaises(exception.ManageExistingInvalidReference,
                          self.drv.manage_existing, self.volume(),
                          {'source-name': 'nothing-here'})

    def test_manage_renames(self):
        vol = self.volume()
        self.drv.manage_existing(vol, self.ref)
        self.assertEqual([vol.name], self.cluster.image_names())


@ddt.ddt
class ErrorTestCase(base.DriverTestCase):
    """librbd/librados errors become errors naming the operation."""

    def setUp(self):
        super(ErrorTestCase, self).setUp()
        self.drv = self.make_driver()
        self.vol = self.volume()
        self.snap = self.snapshot(self.vol)

    def _existing(self):
        self.drv.create_volume(self.vol)

    def _io_error(self, op):
        self.drv.create_volume(self.vol)
        self.cluster.fail(op, fake_ceph.rbd_error('IOError', 'disk on fire'))

    def scenario(self, name):
        return {
            'create_volume': (self._existing, self.drv.create_volume,
                              self.vol),
            'extend_volume': (None, self.drv.extend_volume, self.vol, 2),
            'create_snapshot': (lambda: self._io_error('create_snap'),
                                self.drv.create_snapshot, self.snap),
            'delete_snapshot': (lambda: self._io_error('open'),
                                self.drv.delete_snapshot, self.snap),
            'delete_volume': (lambda: self._io_error('remove'),
                              self.drv.delete_volume, self.vol),
            'revert_to_snapshot': (self._existing,
                                   self.drv.revert_to_snapshot, self.ctx,
                                   self.vol, self.snap),
            'create_volume_from_snapshot': (
                self._existing, self.drv.create_volume_from_snapshot,
                self.volume(), self.snap),
            'create_cloned_volume': (None, self.drv.create_cloned_volume,
                                     self.volume(), self.vol),
            'initialize_connection': (
                lambda: self.cluster.mon_errors.update(
                    {'mon dump': (-1, 'EPERM')}),
                self.drv.initialize_connection, self.vol, {}),
        }[name]

    @ddt.data('create_volume', 'extend_volume', 'create_snapshot',
              'delete_snapshot', 'delete_volume', 'revert_to_snapshot',
              'create_volume_from_snapshot', 'create_cloned_volume',
              'initialize_connection')
    def test_operation_named(self, operation):
        prepare, method, *args = self.scenario(operation)
        if prepare:
            prepare()
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  method, *args)
        self.assertIn('%s failed' % operation, str(error))
        self.assertNoLeftOpenImages()

    def test_connection_error_named(self):
        connection.close_all()
        self.cluster.connect_errors = [
            fake_ceph.rados_error('PermissionError', 'error connecting')] * 2
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  self.drv.create_volume, self.vol)
        self.assertIn('create_volume failed', str(error))
        self.assertIn('authentication', str(error))
