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

"""Glance images into volumes and back, through librbd rather than the CLI.

The in-tree driver deletes the new volume and re-creates it with an
``rbd import`` subprocess, and exports with ``rbd export``. Here the data is
written into (or read from) the image with librbd, skipping all-zero chunks
so thin volumes stay thin. Format conversion stays with Cinder's
``image_utils`` (qemu-img), as in every driver.
"""

import math
import os
import tempfile
import urllib.parse

from cinder import exception
from cinder.image import image_utils
from cinder.volume import volume_utils
from oslo_log import log as logging
from oslo_utils import units

from cinder_ext.ceph import bindings

LOG = logging.getLogger(__name__)

CHUNK = 4 * units.Mi
# Zero detection granularity: runs of non-zero blocks become one write.
BLOCK = 64 * units.Ki
_ZERO_BLOCK = bytes(BLOCK)


def nonzero_runs(data):
    """(start, end) ranges of ``data`` that are not all-zero blocks."""
    runs = []
    start = None
    for pos in range(0, len(data), BLOCK):
        block = data[pos:pos + BLOCK]
        if block == _ZERO_BLOCK[:len(block)]:
            if start is not None:
                runs.append((start, pos))
                start = None
        elif start is None:
            start = pos
    if start is not None:
        runs.append((start, len(data)))
    return runs


def write_file_to_image(ioctx, name, path):
    """Copy ``path`` into image ``name`` (grown if needed), sparsely."""
    size = os.path.getsize(path)
    with bindings.rbd.Image(ioctx, name) as image:
        if image.size() < size:
            image.resize(size)
        with open(path, 'rb') as src:
            offset = 0
            while True:
                data = src.read(CHUNK)
                if not data:
                    break
                view = memoryview(data)
                for start, end in nonzero_runs(data):
                    image.write(bytes(view[start:end]), offset + start)
                offset += len(data)
        image.flush()
    return size


def read_image_to_file(ioctx, name, path):
    """Copy image ``name`` into ``path``, leaving holes for zero chunks."""
    with bindings.rbd.Image(ioctx, name, read_only=True) as image:
        size = image.size()
        with open(path, 'wb') as dest:
            offset = 0
            while offset < size:
                data = image.read(offset, min(CHUNK, size - offset))
                if data.count(0) == len(data):
                    dest.seek(len(data), os.SEEK_CUR)
                else:
                    dest.write(data)
                offset += len(data)
            dest.truncate(size)
    return size


def copy_image_to_volume(backend, context, volume, image_service, image_id,
                         blocksize, disable_sparse=False):
    tmp_dir = volume_utils.image_conversion_dir()
    with tempfile.NamedTemporaryFile(dir=tmp_dir) as tmp:
        image_utils.fetch_to_raw(context, image_service, image_id, tmp.name,
                                 blocksize, size=volume.size,
                                 disable_sparse=disable_sparse)
        with backend.session() as session:
            written = session.run(write_file_to_image,
                                  session.ioctx(backend.pool), volume.name,
                                  tmp.name)
    LOG.debug('Wrote %d bytes of image %s into %s', written, image_id,
              volume.name)


def copy_volume_to_image(backend, context, volume, image_service,
                         image_meta):
    tmp_dir = volume_utils.image_conversion_dir()
    with tempfile.NamedTemporaryFile(dir=tmp_dir) as tmp:
        with backend.session() as session:
            session.run(read_image_to_file, session.ioctx(backend.pool),
                        volume.name, tmp.name)
        volume_utils.upload_volume(context, image_service, image_meta,
                                   tmp.name, volume)


def parse_location(location):
    """``rbd://fsid/pool/image/snap`` -> [fsid, pool, image, snap]."""
    prefix = 'rbd://'
    if not location or not location.startswith(prefix):
        raise exception.ImageUnacceptable(image_id=location,
                                          reason='Not stored in RBD')
    pieces = [urllib.parse.unquote(p)
              for p in location[len(prefix):].split('/')]
    if any(p == '' for p in pieces):
        raise exception.ImageUnacceptable(image_id=location,
                                          reason='Blank components')
    if len(pieces) != 4:
        raise exception.ImageUnacceptable(image_id=location,
                                          reason='Not an RBD snapshot')
    return pieces


def cloneable_location(backend, image_location, image_meta):
    """The first (pool, image, snap) Glance stored in our cluster, raw."""
    if not image_location or image_meta.get('disk_format') != 'raw':
        return None
    direct_url, locations = image_location
    urls = ([loc['url'] for loc in locations] if locations
            else [direct_url])
    fsid = backend.client.fsid()
    for url in urls:
        try:
            loc_fsid, pool, image, snap = parse_location(url)
        except exception.ImageUnacceptable as error:
            LOG.debug('Not cloneable: %s', error)
            continue
        if loc_fsid == fsid:
            return pool, image, snap
    return None


def size_in_gb(size_bytes):
    return int(math.ceil(float(size_bytes) / units.Gi))
