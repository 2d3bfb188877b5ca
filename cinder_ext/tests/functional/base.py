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

"""Shared fixtures: the Ceph test bed, driver factories, leak checks.

The cluster is the project's own (tools/ceph/ceph-up.sh). If it is not
running the suite starts it; it never skips. Each test creates volumes with
fresh UUIDs and, on cleanup, asserts that no image, snapshot or trash entry
carrying one of those UUIDs is left in the pool, so tests stay independent
of anything else using the cluster.
"""

import os
import subprocess
import threading
import time
import uuid

from cinder import context
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as base_driver
from oslo_concurrency import processutils
from oslo_config import cfg
import testtools

from cinder_ext.ceph import bindings
from cinder_ext.ceph import connection
from cinder_ext.tests import functional
from cinder_ext.volume.drivers import rbd as ext_rbd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
CEPH_DIR = os.environ.get('CINDER_EXT_CEPH_DIR', '/var/tmp/cinder-ext-ceph')
CEPH_CONF = os.path.join(CEPH_DIR, 'ceph.conf')
POOL = 'volumes'
# The test bed's second pool (migration target); leak checks cover both.
POOL2 = 'volumes2'
# Glance's pool in the test bed (rbd_glance_store_pool); leak-checked too.
GLANCE_POOL = 'images'
TRASH_LIST_ATTEMPTS = 60
USER = 'cinder'

_cluster_lock = threading.Lock()
_cluster_ready = False
_conf_parsed = False


def ensure_cluster():
    """Start the test-bed cluster unless it already answers."""
    global _cluster_ready
    with _cluster_lock:
        if _cluster_ready:
            return
        status = subprocess.call(
            ['bash', os.path.join(REPO, 'tools/ceph/ceph-status.sh')])
        if status != 0:
            subprocess.check_call(
                ['bash', os.path.join(REPO, 'tools/ceph/ceph-up.sh')])
        _cluster_ready = True


def admin(*args):
    """Run a ``ceph`` CLI command as client.admin; return stdout."""
    return subprocess.check_output(
        ['ceph', '-c', CEPH_CONF, '--connect-timeout', '20'] + list(args),
        text=True)


def _parse_conf():
    global _conf_parsed
    if not _conf_parsed:
        cfg.CONF([], project='cinder')
        _conf_parsed = True


def make_configuration(group, driver_opts, **overrides):
    """A cinder backend Configuration with rbd settings for the test bed."""
    _parse_conf()
    conf = configuration.Configuration(base_driver.volume_opts,
                                       config_group=group)
    conf.append_config_values(driver_opts)
    values = dict(rbd_pool=POOL, rbd_user=USER, rbd_ceph_conf=CEPH_CONF,
                  volume_backend_name=group, rados_connect_timeout=20,
                  rados_connection_interval=1)
    values.update(overrides)
    return conf, values


