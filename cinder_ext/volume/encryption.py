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

"""LUKS-encrypted volumes: the layout Nova, QEMU and os-brick open.

An encrypted volume is an RBD image of ``size`` GiB plus a LUKS1 header,
which sits at offset 0 (the in-tree driver's layout): the guest sees
exactly ``size`` GiB of plaintext through QEMU's LUKS driver. The
passphrase is the hex string of the volume's key from the key manager,
as Nova, os-brick and the in-tree driver use it.

Only the header is made on local disk (2 MiB, by ``qemu-img create -f luks
... 0``, whose format QEMU is sure to read); librbd writes it into a new
thin image. The in-tree driver builds the whole volume in a temporary file
and runs ``rbd import`` instead.
"""

import binascii
import dataclasses
import os
import tempfile
from typing import Optional

from castellan import key_manager
from cinder import exception
from cinder.image import image_utils
from cinder import objects
from cinder.volume import volume_utils
from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_log import log as logging

from cinder_ext.ceph import images
from cinder_ext.ceph import qemu
from cinder_ext.ceph import transfer

LOG = logging.getLogger(__name__)

# QEMU's LUKS driver knows these; Cinder's spec says "<alg>-<mode>-<ivgen>".
_MODES = ('xts', 'cbc')
_IVGENS = ('plain64', 'plain', 'essiv')
# Cinder's key_size is the width of AES, except that dm-crypt style
# 512 for XTS means two AES-256 keys (cryptsetup's --key-size 512).
_AES_BITS = {128: 128, 192: 192, 256: 256, 512: 256}


@dataclasses.dataclass(frozen=True)
class LuksSpec:
    """What ``qemu-img create -f luks`` needs from the volume type."""

    cipher_alg: str
    cipher_mode: str
    ivgen_alg: str
    ivgen_hash_alg: str = ''

    def qemu_options(self) -> str:
        options = ['cipher-alg=%s' % self.cipher_alg,
                   'cipher-mode=%s' % self.cipher_mode,
                   'ivgen-alg=%s' % self.ivgen_alg]
        if self.ivgen_hash_alg:
            options.append('ivgen-hash-alg=%s' % self.ivgen_hash_alg)
        return ','.join(options)


def _invalid(volume, key, value, why):
    return exception.VolumeDriverException(
        message='volume %s: encryption %s=%r of volume type %s is not '
                'supported: %s; nothing was created'
                % (volume.id, key, value, volume.volume_type_id, why))


def luks_spec(volume, encryption: dict) -> LuksSpec:
    """The cipher of ``encryption`` (Cinder's checked spec), validated.

    Raises before anything is created, naming the key and value.
    """
    cipher = encryption.get('cipher')
    parts = (cipher or '').split('-')
    if len(parts) != 3 or parts[0] != 'aes' or parts[1] not in _MODES:
        raise _invalid(volume, 'cipher', cipher,
                       'use aes-xts-plain64 (or aes-cbc-essiv:sha256)')
    ivgen, _sep, ivgen_hash = parts[2].partition(':')
    if ivgen not in _IVGENS or bool(ivgen_hash) != (ivgen == 'essiv'):
        raise _invalid(volume, 'cipher', cipher,
                       'the IV generator must be plain64, plain or '
                       'essiv:<hash>')
    try:
        bits = _AES_BITS[int(encryption.get('key_size'))]
    except (KeyError, TypeError, ValueError):
        raise _invalid(volume, 'key_size', encryption.get('key_size'),
                       'use 128, 192, 256 or 512 (XTS: 2 x 256)')
    return LuksSpec('aes-%d' % bits, parts[1], ivgen, ivgen_hash)


def passphrase(volume) -> str:
    """The volume key as Nova and os-brick use it: its bytes in hex."""
    try:
        key = key_manager.API(cfg.CONF).get(volume.obj_context,
                                            volume.encryption_key_id)
    except Exception as error:
        raise exception.VolumeDriverException(
            message='volume %s: reading its key %s from the key manager '
                    'failed (%s); nothing was created'
                    % (volume.id, volume.encryption_key_id,
                       type(error).__name__))
    return binascii.hexlify(key.get_encoded()).decode('ascii')


