#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Side-by-side cloud benchmark: attach, images and backups, both drivers.

What Nova, Glance and cinder-backup ask of a volume driver, timed through
the APIs of one full stack serving both drivers at once (``stack-up.sh
--full --driver both``: backends ``ceph-ext`` and ``ceph-intree`` on pool
``volumes``, a volume type each), alternating which driver goes first in
each round. Per driver and round:

- attach a new 1 GiB volume to the stack's ``smoke`` server (request until
  the volume is ``in-use``) and detach it (until ``available``);
- a volume from a raw 1 GiB and a raw 10 GiB image of Glance's RBD store
  (both drivers clone these copy-on-write) and from a qcow2 1 GiB image,
  until ``available``: first with the image-volume cache empty (downloaded
  and converted, then the cache entry cloned from the new volume), then
  again (a clone of the cache entry); the entry is evicted after the round;
- a full backup of a 1 GiB volume holding 1 GiB of data (Ceph backup
  driver, until the backup is ``available``), and its restore onto a new
  volume of the same driver (until that volume is ``available``); the
  first round checks that the restore is byte-identical;
- an upload of that volume to a raw image (until the volume is
  ``available`` again and the image ``active``): streamed through Glance
  by the in-tree driver, copied inside Ceph into Glance's pool by ours
  (the full stack sets ``rbd_glance_store_pool``); the first round checks
  that the image is byte-identical;
- with a LUKS volume type per driver (``<type>-luks``, AES-256-XTS, keys
  in Barbican): an empty encrypted 1 GiB volume (until ``available``),
  its attach and detach, and an encrypted volume from the raw 1 GiB image
  (downloaded and encrypted by both drivers; never cloned).

Usage (``tox -e cloudbench``, with the stack's clients venv)::

    cloudbench.py [--rounds N] [--threads] [--no-stack] [--out-dir DIR]

Writes ``cloud.txt`` (the table) and ``cloud.json`` (the samples, for
``tools/bench/plots.py``) into ``--out-dir``; with ``--threads``
(cinder-volume in native-thread mode; on Cinder 29 the in-tree backend
hangs there on image transfers, see the performance page)
``cloud-threads.*``. The benchmark
images are kept in Glance (``cloudbench-*``) for the next run.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import openstack

import apicalls

DRIVERS = (('in-tree', 'ceph-intree'), ('ours', 'ceph-ext'))
SERVER = 'smoke'
MiB = 1024 * 1024
GiB = 1024 * MiB
# name: (disk format, virtual size in GiB, MiB of data at its start)
IMAGES = {
    'cloudbench-raw-1g': ('raw', 1, 1024),
    'cloudbench-raw-10g': ('raw', 10, 1024),
    # Its file must stay under the volume size (Cinder checks it).
    'cloudbench-qcow2-1g': ('qcow2', 1, 768),
}
OPS = (('attach', None), ('detach', None),
       ('image to volume, raw 1 GiB', 'cloudbench-raw-1g'),
       ('image to volume, raw 10 GiB', 'cloudbench-raw-10g'),
       ('image to volume, qcow2 1 GiB, cache miss', 'cloudbench-qcow2-1g'),
       ('image to volume, qcow2 1 GiB, cache hit', 'cloudbench-qcow2-1g'),
       ('backup, 1 GiB of data', None), ('restore, 1 GiB', None),
       ('volume to image, 1 GiB of data', None),
       ('create encrypted 1 GiB', None), ('attach encrypted', None),
       ('detach encrypted', None),
       ('encrypted volume from raw 1 GiB image', None))
# Encryption spec of the benchmark's LUKS types (the in-tree default).
LUKS = {'provider': 'luks', 'cipher': 'aes-xts-plain64', 'key_size': 256,
        'control_location': 'front-end'}
NOISE = 1.05
# Ours releases clone parents in the background after a delete returns.
SETTLE_S = 30


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', action='store_true',
                        help='cinder-volume in native-thread mode')
    parser.add_argument('--no-stack', action='store_true',
                        help='use the stack as it is (--full --driver both)')
    parser.add_argument('--out-dir', default=os.path.join(
        apicalls.REPO, 'doc', 'source', 'benchmarks'))
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')
    return args


def _rbd(*args, **kwargs):
    return subprocess.run(['rbd', '-c', apicalls.CEPH_CONF, '--id', 'admin']
                          + list(args), check=True, capture_output=True,
                          **kwargs)


def pool_sha256(volume_id, spec='volumes/volume-%s'):
    """sha256 of the volume's image (or SPEC's), read with ``rbd export``."""
    digest = hashlib.sha256()
    with subprocess.Popen(['rbd', '-c', apicalls.CEPH_CONF, '--id', 'admin',
                           'export', '--no-progress', spec % volume_id, '-'],
                          stdout=subprocess.PIPE) as proc:
        for chunk in iter(lambda: proc.stdout.read(4 * MiB), b''):
            digest.update(chunk)
    if proc.returncode:
        raise apicalls.CallFailed('rbd export of %s failed' % volume_id)
    return digest.hexdigest()


