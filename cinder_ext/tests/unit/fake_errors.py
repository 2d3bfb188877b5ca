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

"""Fake ``rados`` and ``rbd`` exception classes and helpers to make them.

The classes are built at import time and named and nested as in Ceph's
bindings: ``Error`` -> ``OSError`` -> ``ImageNotFound`` and so on, each
with the errno and the ``[errno N] description (message)`` string of the
real ones, and ``__module__`` set to ``rados`` or ``rbd`` so that code
dispatching on the module name treats them as the real thing.

:data:`ERRORS` maps each module name to its classes,
:data:`BINDINGS_ALIASES` lists the exception aliases
:mod:`cinder_ext.ceph.bindings` defines, for the fixture to replace, and
:func:`raise_error` is what the other fakes raise with.
"""

import errno


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

ERRORS = {'rados': RADOS_ERRORS, 'rbd': RBD_ERRORS}


def rados_error(name, message='fake', number=None):
    return RADOS_ERRORS[name](message, number)


def rbd_error(name, message='fake', number=None):
    return RBD_ERRORS[name](message, number)


def raise_error(module, name, message):
    raise ERRORS[module][name](message)
