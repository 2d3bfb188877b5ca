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

"""Fake ``rbd.RBD``: librbd's pool-level image operations.

:class:`FakeRBD` creates, removes, renames, clones and lists images and
manages the trash, following librbd's semantics where the driver depends
on them (see Ceph's ``src/test/pybind/test_rbd.py``):

* removing an image with snapshots raises ImageHasSnapshots, with an open
  writer (a watcher) ImageBusy;
* cloning needs a protected snapshot with clone format 1; format 2
  (``rbd_default_clone_format`` 2, or ``auto`` and require-min-compat-client
  mimic or newer) can clone an unprotected one;
* ``trash_remove`` before the deferment ends raises PermissionError.

It also holds the feature bits and two helpers it shares with
:class:`~.fake_image.FakeImage`: the default features from the
configuration, and the removal of a clone's parent link (which drops a
trashed snapshot with its last clone).
"""

import collections

from cinder_ext.tests.unit import fake_cluster
from cinder_ext.tests.unit import fake_errors

FEATURES = collections.OrderedDict([
    ('layering', 1), ('striping', 2), ('exclusive-lock', 4),
    ('object-map', 8), ('fast-diff', 16), ('deep-flatten', 32),
    ('journaling', 64), ('data-pool', 128)])

# Short name: used on nearly every error path below.
_raise = fake_errors.raise_error


def features_from_conf(cluster):
    value = cluster.conf_value('rbd_default_features')
    if value.isdigit():
        return int(value)
    return FakeRBD().features_from_string(value)


def detach(child):
    """Drop ``child``'s parent link, as librbd does on remove/flatten."""
    if not child.parent:
        return
    parent, snap = child.parent
    snap.children.remove(child)
    child.parent = None
    if snap.namespace == 'trash' and not snap.children:
        parent.snaps.remove(snap)


