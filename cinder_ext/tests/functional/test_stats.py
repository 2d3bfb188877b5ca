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

"""Stats from memory on a shared pool of the real cluster.

Other tests change the same pools at the same time, so figures are
compared by difference (own changes), or against ``rbd_pool_stats_get``
read just before and just after a reconcile, retried while those two
disagree.
"""

import functools
import time

import fixtures
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import blocking
from cinder_ext.tests.functional import base
from cinder_ext.volume import stats

# Long enough that no background reconcile runs during a test.
MAX_AGE = 3600
SETTLE_ATTEMPTS = 10


class TestStatsFromMemory(base.DriverTestCase):

    def setUp(self):
        super(TestStatsFromMemory, self).setUp()
        self.drv = self.make_driver(group='shared_stats',
                                    rbd_exclusive_cinder_pool=False,
                                    rbd_stats_max_age=MAX_AGE)
        # Its first run (at once) would race with the test's own reads.
        self.drv._stats_task.stop()
        self.drv._stats_task.wait()
        self.tracker = self.drv._backend.capacity
        self.drv.get_volume_stats(refresh=True)  # cold: reads

    def provisioned_bytes(self):
        self.drv.get_volume_stats(refresh=True)
        return self.tracker.figures().provisioned_bytes

    def pool_provisioned(self):
        return bindings.rbd.RBD().pool_stats_get(
            self.rados())['image_provisioned_bytes']

    def reconcile(self):
        """Reconcile; the pool's provisioned bytes it must have read."""
        read = functools.partial(stats.read, self.drv._backend)
        for _n in range(SETTLE_ATTEMPTS):
            before = self.pool_provisioned()
            self.tracker.reconcile(read)
            if self.pool_provisioned() == before:
                return before
        self.fail('the pool kept changing during %d reconciles'
                  % SETTLE_ATTEMPTS)

    def ours_in_pool(self):
        return sum(self.image_size(name)
                   for name in self.ours(self.image_names()))

    def test_own_changes_right_without_reconcile(self):
        reads = self.useFixture(fixtures.MockPatch(
            'cinder_ext.volume.stats.read', wraps=stats.read)).mock
        self.addCleanup(self.remove_leftovers)
        start = self.provisioned_bytes()
        src, clone, child = (self.volume(size=2), self.volume(size=4),
                             self.volume(size=5))
        snap = self.snapshot(src)
        # (step, GiB of OUR images in the pool's image list after it)
        steps = [
            (lambda: self.drv.create_volume(src), 2),
            (lambda: self.drv.extend_volume(src, 4), 4),
            (lambda: self.drv.create_cloned_volume(clone, src), 8),
            (lambda: self.drv.create_snapshot(snap), 8),
            # A clone of the 4 GiB snapshot, grown to 5 GiB.
            (lambda: self.drv.create_volume_from_snapshot(child, snap), 13),
            (lambda: self.drv.delete_volume(child), 8),
            (lambda: self.drv.delete_snapshot(snap), 8),
            # src has a clone: kept as <src>.deleted, still an image...
            (lambda: self.drv.delete_volume(src), 8),
            # ...removed with its last clone.
            (lambda: self.drv.delete_volume(clone), 0),
        ]
        for number, (step, gib) in enumerate(steps):
            step()
            self.settle()  # a parent release may finish after a delete
            self.assertEqual(gib * units.Gi, self.ours_in_pool(),
                             'pool after step %d' % number)
            self.assertEqual(start + gib * units.Gi,
                             self.provisioned_bytes(),
                             'figure after step %d' % number)
        self.assertEqual(0, reads.call_count)

    def remove_leftovers(self):
        """After a failed step: what is left, clones first."""
        left = self.ours(self.image_names())
        if left:
            self.remove_as_admin(left)

    def test_stats_in_gib_follow_own_create(self):
        before = self.drv.get_volume_stats(True)['provisioned_capacity_gb']
        vol = self.volume(size=3)
        self.drv.create_volume(vol)
        self.addCleanup(self.drv.delete_volume, vol)
        after = self.drv.get_volume_stats(True)['provisioned_capacity_gb']
        self.assertEqual(3, after - before)

    def test_other_clients_show_after_a_reconcile(self):
        self.assertEqual(self.reconcile(), self.provisioned_bytes())
        start = self.provisioned_bytes()
        name = 'volume-%s' % self.new_id()
        self.create_raw_image(name, 5 * units.Gi)
        self.addCleanup(self.remove_raw_image, name)
        # Not the driver's change: unseen until a reconcile.
        self.assertEqual(start, self.provisioned_bytes())
        self.assertEqual(self.reconcile(), self.provisioned_bytes())
        self.remove_raw_image(name)
        self.assertEqual(self.reconcile(), self.provisioned_bytes())

    def remove_raw_image(self, name):
        try:
            bindings.rbd.RBD().remove(self.rados(), name)
        except bindings.ImageNotFound:
            pass

    def test_warm_stats_call_no_librados(self):
        calls = []
        real = blocking.call

        def counted(func, *args, **kwargs):
            calls.append(getattr(func, '__name__', repr(func)))
            return real(func, *args, **kwargs)
        vol = self.volume(size=2)
        self.drv.create_volume(vol)
        self.addCleanup(self.drv.delete_volume, vol)
        self.useFixture(fixtures.MockPatchObject(blocking, 'call', counted))
        for _n in range(20):
            stats_now = self.drv.get_volume_stats(refresh=True)
        self.assertEqual([], calls)
        self.assertEqual('up', stats_now['backend_state'])
        self.assertGreater(stats_now['free_capacity_gb'], 0)
        self.assertGreaterEqual(stats_now['provisioned_capacity_gb'], 2)
        # The counter does see Ceph calls: a reconcile makes some.
        self.reconcile()
        self.assertIn('pool_stats', calls)
        self.assertIn('mon_command', calls)


class TestBackgroundReconcile(base.DriverTestCase):

    def test_task_reads_within_the_bound_by_itself(self):
        drv = self.make_driver(group='short_stats',
                               rbd_exclusive_cinder_pool=False,
                               rbd_stats_max_age=3)
        tracker = drv._backend.capacity
        self.assertEqual('up', drv.get_volume_stats(True)['backend_state'])
        name = 'volume-%s' % self.new_id()
        self.create_raw_image(name, units.Gi)
        self.addCleanup(bindings.rbd.RBD().remove, self.rados(), name)
        created = time.monotonic()
        # A liveness check, not a timing one: 30 s is ten times the bound.
        deadline = created + 30
        while tracker.figures().age >= time.monotonic() - created:
            self.assertLess(time.monotonic(), deadline,
                            'no background reconcile within 30 s')
            time.sleep(0.2)
        # That reading began after the image existed: it is counted.
        self.assertGreaterEqual(tracker.figures().provisioned_bytes,
                                units.Gi)
        self.assertEqual('up', drv.get_volume_stats(True)['backend_state'])
