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

"""cinder-ext-audit on the real cluster, against the in-tree driver's leaks.

The pool is shared with other test runs and the local stack, so every
assertion is about images carrying this test's UUIDs only; other findings
may come and go (a ``--fix`` here may clean other runs' leaks too, which is
fine: what it removes is garbage whoever made it).
"""

import json
import subprocess
import sys

import fixtures
from testtools import content

from cinder_ext.ceph import bindings
from cinder_ext.tests.functional import base
from cinder_ext.volume import audit

DIRECT = ['--ceph-conf', base.CEPH_CONF, '--user', base.USER,
          '--pool', base.POOL]


class AuditTestCase(base.DriverTestCase):

    def setUp(self):
        super(AuditTestCase, self).setUp()
        self.ext = self.make_driver(group='audit_ext')
        self.intree = self.make_intree_driver(group='audit_intree')
        self.backend = self.ext._backend

    def create(self, drv, src=None):
        vol = self.volume()
        if src is None:
            drv.create_volume(vol)
        else:
            vol.source_volid = src.id  # as Cinder records it
            drv.create_cloned_volume(vol, src)
        self.addCleanup(self.ext.delete_volume, vol)  # no-op once gone
        return vol

    def mine(self, findings):
        """(category, label) of the findings about this test's images."""
        return sorted((f['category'], f['image'] + (
            '@' + f['snapshot'] if f['snapshot'] else ''))
            for f in findings if any(i in f['image'] for i in self.ids))

    def audit(self, **kwargs):
        result = audit.audit(self.backend, **kwargs)
        return result, self.mine(vars(f) for f in result.findings)

    def command(self, *args):
        """``python -m cinder_ext.cmd.audit``; returns (status, stdout)."""
        proc = subprocess.run(
            [sys.executable, '-m', 'cinder_ext.cmd.audit'] + list(args),
            cwd=base.REPO, capture_output=True, text=True, timeout=300)
        self.addDetail('audit %s' % ' '.join(args),
                       content.text_content(
                           proc.stdout + proc.stderr))
        self.assertNotIn('Traceback', proc.stderr)
        return proc.returncode, proc.stdout

    def test_intree_deleted_leak_found_and_fixed(self):
        src = self.create(self.intree)
        dst = self.create(self.intree, src)
        self.intree.delete_volume(src)   # it has a clone: <src>.deleted
        self.intree.delete_volume(dst)   # in-tree's plain remove: leaks
        deleted = src.name + '.deleted'
        self.assertIn(deleted, self.image_names())
        expected = [
            (audit.DELETED_WITHOUT_CLONES, deleted),
            (audit.UNUSED_CLONE_SNAP,
             '%s@%s.clone_snap' % (deleted, dst.name))]

        _result, found = self.audit()
        self.assertEqual(expected, found)

        status, out = self.command('--format', 'json', *DIRECT)
        self.assertEqual(1, status)
        self.assertEqual(expected, self.mine(json.loads(out)['findings']))

        # Default --min-age: only old clone snapshots of live volumes are
        # touched, so other runs' clones in the making are safe.
        status, out = self.command('--fix', *DIRECT)
        self.assertIn(status, (0, 1))   # others' leaks may remain
        self.assertIn('  image volumes/%s' % deleted, out)
        self.assertIn('  snapshot volumes/%s@%s.clone_snap'
                      % (deleted, dst.name), out)
        self.assertEqual([], self.ours(self.image_names()))
        self.assertEqual([], self.audit()[1])

    def test_every_kind_and_a_scoped_fix(self):
        # A clone deleted by in-tree leaks its .clone_snap on a live source.
        src = self.create(self.intree)
        gone = self.create(self.intree, src)
        self.intree.delete_volume(gone)
        clone_snap = '%s@%s.clone_snap' % (src.name, gone.name)
        orphan = self.create(self.ext)
        foreign = 'audit-foreign-%s' % self.new_id()
        self.create_raw_image(foreign)
        self.addCleanup(self.remove_raw, foreign)
        trashed = 'volume-%s' % self.new_id()
        self.create_raw_image(trashed)
        self.move_to_trash(trashed)       # deferment ends at once
        self.addCleanup(self.remove_trashed, trashed)

        # Too young: its clone might be being created right now.
        _result, found = self.audit()
        self.assertNotIn((audit.UNUSED_CLONE_SNAP, clone_snap), found)

        result, found = self.audit(min_age=0, cinder_ids={src.id})
        # Other runs' drivers purge the trash too: ours may be gone.
        trash_kept = trashed in self.trash_names()
        expected = sorted(
            [(audit.UNUSED_CLONE_SNAP, clone_snap),
             (audit.ORPHAN, orphan.name), (audit.FOREIGN, foreign)] +
            [(audit.EXPIRED_TRASH, trashed)] * trash_kept)
        self.assertEqual(expected, [
            item for item in found
            if trash_kept or item != (audit.EXPIRED_TRASH, trashed)])

        mine = [f for f in result.findings
                if any(i in f.image for i in self.ids)]
        outcomes = audit.fix(self.backend, mine)
        removed = [item for o in outcomes for item in o.removed]
        self.assertIn('snapshot volumes/%s' % clone_snap, removed)
        self.assertEqual([], self.snap_names(src.name))
        self.assertNotIn(trashed, self.trash_names())
        # Listed, never touched.
        self.assertIn(orphan.name, self.image_names())
        self.assertIn(foreign, self.image_names())
        _result, found = self.audit(min_age=0, cinder_ids={src.id})
        self.assertEqual(sorted([(audit.ORPHAN, orphan.name),
                                 (audit.FOREIGN, foreign)]), found)

    def test_config_file_and_errors(self):
        conf = self.useFixture(fixtures.TempDir()).join('cinder.conf')
        with open(conf, 'w') as f:
            f.write('[DEFAULT]\nenabled_backends = ceph\n\n[ceph]\n'
                    'volume_driver = cinder_ext.volume.drivers.rbd.'
                    'RBDDriver\nrbd_pool = %s\nrbd_user = %s\n'
                    'rbd_ceph_conf = %s\n'
                    % (base.POOL, base.USER, base.CEPH_CONF))
        status, out = self.command('--config-file', conf, '--backend',
                                   'ceph', '--format', 'json')
        self.assertIn(status, (0, 1))
        self.assertEqual(base.POOL, json.loads(out)['pool'])
        status, _out = self.command('--pool', 'no-such-pool',
                                    '--ceph-conf', base.CEPH_CONF,
                                    '--user', base.USER)
        self.assertEqual(2, status)

    def remove_raw(self, name):
        try:
            bindings.rbd.RBD().remove(self.rados(), name)
        except bindings.ImageNotFound:
            pass

    def remove_trashed(self, name):
        for entry in self.trash_entries():
            if entry['name'] == name:
                self.trash_remove(entry['id'])
