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
pool gets one cached ioctx. A connection that librados reports dead (shut
down, blocklisted, wrong state) is retired: new callers get a fresh one at
once, and the old one is shut down when its last user is done with it
(shutting a handle down under a running call would crash librados). A
timed-out operation does not retire it: librados re-hunts for monitors and
resends to OSDs by itself, so the handle is still good once Ceph answers.

Deadlines (``ClusterSpec.timeout``, T): the whole connect, every attempt and
the pauses between them, fits in T; each monitor and OSD operation is cut
at T by ``rados_mon_op_timeout``/``rados_osd_op_timeout``. python-rados
ignores ``connect(timeout=...)``; librados bounds a connect with
``client_mount_timeout`` only, so that is what each attempt gets.

Outages: one caller at a time connects (single flight); the others wait for
its result, each no longer than its own deadline, and never under the
client lock. A failed connect is remembered for ``failure_hold`` seconds,
during which callers get the same :class:`CephConnectionError` at once;
after that the next caller tries again, so service resumes by itself.

Every librados call made here goes through :mod:`.blocking`, including the
``Rados()`` constructor, ``connect()`` and ``open_ioctx()``.
"""

import contextlib
import dataclasses
import json
import os
import threading
import time
from typing import Optional

from cinder_ext.ceph import bindings
from cinder_ext.ceph import blocking

# Bound applied to connect, monitor and OSD operations when the operator
# leaves rados_connect_timeout unset (-1). librados' own defaults are a
# 300 s mount timeout and no op timeout at all, which can hold a volume
# service thread for many minutes when a monitor is down.
DEFAULT_TIMEOUT = 30

# How long a failed connect is remembered (rados_connect_failure_hold).
DEFAULT_FAILURE_HOLD = 5

# Retries are dropped rather than giving one attempt less than this: a
# healthy but busy monitor answers well within it, a hung one never does.
MIN_ATTEMPT_TIMEOUT = 5

# Slack for waiters on top of T: the connecting caller needs a moment after
# librados gives up to record the result.
WAIT_SLACK = 5


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

    def conf_overrides(self, mount_timeout: Optional[int] = None) -> dict:
        seconds = str(self.timeout)
        overrides = {'client_mount_timeout': str(mount_timeout or
                                                 self.timeout),
                     'rados_mon_op_timeout': seconds,
                     'rados_osd_op_timeout': seconds}
        if self.keyring_file:
            overrides['keyring'] = self.keyring_file
        return overrides


def connect_plan(budget: int, attempts: int, interval: int) -> tuple:
    """(attempts, seconds per attempt) that fit all of them in ``budget``.

    ``attempts * per_attempt + (attempts - 1) * interval <= budget``;
    attempts are dropped rather than cutting one below
    :data:`MIN_ATTEMPT_TIMEOUT`, and a lone attempt gets the whole budget.
    """
    for count in range(max(1, attempts), 1, -1):
        per_attempt = (budget - (count - 1) * interval) // count
        if per_attempt >= MIN_ATTEMPT_TIMEOUT:
            return count, per_attempt
    return 1, max(1, budget)


def _open_rados(spec: ClusterSpec, mount_timeout: int):
    """Create and connect a Rados handle (runs off the hub)."""
    # conffile '' makes librados search its default paths (as in-tree);
    # None would read no file at all.
    handle = bindings.rados.Rados(rados_id=spec.user,
                                  clustername=spec.cluster_name,
                                  conffile=spec.conf_file or '')
    try:
        for key, value in spec.conf_overrides(mount_timeout).items():
            handle.conf_set(key, value)
        # No timeout argument: python-rados ignores it.
        handle.connect()
    except BaseException:
        handle.shutdown()
        raise
    return handle


def _explain_connect_error(spec: ClusterSpec, error: Exception,
                           attempts: int) -> str:
    who = 'client.%s' % (spec.user or 'admin')
    if isinstance(error, (bindings.TimedOut,)) or 'timed out' in str(error):
        return ('could not reach Ceph cluster %r within %s s (%d attempt(s)'
                ' as %s, conf %s): are the monitors up and reachable?'
                % (spec.cluster_name, spec.timeout, attempts, who,
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
        # rados_mon_op_timeout bounds it: mon_command ignores its timeout.
        ret, out, err = blocking.call(self.handle.mon_command,
                                      json.dumps(payload), b'')
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


class _Flight(object):
    """One connect in progress; waiters block on ``done``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: Optional[str] = None


