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

"""Finding what RBD volume drivers leak in a pool, and removing it.

The whole pool is read in one off-hub call and sorted into the kinds below;
:func:`fix` removes the first three only, each re-checked right before its
removal, through the driver's own code (:func:`deletion.release_parent`,
and what :func:`deletion.purge_trash` does per entry). See
doc/source/admin/audit.rst for what each kind means and where it comes
from (mostly Cinder's in-tree driver).
"""

import dataclasses
import datetime
import time

from cinder import exception

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images
from cinder_ext.ceph import pool_scan
from cinder_ext.volume import deletion
from cinder_ext.volume import names

DELETED_WITHOUT_CLONES = 'deleted-without-clones'
UNUSED_CLONE_SNAP = 'unused-clone-snapshot'
EXPIRED_TRASH = 'expired-trash'
FOREIGN = 'foreign-image'
ORPHAN = 'orphan-volume'
CATEGORIES = (DELETED_WITHOUT_CLONES, UNUSED_CLONE_SNAP, EXPIRED_TRASH,
              ORPHAN, FOREIGN)
# In --fix order: a .deleted image takes its own clone snapshots with it.
REMOVABLE = (EXPIRED_TRASH, DELETED_WITHOUT_CLONES, UNUSED_CLONE_SNAP)
# What makes the command exit 1; foreign images are normal in shared pools.
COUNTED = REMOVABLE + (ORPHAN,)

# A .clone_snap on a live volume is made just before its clone: younger
# than this it may belong to a clone being created right now.
DEFAULT_MIN_AGE = 300


@dataclasses.dataclass
class Finding(object):
    category: str
    image: str
    snapshot: str = None
    trash_id: str = None
    removable: bool = False
    detail: str = ''

    @property
    def label(self):
        if self.snapshot:
            return '%s@%s' % (self.image, self.snapshot)
        if self.trash_id:
            return '%s (trash id %s)' % (self.image, self.trash_id)
        return self.image


@dataclasses.dataclass
class Result(object):
    pool: str
    images: int        # images in the pool
    trash: int         # trash entries in the pool
    findings: list

    def counted(self):
        return [f for f in self.findings if f.category in COUNTED]


@dataclasses.dataclass
class Outcome(object):
    finding: Finding
    removed: list      # what was removed (or moved to the trash), in order
    note: str = ''     # why nothing (more) was removed


def _now():
    return time.time()


# -- sorting what was read into findings ----------------------------------

def _made_by_cinder(snap_name):
    return names.is_clone_snap(snap_name) or names.is_backup_snap(snap_name)


def _clone_snap_findings(image, deleted, now, min_age):
    found = []
    for snap in image['snaps']:
        if not names.is_clone_snap(snap['name']) or snap['children']:
            continue
        created = snap['created']
        if not deleted and created is not None and now - created < min_age:
            continue  # its clone may be being created right now
        clone = snap['name'][:-len(names.CLONE_SNAP_SUFFIX)]
        found.append(Finding(UNUSED_CLONE_SNAP, image['name'], snap['name'],
                             removable=True,
                             detail='its clone %s is gone' % clone))
    return found


def _in_use(image):
    """Clones (in the trash too) or hidden snapshots still need it."""
    return image['hidden'] or any(s['children'] for s in image['snaps'])


def _deleted_finding(image):
    if _in_use(image):
        return None
    snaps = [s['name'] for s in image['snaps']]
    others = [s for s in snaps if not _made_by_cinder(s)]
    detail = 'no clones left'
    if snaps:
        detail += '; snapshots: %s' % ', '.join(snaps)
    if others:
        detail += ('; not removed by --fix: snapshots not made by Cinder '
                   '(%s)' % ', '.join(others))
    return Finding(DELETED_WITHOUT_CLONES, image['name'],
                   removable=not others, detail=detail)


def _image_findings(image, now, min_age, cinder_ids):
    if image.get('foreign'):
        return [Finding(FOREIGN, image['name'],
                        detail='not named volume-<uuid>; never touched')]
    deleted = image['name'].endswith(names.DELETED_SUFFIX)
    found = _clone_snap_findings(image, deleted, now, min_age)
    if deleted:
        finding = _deleted_finding(image)
        if finding:
            found.append(finding)
    elif cinder_ids is not None:
        volume_id = names.volume_id(image['name']).lower()
        if volume_id not in cinder_ids:
            found.append(Finding(
                ORPHAN, image['name'],
                detail='Cinder does not know volume %s; never removed '
                       'automatically' % volume_id))
    return found


