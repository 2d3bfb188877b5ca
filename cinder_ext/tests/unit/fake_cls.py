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

"""Fake ``cls_rbd`` methods behind ``FakeIoctx.execute``.

Only the format-2 header reads :mod:`cinder_ext.ceph.header` makes, with
cls_rbd's encodings (little-endian integers, strings as a u32 length and
the bytes). A missing object raises ``rados.ObjectNotFound`` and any other
method ``rados.OSError`` (EOPNOTSUPP), as an OSD without it would. Faults
are injected as ``cluster.fail('execute', error)``.
"""

import errno
import struct

from cinder_ext.tests.unit import fake_errors

NOSNAP = 0xfffffffffffffffe


def _string(text):
    data = text.encode('utf-8')
    return struct.pack('<I', len(data)) + data


def _read_string(data):
    (length,) = struct.unpack_from('<I', data)
    return data[4:4 + length].decode('utf-8')


def _missing(obj):
    fake_errors.raise_error('rados', 'ObjectNotFound',
                            'Ioctx.execute: failed to execute on %s' % obj)


def _image_by_id(pool, image_id):
    for image in list(pool.images.values()) + list(pool.trash.values()):
        if image.id == image_id:
            return image
    return None


def _snap_by_id(image, snap_id):
    for snap in image.snaps:
        if snap.id == snap_id:
            return snap
    fake_errors.raise_error('rados', 'ObjectNotFound',
                            'no snapshot %d' % snap_id)


def _header_method(image, method, data):
    if method == 'get_size':
        return struct.pack('<BQ', image.order, image.size)
    if method == 'get_snapcontext':
        ids = sorted((s.id for s in image.snaps), reverse=True)
        return struct.pack('<QI%dQ' % len(ids), max(ids or [0]), len(ids),
                           *ids)
    if method == 'get_parent':
        if not image.parent:
            return struct.pack('<q', -1) + _string('') + struct.pack(
                '<QQ', NOSNAP, 0)
        parent, snap = image.parent
        return (struct.pack('<q', parent.pool.id) + _string(parent.id) +
                struct.pack('<QQ', snap.id, image.size))
    if method == 'get_snapshot_name':
        (snap_id,) = struct.unpack('<Q', data)
        return _string(_snap_by_id(image, snap_id).name)
    return None


def execute(pool, obj, method, data):
    """``(ret, output)`` of ``rbd.<method>`` on ``obj`` in ``pool``."""
    out = None
    if obj.startswith('rbd_id.'):
        image = pool.images.get(obj[len('rbd_id.'):])
        if image is None:
            _missing(obj)
        if method == 'get_id':
            out = _string(image.id)
    elif obj.startswith('rbd_header.'):
        image = _image_by_id(pool, obj[len('rbd_header.'):])
        if image is None:
            _missing(obj)
        out = _header_method(image, method, data)
    elif obj == 'rbd_directory' and method == 'dir_get_name':
        image = _image_by_id(pool, _read_string(data))
        if image is None or image.trash_entry:
            _missing(obj)
        out = _string(image.name)
    if out is None:
        raise fake_errors.ERRORS['rados']['OSError'](
            'Ioctx.execute: rbd.%s on %s' % (method, obj),
            errno.EOPNOTSUPP)
    return len(out), out
