# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The three implementations the benchmark compares, behind one interface.

``DriverImpl`` wraps a configured Cinder volume driver (ours or in-tree);
``RawImpl`` does the same librbd work by hand on ONE persistent connection
and ioctx, with no driver logic at all: the floor both drivers are judged
against. Every name made here starts with the run token (volume ids are
UUIDs whose first 8 hex digits are the token), so the parent can find and
remove anything a crashed worker left behind.
"""

import json
import uuid

from cinder import context as cinder_context
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as volume_driver
from cinder.volume.drivers import rbd as intree_rbd
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_utils import units
import rados
import rbd

from cinder_ext.ceph import connection as ext_connection
from cinder_ext.volume.drivers import rbd as ext_rbd
from cinder_ext.volume import options as ext_options

import cleanup

CONF = cfg.CONF
CONNECTOR = {'host': 'bench-host', 'ip': '127.0.0.1',
             'initiator': 'iqn.2004-10.org.bench:host', 'multipath': False}
_STATE = {'ctx': None}


def load_config():
    """Parse an empty command line once, as cinder's services do."""
    if _STATE['ctx'] is None:
        CONF([], project='cinder')
        _STATE['ctx'] = cinder_context.get_admin_context()
    return _STATE['ctx']


def new_id(token):
    """A UUID whose first 8 hex digits are the run token."""
    return token + str(uuid.uuid4())[8:]


def new_volume(token, size=1):
    return fake_volume.fake_volume_obj(load_config(), id=new_id(token),
                                       size=size)


def new_snapshot(token, volume):
    snap = fake_snapshot.fake_snapshot_obj(
        load_config(), id=new_id(token), volume_id=volume.id,
        volume_size=volume.size, volume=volume)
    snap.volume = volume  # snapshot.volume_name reads it
    return snap


def make_driver(kind, ceph_conf, user, pool, exclusive=True):
    """A set-up driver; kind is 'ours' or 'in-tree'.

    Options are set before the driver is built: the in-tree driver copies
    some of them onto its configuration object in ``__init__``.
    """
    ctx = load_config()
    group = 'bench_%s_%s' % (kind.replace('-', ''), pool)
    conf = configuration.Configuration(volume_driver.volume_opts,
                                       config_group=group)
    conf.append_config_values(intree_rbd.RBD_OPTS)
    conf.append_config_values(ext_options.all_opts())
    settings = {'rbd_pool': pool, 'rbd_user': user,
                'rbd_ceph_conf': ceph_conf, 'volume_backend_name': group,
                'rbd_exclusive_cinder_pool': exclusive}
    for name, value in settings.items():
        CONF.set_override(name, value, group=group)
    cls = ext_rbd.RBDDriver if kind == 'ours' else intree_rbd.RBDDriver
    # Plain processutils: the in-tree initialize_connection forks the ceph
    # CLI, which needs neither root nor rootwrap here.
    driver = cls(configuration=conf, execute=processutils.execute)
    driver.do_setup(ctx)
    driver.check_for_setup_error()
    return DriverImpl(kind, driver)


class DriverImpl(object):
    """A Cinder volume driver, called exactly as the volume manager does."""

    def __init__(self, name, driver):
        self.name = name
        self.driver = driver

    def create_volume(self, volume):
        self.driver.create_volume(volume)

    def create_snapshot(self, snapshot):
        self.driver.create_snapshot(snapshot)

    def create_volume_from_snapshot(self, volume, snapshot):
        self.driver.create_volume_from_snapshot(volume, snapshot)

    def create_cloned_volume(self, volume, src_vref):
        volume.source_volid = src_vref.id  # as Cinder records it
        self.driver.create_cloned_volume(volume, src_vref)

    def extend_volume(self, volume, new_size):
        self.driver.extend_volume(volume, new_size)

    def revert_to_snapshot(self, volume, snapshot):
        self.driver.revert_to_snapshot(load_config(), volume, snapshot)

    def initialize_connection(self, volume):
        return self.driver.initialize_connection(volume, CONNECTOR)

    def get_volume_stats(self):
        return self.driver.get_volume_stats(refresh=True)

    def delete_snapshot(self, snapshot):
        self.driver.delete_snapshot(snapshot)

    def delete_volume(self, volume):
        self.driver.delete_volume(volume)

    def settle(self):
        """Wait for work a call left running (ours' parent releases)."""
        backend = getattr(self.driver, '_backend', None)
        if backend is not None:
            backend.releases.wait_all(60)

    def close(self):
        stop = getattr(self.driver, '_stop_periodic_tasks', None)
        if stop is not None:  # ours: trash purge and stats reconcile
            stop()
        if self.name == 'ours':
            ext_connection.close_all()


