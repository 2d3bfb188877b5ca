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

"""Base classes for the unit tests."""

import logging
import os
import uuid

from cinder import context
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.volume import configuration
from cinder.volume import driver as base_driver
import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import testtools

from cinder_ext.tests.unit import fake_ceph
from cinder_ext.volume.drivers import rbd as ext_rbd

_TRUE = ('1', 'true', 'yes')
LOG_FORMAT = '%(levelname)s %(name)s %(message)s'


class TestCase(testtools.TestCase):
    """Output capture, a DEBUG log capture and oslo.config cleanup."""

    def setUp(self):
        super(TestCase, self).setUp()
        timeout = int(os.environ.get('OS_TEST_TIMEOUT', 0) or 0)
        if timeout > 0:
            self.useFixture(fixtures.Timeout(timeout, gentle=True))
        for stream in ('stdout', 'stderr'):
            if os.environ.get('OS_%s_CAPTURE' % stream.upper()) in _TRUE:
                captured = self.useFixture(fixtures.StringStream(stream))
                self.useFixture(fixtures.MonkeyPatch('sys.%s' % stream,
                                                     captured.stream))
        self.logs = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, format=LOG_FORMAT))
        self.config = self.useFixture(config_fixture.Config(cfg.CONF))

    def use_fake_ceph(self, **kwargs):
        """Install fake bindings; return the :class:`FakeCluster`."""
        self.ceph = self.useFixture(fake_ceph.FakeCephFixture(**kwargs))
        return self.ceph.cluster

    def temp_file(self, content='', name=None):
        tmp = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(tmp, name or 'file')
        with open(path, 'w') as f:
            f.write(content)
        return path


class DriverTestCase(TestCase):
    """Our driver, set up like cinder-volume does, on a fake cluster."""

    GROUP = 'ext'
    POOL = 'volumes'

    def setUp(self):
        super(DriverTestCase, self).setUp()
        self.cluster = self.use_fake_ceph()
        self.ctx = context.get_admin_context()
        self.ceph_conf = self.temp_file('[global]\n', 'ceph.conf')
        self.looping_call = self.useFixture(fixtures.MockPatch(
            'oslo_service.loopingcall.FixedIntervalLoopingCall')).mock
        # Parent releases run inline here, so tests see their effect when
        # delete_volume returns; test_releases covers the background.
        self.useFixture(fixtures.MockPatch(
            'cinder_ext.volume.releases.PendingReleases.start',
            side_effect=lambda _parent, func, *args: func(*args)))
        # The background stats reconcile (tests call its body directly).
        self.dynamic_call = self.useFixture(fixtures.MockPatch(
            'oslo_service.loopingcall.DynamicLoopingCall')).mock

    def make_driver(self, setup=True, **overrides):
        conf = configuration.Configuration(base_driver.volume_opts,
                                           config_group=self.GROUP)
        drv = ext_rbd.RBDDriver(configuration=conf)
        values = dict(rbd_pool=self.POOL, rbd_user='cinder',
                      rbd_ceph_conf=self.ceph_conf,
                      rados_connection_retries=2,
                      rados_connection_interval=0)
        values.update(overrides)
        self.config.config(group=self.GROUP, **values)
        if setup:
            drv.do_setup(self.ctx)
            drv.check_for_setup_error()
        return drv

    def volume(self, size=1, **kwargs):
        return fake_volume.fake_volume_obj(
            self.ctx, id=str(uuid.uuid4()), size=size, **kwargs)

    def snapshot(self, volume):
        snap = fake_snapshot.fake_snapshot_obj(
            self.ctx, id=str(uuid.uuid4()), volume_id=volume.id,
            volume_size=volume.size)
        snap.volume = volume
        return snap

    def assertPoolEmpty(self):
        self.assertEqual({}, self.cluster.contents())
        self.assertEqual([], self.cluster.open_images)

    def assertNoLeftOpenImages(self):
        self.assertEqual([], self.cluster.open_images)
