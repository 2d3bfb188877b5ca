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

"""In-memory stand-ins for Ceph's ``rados`` and ``rbd`` Python bindings.

:class:`FakeCephFixture` builds one :class:`FakeCluster` and two module
objects named ``rados`` and ``rbd`` whose classes act on it, and installs
them in :mod:`cinder_ext.ceph.bindings` (the modules and every exception
alias), restoring the real ones on cleanup.

The fakes follow librbd's semantics where the driver depends on them,
as documented in Ceph's own ``src/test/pybind/test_rbd.py``:

* removing an image with snapshots raises ImageHasSnapshots, with an open
  writer (a watcher) ImageBusy;
* removing a protected snapshot raises ImageBusy, unprotecting one with
  clones ImageBusy (clones in the trash count), unprotecting an unprotected
  one InvalidArgument, protecting a protected one ImageBusy;
* cloning needs a protected snapshot with clone format 1; with format 2
  (``rbd_default_clone_format`` 2, or ``auto`` and require-min-compat-client
  mimic or newer) an unprotected snapshot with clones is moved to the
  snapshot trash on removal and disappears when its last clone goes;
* a clone refers to its parent by id, so renaming the parent is seen;
* ``parent_info`` raises ImageNotFound when there is no parent, ``flatten``
  InvalidArgument; writes on read-only opens raise ReadOnlyImage;
* ``trash_remove`` before the deferment ends raises PermissionError;
* ``Rados(conffile=None)`` (or no conffile) reads no configuration file,
  ``conffile=''`` librados' default search path; connecting without a
  monitor address fails with ObjectNotFound, as librados does.

Simplifications: flatten behaves as with deep-flatten (snapshots of the
clone lose the parent too); snapshots keep data but not their own parent
link; there are no namespaces, locks or journaling.
"""

import collections
import errno
import itertools
import json
import os
import types
import uuid

import fixtures

from cinder_ext.ceph import bindings
from cinder_ext.ceph import connection

GiB = 1024 ** 3

FEATURES = collections.OrderedDict([
    ('layering', 1), ('striping', 2), ('exclusive-lock', 4),
    ('object-map', 8), ('fast-diff', 16), ('deep-flatten', 32),
    ('journaling', 64), ('data-pool', 128)])
DEFAULT_FEATURES = 'layering,exclusive-lock,object-map,fast-diff,deep-flatten'
OP_FEATURE_CLONE_PARENT = 1
OP_FEATURE_CLONE_CHILD = 2
OP_FEATURE_SNAP_TRASH = 8
SNAP_NAMESPACES = {'user': 0, 'group': 1, 'trash': 2}
CONFIG_SOURCE_CONFIG, CONFIG_SOURCE_POOL, CONFIG_SOURCE_IMAGE = 0, 1, 2
# A few image-level options librbd lists with their defaults.
IMAGE_CONFIG_DEFAULTS = {'rbd_qos_iops_limit': '0', 'rbd_qos_bps_limit': '0',
                         'rbd_qos_iops_burst': '0', 'rbd_cache': 'true'}

_RELEASES = ['jewel', 'kraken', 'luminous', 'mimic', 'nautilus', 'octopus',
             'pacific', 'quincy', 'reef', 'squid', 'tentacle']

# librados' built-in defaults for the options the driver reads or sets.
BUILTIN_CONF = {
    'mon_host': '',
    'keyring': '/etc/ceph/$cluster.$name.keyring',
    'client_mount_timeout': '300',
    'rados_mon_op_timeout': '0',
    'rados_osd_op_timeout': '0',
    'rbd_default_features': DEFAULT_FEATURES,
    'rbd_default_clone_format': 'auto',
    'rbd_default_order': '22',
}


# -- exceptions ------------------------------------------------------------

def _error_init(self, message, errno=None):
    Exception.__init__(self, message, errno)
    self.message = message
    self.errno = errno if errno is not None else type(self).ERRNO


def _error_str(self):
    if self.errno is None:
        return self.message
    return '[errno %s] %s (%s)' % (self.errno, self.DESCRIPTION, self.message)


