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

"""The stack under test: where it lives, and bringing it up on demand.

``ensure()`` runs ``tools/stack/stack-up.sh`` with the driver and mode of
this run unless a stamp proves that the running services were already
checked by an earlier call with the same flags and the same driver code
(or unless run-e2e.sh did it and holds the stack's lock).
The stamp holds every service's pid and start time, so a restart, a
``stack-down.sh`` or a ``stack-up.sh`` with other flags by anyone else
invalidates it. Test processes of one run share it under a file lock, so
stack-up.sh runs once per run, not once per worker.
"""

import fcntl
import hashlib
import json
import os
import subprocess
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
STATE = os.environ.get('CINDER_EXT_STACK_DIR',
                       '/var/tmp/cinder-ext-stack').rstrip('/')
CEPH_DIR = os.environ.get('CINDER_EXT_CEPH_DIR', '/var/tmp/cinder-ext-ceph')
CEPH_CONF = os.path.join(CEPH_DIR, 'ceph.conf')
POOL = 'volumes'
CLOUD = 'cinder-ext'
CLOUDS_YAML = os.path.join(STATE, 'clouds.yaml')
VOLUME_LOG = os.path.join(STATE, 'logs', 'cinder-volume.log')
E2E_DIR = os.path.join(STATE, 'e2e')

BACKENDS = {'cinder-ext': 'ceph-ext', 'intree': 'ceph-intree'}
DRIVER = os.environ.get('CINDER_EXT_E2E_DRIVER') or 'cinder-ext'
if DRIVER not in BACKENDS:
    raise ValueError('CINDER_EXT_E2E_DRIVER must be one of %s, not %r'
                     % (', '.join(sorted(BACKENDS)), DRIVER))
THREADS = os.environ.get('CINDER_EXT_E2E_THREADS', '').lower() in (
    '1', 'true', 'yes')
BACKEND = BACKENDS[DRIVER]
# The volume service host, and the pool the scheduler places volumes in.
SERVICE_HOST = 'cinder-ext@' + BACKEND
POOL_HOST = SERVICE_HOST + '#' + BACKEND

# Set by run-e2e.sh, which brings the stack up and holds its lock
# ($STATE.lock) for the whole run: a stack-up.sh from here would only wait
# for that lock until it times out.
LOCKED = os.environ.get('CINDER_EXT_E2E_STACK_LOCKED') == '1'

# The suite runs on the full cloud (stack-up.sh --full): attach tests need
# Nova and a guest, image tests Glance, backup tests cinder-backup.
SERVICES = ('mariadb', 'rabbitmq', 'keystone', 'cinder-api',
            'cinder-scheduler', 'cinder-volume', 'cinder-backup',
            'glance-api', 'placement-api', 'network-stub', 'libvirtd',
            'nova-api', 'nova-conductor', 'nova-scheduler', 'nova-compute')
STACK_UP_TIMEOUT = 900

_stamp = None  # the stack this process checked
_stamp_lock = threading.Lock()


def stack_up_args():
    args = ['--full', '--driver', DRIVER]
    if THREADS:
        args.append('--threads')
    return args


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _start_time(pid):
    """Field 22 of /proc/PID/stat (as stack-up.sh records it), or None."""
    stat = _read('/proc/%s/stat' % pid)
    if not stat:
        return None
    return stat.rsplit(')', 1)[1].split()[19]


def _driver_code_hash():
    """The driver's code without its tests.

    stack-up.sh restarts cinder-volume when it changes.
    """
    digest = hashlib.sha1()
    root = os.path.join(REPO, 'cinder_ext')
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != 'tests')
        for name in sorted(files):
            if name.endswith('.py'):
                with open(os.path.join(top, name), 'rb') as f:
                    digest.update(f.read())
    return digest.hexdigest()


def current_stamp():
    """What identifies the running stack; None if a service is down."""
    services = {}
    for name in SERVICES:
        pid = _read(os.path.join(STATE, 'run', name + '.pid'))
        start = _read(os.path.join(STATE, 'run', name + '.start'))
        if not pid or not start or _start_time(pid) != start:
            return None
        services[name] = '%s:%s' % (pid, start)
    return {'driver': DRIVER, 'threads': THREADS, 'services': services,
            'code': _driver_code_hash(),
            'backend': _read(os.path.join(STATE, 'cinder', 'backend'))}


def _dump(stamp):
    return json.dumps(stamp, sort_keys=True)


def _stack_up():
    log = os.path.join(E2E_DIR, 'stack-up.log')
    cmd = ['bash', os.path.join(REPO, 'tools', 'stack', 'stack-up.sh')]
    cmd += stack_up_args()
    with open(log, 'w') as out:
        status = subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT,
                                 timeout=STACK_UP_TIMEOUT)
    if status != 0:
        with open(log) as f:
            tail = ''.join(f.readlines()[-60:])
        raise RuntimeError('%s failed (exit %s); last lines of %s:\n%s'
                           % (' '.join(cmd), status, log, tail))


def _check_locked():
    """run-e2e.sh brought the stack up and holds its lock: only check it."""
    stamp = current_stamp()
    if stamp is None or stamp['backend'] != BACKEND:
        raise RuntimeError(
            'CINDER_EXT_E2E_STACK_LOCKED is set (run-e2e.sh holds %s.lock) '
            'but the stack is not up on backend %s: %s' % (
                STATE, BACKEND, 'backend %s' % stamp['backend'] if stamp
                else 'a service is not running'))
    return stamp


def _bring_up():
    """Run stack-up.sh unless the shared stamp says it is not needed."""
    os.makedirs(E2E_DIR, exist_ok=True)
    if LOCKED:
        return _check_locked()
    stamp_path = os.path.join(E2E_DIR, 'stack.stamp')
    with open(os.path.join(E2E_DIR, 'stack.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = current_stamp()
        if stamp is None or _read(stamp_path) != _dump(stamp):
            _stack_up()
            stamp = current_stamp()
            if stamp is None:
                raise RuntimeError('stack-up.sh succeeded but a service of '
                                   '%s is not running' % STATE)
            with open(stamp_path, 'w') as f:
                f.write(_dump(stamp))
    return stamp


def changes():
    """How the stack differs from the one checked at the start ('' if not).

    The stack is shared: another stack-up.sh (another driver or mode) or a
    stack-down.sh during the run would make the tests fail in confusing
    ways, so the tests say so instead. An edit of cinder_ext/ alone does
    not count: the running cinder-volume keeps the code it started with.
    """
    if _stamp is None:
        return ''
    now = current_stamp()
    if now == _stamp:
        return ''
    if now is None:
        found = ['a service is not running any more']
    else:
        found = ['%s restarted' % name for name in SERVICES
                 if now['services'][name] != _stamp['services'][name]]
        if now['backend'] != _stamp['backend']:
            found.insert(0, 'backend %s -> %s' % (_stamp['backend'],
                                                  now['backend']))
    if not found:  # only the code: the running services are the same
        return ''
    return ('the stack in %s changed during this run (%s): another '
            'stack-up.sh or stack-down.sh?' % (STATE, ', '.join(found)))


def ensure():
    """Bring the stack up with this run's flags, once per process.

    Later calls fail fast when the stack changed since.
    """
    global _stamp
    with _stamp_lock:
        if _stamp is None:
            _stamp = _bring_up()
            return
        changed = changes()
        if changed:
            raise RuntimeError(changed)
