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

"""librbd live migration of one image to another pool of its cluster.

librbd moves the image in three steps: ``prepare`` links a new image in the
destination pool to the source (which moves to the source pool's trash),
``execute`` copies the data and snapshots, ``commit`` removes the source.
Until ``commit``, ``abort`` puts the source back as it was.

Each function runs as ONE call of the blocking layer; following the rule
in :mod:`.blocking`, nothing here logs or sleeps.
"""

import dataclasses

from cinder_ext.ceph import bindings


@dataclasses.dataclass
class Source(object):
    """What decides whether an image may be live migrated."""

    watchers: int       # clients with the image open
    children: int       # clones of any of its snapshots, in any pool


def inspect_source(ioctx, name: str) -> Source:
    """Read watchers and children in one open."""
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        # At HEAD, librbd lists the clones of every snapshot.
        return Source(watchers=len(list(image.watchers_list())),
                      children=len(list(image.list_children2())))


def exists(ioctx, name: str) -> bool:
    """True if ``name`` exists; a read in the pool, so it probes access."""
    try:
        with bindings.rbd.Image(ioctx, name, read_only=True):
            return True
    except bindings.ImageNotFound:
        return False


def prepare(src_ioctx, dest_ioctx, name: str) -> None:
    """Link ``name`` in the destination pool to the source image.

    Features, object size and striping stay those of the source.
    """
    bindings.rbd.RBD().migration_prepare(src_ioctx, name, dest_ioctx, name)


def execute(dest_ioctx, name: str) -> None:
    """Copy data and snapshots; the long step."""
    bindings.rbd.RBD().migration_execute(dest_ioctx, name)


def commit(dest_ioctx, name: str) -> None:
    """Remove the source; after this there is no way back."""
    bindings.rbd.RBD().migration_commit(dest_ioctx, name)


def abort(dest_ioctx, name: str) -> None:
    """Remove the destination and restore the source as it was."""
    bindings.rbd.RBD().migration_abort(dest_ioctx, name)
