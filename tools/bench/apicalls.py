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

"""The Cinder API calls apibench.py times, and its leak check.

Runs with the stack's clients venv (openstacksdk) against the cloud of
``$CINDER_EXT_STACK_DIR/clouds.yaml``. Every call is a plain REST request
on one keystoneauth session; a call counts from the request until Cinder
shows its result: the status the operation ends in, or 404 for deletes.
"""

import concurrent.futures
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid

import openstack

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STATE = os.environ.get('CINDER_EXT_STACK_DIR', '/var/tmp/cinder-ext-stack')
CEPH_CONF = os.path.join(os.environ.get('CINDER_EXT_CEPH_DIR',
                                        '/var/tmp/cinder-ext-ceph'),
                         'ceph.conf')
PREFIX = 'apibench-'
# Status poll period: the resolution of every figure (both drivers alike).
POLL_S = 0.02
TIMEOUT_S = 300
MICROVERSION = '3.40'  # revert to snapshot
CONNECTOR = {'initiator': 'iqn.2004-10.org.apibench:host', 'host': 'apibench',
             'ip': '127.0.0.1', 'platform': 'x86_64', 'os_type': 'linux2',
             'multipath': False, 'do_local_attach': False}
# In lifecycle order.
OPS = ('create_volume', 'create_snapshot', 'revert_to_snapshot',
       'create_volume_from_snapshot', 'create_cloned_volume',
       'extend_volume', 'initialize_connection', 'terminate_connection',
       'delete_volume (from snapshot)', 'delete_snapshot',
       'delete_volume (clone)', 'delete_volume (clone source)')
BURST_OPS = ('create_volume burst', 'delete_volume burst')
QUOTAS = ('volumes', 'snapshots', 'gigabytes')


def log(message, *args):
    sys.stderr.write('[apibench %s] %s\n' % (time.strftime('%H:%M:%S'),
                                             message % args))
    sys.stderr.flush()


def median(values):
    return statistics.median(values) if values else None


def side_by_side(samples, ops):
    """(op, in-tree median, ours median, ratio, n) for each op both ran."""
    rows = []
    for op in ops:
        per = samples.get(op, {})
        theirs = median(per.get('in-tree'))
        ours = median(per.get('ours'))
        if theirs is not None and ours is not None:
            rows.append((op, theirs, ours, ours / theirs, len(per['ours'])))
    return rows


def machine_line():
    return '%s, %d CPUs, %s' % (platform.node(), os.cpu_count(),
                                time.strftime('%Y-%m-%d %H:%M UTC',
                                              time.gmtime()))