class RawImpl(object):
    """Plain rados/rbd calls on one connection opened once."""

    def __init__(self, ceph_conf, user, pool, shared=False):
        self.name = 'raw'
        self.pool = pool
        self.shared = shared  # pool not exclusive: add provisioned bytes
        self.cluster = rados.Rados(rados_id=user, conffile=ceph_conf)
        self.cluster.connect()
        self.ioctx = self.cluster.open_ioctx(pool)

    def _mon(self, prefix, **args):
        cmd = json.dumps(dict(args, prefix=prefix, format='json'))
        ret, out, err = self.cluster.mon_command(cmd, b'')
        if ret:
            raise RuntimeError('%s: %s' % (prefix, err))
        return json.loads(out)

    def create_volume(self, volume):
        rbd.RBD().create(self.ioctx, volume.name, volume.size * units.Gi,
                         old_format=False)

    def create_snapshot(self, snapshot):
        with rbd.Image(self.ioctx, snapshot.volume_name) as image:
            image.create_snap(snapshot.name)
            image.protect_snap(snapshot.name)

    def create_volume_from_snapshot(self, volume, snapshot):
        rbd.RBD().clone(self.ioctx, snapshot.volume_name, snapshot.name,
                        self.ioctx, volume.name)

    def create_cloned_volume(self, volume, src_vref):
        snap = volume.name + '.clone_snap'
        with rbd.Image(self.ioctx, src_vref.name) as image:
            image.create_snap(snap)
            image.protect_snap(snap)
        rbd.RBD().clone(self.ioctx, src_vref.name, snap, self.ioctx,
                        volume.name)

    def extend_volume(self, volume, new_size):
        with rbd.Image(self.ioctx, volume.name) as image:
            image.resize(new_size * units.Gi)

    def revert_to_snapshot(self, volume, snapshot):
        with rbd.Image(self.ioctx, volume.name) as image:
            image.rollback_to_snap(snapshot.name)

    def initialize_connection(self, volume):
        return self._mon('mon dump')

    def get_volume_stats(self):
        stats = [self._mon('df'),
                 self._mon('osd pool get-quota', pool=self.pool)]
        if self.shared:
            stats.append(rbd.RBD().pool_stats_get(
                self.ioctx)['image_provisioned_bytes'])
        return stats

    def delete_snapshot(self, snapshot):
        with rbd.Image(self.ioctx, snapshot.volume_name) as image:
            image.unprotect_snap(snapshot.name)
            image.remove_snap(snapshot.name)

    def delete_volume(self, volume):
        rbd.RBD().remove(self.ioctx, volume.name)

    # -- untimed helpers used for setup and cleanup -------------------

    def settle(self):
        pass  # nothing runs in the background

    def drop_snap(self, image_name, snap):
        """Unprotect and remove ``image@snap`` if it is still there."""
        try:
            with rbd.Image(self.ioctx, image_name) as image:
                names = [s['name'] for s in image.list_snaps()]
                if snap not in names:
                    return False
                if image.is_protected_snap(snap):
                    image.unprotect_snap(snap)
                image.remove_snap(snap)
                return True
        except rbd.ImageNotFound:
            return False

    def purge(self, names):
        """Force-remove images (and their snapshots), children first."""
        removed = []
        for name in names:
            for candidate in (name, name + '.deleted'):
                if cleanup.purge_image(self.ioctx, candidate):
                    removed.append(candidate)
        return removed

    def close(self):
        self.ioctx.close()
        self.cluster.shutdown()
