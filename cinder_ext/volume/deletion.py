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

"""Deleting volumes and snapshots without leaking images.

The layout is the in-tree driver's, so both drivers can delete what the
other made: a volume that still has Cinder clones (``<clone>.clone_snap``
snapshots with children) is renamed ``<name>.deleted`` and removed when its
last clone goes. Unlike in-tree, the parent reference is released on every
successful delete, not only on the trash fallback path, so ``.deleted``
parents and ``.clone_snap`` snapshots do not pile up.
"""

import time

from cinder import exception
from oslo_log import log as logging

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images
from cinder_ext.volume import clones
from cinder_ext.volume import names

LOG = logging.getLogger(__name__)


def _with_busy_retries(backend, func, *args):
    """Call ``func``; on ImageBusy wait and retry (a watch may expire)."""
    attempts, interval = backend.retry_policy()
    for attempt in range(attempts):
        try:
            return func(*args)
        except bindings.ImageBusy:
            if attempt == attempts - 1:
                raise
            LOG.info('%s is busy; retrying in %s s', args[-1], interval)
            time.sleep(interval)


def _drop_unused_clone_snaps(session, ioctx, info):
    """Remove leaked clone snaps; True if some still have clones."""
    in_use = False
    for snap in info.snaps:
        if not names.is_clone_snap(snap['name']):
            continue
        if session.run(images.snap_children, ioctx, info.name, snap['name'],
                       True):
            in_use = True
        else:
            session.run(images.remove_snap, ioctx, info.name, snap['name'])
    return in_use


def _quick_remove(session, ioctx, name):
    """Remove an image that has no snapshots and no watchers, in one call.

    True when it is gone; False when it needs the careful path (snapshots,
    clones, backup snapshots, watchers).
    """
    try:
        session.run(images.remove, ioctx, name)
    except bindings.ImageNotFound:
        LOG.info('Volume %s no longer exists in the backend', name)
    except (bindings.ImageHasSnapshots, bindings.ImageBusy):
        return False
    return True


def delete_volume(backend, name, may_be_clone=True):
    """Delete image ``name``; a missing image is already deleted.

    ``may_be_clone`` False (Cinder recorded no source volume) allows the
    quick path: with no Cinder clone parent to release, a plain remove is
    all it takes unless the image has snapshots or watchers.
    """
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        if (not may_be_clone and not backend.conf.enable_deferred_deletion
                and _quick_remove(session, ioctx, name)):
            return
        try:
            info = session.run(images.inspect, ioctx, name)
        except bindings.ImageNotFound:
            LOG.info('Volume %s no longer exists in the backend', name)
            return
        backup_snaps = [s['name'] for s in info.snaps
                        if names.is_backup_snap(s['name'])]
        if backup_snaps:
            session.run(images.remove_snaps, ioctx, name, backup_snaps)
        if _drop_unused_clone_snaps(session, ioctx, info):
            LOG.info('Volume %s still has clones: keeping it as %s until '
                     'they are deleted', name, names.deleted(name))
            session.run(images.rename, ioctx, name, names.deleted(name))
            return
        parent = info.parent if info.parent and names.is_cinder_clone(
            name, info.parent[2]) else None
        if backend.conf.enable_deferred_deletion:
            delay = backend.conf.deferred_deletion_delay
            session.run(images.trash_move, ioctx, name, delay)
            LOG.info('Volume %s moved to trash (purge after %s s)',
                     name, delay)
            return
        if not _remove_image(backend, session, ioctx, name):
            return
        if parent:
            release_parent(backend, session, parent)