def _write_image_file(path, fmt, size_gb, data_mib):
    """A sparse file of SIZE_GB, DATA_MIB of random data at its start."""
    raw = path + '.raw' if fmt != 'raw' else path
    with open(raw, 'wb') as out:
        for _ in range(data_mib):
            out.write(os.urandom(MiB))
        out.truncate(size_gb * GiB)
    if fmt != 'raw':
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', fmt, raw,
                        path], check=True)
        os.unlink(raw)


def ensure_images(conn):
    """{name: image id} of the benchmark images, uploaded once."""
    found = {}
    for name, (fmt, size_gb, data_mib) in IMAGES.items():
        image = conn.image.find_image(name)
        if image is None or image.status != 'active':
            if image is not None:
                conn.image.delete_image(image)
            apicalls.log('uploading %s (%s, %d GiB)', name, fmt, size_gb)
            with tempfile.TemporaryDirectory(dir='/var/tmp') as tmp:
                path = os.path.join(tmp, name)
                _write_image_file(path, fmt, size_gb, data_mib)
                image = conn.image.create_image(
                    name=name, filename=path, disk_format=fmt,
                    container_format='bare', wait=True, timeout=1800)
        found[name] = image.id
    return found


def luks_type(vtype):
    return vtype + '-luks'


def ensure_luks_types(conn):
    """Each driver's LUKS volume type (kept for the next run)."""
    for _impl, vtype in DRIVERS:
        name = luks_type(vtype)
        found = conn.block_storage.find_type(name)
        if found is None:
            found = conn.block_storage.create_type(
                name=name, extra_specs={'volume_backend_name': vtype})
        try:
            spec = conn.block_storage.get_type_encryption(found)
        except openstack.exceptions.NotFoundException:
            spec = None  # Cinder answers {} or 404 for "none"
        if not getattr(spec, 'provider', None):
            conn.block_storage.create_type_encryption(found, **LUKS)


class Round(object):
    """One driver's share of one round; everything it made goes at the end."""

    def __init__(self, cloud, conn, impl, vtype, samples):
        self.cloud, self.conn = cloud, conn
        self.impl, self.vtype, self.samples = impl, vtype, samples
        self.volumes, self.backups, self.images = [], [], []

    def timed(self, op, func, *args):
        return apicalls._timed(self.samples, self.impl, op, func, *args)

    def new_volume(self, vtype=None):
        """A new empty 1 GiB volume of this driver."""
        ident = self.cloud.create_volume(self.impl, vtype or self.vtype)
        self.volumes.append(ident)
        self.cloud.wait('volumes', ident, 'available')
        return ident

    def volume_from_image(self, image_id, size, vtype=None):
        body = {'volume': {'volume_type': vtype or self.vtype, 'size': size,
                           'imageRef': image_id,
                           'name': apicalls.PREFIX + 'image'}}
        ident = self.cloud.request('POST', '/volumes', body)['volume']['id']
        self.cloud.owner[ident] = self.impl
        self.volumes.append(ident)
        self.cloud.wait('volumes', ident, 'available')

    def evict(self, image_id):
        """Delete the image's cache entries (volumes ``image-<id>``)."""
        entries = self.cloud.request(
            'GET', '/volumes?all_tenants=1&name=image-%s' % image_id)
        for entry in entries['volumes']:
            self.cloud.request('DELETE', '/volumes/%s' % entry['id'])
            self.cloud.wait('volumes', entry['id'], None)

    def attach_detach(self, server, vol=None, suffix=''):
        vol = vol or self.new_volume()

        def attach():
            self.conn.compute.create_volume_attachment(server, volume=vol)
            self.cloud.wait('volumes', vol, 'in-use')

        def detach():
            self.conn.compute.delete_volume_attachment(server, vol)
            self.cloud.wait('volumes', vol, 'available')

        self.timed('attach' + suffix, attach)
        self.timed('detach' + suffix, detach)

    def encrypted(self, server, raw_image):
        luks = luks_type(self.vtype)
        vol = self.timed('create encrypted 1 GiB', self.new_volume, luks)
        self.attach_detach(server, vol, ' encrypted')
        self.timed('encrypted volume from raw 1 GiB image',
                   self.volume_from_image, raw_image, 1, luks)

    def backup_restore(self, verify):
        vol = self.new_volume()
        _rbd('bench', '--io-type', 'write', '--io-size', '4M',
             '--io-threads', '4', '--io-total', '1G', '--io-pattern', 'seq',
             'volumes/volume-%s' % vol)
        target = self.new_volume()

        def backup():
            ident = self.cloud.request('POST', '/backups', {'backup': {
                'volume_id': vol, 'name': apicalls.PREFIX + 'backup'}})[
                    'backup']['id']
            self.backups.append(ident)
            self.cloud.wait('backups', ident, 'available')
            return ident

        def restore(ident):
            self.cloud.request('POST', '/backups/%s/restore' % ident,
                               {'restore': {'volume_id': target}})
            self.cloud.wait('volumes', target, 'available')
            self.cloud.wait('backups', ident, 'available')

        ident = self.timed('backup, 1 GiB of data', backup)
        self.timed('restore, 1 GiB', restore, ident)
        if verify and pool_sha256(vol) != pool_sha256(target):
            raise apicalls.CallFailed('%s: the restore differs from the '
                                      'volume' % self.impl)
        image_id = self.timed('volume to image, 1 GiB of data', self.upload,
                              vol)
        if verify and pool_sha256(vol) != pool_sha256(image_id, 'images/%s'):
            raise apicalls.CallFailed('%s: the image differs from the '
                                      'volume' % self.impl)

    def upload(self, vol):
        image_id = self.cloud.request(
            'POST', '/volumes/%s/action' % vol, {'os-volume_upload_image': {
                'image_name': apicalls.PREFIX + 'upload',
                'disk_format': 'raw', 'container_format': 'bare'}})[
                    'os-volume_upload_image']['image_id']
        self.images.append(image_id)
        self.cloud.wait('volumes', vol, 'available')
        status = self.conn.image.get_image(image_id).status
        if status != 'active':
            raise apicalls.CallFailed('image %s is %s after the upload' %
                                      (image_id, status))
        return image_id

    def cleanup(self):
        for image_id in self.images:
            self.conn.image.delete_image(image_id, ignore_missing=True)
        for kind, idents in (('backups', self.backups),
                             ('volumes', self.volumes)):
            for ident in reversed(idents):
                try:
                    self.cloud.request('DELETE', '/%s/%s' % (kind, ident))
                    self.cloud.wait(kind, ident, None)
                except Exception as error:
                    apicalls.log('cleanup of %s %s failed: %s', kind, ident,
                                 error)


