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

"""Plain librbd operations on images and snapshots.

Each function here runs as ONE call of the blocking layer
(``session.run(images.fn, ...)``): it may open an image, make several
librbd calls and close it again, so an operation costs one hand-off to a
native thread rather than one per librbd call. Following the rule in
:mod:`.blocking`, nothing here logs or sleeps; errors propagate as the
bindings' exceptions and callers decide what they mean.
"""

import dataclasses
import datetime
import struct

from cinder_ext.ceph import bindings
from cinder_ext.ceph import header


def _rbd():
    return bindings.rbd.RBD()


@dataclasses.dataclass
class ImageInfo(object):
    """What the driver needs to know about one image, read in one open."""

    name: str
    snaps: list          # user snapshots [{'name', 'id', 'size',
    #                      'protected'}]
    hidden_snaps: int    # snapshots in other namespaces (v2 trash, ...)
    parent: tuple        # (pool, image, snap) or None
    size: int            # bytes


def parent_of(image):
    try:
        pool, name, snap = image.parent_info()
    except bindings.ImageNotFound:
        return None
    return (pool, name, snap)


def inspect(ioctx, name):
    """Read the snapshots and the parent of ``name``."""
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        snaps = []
        hidden = 0
        for snap in image.list_snaps():
            if snap.get('namespace',
                        bindings.SNAP_NAMESPACE_USER) != \
                    bindings.SNAP_NAMESPACE_USER:
                hidden += 1
                continue
            snaps.append({'name': snap['name'], 'id': snap['id'],
                          'size': snap['size'],
                          'protected': image.is_protected_snap(snap['name'])})
        return ImageInfo(name=name, snaps=snaps, hidden_snaps=hidden,
                         parent=parent_of(image), size=image.size())


def remove_unless_snapshotted(ioctx, name):
    """Read ``name`` and remove it if it has no snapshots and no watchers.

    The parent is read before the image goes: the image itself, not what
    Cinder recorded about it, says whether it hangs off a clone snapshot
    that must be released. Returns ``(info, removed)``.

    Read from the header when it can (see :mod:`.header`): an image open
    costs 10-25% of the remove. An image with snapshots is opened for the
    full :class:`ImageInfo` the careful path needs.
    """
    try:
        facts = header.read(ioctx, name)
    except header.Unreadable:
        facts = None
    if facts is None or facts.snap_count:
        info = inspect(ioctx, name)
        if info.snaps or info.hidden_snaps:
            return info, False
    else:
        info = ImageInfo(name=name, snaps=[], hidden_snaps=0,
                         parent=facts.parent, size=facts.size)
    try:
        _rbd().remove(ioctx, name)
    except bindings.ImageHasSnapshots:
        # Snapshotted since it was read: the careful path needs them all.
        return inspect(ioctx, name), False
    except bindings.ImageBusy:
        return info, False
    return info, True


def configured_features(handle) -> int:
    """librbd's rbd_default_features (a number or names), 0 if unset.

    Read from the connection's configuration: no I/O.
    """
    value = handle.conf_get('rbd_default_features')
    if not value:
        return 0
    value = value.strip()
    if value.isdigit():
        return int(value)
    return _rbd().features_from_string(value)


def create(ioctx, name, size, order, features):
    _rbd().create(ioctx, name, size, order, old_format=False,
                  features=features)


def create_encrypted(ioctx, name, size, order, features,
                     header: bytes) -> None:
    """A new image of ``size`` bytes after a LUKS ``header`` at offset 0.

    Thin: only the header is written. Removed again if the write fails.
    """
    create(ioctx, name, size + len(header), order, features)
    try:
        with bindings.rbd.Image(ioctx, name) as image:
            image.write(header, 0)
    except BaseException:
        remove_if_exists(ioctx, name)
        raise


def remove(ioctx, name):
    _rbd().remove(ioctx, name)


def remove_if_exists(ioctx, name):
    """Best-effort cleanup used on error paths; True if it was removed."""
    try:
        _rbd().remove(ioctx, name)
        return True
    except bindings.ImageNotFound:
        return False


