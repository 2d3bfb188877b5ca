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

"""Volumes made from other volumes and snapshots: COW clones and copies."""

from oslo_log import log as logging
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import cloning
from cinder_ext.ceph import images
from cinder_ext.volume import names

LOG = logging.getLogger(__name__)


def flatten(backend, session, pool, name):
    """Flatten ``pool/name`` within rbd_concurrent_flatten_operations."""
    with backend.flatten_limit:
        LOG.debug('Flattening %s/%s', pool, name)
        try:
            session.run(images.flatten, session.ioctx(pool), name)
        except bindings.ImageNotFound:
            LOG.debug('%s/%s vanished before flatten', pool, name)


def protect_snapshots(backend, session):
    """Protect new snapshots only where clones need it (format v1)."""
    return backend.clone_format(session) == 1


def _counts_against_quota(volume):
    # Temporary volumes (use_quota False, Cinder >= 2023.1) are not
    # flattened: they are short-lived and a flatten would only cost I/O.
    return getattr(volume, 'use_quota', True)


def _grow_to(volume, source_size_gb):
    """Bytes to grow a new volume to, or None when it is not larger."""
    if source_size_gb is not None and volume.size <= source_size_gb:
        return None
    return int(volume.size) * units.Gi


def _encrypted(volume) -> bool:
    """A LUKS volume: its header stays in front of the size Cinder shows.

    Cinder refuses clones and volumes from snapshots whose encryption
    differs from the source's, so the copy keeps the source's header and
    key bytes (Cinder gives the new volume a copy of the key).
    """
    return bool(volume.encryption_key_id)


def _clone_order(backend, session, pool, image):
    """Object size order for a clone of ``pool/image`` (cached read)."""
    unit = backend.stripe_unit(session, pool, image)
    return cloning.clone_order(unit, backend.order)


def create_from_snapshot(backend, volume, snapshot):
    """COW clone of ``snapshot`` grown to the volume size if larger."""
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        order = _clone_order(backend, session, backend.pool,
                             snapshot.volume_name)
        session.run(cloning.clone_snapshot, ioctx, snapshot.volume_name,
                    snapshot.name, ioctx, volume.name,
                    backend.features(session), order,
                    _grow_to(volume, snapshot.volume_size),
                    _encrypted(volume))
        if (backend.conf.rbd_flatten_volume_from_snapshot and
                _counts_against_quota(volume)):
            flatten(backend, session, backend.pool, volume.name)


def clone_from_image(backend, volume, pool: str, image: str,
                     snap: str) -> bool:
    """COW clone of a Glance image stored in this cluster.

    False when the location cannot be read: Cinder then downloads the
    image instead, as it would from any other store.
    """
    # Pool, image or snapshot gone, or no caps on the images pool.
    unreadable = (bindings.ImageNotFound,) + bindings.no_access_errors()
    with backend.session() as session:
        try:
            order = _clone_order(backend, session, pool, image)
            session.run(cloning.clone_snapshot, session.ioctx(pool), image,
                        snap, session.ioctx(backend.pool), volume.name,
                        backend.features(session), order,
                        _grow_to(volume, None))
        except unreadable as error:
            LOG.warning('Cannot clone Glance image %s/%s@%s (%s): the '
                        'image will be copied instead', pool, image, snap,
                        error)
            return False
    return True


def create_cloned_volume(backend, volume, src_vref):
    """Clone a volume through a temporary ``<dest>.clone_snap`` snapshot.

    rbd_max_clone_depth <= 0 means a full copy. Otherwise the new volume is
    a COW clone, flattened (and its clone snapshot dropped) when the source
    already sits rbd_max_clone_depth clones deep.
    """
    max_depth = backend.conf.rbd_max_clone_depth
    grow_to = _grow_to(volume, src_vref.size)
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        features = backend.features(session)
        if max_depth <= 0:
            session.run(cloning.copy_image, ioctx, src_vref.name, ioctx,
                        volume.name, features, backend.order, grow_to,
                        _encrypted(volume))
            return
        # Clone snapshots stay protected on every cluster: the in-tree
        # driver unprotects them unconditionally when it cleans up.
        depth = session.run(cloning.snapshot_and_clone, ioctx,
                            src_vref.name, names.clone_snap(volume.name),
                            volume.name, features, backend.order,
                            names.is_cinder_clone, grow_to,
                            _encrypted(volume))
        if _counts_against_quota(volume) and depth >= max_depth:
            LOG.info('Clone depth %(depth)d of %(src)s reaches '
                     'rbd_max_clone_depth=%(max)d: flattening %(dst)s',
                     {'depth': depth, 'src': src_vref.name,
                      'max': max_depth, 'dst': volume.name})
            _flatten_and_release(backend, session, ioctx, src_vref.name,
                                 volume.name)


def _flatten_and_release(backend, session, ioctx, src_name, dest_name):
    try:
        flatten(backend, session, backend.pool, dest_name)
    except Exception:
        LOG.error('Flattening %s failed; removing the half-made clone',
                  dest_name)
        session.run(images.remove_if_exists, ioctx, dest_name)
        session.run(images.remove_snap, ioctx, src_name,
                    names.clone_snap(dest_name))
        raise
    session.run(images.remove_snap, ioctx, src_name,
                names.clone_snap(dest_name))
