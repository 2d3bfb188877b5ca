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

"""The in-memory capacity figures: own changes, reconciles, schedule.

Threads here are green threads under eventlet (the test run patches, as
cinder-volume does) and native ones with
OS_CINDER_DISABLE_EVENTLET_PATCHING=1: run the module both ways.
"""

import threading
import time

import ddt

from cinder_ext.tests.unit import base
from cinder_ext.volume import capacity

G = 1024 ** 3
WAIT = 10  # seconds a helper thread may take before the test fails


class FakeClock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def reading(provisioned=None, free=10.0, total=20.0):
    return lambda: capacity.Reading(free, total, provisioned)


@ddt.ddt
class TrackerTestCase(base.TestCase):

    def setUp(self):
        super(TrackerTestCase, self).setUp()
        self.clock = FakeClock()
        self.tracker = capacity.CapacityTracker(True, clock=self.clock)

    def test_no_figures_before_a_reading(self):
        self.tracker.added(G)
        self.assertIsNone(self.tracker.figures())

    def test_changes_before_the_first_reading_are_in_it(self):
        self.tracker.added(G)  # already in the pool when it is read
        self.tracker.reconcile(reading(5 * G))
        self.assertEqual(5 * G, self.tracker.figures().provisioned_bytes)

    def test_own_changes_count_at_once(self):
        self.tracker.reconcile(reading(5 * G))
        self.tracker.added(2 * G)
        self.tracker.added(3 * G)
        self.tracker.removed(G)
        figures = self.tracker.figures()
        self.assertEqual(9 * G, figures.provisioned_bytes)
        self.assertEqual((10.0, 20.0), (figures.free_gb, figures.total_gb))

    def test_never_negative(self):
        self.tracker.reconcile(reading(G))
        self.tracker.removed(3 * G)
        self.assertEqual(0, self.tracker.figures().provisioned_bytes)

    def test_exclusive_pool_tracks_nothing(self):
        tracker = capacity.CapacityTracker(False, clock=self.clock)
        tracker.reconcile(reading(None))
        tracker.added(G)
        self.assertIsNone(tracker.figures().provisioned_bytes)

    def test_reconcile_replaces_drift(self):
        self.tracker.reconcile(reading(5 * G, free=10.0))
        self.tracker.added(G)
        self.tracker.reconcile(reading(3 * G, free=7.5))
        figures = self.tracker.figures()
        self.assertEqual(3 * G, figures.provisioned_bytes)
        self.assertEqual(7.5, figures.free_gb)

    def test_changes_during_a_scan(self):
        # Increases stay on top of the scan, decreases are dropped: the
        # figure can only be high, never low.
        self.tracker.reconcile(reading(5 * G))

        def read():
            self.tracker.added(2 * G)
            self.tracker.removed(G)
            return capacity.Reading(10.0, 20.0, 8 * G)
        self.tracker.reconcile(read)
        self.assertEqual(10 * G, self.tracker.figures().provisioned_bytes)
        self.assertIn('+2147483648 bytes kept', self.logs.output)
        self.assertIn('-1073741824 bytes not applied', self.logs.output)
        # Changes after the scan count as usual again.
        self.tracker.removed(G)
        self.assertEqual(9 * G, self.tracker.figures().provisioned_bytes)

    def test_changes_during_a_failed_scan_are_kept(self):
        self.tracker.reconcile(reading(5 * G))

        def read():
            self.tracker.added(2 * G)
            raise IOError('df timed out')
        self.assertRaises(IOError, self.tracker.reconcile, read)
        figures = self.tracker.figures()
        self.assertEqual(7 * G, figures.provisioned_bytes)
        self.assertEqual('df timed out', figures.error)

    def test_failure_then_recovery(self):
        self.tracker.reconcile(reading(5 * G))

        def fail():
            raise IOError('')
        self.assertRaises(IOError, self.tracker.reconcile, fail)
        self.assertEqual('OSError', self.tracker.figures().error)
        self.tracker.reconcile(reading(4 * G))
        self.assertIsNone(self.tracker.figures().error)

    def test_age_counts_from_the_start_of_the_reading(self):
        def slow():
            self.clock.now += 3
            return capacity.Reading(1.0, 2.0, 0)
        self.tracker.reconcile(slow)
        self.clock.now += 10
        self.assertEqual(13, self.tracker.figures().age)

    def test_ensure_reads_only_when_there_are_no_figures(self):
        reads = []

        def read():
            reads.append(1)
            return capacity.Reading(1.0, 2.0, 0)
        self.tracker.ensure(read)
        self.tracker.ensure(read)
        self.assertEqual(1, len(reads))

    def test_ensure_keeps_trying_while_nothing_was_read(self):
        def fail():
            raise IOError('down')
        self.assertRaises(IOError, self.tracker.ensure, fail)
        self.assertIsNone(self.tracker.figures())
        self.tracker.ensure(reading(G))
        self.assertEqual(G, self.tracker.figures().provisioned_bytes)

    @ddt.unpack
    @ddt.data(
        # (max_age, scan seconds, seconds since it ended, due, pause)
        # Due when the next one, lasting twice as long, ends at max_age.
        (60, 1, 0, 57, 57),
        (60, 1, 20, 37, 37),
        (60, 0, 0, 60, 60),
        # Pause never shorter than the last scan: at most half the time.
        (60, 25, 0, -15, 25),
        # Nor than MIN_GAP.
        (2, 0.5, 0, 0.5, capacity.MIN_GAP),
        # Overdue (the task was late).
        (60, 1, 100, -43, capacity.MIN_GAP),
    )
    def test_schedule(self, max_age, scan, since, due, pause):
        def read():
            self.clock.now += scan
            return capacity.Reading(1.0, 2.0, 0)
        self.tracker.reconcile(read)
        self.clock.now += since
        self.assertEqual(due, self.tracker.due_in(max_age))
        self.assertEqual(pause, self.tracker.pause(max_age))

    def test_schedule_before_any_reading_and_after_a_failure(self):
        self.assertEqual(0, self.tracker.due_in(60))
        self.tracker.reconcile(reading(0))

        def fail():
            self.clock.now += 2
            raise IOError('down')
        self.assertRaises(IOError, self.tracker.reconcile, fail)
        self.assertEqual(60, self.tracker.due_in(60))
        self.clock.now += 10
        self.assertEqual(50, self.tracker.pause(60))


