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

"""cinder-ext-audit on a fake cluster: each kind of leak, --fix, output."""

import datetime
import io
import json
from unittest import mock

import fixtures

from cinder_ext.ceph import connection
from cinder_ext.ceph import images
from cinder_ext.cmd import audit as cmd
from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph
from cinder_ext.volume import audit

POOL = 'volumes'


class AuditTestCase(base.DriverTestCase):

    def setUp(self):
        super(AuditTestCase, self).setUp()
        self.useFixture(fixtures.MockPatch(
            'cinder_ext.volume.audit._now',
            side_effect=lambda: self.cluster.now))
        self.drv = self.make_driver()
        self.backend = self.drv._backend

    # -- building pool states -----------------------------------------

    def raw(self, func, *args):  # behind the driver's back, as in-tree
        with self.backend.session() as session:
            return func(session.ioctx(POOL), *args)

    def create(self, src=None):
        vol = self.volume()
        if src is None:
            self.drv.create_volume(vol)
        else:
            vol.source_volid = src.id  # as Cinder records it
            self.drv.create_cloned_volume(vol, src)
        return vol

    def intree_leak(self):
        """In-tree: source deleted first, then its clone: both leak."""
        src = self.create()
        dst = self.create(src)
        self.drv.delete_volume(src)       # renamed <src>.deleted
        self.raw(images.remove, dst.name)  # in-tree's plain remove
        return src, dst

    def foreign(self, name='glance-1234'):
        self.raw(images.create, name, fake_ceph.GiB, 22, 1)
        return name

    # -- running it ---------------------------------------------------

    def findings(self, **kwargs):
        result = audit.audit(self.backend, **kwargs)
        return [(f.category, f.label, f.removable) for f in result.findings]

    def main(self, *args):
        out, err = io.StringIO(), io.StringIO()
        argv = ['--ceph-conf', self.ceph_conf, '--user', 'cinder',
                '--pool', POOL] + list(args)
        status = cmd.main(argv, out, err)
        return status, out.getvalue(), err.getvalue()


