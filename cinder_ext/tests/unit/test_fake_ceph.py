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

"""The fakes themselves: librbd semantics the driver tests rely on."""

from cinder_ext.ceph import bindings
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph


class FixtureTestCase(base.TestCase):

    def test_installs_and_restores(self):
        real = {name: getattr(bindings, name)
                for name in list(fake_ceph.BINDINGS_ALIASES) +
                ['rados', 'rbd', 'DEAD_CONNECTION_ERRORS']}
        fixture = fake_ceph.FakeCephFixture()
        with fixture:
            self.assertTrue(bindings.available())
            self.assertIs(fixture.rbd, bindings.rbd)
            for alias, (module, name) in fake_ceph.BINDINGS_ALIASES.items():
                self.assertIs(getattr(getattr(fixture, module), name),
                              getattr(bindings, alias), alias)
            # No real rados/rbd exception class is left behind.
            for alias, value in vars(bindings).items():
                if isinstance(value, type) and issubclass(value,
                                                          BaseException):
                    self.assertIn(value.__module__,
                                  ('rados', 'rbd', bindings.__name__))
                    if value.__module__ != bindings.__name__:
                        self.assertIs(fake_ceph._ERRORS[value.__module__][
                            value.__name__], value, alias)
            for error in bindings.DEAD_CONNECTION_ERRORS:
                self.assertIs(fake_ceph._ERRORS[error.__module__][
                    error.__name__], error)
        for name, value in real.items():
            self.assertIs(value, getattr(bindings, name), name)

    def test_exceptions_look_real(self):
        error = fake_ceph.rbd_error('ImageNotFound', 'error opening image x')
        self.assertEqual('[errno 2] RBD image not found (error opening '
                         'image x)', str(error))
        self.assertIsInstance(error, fake_ceph.RBD_ERRORS['OSError'])
        self.assertIsInstance(error, fake_ceph.RBD_ERRORS['Error'])
        self.assertNotIsInstance(error, fake_ceph.RADOS_ERRORS['Error'])
        timed_out = fake_ceph.rados_error('TimedOut', 'connecting')
        self.assertEqual(110, timed_out.errno)
        self.assertIn('timed out', str(timed_out))


