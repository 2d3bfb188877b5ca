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

"""Capacity reporting: ``ceph df``, the quota, and stats from memory."""

from cinder import exception
import ddt
import fixtures
from oslo_utils import units

from cinder_ext.ceph import blocking
from cinder_ext.ceph import images
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph
from cinder_ext.tests.unit import test_capacity
from cinder_ext.tests.unit import test_migration
from cinder_ext.volume import capacity
from cinder_ext.volume import stats

G = 1024 ** 3


def df(pool_stats, total_bytes=1000 * G, name='volumes'):
    return {'stats': {'total_bytes': total_bytes},
            'pools': [{'name': 'other', 'stats': {'stored': 7 * G,
                                                  'max_avail': 1 * G}},
                      {'name': name, 'stats': pool_stats}]}


@ddt.ddt
class PoolCapacityTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(
        # No quota, static total: cluster size; free: pool's max_avail.
        ({'stored': 100 * G, 'max_avail': 300 * G}, None, False,
         (300.0, 1000.0)),
        # No quota, dynamic total: free + used.
        ({'stored': 100 * G, 'max_avail': 300 * G}, None, True,
         (300.0, 400.0)),
        # A zero quota means no quota.
        ({'stored': 100 * G, 'max_avail': 300 * G},
         {'quota_max_bytes': 0}, False, (300.0, 1000.0)),
        # Quota below what the cluster could give: quota minus used.
        ({'stored': 100 * G, 'max_avail': 300 * G},
         {'quota_max_bytes': 250 * G}, False, (150.0, 250.0)),
        ({'stored': 100 * G, 'max_avail': 300 * G},
         {'quota_max_bytes': 250 * G}, True, (150.0, 250.0)),
        # Quota above what the cluster can give: max_avail.
        ({'stored': 100 * G, 'max_avail': 50 * G},
         {'quota_max_bytes': 500 * G}, False, (50.0, 500.0)),
        ({'stored': 100 * G, 'max_avail': 50 * G},
         {'quota_max_bytes': 500 * G}, True, (50.0, 150.0)),
        # Over quota: free is never negative.
        ({'stored': 300 * G, 'max_avail': 50 * G},
         {'quota_max_bytes': 200 * G}, False, (0.0, 200.0)),
        # Pre-Nautilus 'bytes_used' when there is no 'stored'.
        ({'bytes_used': 100 * G, 'max_avail': 300 * G}, None, True,
         (300.0, 400.0)),
        # 'stored' wins over 'bytes_used' (which counts replicas).
        ({'stored': 100 * G, 'bytes_used': 300 * G, 'max_avail': 300 * G},
         None, True, (300.0, 400.0)),
        # Rounded to two decimals of GiB.
        ({'stored': G // 3, 'max_avail': G // 3}, None, True, (0.33, 0.67)),
    )
    def test_pool_capacity(self, pool_stats, quota, dynamic, expected):
        self.assertEqual(expected, stats.pool_capacity(
            df(pool_stats), quota, 'volumes', dynamic))

    def test_missing_pool(self):
        error = self.assertRaises(
            LookupError, stats.pool_capacity,
            df({'stored': 0, 'max_avail': 0}), None, 'nopool', True)
        self.assertIn('nopool', str(error))


class CephCalls(object):
    """Counts every hand-off to librados/librbd (all go through here)."""

    def __init__(self, test):
        self.count = 0
        real = blocking.call

        def counted(func, *args, **kwargs):
            self.count += 1
            return real(func, *args, **kwargs)
        test.useFixture(fixtures.MockPatchObject(blocking, 'call', counted))


class DriverStatsTestCase(base.DriverTestCase):
    """get_volume_stats from memory, kept current by the driver itself."""

    def setUp(self):
        super(DriverStatsTestCase, self).setUp()
        self.clock = test_capacity.FakeClock()
        self.remake(rbd_exclusive_cinder_pool=False)

    def remake(self, **overrides):
        # One option group for all: the old driver would see new values.
        self.dynamic_call.reset_mock()
        self.drv = self.make_driver(**overrides)
        backend = self.drv._backend
        backend.capacity = capacity.CapacityTracker(
            backend.capacity.track_provisioned, self.clock)
        return self.drv

    def reconcile_now(self):
        """Let time pass until the background task reads; run it."""
        self.clock.now += self.drv._reporter.max_age
        return self.drv._reporter.reconcile_periodically()

    def provisioned(self):
        return self.drv.get_volume_stats(refresh=True)[
            'provisioned_capacity_gb']

    def truth(self):
        """What a reconcile would read now, in whole GiB."""
        return stats.gb_rounded_up(sum(
            i.size for i in self.cluster.pool().images.values()))

    def other_client_creates(self, name, size):
        # Behind the driver's back: its figures are not told.
        with self.drv._backend.session() as session:
            session.run(images.create, session.ioctx('volumes'), name, size,
                        22, 1)

    def test_background_task_started(self):
        self.dynamic_call.assert_called_once_with(
            self.drv._reporter.reconcile_periodically)
        self.dynamic_call.return_value.start.assert_called_once_with(
            initial_delay=0)

    def test_no_background_task_with_max_age_0(self):
        self.remake(rbd_stats_max_age=0)
        self.dynamic_call.assert_not_called()

    def test_warm_stats_make_no_ceph_call(self):
        self.assertEqual(0, self.provisioned())  # first call reads
        vol = self.volume(size=2)
        self.drv.create_volume(vol)
        self.drv.extend_volume(vol, 5)
        calls = CephCalls(self)
        mons, scans = len(self.cluster.mon_commands), self.cluster.calls[
            'pool_stats_get']
        for _n in range(5):
            stats_now = self.drv.get_volume_stats(refresh=True)
        self.assertEqual(0, calls.count)
        self.assertEqual(mons, len(self.cluster.mon_commands))
        self.assertEqual(scans, self.cluster.calls['pool_stats_get'])
        self.assertEqual(5, stats_now['provisioned_capacity_gb'])
        self.assertEqual('up', stats_now['backend_state'])
        self.drv.delete_volume(vol)

    def test_own_changes_without_reconcile(self):
        self.provisioned()
        scans = self.cluster.calls['pool_stats_get']
        src, clone, child = (self.volume(size=2), self.volume(size=3),
                             self.volume(size=4))
        snap = self.snapshot(src)
        steps = [
            lambda: self.drv.create_volume(src),
            lambda: self.drv.extend_volume(src, 3),
            lambda: self.drv.create_cloned_volume(clone, src),
            lambda: self.drv.create_snapshot(snap),
            lambda: self.drv.create_volume_from_snapshot(child, snap),
            lambda: self.drv.delete_volume(child),
            lambda: self.drv.delete_snapshot(snap),
            # src has a clone: renamed to .deleted, still counted...
            lambda: self.drv.delete_volume(src),
            # ...and removed with its last clone.
            lambda: self.drv.delete_volume(clone),
        ]
        for number, step in enumerate(steps):
            step()
            self.assertEqual(self.truth(), self.provisioned(),
                             'after step %d' % number)
        self.assertPoolEmpty()
        self.assertEqual(0, self.provisioned())
        self.assertEqual(scans, self.cluster.calls['pool_stats_get'])

    def test_deferred_delete_counts_the_trash_out(self):
        drv = self.remake(rbd_exclusive_cinder_pool=False,
                          enable_deferred_deletion=True)
        vol = self.volume(size=3)
        drv.create_volume(vol)
        self.assertEqual(3, drv.get_volume_stats(True)[
            'provisioned_capacity_gb'])
        drv.delete_volume(vol)
        self.assertEqual([vol.name], self.cluster.trash_names())
        self.assertEqual(0, drv.get_volume_stats(True)[
            'provisioned_capacity_gb'])
        drv._purge_trash()

    def test_migration_out_of_the_pool(self):
        self.cluster.add_pool('volumes2')
        vol, kept = self.volume(size=2), self.volume(size=1)
        self.drv.create_volume(vol)
        self.drv.create_volume(kept)
        self.assertEqual(3, self.provisioned())
        for pool in ('volumes', 'volumes2'):  # same pool: nothing moves
            self.assertEqual((True, None), self.drv.migrate_volume(
                self.ctx, vol, test_migration.host(pool=pool)))
        self.assertEqual(self.truth(), self.provisioned())
        self.assertEqual(1, self.provisioned())

    def test_failed_creates_not_counted(self):
        self.provisioned()
        # Applying the type fails: the new image is removed again.
        self.useFixture(fixtures.MockPatch(
            'cinder_ext.volume.type_settings.apply',
            side_effect=fake_ceph.rbd_error('IOError')))
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.drv.create_volume, self.volume(size=2))
        self.assertEqual([], self.cluster.image_names())
        self.assertEqual(0, self.provisioned())

    def test_reconcile_picks_up_other_clients(self):
        self.provisioned()
        self.other_client_creates('other-image', 7 * units.Gi)
        self.assertEqual(0, self.provisioned())  # not before a reconcile
        self.reconcile_now()
        self.assertEqual(7, self.provisioned())

    def test_reconcile_replaces_drift(self):
        vol = self.volume(size=2)
        self.drv.create_volume(vol)
        self.provisioned()
        # An image shrunk outside Cinder: only a reconcile can know.
        self.cluster.image(vol.name).size = units.Gi
        self.assertEqual(2, self.provisioned())
        self.reconcile_now()
        self.assertEqual(1, self.provisioned())
        self.drv.delete_volume(vol)

    def test_free_capacity_follows_reconciles_only(self):
        pool = self.cluster.pool()
        pool.stored, pool.max_avail = 20 * units.Gi, 80 * units.Gi
        self.reconcile_now()
        self.assertEqual(80.0, self.drv.get_volume_stats(True)[
            'free_capacity_gb'])
        pool.max_avail = 50 * units.Gi
        self.assertEqual(80.0, self.drv.get_volume_stats(True)[
            'free_capacity_gb'])
        self.reconcile_now()
        self.assertEqual(50.0, self.drv.get_volume_stats(True)[
            'free_capacity_gb'])

    def test_failed_reconcile_reports_down_then_recovers(self):
        vol = self.volume(size=2)
        self.drv.create_volume(vol)
        self.provisioned()
        self.cluster.mon_errors['df'] = (-110, 'timed out')
        self.assertEqual(60, self.reconcile_now())
        self.assertIn('timed out', self.logs.output)
        stats_now = self.drv.get_volume_stats(refresh=True)
        self.assertEqual('down', stats_now['backend_state'])
        self.assertEqual('unknown', stats_now['free_capacity_gb'])
        self.assertEqual('unknown', stats_now['total_capacity_gb'])
        self.assertEqual(2, stats_now['provisioned_capacity_gb'])
        # Own changes still count meanwhile.
        self.drv.extend_volume(vol, 3)
        self.assertEqual(3, self.provisioned())
        del self.cluster.mon_errors['df']
        self.reconcile_now()
        self.assertEqual('up', self.drv.get_volume_stats(True)[
            'backend_state'])
        self.drv.delete_volume(vol)

    def test_first_call_fails_then_reads_again(self):
        drv = self.remake()
        self.cluster.mon_errors['df'] = (-110, 'timed out')
        self.assertEqual('down', drv.get_volume_stats(True)['backend_state'])
        del self.cluster.mon_errors['df']
        self.assertEqual('up', drv.get_volume_stats(True)['backend_state'])

    def test_old_figures_reported_with_a_warning(self):
        self.assertEqual('up', self.drv.get_volume_stats(True)[
            'backend_state'])
        self.clock.now += 61
        stats_now = self.drv.get_volume_stats(refresh=True)
        self.assertEqual('up', stats_now['backend_state'])
        self.assertEqual(100.0, stats_now['free_capacity_gb'])
        self.drv.get_volume_stats(refresh=True)
        self.assertEqual(1, self.logs.output.count('61 s old, older than '
                                                   'rbd_stats_max_age=60'))
        self.reconcile_now()
        self.drv.get_volume_stats(refresh=True)
        self.assertIn('fresh again', self.logs.output)

    def test_background_reads_only_when_due(self):
        self.provisioned()  # the first poll reads
        scans = self.cluster.calls['pool_stats_get']
        # The task's first run comes at once: nothing to read yet.
        pause = self.drv._reporter.reconcile_periodically()
        self.assertEqual(scans, self.cluster.calls['pool_stats_get'])
        self.assertEqual(60, pause)
        self.clock.now += pause
        self.assertEqual(60, self.drv._reporter.reconcile_periodically())
        self.assertEqual(scans + 1, self.cluster.calls['pool_stats_get'])

    def test_background_errors_do_not_escape(self):
        self.cluster.fail('pool_stats_get', fake_ceph.rbd_error('IOError'))
        self.assertEqual(60, self.reconcile_now())

    def test_max_age_0_reads_on_every_poll(self):
        drv = self.remake(rbd_exclusive_cinder_pool=False,
                          rbd_stats_max_age=0)
        before = self.cluster.calls['pool_stats_get']
        for _n in range(3):
            drv.get_volume_stats(refresh=True)
        self.assertEqual(3, self.cluster.calls['pool_stats_get'] - before)

    def test_exclusive_pool_reads_no_image(self):
        drv = self.remake(rbd_exclusive_cinder_pool=True)
        drv.create_volume(self.volume())
        stats_now = drv.get_volume_stats(refresh=True)
        self.reconcile_now()
        self.assertNotIn('provisioned_capacity_gb', stats_now)
        self.assertEqual(0, self.cluster.calls['pool_stats_get'])
