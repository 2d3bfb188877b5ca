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
"""Outages on the real test bed: a hung monitor, a hung or restarting OSD.

Daemons are hung with SIGSTOP and always resumed (SIGCONT) in a ``finally``
and a cleanup, because other tests share the cluster; hangs last seconds.
The drivers here use a small ``rados_connect_timeout`` so the deadline
checks are quick; the OSD restart runs with the default deadline, since
that is what must not fail operations while placement groups peer.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

from cinder import exception
from testtools import content

from cinder_ext.tests.functional import base

# rados_connect_timeout of the hang tests, and what the test allows on top
# of it (thread start, the driver's own work, a loaded 2-core box).
DEADLINE = 5
SLACK = 3
# Longest a daemon stays stopped, whatever happens: the cluster is shared.
MAX_HANG = 25


def _daemon_pid(name):
    """pid of the test bed's ``name`` daemon (e.g. 'osd.0'), or None."""
    path = os.path.join(base.CEPH_DIR, 'run', 'ceph-%s.pid' % name)
    try:
        with open(path) as pid_file:
            pid = int(pid_file.read().strip())
        with open('/proc/%d/cmdline' % pid, 'rb') as cmdline:
            argv = cmdline.read().split(b'\0')
    except (OSError, ValueError):
        return None
    kind = name.split('.')[0]
    return pid if argv[0].endswith(b'ceph-' + kind.encode()) else None