def _exception_classes(module, label, table):
    """Build ``Error`` -> ``OSError`` -> ... named and nested as in Ceph."""
    classes = {}
    base = type('Error', (Exception,), {
        '__module__': module, '__init__': _error_init,
        '__str__': _error_str, 'ERRNO': None,
        'DESCRIPTION': '%s error' % label})
    classes['Error'] = base
    classes['OSError'] = type('OSError', (base,), {'__module__': module})
    for name, (parent, number, description) in table.items():
        classes[name] = type(name, (classes[parent],), {
            '__module__': module, 'ERRNO': number,
            'DESCRIPTION': '%s %s' % (label, description)})
    return classes


RADOS_ERRORS = _exception_classes('rados', 'RADOS', {
    'PermissionError': ('OSError', errno.EPERM, 'permission error'),
    'PermissionDeniedError': ('OSError', errno.EACCES, 'permission denied'),
    'ObjectNotFound': ('OSError', errno.ENOENT, 'object not found'),
    'NoData': ('OSError', errno.ENODATA, 'no data'),
    'ObjectExists': ('OSError', errno.EEXIST, 'object exists'),
    'ObjectBusy': ('OSError', errno.EBUSY, 'object busy'),
    'IOError': ('OSError', errno.EIO, 'I/O error'),
    'NoSpace': ('OSError', errno.ENOSPC, 'no space left on device'),
    'InterruptedOrTimeoutError': ('OSError', errno.EINTR,
                                  'interrupted or timeout'),
    'TimedOut': ('OSError', errno.ETIMEDOUT, 'timed out'),
    'ConnectionShutdown': ('OSError', errno.ESHUTDOWN,
                           'connection was shutdown'),
    'NotConnected': ('OSError', errno.ENOTCONN, 'not connected'),
    'InvalidArgumentError': ('Error', None, 'invalid argument'),
    'RadosStateError': ('Error', None, 'state error'),
    'IoctxStateError': ('Error', None, 'ioctx state error'),
    'ObjectStateError': ('Error', None, 'object state error'),
    'LogicError': ('Error', None, 'logic error'),
    'InProgress': ('Error', None, 'in progress'),
    'IsConnected': ('Error', None, 'is connected'),
})

RBD_ERRORS = _exception_classes('rbd', 'RBD', {
    'PermissionError': ('OSError', errno.EPERM, 'permission error'),
    'ImageNotFound': ('OSError', errno.ENOENT, 'image not found'),
    'ObjectNotFound': ('OSError', errno.ENOENT, 'object not found'),
    'IOError': ('OSError', errno.EIO, 'I/O error'),
    'NoSpace': ('OSError', errno.ENOSPC, 'insufficient space available'),
    'ImageExists': ('OSError', errno.EEXIST, 'image already exists'),
    'ObjectExists': ('OSError', errno.EEXIST, 'object already exists'),
    'InvalidArgument': ('OSError', errno.EINVAL, 'invalid argument'),
    'ReadOnlyImage': ('OSError', errno.EROFS, 'read-only image'),
    'ImageBusy': ('OSError', errno.EBUSY, 'image is busy'),
    'ImageHasSnapshots': ('OSError', errno.ENOTEMPTY,
                          'image has snapshots'),
    'FunctionNotSupported': ('OSError', errno.ENOSYS,
                             'function not implemented'),
    'ArgumentOutOfRange': ('OSError', errno.EDOM,
                           'arguments out of range'),
    'ConnectionShutdown': ('OSError', errno.ESHUTDOWN,
                           'connection was shutdown'),
    'Timeout': ('OSError', errno.ETIMEDOUT, 'operation timeout'),
    'DiskQuotaExceeded': ('OSError', errno.EDQUOT, 'disk quota exceeded'),
    'OperationNotSupported': ('OSError', errno.EOPNOTSUPP,
                              'operation not supported'),
    'OperationCanceled': ('OSError', errno.ECANCELED, 'operation canceled'),
})