class FindTestCase(AuditTestCase):

    def test_clean_pool(self):
        src = self.create()
        self.create(src)
        self.assertEqual([], self.findings())
        status, out, _err = self.main()
        self.assertEqual(cmd.CLEAN, status)
        self.assertIn('Pool volumes: 2 images, 0 trash entries.', out)
        self.assertIn('No leaks found.', out)

    def test_intree_deleted_leak(self):
        src, dst = self.intree_leak()
        deleted = src.name + '.deleted'
        self.assertEqual(
            [(audit.DELETED_WITHOUT_CLONES, deleted, True),
             (audit.UNUSED_CLONE_SNAP,
              '%s@%s.clone_snap' % (deleted, dst.name), True)],
            self.findings())
        self.assertNoLeftOpenImages()

    def test_deleted_with_clones_is_not_a_leak(self):
        src = self.create()
        self.create(src)
        self.drv.delete_volume(src)
        self.assertIn(src.name + '.deleted', self.cluster.image_names())
        self.assertEqual([], self.findings())

    def test_clone_in_trash_still_counts(self):
        self.drv = self.make_driver(enable_deferred_deletion=True,
                                    deferred_deletion_delay=600)
        self.backend = self.drv._backend
        src = self.create()
        dst = self.create(src)
        self.drv.delete_volume(src)
        self.drv.delete_volume(dst)       # to the trash, for 600 s
        self.assertEqual([], self.findings())
        self.cluster.now += 600
        self.assertEqual([(audit.EXPIRED_TRASH, mock.ANY, True)],
                         self.findings())

    def test_clone_snap_on_live_volume_after_min_age(self):
        src = self.create()
        dst = self.create(src)
        self.raw(images.remove, dst.name)
        created = self.cluster.now - 10   # the fakes keep no snap times
        self.useFixture(fixtures.MonkeyPatch(
            'cinder_ext.tests.unit.fake_image.FakeImage.get_snap_timestamp',
            lambda image, snap_id: created))
        self.assertEqual([], self.findings())
        expected = [(audit.UNUSED_CLONE_SNAP,
                     '%s@%s.clone_snap' % (src.name, dst.name), True)]
        self.assertEqual(expected, self.findings(min_age=0))
        self.cluster.now += audit.DEFAULT_MIN_AGE
        self.assertEqual(expected, self.findings())

    def test_expired_trash(self):
        vol = self.create()
        entry = self.cluster.image(vol.name).id
        self.raw(images.trash_move, vol.name, 100)
        self.assertEqual([], self.findings())
        self.cluster.now += 100
        self.assertEqual([(audit.EXPIRED_TRASH,
                           '%s (trash id %s)' % (vol.name, entry), True)],
                         self.findings())

    def test_trash_entry_with_snapshot_left_to_operator(self):
        vol = self.create()
        self.drv.create_snapshot(self.snapshot(vol))
        self.raw(images.trash_move, vol.name, 0)
        result = audit.audit(self.backend)
        self.assertEqual([audit.EXPIRED_TRASH],
                         [f.category for f in result.findings])
        self.assertFalse(result.findings[0].removable)
        self.assertIn('snapshots without clones', result.findings[0].detail)
        self.assertEqual([], audit.fix(self.backend, result.findings))

    def test_trash_waiting_for_v2_clone_is_not_a_leak(self):
        self.cluster.require_min_compat_client = 'mimic'
        vol = self.create()
        snap = self.snapshot(vol)
        self.drv.create_snapshot(snap)
        self.drv.create_volume_from_snapshot(self.volume(), snap)
        self.drv.delete_snapshot(snap)    # to the snapshot trash
        self.drv.delete_volume(vol)       # to the trash: hidden snapshot
        self.assertEqual([vol.name], self.cluster.trash_names())
        self.assertEqual([], self.findings())

    def test_foreign_images_listed_only(self):
        self.foreign('glance-1234')
        self.foreign('volume-not-a-uuid.deleted')
        self.create()
        self.assertEqual(
            [(audit.FOREIGN, 'glance-1234', False),
             (audit.FOREIGN, 'volume-not-a-uuid.deleted', False)],
            self.findings())
        status, out, _err = self.main()
        self.assertEqual(cmd.CLEAN, status)  # normal in a shared pool
        self.assertIn('2 foreign image(s)', out)

    def test_orphans(self):
        known, unknown = self.create(), self.create()
        self.intree_leak()
        ids = self.temp_file('# from openstack volume list\n\n%s\n'
                             % known.id.upper())
        found = self.findings(cinder_ids=cmd.read_ids(ids))
        # .deleted images are Cinder's deleted volumes: never orphans.
        self.assertEqual([(audit.ORPHAN, unknown.name, False)],
                         [f for f in found if f[0] == audit.ORPHAN])
        status, out, _err = self.main('--cinder-volume-ids', ids)
        self.assertEqual(cmd.FOUND, status)
        self.assertIn('2 leak(s) --fix can remove, 1 orphan volume(s).', out)

    def test_librbd_times_are_naive_utc(self):
        self.assertEqual(86400.0,
                         images.epoch_seconds(datetime.datetime(1970, 1, 2)))

    def test_one_librbd_call_for_the_whole_pool(self):
        for _ in range(20):
            self.create()
        self.intree_leak()
        with mock.patch.object(connection.Session, 'run', autospec=True,
                               side_effect=connection.Session.run) as run:
            audit.audit(self.backend)
        self.assertEqual(1, run.call_count)


