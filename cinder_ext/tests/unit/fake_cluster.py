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

"""The in-memory state of a fake Ceph cluster.

:class:`FakeCluster` holds the pools (:class:`PoolData`) with their images
and trash (:class:`ImageData`, each with its :class:`SnapData` snapshots),
what a ceph.conf and the monitors report (monmap, ``osd dump``, ``df``,
pool quotas), and the tests' fault injection and call counters. It also has
helpers for tests to look at and change that state directly.

The ``rados`` and ``rbd`` fakes (:mod:`.fake_rados`, :mod:`.fake_rbd`,
:mod:`.fake_image`) act on this state; nothing here raises binding
exceptions except the faults tests inject.

Image content is kept as a list of writes (``extents``); a clone sees its
parent snapshot's writes first, so the parent link is by object (renaming
the parent is seen) and :func:`compose` builds the bytes on a read.
"""

import collections
import errno
import itertools
import json
import uuid

GiB = 1024 ** 3

DEFAULT_FEATURES = 'layering,exclusive-lock,object-map,fast-diff,deep-flatten'

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
        self.migration_source = None  # (PoolData, name) until commit

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


def compose(extents, offset, length):
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
        return compose(self.image(name, pool).view(), offset, length)

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