def _resume(pid):
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _wait_process(argv, limit):
    """Run ``argv`` to completion without blocking the eventlet hub."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    end = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


def _ceph_up():
    return _wait_process(
        ['bash', os.path.join(base.REPO, 'tools/ceph/ceph-up.sh')], 300)


class Callers(object):
    """Run ``func(item)`` for every item at once; time each call.

    ``threading`` is green under eventlet, so this is greenthreads there
    and native threads otherwise, as in cinder-volume.
    """

    def __init__(self, func, items):
        self.results = [None] * len(items)  # (seconds, error or None)
        self._threads = [threading.Thread(target=self._run,
                                          args=(func, index, item))
                         for index, item in enumerate(items)]
        for thread in self._threads:
            thread.start()

    def _run(self, func, index, item):
        start = time.monotonic()
        try:
            func(item)
        except Exception as error:
            self.results[index] = (time.monotonic() - start, error)
        else:
            self.results[index] = (time.monotonic() - start, None)

    def wait(self, limit):
        """True if every call ended within ``limit`` seconds from now."""
        end = time.monotonic() + limit
        while (time.monotonic() < end and
               not all(self.results)):
            time.sleep(0.05)
        return all(self.results)

    def join(self):
        for thread in self._threads:
            thread.join()


class OutageTestCase(base.DriverTestCase):

    @contextlib.contextmanager
    def stopped(self, name, limit=MAX_HANG):
        """SIGSTOP the test bed's ``name`` daemon; always SIGCONT it.

        A watchdog resumes it after ``limit`` seconds even if the code
        under test is stuck in the block (as it was before single flight).
        """
        pid = _daemon_pid(name)
        self.assertIsNotNone(pid, '%s is not running' % name)
        self.addCleanup(_resume, pid)
        watchdog = threading.Timer(limit, _resume, (pid,))
        os.kill(pid, signal.SIGSTOP)
        watchdog.start()
        try:
            yield pid
        finally:
            watchdog.cancel()
            _resume(pid)

    def figure(self, name, text):
        self.addDetail(name, content.text_content(text))
        sys.stderr.write('\n[figure] %s (%s): %s\n'
                         % (name, base.expected_mode(), text))

    def wait_recovered(self, drv, hold):
        """Seconds until a create/delete works again (Ceph is back)."""
        start = time.monotonic()
        while True:
            vol = self.volume()
            try:
                drv.create_volume(vol)
            except exception.VolumeBackendAPIException:
                self.assertLess(time.monotonic() - start, 60,
                                'no recovery after the outage')
                time.sleep(hold)
                continue
            drv.delete_volume(vol)
            return time.monotonic() - start


class TestMonitorHung(OutageTestCase):

    def test_parallel_callers_fail_fast_and_recover(self):
        hold = 3
        drv = self.make_driver(group='monhung',
                               rados_connect_timeout=DEADLINE,
                               rados_connection_retries=3,
                               rados_connection_interval=1,
                               rados_connect_failure_hold=hold,
                               # Stats read Ceph on each poll and no
                               # background reconcile connects meanwhile.
                               rbd_stats_max_age=0)
        client = drv._backend.client
        client.close()  # the next operation has to connect
        attempts = client.attempts
        vols = [self.volume() for _ in range(6)]
        for vol in vols:
            # Only callers that wrongly waited for the monitor create one.
            self.addCleanup(drv.delete_volume, vol)
        with self.stopped('mon.a'):
            callers = Callers(drv.create_volume, vols)
            # Before single flight, with the deadline per attempt, the
            # sixth caller waited 6 x (3 x 5 + 2 x 1) s: cut it short.
            finished = callers.wait(DEADLINE + 2 * SLACK)
            if finished:
                late = time.monotonic()
                self.assertRaises(exception.VolumeBackendAPIException,
                                  drv.create_volume, self.volume())
                late = time.monotonic() - late
                stats = drv.get_volume_stats(refresh=True)
        callers.join()
        self.assertTrue(finished, 'callers still waiting after %d s'
                        % (DEADLINE + 2 * SLACK))
        times = sorted(seconds for seconds, _error in callers.results)
        self.figure('monitor hung', '6 parallel callers: slowest %.1f s, '
                    'fastest %.1f s; caller within the failure hold %.2f s;'
                    ' connect attempts %d'
                    % (times[-1], times[0], late, client.attempts - attempts))
        errors = [error for _seconds, error in callers.results]
        for error in errors:
            self.assertIsInstance(error, exception.VolumeBackendAPIException)
            self.assertIn('could not reach Ceph cluster', str(error))
            self.assertIn('within %d s' % DEADLINE, str(error))
        self.assertLessEqual(times[-1], DEADLINE + SLACK)
        # One connect for all of them; later callers fail at once.
        self.assertEqual(1, client.attempts - attempts)
        self.assertLess(late, 1)
        self.assertEqual('down', stats['backend_state'])
        self.figure('monitor resumed', 'create+delete works again after '
                    '%.1f s' % self.wait_recovered(drv, hold))


class TestTimeoutKeepsConnection(OutageTestCase):

    def test_hung_osd_times_out_and_connection_survives(self):
        drv = self.make_driver(group='osdhung',
                               rados_connect_timeout=DEADLINE)
        client = drv._backend.client
        before = client.connects
        vol = self.volume()
        with self.stopped('osd.0'):
            start = time.monotonic()
            error = self.assertRaises(exception.VolumeBackendAPIException,
                                      drv.create_volume, vol)
            took = time.monotonic() - start
        self.figure('osd hung', 'create_volume failed after %.1f s: %s'
                    % (took, error))
        self.assertIn('no answer from Ceph within %d s' % DEADLINE,
                      str(error))
        self.assertLessEqual(took, DEADLINE + SLACK)
        # The same handle serves the next call once the OSD answers.
        self.wait_recovered(drv, 1)
        drv.delete_volume(vol)
        self.assertEqual(before, client.connects)

    def test_hung_monitor_with_live_connection_keeps_it(self):
        # Stats that read Ceph on the poll, as a reconcile does.
        drv = self.make_driver(group='monslow',
                               rados_connect_timeout=DEADLINE,
                               rbd_stats_max_age=0)
        client = drv._backend.client
        before = client.connects
        with self.stopped('mon.a'):
            start = time.monotonic()
            stats = drv.get_volume_stats(refresh=True)
            took = time.monotonic() - start
        self.assertEqual('down', stats['backend_state'])
        self.assertLessEqual(took, DEADLINE + SLACK)
        self.wait_recovered(drv, 1)
        self.assertEqual(before, client.connects)


class TestOsdRestart(OutageTestCase):

    def test_osd_restart_under_load_fails_nothing(self):
        # Default deadline (rados_connect_timeout = -1): what operators get.
        drv = self.make_driver(group='osdrestart', rados_connect_timeout=-1)
        self.addCleanup(self._ensure_osd)
        stop = threading.Event()
        slowest = [0.0]
        done = [0]

        def loop(_index):
            while not stop.is_set():
                vol = self.volume()
                for step in (drv.create_volume, drv.delete_volume):
                    start = time.monotonic()
                    step(vol)
                    slowest[0] = max(slowest[0], time.monotonic() - start)
                    done[0] += 1

        loops = Callers(loop, range(4))
        time.sleep(2)
        pid = _daemon_pid('osd.0')
        self.assertIsNotNone(pid, 'osd.0 is not running')
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 60
        while os.path.exists('/proc/%d' % pid) and time.monotonic() < end:
            time.sleep(0.2)
        time.sleep(5)
        self.assertEqual(0, _ceph_up(), 'ceph-up.sh could not restart osd.0')
        self.assertNotIn(_daemon_pid('osd.0'), (None, pid))
        time.sleep(3)
        stop.set()
        self.assertTrue(loops.wait(120), 'create/delete loops hang')
        loops.join()
        self.figure('osd restart', '4 create/delete loops, %d operations, '
                    'slowest %.1f s' % (done[0], slowest[0]))
        self.assertEqual([None] * 4,
                         [error for _seconds, error in loops.results])

    def _ensure_osd(self):
        if _daemon_pid('osd.0') is None:
            self.assertEqual(0, _ceph_up())
