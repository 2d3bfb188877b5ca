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

"""Fake ``rbd.Image``: an open image, its snapshots, data and settings.

:class:`FakeImage` follows librbd's semantics where the driver depends on
them (see Ceph's ``src/test/pybind/test_rbd.py``):

* an open writer counts as a watcher (the image is busy) until closed;
  writes on read-only opens or snapshot views raise ReadOnlyImage;
* removing a protected snapshot raises ImageBusy, unprotecting one with
  clones ImageBusy (clones in the trash count), unprotecting an unprotected
  one InvalidArgument, protecting a protected one ImageBusy;
* an unprotected snapshot with (clone v2) clones is moved to the snapshot
  trash on removal and disappears when its last clone goes;
* ``parent_info`` raises ImageNotFound when there is no parent, ``flatten``
  InvalidArgument.

It also has the image-level constants the ``rbd`` module exports
(operation features, snapshot namespaces, config sources).
"""

import uuid

from cinder_ext.tests.unit import fake_cluster
from cinder_ext.tests.unit import fake_errors
from cinder_ext.tests.unit import fake_rbd

OP_FEATURE_CLONE_PARENT = 1
OP_FEATURE_CLONE_CHILD = 2
OP_FEATURE_SNAP_TRASH = 8
SNAP_NAMESPACES = {'user': 0, 'group': 1, 'trash': 2}
CONFIG_SOURCE_CONFIG, CONFIG_SOURCE_POOL, CONFIG_SOURCE_IMAGE = 0, 1, 2
# A few image-level options librbd lists with their defaults.
IMAGE_CONFIG_DEFAULTS = {'rbd_qos_iops_limit': '0', 'rbd_qos_bps_limit': '0',
                         'rbd_qos_iops_burst': '0', 'rbd_cache': 'true'}

# Short name: used on nearly every error path below.
_raise = fake_errors.raise_error


