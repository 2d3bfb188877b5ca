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
"""Bringing existing images and snapshots under Cinder, and letting go.

The answers have the in-tree driver's shape; the pool is read in one
off-hub call (watchers from librbd) instead of one ``rbd status``
subprocess per image.
"""

from cinder import exception
from cinder.volume import volume_utils

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images
from cinder_ext.volume import clones
from cinder_ext.volume import image_transfer
from cinder_ext.volume import names
from cinder_ext.volume import validation


def _scan(backend):
    with backend.session() as session:
        return session.run(images.scan, session.ioctx(backend.pool))


def _volume_entry(image, cinder_ids):
    image_id = volume_utils.extract_id_from_volume_name(image['name'])
    entry = {'reference': {'source-name': image['name']},
             'size': image_transfer.size_in_gb(image['size']),
             'cinder_id': None, 'extra_info': None,
             'safe_to_manage': False, 'reason_not_safe': None}
    if image_id in cinder_ids:
        entry.update(cinder_id=image_id, reason_not_safe='already managed')
    elif image['watchers']:
        entry['reason_not_safe'] = 'volume in use'
    elif image['name'].endswith(names.DELETED_SUFFIX):
        entry['reason_not_safe'] = 'volume marked as deleted'
    else:
        entry['safe_to_manage'] = True
    return entry


def manageable_volumes(backend, cinder_volumes, marker, limit, offset,
                       sort_keys, sort_dirs):
    cinder_ids = {volume['id'] for volume in cinder_volumes}
    entries = [_volume_entry(image, cinder_ids) for image in _scan(backend)]
    return volume_utils.paginate_entries_list(entries, marker, limit, offset,
                                              sort_keys, sort_dirs)


def _snapshot_entry(image_name, snap, cinder_ids):
    snap_id = volume_utils.extract_id_from_snapshot_name(snap['name'])
    entry = {'reference': {'source-name': snap['name']},
             'size': image_transfer.size_in_gb(snap['size']),
             'cinder_id': None, 'extra_info': None,
             'safe_to_manage': False, 'reason_not_safe': None,
             'source_reference': {'source-name': image_name}}
    if snap_id in cinder_ids:
        entry.update(cinder_id=snap_id, reason_not_safe='already managed')
    elif names.is_clone_snap(snap['name']):
        entry['reason_not_safe'] = 'used for clone snap'
    elif names.is_backup_snap(snap['name']):
        entry['reason_not_safe'] = 'used for volume backup'
    else:
        entry['safe_to_manage'] = True
    return entry


def manageable_snapshots(backend, cinder_snapshots, marker, limit, offset,
                         sort_keys, sort_dirs):
    cinder_ids = {snap['id'] for snap in cinder_snapshots}
    entries = [_snapshot_entry(image['name'], snap, cinder_ids)
               for image in _scan(backend) for snap in image['snaps']]
    return volume_utils.paginate_entries_list(entries, marker, limit, offset,
                                              sort_keys, sort_dirs)


def _sized_plain_image(backend, existing_ref) -> tuple:
    """(name, size) of the image to manage, refusing LUKS-encrypted ones.

    Ceph decides: an image made by the in-tree driver for an encrypted
    volume type carries a LUKS header, whatever the request says.
    """
    source = validation.source_name(existing_ref)
    with backend.session() as session:
        try:
            size, luks = session.run(images.size_and_luks,
                                     session.ioctx(backend.pool), source)
        except bindings.ImageNotFound:
            raise exception.ManageExistingInvalidReference(
                existing_ref=existing_ref,
                reason='RBD image %s does not exist in pool %s'
                       % (source, backend.pool))
    if luks:
        raise exception.ManageExistingInvalidReference(
            existing_ref=existing_ref,
            reason='RBD image %s is LUKS-encrypted: Cinder has no key '
                   'for it, so it cannot be managed as a volume; nothing '
                   'was changed' % source)
    return source, size


def existing_volume_size(backend, existing_ref):
    _source, size = _sized_plain_image(backend, existing_ref)
    return image_transfer.size_in_gb(size)


def manage_volume(backend, volume, existing_ref):
    source, _size = _sized_plain_image(backend, existing_ref)
    with backend.session() as session:
        session.run(images.rename, session.ioctx(backend.pool), source,
                    volume.name)


def _snapshot_ref(existing_ref):
    if not isinstance(existing_ref, dict):
        existing_ref = {'source-name': existing_ref}
    return validation.source_name(existing_ref)


def existing_snapshot_size(backend, snapshot, existing_ref):
    source = _snapshot_ref(existing_ref)
    with backend.session() as session:
        try:
            size = session.run(images.snap_size, session.ioctx(backend.pool),
                               snapshot.volume_name, source)
        except bindings.ImageNotFound:
            raise exception.ManageExistingInvalidReference(
                existing_ref=existing_ref,
                reason='RBD snapshot %s@%s does not exist'
                       % (snapshot.volume_name, source))
    return image_transfer.size_in_gb(size)


def manage_snapshot(backend, snapshot, existing_ref):
    source = _snapshot_ref(existing_ref)
    with backend.session() as session:
        session.run(images.rename_snap, session.ioctx(backend.pool),
                    snapshot.volume_name, source, snapshot.name,
                    clones.protect_snapshots(backend, session))


def unmanage_snapshot(backend, snapshot):
    with backend.session() as session:
        session.run(images.unprotect_if_unused, session.ioctx(backend.pool),
                    snapshot.volume_name, snapshot.name)
