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

"""migrate_volume and update_migrated_volume on the fake cluster."""

from cinder import exception
from cinder import objects
import ddt

from cinder_ext.tests.unit import base
from cinder_ext.tests.unit import fake_ceph
from cinder_ext.tests.unit import fake_cluster
from cinder_ext.volume import migration

POOL2 = 'volumes2'


def host(pool=POOL2, fsid=None, protocol='ceph', location=None):
    fsid = fsid or fake_ceph.FakeCluster().fsid
    info = location or 'ceph:/etc/ceph/ceph.conf:%s:cinder:%s' % (fsid, pool)
    return {'host': 'dest@rbd#rbd',
            'capabilities': {'storage_protocol': protocol,
                             'location_info': info}}


@ddt.ddt
class ParseLocationTestCase(base.TestCase):

    def test_fields(self):
        self.assertEqual(
            migration.Location('ceph', '/etc/ceph/ceph.conf', 'f-1', 'cinder',
                               'volumes'),
            migration.parse_location(
                'ceph:/etc/ceph/ceph.conf:f-1:cinder:volumes'))

    def test_colon_in_conf_path(self):
        self.assertEqual('/srv/a:b/ceph.conf', migration.parse_location(
            'ceph:/srv/a:b/ceph.conf:f-1:cinder:volumes').ceph_conf)

    @ddt.data(None, '', 'ceph', 'ceph:/c:f:cinder', 'ceph:/c:f:cinder:',
              'ceph:/c::cinder:volumes')
    def test_malformed(self, info):
        self.assertIsNone(migration.parse_location(info))


