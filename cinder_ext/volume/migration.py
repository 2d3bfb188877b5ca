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

"""Backend-assisted volume migration between pools of one cluster.

Cinder asks the source backend first (``migrate_volume``); answering
``(False, None)`` makes Cinder copy the volume through the volume service.
We answer:

- same cluster, same pool: ``(True, None)``, a database-only move;
- same cluster, other pool, available volume: a librbd live migration
  (prepare, execute, commit) that keeps the image name, its snapshots and
  its parent link; any failure after prepare is aborted, which leaves the
  source exactly as it was, and the error is raised;
- anything else (another cluster, a destination pool we cannot use, an
  attached or open image, an image with clones): ``(False, None)`` with a
  log line saying why.
"""

import dataclasses
import time
import typing

from cinder.common import constants
from cinder import exception
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images
from cinder_ext.ceph import migration as ceph_migration

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

REFUSED = (False, None)
# 'maintenance' and 'retyping' are what Cinder sets on an available
# volume while it migrates or retypes it.
MOVABLE_STATUSES = ('available', 'maintenance', 'retyping')


@dataclasses.dataclass(frozen=True)
class Location(object):
    """A backend's ``location_info``: where its volumes live."""

    cluster_name: str
    ceph_conf: str
    fsid: str
    user: str
    pool: str


def parse_location(info: typing.Optional[str]) -> typing.Optional[Location]:
    """Parse ``cluster_name:ceph_conf:fsid:user:pool``; None if malformed.

    Split from both ends, so a ``:`` in the ceph.conf path does not break
    it (it does in-tree).
    """
    if not info:
        return None
    cluster, sep, rest = str(info).partition(':')
    fields = rest.rsplit(':', 3)
    if not sep or len(fields) != 4 or not all(fields[1:]):
        return None
    return Location(cluster, *fields)


def _refuse(volume, why: str, *args) -> tuple:
    LOG.info('Volume %s: no backend-assisted migration, Cinder will copy '
             'it: ' + why, volume.id, *args)
    return REFUSED


def _destination(backend, volume, host) -> typing.Optional[Location]:
    """The destination on our cluster, or None (logged) otherwise."""
    caps = host.get('capabilities') or {}
    if caps.get('storage_protocol') != constants.CEPH:
        _refuse(volume, 'destination protocol is %s, not ceph',
                caps.get('storage_protocol'))
        return None
    location = parse_location(caps.get('location_info'))
    if location is None:
        _refuse(volume, 'destination location_info %r is not '
                'cluster_name:ceph_conf:fsid:user:pool',
                caps.get('location_info'))
    elif location.fsid != backend.client.fsid():
        _refuse(volume, 'destination is another cluster (fsid %s)',
                location.fsid)
        return None
    return location


def migrate_volume(backend, volume, host) -> tuple:
    """Cinder's ``migrate_volume``: ``(moved, model_update)``."""
    location = _destination(backend, volume, host)
    if location is None:
        return REFUSED
    if location.pool == backend.pool:
        LOG.info('Volume %s: destination uses the same pool %s, nothing to '
                 'move', volume.id, location.pool)
        return True, None
    if volume.status not in MOVABLE_STATUSES or volume.volume_attachment:
        return _refuse(volume, 'status %s with %d attachment(s); only '
                       'detached volumes move between pools', volume.status,
                       len(volume.volume_attachment or []))
    # A late release would miss the snapshot once the image moved.
    backend.releases.wait((backend.pool, volume.name), backend.spec.timeout)
    with backend.session() as session:
        moved, update = _move(session, backend.pool, location.pool, volume)
    if moved:
        backend.capacity.removed(int(volume.size) * units.Gi)
    return moved, update


def _check_source(session, src, dest, volume) -> typing.Optional[str]:
    """Why the image cannot be live migrated, or None."""
    name = volume.name
    try:
        if session.run(ceph_migration.exists, dest, name):
            return 'an image %s already exists in the destination' % name
    except bindings.no_access_errors() as error:
        return 'cannot use the destination pool: %s' % error
    source = session.run(ceph_migration.inspect_source, src, name)
    if source.watchers:
        return 'the image is open by %d client(s)' % source.watchers
    if source.children:
        # librbd would relink them, but their Cinder parent bookkeeping
        # (.clone_snap, .deleted) assumes one pool: copy instead.
        return 'the image has %d clone(s)' % source.children
    return None


def _move(session, src_pool: str, dest_pool: str, volume) -> tuple:
    try:
        dest = session.ioctx(dest_pool)
    except bindings.no_access_errors() as error:
        return _refuse(volume, 'cannot open pool %s: %s', dest_pool, error)
    src = session.ioctx(src_pool)
    why = _check_source(session, src, dest, volume)
    if why:
        return _refuse(volume, '%s', why)
    start = time.monotonic()
    try:
        session.run(ceph_migration.prepare, src, dest, volume.name)
    except (bindings.ImageBusy, bindings.ImageExists) as error:
        # Lost a race with a client or a new image: nothing was changed.
        return _refuse(volume, 'librbd refused to prepare: %s', error)
    try:
        session.run(ceph_migration.execute, dest, volume.name)
        session.run(ceph_migration.commit, dest, volume.name)
    except Exception as error:
        _abort(session, dest, src_pool, dest_pool, volume)
        if isinstance(error, bindings.DEAD_CONNECTION_ERRORS):
            raise  # as is, so the session retires the connection
        raise exception.VolumeMigrationFailed(
            reason='live migration of %s from pool %s to %s failed and was '
                   'rolled back: %s' % (volume.name, src_pool, dest_pool,
                                        error))
    LOG.info('Volume %s live migrated from pool %s to %s in %.1f s',
             volume.id, src_pool, dest_pool, time.monotonic() - start)
    return True, None


def _abort(session, dest, src_pool: str, dest_pool: str, volume) -> None:
    try:
        session.run(ceph_migration.abort, dest, volume.name)
    except Exception:
        LOG.exception('Could not abort the live migration of %s from pool '
                      '%s to %s: finish it by hand with "rbd migration '
                      'abort %s/%s"', volume.name, src_pool, dest_pool,
                      dest_pool, volume.name)
        return
    LOG.warning('Live migration of %s to pool %s failed; rolled back, the '
                'volume stays in pool %s', volume.name, dest_pool, src_pool)


def update_migrated_volume(backend, volume, new_volume,
                           original_status: str) -> dict:
    """Give the migrated image its original name back when we can.

    After a generic migration the data is in ``new_volume``'s image; renaming
    it to ``volume``'s name keeps the pool readable by volume id. An attached
    volume keeps the name it is attached under, as in-tree. Unlike in-tree,
    ``provider_location`` (multiattach bookkeeping) is kept either way.
    """
    keep = {'_name_id': new_volume.name_id,
            'provider_location': new_volume.provider_location}
    if original_status == 'in-use':
        return keep
    wanted = CONF.volume_name_template % volume.id
    renamed = {'_name_id': None,
               'provider_location': new_volume.provider_location}
    if new_volume.name == wanted:
        return renamed
    with backend.session() as session:
        try:
            session.run(images.rename, session.ioctx(backend.pool),
                        new_volume.name, wanted)
        except (bindings.ImageNotFound, bindings.ImageExists) as error:
            LOG.warning('Could not rename %s to %s (%s); volume %s keeps '
                        'the image name of its migration copy',
                        new_volume.name, wanted, error, volume.id)
            return keep
    return renamed