def check_generic_migration(volume) -> None:
    """Refuse to be the target of Cinder's generic copy of LUKS data.

    Cinder migrates (and retypes into, out of or between encryptions)
    through a copy in cinder-volume that opens both volumes with
    cryptsetup on a host block device, which an RBD volume opened by
    os-brick is not: the copy would fail after the target was made. So the
    target is refused before anything exists, and the source is left as
    it was.
    """
    status = getattr(volume, 'migration_status', None) or ''
    if not status.startswith('target:'):
        return
    source_id = status.split(':', 1)[1]
    encrypted = bool(volume.encryption_key_id)
    if not encrypted:
        source = objects.Volume.get_by_id(volume.obj_context, source_id)
        encrypted = bool(source.encryption_key_id)
    if encrypted:
        raise exception.VolumeDriverException(
            message='volume %s: Cinder\'s generic migration copies '
                    'encrypted volumes through a host block device, which '
                    'RBD volumes are not; migrating or retyping encrypted '
                    'volume data this way (volume %s) is not possible. '
                    'Nothing was created and the volume is unchanged'
                    % (volume.id, source_id))


def new_volume_header(volume, iter_time_ms: int) -> Optional[bytes]:
    """The LUKS header a new empty ``volume`` starts with; None if plain.

    Cinder's encryption spec of the volume type decides (checked by
    Cinder's own helper, which refuses providers other than LUKS).
    """
    if not volume.encryption_key_id:
        return None
    context = volume.obj_context
    encryption = volume_utils.check_encryption_provider(volume, context)
    spec = luks_spec(volume, encryption)
    return luks_header(spec, passphrase(volume), iter_time_ms)


def luks_header(spec: LuksSpec, secret: str, iter_time_ms: int) -> bytes:
    """A LUKS1 header for an empty payload, made by qemu-img.

    The passphrase goes through a file of our private temporary directory,
    never the command line (processutils logs it).
    """
    with tempfile.TemporaryDirectory(prefix='cinder-ext-luks-') as tmp:
        secret_file = os.path.join(tmp, 'passphrase')
        header_file = os.path.join(tmp, 'header.luks')
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(secret)
        try:
            processutils.execute(
                'qemu-img', 'create', '-q', '-f', 'luks',
                '--object', 'secret,id=sec0,format=raw,file=%s' % secret_file,
                '-o', '%s,key-secret=sec0,iter-time=%d'
                % (spec.qemu_options(), iter_time_ms),
                header_file, '0')
        except processutils.ProcessExecutionError as error:
            raise exception.VolumeDriverException(
                message='qemu-img could not make a LUKS header (%s): %s'
                        % (spec.qemu_options(), (error.stderr or '').strip()))
        with open(header_file, 'rb') as f:
            return f.read()


def copy_plain_image(backend, context, volume, image_service, image_id,
                     blocksize: int, disable_sparse: bool = False) -> None:
    """A plain image into an encrypted volume, as plaintext.

    Cinder's download checks the image and converts it to raw (a local
    file of the image's virtual size, as for any image Cinder converts);
    qemu-img then encrypts it straight into the volume through the LUKS
    header it was created with. The in-tree driver makes a second, fully
    encrypted copy on disk and imports that. ``disable_sparse`` (a
    reimage): what the volume held past the image goes too.
    """
    secret = passphrase(volume)
    tmp_dir = volume_utils.image_conversion_dir()
    with tempfile.NamedTemporaryFile(dir=tmp_dir) as tmp:
        image_utils.fetch_to_raw(context, image_service, image_id, tmp.name,
                                 blocksize, size=volume.size)
        with backend.transfer_limit:
            try:
                qemu.write_raw_into_luks(tmp.name, backend.spec,
                                         backend.pool, volume.name, secret)
            except qemu.QemuFailed as error:
                raise exception.ImageCopyFailure(
                    reason='writing image %s into encrypted volume %s '
                           'failed: %s' % (image_id, volume.id, error))
            if disable_sparse:
                _zero_past(backend, volume.name, os.path.getsize(tmp.name))
    LOG.debug('Wrote image %s into encrypted volume %s', image_id,
              volume.name)


def _zero_past(backend, name: str, plaintext_end: int) -> None:
    with backend.session() as session:
        ioctx = session.ioctx(backend.pool)
        header = session.run(images.luks_header_size, ioctx, name)
        session.run(transfer.zero_tail, ioctx, name, header + plaintext_end)
