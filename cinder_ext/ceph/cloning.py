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
"""COW clones and full copies, each as one off-hub call with few opens.

An image open costs a few milliseconds (header reads, watch setup), as much
as the clone itself, so each function opens every image at most once and
reads all it needs then. Like :mod:`.images`, nothing here logs or sleeps;
on failure each function removes what it made before re-raising.
"""

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images


def clone_order(stripe_unit, min_order):
    """A clone's object size must be at least its parent's stripe unit."""
    return max(min_order, stripe_unit.bit_length() - 1)


def _grow_new(ioctx, name, grow_to, luks=False):
    """Grow a just-made image, or remove it again if that fails.

    ``luks``: ``grow_to`` is the size the guest sees, and the image keeps
    the LUKS1 header it has from its source in front of that.
    """
    if not grow_to:
        return
    try:
        with bindings.rbd.Image(ioctx, name) as image:
            size = image.size()
            if luks:
                grow_to += images.luks_payload_offset(image, size)
            if size < grow_to:
                image.resize(grow_to)
    except BaseException:
        images.remove_if_exists(ioctx, name)
        raise


def _clone(p_ioctx, p_name, p_snap, c_ioctx, c_name, features, order):
    """RBD clone that copes with an unprotected parent on a v1 cluster.

    A snapshot made unprotected while the cluster required mimic clients
    cannot be cloned in format 1 after the requirement is lowered: librbd
    answers EINVAL. Protecting it then is what makes the clone possible.
    """
    rbd = bindings.rbd.RBD()
    try:
        rbd.clone(p_ioctx, p_name, p_snap, c_ioctx, c_name,
                  features=features, order=order)
    except bindings.InvalidArgument:
        with bindings.rbd.Image(p_ioctx, p_name) as parent:
            if parent.is_protected_snap(p_snap):
                raise
            parent.protect_snap(p_snap)
        rbd.clone(p_ioctx, p_name, p_snap, c_ioctx, c_name,
                  features=features, order=order)


def clone_snapshot(p_ioctx, p_name, p_snap, c_ioctx, c_name, features,
                   order, grow_to=None, luks=False):
    """Clone ``p_name@p_snap`` to ``c_name``; grow it if ``grow_to``.

    ``order`` None lets librbd use the parent's object size.
    """
    _clone(p_ioctx, p_name, p_snap, c_ioctx, c_name, features, order)
    _grow_new(c_ioctx, c_name, grow_to, luks)


def _ancestor_depth(ioctx, name, is_cinder_clone):
    depth = 0
    while True:
        with bindings.rbd.Image(ioctx, name, read_only=True) as image:
            parent = images.parent_of(image)
        if not parent or not is_cinder_clone(name, parent[2]):
            return depth
        depth += 1
        name = parent[1]


def snapshot_and_clone(ioctx, src, snap, dest, features, min_order,
                       is_cinder_clone, grow_to=None, luks=False):
    """Snapshot ``src`` as ``snap`` (protected), clone it to ``dest``.

    Returns the clone depth of ``src``: how many Cinder clones deep it
    already is. The source is opened once for the snapshot, its stripe unit
    and its parent.
    """
    with bindings.rbd.Image(ioctx, src) as image:
        image.create_snap(snap)
        try:
            image.protect_snap(snap)
            unit = image.stripe_unit()
            parent = images.parent_of(image)
        except BaseException:
            image.remove_snap(snap)
            raise
    try:
        clone_snapshot(ioctx, src, snap, ioctx, dest, features,
                       clone_order(unit, min_order), grow_to, luks)
    except BaseException:
        images.remove_snap(ioctx, src, snap)
        raise
    if not parent or not is_cinder_clone(src, parent[2]):
        return 0
    return 1 + _ancestor_depth(ioctx, parent[1], is_cinder_clone)


def copy_image(ioctx, src, dest_ioctx, dest, features, order, grow_to=None,
               luks=False):
    """Full copy of ``src`` into a new ``dest``, grown if ``grow_to``."""
    with bindings.rbd.Image(ioctx, src, read_only=True) as image:
        image.copy(dest_ioctx, dest, features=features, order=order)
    _grow_new(dest_ioctx, dest, grow_to, luks)


def copy_as_of_now(ioctx, src, tmp_snap, dest_ioctx, dest, dest_snap,
                   features):
    """Copy ``src`` into a new ``dest`` carrying a protected ``dest_snap``.

    ``dest`` is a clone of a snapshot ``tmp_snap`` of ``src`` taken here,
    flattened, then the snapshot is removed again: writes to an attached
    volume during the copy are either wholly in it or not at all, and the
    copy is as thin as the source, with its object size and striping.
    Not ``Image.copy`` of the snapshot: with the object map on, Ceph 16's
    copy of a clone's snapshot leaves out what it reads from the parent.
    Returns the size in bytes.
    """
    with bindings.rbd.Image(ioctx, src) as image:
        image.create_snap(tmp_snap)
        try:
            image.protect_snap(tmp_snap)
            size = image.size()
        except BaseException:
            image.remove_snap(tmp_snap)
            raise
    try:
        clone_snapshot(ioctx, src, tmp_snap, dest_ioctx, dest, features,
                       None)
        try:
            images.flatten(dest_ioctx, dest)
            images.create_snap(dest_ioctx, dest, dest_snap, protect=True)
        except BaseException:
            images.remove_with_snap(dest_ioctx, dest, dest_snap)
            raise
    finally:
        images.remove_snap(ioctx, src, tmp_snap)
    return size
