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

"""Glance images into volumes and back: the Cinder side.

The in-tree driver deletes the new volume and re-creates it with an
``rbd import`` subprocess, and exports with ``rbd export``. Here the data
moves through librbd (:mod:`cinder_ext.ceph.transfer`: asynchronous I/O,
zero runs skipped on thin targets and zeroed on reimage). Format conversion
stays with Cinder's ``image_utils`` (qemu-img), as in every driver; raw
uploads stream straight from the image to Glance without a temporary file,
or, with ``rbd_glance_store_pool``, skip Glance's data path altogether
(:mod:`.glance_upload`).

Each transfer holds one blocking-layer thread (eventlet's tpool, 20 threads
by default) for as long as it moves data, so transfers are bounded per
backend by ``rbd_max_concurrent_transfers`` (``Backend.transfer_limit``),
below the pool size: control calls (stats, create, attach) always find a
free thread.
"""

import math
import tempfile
import urllib.parse

from cinder import exception
from cinder.image import image_utils
from cinder.volume import volume_utils
from oslo_log import log as logging
from oslo_utils import units

from cinder_ext.ceph import transfer
from cinder_ext.volume import deletion
from cinder_ext.volume import glance_upload

LOG = logging.getLogger(__name__)


def copy_image_to_volume(backend, context, volume, image_service, image_id,
                         blocksize, disable_sparse=False) -> None:
    tmp_dir = volume_utils.image_conversion_dir()
    with tempfile.NamedTemporaryFile(dir=tmp_dir) as tmp:
        image_utils.fetch_to_raw(context, image_service, image_id, tmp.name,
                                 blocksize, size=volume.size,
                                 disable_sparse=disable_sparse)
        # Reimage passes disable_sparse: old data must not survive under
        # the new image's zeros (transfer also checks the target itself).
        with backend.transfer_limit, backend.session() as session:
            written = session.run(transfer.write_file_to_image,
                                  session.ioctx(backend.pool), volume.name,
                                  tmp.name, overwrite=disable_sparse)
    LOG.debug('Wrote %d bytes of image %s into %s', written, image_id,
              volume.name)
    if disable_sparse:
        # Reimage: a clone (of the old image, of another volume) must not
        # keep its parent, or the old Glance image can never be deleted.
        deletion.detach_from_parent(backend, volume.name)


def _streamable(image_meta) -> bool:
    """Cinder uploads these as they are, from a file-like object."""
    return (image_meta.get('disk_format') == 'raw' and
            image_meta.get('container_format') != 'compressed')


def copy_volume_to_image(backend, context, volume, image_service,
                         image_meta) -> None:
    if (glance_upload.eligible(backend.conf, volume, image_meta) and
            glance_upload.upload(backend, context, volume, image_service,
                                 image_meta)):
        return
    if _streamable(image_meta):
        with backend.transfer_limit, backend.session() as session:
            reader = session.run(transfer.open_reader,
                                 session.ioctx(backend.pool), volume.name)
            try:
                # As in-tree: no path, Cinder reads volume_fd off the hub.
                volume_utils.upload_volume(context, image_service,
                                           image_meta, None, volume,
                                           volume_fd=reader)
            finally:
                session.run(reader.close)
        return
    tmp_dir = volume_utils.image_conversion_dir()
    with tempfile.NamedTemporaryFile(dir=tmp_dir) as tmp:
        with backend.transfer_limit, backend.session() as session:
            session.run(transfer.read_image_to_file,
                        session.ioctx(backend.pool), volume.name, tmp.name)
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


def cloneable_locations(backend, image_location, image_meta) -> list:
    """Every (pool, image, snap) of a raw image Glance keeps in our cluster.

    All of them, in Glance's order: one that turns out unreadable (pool or
    image gone, no caps) is skipped for the next.
    """
    if not image_location or image_meta.get('disk_format') != 'raw':
        return []
    direct_url, locations = image_location
    urls = ([loc['url'] for loc in locations] if locations
            else [direct_url])
    fsid = backend.client.fsid()
    found = []
    for url in urls:
        try:
            loc_fsid, pool, image, snap = parse_location(url)
        except exception.ImageUnacceptable as error:
            LOG.debug('Not cloneable: %s', error)
            continue
        if loc_fsid == fsid:
            found.append((pool, image, snap))
    return found


def size_in_gb(size_bytes):
    return int(math.ceil(float(size_bytes) / units.Gi))
