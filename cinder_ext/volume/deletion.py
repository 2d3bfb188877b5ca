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


def _drop_unused_clone_snaps(session, ioctx, info) -> bool:
    """Remove clone snaps nothing hangs off; True if some still have clones.

    Only called on images being deleted: no new clone can start from them,
    so a childless clone snapshot is a leftover (the in-tree driver leaves
    them when it deletes a clone of a clone).
    """
    in_use = False
    for snap in info.snaps:
        if not names.is_clone_snap(snap['name']):
            continue
        try:
            if session.run(images.snap_children, ioctx, info.name,
                           snap['name'], True):
                in_use = True
            else:
                session.run(images.remove_snap, ioctx, info.name,
                            snap['name'])
        except bindings.ImageNotFound:
            pass  # released meanwhile (another host, a late release)
    return in_use


def _clone_parent(name, info):
    """The (pool, image, snap) Cinder cloned ``name`` from, if any."""
    if info.parent and names.is_cinder_clone(name, info.parent[2]):
        return info.parent
    return None


def delete_volume(backend, name: str) -> None:
    """Delete image ``name``; a missing image is already deleted.

    Whether a clone parent must be released is read from the image, never
    from Cinder's records: the image-volume cache, manage and migration
    make clones without a ``source_volid``. A clone's parent is released
    after the delete returns (see :mod:`.releases`).
    """
    key = (backend.pool, name)
    # (Deferred deletion trashes clones, so it never starts a release.)
    if backend.releases.pending(key) and _hand_over(backend, name):
        return
    # Its own clones' releases first: they may drop its last clone snap.
    backend.releases.wait(key, backend.spec.timeout)
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        deferred = backend.conf.enable_deferred_deletion
        try:
            if deferred:
                info, removed = session.run(images.inspect, ioctx,
                                            name), False
            else:
                # One hand-off when the image has no snapshots (common).
                info, removed = session.run(images.remove_unless_snapshotted,
                                            ioctx, name)
        except bindings.ImageNotFound:
            LOG.info('Volume %s no longer exists in the backend', name)
            return
        if removed:
            backend.capacity.removed(info.size)
        else:
            removed = _delete_with_snapshots(backend, session, ioctx, info)
    parent = _clone_parent(name, info)
    if removed and parent:
        backend.releases.start(parent[:2], _release_parent_later, backend,
                               parent)


def detach_from_parent(backend, name: str) -> None:
    """Flatten ``name`` if it is a clone; release a Cinder clone parent.

    For a volume whose every byte was just rewritten (reimage): no object
    reads through to the parent any more, so the flatten copies nothing,
    and the old parent (a Glance image's snapshot, a source volume's
    ``.clone_snap``) is no longer held by a volume that does not use it.
    Its own snapshots, if any, keep their parent as they must.
    """
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        info = session.run(images.inspect, ioctx, name)
        if not info.parent:
            return
        clones.flatten(backend, session, backend.pool, name)
        parent = _clone_parent(name, info)
        if parent:
            release_parent(backend, session, parent)


def _release_parent_later(backend, parent) -> None:
    """``release_parent`` on a session of its own (see releases)."""
    with backend.session() as session:
        release_parent(backend, session, parent)


def _hand_over(backend, name: str) -> bool:
    """Rename ``name`` to ``.deleted``; remove it in the background.

    Its last clone's release is still dropping a snapshot from it (a
    monitor round trip). Rather than wait for that, the volume leaves its
    Cinder name at once and goes when the release has ended. A crash in
    between leaves a ``.deleted`` image, which the purge task finishes.
    False when the rename cannot be done: the caller deletes as usual.
    """
    deleted = names.deleted(name)
    with backend.session() as session:
        try:
            session.run(images.rename, session.ioctx(backend.pool), name,
                        deleted)
        except (bindings.ImageNotFound, bindings.ImageExists):
            return False
    backend.releases.start((backend.pool, deleted), _finish_handed_over,
                           backend, name)
    return True


def _finish_handed_over(backend, name: str) -> None:
    backend.releases.wait((backend.pool, name), backend.spec.timeout)
    with backend.session() as session:
        removed, parent = _remove_deleted(backend, session,
                                          session.ioctx(backend.pool),
                                          names.deleted(name))
        if removed and parent:
            release_parent(backend, session, parent)


def discard_new(backend, name: str) -> None:
    """Remove a volume whose create failed half-way, releasing its parent.

    Without the release a failed clone would leave its source's
    ``<clone>.clone_snap`` behind. Never deferred: nothing of it is in use.
    """
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        try:
            info, removed = session.run(images.remove_unless_snapshotted,
                                        ioctx, name)
        except bindings.ImageNotFound:
            return
        if not removed and not _remove_image(backend, session, ioctx, name):
            return
        parent = _clone_parent(name, info)
        if parent:
            release_parent(backend, session, parent)