class FixTestCase(AuditTestCase):

    def test_fix_removes_exactly_the_leaks(self):
        keep = self.create()
        clone = self.create(keep)             # a healthy clone pair
        src, dst = self.intree_leak()         # (1) and (2)
        live = self.create()
        gone = self.create(live)
        self.raw(images.remove, gone.name)    # (2) on a live volume
        trashed = self.create()
        self.raw(images.trash_move, trashed.name, 0)   # (3)
        foreign = self.foreign()              # (4)
        orphan = self.create()                # (5)
        ids = self.temp_file('\n'.join(v.id for v in (keep, clone, live)))
        status, out, _err = self.main('--fix', '--cinder-volume-ids', ids)
        self.assertEqual({
            'image:volumes/%s' % keep.name: ['%s.clone_snap(user)'
                                             % clone.name],
            'image:volumes/%s' % clone.name: [],
            'image:volumes/%s' % live.name: [],
            'image:volumes/%s' % foreign: [],
            'image:volumes/%s' % orphan.name: []},
            self.cluster.contents())
        for removed in ('image volumes/%s.deleted' % src.name,
                        'snapshot volumes/%s.deleted@%s.clone_snap'
                        % (src.name, dst.name),
                        'snapshot volumes/%s@%s.clone_snap'
                        % (live.name, gone.name),
                        'trash entry volumes/%s' % trashed.name):
            self.assertIn('  ' + removed, out)
        self.assertEqual(cmd.FOUND, status)   # the orphan remains
        after = out.split('After --fix:')[1]
        self.assertIn('1 orphan volume(s); 1 foreign image(s)', after)
        self.assertNoLeftOpenImages()

    def test_fix_walks_up_the_clone_chain(self):
        first = self.create()
        second = self.create(first)
        third = self.create(second)
        self.drv.delete_volume(first)
        self.drv.delete_volume(second)
        self.raw(images.remove, third.name)
        result = audit.audit(self.backend)
        outcomes = audit.fix(self.backend, result.findings)
        self.assertEqual(
            ['snapshot volumes/%s.deleted@%s.clone_snap'
             % (second.name, third.name),
             'image volumes/%s.deleted' % second.name,
             'snapshot volumes/%s.deleted@%s.clone_snap'
             % (first.name, second.name),
             'image volumes/%s.deleted' % first.name],
            outcomes[0].removed)
        self.assertEqual('already gone', outcomes[1].note)
        self.assertPoolEmpty()

    def test_expired_trash_releases_parent(self):
        self.drv = self.make_driver(enable_deferred_deletion=True)
        self.backend = self.drv._backend
        src = self.create()
        dst = self.create(src)
        self.drv.delete_volume(src)
        self.drv.delete_volume(dst)
        outcomes = audit.fix(self.backend, audit.audit(self.backend).findings)
        self.assertEqual(
            ['trash entry volumes/%s (id %s)' % (dst.name,
                                                 outcomes[0].finding.trash_id),
             'snapshot volumes/%s.deleted@%s.clone_snap'
             % (src.name, dst.name),
             'image volumes/%s.deleted' % src.name],
            outcomes[0].removed)
        self.assertPoolEmpty()

    def test_rechecked_before_removal(self):
        src, dst = self.intree_leak()
        deleted = src.name + '.deleted'
        findings = audit.audit(self.backend).findings
        # A clone appears between the audit and the fix.
        self.raw(lambda ioctx: fake_ceph.FakeRBD().clone(
            ioctx, deleted, dst.name + '.clone_snap', ioctx, 'volume-new'))
        outcomes = audit.fix(self.backend, findings)
        self.assertEqual([('kept: it has clones again', [])] * 2,
                         [(o.note, o.removed) for o in outcomes])
        self.assertIn(deleted, self.cluster.image_names())

    def test_busy_image_reported(self):
        src, dst = self.intree_leak()
        self.cluster.image(src.name + '.deleted').watchers = 1
        outcomes = audit.fix(self.backend,
                             audit.audit(self.backend).findings)
        self.assertIn('not removed', outcomes[0].note)
        self.assertEqual(['snapshot volumes/%s.deleted@%s.clone_snap'
                          % (src.name, dst.name)], outcomes[0].removed)

    def test_other_snapshots_keep_deleted_image(self):
        src, _dst = self.intree_leak()
        deleted = self.cluster.image(src.name + '.deleted')
        deleted.snaps.append(fake_ceph.SnapData(90, 'operator-copy',
                                                deleted.size, []))
        status, out, _err = self.main('--fix')
        self.assertIn('operator-copy', out)
        self.assertEqual(['operator-copy'],
                         self.cluster.snap_names(deleted.name))
        self.assertEqual(cmd.FOUND, status)


