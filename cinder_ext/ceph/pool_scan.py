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
"""Reading a whole pool for the audit, as one off-hub call.

Same rules as :mod:`.images`: no logging, no sleeping. Which images are
Cinder's, and which snapshots are clone snapshots, is Cinder's naming, so
the caller passes it in as ``naming`` (``cinder_ext.volume.names``): an
object with ``volume_id(name)``, ``is_clone_snap(snap)`` and
``DELETED_SUFFIX``.
"""

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images


def _snap_time(image, snap_id):
    try:
        return images.epoch_seconds(image.get_snap_timestamp(snap_id))
    except (AttributeError, bindings.RBDError):  # unknown: counts as old
        return None


def _children(image, snap: str) -> list:
    image.set_snap(snap)
    try:
        return ['%s/%s%s' % (c['pool'], c['image'],
                             ' (in trash)' if c.get('trash') else '')
                for c in image.list_children2()]
    finally:
        image.set_snap(None)


def _describe(image, name: str, every_snap: bool, naming) -> dict:
    """Snapshots of an open image, with the clones that matter."""
    snaps, hidden = [], 0
    for snap in list(image.list_snaps()):
        if snap.get('namespace', bindings.SNAP_NAMESPACE_USER) != \
                bindings.SNAP_NAMESPACE_USER:
            hidden += 1  # clone v2 snapshot trash, groups, mirroring
            continue
        clone_snap = naming.is_clone_snap(snap['name'])
        entry = {'name': snap['name'], 'children': None, 'created': None}
        if every_snap or clone_snap:
            entry['children'] = _children(image, snap['name'])
        if clone_snap and not every_snap:
            entry['created'] = _snap_time(image, snap['id'])
        snaps.append(entry)
    return {'name': name, 'snaps': snaps, 'hidden': hidden,
            'parent': images.parent_of(image)}


def read_image(ioctx, name: str, naming) -> dict:
    """A Cinder image in one open; a .deleted one with every snap's clones."""
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        return _describe(image, name, name.endswith(naming.DELETED_SUFFIX),
                         naming)


def _read_trash(ioctx, now: float, naming, pool: dict) -> None:
    for entry in images.trash_entries(ioctx):
        pool['trash_count'] += 1
        end = images.epoch_seconds(entry['deferment_end_time'])
        if not naming.volume_id(entry['name']) or end > now:
            continue
        try:
            with bindings.rbd.Image(ioctx, image_id=entry['id'],
                                    read_only=True) as image:
                pool['trash'].append({'id': entry['id'], 'end': end,
                                      'image': _describe(image,
                                                         entry['name'],
                                                         True, naming)})
        except bindings.ImageNotFound:
            continue


def read_pool(ioctx, now: float, naming) -> dict:
    """Everything the audit looks at; only Cinder's images are opened."""
    rbd = bindings.rbd.RBD()
    pool = {'images': [], 'trash': [], 'image_count': 0, 'trash_count': 0}
    for name in rbd.list(ioctx):
        pool['image_count'] += 1
        if not naming.volume_id(name):
            pool['images'].append({'name': name, 'foreign': True})
            continue
        try:
            pool['images'].append(read_image(ioctx, name, naming))
        except bindings.ImageNotFound:
            continue  # removed while we listed
    _read_trash(ioctx, now, naming, pool)
    return pool
