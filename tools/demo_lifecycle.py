#!/usr/bin/env python3
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
"""Take one volume through its life with the driver, saying what happens.

Run by tools/demo.sh against the test-bed cluster. It drives the driver
exactly as cinder-volume does (do_setup, check_for_setup_error, then the
volume calls) and lists the pool after each step.
"""

import argparse
import time
import uuid

from cinder import monkey_patch
monkey_patch.patch()

from cinder import context  # noqa: E402
from cinder.tests.unit import fake_snapshot  # noqa: E402
from cinder.tests.unit import fake_volume  # noqa: E402
from cinder.volume import configuration  # noqa: E402
from cinder.volume import driver as base_driver  # noqa: E402
from oslo_config import cfg  # noqa: E402

from cinder_ext.ceph import images  # noqa: E402
from cinder_ext.volume.drivers import rbd  # noqa: E402


def make_driver(conf_file, pool, user):
    cfg.CONF([], project='cinder')
    conf = configuration.Configuration(base_driver.volume_opts,
                                       config_group='cinder-ext-demo')
    conf.append_config_values(rbd.RBDDriver.get_driver_options())
    for key, value in dict(rbd_ceph_conf=conf_file, rbd_pool=pool,
                           rbd_user=user,
                           volume_backend_name='cinder-ext-demo').items():
        cfg.CONF.set_override(key, value, group='cinder-ext-demo')
    driver = rbd.RBDDriver(configuration=conf)
    driver.do_setup(context.get_admin_context())
    driver.check_for_setup_error()
    return driver


def show_pool(driver, step):
    with driver._backend.session() as session:
        ioctx = session.ioctx(driver._backend.pool)
        names = sorted(session.run(images.list_names, ioctx))
    print('    pool %s now holds: %s' % (driver._backend.pool,
                                         ', '.join(names) or '(nothing)'))


def step(driver, text, func, *args):
    start = time.monotonic()
    result = func(*args)
    print('%-46s %7.1f ms' % (text, (time.monotonic() - start) * 1000))
    show_pool(driver, text)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--conf', required=True)
    parser.add_argument('--pool', default='volumes')
    parser.add_argument('--user', default='cinder')
    args = parser.parse_args()
    driver = make_driver(args.conf, args.pool, args.user)
    ctx = context.get_admin_context()
    vol = fake_volume.fake_volume_obj(ctx, id=str(uuid.uuid4()), size=1)
    snap = fake_snapshot.fake_snapshot_obj(ctx, id=str(uuid.uuid4()),
                                           volume_id=vol.id, volume_size=1)
    snap.volume = vol
    clone = fake_volume.fake_volume_obj(ctx, id=str(uuid.uuid4()), size=2)
    print('cinder-ext %s on %s' % (driver.VERSION, args.conf))
    step(driver, 'create_volume %s (1 GiB)' % vol.name[:15],
         driver.create_volume, vol)
    step(driver, 'extend_volume to 2 GiB', driver.extend_volume, vol, 2)
    step(driver, 'create_snapshot', driver.create_snapshot, snap)
    step(driver, 'create_volume_from_snapshot (2 GiB clone)',
         driver.create_volume_from_snapshot, clone, snap)
    info = step(driver, 'initialize_connection',
                driver.initialize_connection, vol, {})
    data = info['data']
    print('    attach: rbd %s via %s as %s' % (
        data['name'], ','.join('%s:%s' % hp for hp in zip(data['hosts'],
                                                          data['ports'])),
        data['auth_username']))
    stats = driver.get_volume_stats(refresh=True)
    print('    stats: %s GiB free of %s GiB, backend %s' % (
        stats['free_capacity_gb'], stats['total_capacity_gb'],
        stats['backend_state']))
    step(driver, 'delete_volume (clone)', driver.delete_volume, clone)
    step(driver, 'delete_snapshot', driver.delete_snapshot, snap)
    step(driver, 'delete_volume', driver.delete_volume, vol)
    print('done: one volume created, snapshotted, cloned, attached and '
          'deleted; nothing left behind')


if __name__ == '__main__':
    main()