# bindings attribute -> (module, class name), as cinder_ext.ceph.bindings
# defines them. test_fake_ceph checks that no real class is left over.
BINDINGS_ALIASES = {
    'RBDError': ('rbd', 'Error'),
    'ImageNotFound': ('rbd', 'ImageNotFound'),
    'ImageExists': ('rbd', 'ImageExists'),
    'ImageBusy': ('rbd', 'ImageBusy'),
    'ImageHasSnapshots': ('rbd', 'ImageHasSnapshots'),
    'InvalidArgument': ('rbd', 'InvalidArgument'),
    'ReadOnlyImage': ('rbd', 'ReadOnlyImage'),
    'RBDPermissionError': ('rbd', 'PermissionError'),
    'RBDTimeout': ('rbd', 'Timeout'),
    'RBDOSError': ('rbd', 'OSError'),
    'RadosError': ('rados', 'Error'),
    'ObjectNotFound': ('rados', 'ObjectNotFound'),
    'RadosPermissionError': ('rados', 'PermissionError'),
    'TimedOut': ('rados', 'TimedOut'),
    'ConnectionShutdown': ('rados', 'ConnectionShutdown'),
    'RadosStateError': ('rados', 'RadosStateError'),
    'IoctxStateError': ('rados', 'IoctxStateError'),
}

_ERRORS = {'rados': RADOS_ERRORS, 'rbd': RBD_ERRORS}


def rados_error(name, message='fake', number=None):
    return RADOS_ERRORS[name](message, number)


def rbd_error(name, message='fake', number=None):
    return RBD_ERRORS[name](message, number)


def _raise(module, name, message):
    raise _ERRORS[module][name](message)


# -- cluster state ---------------------------------------------------------

class SnapData(object):
    def __init__(self, snap_id, name, size, extents):
        self.id = snap_id
        self.name = name
        self.size = size
        self.extents = extents
        self.protected = False
        self.namespace = 'user'   # or 'trash' (clone v2 snapshot trash)
        self.original_name = name
        self.children = []        # ImageData objects


class ImageData(object):
    def __init__(self, pool, name, size, order, features):
        self.pool = pool
        self.name = name
        self.id = uuid.uuid4().hex[:12]
        self.size = size
        self.order = order
        self.features = features
        self.snaps = []
        self.parent = None        # (ImageData, SnapData)
        self.clone_format = None
        self.extents = []         # [(offset, bytes)] applied in order
        self.watchers = 0
        self.metadata = {}
        self.config = {}          # image-level config overrides
        self.trash_entry = None

    def user_snap(self, name):
        for snap in self.snaps:
            if snap.namespace == 'user' and snap.name == name:
                return snap
        return None

    def view(self):
        """The writes that make up the image content, parent's first."""
        base = []
        if self.parent:
            base = list(self.parent[1].extents)
        return base + list(self.extents)


def _compose(extents, offset, length):
    """Bytes ``offset``..``offset + length`` after applying ``extents``."""
    buf = bytearray(length)
    for start, data in extents:
        lo, hi = max(start, offset), min(start + len(data), offset + length)
        if lo < hi:
            buf[lo - offset:hi - offset] = data[lo - start:hi - start]
    return bytes(buf)


class PoolData(object):
    def __init__(self, name, pool_id):
        self.name = name
        self.id = pool_id
        self.images = {}
        self.trash = {}
        self.quota_max_bytes = 0
        self.stored = 0
        self.max_avail = 100 * GiB


