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

"""Image and snapshot names shared with Cinder's in-tree RBD driver.

These conventions are what make volumes portable between the two drivers,
so they are defined once here and never spelled out elsewhere.
"""

import re

from cinder.volume import volume_utils
from oslo_utils import uuidutils

CLONE_SNAP_SUFFIX = '.clone_snap'
DELETED_SUFFIX = '.deleted'
# Snapshots the Ceph backup driver leaves on a volume for incrementals.
_BACKUP_SNAP = re.compile(r'^backup\.([a-z0-9\-]+?)\.snap\.(.+)$')


def clone_snap(dest_name):
    """Snapshot taken on a source volume to clone ``dest_name`` from."""
    return dest_name + CLONE_SNAP_SUFFIX


def is_clone_snap(snap_name):
    return snap_name.endswith(CLONE_SNAP_SUFFIX)


def deleted(name):
    """Name a deleted volume keeps while clones still depend on it."""
    return name + DELETED_SUFFIX


def live_name(name):
    """The volume name with any ``.deleted`` tag removed."""
    if name.endswith(DELETED_SUFFIX):
        return name[:-len(DELETED_SUFFIX)]
    return name


def volume_id(image_name: str):
    """The Cinder volume id in ``image_name`` (``.deleted`` or not), if any.

    Follows Cinder's ``volume_name_template``, as Cinder itself does.
    """
    found = volume_utils.extract_id_from_volume_name(live_name(image_name))
    return found if found and uuidutils.is_uuid_like(found) else None


def is_cinder_clone(image_name, parent_snap):
    """True when ``image_name`` was cloned by Cinder from ``parent_snap``.

    Cinder's volume-to-volume clones hang off ``<dest>.clone_snap``; clones
    of user snapshots or Glance images do not count towards clone depth.
    """
    return parent_snap == clone_snap(live_name(image_name))


def is_backup_snap(snap_name):
    return bool(_BACKUP_SNAP.match(snap_name))
