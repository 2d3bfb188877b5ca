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

"""Capacity and capability report for the scheduler, from memory.

``get_volume_stats`` reads the backend's capacity tracker
(:mod:`.capacity`), so it makes no Ceph call once figures exist, however
many images the pool holds. :func:`read` is what a reconcile reads: two
monitor commands (``df``, ``osd pool get-quota``) on the pooled
connection and, on a shared pool, one ``pool_stats_get`` (librbd reads
every image header; the in-tree driver opens every image in Python).
:class:`Reporter` runs reconciles in the background, early enough to keep
the figures younger than ``rbd_stats_max_age`` seconds (it warns when
they are not).
"""

import functools
import math

from oslo_log import log as logging
from oslo_utils import units

from cinder_ext.ceph import images
from cinder_ext.volume import capacity

LOG = logging.getLogger(__name__)


def pool_capacity(df, quota, pool_name, dynamic_total):
    """(free_gb, total_gb) for ``pool_name`` from ``df`` and its quota."""
    pool = next((p for p in df['pools'] if p['name'] == pool_name), None)
    if pool is None:
        raise LookupError('pool %r not in "ceph df" output' % pool_name)
    stats = pool['stats']
    # Nautilus renamed bytes_used to stored.
    used = stats.get('stored', stats.get('bytes_used', 0))
    max_avail = stats['max_avail']
    quota_bytes = (quota or {}).get('quota_max_bytes') or 0
    if quota_bytes:
        total = quota_bytes
        free = max(min(total - used, max_avail), 0)
    else:
        total = df['stats']['total_bytes']
        free = max_avail
    if dynamic_total:
        total = free + used
    return (round(float(free) / units.Gi, 2),
            round(float(total) / units.Gi, 2))


def gb_rounded_up(size_bytes: int) -> int:
    return int(math.ceil(float(size_bytes) / units.Gi))


def read(backend) -> capacity.Reading:
    """Everything a reconcile needs, read from Ceph (off the hub)."""
    with backend.session() as session:
        df = session.mon_command('df')
        quota = session.mon_command('osd pool get-quota', pool=backend.pool)
        free, total = pool_capacity(df, quota, backend.pool,
                                    backend.conf.safe_get(
                                        'report_dynamic_total_capacity'))
        provisioned = None
        # Exclusive pools: Cinder's allocated_capacity_gb is exact already.
        if backend.capacity.track_provisioned:
            provisioned = session.run(images.pool_stats, session.ioctx(
                backend.pool))['image_provisioned_bytes']
    return capacity.Reading(free, total, provisioned)


class Reporter(object):
    """The capacity part of ``get_volume_stats``, and its reconciles.

    ``max_age`` (rbd_stats_max_age): figures older than that are still
    reported (stale numbers steer the scheduler better than 'unknown'),
    with a warning; 0 reads Ceph on every poll instead.
    """

    def __init__(self, backend, max_age: int) -> None:
        self.backend = backend
        self.max_age = max_age
        self._stale = False

    @property
    def background(self) -> bool:
        """Whether a background task must keep the figures fresh."""
        return bool(self.max_age)

    def reconcile_periodically(self) -> float:
        """Body of the background task; returns the seconds to sleep.

        Reads only when due: figures read meanwhile (the first stats poll)
        are not read again at once.
        """
        tracker = self.backend.capacity
        if tracker.due_in(self.max_age) < capacity.MIN_GAP:
            self._reconcile(tracker.reconcile)
        return tracker.pause(self.max_age)

    def _reconcile(self, how, **kwargs) -> None:
        try:
            how(functools.partial(read, self.backend), **kwargs)
        except Exception as error:
            # The stats then say 'down', the scheduler works on with
            # unknown capacities, and the next reconcile tries again.
            LOG.warning('Could not refresh stats of pool %s: %s',
                        self.backend.pool, error)

    def report(self, base: dict) -> dict:
        """``base`` (static fields) with the capacity figures filled in."""
        tracker = self.backend.capacity
        if not self.max_age:
            self._reconcile(tracker.reconcile, wait=True)
        else:
            self._reconcile(tracker.ensure)  # no Ceph call once figures exist
        figures = tracker.figures()
        stats = dict(base)
        if figures is None or figures.error:
            stats.update(backend_state='down', total_capacity_gb='unknown',
                         free_capacity_gb='unknown')
        else:
            self._check_age(figures.age)
            stats.update(backend_state='up', free_capacity_gb=figures.free_gb,
                         total_capacity_gb=figures.total_gb)
        if figures is not None and figures.provisioned_bytes is not None:
            stats['provisioned_capacity_gb'] = gb_rounded_up(
                figures.provisioned_bytes)
        return stats

    def _check_age(self, age: float) -> None:
        """Say once when figures get older than promised, and when not."""
        stale = bool(self.max_age) and age > self.max_age
        if stale and not self._stale:
            LOG.warning('Capacity figures of pool %s are %.0f s old, older '
                        'than rbd_stats_max_age=%d s: the background '
                        'reconcile is slow or not running (each one is '
                        'logged when it fails)', self.backend.pool, age,
                        self.max_age)
        elif self._stale and not stale:
            LOG.info('Capacity figures of pool %s are fresh again',
                     self.backend.pool)
        self._stale = stale
