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

"""The pool as client.admin sees it, through the ``rbd`` CLI (and QEMU's
tools for bytes at an offset).

No rados bindings here: the suite runs in the clients virtualenv. The pool
is shared with other test runs, so callers look at images by name and never
assume the pool holds only theirs. ``rbd ls`` is used without ``-l``,
which would open every image and fail when another client removes one
meanwhile.
"""

import hashlib
import json
import os
import subprocess
import tempfile

from cinder_ext.tests.e2e import stack

GiB = 1024 ** 3
TIMEOUT = 120


class RBDError(Exception):
    pass


def _run(cmd):
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        raise RBDError('%s: exit %s: %s' % (
            ' '.join(cmd), proc.returncode, proc.stderr.strip()))
    return proc.stdout


def rbd(*args):
    """Run ``rbd`` as client.admin on the test bed; return stdout."""
    return _run(['rbd', '-c', stack.CEPH_CONF, '--id', 'admin'] + list(args))


def rbd_json(*args):
    return json.loads(rbd(*(args + ('--format', 'json'))) or 'null')


def spec(name, snap=None):
    path = '%s/%s' % (stack.POOL, name)
    return path + '@' + snap if snap else path


def images(pool=None):
    return rbd('ls', pool or stack.POOL).split()


def trash():
    """Every trash entry of the pool (all sources) as {'id', 'name'}."""
    return rbd_json('trash', 'ls', '--all', stack.POOL) or []


def info(name):
    return rbd_json('info', spec(name))


def size(name):
    return info(name)['size']


def parent(name):
    """(image, snapshot) this image is a clone of, or None."""
    found = info(name).get('parent')
    if not found:
        return None
    return found['image'], found['snapshot']


def snaps(name, all_namespaces=True):
    """Snapshots of ``name``: {'name', 'size', 'namespace'}.

    With ``all_namespaces``, v2 snapshots waiting in the snapshot trash for
    their clones are listed too (namespace ``trash``).
    """
    args = ['snap', 'ls', spec(name)]
    if all_namespaces:
        args.append('--all')
    found = rbd_json(*args) or []
    for snap in found:
        namespace = snap.get('namespace', 'user')
        if isinstance(namespace, dict):
            namespace = namespace.get('type', 'user')
        snap['namespace'] = namespace
    return found


def snap_names(name):
    return sorted(s['name'] for s in snaps(name, all_namespaces=False))


def qos(name):
    """The ``rbd_qos_*`` settings made on the image itself."""
    return {entry['name']: entry['value']
            for entry in rbd_json('config', 'image', 'ls', spec(name))
            if entry['name'].startswith('rbd_qos_')
            and entry.get('source') == 'image'}


def config_get(name, key):
    return rbd('config', 'image', 'get', spec(name), key).strip()


def extents(name, snap=None):
    """Allocated extents of the image (or snapshot) as (offset, length)."""
    return sorted((e['offset'], e['length'])
                  for e in rbd_json('diff', spec(name, snap)) or []
                  if e.get('exists') in (True, 'true'))


def write(name, megabytes):
    """Write ``megabytes`` MiB of data into the image (rbd bench)."""
    rbd('bench', '--io-type', 'write', '--io-size', '4M', '--io-threads',
        '1', '--io-total', '%dM' % megabytes, spec(name))


def _qemu_spec(name):
    """The image as QEMU's rbd driver names it, opened as client.admin."""
    return 'rbd:%s:conf=%s:id=admin' % (spec(name), stack.CEPH_CONF)


def _qemu_image(name, tmp, passphrase=None):
    """QEMU arguments opening the image, raw or through LUKS.

    With ``passphrase``, QEMU's LUKS driver decrypts (as Nova has it do for
    encrypted volumes): offsets and data are the plaintext the guest sees.
    """
    if passphrase is None:
        return ['-f', 'raw', _qemu_spec(name)]
    secret = os.path.join(tmp, 'passphrase')
    with open(secret, 'w') as f:
        f.write(passphrase)
    return ['--object', 'secret,id=sec0,file=' + secret, '--image-opts',
            'driver=luks,key-secret=sec0,file.driver=rbd,file.pool=%s,'
            'file.image=%s,file.conf=%s,file.user=admin'
            % (stack.POOL, name, stack.CEPH_CONF)]


