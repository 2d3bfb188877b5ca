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

"""Volume to raw Glance image inside Ceph: no data through Glance.

With ``rbd_glance_store_pool`` set, librbd copies the volume (as of one
instant, thin) into Glance's pool, laid out as Glance's RBD store lays out
images it writes itself (``<pool>/<image id>@snap``, protected, so volumes
and servers clone it as usual), and Cinder hands Glance that location with
Glance's "add location" API (Glance 2024.2 and newer; it takes it only from
a user with the ``service`` role, Cinder's ``[glance]`` auth section).
Glance checks the location, sizes the image from it and makes it active; it
computes the checksum afterwards by reading the image (``do_secure_hash``).

A copy instead of a clone: the image must not pin the volume (Glance could
then never be sure of its data, nor Cinder delete the volume). What Glance
refuses (no ``service`` role, a store in another cluster, an older Glance)
leaves the image queued: the copy is removed and the volume streamed to
Glance as without the option.
"""

import time
import urllib.parse

from oslo_log import log as logging

from cinder_ext.ceph import cloning
from cinder_ext.ceph import images

LOG = logging.getLogger(__name__)

# Glance's RBD store names the one snapshot of each image so.
STORE_SNAP = 'snap'
# Glance makes an image active right after checking the location.
ACTIVE_WAIT_SECONDS = 60
_POLL_SECONDS = 0.5


def eligible(conf, volume, image_meta: dict) -> bool:
    """A plain raw image that Glance's RBD store could hold as it is."""
    return bool(conf.safe_get('rbd_glance_store_pool') and
                image_meta.get('disk_format') == 'raw' and
                image_meta.get('container_format') == 'bare' and
                not volume.encryption_key_id)


def location_url(fsid: str, pool: str, image_id: str) -> str:
    parts = (fsid, pool, image_id, STORE_SNAP)
    return 'rbd://' + '/'.join(urllib.parse.quote(p, safe='') for p in parts)


def upload(backend, context, volume, image_service, image_meta) -> bool:
    """Copy ``volume`` into Glance's pool as the image; False if refused.

    On False nothing of the attempt is left and the image is still queued.
    """
    pool = backend.conf.rbd_glance_store_pool
    image_id = image_meta['id']
    started = time.monotonic()
    try:
        with backend.transfer_limit, backend.session() as session:
            size = session.run(
                cloning.copy_as_of_now, session.ioctx(backend.pool),
                volume.name, 'glance-upload.' + image_id,
                session.ioctx(pool), image_id, STORE_SNAP,
                backend.features(session))
        url = location_url(backend.client.fsid(), pool, image_id)
    except Exception as error:
        LOG.warning('Copying volume %(vol)s into pool %(pool)s '
                    '(rbd_glance_store_pool) failed, uploading through '
                    'Glance instead: %(err)s',
                    {'vol': volume.id, 'pool': pool, 'err': error})
        _discard(backend, pool, image_id)
        return False
    try:
        image_service.add_location(context, image_id, url, {})
        _wait_active(context, image_service, image_id)
    except Exception as error:
        LOG.warning('Glance did not take %(url)s as the data of image '
                    '%(image)s, uploading through Glance instead: %(err)s',
                    {'url': url, 'image': image_id, 'err': error})
        _discard(backend, pool, image_id)
        return False
    LOG.info('Volume %(vol)s is image %(image)s at %(url)s: %(size)d bytes '
             'copied inside Ceph in %(secs).1f s',
             {'vol': volume.id, 'image': image_id, 'url': url, 'size': size,
              'secs': time.monotonic() - started})
    return True


class _NotActive(Exception):
    pass


def _wait_active(context, image_service, image_id: str) -> None:
    deadline = time.monotonic() + ACTIVE_WAIT_SECONDS
    while True:
        status = image_service.show(context, image_id).get('status')
        if status == 'active':
            return
        if status not in ('queued', 'importing', 'saving'):
            raise _NotActive('image status %s' % status)
        if time.monotonic() >= deadline:
            raise _NotActive('still %s after %d s' % (status,
                                                      ACTIVE_WAIT_SECONDS))
        time.sleep(_POLL_SECONDS)


def _discard(backend, pool: str, image_id: str) -> None:
    """Remove our copy unless it is gone (Glance removes what it refuses)."""
    try:
        with backend.session() as session:
            session.run(images.remove_with_snap, session.ioctx(pool),
                        image_id, STORE_SNAP)
    except Exception as error:
        LOG.error('Could not remove %(pool)s/%(image)s, a copy Glance did '
                  'not take; remove it by hand: %(err)s',
                  {'pool': pool, 'image': image_id, 'err': error})