class LibrbdSemanticsTestCase(base.TestCase):

    def setUp(self):
        super(LibrbdSemanticsTestCase, self).setUp()
        self.cluster = self.use_fake_ceph()
        rados = bindings.rados.Rados(conffile=self.temp_file())
        rados.connect()
        self.ioctx = rados.open_ioctx('volumes')
        self.rbd = bindings.rbd.RBD()
        self.rbd.create(self.ioctx, 'parent', 1 << 30)

    def image(self, name='parent', **kwargs):
        return bindings.rbd.Image(self.ioctx, name, **kwargs)

    def test_remove_with_snapshot(self):
        with self.image() as image:
            image.create_snap('s')
        self.assertRaises(bindings.ImageHasSnapshots, self.rbd.remove,
                          self.ioctx, 'parent')

    def test_remove_while_open(self):
        with self.image():
            self.assertRaises(bindings.ImageBusy, self.rbd.remove,
                              self.ioctx, 'parent')
        self.rbd.remove(self.ioctx, 'parent')
        self.assertRaises(bindings.ImageNotFound, self.rbd.remove,
                          self.ioctx, 'parent')

    def test_protection(self):
        with self.image() as image:
            image.create_snap('s')
            image.protect_snap('s')
            self.assertRaises(bindings.ImageBusy, image.protect_snap, 's')
            self.assertRaises(bindings.ImageBusy, image.remove_snap, 's')
            self.rbd.clone(self.ioctx, 'parent', 's', self.ioctx, 'child')
            self.assertRaises(bindings.ImageBusy, image.unprotect_snap, 's')
            self.rbd.trash_move(self.ioctx, 'child', 0)
            # Clones in the trash still hold the snapshot.
            self.assertRaises(bindings.ImageBusy, image.unprotect_snap, 's')
            self.assertEqual(['child'], self.cluster.trash_names())
        self.assertRaises(bindings.InvalidArgument, self._unprotect_twice)

    def _unprotect_twice(self):
        self.rbd.create(self.ioctx, 'other', 1 << 20)
        with self.image('other') as image:
            image.create_snap('s')
            image.unprotect_snap('s')

    def test_clone_v1_needs_protection(self):
        with self.image() as image:
            image.create_snap('s')
        self.assertRaises(bindings.InvalidArgument, self.rbd.clone,
                          self.ioctx, 'parent', 's', self.ioctx, 'child')

    def test_clone_v2_snapshot_trash(self):
        self.cluster.require_min_compat_client = 'mimic'
        with self.image() as image:
            image.create_snap('s')
        self.rbd.clone(self.ioctx, 'parent', 's', self.ioctx, 'child')
        with self.image() as image:
            image.remove_snap('s')
            [snap] = image.list_snaps()
            self.assertEqual(2, snap['namespace'])
            self.assertEqual('s', snap['trash']['original_name'])
            self.assertRaises(bindings.ImageNotFound,
                              image.is_protected_snap, 's')
        self.assertRaises(bindings.ImageHasSnapshots, self.rbd.remove,
                          self.ioctx, 'parent')
        self.rbd.remove(self.ioctx, 'child')
        self.rbd.remove(self.ioctx, 'parent')
        self.assertEqual({}, self.cluster.contents())

    def test_parent_follows_rename_and_flatten(self):
        with self.image() as image:
            image.write(b'abc', 10)
            image.create_snap('s')
            image.protect_snap('s')
        self.rbd.clone(self.ioctx, 'parent', 's', self.ioctx, 'child')
        self.rbd.rename(self.ioctx, 'parent', 'parent.deleted')
        with self.image('child') as child:
            self.assertEqual(('volumes', 'parent.deleted', 's'),
                             child.parent_info())
            child.flatten()
            self.assertRaises(bindings.ImageNotFound, child.parent_info)
            self.assertRaises(bindings.InvalidArgument, child.flatten)
            self.assertEqual(b'abc', child.read(10, 3))

    def test_read_only(self):
        with self.image(read_only=True) as image:
            self.assertRaises(bindings.ReadOnlyImage, image.write, b'x', 0)
            self.assertRaises(bindings.ReadOnlyImage, image.create_snap, 's')
            self.assertRaises(bindings.ReadOnlyImage, image.resize, 1)

    def test_trash_deferment(self):
        self.rbd.trash_move(self.ioctx, 'parent', 60)
        [entry] = self.rbd.trash_list(self.ioctx)
        self.assertEqual('parent', entry['name'])
        self.assertRaises(bindings.RBDPermissionError, self.rbd.trash_remove,
                          self.ioctx, entry['id'])
        self.cluster.now += 60
        self.rbd.trash_remove(self.ioctx, entry['id'])
        self.assertEqual({}, self.cluster.contents())

    def test_image_config(self):
        with self.image() as image:
            image.config_set('rbd_qos_iops_limit', '100')
            listed = {e['name']: (e['value'], e['source'])
                      for e in image.config_list()}
            self.assertEqual(('100', fake_ceph.CONFIG_SOURCE_IMAGE),
                             listed['rbd_qos_iops_limit'])
            self.assertEqual(('0', fake_ceph.CONFIG_SOURCE_CONFIG),
                             listed['rbd_qos_bps_limit'])
            image.config_remove('rbd_qos_iops_limit')
            self.assertEqual('0', image.config_get('rbd_qos_iops_limit'))
            self.assertRaises(TypeError, image.config_set, 'rbd_cache', 1)

    def test_connect_needs_a_conf_file(self):
        rados = bindings.rados.Rados(conffile=None)
        self.assertRaises(bindings.ObjectNotFound, rados.connect)
        rados = bindings.rados.Rados(conffile='')
        rados.connect()
        self.assertRaises(bindings.RadosStateError, rados.connect)