class FakeImage(object):

    def __init__(self, ioctx, name=None, snapshot=None, read_only=False,
                 image_id=None, _oncomplete=None):
        pool = ioctx._pool()
        self.cluster = ioctx.cluster
        self.cluster.check('open')
        if image_id is not None:
            image = pool.trash.get(image_id)
            for candidate in pool.images.values():
                if candidate.id == image_id:
                    image = candidate
        else:
            image = pool.images.get(name)
        if image is None:
            _raise('rbd', 'ImageNotFound', 'error opening image %s at '
                   'snapshot %s' % (name or image_id, snapshot))
        self._image = image
        self._snap = None
        self.read_only = read_only
        self.closed = False
        if snapshot is not None:
            self.set_snap(snapshot)
        if not read_only:
            image.watchers += 1
        self.cluster.open_images.append(self)

    # -- plumbing ----------------------------------------------------------

    def _open(self):
        if self.closed:
            _raise('rbd', 'InvalidArgument', 'image is closed')
        return self._image

    def _writable(self):
        image = self._open()
        if self.read_only or self._snap is not None:
            _raise('rbd', 'ReadOnlyImage', 'image is read-only')
        return image

    def _find_snap(self, name):
        snap = self._open().user_snap(name)
        if snap is None:
            _raise('rbd', 'ImageNotFound', 'snapshot %s not found' % name)
        return snap

    def close(self):
        if not self.closed:
            self.closed = True
            if not self.read_only:
                self._image.watchers -= 1
            self.cluster.open_images.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- reading -----------------------------------------------------------

    def id(self):
        return self._open().id

    def get_name(self):
        return self._open().name

    def size(self):
        image = self._open()
        return self._snap.size if self._snap else image.size

    def stat(self):
        image = self._open()
        size = self.size()
        obj_size = 1 << image.order
        return {'size': size, 'obj_size': obj_size,
                'num_objs': (size + obj_size - 1) // obj_size,
                'order': image.order,
                'block_name_prefix': 'rbd_data.%s' % image.id,
                'parent_pool': -1, 'parent_name': ''}

    def features(self):
        return self._open().features

    def op_features(self):
        image = self._open()
        value = 0
        if any(c.clone_format == 2 for s in image.snaps
               for c in s.children):
            value |= OP_FEATURE_CLONE_PARENT
        if image.parent and image.clone_format == 2:
            value |= OP_FEATURE_CLONE_CHILD
        if any(s.namespace == 'trash' for s in image.snaps):
            value |= OP_FEATURE_SNAP_TRASH
        return value

    def stripe_unit(self):
        return 1 << self._open().order

    def stripe_count(self):
        return 1

    def old_format(self):
        return False

    def list_snaps(self):
        # Every namespace, as librbd's snap_list; callers filter.
        snaps = []
        for snap in self._open().snaps:
            entry = {'id': snap.id, 'size': snap.size, 'name': snap.name,
                     'namespace': SNAP_NAMESPACES[snap.namespace]}
            if snap.namespace == 'trash':
                entry['trash'] = {'original_name': snap.original_name}
            snaps.append(entry)
        return iter(snaps)

    def is_protected_snap(self, name):
        return self._find_snap(name).protected

    def set_snap(self, name):
        self._snap = None if name is None else self._find_snap(name)

    def list_children2(self):
        image = self._open()
        # At HEAD librbd lists the clones of every snapshot.
        snaps = [self._snap] if self._snap else image.snaps
        return iter([{'pool': c.pool.name, 'pool_namespace': '',
                      'image': c.name, 'id': c.id,
                      'trash': c.trash_entry is not None}
                     for snap in snaps for c in snap.children])

    def list_children(self):
        return [(c['pool'], c['image']) for c in self.list_children2()
                if not c['trash']]

    def parent_info(self):
        image = self._open()
        if not image.parent:
            _raise('rbd', 'ImageNotFound', 'error getting parent info for '
                   'image %s' % image.name)
        parent, snap = image.parent
        return (parent.pool.name, parent.name, snap.name)

    def parent_id(self):
        image = self._open()
        if not image.parent:
            _raise('rbd', 'ImageNotFound', 'error getting parent id')
        return image.parent[0].id

    def read(self, offset, length, fadvise_flags=0):
        image = self._open()
        size = self.size()
        if offset > size:
            _raise('rbd', 'InvalidArgument', 'error reading %s' % image.name)
        length = min(length, size - offset)
        extents = self._snap.extents if self._snap else image.view()
        return fake_cluster.compose(extents, offset, length)

    def watchers_list(self):
        image = self._open()
        return iter([{'id': 4100 + n, 'cookie': n + 1,
                      'addr': '192.0.2.%d:0/%d' % (50 + n, n)}
                     for n in range(image.watchers)])

    def metadata_get(self, key):
        try:
            return self._open().metadata[key]
        except KeyError:
            _raise('rbd', 'ObjectNotFound', 'no metadata %s' % key)

    def metadata_list(self):
        return iter(sorted(self._open().metadata.items()))

    # -- writing -----------------------------------------------------------

    def write(self, data, offset, fadvise_flags=0):
        image = self._writable()
        if offset + len(data) > image.size:
            _raise('rbd', 'InvalidArgument', 'write past the end')
        image.extents.append((offset, bytes(data)))
        return len(data)

    def flush(self):
        self._open()

    def discard(self, offset, length):
        self.write(bytes(length), offset)

    def resize(self, size, allow_shrink=True):
        image = self._writable()
        self.cluster.check('resize')
        if size < image.size and not allow_shrink:
            _raise('rbd', 'InvalidArgument', 'shrinking not allowed')
        image.extents = [(o, d[:max(0, size - o)]) for o, d in image.extents
                         if o < size]
        image.size = size

    def create_snap(self, name, flags=0):
        image = self._writable()
        self.cluster.check('create_snap')
        if image.user_snap(name):
            _raise('rbd', 'ImageExists', 'snapshot %s exists' % name)
        image.snaps.append(fake_cluster.SnapData(
            self.cluster.next_snap_id(), name, image.size,
            image.view()))

    def remove_snap(self, name):
        image = self._writable()
        self.cluster.check('remove_snap')
        snap = self._find_snap(name)
        if snap.protected:
            _raise('rbd', 'ImageBusy', 'snapshot %s is protected' % name)
        if snap.children:
            # Only clone v2 can have clones of an unprotected snapshot.
            snap.namespace = 'trash'
            snap.original_name = snap.name
            snap.name = uuid.uuid4().hex
        else:
            image.snaps.remove(snap)

    def protect_snap(self, name):
        self._writable()
        self.cluster.check('protect_snap')
        snap = self._find_snap(name)
        if snap.protected:
            _raise('rbd', 'ImageBusy', 'snapshot is already protected')
        snap.protected = True

    def unprotect_snap(self, name):
        self._writable()
        self.cluster.check('unprotect_snap')
        snap = self._find_snap(name)
        if not snap.protected:
            _raise('rbd', 'InvalidArgument',
                   'snapshot is already unprotected')
        if snap.children:
            _raise('rbd', 'ImageBusy', 'snapshot has clones')
        snap.protected = False

    def rollback_to_snap(self, name):
        image = self._writable()
        self.cluster.check('rollback_to_snap')
        snap = self._find_snap(name)
        image.size = snap.size
        image.extents = list(snap.extents)
        if image.parent:
            image.extents = image.extents[len(image.parent[1].extents):]

    def flatten(self, on_progress=None):
        image = self._writable()
        self.cluster.check('flatten')
        if not image.parent:
            _raise('rbd', 'InvalidArgument', 'image has no parent')
        image.extents = image.view()
        fake_rbd.detach(image)
        self.cluster.flattened.append(image.name)

    def copy(self, dest_ioctx, dest_name, features=None, order=None,
             stripe_unit=None, stripe_count=None, data_pool=None):
        image = self._open()
        dest_pool = dest_ioctx._pool()
        self.cluster.check('copy')
        if dest_name in dest_pool.images:
            _raise('rbd', 'ImageExists', 'error copying image')
        if features is None:
            features = fake_rbd.features_from_conf(self.cluster)
        copied = fake_cluster.ImageData(dest_pool, dest_name, self.size(),
                                        order or image.order, features)
        copied.extents = list(self._snap.extents if self._snap
                              else image.view())
        dest_pool.images[dest_name] = copied

    def rename_snap(self, srcname, dstname):
        image = self._writable()
        snap = self._find_snap(srcname)
        if image.user_snap(dstname):
            _raise('rbd', 'ImageExists', 'snapshot %s exists' % dstname)
        snap.name = dstname

    def update_features(self, features, enabled):
        image = self._writable()
        self.cluster.check('update_features')
        if enabled:
            image.features |= features
        else:
            image.features &= ~features

    def config_list(self):
        image = self._open()
        entries = {k: (v, CONFIG_SOURCE_CONFIG)
                   for k, v in IMAGE_CONFIG_DEFAULTS.items()}
        entries.update({k: (v, CONFIG_SOURCE_IMAGE)
                        for k, v in image.config.items()})
        return iter([{'name': k, 'value': v, 'source': source}
                     for k, (v, source) in sorted(entries.items())])

    def config_get(self, key):
        image = self._open()
        if key in image.config:
            return image.config[key]
        if key in IMAGE_CONFIG_DEFAULTS:
            return IMAGE_CONFIG_DEFAULTS[key]
        _raise('rbd', 'ObjectNotFound', 'no option %s' % key)

    def config_set(self, key, value):
        image = self._writable()
        if not isinstance(value, str):
            raise TypeError('config_set needs a string, got %r' % (value,))
        image.config[key] = value

    def config_remove(self, key):
        image = self._writable()
        if key not in image.config:
            _raise('rbd', 'ObjectNotFound', 'no image override %s' % key)
        del image.config[key]

    def metadata_set(self, key, value):
        self._writable().metadata[key] = value

    def metadata_remove(self, key):
        self._writable().metadata.pop(key, None)
