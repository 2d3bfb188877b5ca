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

"""Use connection info the way a hypervisor's librbd (QEMU) does.

Nova turns the ``hosts``/``ports`` lists into the ``mon_host`` of QEMU's
rbd drive and hands it the user's secret; no ceph.conf is read. If this
works, an attach works from the answer alone.
"""

import os

from cinder_ext.ceph import bindings
from cinder_ext.tests.functional import base


def _mon_host(data):
    return ','.join('%s:%s' % (host if ':' not in host else '[%s]' % host,
                               port)
                    for host, port in zip(data['hosts'], data['ports']))


def read_like_qemu(info, length):
    data = info['data']
    keyring = os.path.join(base.CEPH_DIR,
                           'ceph.client.%s.keyring' % data['auth_username'])
    handle = bindings.rados.Rados(
        rados_id=data['auth_username'],
        clustername=data['cluster_name'],
        conffile=bindings.rados.Rados.NO_CONF_FILE,
        conf={'mon_host': _mon_host(data), 'keyring': keyring})
    handle.connect(timeout=20)
    try:
        pool, image_name = data['name'].split('/', 1)
        with handle.open_ioctx(pool) as ioctx:
            with bindings.rbd.Image(ioctx, image_name,
                                    read_only=True) as image:
                return image.read(0, length)
    finally:
        handle.shutdown()
