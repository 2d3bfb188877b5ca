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

"""Configuration options of the cinder-ext RBD driver.

``RBD_OPTS`` repeats every option of Cinder's in-tree RBD driver with the
same name, type, default and meaning, so an operator switches drivers by
changing ``volume_driver`` alone.

``rbd_keyring_conf`` is deliberately not registered, exactly as in-tree
(OSSN-0085: its contents end up in connection info that users can read);
cinderlib sets it as a plain attribute and the driver reads it with
``getattr``.

``EXT_OPTS`` are the options this driver adds. Where the meaning is
sharper than in-tree it is said there: ``rados_default_op_timeout`` bounds
calls when ``rados_connect_timeout`` is unset (< 0 never means "no
timeout" here, whatever the in-tree help text; the config generator shows
ours, see :func:`documented_opts`), and on a shared pool the
provisioned size comes from one librbd call in the background, not one
open per image on every poll (``rbd_stats_max_age``).
"""

import copy

from oslo_config import cfg

_OWN_RBD_OPTS = [
    cfg.StrOpt('rbd_cluster_name', default='ceph',
               help='The name of ceph cluster'),
    cfg.StrOpt('rbd_pool', default='rbd',
               help='The RADOS pool where RBD volumes are stored'),
    cfg.StrOpt('rbd_user',
               help='The RADOS client name for accessing RBD volumes '
                    '- only set when using cephx authentication'),
    cfg.StrOpt('rbd_ceph_conf', default='',
               help='Path to the ceph configuration file'),
    cfg.BoolOpt('rbd_flatten_volume_from_snapshot', default=False,
                help='Flatten volumes created from snapshots to remove '
                     'dependency from volume to snapshot'),
    cfg.StrOpt('rbd_secret_uuid',
               help='The libvirt uuid of the secret for the rbd_user '
                    'volumes. Defaults to the cluster FSID.'),
    cfg.IntOpt('rbd_max_clone_depth', default=5,
               help='Maximum number of nested volume clones that are '
                    'taken before a flatten occurs. Set to 0 to disable '
                    'cloning. Note: lowering this value will not affect '
                    'existing volumes whose clone depth exceeds the new '
                    'value.'),
    cfg.IntOpt('rbd_store_chunk_size', default=4,
               help='Volumes will be chunked into objects of this size '
                    '(in megabytes).'),
    # In-tree says "< 0: no timeout, librados' default"; we never run
    # unbounded: < 0 means rados_default_op_timeout (see its help).
    cfg.IntOpt('rados_connect_timeout', default=-1,
               help='Timeout value (in seconds) for connecting to the ceph '
                    'cluster (all retries included) and for each monitor '
                    'and OSD operation. If value <= 0, '
                    'rados_default_op_timeout is used.'),
    cfg.IntOpt('rados_connection_retries', default=3,
               help='Number of retries if connection to ceph cluster '
                    'failed.'),
    cfg.IntOpt('rados_connection_interval', default=5,
               help='Interval value (in seconds) between connection '
                    'retries to ceph cluster.'),
    cfg.IntOpt('replication_connect_timeout', default=5,
               help='Timeout value (in seconds) used when connecting to '
                    'ceph cluster to do a demotion/promotion of volumes. '
                    'If value < 0, no timeout is set and default librados '
                    'value is used.'),
    cfg.BoolOpt('report_dynamic_total_capacity', default=True,
                help='Set to True for driver to report total capacity as a '
                     'dynamic value (used + current free) and to False to '
                     'report a static value (quota max bytes if defined and '
                     'global size of cluster if not).'),
    # In-tree: "an independent request for each image" on every poll.
    cfg.BoolOpt('rbd_exclusive_cinder_pool', default=True,
                help="Set to False if the pool is shared with other usages. "
                     "On exclusive use driver won't query images' provisioned "
                     "size as they will match the value calculated by the "
                     "Cinder core code for allocated_capacity_gb. On non "
                     "exclusive use the driver reports the provisioned size "
                     "of every image in the pool: read with one "
                     "rbd_pool_stats_get call in the background (see "
                     "rbd_stats_max_age) and kept current in between by "
                     "the driver's own creates, extends and deletes."),
    cfg.BoolOpt('enable_deferred_deletion', default=False,
                help='Enable deferred deletion. Upon deletion, volumes are '
                     'tagged for deletion but will only be removed '
                     'asynchronously at a later time.'),
    cfg.IntOpt('deferred_deletion_delay', default=0,
               help='Time delay in seconds before a volume is eligible '
                    'for permanent removal after being tagged for deferred '
                    'deletion.'),
    cfg.IntOpt('deferred_deletion_purge_interval', default=60,
               help='Number of seconds between runs of the periodic task '
                    'to purge volumes tagged for deletion.'),
    cfg.IntOpt('rbd_concurrent_flatten_operations', default=3, min=0,
               help='Number of flatten operations that will run '
                    'concurrently on this volume service.'),
]


def _shared_with_intree(own_opts):
    """The in-tree driver's option objects where it defines them.

    The in-tree module registers its options in ``[backend_defaults]`` when
    imported, and oslo.config refuses a second, different definition of
    the same name. Using the very same objects means both drivers can be
    loaded in one process (two backends, the config generator, a bench) in
    any order. Options an older Cinder lacks keep our identical copy.
    """
    try:
        from cinder.volume.drivers import rbd as intree
    except ImportError:
        return own_opts
    theirs = {opt.name: opt for opt in intree.RBD_OPTS}
    return [theirs.get(opt.name, opt) for opt in own_opts]