class DriverTestCase(testtools.TestCase):
    """Base class: a ready cluster, a context, volume factories."""

    def setUp(self):
        super(DriverTestCase, self).setUp()
        ensure_cluster()
        self.ctx = context.get_admin_context()
        self.ids = []
        self.drivers = []
        self.addCleanup(self.assert_no_leaks)

    # -- drivers -------------------------------------------------------

    def _configure(self, driver_cls, group, **overrides):
        conf, values = make_configuration(
            group, driver_cls.get_driver_options(), **overrides)
        for key, value in values.items():
            cfg.CONF.set_override(key, value, group=group)
            self.addCleanup(cfg.CONF.clear_override, key, group=group)
        return conf

    def make_driver(self, group='ext', **overrides):
        """Our driver, set up and checked like cinder-volume does."""
        # A fresh connection pool per test keeps option changes effective.
        connection.close_all()
        self.addCleanup(connection.close_all)
        conf = self._configure(ext_rbd.RBDDriver, group, **overrides)
        drv = ext_rbd.RBDDriver(configuration=conf)
        drv.do_setup(self.ctx)
        drv.check_for_setup_error()
        self.addCleanup(drv._stop_periodic_tasks)
        self.drivers.append(drv)
        return drv

    def settle(self):
        """Wait for our drivers' background parent releases."""
        for drv in self.drivers:
            self.assertTrue(drv._backend.releases.wait_all(60),
                            'parent releases still running after 60 s')

    def make_intree_driver(self, group='intree', **overrides):
        """Cinder's own RBD driver from the installed cinder package."""
        from cinder.volume.drivers import rbd as intree_rbd
        conf = self._configure(intree_rbd.RBDDriver, group, **overrides)
        drv = intree_rbd.RBDDriver(configuration=conf)
        # Run the ceph CLI directly: no rootwrap/privsep in tests.
        drv._execute = processutils.execute
        drv.do_setup(self.ctx)
        drv.check_for_setup_error()
        return drv

    # -- objects -------------------------------------------------------

    def new_id(self):
        new = str(uuid.uuid4())
        self.ids.append(new)
        return new

    def volume(self, size=1, **kwargs):
        return fake_volume.fake_volume_obj(self.ctx, id=self.new_id(),
                                           size=size, **kwargs)

    def snapshot(self, volume):
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctx, id=self.new_id(), volume_id=volume.id,
            volume_size=volume.size)
        snap.volume = volume
        return snap

    # -- looking at the pool ------------------------------------------

    def rados(self, pool=POOL):
        """A raw admin connection for inspecting the pool."""
        if not hasattr(self, '_rados'):
            handle = bindings.rados.Rados(conffile=CEPH_CONF,
                                          rados_id='admin')
            handle.connect(timeout=20)
            self._rados = handle
            self._ioctxs = {}
        if pool not in self._ioctxs:
            self._ioctxs[pool] = self._rados.open_ioctx(pool)
        return self._ioctxs[pool]

    def _close_rados(self):
        if hasattr(self, '_rados'):
            for ioctx in self._ioctxs.values():
                ioctx.close()
            self._rados.shutdown()
            del self._rados

    def image_names(self, pool=POOL):
        return bindings.rbd.RBD().list(self.rados(pool))

    def open_image(self, name, snapshot=None, pool=POOL):
        return bindings.rbd.Image(self.rados(pool), name, snapshot=snapshot,
                                  read_only=True)

    def image_size(self, name):
        with self.open_image(name) as image:
            return image.size()

    def snap_names(self, name, pool=POOL):
        """User-visible snapshots (not v2 snapshots waiting in the trash)."""
        with self.open_image(name, pool=pool) as image:
            return sorted(s['name'] for s in image.list_snaps()
                          if s.get('namespace', 0) ==
                          bindings.SNAP_NAMESPACE_USER)

    def parent_of(self, name):
        with self.open_image(name) as image:
            try:
                return tuple(image.parent_info())
            except bindings.ImageNotFound:
                return None

    def trash_entries(self, pool=POOL):
        # python-rbd 16.2 raises IndexError listing a trash that holds a
        # live migration's source (test_migration, in parallel): wait.
        for _ in range(TRASH_LIST_ATTEMPTS - 1):
            try:
                return list(bindings.rbd.RBD().trash_list(self.rados(pool)))
            except IndexError:
                time.sleep(1)
        return list(bindings.rbd.RBD().trash_list(self.rados(pool)))

    def trash_names(self, pool=POOL):
        return [e['name'] for e in self.trash_entries(pool)]

    def trash_remove(self, image_id):
        bindings.rbd.RBD().trash_remove(self.rados(), image_id, True)

    def create_raw_image(self, name, size=4 * 1024 * 1024):
        bindings.rbd.RBD().create(self.rados(), name, size,
                                  old_format=False, features=1)

    def move_to_trash(self, name):
        bindings.rbd.RBD().trash_move(self.rados(), name, 0)

    def ours(self, names):
        return [n for n in names if any(i in n for i in self.ids)]

    def assert_no_leaks(self):
        if not self.ids:
            return
        self.addCleanup(self._close_rados)
        # The drivers' own background work is not cleanup: wait for it.
        self.settle()
        leaked = []
        for pool in (POOL, POOL2, GLANCE_POOL):
            leaked += self.ours(self.image_names(pool)) + self.ours(
                self.trash_names(pool))
            for name in self.image_names(pool):
                if any(i in name for i in self.ids):
                    continue
                try:
                    leaked += self.ours(self.snap_names(name, pool))
                except bindings.ImageNotFound:
                    pass
        self.assertEqual([], leaked, 'test left images or snapshots')

    def remove_glance_image(self, image_id):
        """What Glance does to delete an image of its RBD store."""
        ioctx = self.rados(GLANCE_POOL)
        with bindings.rbd.Image(ioctx, image_id) as image:
            image.unprotect_snap('snap')
            image.remove_snap('snap')
        bindings.rbd.RBD().remove(ioctx, image_id)

    def remove_as_admin(self, names, passes=5):
        """Remove images and their snapshots with plain admin calls.

        Clones go before their parents, so a few passes may be needed.
        """
        rbd = bindings.rbd.RBD()
        for _ in range(passes):
            for name in list(names):
                try:
                    with bindings.rbd.Image(self.rados(), name) as image:
                        for snap in list(image.list_snaps()):
                            if image.is_protected_snap(snap['name']):
                                image.unprotect_snap(snap['name'])
                            image.remove_snap(snap['name'])
                    rbd.remove(self.rados(), name)
                    names.remove(name)
                except bindings.ImageBusy:
                    continue  # a clone still depends on it
            if not names:
                return
        self.fail('could not remove %s' % names)

    def write_pattern(self, name, data, offset=0):
        with bindings.rbd.Image(self.rados(), name) as image:
            image.write(data, offset)

    def read(self, name, length, offset=0, snapshot=None):
        with self.open_image(name, snapshot=snapshot) as image:
            return image.read(offset, length)


def expected_mode():
    return 'threads' if functional.NATIVE_THREADS else 'eventlet'
