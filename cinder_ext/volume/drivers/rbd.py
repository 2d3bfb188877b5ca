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

"""cinder-ext RBD volume driver: a drop-in for Cinder's in-tree RBDDriver.

Operators switch with one line in cinder.conf::

    volume_driver = cinder_ext.volume.drivers.rbd.RBDDriver

This class only adapts Cinder's driver interface; the work is done by the
modules of :mod:`cinder_ext.volume` (one concern each) over the pooled
connections of :mod:`cinder_ext.ceph.connection`.
"""

import functools

from cinder.common import constants
from cinder import exception
from cinder import interface
from cinder import objects
from cinder.volume import driver
from oslo_log import log as logging
from oslo_service import loopingcall
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import blocking
from cinder_ext.ceph import connection
from cinder_ext.ceph import images
from cinder_ext.volume import backend as backend_mod
from cinder_ext.volume import clones
from cinder_ext.volume import connection_info
from cinder_ext.volume import deletion
from cinder_ext.volume import encryption
from cinder_ext.volume import image_transfer
from cinder_ext.volume import manage
from cinder_ext.volume import migration
from cinder_ext.volume import options
from cinder_ext.volume import qos
from cinder_ext.volume import stats
from cinder_ext.volume import type_settings
from cinder_ext.volume import validation

LOG = logging.getLogger(__name__)