class FakeCluster(object):
    """One Ceph cluster: pools, images, monitors and fault injection."""

    def __init__(self, pools=('volumes',)):
        self.fsid = 'c0ffee00-0000-4000-8000-00000000f51d'
        self.pools = {}
        self._pool_ids = itertools.count(1)
        self._snap_ids = itertools.count(4)
        for name in pools:
            self.add_pool(name)
        # What a ceph.conf (given or found in the default paths) sets.
        self.file_conf = {
            'mon_host': '[v2:192.0.2.10:3300,v1:192.0.2.10:6789]'}
        self.default_conf_found = True
        self.require_min_compat_client = 'luminous'
        self.total_bytes = 300 * GiB
        self.monmap = {'epoch': 1, 'fsid': self.fsid, 'mons': [{
            'rank': 0, 'name': 'a',
            'public_addrs': {'addrvec': [
                {'type': 'v2', 'addr': '192.0.2.10:3300', 'nonce': 0},
                {'type': 'v1', 'addr': '192.0.2.10:6789', 'nonce': 0}]},
            'addr': '192.0.2.10:6789/0'}]}
        self.now = 1000.0
        self.handles = []           # every Rados() made, in order
        self.connect_errors = []    # exceptions for the next connect()s
        self.mon_commands = []      # decoded commands, in order
        self.mon_errors = {}        # prefix -> (ret, outs)
        self.failures = collections.defaultdict(list)  # op -> [exc]
        self.calls = collections.Counter()
        self.flattened = []
        self.open_images = []

    # -- set-up and fault injection ---------------------------------------

    def add_pool(self, name):
        self.pools[name] = PoolData(name, next(self._pool_ids))
        return self.pools[name]

    def fail(self, op, error, times=1):
        """Raise ``error`` from the next ``times`` calls of ``op``."""
        self.failures[op].extend([error] * times)

    def check(self, op):
        self.calls[op] += 1
        if self.failures.get(op):
            raise self.failures[op].pop(0)

    def next_snap_id(self):
        return next(self._snap_ids)

    def conf_value(self, key):
        return self.file_conf.get(key, BUILTIN_CONF.get(key))

    def clone_format(self):
        configured = self.conf_value('rbd_default_clone_format')
        if configured in ('1', '2'):
            return int(configured)
        release = self.require_min_compat_client
        if release in _RELEASES:
            rank = _RELEASES.index(release)
        else:
            rank = -1
        return 2 if rank >= _RELEASES.index('mimic') else 1

    # -- monitor commands --------------------------------------------------

    def mon_command(self, cmd):
        prefix = cmd['prefix']
        self.mon_commands.append(cmd)
        if prefix in self.mon_errors:
            ret, outs = self.mon_errors[prefix]
            return ret, b'', outs
        if prefix == 'mon dump':
            answer = self.monmap
        elif prefix == 'osd dump':
            answer = {'epoch': 7, 'fsid': self.fsid,
                      'require_osd_release': 'reef',
                      'pools': [{'pool': p.id, 'pool_name': p.name}
                                for p in self.pools.values()]}
            if self.require_min_compat_client is not None:
                answer['require_min_compat_client'] = (
                    self.require_min_compat_client)
        elif prefix == 'df':
            answer = {'stats': {'total_bytes': self.total_bytes},
                      'pools': [{'name': p.name, 'id': p.id,
                                 'stats': {'stored': p.stored,
                                           'bytes_used': p.stored * 3,
                                           'max_avail': p.max_avail}}
                                for p in self.pools.values()]}
        elif prefix == 'osd pool get-quota':
            pool = self.pools.get(cmd.get('pool'))
            if pool is None:
                return (-errno.ENOENT, b'',
                        "unrecognized pool '%s'" % cmd.get('pool'))
            answer = {'pool_name': pool.name, 'pool_id': pool.id,
                      'quota_max_objects': 0,
                      'quota_max_bytes': pool.quota_max_bytes}
        else:
            return -errno.EINVAL, b'', 'command not known: %s' % prefix
        return 0, json.dumps(answer).encode(), ''

    # -- looking at the state (for assertions) -----------------------------

    def pool(self, name='volumes'):
        return self.pools[name]

    def image(self, name, pool='volumes'):
        return self.pools[pool].images[name]

    def image_names(self, pool='volumes'):
        return sorted(self.pools[pool].images)

    def snap_names(self, name, pool='volumes'):
        return [s.name for s in self.image(name, pool).snaps
                if s.namespace == 'user']

    def trash_names(self, pool='volumes'):
        return sorted(i.name for i in self.pools[pool].trash.values())

    def parent_of(self, name, pool='volumes'):
        link = self.image(name, pool).parent
        if not link:
            return None
        return (link[0].pool.name, link[0].name, link[1].name)

    def write(self, name, data, offset=0, pool='volumes'):
        self.image(name, pool).extents.append((offset, bytes(data)))

    def read(self, name, offset, length, pool='volumes'):
        return _compose(self.image(name, pool).view(), offset, length)

    def contents(self):
        """Everything left in every pool, for leak assertions."""
        left = {}
        for pool in self.pools.values():
            for image in list(pool.images.values()) + list(
                    pool.trash.values()):
                where = 'trash' if image.trash_entry else 'image'
                left['%s:%s/%s' % (where, pool.name, image.name)] = sorted(
                    '%s(%s)' % (s.name, s.namespace) for s in image.snaps)
        return left


# -- rados -----------------------------------------------------------------

_NO_CONF_FILE = object()


