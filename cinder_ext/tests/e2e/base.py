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

"""Shared fixtures of the end-to-end tests: the cloud, waits, leak checks.

Every volume, snapshot, type and QoS spec a test makes is deleted by a
cleanup registered when it is made, and the last cleanup checks that
nothing of the test is left: neither in the API nor in the pool (images,
``.deleted`` images, snapshots, trash entries carrying one of the test's
UUIDs). Waits are bounded; a timeout names the object, its last status and
the end of cinder-volume's log. The tests work in a project of their own
(PROJECT), whose volume quota is unlimited.
"""

import fcntl
import os
import time
import uuid

from openstack import config as os_config
from openstack import connection
from openstack import exceptions
import testtools

from cinder_ext.tests.e2e import ceph
from cinder_ext.tests.e2e import stack

TIMEOUT = 120
# Both drivers finish some deletes in a periodic trash purge
# (deferred_deletion_purge_interval, 60 s by default).
PURGE_TIMEOUT = 150
# revert needs 3.40, manageable listings 3.8, encryption_key_id 3.64
MICROVERSION = '3.64'
DELETABLE = ('available', 'error', 'error_restoring', 'error_extending',
             'error_managing')
SETTLED = DELETABLE + ('in-use', 'error_deleting')
LOG_LINES = 25
PROJECT = 'cinder-ext-e2e'

_conn = None


def exclusive(*drivers):
    """Run the test alone (no other test of this run meanwhile) on drivers.

    For what a test running at the same time would break (in-tree's crash
    on a bad QoS value loses its requests) or be broken by (in-tree's
    manageable listing fails when an image is deleted during it).
    """
    def decorator(func):
        func.exclusive_on = drivers
        return func
    return decorator


def _connect(**overrides):
    region = os_config.OpenStackConfig(
        config_files=[stack.CLOUDS_YAML]).get_one(
            cloud=stack.CLOUD, block_storage_api_version=MICROVERSION,
            **overrides)
    return connection.Connection(config=region)


def _ensure_project(admin):
    """The suite's project: user admin with role admin, no volume quota."""
    ident = admin.identity
    domain = ident.find_domain('default', ignore_missing=False)
    project = ident.find_project(PROJECT, domain_id=domain.id)
    if project is None:
        project = ident.create_project(
            name=PROJECT, domain_id=domain.id,
            description='cinder-ext end-to-end tests (cinder_ext/tests/e2e)')
    user = ident.find_user('admin', domain_id=domain.id, ignore_missing=False)
    role = ident.find_role('admin', ignore_missing=False)
    if not ident.validate_user_has_project_role(project, user, role):
        ident.assign_project_role_to_user(project, user, role)
    admin.block_storage.update_quota_set(project, volumes=-1, snapshots=-1,
                                         gigabytes=-1)