class ConcurrentTestCase(base.TestCase):
    """Real (green or native) threads around a reconcile that waits."""

    def setUp(self):
        super(ConcurrentTestCase, self).setUp()
        self.tracker = capacity.CapacityTracker(True)
        self.tracker.reconcile(reading(10 * G))
        self.in_scan = threading.Event()
        self.release = threading.Event()

    def blocked_read(self, result=20 * G):
        def read():
            self.in_scan.set()
            self.assertTrue(self.release.wait(WAIT))
            return capacity.Reading(1.0, 2.0, result)
        return read

    def start(self, target, *args, **kwargs):
        thread = threading.Thread(target=target, args=args, kwargs=kwargs)
        thread.start()
        self.addCleanup(thread.join, WAIT)
        return thread

    def test_one_reconcile_at_a_time(self):
        scan = self.start(self.tracker.reconcile, self.blocked_read())
        self.assertTrue(self.in_scan.wait(WAIT))
        self.assertFalse(self.tracker.reconcile(reading(0)))
        self.release.set()
        scan.join(WAIT)
        self.assertEqual(20 * G, self.tracker.figures().provisioned_bytes)

    def test_many_writers_during_a_scan(self):
        scan = self.start(self.tracker.reconcile, self.blocked_read())
        self.assertTrue(self.in_scan.wait(WAIT))
        writers = [self.start(self.write_many, 100) for _n in range(8)]
        for writer in writers:
            writer.join(WAIT)
        # Live figure: 8 x 100 x (+2 GiB -1 GiB) on top of 10 GiB.
        self.assertEqual(810 * G, self.tracker.figures().provisioned_bytes)
        self.release.set()
        scan.join(WAIT)
        # After the scan: its 20 GiB plus every increase, no decrease.
        self.assertEqual(1620 * G, self.tracker.figures().provisioned_bytes)

    def write_many(self, count):
        for _n in range(count):
            self.tracker.added(2 * G)
            self.tracker.removed(G)

    def test_waiting_reconcile_reads_after_the_running_one(self):
        scan = self.start(self.tracker.reconcile, self.blocked_read())
        self.assertTrue(self.in_scan.wait(WAIT))
        done = []
        waiter = self.start(lambda: done.append(
            self.tracker.reconcile(reading(30 * G), wait=True)))
        self.assertEqual([], done)
        self.release.set()
        scan.join(WAIT)
        waiter.join(WAIT)
        self.assertEqual([True], done)
        self.assertEqual(30 * G, self.tracker.figures().provisioned_bytes)

    def test_ensure_takes_a_failed_scan_as_its_answer(self):
        # During an outage a first poll waits for the scan under way, not
        # for it and then one more.
        self.tracker = capacity.CapacityTracker(track_provisioned=True)

        def failing_scan():
            self.in_scan.set()
            self.release.wait(WAIT)
            raise IOError('mon hung')
        scan = self.start(lambda: self.assertRaises(
            IOError, self.tracker.reconcile, failing_scan))
        self.assertTrue(self.in_scan.wait(WAIT))
        reads = []
        poll = self.start(self.tracker.ensure, lambda: reads.append(1))
        time.sleep(0.2)  # the poll reaches the scan's lock first
        self.release.set()
        scan.join(WAIT)
        poll.join(WAIT)
        self.assertEqual([], reads)
        self.assertIsNone(self.tracker.figures())

    def test_reporting_does_not_wait_for_a_scan(self):
        self.start(self.tracker.reconcile, self.blocked_read())
        self.assertTrue(self.in_scan.wait(WAIT))
        # Should ensure wait for the scan, this ends it, too late.
        safety = threading.Timer(WAIT, self.release.set)
        safety.start()
        self.addCleanup(safety.cancel)
        self.tracker.added(G)
        self.tracker.ensure(reading(0))  # figures exist: no wait, no read
        figures = self.tracker.figures()
        self.assertFalse(self.release.is_set(), 'ensure waited for the scan')
        self.assertEqual(11 * G, figures.provisioned_bytes)
        self.release.set()