class FakeIoctx(object):
    def __init__(self, handle, pool):
        self.handle = handle
        self.cluster = handle.cluster
        self.pool_name = pool
        self.closed = False

    def _pool(self):
        if self.closed or self.handle.state != 'connected':
            _raise('rados', 'IoctxStateError',
                   'The pool %s is not open' % self.pool_name)
        pool = self.cluster.pools.get(self.pool_name)
        if pool is None:
            _raise('rbd', 'ImageNotFound', 'pool %s is gone' % self.pool_name)
        return pool

    def get_pool_name(self):
        return self.pool_name

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class FakeRados(object):
    cluster = None   # set on the subclass made for each FakeCluster

    def __init__(self, rados_id=None, name=None, clustername=None,
                 conf_defaults=None, conffile=_NO_CONF_FILE, conf=None,
                 flags=0, context=None):
        self.cluster.handles.append(self)
        self.rados_id = rados_id
        self.clustername = clustername or 'ceph'
        self.conffile = conffile
        self.state = 'configuring'
        self.conf = dict(conf_defaults or {})
        self.conf_at_connect = None
        self.shutdown_calls = 0
        self.ioctxs = []
        self.fsid_calls = 0
        if conffile is _NO_CONF_FILE or conffile is None:
            self.conf_read = None
        elif conffile == '':
            if not self.cluster.default_conf_found:
                _raise('rados', 'ObjectNotFound',
                       'error calling conf_read_file')
            self.conf_read = 'default search path'
            self.conf.update(self.cluster.file_conf)
        else:
            if not os.path.isfile(conffile):
                _raise('rados', 'ObjectNotFound',
                       'error calling conf_read_file')
            self.conf_read = conffile
            self.conf.update(self.cluster.file_conf)
        self.conf.update(conf or {})

    def _connected(self):
        if self.state != 'connected':
            _raise('rados', 'RadosStateError',
                   'You cannot perform that operation on a Rados object in '
                   'state %s.' % self.state)

    def conf_get(self, option):
        if option in self.conf:
            return self.conf[option]
        return BUILTIN_CONF.get(option)

    def conf_set(self, option, val):
        if not isinstance(option, str) or not isinstance(val, str):
            raise TypeError('conf_set needs strings, got %r=%r'
                            % (option, val))
        if self.state == 'shutdown':
            self._connected()
        self.conf[option] = val

    def connect(self, timeout=0):
        if self.state != 'configuring':
            _raise('rados', 'RadosStateError',
                   'You cannot perform that operation on a Rados object in '
                   'state %s.' % self.state)
        self.conf_at_connect = dict(self.conf)
        self.connect_timeout = timeout
        if self.cluster.connect_errors:
            raise self.cluster.connect_errors.pop(0)
        if not self.conf_get('mon_host'):
            _raise('rados', 'ObjectNotFound',
                   'error connecting to the cluster')
        self.state = 'connected'

    def open_ioctx(self, ioctx_name):
        self._connected()
        if ioctx_name not in self.cluster.pools:
            _raise('rados', 'ObjectNotFound',
                   'error opening pool \'%s\'' % ioctx_name)
        ioctx = FakeIoctx(self, ioctx_name)
        self.ioctxs.append(ioctx)
        return ioctx

    def mon_command(self, cmd, inbuf, timeout=0, target=None):
        self._connected()
        self.cluster.check('mon_command')
        return self.cluster.mon_command(json.loads(cmd))

    def get_fsid(self):
        self._connected()
        self.fsid_calls += 1
        return self.cluster.fsid

    def shutdown(self):
        self.shutdown_calls += 1
        self.state = 'shutdown'


# -- rbd -------------------------------------------------------------------

def _features_from_conf(cluster):
    value = cluster.conf_value('rbd_default_features')
    if value.isdigit():
        return int(value)
    return FakeRBD().features_from_string(value)


