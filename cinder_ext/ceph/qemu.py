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

"""Data written into an RBD image through QEMU's LUKS driver.

What a guest writes to an encrypted volume goes through QEMU's LUKS driver
over librbd; ``qemu-img convert`` into the same stack of drivers writes the
plaintext of an image straight into the volume, so no encrypted copy is
made on local disk first. Secrets (the LUKS passphrase, the cephx key)
reach QEMU through files of a private temporary directory, never its
command line, which processutils logs.
"""

import os
import tempfile
from typing import Optional

from oslo_concurrency import processutils

from cinder_ext.ceph import connection


class QemuFailed(Exception):
    """qemu-img failed; the message is its own error output."""


def _opt(value: str) -> str:
    # QEMU's option syntax escapes a comma by doubling it.
    return value.replace(',', ',,')


def _cephx_key(keyring_text: str) -> Optional[str]:
    """The ``key = ...`` of a keyring file's text."""
    for line in keyring_text.splitlines():
        name, sep, value = line.partition('=')
        if sep and name.strip() == 'key':
            return value.strip()
    return None


def _write_secret(tmp: str, name: str, value: str) -> str:
    path = os.path.join(tmp, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(value)
    return path


def _luks_over_rbd(tmp: str, spec: connection.ClusterSpec, pool: str,
                   image: str, passphrase: str) -> list:
    """``--object`` and image-opts arguments opening ``pool/image``."""
    args = ['--object', 'secret,id=luks0,format=raw,file=%s'
            % _write_secret(tmp, 'passphrase', passphrase)]
    opts = ['driver=luks', 'key-secret=luks0', 'file.driver=rbd',
            'file.pool=' + _opt(pool), 'file.image=' + _opt(image)]
    if spec.user:
        opts.append('file.user=' + _opt(spec.user))
    conf_file = spec.conf_file
    if not conf_file and spec.cluster_name != 'ceph':
        conf_file = '/etc/ceph/%s.conf' % spec.cluster_name
    if conf_file:
        opts.append('file.conf=' + _opt(conf_file))
    if spec.keyring_file:
        with open(spec.keyring_file) as keyring:
            key = _cephx_key(keyring.read())
        if key:
            args += ['--object', 'secret,id=ceph0,format=base64,file=%s'
                     % _write_secret(tmp, 'cephx', key)]
            opts.append('file.key-secret=ceph0')
    return args + ['--target-image-opts', ','.join(opts)]


def write_raw_into_luks(path: str, spec: connection.ClusterSpec, pool: str,
                        image: str, passphrase: str) -> None:
    """Write the raw file ``path`` as plaintext of LUKS image ``pool/image``.

    The image already carries its LUKS header and is at least as large as
    the file (plus the header). Runs a subprocess: under eventlet it waits
    without blocking the hub.
    """
    with tempfile.TemporaryDirectory(prefix='cinder-ext-qemu-') as tmp:
        target = _luks_over_rbd(tmp, spec, pool, image, passphrase)
        try:
            # -n: into the existing image; -W: writes in any order.
            processutils.execute('qemu-img', 'convert', '-n', '-W', '-f',
                                 'raw', *target[:-1], path, target[-1])
        except processutils.ProcessExecutionError as error:
            raise QemuFailed((error.stderr or str(error)).strip())