class FakeRBD(object):

    def version(self):
        return (1, 18, 0)

    def features_from_string(self, str_features):
        value = 0
        for name in str_features.split(','):
            name = name.strip()
            if name not in FEATURES:
                _raise('rbd', 'InvalidArgument', 'unknown feature %s' % name)
            value |= FEATURES[name]
        return value

    def features_to_string(self, features):
        return ','.join(n for n, bit in FEATURES.items() if features & bit)

    def create(self, ioctx, name, size, order=None, old_format=False,
               features=None, stripe_unit=None, stripe_count=None,
               data_pool=None):
        pool = ioctx._pool()
        ioctx.cluster.check('create')
        if name in pool.images:
            _raise('rbd', 'ImageExists', 'error creating image')
        if order is None:
            order = int(ioctx.cluster.conf_value('rbd_default_order'))
        if not 12 <= order <= 25:
            _raise('rbd', 'ArgumentOutOfRange', 'error creating image')
        if features is None:
            features = features_from_conf(ioctx.cluster)
        pool.images[name] = fake_cluster.ImageData(
            pool, name, size, order, features)

    def remove(self, ioctx, name, on_progress=None):
        pool = ioctx._pool()
        ioctx.cluster.check('remove')
        image = pool.images.get(name)
        if image is None:
            _raise('rbd', 'ImageNotFound', 'error removing image')
        if image.watchers:
            _raise('rbd', 'ImageBusy', 'error removing image')
        if image.snaps:
            _raise('rbd', 'ImageHasSnapshots', 'error removing image')
        detach(image)
        del pool.images[name]

    def rename(self, ioctx, src, dest):
        pool = ioctx._pool()
        ioctx.cluster.check('rename')
        if src not in pool.images:
            _raise('rbd', 'ImageNotFound', 'error renaming image')
        if dest in pool.images:
            _raise('rbd', 'ImageExists', 'error renaming image')
        image = pool.images.pop(src)
        image.name = dest
        pool.images[dest] = image

    def list(self, ioctx):
        return sorted(ioctx._pool().images)

    def clone(self, p_ioctx, p_name, p_snapname, c_ioctx, c_name,
              features=None, order=None, stripe_unit=None,
              stripe_count=None, data_pool=None, clone_format=None):
        p_pool, c_pool = p_ioctx._pool(), c_ioctx._pool()
        cluster = p_ioctx.cluster
        cluster.check('clone')
        parent = p_pool.images.get(p_name)
        snap = parent.user_snap(p_snapname) if parent else None
        if snap is None:
            _raise('rbd', 'ImageNotFound', 'error opening parent image')
        if c_name in c_pool.images:
            _raise('rbd', 'ImageExists', 'error creating clone')
        if not parent.features & FEATURES['layering']:
            _raise('rbd', 'InvalidArgument', 'parent must support layering')
        fmt = clone_format or cluster.clone_format()
        if fmt == 1 and not snap.protected:
            _raise('rbd', 'InvalidArgument',
                   'parent snapshot must be protected')
        if order is None:
            order = parent.order
        if features is None:
            features = features_from_conf(cluster)
        child = fake_cluster.ImageData(c_pool, c_name, snap.size, order,
                                       features)
        child.parent = (parent, snap)
        child.clone_format = fmt
        snap.children.append(child)
        c_pool.images[c_name] = child

    def trash_move(self, ioctx, name, delay=0):
        pool = ioctx._pool()
        ioctx.cluster.check('trash_move')
        image = pool.images.get(name)
        if image is None:
            _raise('rbd', 'ImageNotFound', 'error moving image to trash')
        if image.watchers:
            _raise('rbd', 'ImageBusy', 'error moving image to trash')
        now = ioctx.cluster.now
        image.trash_entry = {'id': image.id, 'name': image.name,
                             'source': 'USER', 'deletion_time': now,
                             'deferment_end_time': now + delay}
        del pool.images[name]
        pool.trash[image.id] = image

    def trash_list(self, ioctx):
        return iter([dict(i.trash_entry)
                     for i in ioctx._pool().trash.values()])

    def trash_remove(self, ioctx, image_id, force=False, on_progress=None):
        pool = ioctx._pool()
        ioctx.cluster.check('trash_remove')
        image = pool.trash.get(image_id)
        if image is None:
            _raise('rbd', 'ImageNotFound', 'error deleting image from trash')
        if (not force and
                ioctx.cluster.now < image.trash_entry['deferment_end_time']):
            _raise('rbd', 'PermissionError',
                   'error deleting image from trash')
        if image.snaps:
            _raise('rbd', 'ImageHasSnapshots',
                   'error deleting image from trash')
        if image.watchers:
            _raise('rbd', 'ImageBusy', 'error deleting image from trash')
        detach(image)
        del pool.trash[image_id]

    def trash_restore(self, ioctx, image_id, name):
        pool = ioctx._pool()
        image = pool.trash.pop(image_id)
        image.trash_entry = None
        image.name = name
        pool.images[name] = image

    # Live migration: prepare moves the image at once (librbd hides the
    # source in the trash); abort moves it back, commit forgets the source.

    def migration_prepare(self, ioctx, image_name, dest_ioctx,
                          dest_image_name, features=None, order=None,
                          stripe_unit=None, stripe_count=None,
                          data_pool=None):
        src, dest = ioctx._pool(), dest_ioctx._pool()
        ioctx.cluster.check('migration_prepare')
        image = src.images.get(image_name)
        if image is None:
            _raise('rbd', 'ImageNotFound', 'error migrating image')
        if dest_image_name in dest.images:
            _raise('rbd', 'ImageExists', 'error migrating image')
        if image.watchers:
            _raise('rbd', 'ImageBusy', 'error migrating image')
        del src.images[image_name]
        image.migration_source = (src, image_name)
        image.pool, image.name = dest, dest_image_name
        dest.images[dest_image_name] = image

    def _migrating(self, ioctx, name, op):
        ioctx.cluster.check(op)
        image = ioctx._pool().images.get(name)
        if image is None or image.migration_source is None:
            _raise('rbd', 'InvalidArgument', 'image %s is not migrating'
                   % name)
        return image

    def migration_execute(self, ioctx, image_name, on_progress=None):
        self._migrating(ioctx, image_name, 'migration_execute')

    def migration_commit(self, ioctx, image_name, on_progress=None):
        self._migrating(ioctx, image_name,
                        'migration_commit').migration_source = None

    def migration_abort(self, ioctx, image_name, on_progress=None):
        image = self._migrating(ioctx, image_name, 'migration_abort')
        del ioctx._pool().images[image_name]
        src, image.name = image.migration_source
        image.pool, image.migration_source = src, None
        src.images[image.name] = image

    def pool_stats_get(self, ioctx):
        pool = ioctx._pool()
        ioctx.cluster.check('pool_stats_get')
        images = list(pool.images.values())
        trash = list(pool.trash.values())
        return {
            'image_count': len(images),
            'image_provisioned_bytes': sum(i.size for i in images),
            'image_max_provisioned_bytes': sum(i.size for i in images),
            'image_snap_count': sum(len(i.snaps) for i in images),
            'trash_count': len(trash),
            'trash_provisioned_bytes': sum(i.size for i in trash),
            'trash_max_provisioned_bytes': sum(i.size for i in trash),
            'trash_snap_count': sum(len(i.snaps) for i in trash)}