def _detach(child):
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
            features = _features_from_conf(ioctx.cluster)
        pool.images[name] = ImageData(pool, name, size, order, features)

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
        _detach(image)
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
            features = _features_from_conf(cluster)
        child = ImageData(c_pool, c_name, snap.size, order, features)
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
        _detach(image)
        del pool.trash[image_id]

    def trash_restore(self, ioctx, image_id, name):
        pool = ioctx._pool()
        image = pool.trash.pop(image_id)
        image.trash_entry = None
        image.name = name
        pool.images[name] = image

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
        self._open()
        if self._snap is None:
            return iter([])
        return iter([{'pool': c.pool.name, 'pool_namespace': '',
                      'image': c.name, 'id': c.id,
                      'trash': c.trash_entry is not None}
                     for c in self._snap.children])

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
        return _compose(extents, offset, length)

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
        image.snaps.append(SnapData(self.cluster.next_snap_id(), name,
                                    image.size, image.view()))

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
        _detach(image)
        self.cluster.flattened.append(image.name)

    def copy(self, dest_ioctx, dest_name, features=None, order=None,
             stripe_unit=None, stripe_count=None, data_pool=None):
        image = self._open()
        dest_pool = dest_ioctx._pool()
        self.cluster.check('copy')
        if dest_name in dest_pool.images:
            _raise('rbd', 'ImageExists', 'error copying image')
        if features is None:
            features = _features_from_conf(self.cluster)
        copied = ImageData(dest_pool, dest_name, self.size(),
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


# -- wiring ----------------------------------------------------------------

def make_modules(cluster):
    """``rados`` and ``rbd`` module objects acting on ``cluster``."""
    rados = types.ModuleType('rados')
    rados.Rados = type('Rados', (FakeRados,), {'cluster': cluster})
    rados.Ioctx = FakeIoctx
    for name, cls in RADOS_ERRORS.items():
        setattr(rados, name, cls)
    rbd = types.ModuleType('rbd')
    rbd.RBD = FakeRBD
    rbd.Image = FakeImage
    for name, cls in RBD_ERRORS.items():
        setattr(rbd, name, cls)
    for name, bit in FEATURES.items():
        setattr(rbd, 'RBD_FEATURE_%s' % name.upper().replace('-', '_'), bit)
    rbd.RBD_OPERATION_FEATURE_CLONE_PARENT = OP_FEATURE_CLONE_PARENT
    rbd.RBD_OPERATION_FEATURE_CLONE_CHILD = OP_FEATURE_CLONE_CHILD
    rbd.RBD_OPERATION_FEATURE_SNAP_TRASH = OP_FEATURE_SNAP_TRASH
    for name, value in SNAP_NAMESPACES.items():
        setattr(rbd, 'RBD_SNAP_NAMESPACE_TYPE_%s' % name.upper(), value)
    rbd.RBD_CONFIG_SOURCE_CONFIG = CONFIG_SOURCE_CONFIG
    rbd.RBD_CONFIG_SOURCE_POOL = CONFIG_SOURCE_POOL
    rbd.RBD_CONFIG_SOURCE_IMAGE = CONFIG_SOURCE_IMAGE
    return rados, rbd


def _fake_for(real_class):
    """The fake class standing in for a real rados/rbd exception class."""
    table = _ERRORS.get(getattr(real_class, '__module__', None))
    return table.get(real_class.__name__) if table else None


class FakeCephFixture(fixtures.Fixture):
    """Install a fresh :class:`FakeCluster` behind ``bindings``."""

    def __init__(self, pools=('volumes',)):
        super(FakeCephFixture, self).__init__()
        self.pools = pools

    def _setUp(self):
        self.cluster = FakeCluster(self.pools)
        self.rados, self.rbd = make_modules(self.cluster)
        modules = {'rados': self.rados, 'rbd': self.rbd}
        dead = [_fake_for(e) for e in bindings.DEAD_CONNECTION_ERRORS]
        if not dead or None in dead:
            # Real bindings absent: bindings.py's rule, on the fakes.
            dead = [RADOS_ERRORS[n] for n in (
                'ConnectionShutdown', 'RadosStateError', 'IoctxStateError')]
        self._patch('rados', self.rados)
        self._patch('rbd', self.rbd)
        for alias, (module, name) in BINDINGS_ALIASES.items():
            self._patch(alias, getattr(modules[module], name))
        # Aliases added to bindings.py later, if the real class is known.
        for alias, value in list(vars(bindings).items()):
            fake = _fake_for(value) if isinstance(value, type) else None
            if fake is not None and alias not in BINDINGS_ALIASES:
                self._patch(alias, fake)
        self._patch('DEAD_CONNECTION_ERRORS', tuple(dead))
        # Pooled clients outlive tests otherwise (module-level registry).
        connection.close_all()
        self.addCleanup(connection.close_all)

    def _patch(self, attr, value):
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_ext.ceph.bindings.%s' % attr, value))