def _ceph_errors(operation):
    """Turn librbd/librados errors into a Cinder error naming the call."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(self, *args, **kwargs):
            try:
                return func(self, *args, **kwargs)
            except exception.CinderException:
                raise
            except (bindings.RBDTimeout, bindings.TimedOut) as error:
                # Say which bound cut the call, so operators know what to
                # look at (a hung daemon) and which option sets it.
                raise exception.VolumeBackendAPIException(
                    data='%s failed: no answer from Ceph within %s s '
                         '(rados_connect_timeout, or rados_default_op_'
                         'timeout when that is unset): %s'
                         % (operation, self._backend.spec.timeout, error))
            except (bindings.RBDError, bindings.RadosError,
                    connection.CephConnectionError) as error:
                raise exception.VolumeBackendAPIException(
                    data='%s failed: %s' % (operation, error))
        return wrapper
    return decorator


@interface.volumedriver
class RBDDriver(driver.CloneableImageVD, driver.MigrateVD,
                driver.ManageableVD, driver.ManageableSnapshotsVD,
                driver.BaseVD):
    """RADOS block device volumes, with pooled connections.

    Version history:

    .. code-block:: none

        1.0.0 - First release: the in-tree driver's core volume lifecycle
                on long-lived connections.
    """

    VERSION = '1.0.0'
    CI_WIKI_NAME = 'cinder-ext'
    SUPPORTS_ACTIVE_ACTIVE = True
    STORAGE_PROTOCOL = constants.CEPH

    def __init__(self, active_backend_id=None, *args, **kwargs):
        super(RBDDriver, self).__init__(*args, **kwargs)
        self.configuration.append_config_values(options.all_opts())
        self._active_backend_id = active_backend_id
        self._backend = None
        self._mon_addrs = None
        self._stats = {}
        self._reporter = None
        self._purge_task = None
        self._stats_task = None

    @classmethod
    def get_driver_options(cls):
        return options.all_opts() + cls._get_oslo_driver_opts(
            'replication_device', 'reserved_percentage',
            'max_over_subscription_ratio', 'volume_dd_blocksize')

    # -- setup ---------------------------------------------------------

    def do_setup(self, context):
        if blocking.inline_tpool_without_eventlet():
            LOG.info('Native-thread mode: eventlet.tpool calls run inline '
                     '(Cinder image transfers would hang in tpool.Proxy)')
        validation.check_configuration(self.configuration)
        validation.check_no_replication(self.configuration,
                                        self._active_backend_id)
        self._backend = backend_mod.Backend(self.configuration)
        self._mon_addrs = connection_info.MonAddressCache(
            self.configuration.rbd_mon_address_cache_seconds,
            self.configuration.rbd_mon_address_type)
        self._reporter = stats.Reporter(
            self._backend, self.configuration.rbd_stats_max_age)

    def check_for_setup_error(self):
        if not bindings.available():
            raise exception.VolumeBackendAPIException(
                data='rados and rbd python libraries not found: install '
                     'python3-rados and python3-rbd')
        validation.check_keyring(self.configuration)
        validation.check_cluster(self._backend)
        self._start_periodic_tasks()

    def _start_periodic_tasks(self):
        # The purge also finishes deletes that had to go through the trash
        # (hidden snapshots), so it runs even without deferred deletion.
        self._purge_task = loopingcall.FixedIntervalLoopingCall(
            self._purge_trash)
        self._purge_task.start(
            interval=self.configuration.deferred_deletion_purge_interval,
            initial_delay=self.configuration.deferred_deletion_purge_interval)
        if self._reporter.background:
            # Reads at once, so figures are ready for the first stats poll.
            self._stats_task = loopingcall.DynamicLoopingCall(
                self._reporter.reconcile_periodically)
            self._stats_task.start(initial_delay=0)

    def _stop_periodic_tasks(self):
        """For tools and tests that drop a driver (Cinder never does)."""
        for task in (self._purge_task, self._stats_task):
            if task is not None:
                task.stop()

    def _purge_trash(self):
        try:
            removed = deletion.purge_trash(self._backend)
        except Exception:
            LOG.exception('Trash purge failed on pool %s',
                          self._backend.pool)
            return
        for name in removed:
            LOG.info('Removed %s from the trash', name)

    # -- volumes -------------------------------------------------------

    def _check_new(self, volume, source=None):
        """Refuse bad requests before anything exists in the pool.

        ``source`` is the volume it is made from, if any. Returns the
        type's QoS settings, so they are looked up once.
        """
        validation.check_new_volume(volume)
        encryption.check_generic_migration(volume)
        return type_settings.check_type(volume.volume_type, volume.size)

    def _apply_type(self, volume, qos_settings):
        """Apply the volume type to a new image; remove it if that fails."""
        with self._backend.session() as session:
            ioctx = session.ioctx(self._backend.pool)
            try:
                return type_settings.apply(session, ioctx, volume,
                                           volume.volume_type,
                                           settings=qos_settings)
            except Exception:
                LOG.error('Applying volume type settings to %s failed; '
                          'removing it', volume.name)
                deletion.discard_new(self._backend, volume.name)
                raise

    def _count_new(self, volume, update):
        """Count a new image in the capacity figures; return ``update``.

        Called once the create can no longer be undone: a failed create
        removes its image and is never counted.
        """
        self._backend.capacity.added(int(volume.size) * units.Gi)
        return update

    @_ceph_errors('create_volume')
    def create_volume(self, volume):
        qos_settings = self._check_new(volume)
        size = int(volume.size) * units.Gi
        header = encryption.new_volume_header(
            volume, self.configuration.rbd_luks_iter_time)
        with self._backend.session() as session:
            ioctx = session.ioctx(self._backend.pool)
            features = self._backend.features(session)
            if header:
                session.run(images.create_encrypted, ioctx, volume.name,
                            size, self._backend.order, features, header)
            else:
                session.run(images.create, ioctx, volume.name, size,
                            self._backend.order, features)
        LOG.debug('Created %s (%d GiB%s)', volume.name, volume.size,
                  ', LUKS' if header else '')
        return self._count_new(volume, self._apply_type(volume, qos_settings))

    @_ceph_errors('delete_volume')
    def delete_volume(self, volume):
        deletion.delete_volume(self._backend, volume.name)

    @_ceph_errors('extend_volume')
    def extend_volume(self, volume, new_size):
        size = int(new_size) * units.Gi
        # Capacity-based QoS (*_per_gb) grows with the volume: check the
        # type before the image changes.
        settings = type_settings.check_type(volume.volume_type,
                                            int(new_size))
        with self._backend.session() as session:
            ioctx = session.ioctx(self._backend.pool)
            try:
                grown = session.run(images.grow, ioctx, volume.name, size,
                                    bool(volume.encryption_key_id))
            except images.ShrinkRefused as error:
                raise exception.InvalidInput(reason=str(error))
            self._backend.capacity.added(grown)
            if settings:
                session.run(images.set_config, ioctx, volume.name, settings,
                            qos.ALL_CEPH_KEYS)

    @_ceph_errors('create_cloned_volume')
    def create_cloned_volume(self, volume, src_vref):
        qos_settings = self._check_new(volume, src_vref)
        clones.create_cloned_volume(self._backend, volume, src_vref)
        return self._count_new(volume, self._apply_type(volume, qos_settings))

    @_ceph_errors('create_volume_from_snapshot')
    def create_volume_from_snapshot(self, volume, snapshot):
        qos_settings = self._check_new(volume, snapshot)
        clones.create_from_snapshot(self._backend, volume, snapshot)
        return self._count_new(volume, self._apply_type(volume, qos_settings))

    @_ceph_errors('retype')
    def retype(self, context, volume, new_type, diff, host):
        """Same backend: re-apply QoS and multiattach for ``new_type``."""
        type_settings.check_type(new_type, volume.size)
        with self._backend.session() as session:
            update = type_settings.apply(
                session, session.ioctx(self._backend.pool), volume,
                new_type, old_type=volume.volume_type)
        return True, update

    # -- snapshots -----------------------------------------------------

    @_ceph_errors('create_snapshot')
    def create_snapshot(self, snapshot):
        backend = self._backend
        with backend.session() as session:
            unit = session.run(images.create_snap, session.ioctx(backend.pool),
                               snapshot.volume_name, snapshot.name,
                               clones.protect_snapshots(backend, session))
        backend.remember_stripe_unit(backend.pool, snapshot.volume_name, unit)

    @_ceph_errors('delete_snapshot')
    def delete_snapshot(self, snapshot):
        deletion.delete_snapshot(self._backend, snapshot.volume_name,
                                 snapshot.name)

    def snapshot_revert_use_temp_snapshot(self):
        return False

    @_ceph_errors('revert_to_snapshot')
    def revert_to_snapshot(self, context, volume, snapshot):
        with self._backend.session() as session:
            session.run(images.rollback, session.ioctx(self._backend.pool),
                        volume.name, snapshot.name)

    # -- attach --------------------------------------------------------

    def _secret_uuid(self):
        # Nova's libvirt secret defaults to the cluster FSID, as in-tree.
        return (self.configuration.rbd_secret_uuid or
                self._backend.client.fsid())

    @_ceph_errors('initialize_connection')
    def initialize_connection(self, volume, connector):
        with self._backend.session() as session:
            hosts, ports = self._mon_addrs.get(session)
        info = connection_info.build(
            volume, self._backend.pool, hosts, ports, self._backend.spec,
            self._secret_uuid(), validation.read_keyring(self.configuration))
        LOG.debug('Connection info: %s', connection_info.loggable(info))
        return info

    def terminate_connection(self, volume, connector, **kwargs):
        pass

    def create_export(self, context, volume, connector):
        pass

    def ensure_export(self, context, volume):
        pass

    def remove_export(self, context, volume):
        pass

    # -- stats ---------------------------------------------------------

    def _static_stats(self):
        conf = self.configuration
        location = '%s:%s:%s:%s:%s' % (
            conf.rbd_cluster_name, conf.rbd_ceph_conf,
            self._backend.client.fsid(), conf.rbd_user, conf.rbd_pool)
        return {
            'vendor_name': 'Open Source',
            'driver_version': self.VERSION,
            'storage_protocol': self.STORAGE_PROTOCOL,
            'volume_backend_name': (conf.safe_get('volume_backend_name') or
                                    'RBD'),
            'total_capacity_gb': 'unknown',
            'free_capacity_gb': 'unknown',
            'reserved_percentage': conf.safe_get('reserved_percentage'),
            'max_over_subscription_ratio': conf.safe_get(
                'max_over_subscription_ratio'),
            'multiattach': True,
            'thin_provisioning_support': True,
            'location_info': location,
            'backend_state': 'down',
            'qos_support': True,
            'replication_enabled': False,
        }

    def _update_volume_stats(self):
        # From memory once figures exist: see stats.Reporter.
        try:
            self._stats = self._reporter.report(self._static_stats())
        except Exception as error:
            # The scheduler keeps working with unknown capacities.
            LOG.warning('Could not refresh stats of pool %s: %s',
                        self.configuration.rbd_pool, error)
            base = dict(self._stats) if self._stats else {}
            base.update(backend_state='down', total_capacity_gb='unknown',
                        free_capacity_gb='unknown')
            self._stats = base

    def get_volume_stats(self, refresh=False):
        if refresh or not self._stats:
            self._update_volume_stats()
        return self._stats

    # -- images and backups -------------------------------------------

    @_ceph_errors('clone_image')
    def clone_image(self, context, volume, image_location, image_meta,
                    image_service):
        locations = image_transfer.cloneable_locations(
            self._backend, image_location, image_meta)
        if not locations:
            return {}, False
        qos_settings = self._check_new(volume)
        if not any(clones.clone_from_image(self._backend, volume, *location)
                   for location in locations):
            return {}, False
        update = self._count_new(volume,
                                 self._apply_type(volume, qos_settings))
        update.setdefault('provider_location', None)
        return update, True

    @_ceph_errors('copy_image_to_volume')
    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        # Encrypted images too: their LUKS container is copied as it is
        # (Cinder gave the volume a copy of the image's key).
        image_transfer.copy_image_to_volume(
            self._backend, context, volume, image_service, image_id,
            self.configuration.volume_dd_blocksize, disable_sparse)

    @_ceph_errors('copy_image_to_encrypted_volume')
    def copy_image_to_encrypted_volume(self, context, volume, image_service,
                                       image_id, disable_sparse=False):
        # Cinder's own version needs a block device, which RBD has not.
        encryption.copy_plain_image(
            self._backend, context, volume, image_service, image_id,
            self.configuration.volume_dd_blocksize, disable_sparse)

    @_ceph_errors('copy_volume_to_image')
    def copy_volume_to_image(self, context, volume, image_service,
                             image_meta):
        image_transfer.copy_volume_to_image(
            self._backend, context, volume, image_service, image_meta)

    def get_backup_device(self, context, backup):
        """The Ceph backup driver reads the volume itself (incrementals)."""
        if 'backup.drivers.ceph' not in backup.service or backup.snapshot_id:
            return super(RBDDriver, self).get_backup_device(context, backup)
        return objects.Volume.get_by_id(context, backup.volume_id), False

    # -- migrate and manage -------------------------------------------

    @_ceph_errors('migrate_volume')
    def migrate_volume(self, context, volume, host):
        # Same cluster: no copy through the volume service (see migration).
        return migration.migrate_volume(self._backend, volume, host)

    @_ceph_errors('update_migrated_volume')
    def update_migrated_volume(self, ctxt, volume, new_volume,
                               original_volume_status):
        return migration.update_migrated_volume(
            self._backend, volume, new_volume, original_volume_status)

    @_ceph_errors('manage_existing')
    def manage_existing(self, volume, existing_ref):
        # Cinder's API refuses it too: it has no key for the image.
        validation.check_not_encrypted(volume, 'manage an image as')
        type_settings.check_type(volume.volume_type, volume.size)
        manage.manage_volume(self._backend, volume, existing_ref)
        with self._backend.session() as session:
            return type_settings.apply(session,
                                       session.ioctx(self._backend.pool),
                                       volume, volume.volume_type)

    @_ceph_errors('manage_existing_get_size')
    def manage_existing_get_size(self, volume, existing_ref):
        return manage.existing_volume_size(self._backend, existing_ref)

    @_ceph_errors('get_manageable_volumes')
    def get_manageable_volumes(self, cinder_volumes, marker, limit, offset,
                               sort_keys, sort_dirs):
        return manage.manageable_volumes(self._backend, cinder_volumes,
                                         marker, limit, offset, sort_keys,
                                         sort_dirs)

    def unmanage(self, volume):
        pass

    @_ceph_errors('manage_existing_snapshot')
    def manage_existing_snapshot(self, snapshot, existing_ref):
        manage.manage_snapshot(self._backend, snapshot, existing_ref)

    @_ceph_errors('manage_existing_snapshot_get_size')
    def manage_existing_snapshot_get_size(self, snapshot, existing_ref):
        return manage.existing_snapshot_size(self._backend, snapshot,
                                             existing_ref)

    @_ceph_errors('get_manageable_snapshots')
    def get_manageable_snapshots(self, cinder_snapshots, marker, limit,
                                 offset, sort_keys, sort_dirs):
        return manage.manageable_snapshots(self._backend, cinder_snapshots,
                                           marker, limit, offset, sort_keys,
                                           sort_dirs)

    @_ceph_errors('unmanage_snapshot')
    def unmanage_snapshot(self, snapshot):
        manage.unmanage_snapshot(self._backend, snapshot)
