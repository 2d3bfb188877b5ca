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

"""A few facts about an image read from its header, without opening it.

Opening an image in librbd costs a dozen sequential round trips (header,
metadata, config, and for a clone the whole parent chain): 4 ms for a
plain image and 10 ms for a clone on the test bed, as long as 10-25% of
removing it. A delete only needs the size, whether there are snapshots and
the parent, which four ``cls_rbd`` method calls return (six for a clone):
1 ms. These are the format-2 methods the kernel RBD client also calls, so
every release keeps them.

Anything unexpected (a format-1 image, a missing image, a parent in another
pool or in a namespace, an error or a reply we cannot decode) raises
:class:`Unreadable`: the caller then opens the image as before, so this is
only ever a shortcut. A timeout or a dead connection is raised as the
bindings' error instead: an open would only wait out the deadline again.
Like :mod:`.images`, it runs as part of one off-hub call and neither logs
nor sleeps.
"""

import dataclasses
import struct
from typing import Optional

from cinder_ext.ceph import bindings

# CEPH_NOSNAP: the image head rather than a snapshot.
NOSNAP = 0xfffffffffffffffe
_U64 = struct.Struct('<Q')
_U32 = struct.Struct('<I')
_SIZE = struct.Struct('<BQ')          # order, size
_PARENT = struct.Struct('<q')         # pool id (then id, snap, overlap)
_SNAPC = struct.Struct('<QI')         # seq, snapshot count


class Unreadable(Exception):
    """The header cannot be read this way; open the image instead."""


@dataclasses.dataclass(frozen=True)
class HeaderFacts(object):
    size: int                 # bytes, image head
    snap_count: int           # snapshots in every namespace (trash too)
    parent: Optional[tuple]   # (pool, image, snap) or None


def _string(data: bytes, offset: int = 0) -> tuple:
    (length,) = _U32.unpack_from(data, offset)
    end = offset + _U32.size + length
    if end > len(data):
        raise ValueError('truncated string')
    return data[offset + _U32.size:end].decode('utf-8'), end


def _call(ioctx, obj: str, method: str, data: bytes = b'') -> bytes:
    """Output of ``rbd.<method>`` on ``obj``.

    Synchronous on purpose: python-rados completes ``aio_*`` calls under
    the ioctx's ``threading.Lock``, which eventlet turns green, on a
    librados thread eventlet does not know.
    """
    try:
        _ret, out = ioctx.execute(obj, 'rbd', method, data)
    except bindings.RadosError as error:
        # An image open would meet these too, after waiting as long again:
        # they end the operation (and retire a dead connection).
        if isinstance(error, (bindings.TimedOut,) +
                      bindings.DEAD_CONNECTION_ERRORS):
            raise
        raise Unreadable('%s on %s: %s' % (method, obj, error))
    return out


def _parent(ioctx, reply: bytes) -> Optional[tuple]:
    """Name the parent a ``get_parent`` reply gives by ids."""
    (pool_id,) = _PARENT.unpack_from(reply)
    if pool_id < 0:
        return None
    if pool_id != ioctx.get_pool_id():
        # Another pool needs another ioctx: leave it to an image open.
        raise Unreadable('parent in pool id %d' % pool_id)
    parent_id, offset = _string(reply, _PARENT.size)
    (snap_id,) = _U64.unpack_from(reply, offset)
    encoded_id = parent_id.encode('utf-8')
    name = _call(ioctx, 'rbd_directory', 'dir_get_name',
                 _U32.pack(len(encoded_id)) + encoded_id)
    snap = _call(ioctx, 'rbd_header.' + parent_id, 'get_snapshot_name',
                 _U64.pack(snap_id))
    return (ioctx.get_pool_name(), _string(name)[0], _string(snap)[0])


def read(ioctx, name: str) -> HeaderFacts:
    """Size, snapshot count and parent of ``name``, or :class:`Unreadable`.

    The parent is given by name, as ``Image.parent_info()`` gives it. Four
    round trips for an image without a parent, six with one.
    """
    try:
        image_id, _end = _string(_call(ioctx, 'rbd_id.' + name, 'get_id'))
        header_obj = 'rbd_header.' + image_id
        _order, size = _SIZE.unpack_from(
            _call(ioctx, header_obj, 'get_size', _U64.pack(NOSNAP)))
        _seq, snap_count = _SNAPC.unpack_from(
            _call(ioctx, header_obj, 'get_snapcontext'))
        parent = _parent(ioctx, _call(ioctx, header_obj, 'get_parent',
                                      _U64.pack(NOSNAP)))
    except (struct.error, ValueError) as error:  # UnicodeError included
        raise Unreadable('undecodable reply for %s: %s' % (name, error))
    return HeaderFacts(size=size, snap_count=snap_count, parent=parent)