RBD_OPTS = _shared_with_intree(_OWN_RBD_OPTS)

EXT_OPTS = [
    cfg.IntOpt('rados_default_op_timeout', default=30, min=1,
               help='cinder-ext: deadline in seconds used when '
                    'rados_connect_timeout is <= 0 (its default -1 does NOT '
                    'mean "no timeout" with cinder-ext). The whole connect, '
                    'all rados_connection_retries attempts and the pauses '
                    'between them included, ends within it (retries are '
                    'dropped rather than giving one attempt less than 5 '
                    's), and it is librados\' rados_mon_op_timeout and '
                    'rados_osd_op_timeout, so each monitor or OSD operation '
                    'fails with a timeout after it. 30 s rides out an OSD '
                    'restart while its placement groups peer. librados\' '
                    'own defaults (300 s to connect, no operation timeout) '
                    'can hold a volume service thread for many minutes '
                    'when a monitor is down.'),
    cfg.IntOpt('rados_connect_failure_hold', default=5, min=0,
               help='cinder-ext: seconds a failed connect to the cluster is '
                    'remembered. Meanwhile requests fail at once with the '
                    'same error instead of each waiting for a connect of '
                    'its own; the first request after it connects again, '
                    'so service resumes by itself when Ceph is back. 0 '
                    'retries on every request (still one connect at a '
                    'time).'),
    cfg.StrOpt('rbd_mon_address_type', default='v1',
               choices=[('v1', 'Legacy messenger addresses (port 6789), '
                               'the same answer as the in-tree driver; any '
                               'librbd can use them.'),
                        ('v2', 'msgr2 addresses (port 3300); needs '
                               'Nautilus or newer librbd on hypervisors.')],
               help='cinder-ext: which monitor address to put in the '
                    'connection info returned on attach. A monitor that '
                    'only listens on the other protocol is reported with '
                    'the address it has.'),
    cfg.IntOpt('rbd_mon_address_cache_seconds', default=30, min=0,
               help='cinder-ext: how long the monitor addresses read with '
                    'a "mon dump" command are reused for attach requests. '
                    '0 reads them on every attach.'),
    cfg.IntOpt('rbd_max_concurrent_transfers', default=4, min=1,
               help='cinder-ext: how many image transfers (image to '
                    'volume, volume to image) of this backend move data '
                    'at once; more wait. Each holds one of eventlet\'s '
                    'tpool threads (EVENTLET_THREADPOOL_SIZE, default 20) '
                    'while it runs, so keep the sum over all backends of a '
                    'service well below that, or stats, create and attach '
                    'calls wait for transfers to finish.'),
    cfg.StrOpt('rbd_glance_store_pool',
               help='cinder-ext: the pool of Glance\'s RBD store, when it '
                    'is in this backend\'s cluster. A volume uploaded as a '
                    'raw, bare image is then copied by librbd into that '
                    'pool (thin, as of one instant) and handed to Glance '
                    'as the image\'s location, instead of streaming its '
                    'data through Glance. Needs rbd_user to write to the '
                    'pool ("profile rbd pool=<pool>"), Glance 2024.2 or '
                    'newer, and Cinder\'s [glance] section set to a user '
                    'with the service role (auth_type and its options), '
                    'which Glance\'s "add location" API requires. Uploads '
                    'Glance refuses this way stream as usual, with a '
                    'warning in the log. Unset: always stream, as the '
                    'in-tree driver does.'),
    cfg.IntOpt('rbd_luks_iter_time', default=100, min=1, max=10000,
               help='cinder-ext: milliseconds of PBKDF2 that open the '
                    'LUKS header of a new encrypted volume (qemu-img\'s '
                    'iter-time). Every attach pays them again, in QEMU. '
                    'Key stretching only protects weak passphrases; '
                    'Cinder\'s are random keys of the volume type\'s '
                    'key_size from the key manager (256 bits or more), so '
                    'the default is short. 2000 is what the in-tree '
                    'driver gets from qemu-img.'),
    cfg.IntOpt('rbd_stats_max_age', default=60, min=0,
               help='cinder-ext: how old, in seconds, the capacity figures '
                    'reported to the scheduler may get. Stats polls are '
                    'answered from memory without calling Ceph: the '
                    'driver\'s own creates, extends and deletes count at '
                    'once, and a background task re-reads "ceph df", the '
                    'pool quota and (rbd_exclusive_cinder_pool = False) '
                    'the pool\'s provisioned size soon enough that changes '
                    'made by anything else show within this many seconds. '
                    'Each re-read costs what one stats poll used to '
                    '(rbd_pool_stats_get reads every image header of a '
                    'shared pool); re-reads never take more than half of '
                    'the time. Older figures are still reported, with a '
                    'warning in the log; a failed re-read reports the '
                    'backend down with unknown capacity until one '
                    'succeeds. 0 reads Ceph on every stats poll instead.'),
]


def all_opts():
    return RBD_OPTS + EXT_OPTS


def documented_opts() -> list:
    """Copies of :func:`all_opts` carrying our help texts.

    The objects shared with the in-tree driver carry its help, which for
    ``rados_connect_timeout`` says the opposite of what cinder-ext does;
    the config generator and the docs show ours.
    """
    ours = {opt.name: opt.help for opt in _OWN_RBD_OPTS}
    opts = copy.deepcopy(all_opts())
    for opt in opts:
        opt.help = ours.get(opt.name, opt.help)
    return opts
