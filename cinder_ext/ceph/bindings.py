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

"""The one place that imports Ceph's Python bindings.

Debian ships ``python3-rados`` and ``python3-rbd``; they are not on PyPI, so
the driver must load even where they are missing (the config generator, the
docs build, unit tests with fakes). Callers check :func:`available` and use
the exception classes re-exported here, so a missing binding gives one clear
error at setup time instead of an ``AttributeError`` deep in an operation.
"""

try:
    import rados
    import rbd
except ImportError:  # pragma: no cover - depends on the host
    rados = None
    rbd = None


class _Unavailable(Exception):
    """Placeholder so ``except bindings.ImageNotFound`` stays valid."""


def available():
    return rados is not None and rbd is not None


def _rbd_exc(name):
    return getattr(rbd, name, _Unavailable) if rbd else _Unavailable


def _rados_exc(name):
    return getattr(rados, name, _Unavailable) if rados else _Unavailable


# librbd errors
RBDError = _rbd_exc('Error')
ImageNotFound = _rbd_exc('ImageNotFound')
ImageExists = _rbd_exc('ImageExists')
ImageBusy = _rbd_exc('ImageBusy')
ImageHasSnapshots = _rbd_exc('ImageHasSnapshots')
InvalidArgument = _rbd_exc('InvalidArgument')
ReadOnlyImage = _rbd_exc('ReadOnlyImage')
RBDPermissionError = _rbd_exc('PermissionError')
RBDTimeout = _rbd_exc('Timeout')
RBDOSError = _rbd_exc('OSError')

# librados errors
RadosError = _rados_exc('Error')
ObjectNotFound = _rados_exc('ObjectNotFound')
RadosPermissionError = _rados_exc('PermissionError')
PermissionDeniedError = _rados_exc('PermissionDeniedError')
TimedOut = _rados_exc('TimedOut')
ConnectionShutdown = _rados_exc('ConnectionShutdown')
RadosStateError = _rados_exc('RadosStateError')
IoctxStateError = _rados_exc('IoctxStateError')

RBDConnectionShutdown = _rbd_exc('ConnectionShutdown')

# Errors after which a cached connection is not reused: librados and
# librbd each raise their own ESHUTDOWN class (shut down or blocklisted).
# Timeouts are not among them: a handle whose operation timed out
# reconnects to monitors and OSDs by itself once they answer again.
DEAD_CONNECTION_ERRORS = tuple(
    e for e in (ConnectionShutdown, RadosStateError, IoctxStateError,
                RBDConnectionShutdown)
    if e is not _Unavailable)


def no_access_errors() -> tuple:
    """What opening or reading a pool we may not use raises.

    The pool is gone (ObjectNotFound) or our caps do not cover it. A call,
    not a tuple, so it sees the classes as they are now (tests swap them).
    """
    return (ObjectNotFound, RadosPermissionError, PermissionDeniedError,
            RBDPermissionError)


def feature(name, default):
    """An ``RBD_FEATURE_*``/``RBD_OPERATION_FEATURE_*`` constant."""
    return getattr(rbd, name, default) if rbd else default


FEATURE_LAYERING = feature('RBD_FEATURE_LAYERING', 1)
FEATURE_EXCLUSIVE_LOCK = feature('RBD_FEATURE_EXCLUSIVE_LOCK', 4)
FEATURE_OBJECT_MAP = feature('RBD_FEATURE_OBJECT_MAP', 8)
FEATURE_FAST_DIFF = feature('RBD_FEATURE_FAST_DIFF', 16)
FEATURE_JOURNALING = feature('RBD_FEATURE_JOURNALING', 64)
OP_FEATURE_CLONE_PARENT = feature('RBD_OPERATION_FEATURE_CLONE_PARENT', 1)
OP_FEATURE_CLONE_CHILD = feature('RBD_OPERATION_FEATURE_CLONE_CHILD', 2)
SNAP_NAMESPACE_USER = feature('RBD_SNAP_NAMESPACE_TYPE_USER', 0)
CONFIG_SOURCE_IMAGE = feature('RBD_CONFIG_SOURCE_IMAGE', 2)
