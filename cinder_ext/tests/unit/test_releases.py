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

import dataclasses
import threading

import fixtures

from cinder_ext.tests.unit import base
from cinder_ext.volume import releases

# The unit base runs releases inline; these tests need the real thing.
REAL_START = releases.PendingReleases.start
PARENT = ('volumes', 'volume-a')


class PendingReleasesTestCase(base.TestCase):

    def setUp(self):
        super(PendingReleasesTestCase, self).setUp()
        self.pending = releases.PendingReleases()

    def test_runs_in_background_and_wait_sees_the_end(self):
        gate = threading.Event()
        done = []
        self.pending.start(PARENT, lambda: (gate.wait(10), done.append(1)))
        self.assertEqual([], done)  # start returned before the work ran
        self.assertFalse(self.pending.wait(PARENT, 0.01))
        gate.set()
        self.assertTrue(self.pending.wait(PARENT, 10))
        self.assertEqual([1], done)

    def test_wait_without_pending_work(self):
        self.assertTrue(self.pending.wait(PARENT, 0))
        self.assertTrue(self.pending.wait_all(0))

    def test_wait_covers_every_release_of_the_parent(self):
        gates = [threading.Event(), threading.Event()]
        for gate in gates:
            self.pending.start(PARENT, gate.wait, 10)
        gates[0].set()
        self.assertFalse(self.pending.wait(PARENT, 0.05))
        gates[1].set()
        self.assertTrue(self.pending.wait(PARENT, 10))

    def test_other_parents_do_not_wait(self):
        gate = threading.Event()
        self.pending.start(('volumes', 'volume-b'), gate.wait, 10)
        self.assertTrue(self.pending.wait(PARENT, 0))
        self.assertFalse(self.pending.wait_all(0.01))
        gate.set()
        self.assertTrue(self.pending.wait_all(10))

    def test_failure_is_logged_and_clears(self):
        def fail():
            raise RuntimeError('mon gone')
        self.pending.start(PARENT, fail)
        self.assertTrue(self.pending.wait(PARENT, 10))
        self.assertIn('Releasing clone parent volumes/volume-a failed',
                      self.logs.output)
        self.assertIn('mon gone', self.logs.output)


class DeleteReleasesLaterTestCase(base.DriverTestCase):
    """delete_volume returns before its clone parent is released."""

    def setUp(self):
        super(DeleteReleasesLaterTestCase, self).setUp()
        self.useFixture(fixtures.MockPatch(
            'cinder_ext.volume.releases.PendingReleases.start', REAL_START))
        self.drv = self.make_driver()
        self.src = self.volume()
        self.drv.create_volume(self.src)
        self.clone = self.volume()
        self.drv.create_cloned_volume(self.clone, self.src)
        self.snap = self.clone.name + '.clone_snap'

    def hold_releases(self):
        """Block the release until the returned event is set."""
        gate = threading.Event()
        real = releases.PendingReleases._run

        def held(pending, *args):
            gate.wait(10)
            real(pending, *args)
        self.useFixture(fixtures.MockPatch(
            'cinder_ext.volume.releases.PendingReleases._run', held))
        return gate

    def test_clone_gone_at_return_parent_snapshot_later(self):
        gate = self.hold_releases()
        self.drv.delete_volume(self.clone)
        self.assertNotIn(self.clone.name, self.cluster.image_names())
        self.assertEqual([self.snap], self.cluster.snap_names(self.src.name))
        gate.set()
        self.assertTrue(self.drv._backend.releases.wait_all(10))
        self.assertEqual([], self.cluster.snap_names(self.src.name))

    def test_parent_deleted_meanwhile_is_handed_over(self):
        gate = self.hold_releases()
        self.drv.delete_volume(self.clone)
        # Returns at once: the name is gone, the image waits as .deleted.
        self.drv.delete_volume(self.src)
        self.assertEqual([self.src.name + '.deleted'],
                         self.cluster.image_names())
        gate.set()
        self.assertTrue(self.drv._backend.releases.wait_all(10))
        self.assertEqual([], self.cluster.image_names())

    def test_parent_delete_copes_with_a_late_release(self):
        gate = self.hold_releases()
        self.drv.delete_volume(self.clone)
        backend = self.drv._backend
        backend.spec = dataclasses.replace(backend.spec, timeout=0)
        self.drv._backend.releases.pending = lambda key: False
        self.drv.delete_volume(self.src)  # drops the childless snapshot
        gate.set()
        self.assertTrue(self.drv._backend.releases.wait_all(10))
        self.assertEqual([], self.cluster.image_names())
