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

"""Fake ``rados`` classes: :class:`FakeRados` and :class:`FakeIoctx`.

A :class:`FakeRados` handle follows librados' life cycle (configuring ->
connected -> shutdown, with ``RadosStateError`` out of order) and its
configuration rules: ``Rados(conffile=None)`` (or no conffile) reads no
configuration file, ``conffile=''`` librados' default search path, and
connecting without a monitor address fails with ObjectNotFound, as librados
does. Monitor commands are answered by the handle's
:class:`~.fake_cluster.FakeCluster`, set as the ``cluster`` attribute of
the per-cluster subclass :func:`.fake_ceph.make_modules` creates.
"""

import json
import os

from cinder_ext.tests.unit import fake_cls
from cinder_ext.tests.unit import fake_cluster
from cinder_ext.tests.unit import fake_errors

# Short name: used on nearly every error path below.
_raise = fake_errors.raise_error

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

    def get_pool_id(self):
        return self._pool().id

    def execute(self, key, cls, method, data, length=8192):
        pool = self._pool()
        self.cluster.check('execute')
        assert cls == 'rbd', cls
        return fake_cls.execute(pool, key, method, data)

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
        return fake_cluster.BUILTIN_CONF.get(option)

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
