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

"""Header reads without an image open, and the delete that uses them."""

import errno

from unittest import mock

from cinder_ext.ceph import bindings
from cinder_ext.ceph import header
from cinder_ext.ceph import images
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_cls
from cinder_ext.tests.unit import fake_errors

GiB = 1024 ** 3


class _FakePoolTestCase(base.TestCase):
    """Pools ``volumes`` and ``images`` on a fake cluster."""

    def setUp(self):
        super(_FakePoolTestCase, self).setUp()
        self.cluster = self.use_fake_ceph(pools=('volumes', 'images'))
        self.handle = bindings.rados.Rados(conffile='')
        self.handle.connect()
        self.ioctx = self.handle.open_ioctx('volumes')
        self.rbd = bindings.rbd.RBD()

    def _image(self, name, size=GiB, ioctx=None):
        self.rbd.create(ioctx or self.ioctx, name, size, old_format=False)

    def _snap(self, name, snap, ioctx=None):
        with bindings.rbd.Image(ioctx or self.ioctx, name) as image:
            image.create_snap(snap)
            image.protect_snap(snap)

    def _opens(self):
        return self.cluster.calls['open']


class HeaderTestCase(_FakePoolTestCase):

    def test_plain_image(self):
        self._image('volume-a', 3 * GiB)
        facts = header.read(self.ioctx, 'volume-a')
        self.assertEqual(header.HeaderFacts(size=3 * GiB, snap_count=0,
                                            parent=None), facts)
        self.assertEqual(0, self._opens())

    def test_clone_parent_matches_an_open(self):
        self._image('volume-a')
        self._snap('volume-a', 'volume-b.clone_snap')
        self.rbd.clone(self.ioctx, 'volume-a', 'volume-b.clone_snap',
                       self.ioctx, 'volume-b')
        facts = header.read(self.ioctx, 'volume-b')
        self.assertEqual(('volumes', 'volume-a', 'volume-b.clone_snap'),
                         facts.parent)
        self.assertEqual(images.inspect(self.ioctx, 'volume-b').parent,
                         facts.parent)
        self.assertEqual(1, header.read(self.ioctx, 'volume-a').snap_count)

    def test_parent_in_another_pool_is_left_to_an_open(self):
        glance = self.handle.open_ioctx('images')
        self._image('img', ioctx=glance)
        self._snap('img', 'snap', ioctx=glance)
        self.rbd.clone(glance, 'img', 'snap', self.ioctx, 'volume-c')
        self.assertRaises(header.Unreadable, header.read, self.ioctx,
                          'volume-c')

    def test_missing_image(self):
        self.assertRaises(header.Unreadable, header.read, self.ioctx,
                          'volume-none')

    def test_method_missing_on_the_osd(self):
        self._image('volume-a')
        self.cluster.fail('execute', fake_errors.ERRORS['rados']['OSError'](
            'no such method', errno.EOPNOTSUPP))
        self.assertRaises(header.Unreadable, header.read, self.ioctx,
                          'volume-a')

    def test_timeout_is_not_hidden(self):
        # An open would wait out the deadline a second time.
        self._image('volume-a')
        self.cluster.fail('execute', fake_errors.ERRORS['rados']['TimedOut'](
            'osd hung', errno.ETIMEDOUT))
        self.assertRaises(bindings.TimedOut, header.read, self.ioctx,
                          'volume-a')

    def test_dead_connection_is_not_hidden(self):
        self._image('volume-a')
        self.cluster.fail('execute', fake_errors.ERRORS['rados'][
            'ConnectionShutdown']('blocklisted', errno.ESHUTDOWN))
        self.assertRaises(bindings.ConnectionShutdown, header.read,
                          self.ioctx, 'volume-a')

    def test_undecodable_reply(self):
        self._image('volume-a')
        with mock.patch.object(fake_cls, 'execute',
                               return_value=(3, b'\x09\x00\x00')):
            self.assertRaises(header.Unreadable, header.read, self.ioctx,
                              'volume-a')


class RemoveUnlessSnapshottedTestCase(_FakePoolTestCase):

    def test_removes_without_an_open(self):
        self._image('volume-a', 2 * GiB)
        info, removed = images.remove_unless_snapshotted(self.ioctx,
                                                         'volume-a')
        self.assertTrue(removed)
        self.assertEqual((2 * GiB, [], 0, None),
                         (info.size, info.snaps, info.hidden_snaps,
                          info.parent))
        self.assertEqual(0, self._opens())
        self.assertEqual([], self.cluster.image_names())

    def test_clone_reports_its_parent(self):
        self._image('volume-a')
        self._snap('volume-a', 'volume-b.clone_snap')
        self.rbd.clone(self.ioctx, 'volume-a', 'volume-b.clone_snap',
                       self.ioctx, 'volume-b')
        info, removed = images.remove_unless_snapshotted(self.ioctx,
                                                         'volume-b')
        self.assertTrue(removed)
        self.assertEqual(('volumes', 'volume-a', 'volume-b.clone_snap'),
                         info.parent)

    def test_unreadable_header_falls_back_to_an_open(self):
        self._image('volume-a', 2 * GiB)
        self.cluster.fail('execute', fake_errors.ERRORS['rados']['OSError'](
            'no such method', errno.EOPNOTSUPP))
        info, removed = images.remove_unless_snapshotted(self.ioctx,
                                                         'volume-a')
        self.assertTrue(removed)
        self.assertEqual(2 * GiB, info.size)
        self.assertEqual(1, self._opens())

    def test_snapshotted_image_is_read_in_full_and_kept(self):
        self._image('volume-a')
        self._snap('volume-a', 'keep')
        info, removed = images.remove_unless_snapshotted(self.ioctx,
                                                         'volume-a')
        self.assertFalse(removed)
        self.assertEqual(['keep'], [s['name'] for s in info.snaps])
        self.assertEqual(['volume-a'], self.cluster.image_names())

    def test_snapshot_taken_after_the_read(self):
        self._image('volume-a')
        real_read = header.read

        def read_then_snapshot(ioctx, name):
            facts = real_read(ioctx, name)
            self._snap(name, 'late')
            return facts
        with mock.patch.object(header, 'read', read_then_snapshot):
            info, removed = images.remove_unless_snapshotted(self.ioctx,
                                                             'volume-a')
        self.assertFalse(removed)
        self.assertEqual(['late'], [s['name'] for s in info.snaps])

    def test_timeout_does_not_fall_back_to_an_open(self):
        self._image('volume-a')
        self.cluster.fail('execute', fake_errors.ERRORS['rados']['TimedOut'](
            'osd hung', errno.ETIMEDOUT))
        self.assertRaises(bindings.TimedOut,
                          images.remove_unless_snapshotted, self.ioctx,
                          'volume-a')
        self.assertEqual(0, self._opens())
        self.assertEqual(['volume-a'], self.cluster.image_names())

    def test_missing_image(self):
        self.assertRaises(bindings.ImageNotFound,
                          images.remove_unless_snapshotted, self.ioctx,
                          'volume-none')
