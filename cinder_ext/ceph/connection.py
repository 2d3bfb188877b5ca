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

"""Long-lived, deadline-bound RADOS connections shared by a backend.

Cinder's in-tree driver builds a new ``rados.Rados``, authenticates and
fetches the cluster maps for every operation, then throws it away. Here one
connection per (cluster, conf, user) is opened on first use and kept; each
pool gets one cached ioctx. A connection that librados reports dead, or that
timed out, is retired: new callers get a fresh one at once, and the old one
is shut down when its last user is done with it (shutting a handle down
under a running call would crash librados).

Every librados call made here goes through :mod:`.blocking`, including the
``Rados()`` constructor, ``connect()`` and ``open_ioctx()``.
"""

import contextlib
import dataclasses
import json
import os
import threading
import time

from cinder_ext.ceph import bindings
from cinder_ext.ceph import blocking

# Bound applied to connect, monitor and OSD operations when the operator
# leaves rados_connect_timeout unset (-1). librados' own defaults are a
# 300 s mount timeout and no op timeout at all, which can hold a volume
# service thread for many minutes when a monitor is down.
DEFAULT_TIMEOUT = 30


class CephConnectionError(Exception):
    """The cluster could not be reached or refused us; ``str`` says why."""


@dataclasses.dataclass(frozen=True)
class ClusterSpec(object):
    """Everything that identifies one client connection to one cluster."""

    cluster_name: str = 'ceph'
    conf_file: str = ''
    user: str = None
    timeout: int = DEFAULT_TIMEOUT
    keyring_file: str = None

    def conf_overrides(self):
        seconds = str(self.timeout)
        overrides = {'client_mount_timeout': seconds,
                     'rados_mon_op_timeout': seconds,
                     'rados_osd_op_timeout': seconds}
        if self.keyring_file:
            overrides['keyring'] = self.keyring_file
        return overrides


def _open_rados(spec):
    """Create and connect a Rados handle (runs off the hub)."""
    # conffile '' makes librados search its default paths (as in-tree);
    # None would read no file at all.
    handle = bindings.rados.Rados(rados_id=spec.user,
                                  clustername=spec.cluster_name,
                                  conffile=spec.conf_file or '')
    try:
        for key, value in spec.conf_overrides().items():
            handle.conf_set(key, value)
        handle.connect(timeout=spec.timeout)
    except BaseException:
        handle.shutdown()
        raise
    return handle


def _explain_connect_error(spec, error):
    who = 'client.%s' % (spec.user or 'admin')
    if isinstance(error, (bindings.TimedOut,)) or 'timed out' in str(error):
        return ('could not reach Ceph cluster %r within %s s (as %s, conf '
                '%s): are the monitors up and reachable?'
                % (spec.cluster_name, spec.timeout, who,
                   spec.conf_file or 'librados default'))
    if isinstance(error, (bindings.RadosPermissionError,
                          bindings.PermissionDeniedError,
                          bindings.ObjectNotFound)):
        return ('Ceph refused authentication for %s (conf %s, keyring %s):'
                ' check rbd_user and that its keyring is readable (%s)'
                % (who, spec.conf_file or 'librados default',
                   spec.keyring_file or 'from ceph.conf', error))
    return ('error connecting to Ceph cluster %r as %s: %s'
            % (spec.cluster_name, who, error))


class Session(object):
    """One connected ``rados.Rados`` plus its per-pool ioctx cache."""

    def __init__(self, spec, handle):
        self.spec = spec
        self.handle = handle
        self.users = 0
        self.retired = False
        self._ioctxs = {}
        self._lock = threading.Lock()

    def ioctx(self, pool):
        """The cached ioctx for ``pool`` (opened on first use)."""
        ioctx = self._ioctxs.get(pool)
        if ioctx is None:
            with self._lock:
                ioctx = self._ioctxs.get(pool)
                if ioctx is None:
                    ioctx = blocking.call(self.handle.open_ioctx, pool)
                    self._ioctxs[pool] = ioctx
        return ioctx

    def run(self, func, *args, **kwargs):
        """Run ``func`` (plain librbd code) off the hub."""
        return blocking.call(func, *args, **kwargs)

    def mon_command(self, command, **args):
        """Run a monitor command; return its decoded JSON answer."""
        payload = dict(args, prefix=command, format='json')
        ret, out, err = blocking.call(self.handle.mon_command,
                                      json.dumps(payload), b'',
                                      self.spec.timeout)
        if ret != 0:
            raise bindings.RadosError('mon command %r failed (%s): %s'
                                      % (command, ret, err))
        return json.loads(out) if out else None

    def close(self):
        """Shut down the handle; ioctx close cannot fail, so no try."""
        ioctxs, self._ioctxs = list(self._ioctxs.values()), {}

        def _close():
            for ioctx in ioctxs:
                ioctx.close()
            self.handle.shutdown()
        blocking.call(_close)


class ClusterClient(object):
    """Hands out the live :class:`Session` for one :class:`ClusterSpec`."""

    def __init__(self, spec, connect_attempts=1, retry_interval=0):
        self.spec = spec
        self.connect_attempts = max(1, connect_attempts)
        self.retry_interval = max(0, retry_interval)
        self._session = None
        self._fsid = None
        self._lock = threading.Lock()
        self.connects = 0  # how many handles were opened (for tests/bench)

    def _connect(self):
        if not bindings.available():
            raise CephConnectionError(
                'the rados and rbd Python modules are not importable: '
                'install python3-rados and python3-rbd')
        if self.spec.conf_file and not os.path.isfile(self.spec.conf_file):
            raise CephConnectionError(
                'rbd_ceph_conf=%s: no such file' % self.spec.conf_file)
        last_error = None
        for attempt in range(self.connect_attempts):
            if attempt:
                time.sleep(self.retry_interval)
            try:
                handle = blocking.call(_open_rados, self.spec)
            except bindings.RadosError as error:
                last_error = error
                continue
            self.connects += 1
            return Session(self.spec, handle)
        raise CephConnectionError(
            _explain_connect_error(self.spec, last_error))

    def _acquire(self):
        with self._lock:
            if self._session is None:
                self._session = self._connect()
            session = self._session
            session.users += 1
            return session

    def _release(self, session):
        with self._lock:
            session.users -= 1
            close_now = session.retired and session.users == 0
        if close_now:
            session.close()

    def retire(self, session):
        """Stop handing out ``session``; close it once it is unused."""
        with self._lock:
            if self._session is session:
                self._session = None
            session.retired = True
            close_now = session.users == 0
        if close_now:
            session.close()

    @contextlib.contextmanager
    def session(self):
        """Lease the live session for the duration of a ``with`` block."""
        session = self._acquire()
        try:
            yield session
        except bindings.DEAD_CONNECTION_ERRORS:
            # Let the next caller start on a fresh connection.
            self.retire(session)
            raise
        finally:
            self._release(session)

    def fsid(self):
        """Cluster FSID; it never changes for a connection, so cache it."""
        if self._fsid is None:
            with self.session() as session:
                self._fsid = session.run(session.handle.get_fsid)
        return self._fsid

    def close(self):
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            self.retire(session)


_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()  # guards the dict only; never held over I/O


def get_client(spec, connect_attempts=1, retry_interval=0):
    """The shared :class:`ClusterClient` for ``spec`` (created on demand)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(spec)
        if client is None:
            client = ClusterClient(spec, connect_attempts, retry_interval)
            _CLIENTS[spec] = client
        return client


def close_all():
    """Shut every pooled connection down (tests and process exit)."""
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        client.close()
