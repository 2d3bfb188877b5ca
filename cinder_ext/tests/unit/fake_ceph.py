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

The fakes are split by concern; this module is their entry point and
re-exports the names tests use:

* :mod:`.fake_errors`: the exception classes and :func:`rbd_error` /
  :func:`rados_error`;
* :mod:`.fake_cluster`: the cluster state (:class:`FakeCluster`, pools,
  images, snapshots) and the monitors' answers;
* :mod:`.fake_rados`: ``rados.Rados`` and ``rados.Ioctx``;
* :mod:`.fake_rbd`: ``rbd.RBD`` (pool-level image operations);
* :mod:`.fake_image`: ``rbd.Image`` (an open image).
"""

import types

import fixtures

from cinder_ext.ceph import bindings
from cinder_ext.ceph import connection
from cinder_ext.tests.unit import fake_cluster
from cinder_ext.tests.unit import fake_errors
from cinder_ext.tests.unit import fake_image
from cinder_ext.tests.unit import fake_rados
from cinder_ext.tests.unit import fake_rbd

# -- re-exports (the names tests and older callers use) -------------------

RADOS_ERRORS = fake_errors.RADOS_ERRORS
RBD_ERRORS = fake_errors.RBD_ERRORS
_ERRORS = fake_errors.ERRORS
BINDINGS_ALIASES = fake_errors.BINDINGS_ALIASES
rados_error = fake_errors.rados_error
rbd_error = fake_errors.rbd_error

GiB = fake_cluster.GiB
DEFAULT_FEATURES = fake_cluster.DEFAULT_FEATURES
BUILTIN_CONF = fake_cluster.BUILTIN_CONF
SnapData = fake_cluster.SnapData
ImageData = fake_cluster.ImageData
PoolData = fake_cluster.PoolData
FakeCluster = fake_cluster.FakeCluster

FakeIoctx = fake_rados.FakeIoctx
FakeRados = fake_rados.FakeRados

FEATURES = fake_rbd.FEATURES
FakeRBD = fake_rbd.FakeRBD

OP_FEATURE_CLONE_PARENT = fake_image.OP_FEATURE_CLONE_PARENT
OP_FEATURE_CLONE_CHILD = fake_image.OP_FEATURE_CLONE_CHILD
OP_FEATURE_SNAP_TRASH = fake_image.OP_FEATURE_SNAP_TRASH
SNAP_NAMESPACES = fake_image.SNAP_NAMESPACES
CONFIG_SOURCE_CONFIG = fake_image.CONFIG_SOURCE_CONFIG
CONFIG_SOURCE_POOL = fake_image.CONFIG_SOURCE_POOL
CONFIG_SOURCE_IMAGE = fake_image.CONFIG_SOURCE_IMAGE
IMAGE_CONFIG_DEFAULTS = fake_image.IMAGE_CONFIG_DEFAULTS
FakeImage = fake_image.FakeImage


# -- wiring ----------------------------------------------------------------

def make_modules(cluster):
    """``rados`` and ``rbd`` module objects acting on ``cluster``."""
    rados = types.ModuleType('rados')
    rados.Rados = type('Rados', (fake_rados.FakeRados,), {'cluster': cluster})
    rados.Ioctx = fake_rados.FakeIoctx
    for name, cls in RADOS_ERRORS.items():
        setattr(rados, name, cls)
    rbd = types.ModuleType('rbd')
    rbd.RBD = fake_rbd.FakeRBD
    rbd.Image = fake_image.FakeImage
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
