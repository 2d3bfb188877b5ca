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

"""Clone-parent releases that finish after ``delete_volume`` returned.

Dropping a deleted clone's ``<clone>.clone_snap`` snapshot on its parent
removes a snapshot, which waits for the monitors to retire its id: about
as long as removing the clone itself. Nothing the caller sees depends on
it, so the delete returns once the clone is gone and the release runs in
the background (a green thread under eventlet, a thread otherwise).

Work on the parent itself first waits for the releases pending on it, so
it never races them: a migration waits; a delete renames the parent
``.deleted`` and removes it in the background once they ended. Work lost
to a crash leaves a childless clone snapshot, which the parent's own
delete drops, or a ``.deleted`` parent, which the purge task finishes.
"""

import threading
import typing

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

ImageKey = tuple[str, str]  # (pool, image)


class PendingReleases(object):
    """Background releases, counted per parent image."""

    def __init__(self) -> None:
        # Made at run time, not import: green under eventlet.
        self._lock = threading.Lock()
        self._pending: dict[ImageKey, list] = {}  # key -> [count, Event]

    def start(self, parent: ImageKey, func: typing.Callable,
              *args) -> None:
        """Run ``func(*args)``, a release of ``parent``, in the background."""
        with self._lock:
            entry = self._pending.setdefault(parent, [0, threading.Event()])
            entry[0] += 1
        threading.Thread(target=self._run, args=(parent, func, args),
                         name='release %s/%s' % parent, daemon=True).start()

    def _run(self, parent: ImageKey, func: typing.Callable,
             args: tuple) -> None:
        try:
            func(*args)
        except Exception as error:
            # Not lost: the parent's delete or the purge task drop what
            # this left.
            LOG.warning('Releasing clone parent %s/%s failed, left for '
                        'its delete or the trash purge: %s', parent[0],
                        parent[1], error)
        finally:
            with self._lock:
                entry = self._pending[parent]
                entry[0] -= 1
                if not entry[0]:
                    del self._pending[parent]
                    entry[1].set()

    def pending(self, parent: ImageKey) -> bool:
        with self._lock:
            return parent in self._pending

    def wait(self, parent: ImageKey, timeout: float) -> bool:
        """Wait for the releases pending on ``parent``; False on timeout."""
        with self._lock:
            entry = self._pending.get(parent)
        if entry is None:
            return True
        if not entry[1].wait(timeout):
            LOG.warning('Releases on %s/%s still running after %s s',
                        parent[0], parent[1], timeout)
            return False
        return True

    def wait_all(self, timeout: float) -> bool:
        """Wait for every pending release (tests, benchmarks, shutdown)."""
        with self._lock:
            keys = list(self._pending)
        return all([self.wait(key, timeout) for key in keys])
