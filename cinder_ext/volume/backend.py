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

"""One configured RBD backend: its pool, its cluster client, its limits.

Operation modules (``clones``, ``deletion``, ``stats`` ...) take a
:class:`Backend` instead of the driver, so they can be tested and reused
without Cinder's driver machinery around them.
"""

import contextlib
import math
import threading

from oslo_utils import units

from cinder_ext.ceph import bindings
from cinder_ext.ceph import capabilities
from cinder_ext.ceph import connection
from cinder_ext.ceph import images
from cinder_ext.volume import capacity
from cinder_ext.volume import releases

STRIPE_UNIT_CACHE_SIZE = 4096


class Backend(object):
    def __init__(self, configuration):
        conf = configuration
        self.conf = conf
        self.pool = conf.rbd_pool
        timeout = conf.rados_connect_timeout
        # < 0 is in-tree's "no timeout" and 0 librados' "no op timeout";
        # we never run unbounded.
        if timeout is None or timeout <= 0:
            timeout = conf.safe_get('rados_default_op_timeout') or \
                connection.DEFAULT_TIMEOUT
        self.spec = connection.ClusterSpec(
            cluster_name=conf.rbd_cluster_name,
            conf_file=conf.rbd_ceph_conf or '',
            user=conf.rbd_user or None,
            timeout=int(timeout),
            keyring_file=getattr(conf, 'rbd_keyring_conf', None) or None)
        self.client = connection.get_client(
            self.spec, connect_attempts=conf.rados_connection_retries,
            retry_interval=conf.rados_connection_interval,
            failure_hold=conf.rados_connect_failure_hold)
        limit = conf.rbd_concurrent_flatten_operations
        # Created here, not at import, so it is a green semaphore when
        # Cinder monkey patched before loading the driver.
        self.flatten_limit = (threading.BoundedSemaphore(limit) if limit
                              else contextlib.nullcontext())
        # Image transfers hold a blocking-layer thread for their whole
        # length: bounded so control calls always find one free.
        self.transfer_limit = threading.BoundedSemaphore(
            conf.rbd_max_concurrent_transfers)
        # Only a shared pool reports its provisioned size (see stats).
        self.capacity = capacity.CapacityTracker(
            track_provisioned=not conf.safe_get('rbd_exclusive_cinder_pool'))
        # Clone parents released after delete_volume returned.
        self.releases = releases.PendingReleases()
        self._features = None
        self._clone_format = capabilities.CloneFormatProbe()
        self._stripe_units = {}

    def session(self):
        return self.client.session()

    @property
    def order(self):
        """Object size order from rbd_store_chunk_size (MiB)."""
        return int(math.log(self.conf.rbd_store_chunk_size * units.Mi, 2))

    def features(self, session):
        """Features for new images: librbd's default, at least layering."""
        if self._features is None:
            self._features = (images.configured_features(session.handle) or
                              bindings.FEATURE_LAYERING)
        return self._features

    def clone_format(self, session):
        return self._clone_format.get(session)

    def stripe_unit(self, session, pool, image):
        """Stripe unit of ``pool/image``; it never changes, so cache it.

        Clones of the same golden snapshot or Glance image then skip an
        image open each. Volume names are unique UUIDs, so a name is never
        reused for a different image.
        """
        unit = self._stripe_units.get((pool, image))
        if unit is None:
            unit = session.run(images.stripe_unit, session.ioctx(pool),
                               image)
            self.remember_stripe_unit(pool, image, unit)
        return unit

    def remember_stripe_unit(self, pool, image, unit):
        if len(self._stripe_units) >= STRIPE_UNIT_CACHE_SIZE:
            self._stripe_units.clear()
        self._stripe_units[(pool, image)] = unit

    def retry_policy(self):
        """(attempts, interval) used when an image is busy."""
        return (max(1, self.conf.rados_connection_retries),
                max(0, self.conf.rados_connection_interval))