@ddt.ddt
class MigrateVolumeTestCase(base.DriverTestCase):

    def setUp(self):
        super(MigrateVolumeTestCase, self).setUp()
        self.cluster.add_pool(POOL2)
        self.drv = self.make_driver()
        self.vol = self.volume()
        self.drv.create_volume(self.vol)
        self.cluster.write(self.vol.name, b'data', 4096)

    def migrate(self, dest=None):
        return self.drv.migrate_volume(self.ctx, self.vol, dest or host())

    def assert_refused(self, reason, dest=None):
        self.assertEqual((False, None), self.migrate(dest))
        self.assertIn(reason, self.logs.output)
        self.assertIn(self.vol.name, self.cluster.image_names())
        self.assertEqual(b'data', self.cluster.read(self.vol.name, 4096, 4))
        self.assertEqual(0, self.cluster.calls['migration_prepare'])

    def test_moves_to_other_pool(self):
        self.drv.create_snapshot(self.snapshot(self.vol))
        self.assertEqual((True, None), self.migrate())
        self.assertNotIn(self.vol.name, self.cluster.image_names())
        self.assertEqual(b'data', self.cluster.read(self.vol.name, 4096, 4,
                                                    pool=POOL2))
        self.assertEqual(1, len(self.cluster.snap_names(self.vol.name,
                                                        pool=POOL2)))
        for op in ('prepare', 'execute', 'commit'):
            self.assertEqual(1, self.cluster.calls['migration_' + op])
        self.assertEqual(0, self.cluster.calls['migration_abort'])
        self.assertNoLeftOpenImages()

    def test_same_pool_moves_nothing(self):
        self.assertEqual((True, None), self.migrate(host(pool='volumes')))
        self.assertIn(self.vol.name, self.cluster.image_names())
        self.assertEqual(0, self.cluster.calls['migration_prepare'])

    @ddt.data('maintenance', 'retyping')
    def test_statuses_cinder_sets_while_migrating(self, status):
        self.vol.status = status
        self.assertEqual((True, None), self.migrate())

    def test_other_cluster(self):
        self.assert_refused('another cluster',
                            host(fsid='00000000-0000-4000-8000-000000000000'))

    def test_other_protocol(self):
        self.assert_refused('protocol is iSCSI', host(protocol='iSCSI'))

    def test_bad_location(self):
        self.assert_refused("location_info 'nonsense'",
                            host(location='nonsense'))

    def test_missing_location(self):
        dest = host()
        del dest['capabilities']['location_info']
        self.assert_refused('location_info None', dest)

    def test_in_use(self):
        self.vol.status = 'in-use'
        self.assert_refused('status in-use')

    def test_attachments(self):
        self.vol.volume_attachment = objects.VolumeAttachmentList(
            objects=[objects.VolumeAttachment(id=self.vol.id)])
        self.assert_refused('1 attachment(s)')

    def test_missing_destination_pool(self):
        self.assert_refused('cannot open pool nopool', host(pool='nopool'))

    def test_destination_name_taken(self):
        pool2 = self.cluster.pool(POOL2)
        pool2.images[self.vol.name] = fake_cluster.ImageData(
            pool2, self.vol.name, 4096, 22, 1)
        self.assert_refused('already exists in the destination')

    def test_open_image(self):
        self.cluster.image(self.vol.name).watchers = 1
        self.assert_refused('open by 1 client(s)')

    def test_image_with_clones(self):
        clone = self.volume(source_volid=self.vol.id)
        self.drv.create_cloned_volume(clone, self.vol)
        self.assert_refused('has 1 clone(s)')

    def test_clone_moves_keeping_parent(self):
        clone = self.volume(source_volid=self.vol.id)
        self.drv.create_cloned_volume(clone, self.vol)
        link = self.cluster.parent_of(clone.name)
        self.assertEqual((True, None),
                         self.drv.migrate_volume(self.ctx, clone, host()))
        self.assertEqual(link, self.cluster.parent_of(clone.name,
                                                      pool=POOL2))

    @ddt.data('ImageBusy', 'ImageExists')
    def test_lost_race_at_prepare(self, error):
        self.cluster.fail('migration_prepare', fake_ceph.rbd_error(error))
        self.assertEqual((False, None), self.migrate())
        self.assertIn('librbd refused to prepare', self.logs.output)
        self.assertIn(self.vol.name, self.cluster.image_names())

    @ddt.data('migration_execute', 'migration_commit')
    def test_failure_after_prepare_is_rolled_back(self, op):
        self.cluster.fail(op, fake_ceph.rbd_error('Timeout'))
        error = self.assertRaises(exception.VolumeMigrationFailed,
                                  self.migrate)
        self.assertIn('rolled back', str(error))
        self.assertEqual(1, self.cluster.calls['migration_abort'])
        self.assertIn(self.vol.name, self.cluster.image_names())
        self.assertEqual([], self.cluster.image_names(POOL2))
        self.assertEqual(b'data', self.cluster.read(self.vol.name, 4096, 4))

    def test_dead_connection_retires_it(self):
        self.cluster.fail('migration_execute',
                          fake_ceph.rados_error('ConnectionShutdown'))
        self.assertRaises(exception.VolumeBackendAPIException, self.migrate)
        self.assertEqual(1, self.cluster.calls['migration_abort'])
        self.assertEqual(1, len(self.cluster.handles))
        self.drv.create_volume(self.volume())  # on a fresh connection
        self.assertEqual(2, len(self.cluster.handles))

    def test_failed_abort_says_how_to_finish(self):
        self.cluster.fail('migration_execute', fake_ceph.rbd_error('Timeout'))
        self.cluster.fail('migration_abort', fake_ceph.rbd_error('Timeout'))
        self.assertRaises(exception.VolumeMigrationFailed, self.migrate)
        self.assertIn('rbd migration abort volumes2/%s' % self.vol.name,
                      self.logs.output)

    def test_other_prepare_error_is_reported(self):
        self.cluster.fail('migration_prepare',
                          fake_ceph.rbd_error('InvalidArgument'))
        error = self.assertRaises(exception.VolumeBackendAPIException,
                                  self.migrate)
        self.assertIn('migrate_volume failed', str(error))
        self.assertIn(self.vol.name, self.cluster.image_names())


@ddt.ddt
class UpdateMigratedVolumeTestCase(base.DriverTestCase):

    def setUp(self):
        super(UpdateMigratedVolumeTestCase, self).setUp()
        self.drv = self.make_driver()
        self.vol = self.volume()
        self.new = self.volume(provider_location='{"saved_features": 61}')
        self.drv.create_volume(self.new)

    def update(self, status='available'):
        return self.drv.update_migrated_volume(self.ctx, self.vol, self.new,
                                               status)

    def test_renames_back(self):
        self.assertEqual({'_name_id': None,
                          'provider_location': self.new.provider_location},
                         self.update())
        self.assertEqual([self.vol.name], self.cluster.image_names())

    def test_attached_keeps_its_name(self):
        self.assertEqual({'_name_id': self.new.id,
                          'provider_location': self.new.provider_location},
                         self.update('in-use'))
        self.assertEqual([self.new.name], self.cluster.image_names())

    @ddt.data('taken', 'missing')
    def test_rename_impossible_keeps_migration_name(self, why):
        if why == 'taken':
            self.drv.create_volume(self.vol)
        else:
            self.drv.delete_volume(self.new)
        self.assertEqual(self.new.id, self.update()['_name_id'])
        self.assertIn('Could not rename', self.logs.output)

    def test_already_named(self):
        self.drv.delete_volume(self.new)
        self.new._name_id = self.vol.id
        self.drv.create_volume(self.new)
        self.assertIsNone(self.update()['_name_id'])
        self.assertEqual([self.new.name], self.cluster.image_names())
