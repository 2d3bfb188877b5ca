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
"""Concurrency: the hub stays responsive, parallel requests stay correct.

Under eventlet a librados/librbd call made on the hub freezes every
greenthread, RPC heartbeats included. The checks here use calls that take
seconds (a connect to an unreachable monitor, a flatten of a clone with
data) while a ticker greenthread measures how late it wakes up.
"""

import concurrent.futures
import os
import time

from cinder import exception
import fixtures

from cinder_ext.tests.functional import base


class Ticker(object):
    """Records the worst lateness of a 10 ms sleep loop (eventlet only)."""

    def __init__(self):
        import eventlet
        self.worst = 0.0
        self._running = True
        self._thread = eventlet.spawn(self._run)
        # Let it start ticking before the caller begins its operation.
        eventlet.sleep(0.05)

    def _run(self):
        import eventlet
        while self._running:
            start = time.monotonic()
            eventlet.sleep(0.01)
            self.worst = max(self.worst, time.monotonic() - start - 0.01)

    def stop(self):
        self._running = False
        self._thread.wait()
        return self.worst


def run_parallel(func, items):
    """Run ``func`` on every item at once, greenthreads or threads."""
    if base.expected_mode() == 'eventlet':
        import eventlet
        pool = eventlet.GreenPool(len(items))
        return list(pool.imap(func, items))
    with concurrent.futures.ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(func, items))


class TestHubNeverBlocks(base.DriverTestCase):
    def setUp(self):
        super(TestHubNeverBlocks, self).setUp()
        if base.expected_mode() != 'eventlet':
            # Native threads have no hub; the parallel tests below cover
            # this mode.
            self.hub = False
        else:
            self.hub = True

    def test_connect_to_unreachable_cluster(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        conf = os.path.join(tmp, 'ceph.conf')
        with open(conf, 'w') as out:
            out.write('[global]\nmon_host = 127.0.0.1:1\n')
        ticker = Ticker() if self.hub else None
        start = time.monotonic()
        self.assertRaises(exception.VolumeBackendAPIException,
                          self.make_driver, group='unreachable',
                          rbd_ceph_conf=conf, rados_connect_timeout=2,
                          rados_connection_retries=1)
        self.assertGreaterEqual(time.monotonic() - start, 1.5)
        if ticker:
            self.assertLess(ticker.stop(), 0.5)

    def test_flatten_runs_off_the_hub(self):
        drv = self.make_driver(group='flat',
                               rbd_flatten_volume_from_snapshot=True)
        vol = self.volume()
        drv.create_volume(vol)
        chunk = os.urandom(4 * 1024 * 1024)
        for index in range(32):  # 128 MiB of data to copy up on flatten
            self.write_pattern(vol.name, chunk, index * len(chunk))
        snap = self.snapshot(vol)
        drv.create_snapshot(snap)
        clone = self.volume()
        ticker = Ticker() if self.hub else None
        drv.create_volume_from_snapshot(clone, snap)
        if ticker:
            self.assertLess(ticker.stop(), 0.2)
        self.assertIsNone(self.parent_of(clone.name))
        self.assertEqual(chunk[:16], self.read(clone.name, 16))
        for step in (lambda: drv.delete_volume(clone),
                     lambda: drv.delete_snapshot(snap),
                     lambda: drv.delete_volume(vol)):
            step()


class TestParallelRequests(base.DriverTestCase):
    def test_parallel_lifecycles_share_one_connection(self):
        drv = self.make_driver(group='parallel')

        def lifecycle(vol):
            drv.create_volume(vol)
            snap = self.snapshot(vol)
            drv.create_snapshot(snap)
            clone = self.volume()
            drv.create_volume_from_snapshot(clone, snap)
            copy = self.volume()
            copy.source_volid = vol.id  # as Cinder records it
            drv.create_cloned_volume(copy, vol)
            drv.extend_volume(clone, 2)
            info = drv.initialize_connection(clone, {})
            drv.delete_volume(copy)
            drv.delete_volume(clone)
            drv.delete_snapshot(snap)
            drv.delete_volume(vol)
            return info['data']['name']

        vols = [self.volume() for _ in range(16)]
        names = run_parallel(lifecycle, vols)
        self.assertEqual(16, len(set(names)))
        self.assertEqual(1, drv._backend.client.connects)