def _delete_with_snapshots(backend, session, ioctx, info) -> bool:
    """The careful path; True once the image is gone (not renamed/trashed)."""
    name = info.name
    backup_snaps = [s['name'] for s in info.snaps
                    if names.is_backup_snap(s['name'])]
    if backup_snaps:
        session.run(images.remove_snaps, ioctx, name, backup_snaps)
    if _drop_unused_clone_snaps(session, ioctx, info):
        LOG.info('Volume %s still has clones: keeping it as %s until '
                 'they are deleted', name, names.deleted(name))
        session.run(images.rename, ioctx, name, names.deleted(name))
        return False
    if backend.conf.enable_deferred_deletion:
        delay = backend.conf.deferred_deletion_delay
        session.run(images.trash_move, ioctx, name, delay)
        backend.capacity.removed(info.size)  # the trash is not counted
        LOG.info('Volume %s moved to trash (purge after %s s)', name, delay)
        return False
    return _remove_counted(backend, session, ioctx, info)


def _remove_counted(backend, session, ioctx, info) -> bool:
    """:func:`_remove_image`, telling the capacity figures it went.

    Removed or trashed, it left the pool's image list either way.
    """
    removed = _remove_image(backend, session, ioctx, info.name)
    backend.capacity.removed(info.size)
    return removed


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


def release_parent(backend, session, parent) -> None:
    """Drop a clone's ``.clone_snap`` snapshot on its parent.

    Then remove the parent itself if it was deleted in Cinder and nothing
    else needs it, and walk on up the clone chain.
    """
    while parent:
        pool, parent_name, parent_snap = parent
        ioctx = session.ioctx(pool)
        try:
            session.run(images.remove_snap, ioctx, parent_name, parent_snap)
        except bindings.ImageNotFound:
            pass
        except bindings.ImageBusy:
            LOG.debug('%s@%s still has clones', parent_name, parent_snap)
            return
        if not parent_name.endswith(names.DELETED_SUFFIX):
            return
        _removed, parent = _remove_deleted(backend, session, ioctx,
                                           parent_name)


def _remove_deleted(backend, session, ioctx, name) -> tuple:
    """Remove ``<volume>.deleted`` once no clone needs it.

    Returns ``(removed, parent)``: whether it went, and its own Cinder
    clone parent to release next.
    """
    try:
        info = session.run(images.inspect, ioctx, name)
    except bindings.ImageNotFound:
        return False, None
    if _drop_unused_clone_snaps(session, ioctx, info):
        return False, None
    others = [s['name'] for s in info.snaps
              if not names.is_clone_snap(s['name'])]
    if others:
        LOG.warning('Keeping %s: it has snapshots Cinder did not make (%s)',
                    name, ', '.join(others))
        return False, None
    LOG.info('Removing %s: its last clone is gone', name)
    if not _remove_counted(backend, session, ioctx, info):
        return False, None
    return True, _clone_parent(name, info)


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


def purge_trash(backend) -> list:
    """Finish deletes; returns the names of what was removed.

    Removes expired trash entries that Cinder owns (the in-tree driver
    purges every expired entry: a shared pool's others are not ours), then
    ``.deleted`` volumes whose clones are all gone: a parent release that
    failed, raced with a rename, or was never tried by the in-tree driver.
    """
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        return (_purge_expired(backend, session, ioctx) +
                _finish_deleted(backend, session, ioctx))


def _purge_expired(backend, session, ioctx) -> list:
    removed = []
    now = time.time()
    try:
        entries = session.run(images.trash_entries, ioctx)
    except images.TrashUnreadable as error:
        LOG.info('Trash purge of pool %s skipped this time: %s',
                 backend.pool, error)
        return removed
    for entry in entries:
        # Cheap checks first: opening an entry costs an image open.
        if (not names.volume_id(entry['name']) or
                images.epoch_seconds(entry['deferment_end_time']) > now):
            continue
        try:
            parent = session.run(images.trashed_parent, ioctx, entry['id'])
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


def _finish_deleted(backend, session, ioctx) -> list:
    removed = []
    for name in session.run(images.list_names, ioctx):
        if not (name.endswith(names.DELETED_SUFFIX) and
                names.volume_id(name)):
            continue
        gone, parent = _remove_deleted(backend, session, ioctx, name)
        if gone:
            removed.append(name)
        if parent:
            release_parent(backend, session, parent)
    return removed
