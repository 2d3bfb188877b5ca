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

"""Image and snapshot naming shared with the in-tree driver."""

import ddt

from cinder_ext.tests.unit import base
from cinder_ext.volume import names

VOL = 'volume-0c7a5c5e-2a33-4bbd-9f47-9b1d1c0e7d11'
DST = 'volume-7d1f1e5b-7ab4-4c6f-b0c0-3f3bb35a0b22'


@ddt.ddt
class NamesTestCase(base.TestCase):

    @ddt.unpack
    @ddt.data(
        (DST, DST + '.clone_snap', True),
        # A clone whose own source was deleted keeps its parent link.
        (DST + '.deleted', DST + '.clone_snap', True),
        # Clones of user snapshots and Glance images do not count.
        (DST, 'snapshot-1234', False),
        (DST, 'snap', False),
        # Another volume's clone snapshot on the same parent.
        (DST, VOL + '.clone_snap', False),
        (DST + '.deleted', VOL + '.clone_snap', False),
        (DST, DST + '.deleted.clone_snap', False),
        (DST, None, False),
    )
    def test_is_cinder_clone(self, image, parent_snap, expected):
        self.assertIs(expected, names.is_cinder_clone(image, parent_snap))

    @ddt.unpack
    @ddt.data(
        ('backup.0c7a5c5e-2a33-4bbd-9f47-9b1d1c0e7d11.snap.1712345678.12',
         True),
        ('backup.abc.snap.1', True),
        ('backup.abc.snap.', False),
        ('backup..snap.1', False),
        ('backup.ABC.snap.1', False),     # Cinder ids are lower case
        ('backup.abc_def.snap.1', False),
        ('xbackup.abc.snap.1', False),
        ('backup.abc.snapshot.1', False),
        ('snapshot-0c7a5c5e', False),
        (VOL + '.clone_snap', False),
        ('', False),
    )
    def test_is_backup_snap(self, name, expected):
        self.assertIs(expected, names.is_backup_snap(name))

    def test_clone_snap_and_deleted_names(self):
        self.assertEqual(DST + '.clone_snap', names.clone_snap(DST))
        self.assertTrue(names.is_clone_snap(names.clone_snap(DST)))
        self.assertFalse(names.is_clone_snap('snapshot-1'))
        self.assertEqual(VOL + '.deleted', names.deleted(VOL))

    @ddt.unpack
    @ddt.data((VOL, VOL), (VOL + '.deleted', VOL),
              (VOL + '.deleted.deleted', VOL + '.deleted'))
    def test_live_name(self, name, expected):
        self.assertEqual(expected, names.live_name(name))