def remove_with_snap(ioctx, name, snap):
    """Remove ``name`` and its one snapshot ``snap``, whichever exist.

    For a copy this module made and nobody cloned yet: error paths only.
    """
    try:
        remove_snap(ioctx, name, snap)
    except bindings.ImageNotFound:
        pass
    return remove_if_exists(ioctx, name)


def rename(ioctx, old, new):
    _rbd().rename(ioctx, old, new)


def trash_move(ioctx, name, delay):
    _rbd().trash_move(ioctx, name, delay)


class ShrinkRefused(Exception):
    """A resize would have made the image smaller: data would be lost."""

    def __init__(self, name, current, wanted):
        super(ShrinkRefused, self).__init__(
            'refusing to shrink %s from %d to %d bytes'
            % (name, current, wanted))


def grow(ioctx, name, size, luks: bool = False) -> int:
    """Resize ``name`` to ``size`` bytes, never smaller (one open).

    ``luks``: ``size`` is what the guest sees, so the image also keeps
    room for its LUKS1 header, whatever size that header has. Returns how
    many bytes it grew by.
    """
    with bindings.rbd.Image(ioctx, name) as image:
        current = image.size()
        if luks:
            size += luks_payload_offset(image, current)
        if size < current:
            raise ShrinkRefused(name, current, size)
        if size != current:
            image.resize(size)
        return size - current


def image_size(ioctx, name):
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        return image.size()


# Both LUKS1 and LUKS2 start with this magic (cryptsetup's on-disk format).
_LUKS_MAGIC = b'LUKS\xba\xbe'


def size_and_luks(ioctx, name: str) -> tuple:
    """``(size, True if the image starts with a LUKS header)``, one open."""
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        size = image.size()
        head = image.read(0, len(_LUKS_MAGIC)) if size else b''
        return size, head == _LUKS_MAGIC


# LUKS1 (cryptsetup's on-disk format): version 1 after the magic, the
# payload offset in 512-byte sectors at bytes 104-107, big-endian.
_LUKS1_VERSION = b'\x00\x01'
_LUKS1_PAYLOAD = struct.Struct('>I')
_LUKS1_PAYLOAD_AT = 104


def luks_payload_offset(image, size: int) -> int:
    """Bytes in front of the encrypted data of a LUKS1 image, else 0."""
    end = _LUKS1_PAYLOAD_AT + _LUKS1_PAYLOAD.size
    if size < end:
        return 0
    head = image.read(0, end)
    if (head[:len(_LUKS_MAGIC)] != _LUKS_MAGIC or
            head[len(_LUKS_MAGIC):8] != _LUKS1_VERSION):
        return 0
    return _LUKS1_PAYLOAD.unpack_from(head, _LUKS1_PAYLOAD_AT)[0] * 512


def luks_header_size(ioctx, name: str) -> int:
    """:func:`luks_payload_offset` of image ``name`` (one open)."""
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        return luks_payload_offset(image, image.size())


def flatten(ioctx, name):
    with bindings.rbd.Image(ioctx, name) as image:
        image.flatten()


def rollback(ioctx, name, snap):
    with bindings.rbd.Image(ioctx, name) as image:
        image.rollback_to_snap(snap)


def create_snap(ioctx, name, snap, protect):
    """Snapshot ``name``; return its stripe unit.

    Read in the same open, so clones of the snapshot need not open the
    image again just for that.
    """
    with bindings.rbd.Image(ioctx, name) as image:
        image.create_snap(snap)
        if protect:
            try:
                image.protect_snap(snap)
            except BaseException:
                image.remove_snap(snap)
                raise
        return image.stripe_unit()


def snap_children(ioctx, name, snap, include_trashed=False):
    """Children of ``name@snap`` as (pool, image).

    Clones waiting in the RBD trash still depend on the snapshot; they are
    left out unless ``include_trashed`` (they cannot be flattened by name).
    """
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        image.set_snap(snap)
        return [(child['pool'], child['image'])
                for child in image.list_children2()
                if include_trashed or not child.get('trash')]