def run(cloud, conn, images, rounds):
    server = conn.compute.find_server(SERVER, ignore_missing=False)
    samples, errors = {}, []
    for number in range(rounds):
        order = DRIVERS if number % 2 else DRIVERS[::-1]
        for impl, vtype in order:
            one = Round(cloud, conn, impl, vtype, samples)
            try:
                one.attach_detach(server)
                qcow2 = images['cloudbench-qcow2-1g']
                one.evict(qcow2)
                for op, name in OPS:
                    if name:
                        one.timed(op, one.volume_from_image, images[name],
                                  IMAGES[name][1])
                one.evict(qcow2)
                one.backup_restore(verify=number == 0)
                one.encrypted(server, images['cloudbench-raw-1g'])
            except Exception as error:
                errors.append('%s round %d: %s' % (impl, number + 1, error))
                apicalls.log('%s failed: %s', impl, error)
            finally:
                one.cleanup()
        apicalls.log('round %d/%d done', number + 1, rounds)
    return samples, errors


def settled_leftovers(cloud):
    """What is still left once background work had SETTLE_S to finish."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        left = apicalls.leftovers(cloud)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(2)


def render(samples, errors, rounds, mode, leftovers):
    lines = ['Cloud benchmark, %d rounds, cinder-volume %s (median ms; '
             'ratio = ours / in-tree)' % (rounds, mode),
             apicalls.machine_line(), '',
             '  %-40s %10s %10s %8s' % ('operation', 'in-tree', 'ours',
                                        'ratio')]
    for op, theirs, ours, ratio, _n in apicalls.side_by_side(
            samples, [op for op, _image in OPS]):
        lines.append('  %-40s %10.0f %10.0f %7.2fx%s' % (
            op, theirs, ours, ratio, ' ' if ratio <= NOISE else '!'))
    lines += ['', '  failed: %d%s' % (len(errors), ''.join(
        '\n    ' + e for e in errors))]
    lines.append('  left at the end: %s' % (', '.join(leftovers) or
                                            'nothing'))
    return lines


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.no_stack:
        apicalls.stack_up(['--full', '--driver', 'both'] +
                          (['--threads'] if args.threads else []))
    cloud = apicalls.Cloud()
    conn = openstack.connect(cloud='cinder-ext')
    images = ensure_images(conn)
    ensure_luks_types(conn)
    quota = cloud.unlimited_quota()
    try:
        samples, errors = run(cloud, conn, images, args.rounds)
        leftovers = settled_leftovers(cloud)
    finally:
        cloud.set_quota(quota)
    mode = 'native threads' if args.threads else 'eventlet'
    lines = render(samples, errors, args.rounds, mode, leftovers)
    print('\n'.join(lines), flush=True)
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir,
                        'cloud-threads' if args.threads else 'cloud')
    with open(base + '.txt', 'w') as out:
        out.write('\n'.join(lines) + '\n')
    with open(base + '.json', 'w') as out:
        json.dump({'title': 'Nova, Glance and backups through the APIs',
                   'subtitle': '%d rounds, cinder-volume %s, %s' % (
                       args.rounds, mode, apicalls.machine_line()),
                   'ops': samples}, out, indent=1, sort_keys=True)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
