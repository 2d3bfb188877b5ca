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

"""Checks on configuration and requests, with errors that name the culprit.

Everything here runs before anything is created, so a bad value costs the
operator one clear message and leaves the cluster untouched.
"""

import os
import re

from cinder import exception

from cinder_ext.ceph import bindings
from cinder_ext.ceph import connection

# Object sizes librbd accepts for rbd_store_chunk_size (MiB): order 20-25.
CHUNK_SIZES_MB = (1, 2, 4, 8, 16, 32)
# Image names go into rbd specs (pool/image@snap) and QEMU's option string.
_BAD_NAME = re.compile(r'[/@\s:]')


def _invalid(option, value, why=None):
    error = exception.InvalidConfigurationValue(option=option, value=value)
    if why:
        error.msg = '%s (%s)' % (error.msg, why)
        error.args = (error.msg,)
    return error


def check_configuration(conf):
    for option in ('rbd_cluster_name', 'rbd_pool'):
        if not getattr(conf, option):
            raise _invalid(option, getattr(conf, option), 'must be set')
    if conf.rbd_store_chunk_size not in CHUNK_SIZES_MB:
        raise _invalid('rbd_store_chunk_size', conf.rbd_store_chunk_size,
                       'must be one of %s (MiB)' % (CHUNK_SIZES_MB,))
    if conf.rbd_ceph_conf and not os.path.isfile(conf.rbd_ceph_conf):
        raise _invalid('rbd_ceph_conf', conf.rbd_ceph_conf, 'no such file')
    user = conf.rbd_user
    if user and user.startswith('client.'):
        raise _invalid('rbd_user', user,
                       'give the id without "client.", e.g. %s' % user[7:])
    if conf.deferred_deletion_delay < 0:
        raise _invalid('deferred_deletion_delay',
                       conf.deferred_deletion_delay, 'must be >= 0')
    if conf.deferred_deletion_purge_interval <= 0:
        raise _invalid('deferred_deletion_purge_interval',
                       conf.deferred_deletion_purge_interval, 'must be > 0')
    if conf.rbd_stats_max_age < 0:
        raise _invalid('rbd_stats_max_age', conf.rbd_stats_max_age,
                       'must be >= 0 (0: read Ceph on every stats poll)')


def keyring_path(conf):
    # Not a registered option (OSSN-0085): cinderlib sets it directly.
    return getattr(conf, 'rbd_keyring_conf', None) or None


def read_keyring(conf):
    path = keyring_path(conf)
    if not path:
        return None
    try:
        with open(path) as keyring:
            return keyring.read()
    except OSError:
        return None


def check_keyring(conf):
    path = keyring_path(conf)
    if path and not read_keyring(conf):
        raise _invalid('rbd_keyring_conf', path, 'cannot read the keyring')


def check_cluster(backend):
    """Connect and open the pool, explaining what went wrong if it fails."""
    try:
        with backend.session() as session:
            session.ioctx(backend.pool)
    except connection.CephConnectionError as error:
        raise exception.VolumeBackendAPIException(data=str(error))
    except bindings.ObjectNotFound:
        raise exception.VolumeBackendAPIException(
            data='rbd_pool=%s: no such pool in cluster %s'
                 % (backend.pool, backend.spec.cluster_name))
    except bindings.RadosError as error:
        raise exception.VolumeBackendAPIException(
            data='rbd_pool=%s: cannot open it as client.%s: %s'
                 % (backend.pool, backend.spec.user or 'admin', error))


def check_no_replication(conf, active_backend_id) -> None:
    """Refuse to start where replication is asked for: it is not built yet.

    Serving the primary cluster while Cinder believes the backend failed
    over (or replicates) would put volumes where nobody expects them.
    """
    devices = conf.safe_get('replication_device')
    if devices:
        raise _invalid('replication_device', '<%d device(s)>' % len(devices),
                       'replication is not supported by cinder-ext yet; '
                       'remove it or use the in-tree driver')
    if active_backend_id not in (None, '', 'default'):
        raise exception.VolumeBackendAPIException(
            data='active_backend_id=%s: this backend was failed over, and '
                 'cinder-ext does not support replication yet; fail it back '
                 'with the in-tree driver first' % active_backend_id)


def check_not_encrypted(volume, operation: str) -> None:
    """Refuse ``operation`` on an encrypted volume clearly."""
    if getattr(volume, 'encryption_key_id', None):
        raise exception.VolumeDriverException(
            message='volume %s is encrypted: cinder-ext cannot %s an '
                    'encrypted volume yet; its data was not changed'
                    % (volume.id, operation))


def check_new_volume(volume):
    size = volume.size
    if not isinstance(size, int) or size <= 0:
        raise exception.InvalidInput(
            reason='volume size must be a positive number of GiB, got %r'
                   % (size,))
    check_image_name(volume.name)


def check_image_name(name):
    if not name or _BAD_NAME.search(name):
        raise exception.InvalidInput(
            reason='invalid RBD image name %r: it must not be empty or '
                   'contain "/", "@", ":" or whitespace' % (name,))


def source_name(existing_ref):
    name = (existing_ref or {}).get('source-name')
    if not name:
        raise exception.ManageExistingInvalidReference(
            existing_ref=existing_ref,
            reason='Reference must contain source-name element.')
    check_image_name(name)
    return name