class ClusterClient(object):
    """Hands out the live :class:`Session` for one :class:`ClusterSpec`."""

    def __init__(self, spec, connect_attempts=1, retry_interval=0,
                 failure_hold=DEFAULT_FAILURE_HOLD):
        self.spec = spec
        self.connect_attempts = max(1, connect_attempts)
        self.retry_interval = max(0, retry_interval)
        self.failure_hold = max(0, failure_hold)
        self._session = None
        self._flight = None
        self._failure = None    # (message, monotonic time it expires)
        self._fsid = None
        self._lock = threading.Lock()
        self.connects = 0  # how many handles were opened (for tests/bench)
        self.attempts = 0  # how many connect() calls were made (same)

    def _connect(self):
        """A new Session, or CephConnectionError; the whole of it in T."""
        if not bindings.available():
            raise CephConnectionError(
                'the rados and rbd Python modules are not importable: '
                'install python3-rados and python3-rbd')
        if self.spec.conf_file and not os.path.isfile(self.spec.conf_file):
            raise CephConnectionError(
                'rbd_ceph_conf=%s: no such file' % self.spec.conf_file)
        count, per_attempt = connect_plan(
            self.spec.timeout, self.connect_attempts, self.retry_interval)
        last_error = None
        for attempt in range(count):
            if attempt:
                time.sleep(self.retry_interval)
            self.attempts += 1
            try:
                handle = blocking.call(_open_rados, self.spec, per_attempt)
            except bindings.RadosError as error:
                last_error = error
                continue
            self.connects += 1
            return Session(self.spec, handle)
        raise CephConnectionError(
            _explain_connect_error(self.spec, last_error, count))

    def _fly(self, flight: _Flight) -> None:
        """Connect for every waiter of ``flight``; publish the outcome."""
        session = None
        try:
            session = self._connect()
        except CephConnectionError as error:
            flight.error = str(error)
        finally:
            if session is None and flight.error is None:
                flight.error = 'connecting to Ceph was interrupted'
            with self._lock:
                self._flight = None
                if session is not None:
                    self._session, self._failure = session, None
                elif self.failure_hold:
                    self._failure = (flight.error,
                                     time.monotonic() + self.failure_hold)
            flight.done.set()

    def _join_or_lead(self) -> tuple:
        """The live session (leased), or the flight to wait for."""
        with self._lock:
            session = self._session
            if session is not None:
                session.users += 1
                return session, None, False
            if self._failure and time.monotonic() < self._failure[1]:
                raise CephConnectionError(self._failure[0])
            leader = self._flight is None
            if leader:
                self._flight = _Flight()
            return None, self._flight, leader

    def _acquire(self) -> Session:
        # Waiters are bounded here; the connecting caller by librados
        # (client_mount_timeout per attempt, see connect_plan).
        deadline = time.monotonic() + self.spec.timeout + WAIT_SLACK
        while True:
            session, flight, leader = self._join_or_lead()
            if session is not None:
                return session
            if leader:
                self._fly(flight)
            elif not flight.done.wait(max(0, deadline - time.monotonic())):
                raise CephConnectionError(
                    'Ceph cluster %r: another connect still running after '
                    '%s s' % (self.spec.cluster_name, self.spec.timeout))
            if flight.error is not None:
                raise CephConnectionError(flight.error)
            # Connected; loop to lease it (or reconnect if already retired).

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
            self._failure = None
        if session is not None:
            self.retire(session)


_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()  # guards the dict only; never held over I/O


def get_client(spec, connect_attempts=1, retry_interval=0,
               failure_hold=DEFAULT_FAILURE_HOLD):
    """The shared :class:`ClusterClient` for ``spec`` (created on demand)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(spec)
        if client is None:
            client = ClusterClient(spec, connect_attempts, retry_interval,
                                   failure_hold)
            _CLIENTS[spec] = client
        return client


def close_all():
    """Shut every pooled connection down (tests and process exit)."""
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        client.close()