def _trash_finding(entry):
    image = entry['image']
    if _in_use(image):
        return None  # the purge takes it after its clones
    snaps = [s['name'] for s in image['snaps']]
    detail = 'deferment ended %s' % datetime.datetime.fromtimestamp(
        entry['end'], datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')
    if snaps:
        detail += ('; not removed by --fix: snapshots without clones (%s) '
                   'keep the trash purge from removing it'
                   % ', '.join(snaps))
    return Finding(EXPIRED_TRASH, image['name'], trash_id=entry['id'],
                   removable=not snaps, detail=detail)


def classify(pool, now, min_age=DEFAULT_MIN_AGE, cinder_ids=None):
    """Findings in ``pool`` (what ``pool_scan.read_pool`` read), sorted."""
    found = []
    for image in pool['images']:
        found.extend(_image_findings(image, now, min_age, cinder_ids))
    found.extend(f for f in map(_trash_finding, pool['trash']) if f)
    return sorted(found, key=lambda f: (CATEGORIES.index(f.category),
                                        f.image, f.snapshot or ''))


def audit(backend, cinder_ids=None, min_age=DEFAULT_MIN_AGE):
    """A :class:`Result`; ``cinder_ids`` (lower-case UUIDs): find orphans."""
    now = _now()
    with backend.session() as session:
        pool = session.run(pool_scan.read_pool, session.ioctx(backend.pool),
                           now, names)
    return Result(backend.pool, pool['image_count'], pool['trash_count'],
                  classify(pool, now, min_age, cinder_ids))


# -- removing what is garbage ---------------------------------------------

# How each librbd removal made by the driver's code is reported.
_REMOVALS = {
    images.remove: lambda where, args: ['image %s' % where],
    images.remove_snap: lambda where, args: [
        'snapshot %s@%s' % (where, args[2])],
    images.remove_snaps: lambda where, args: [
        'snapshot %s@%s' % (where, snap) for snap in args[2]],
    images.trash_move: lambda where, args: [
        'image %s (moved to the trash)' % where],
}


class _Recorder(object):
    """A session that writes down what the code run through it removed.

    The driver's own functions are handed this instead of the session, so
    ``--fix`` can tell exactly what they removed, up the clone chain.
    """

    def __init__(self, session):
        self._session = session
        self._pools = {}
        self.removed = []

    def __getattr__(self, name):
        return getattr(self._session, name)

    def ioctx(self, pool):
        ioctx = self._session.ioctx(pool)
        self._pools[id(ioctx)] = pool
        return ioctx

    def run(self, func, *args, **kwargs):
        result = self._session.run(func, *args, **kwargs)
        describe = _REMOVALS.get(func)
        if describe:
            where = '%s/%s' % (self._pools.get(id(args[0]), '?'), args[1])
            self.removed.extend(describe(where, args))
        return result


def _fix_trash(backend, recorder, ioctx, finding):
    entries = recorder.run(images.trash_entries, ioctx)
    if not any(e['id'] == finding.trash_id for e in entries):
        return 'already gone'
    # What deletion.purge_trash does for each entry; librbd itself refuses
    # an entry whose deferment has not ended.
    parent = recorder.run(images.trashed_parent, ioctx, finding.trash_id)
    recorder.run(images.trash_remove, ioctx, finding.trash_id)
    recorder.removed.append('trash entry %s/%s (id %s)' % (
        backend.pool, finding.image, finding.trash_id))
    if parent and names.is_cinder_clone(finding.image, parent[2]):
        deletion.release_parent(backend, recorder, parent)


def _fix_deleted(backend, recorder, ioctx, finding):
    image = recorder.run(pool_scan.read_image, ioctx, finding.image, names)
    if _in_use(image):
        return 'kept: it has clones again'
    snaps = [s['name'] for s in image['snaps']]
    others = [s for s in snaps if not _made_by_cinder(s)]
    if others:
        return ('kept: it has snapshots not made by Cinder (%s)'
                % ', '.join(others))
    backups = [s for s in snaps if names.is_backup_snap(s)]
    if backups:  # as deletion.delete_volume does
        recorder.run(images.remove_snaps, ioctx, finding.image, backups)
    clone_snaps = [s for s in snaps if names.is_clone_snap(s)]
    # The driver's path when a clone's last reference goes: each call drops
    # one clone snapshot; the one that drops the last removes the image
    # and walks on up the clone chain.
    for snap in clone_snaps:
        deletion.release_parent(backend, recorder,
                                (backend.pool, finding.image, snap))
    if not clone_snaps:
        recorder.run(images.remove, ioctx, finding.image)
        parent = image['parent']
        if parent and names.is_cinder_clone(finding.image, parent[2]):
            deletion.release_parent(backend, recorder, parent)


def _fix_clone_snap(backend, recorder, ioctx, finding):
    if recorder.run(images.snap_children, ioctx, finding.image,
                    finding.snapshot, True):
        return 'kept: it has clones again'
    deletion.release_parent(backend, recorder,
                            (backend.pool, finding.image, finding.snapshot))


_FIXERS = {EXPIRED_TRASH: _fix_trash,
           DELETED_WITHOUT_CLONES: _fix_deleted,
           UNUSED_CLONE_SNAP: _fix_clone_snap}


def fix(backend, findings):
    """Remove the removable ``findings``; return an :class:`Outcome` each.

    Nothing else is touched: orphans and foreign images are skipped.
    """
    todo = sorted((f for f in findings
                   if f.removable and f.category in REMOVABLE),
                  key=lambda f: REMOVABLE.index(f.category))
    outcomes = []
    with backend.session() as session:
        recorder = _Recorder(session)
        ioctx = recorder.ioctx(backend.pool)
        for finding in todo:
            recorder.removed = []
            try:
                note = _FIXERS[finding.category](backend, recorder, ioctx,
                                                 finding) or ''
            except bindings.DEAD_CONNECTION_ERRORS:
                raise
            except bindings.ImageNotFound:
                note = '' if recorder.removed else 'already gone'
            except (bindings.RBDError, exception.VolumeIsBusy) as error:
                note = 'not removed: %s' % error
            outcomes.append(Outcome(finding, recorder.removed, note))
    return outcomes