def _remove_image(backend, session, ioctx, name):
    """Remove ``name``; False if it went to the trash instead."""
    try:
        _with_busy_retries(backend, session.run, images.remove, ioctx, name)
        return True
    except bindings.ImageNotFound:
        return True
    except bindings.ImageBusy:
        raise exception.VolumeIsBusy(volume_name=name)
    except bindings.ImageHasSnapshots:
        pass
    # Snapshots we could not see remain: v2 snapshots in the snapshot trash
    # waiting for their clones, or snapshots made outside Cinder. The trash
    # accepts such an image; the purge task removes it once it can.
    LOG.info('Volume %s still has hidden snapshots: moving it to trash',
             name)
    try:
        session.run(images.trash_move, ioctx, name, 0)
    except bindings.ImageBusy:
        raise exception.VolumeIsBusy(volume_name=name)
    return False


def release_parent(backend, session, parent):
    """Drop a clone's ``.clone_snap`` snapshot on its parent.

    Then remove the parent itself if it was deleted in Cinder and nothing
    else needs it, and walk on up the clone chain.
    """
    pool, parent_name, parent_snap = parent
    ioctx = session.ioctx(pool)
    while parent_name:
        try:
            session.run(images.remove_snap, ioctx, parent_name, parent_snap)
        except bindings.ImageNotFound:
            pass
        except bindings.ImageBusy:
            LOG.debug('%s@%s still has clones', parent_name, parent_snap)
            return
        if not parent_name.endswith(names.DELETED_SUFFIX):
            return
        try:
            info = session.run(images.inspect, ioctx, parent_name)
        except bindings.ImageNotFound:
            return
        if info.snaps:  # hidden (trashed) snaps: the trash takes it
            return
        LOG.info('Removing %s: its last clone is gone', parent_name)
        if not _remove_image(backend, session, ioctx, parent_name):
            return
        if info.parent and names.is_cinder_clone(parent_name,
                                                 info.parent[2]):
            _pool, parent_name, parent_snap = info.parent
        else:
            parent_name = None


def delete_snapshot(backend, volume_name, snap_name):
    """Delete ``volume_name@snap_name``; missing means already deleted.

    A protected snapshot with clones (format v1, or made by the in-tree
    driver) can only go once its clones stop depending on it, so they are
    flattened first, within the flatten concurrency limit. Unprotected
    snapshots (format v2) go straight to the snapshot trash instead.
    """
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        try:
            session.run(images.remove_snap, ioctx, volume_name, snap_name)
            return
        except bindings.ImageNotFound:
            LOG.info('Snapshot %s@%s no longer exists', volume_name,
                     snap_name)
            return
        except bindings.ImageBusy:
            pass
        children = session.run(images.snap_children, ioctx, volume_name,
                               snap_name)
        LOG.info('Snapshot %s@%s has %d clone(s): flattening them before '
                 'deleting it', volume_name, snap_name, len(children))
        for pool, child in children:
            clones.flatten(backend, session, pool, child)
        try:
            _with_busy_retries(backend, session.run, images.remove_snap,
                               ioctx, volume_name, snap_name)
        except bindings.ImageBusy:
            raise exception.SnapshotIsBusy(snapshot_name=snap_name)
        except bindings.ImageNotFound:
            pass


def purge_trash(backend):
    """Remove expired trash entries that Cinder owns; returns their names.

    Only ``volume-*`` images are touched (the in-tree driver purges every
    expired entry): a shared pool's other trash entries are not ours.
    librbd itself refuses (EPERM) entries whose deferment has not ended.
    """
    removed = []
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        for entry in session.run(images.trash_entries, ioctx):
            if not entry['name'].startswith('volume-'):
                continue
            try:
                parent = session.run(images.trashed_parent, ioctx,
                                     entry['id'])
                session.run(images.trash_remove, ioctx, entry['id'])
            except (bindings.ImageBusy, bindings.ImageHasSnapshots,
                    bindings.RBDPermissionError, bindings.RBDOSError,
                    bindings.ImageNotFound) as error:
                LOG.debug('Trash entry %s not removable yet: %s',
                          entry['name'], error)
                continue
            removed.append(entry['name'])
            if parent and names.is_cinder_clone(entry['name'], parent[2]):
                release_parent(backend, session, parent)
    return removed