def write_at(name, offset, data, passphrase=None):
    """Write ``data`` at byte ``offset`` of the image (qemu-io over librbd).

    Works while a guest has the image attached: librbd hands the exclusive
    lock over and back.
    """
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'data')
        with open(src, 'wb') as f:
            f.write(data)
        image = _qemu_image(name, tmp, passphrase)
        _run(['qemu-io'] + image[:-1] + ['-c', 'write -s %s %d %d' % (
            src, offset, len(data)), image[-1]])


def read_at(name, offset, length, passphrase=None):
    """``length`` bytes at byte ``offset`` (multiples of 512)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'out')
        image = _qemu_image(name, tmp, passphrase)
        # The largest block (up to 4 MiB) that offset and length align to.
        block = 4 * 1024 * 1024
        while offset % block or length % block:
            block //= 2
        # qemu-img dd counts "count" from the start of the input, skipped
        # blocks included.
        _run(['qemu-img', 'dd'] + image[:-1] + [
            '-O', 'raw', 'bs=%d' % block, 'skip=%d' % (offset // block),
            'count=%d' % ((offset + length) // block),
            'if=' + image[-1], 'of=' + out])
        with open(out, 'rb') as f:
            data = f.read()
    if len(data) != length:
        raise RBDError('read %d bytes at %d of %s, not %d' % (
            len(data), offset, name, length))
    return data


def image_sha256(name, pool=None):
    """sha256 of the image's whole content (``rbd export`` to a pipe)."""
    cmd = ['rbd', '-c', stack.CEPH_CONF, '--id', 'admin', 'export',
           '--no-progress', '%s/%s' % (pool or stack.POOL, name), '-']
    digest = hashlib.sha256()
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        for chunk in iter(lambda: proc.stdout.read(1 << 22), b''):
            digest.update(chunk)
        err = proc.stderr.read().decode(errors='replace')
    if proc.returncode != 0:
        raise RBDError('%s: exit %s: %s' % (' '.join(cmd), proc.returncode,
                                            err.strip()))
    return digest.hexdigest()


def watchers(name):
    """The clients that have the image open (QEMU while attached)."""
    return rbd_json('status', spec(name)).get('watchers') or []


def create(name, size_mb):
    rbd('create', '--size', '%dM' % size_mb, spec(name))


def remove(name):
    """Remove an image and its user snapshots (protected too), if any."""
    if name not in images():
        return
    for snap in snaps(name, all_namespaces=False):
        if snap.get('protected') in ('true', True):
            rbd('snap', 'unprotect', spec(name, snap['name']))
    if snap_names(name):
        rbd('snap', 'purge', '--no-progress', spec(name))
    rbd('rm', '--no-progress', spec(name))


def leftovers(ids):
    """Everything in the pool that carries one of ``ids`` in its name.

    Images (``volume-<id>``, ``volume-<id>.deleted``, raw images named by
    a test) and trash entries; snapshots are on images, so an image named
    by none of ``ids`` holds none of ours (a clone's ``.clone_snap`` lives
    on its source volume, which is ours too). Each leftover image is shown
    with its snapshots, for the failure message.
    """
    def ours(name):
        return any(i in name for i in ids)

    found = []
    for name in images():
        if not ours(name):
            continue
        try:
            found.append('image %s, snapshots %s' % (name, [
                '%s (%s)' % (s['name'], s['namespace'])
                for s in snaps(name)]))
        except RBDError as error:
            if name in images():  # not just removed meanwhile
                found.append('image %s (%s)' % (name, error))
    found += ['trash entry %s (id %s)' % (e['name'], e['id'])
              for e in trash() if ours(e['name'])]
    return found