class CommandTestCase(AuditTestCase):

    def test_json(self):
        src, dst = self.intree_leak()
        status, out, _err = self.main('--format', 'json')
        self.assertEqual(cmd.FOUND, status)
        doc = json.loads(out)
        self.assertEqual((POOL, 1, 0), (doc['pool'], doc['images'],
                                        doc['trash_entries']))
        self.assertEqual({'category': audit.DELETED_WITHOUT_CLONES,
                          'image': src.name + '.deleted', 'snapshot': None,
                          'trash_id': None, 'removable': True,
                          'detail': mock.ANY}, doc['findings'][0])
        self.assertNotIn('fix', doc)
        status, out, _err = self.main('--format', 'json', '--fix')
        self.assertEqual(cmd.CLEAN, status)
        fixed = json.loads(out)['fix']
        self.assertEqual([], fixed['remaining'])
        self.assertEqual([], fixed['not_removed'])
        self.assertIn('image volumes/%s.deleted' % src.name,
                      fixed['removed'])
        self.assertPoolEmpty()

    def write_conf(self, **backend):
        lines = ['[DEFAULT]', 'enabled_backends = ceph', '',
                 '[backend_defaults]', 'rbd_user = audit',
                 'rbd_ceph_conf = %s' % self.ceph_conf, '', '[ceph]']
        lines += ['%s = %s' % item for item in backend.items()]
        return self.temp_file('\n'.join(lines) + '\n', 'cinder.conf')

    def test_config_file(self):
        self.cluster.add_pool('volumes2')
        conf = self.write_conf(rbd_pool='volumes2',
                               volume_driver='cinder_ext.volume.drivers.'
                                             'rbd.RBDDriver')
        out = io.StringIO()
        status = cmd.main(['--config-file', conf, '--backend', 'ceph'], out)
        self.assertEqual(cmd.CLEAN, status)
        self.assertIn('Pool volumes2: 0 images', out.getvalue())
        # rbd_user comes from [backend_defaults], as in cinder-volume.
        self.assertEqual('audit', self.cluster.handles[-1].rados_id)

    def test_connection_error(self):
        conf = self.write_conf(rbd_pool=POOL, rados_connection_retries=1)
        connection.close_all()
        self.cluster.connect_errors = [
            fake_ceph.rados_error('TimedOut', 'error connecting')]
        out, err = io.StringIO(), io.StringIO()
        status = cmd.main(['--config-file', conf, '--backend', 'ceph'],
                          out, err)
        self.assertEqual(cmd.ERROR, status)
        self.assertIn('could not reach Ceph cluster', err.getvalue())

    def test_errors(self):
        conf = self.write_conf(rbd_pool=POOL)
        bad_ids = self.temp_file('ID\n', 'ids')
        for argv, message in (
                (['--config-file', conf, '--backend', 'nope'],
                 'no section [nope]'),
                (['--config-file', conf + '.missing', '--backend', 'ceph'],
                 'Failed to find some config files'),
                (['--pool', POOL, '--ceph-conf', '/nonexistent.conf'],
                 'rbd_ceph_conf'),
                (['--pool', 'nopool', '--ceph-conf', self.ceph_conf],
                 'rbd_pool=nopool: no such pool'),
                (['--pool', POOL, '--ceph-conf', self.ceph_conf,
                  '--cinder-volume-ids', bad_ids],
                 "line 1: not a volume UUID: 'ID'")):
            err = io.StringIO()
            self.assertEqual(cmd.ERROR, cmd.main(argv, io.StringIO(), err))
            self.assertIn(message, err.getvalue())

    def test_usage_errors(self):
        for argv in ([], ['--backend', 'ceph'], ['--config-file', 'c'],
                     ['--config-file', 'c', '--backend', 'ceph', '--pool',
                      POOL], ['--pool', POOL, '--min-age', '-1'],
                     ['--pool', POOL, '--format', 'xml']):
            self.assertEqual(cmd.ERROR, cmd.main(argv))

    def test_unexpected_error_is_not_a_finding(self):
        with mock.patch.object(audit, 'audit', side_effect=KeyError('x')):
            status, _out, _err = self.main()
        self.assertEqual(cmd.ERROR, status)
        self.assertIn('unexpected error', self.logs.output)
