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

"""A backend's capacity figures, kept in memory between reconciles.

``get_volume_stats`` answers from here without calling Ceph. Two things
keep the figures current:

* The driver's own changes, recorded as each completes: an image created
  (plain, clone, copy, from a snapshot or a Glance image), grown, or gone
  from the pool's image list (removed, or moved to the RBD trash, which
  ``rbd_pool_stats_get`` does not count either). Only the provisioned
  bytes of a shared pool move: a new thin image takes no space, so free
  and total capacity are left to ``ceph df``.
* A reconcile: ``read()`` re-reads everything from Ceph and replaces the
  figures, which corrects any drift and picks up other clients' changes.
  At most one runs at a time.

Own changes recorded while a reconcile reads are ambiguous: librbd lists
the pool once, early in the scan, so the reading may or may not include
them. The rule: increases recorded during the scan are added on top of its
result, decreases are not. An overlapping change is thus counted once or
twice, and an image removed meanwhile may still be counted: the figure can
only err high, by at most the bytes of the overlapping changes (logged),
until the next reconcile. High is the safe side for the scheduler: it sees
less room, never more.
"""

import dataclasses
import threading
import time
from typing import Callable, Optional

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# A background reconcile never starts sooner than this after the previous
# one ended, nor sooner than the previous one lasted: reading Ceph takes at
# most half of the time, however large the pool.
MIN_GAP = 1.0


@dataclasses.dataclass(frozen=True)
class Reading:
    """What one reconcile read from Ceph."""

    free_gb: float
    total_gb: float
    provisioned_bytes: Optional[int] = None  # shared pools only


@dataclasses.dataclass(frozen=True)
class Figures:
    """The figures to report, and how far to trust them."""

    free_gb: float
    total_gb: float
    provisioned_bytes: Optional[int]  # own changes included
    age: float             # seconds since the last good reading began
    error: Optional[str]   # why the last reconcile failed, if it did


class CapacityTracker(object):
    """Thread-safe capacity figures of one backend; never calls Ceph."""

    def __init__(self, track_provisioned: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.track_provisioned = track_provisioned
        self._clock = clock
        # Created with the backend, after Cinder monkey patched: green
        # locks under eventlet. _lock is never held over a Ceph call.
        self._lock = threading.Lock()
        self._single = threading.Lock()  # one reconcile at a time
        self._reading: Optional[Reading] = None
        self._as_of = 0.0           # clock() when that reading began
        self._provisioned: Optional[int] = None
        self._overlap: Optional[list] = None  # [up, down] bytes mid-scan
        self._error: Optional[str] = None
        self._duration = 0.0        # of the last reconcile, seconds
        self._ended = 0.0           # clock() when it ended
        self._runs = 0              # reconciles ended, good or failed

    # -- own changes (hot path: no I/O) --------------------------------

    def added(self, size: int) -> None:
        """An image of ``size`` bytes appeared in the pool, or grew by it."""
        self._record(int(size))

    def removed(self, size: int) -> None:
        """An image of ``size`` bytes left the pool's image list."""
        self._record(-int(size))

    def _record(self, delta: int) -> None:
        if not self.track_provisioned or not delta:
            return
        with self._lock:
            # Before the first reading there is nothing to adjust: the
            # change is in the pool, so the first reading includes it.
            if self._provisioned is not None:
                self._provisioned += delta
            if self._overlap is not None:
                self._overlap[0 if delta > 0 else 1] += abs(delta)

    # -- reconciles ----------------------------------------------------

    def reconcile(self, read: Callable[[], Reading],
                  wait: bool = False) -> bool:
        """Replace the figures with ``read()``'s; False if one was running.

        ``wait``: wait for a running reconcile, then read anew. What
        ``read`` raises is raised; the figures then carry the error.
        """
        if not self._single.acquire(blocking=wait):
            return False
        try:
            self._run(read)
        finally:
            self._single.release()
        return True

    def ensure(self, read: Callable[[], Reading]) -> None:
        """Read unless figures exist.

        A reconcile in progress is waited for and its outcome, good or
        failed, is the answer: during an outage a poll then waits one
        deadline, not two.
        """
        if self.figures() is not None:
            return
        with self._lock:
            runs = self._runs
        with self._single:
            with self._lock:
                ran_meanwhile = self._runs != runs
            if self.figures() is None and not ran_meanwhile:
                self._run(read)

    def _run(self, read: Callable[[], Reading]) -> None:
        started = self._clock()
        with self._lock:
            self._overlap = [0, 0]
        try:
            reading = read()
        except Exception as error:
            with self._lock:
                self._overlap = None
                self._error = str(error) or type(error).__name__
                self._ended = self._clock()
                self._duration = self._ended - started
                self._runs += 1
            raise
        with self._lock:
            up, down = self._overlap
            self._overlap = None
            self._reading, self._as_of, self._error = reading, started, None
            self._ended = self._clock()
            self._duration = self._ended - started
            self._runs += 1
            if reading.provisioned_bytes is not None:
                self._provisioned = reading.provisioned_bytes + up
        if up or down:
            LOG.debug('Own changes during the capacity scan: +%d bytes kept '
                      'on top of it, -%d bytes not applied; provisioned may '
                      'be high by up to %d bytes until the next reconcile',
                      up, down, up + down)

    # -- reporting -----------------------------------------------------

    def figures(self) -> Optional[Figures]:
        """The current figures; None before the first good reading."""
        with self._lock:
            if self._reading is None:
                return None
            provisioned = self._provisioned
            if provisioned is not None:
                provisioned = max(provisioned, 0)
            return Figures(free_gb=self._reading.free_gb,
                           total_gb=self._reading.total_gb,
                           provisioned_bytes=provisioned,
                           age=self._clock() - self._as_of,
                           error=self._error)

    def due_in(self, max_age: float) -> float:
        """Seconds until the next reconcile is due; <= 0: now.

        Due soon enough to end before the figures are ``max_age`` old,
        if it lasts at most twice as long as the last one. After a failed
        reconcile, ``max_age`` after it ended: a failing cluster is not
        hammered. Before any attempt: now.
        """
        with self._lock:
            now = self._clock()
            if self._error is not None:
                return self._ended + max_age - now
            if self._reading is None:
                return 0.0
            return self._as_of + max_age - 2 * self._duration - now

    def pause(self, max_age: float) -> float:
        """How long a background task should sleep before looking again.

        Until the next reconcile is due, but never less than the last one
        lasted, nor than :data:`MIN_GAP`.
        """
        with self._lock:
            duration = self._duration
        return max(self.due_in(max_age), duration, MIN_GAP)
