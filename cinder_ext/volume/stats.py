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

"""Capacity and capability report for the scheduler.

Per poll: two monitor commands (``df``, ``osd pool get-quota``) on the
pooled connection; on a shared pool one ``pool_stats_get`` call instead of
opening every image in Python as the in-tree driver does.
"""

import math

from oslo_utils import units

from cinder_ext.ceph import images


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


def provisioned_gb(session, ioctx):
    """Sum of image sizes in the pool, in GiB, rounded up."""
    stats = session.run(images.pool_stats, ioctx)
    return int(math.ceil(float(stats['image_provisioned_bytes']) /
                         units.Gi))


def collect(backend, base):
    """Fill capacities into ``base`` (a dict with static fields)."""
    conf = backend.conf
    stats = dict(base)
    with backend.session() as session:
        df = session.mon_command('df')
        quota = session.mon_command('osd pool get-quota', pool=backend.pool)
        free, total = pool_capacity(df, quota, backend.pool,
                                    conf.safe_get(
                                        'report_dynamic_total_capacity'))
        stats['free_capacity_gb'] = free
        stats['total_capacity_gb'] = total
        # Exclusive pools: Cinder's allocated_capacity_gb is exact already.
        if not conf.safe_get('rbd_exclusive_cinder_pool'):
            stats['provisioned_capacity_gb'] = provisioned_gb(
                session, session.ioctx(backend.pool))
    stats['backend_state'] = 'up'
    return stats