def stack_up(flags):
    """tools/stack/stack-up.sh FLAGS, or exit with the end of its output."""
    log('stack-up.sh %s', ' '.join(flags))
    out = subprocess.run(
        ['bash', os.path.join(REPO, 'tools', 'stack', 'stack-up.sh')] +
        flags, capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
        raise SystemExit('stack-up.sh %s failed' % ' '.join(flags))


class CallFailed(Exception):
    pass


class Cloud(object):
    """One authenticated session on the block-storage endpoint."""

    def __init__(self):
        os.environ.setdefault('OS_CLIENT_CONFIG_FILE',
                              os.path.join(STATE, 'clouds.yaml'))
        self.api = openstack.connect(cloud='cinder-ext').block_storage
        self.owner = {}  # volume id -> the driver that made it

    def unlimited_quota(self):
        """Lift the project's volume quotas; returns the old ones."""
        path = '/os-quota-sets/%s' % self.api.get_project_id()
        old = self.request('GET', path)['quota_set']
        limits = {key: old[key] for key in QUOTAS}
        self.set_quota(dict.fromkeys(QUOTAS, -1))
        return limits

    def set_quota(self, limits):
        self.request('PUT', '/os-quota-sets/%s' % self.api.get_project_id(),
                     {'quota_set': limits})

    def request(self, method, path, body=None):
        response = self.api.request(path, method, json=body,
                                    microversion=MICROVERSION,
                                    raise_exc=False)
        if response.status_code >= 400:
            raise CallFailed('%s %s: %d %s' % (method, path,
                                               response.status_code,
                                               response.text[:300]))
        return response.json() if response.content else {}

    def status(self, kind, ident):
        """Status of a volume or snapshot; None once it is gone."""
        response = self.api.request('/%s/%s' % (kind, ident), 'GET',
                                    microversion=MICROVERSION,
                                    raise_exc=False)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise CallFailed('GET %s/%s: %d' % (kind, ident,
                                                response.status_code))
        return response.json()[kind[:-1]]['status']

    def wait(self, kind, ident, until):
        """Poll until the status is ``until`` (None: deleted)."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            status = self.status(kind, ident)
            if status == until:
                return
            if status is not None and status.startswith('error'):
                raise CallFailed('%s %s went to %s' % (kind, ident, status))
            if time.monotonic() > deadline:
                raise CallFailed('%s %s still %s after %d s' % (
                    kind, ident, status, TIMEOUT_S))
            time.sleep(POLL_S)

    def create_volume(self, impl, vtype, **attrs):
        body = {'volume': dict(attrs, volume_type=vtype, size=1,
                               name=PREFIX + uuid.uuid4().hex[:8])}
        ident = self.request('POST', '/volumes', body)['volume']['id']
        self.owner[ident] = impl
        return ident

    def action(self, volume_id, name, args):
        return self.request('POST', '/volumes/%s/action' % volume_id,
                            {name: args})


def _timed(samples, impl, op, func, *args, **kwargs):
    started = time.monotonic()
    result = func(*args, **kwargs)
    elapsed = (time.monotonic() - started) * 1000.0
    samples.setdefault(op, {}).setdefault(impl, []).append(elapsed)
    return result


def lifecycle(cloud, impl, vtype, samples, errors):
    """One volume's lifecycle, each step timed; cleans up after failure."""
    made = []  # (kind, id), deleted in reverse on failure

    def new_volume(**attrs):
        ident = cloud.create_volume(impl, vtype, **attrs)
        made.append(('volumes', ident))
        cloud.wait('volumes', ident, 'available')
        return ident

    def snapshot(volume_id):
        ident = cloud.request('POST', '/snapshots', {'snapshot': {
            'volume_id': volume_id, 'name': PREFIX + 'snap'}})[
                'snapshot']['id']
        made.append(('snapshots', ident))
        cloud.wait('snapshots', ident, 'available')
        return ident

    def in_action(volume_id, name, args, until='available'):
        cloud.action(volume_id, name, args)
        if until:
            cloud.wait('volumes', volume_id, until)

    def delete(kind, ident):
        made.remove((kind, ident))
        cloud.request('DELETE', '/%s/%s' % (kind, ident))
        cloud.wait(kind, ident, None)

    step = 'create_volume'
    try:
        vol = _timed(samples, impl, step, new_volume)
        step = 'create_snapshot'
        snap = _timed(samples, impl, step, snapshot, vol)
        step = 'revert_to_snapshot'
        _timed(samples, impl, step, in_action, vol, 'revert',
               {'snapshot_id': snap})
        step = 'create_volume_from_snapshot'
        child = _timed(samples, impl, step, new_volume, snapshot_id=snap)
        step = 'create_cloned_volume'
        clone = _timed(samples, impl, step, new_volume, source_volid=vol)
        for step, func, args in (
                ('extend_volume', in_action,
                 (vol, 'os-extend', {'new_size': 2})),
                ('initialize_connection', in_action,
                 (vol, 'os-initialize_connection',
                  {'connector': CONNECTOR}, None)),
                ('terminate_connection', in_action,
                 (vol, 'os-terminate_connection',
                  {'connector': CONNECTOR}, None)),
                ('delete_volume (from snapshot)', delete, ('volumes', child)),
                ('delete_snapshot', delete, ('snapshots', snap)),
                ('delete_volume (clone)', delete, ('volumes', clone)),
                ('delete_volume (clone source)', delete, ('volumes', vol))):
            _timed(samples, impl, step, func, *args)
    except Exception as error:
        errors.append('%s %s: %s' % (impl, step, error))
        log('%s %s failed: %s', impl, step, error)
        _cleanup(cloud, made)


def _cleanup(cloud, made):
    for kind, ident in reversed(made):
        try:
            cloud.request('DELETE', '/%s/%s' % (kind, ident))
            cloud.wait(kind, ident, None)
        except Exception as error:
            log('cleanup of %s %s failed: %s', kind, ident, error)


def _all(pool, func, items):
    return list(pool.map(func, items))


def burst(cloud, impl, vtype, width, samples, errors):
    """``width`` creates at once until all are available, then deletes."""
    with concurrent.futures.ThreadPoolExecutor(width) as pool:
        made = []

        def create(_):
            ident = cloud.create_volume(impl, vtype)
            made.append(('volumes', ident))
            cloud.wait('volumes', ident, 'available')

        def delete(ident):
            cloud.request('DELETE', '/volumes/%s' % ident)
            cloud.wait('volumes', ident, None)

        try:
            _timed(samples, impl, BURST_OPS[0], _all, pool, create,
                   range(width))
            idents = [ident for _, ident in made]
            made.clear()
            _timed(samples, impl, BURST_OPS[1], _all, pool, delete, idents)
        except Exception as error:
            errors.append('%s burst: %s' % (impl, error))
            log('%s burst failed: %s', impl, error)
            _cleanup(cloud, made)


def _made_by(cloud, name):
    """Which driver made the volume behind an image or trash name."""
    for ident, impl in cloud.owner.items():
        if ident in name:
            return impl
    return 'not this run'


def _pool_names():
    """Image names and trash entries (id name) of pool ``volumes``."""
    rbd = ['rbd', '-c', CEPH_CONF, '--id', 'cinder']
    images = subprocess.run(rbd + ['ls', 'volumes'], capture_output=True,
                            text=True, check=True).stdout.split()
    trash = subprocess.run(rbd + ['trash', 'ls', 'volumes'],
                           capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return images, trash


def round_leaks(cloud, idents):
    """Per driver: images and trash entries named after ``idents``."""
    images, trash = _pool_names()
    found = {}
    for name in images + trash:
        for ident in idents:
            if ident in name:
                found.setdefault(cloud.owner[ident], []).append(name)
    return found


def leftovers(cloud):
    """What the run left at its end.

    Its volumes and snapshots in Cinder, and images and trash entries in
    the pool that belong to no Cinder volume, each with the driver that
    made it.
    """
    left = []
    for kind in ('volumes', 'snapshots'):
        for item in cloud.request('GET', '/%s?all_tenants=1' % kind)[kind]:
            if (item.get('name') or '').startswith(PREFIX):
                left.append('%s %s' % (kind[:-1], item['id']))
    known = {'volume-' + v['id'] for v in cloud.request(
        'GET', '/volumes?all_tenants=1')['volumes']}
    images, trash = _pool_names()
    stray = (['image %s' % name for name in images if name not in known] +
             ['trash %s' % line for line in trash])
    return left + ['%s (%s)' % (item, _made_by(cloud, item))
                   for item in stray]