def remove_snap(ioctx, name, snap):
    """Unprotect (if needed) and remove ``name@snap``.

    Raises ImageBusy when protected and still has clones (v1 semantics);
    with clone v2 an unprotected snapshot that has clones moves to the
    snapshot trash and disappears when its last clone goes.
    """
    with bindings.rbd.Image(ioctx, name) as image:
        if image.is_protected_snap(snap):
            image.unprotect_snap(snap)
        image.remove_snap(snap)


def remove_snaps(ioctx, name, snaps):
    """Remove several unprotected snapshots in one open."""
    with bindings.rbd.Image(ioctx, name) as image:
        for snap in snaps:
            image.remove_snap(snap)


def stripe_unit(ioctx, name):
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        return image.stripe_unit()


def list_names(ioctx):
    return _rbd().list(ioctx)


def pool_stats(ioctx):
    return _rbd().pool_stats_get(ioctx)


def epoch_seconds(value) -> float:
    """Epoch seconds of a librbd time: a naive datetime in UTC (Pacific)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return float(value)  # the unit tests' fakes


class TrashUnreadable(Exception):
    """python-rbd 16.2 cannot list a pool's trash during a live migration.

    Its iterator has no name for the MIGRATION trash source and stops with
    an IndexError while an image is being migrated out of the pool.
    """


def trash_entries(ioctx) -> list:
    try:
        return list(_rbd().trash_list(ioctx))
    except IndexError:
        raise TrashUnreadable(
            'the RBD trash cannot be listed while an image is being live '
            'migrated out of this pool (python-rbd 16.2); try again once '
            'the migration has ended')


def trash_remove(ioctx, image_id, force=False):
    _rbd().trash_remove(ioctx, image_id, force)


def trashed_parent(ioctx, image_id):
    """Parent of a trashed image, read by id: needed to clean up after it."""
    with bindings.rbd.Image(ioctx, image_id=image_id,
                            read_only=True) as image:
        return parent_of(image)


def set_config(ioctx, name, settings, managed_keys):
    """Make ``settings`` the image's overrides among ``managed_keys``."""
    with bindings.rbd.Image(ioctx, name) as image:
        current = {entry['name'] for entry in image.config_list()
                   if entry.get('source') == bindings.CONFIG_SOURCE_IMAGE}
        for key in managed_keys:
            if key in settings:
                image.config_set(key, str(settings[key]))
            elif key in current:
                image.config_remove(key)


def update_features(ioctx, name, mask, enabled):
    """Switch the ``mask`` features of ``name``; returns the old set."""
    with bindings.rbd.Image(ioctx, name) as image:
        before = image.features()
        change = (mask & ~before) if enabled else (mask & before)
        if change:
            image.update_features(change, enabled)
        return before


def scan(ioctx):
    """Every image with size, watcher count and user snapshots, in one go.

    Used to list manageable volumes/snapshots: one hand-off for the whole
    pool instead of an ``rbd status`` subprocess per image.
    """
    found = []
    for name in _rbd().list(ioctx):
        try:
            with bindings.rbd.Image(ioctx, name, read_only=True) as image:
                snaps = [{'name': s['name'], 'size': s['size']}
                         for s in image.list_snaps()
                         if s.get('namespace', bindings.SNAP_NAMESPACE_USER)
                         == bindings.SNAP_NAMESPACE_USER]
                found.append({'name': name, 'size': image.size(),
                              'watchers': len(list(image.watchers_list())),
                              'snaps': snaps})
        except bindings.ImageNotFound:
            continue  # removed while we listed
    return found


def rename_snap(ioctx, name, old, new, protect):
    with bindings.rbd.Image(ioctx, name) as image:
        image.rename_snap(old, new)
        if protect and not image.is_protected_snap(new):
            image.protect_snap(new)


def snap_size(ioctx, name, snap):
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        for entry in image.list_snaps():
            if entry['name'] == snap:
                return entry['size']
    raise bindings.ImageNotFound('snapshot %s@%s not found' % (name, snap))


def unprotect_if_unused(ioctx, name, snap):
    """Unprotect ``name@snap`` unless clones (even trashed) need it."""
    with bindings.rbd.Image(ioctx, name) as image:
        image.set_snap(snap)
        children = list(image.list_children2())
        image.set_snap(None)
        if not children and image.is_protected_snap(snap):
            image.unprotect_snap(snap)
