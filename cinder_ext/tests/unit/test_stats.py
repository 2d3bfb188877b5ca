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

"""Capacity reporting from ``ceph df`` and the pool quota."""

import ddt

from cinder_ext.tests.unit import base
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