def cloud():
    """One connection per test process, to the stack's cloud only.

    clouds.yaml is named explicitly, so a caller's OS_* environment or
    OS_CLIENT_CONFIG_FILE cannot point the suite at another cloud. The
    suite works in a project of its own: the quota and the volume list of
    project admin are shared with whoever else uses the stack.
    """
    global _conn
    if _conn is None:
        with open(os.path.join(stack.E2E_DIR, 'project.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _ensure_project(_connect())
        _conn = _connect(project_name=PROJECT)
    return _conn


def log_tail(*ids):
    """cinder-volume's last lines, and its last lines naming ``ids``."""
    try:
        with open(stack.VOLUME_LOG, errors='replace') as f:
            lines = f.readlines()[-4000:]
    except OSError as error:
        return '(no cinder-volume log: %s)' % error
    named = [line for line in lines if any(i in line for i in ids if i)]
    out = ''
    if named:
        out += '--- %s lines naming %s:\n%s' % (
            stack.VOLUME_LOG, ', '.join(ids), ''.join(named[-LOG_LINES:]))
    return out + '--- last lines of %s:\n%s' % (
        stack.VOLUME_LOG, ''.join(lines[-LOG_LINES:]))


def stack_changes():
    changed = stack.changes()
    return changed + '\n' if changed else ''


def describe(obj):
    """The fields of an API object that matter in a failure message."""
    if obj is None:
        return 'gone (404)'
    keys = ('status', 'size', 'volume_type', 'host', 'migration_status')
    return ', '.join('%s=%s' % (k, getattr(obj, k)) for k in keys
                     if getattr(obj, k, None) is not None)


class E2ETestCase(testtools.TestCase):
    """A running stack, the API, factories that clean up after themselves."""

    def setUp(self):
        super(E2ETestCase, self).setUp()
        stack.ensure()
        self._take_test_lock()
        self.bs = cloud().block_storage
        self.ids = []  # UUIDs whose traces must be gone at the end
        self.api_objects = []  # (kind, getter, id) for the API leak check
        self.addCleanup(self.assert_no_leaks)

    def _take_test_lock(self):
        """Shared by all tests of the run, exclusive for @exclusive ones.

        Held until the test's last cleanup: this cleanup is registered first.
        """
        method = getattr(self, self._testMethodName)
        alone = stack.DRIVER in getattr(method, 'exclusive_on', ())
        lock = open(os.path.join(stack.E2E_DIR, 'tests.lock'), 'w')
        self.addCleanup(lock.close)
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)

    def name(self, kind):
        return 'e2e-%s-%s' % (kind, uuid.uuid4().hex[:8])

    def new_id(self):
        new = str(uuid.uuid4())
        self.ids.append(new)
        return new

    # -- waiting -------------------------------------------------------

    def _wait(self, what, fetch, done, failed=(), ids=(), timeout=TIMEOUT):
        """Poll ``fetch()`` until ``done(obj)``; fail fast on ``failed``.

        Returns the last object; ``fetch`` may return None for "gone".
        """
        deadline = time.monotonic() + timeout
        obj = None
        while True:
            obj = fetch()
            status = getattr(obj, 'status', None) if obj else 'gone'
            if done(obj):
                return obj
            if status in failed or time.monotonic() > deadline:
                why = ('went to %s' % status if status in failed else
                       'still %s after %ss' % (status, timeout))
                self.fail('%s %s; last seen: %s\n%s%s'
                          % (what, why, describe(obj), stack_changes(),
                             log_tail(*ids)))
            time.sleep(1)

    def _get_or_none(self, getter, obj_id):
        try:
            return getter(obj_id)
        except exceptions.NotFoundException:
            return None

    def wait_volume(self, vol_id, status='available', timeout=TIMEOUT,
                    **fields):
        """Wait for ``status`` and the given field values (size=2...)."""
        failed = tuple(s for s in ('error', 'error_extending',
                                   'error_restoring', 'error_managing')
                       if s != status)

        def done(vol):
            return vol is not None and vol.status == status and all(
                getattr(vol, k) == v for k, v in fields.items())
        what = 'volume %s' % vol_id
        if fields:
            what += ' (waiting for %s)' % fields
        return self._wait(
            what, lambda: self._get_or_none(self.bs.get_volume, vol_id),
            done, failed=failed + ('gone',), ids=(vol_id,), timeout=timeout)

    def wait_snapshot(self, snap_id, status='available'):
        return self._wait(
            'snapshot %s' % snap_id,
            lambda: self._get_or_none(self.bs.get_snapshot, snap_id),
            lambda s: s is not None and s.status == status,
            failed=('error', 'error_deleting', 'gone'), ids=(snap_id,))

    def wait_gone(self, kind, getter, obj_id):
        self._wait('%s %s' % (kind, obj_id),
                   lambda: self._get_or_none(getter, obj_id),
                   lambda obj: obj is None, failed=('error_deleting',),
                   ids=(obj_id,))

    # -- volumes and snapshots -----------------------------------------

    def create_volume(self, size=1, status='available', **attrs):
        """Create a volume through the API and wait for ``status``.

        Its deletion (waited for) is registered at once, so even a volume
        that never gets there is cleaned up.
        """
        attrs.setdefault('volume_type', stack.BACKEND)
        vol = self.bs.create_volume(size=size, name=self.name('vol'),
                                    **attrs)
        self.track_volume(vol.id)
        return self.wait_volume(vol.id, status) if status else vol

    def track_volume(self, vol_id):
        self.ids.append(vol_id)
        self.api_objects.append(('volume', self.bs.get_volume, vol_id))
        # Cleanups run last-in first-out: the messages go after the volume.
        self.addCleanup(self.delete_messages, vol_id)
        self.addCleanup(self.delete_volume, vol_id, ignore_missing=True)

    def messages(self, resource_id):
        """User messages about a resource (why it went to error)."""
        resp = self.bs.get('/messages', params={'resource_uuid': resource_id},
                           microversion=MICROVERSION)
        resp.raise_for_status()
        return resp.json()['messages']

    def delete_messages(self, resource_id):
        for message in self.messages(resource_id):
            self.bs.delete_message(message['id'])

    def delete_volume(self, vol_id, ignore_missing=False):
        vol = self._get_or_none(self.bs.get_volume, vol_id)
        if vol is None:
            if ignore_missing:
                return
            self.fail('volume %s is already gone' % vol_id)
        if vol.status not in SETTLED:
            vol = self._wait('volume %s' % vol_id,
                             lambda: self._get_or_none(self.bs.get_volume,
                                                       vol_id),
                             lambda v: v is None or v.status in SETTLED,
                             ids=(vol_id,))
        if vol is not None:
            self.bs.delete_volume(vol_id,
                                  force=vol.status not in DELETABLE)
        self.wait_gone('volume', self.bs.get_volume, vol_id)

    def create_snapshot(self, vol_id):
        snap = self.bs.create_snapshot(volume_id=vol_id,
                                       name=self.name('snap'))
        self.ids.append(snap.id)
        self.api_objects.append(('snapshot', self.bs.get_snapshot, snap.id))
        self.addCleanup(self.delete_snapshot, snap.id, ignore_missing=True)
        return self.wait_snapshot(snap.id)

    def delete_snapshot(self, snap_id, ignore_missing=False):
        snap = self._get_or_none(self.bs.get_snapshot, snap_id)
        if snap is None:
            if ignore_missing:
                return
            self.fail('snapshot %s is already gone' % snap_id)
        if snap.status not in ('available', 'error'):
            self.wait_snapshot(snap_id)
        self.bs.delete_snapshot(snap_id)
        self.wait_gone('snapshot', self.bs.get_snapshot, snap_id)

    # -- volume types and QoS ------------------------------------------

    def create_type(self, qos_specs=None, **extra_specs):
        """A volume type on this run's backend, with back-end QoS specs."""
        extra_specs.setdefault('volume_backend_name', stack.BACKEND)
        vtype = self.bs.create_type(name=self.name('type'),
                                    extra_specs=extra_specs)
        self.api_objects.append(('volume type', self.bs.get_type, vtype.id))
        self.addCleanup(self.bs.delete_type, vtype.id)
        if qos_specs:
            qos = self.bs.create_qos_spec(name=self.name('qos'),
                                          consumer='back-end', **qos_specs)
            self.api_objects.append(('QoS spec', self.bs.get_qos_spec,
                                     qos.id))
            self.addCleanup(self.bs.delete_qos_spec, qos.id)
            self.bs.associate_qos_spec(qos.id, vtype.id)
            self.addCleanup(self.bs.disassociate_qos_spec, qos.id, vtype.id)
        return vtype

    # -- the pool ------------------------------------------------------

    def image(self, vol_id):
        return 'volume-' + vol_id

    def assert_image(self, vol_id, size_gb):
        name = self.image(vol_id)
        self.assertIn(name, ceph.images(), 'no image for volume %s' % vol_id)
        self.assertEqual(size_gb * ceph.GiB, ceph.size(name),
                         'size of %s in Ceph' % name)

    def assert_no_image(self, vol_id):
        self.assertEqual([], ceph.leftovers([vol_id]),
                         'pool still holds images of volume %s' % vol_id)

    def assert_no_leaks(self):
        """Nothing this test made is left, in the API or in the pool."""
        left = ['%s %s (%s)' % (kind, obj_id, getattr(obj, 'status', '-'))
                for kind, getter, obj_id in self.api_objects
                for obj in [self._get_or_none(getter, obj_id)]
                if obj is not None]
        self.assertEqual([], left, 'the test left objects in the API')
        if not self.ids:
            return
        # A periodic purge finishes deletes that had to go through the trash.
        deadline = time.monotonic() + PURGE_TIMEOUT
        found = ceph.leftovers(self.ids)
        while found and time.monotonic() < deadline and any(
                f.startswith('trash entry') for f in found):
            time.sleep(2)
            found = ceph.leftovers(self.ids)
        self.assertEqual([], found, 'the test left these in pool %s:\n%s%s'
                         % (stack.POOL, stack_changes(), log_tail(*self.ids)))
