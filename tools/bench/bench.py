#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Micro-benchmarks: cinder-ext RBD driver vs in-tree driver vs raw librbd.

Usage::

    python tools/bench/bench.py [--rounds N] [--quick]
                                [--mode eventlet|threads|both]
                                [--out-dir DIR]
    tox -e bench -- --quick

Needs the one-node test cluster of tools/ceph (started here through
``tools/ceph/ceph-up.sh`` when it is not running) and a Python environment
with cinder, cinder-ext and Debian's rados/rbd bindings.

Eventlet and native threads cannot share a process, so this script runs
itself as worker subprocesses (``--worker eventlet|threads``, internal).
Each worker writes its raw samples as JSON; the parent prints the tables,
then checks that the pools hold nothing the run created. The tables and
the latency samples also go to ``--out-dir`` (see ``outputs``), where
``tox -e plots`` draws them.

The worker patches first, the way ``cinder-volume`` starts: this module
imports nothing above the standard library before that happens.
"""

import argparse
import os
import sys

MODES = ('eventlet', 'threads')
DEFAULT_CEPH_DIR = '/var/tmp/cinder-ext-ceph'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
DEFAULT_OUT_DIR = os.path.join(REPO, 'doc', 'source', 'benchmarks')


def _ceph_conf():
    ceph_dir = os.environ.get('CINDER_EXT_CEPH_DIR', DEFAULT_CEPH_DIR)
    return os.path.join(ceph_dir, 'ceph.conf')


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Latency, concurrency and stats benchmarks of the '
                    'cinder-ext RBD driver against the in-tree driver and '
                    'raw librbd.')
    parser.add_argument('--rounds', type=int, default=None,
                        help='measured rounds of the per-operation '
                             'benchmark (default 30, 9 with --quick); a '
                             'multiple of 3 gives each implementation '
                             'each position of the rotation equally often')
    parser.add_argument('--quick', action='store_true',
                        help='fewer rounds and 200 images instead of 1000 '
                             '(about 2 minutes)')
    parser.add_argument('--stats-images', type=int, default=None,
                        metavar='N',
                        help='1 MiB images in the shared pool of the stats '
                             'benchmark (default 1000, 200 with --quick)')
    parser.add_argument('--stats-only', action='store_true',
                        help='run only the stats benchmark, in every mode '
                             'of --mode')
    parser.add_argument('--mode', choices=MODES + ('both',), default='both',
                        help='concurrency model(s) to run (default both)')
    parser.add_argument('--out-dir', default=DEFAULT_OUT_DIR,
                        help='where to write driver.txt (the tables) and '
                             'driver-<mode>.json (the samples, for '
                             'tools/bench/plots.py); default '
                             'doc/source/benchmarks/')
    parser.add_argument('--ceph-conf', default=_ceph_conf(),
                        help='ceph.conf of the test cluster')
    parser.add_argument('--user', default='cinder',
                        help='cephx user of both drivers (default cinder)')
    # Internal: how the parent starts its workers.
    parser.add_argument('--worker', choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument('--parts', default='', help=argparse.SUPPRESS)
    parser.add_argument('--token', default='', help=argparse.SUPPRESS)
    parser.add_argument('--out', default='', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 9 if args.quick else 30
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')
    if args.stats_images is None:
        args.stats_images = 200 if args.quick else 1000
    if args.stats_images < 1:
        parser.error('--stats-images must be at least 1')
    return args


def patch_for(mode):
    """Set the process up as cinder-volume would, before any import.

    cinder's own ``monkey_patch.patch()`` is used rather than a bare
    ``eventlet.monkey_patch()``: the in-tree driver only wraps librados
    calls in tpool when cinder recorded that it patched.
    """
    if mode == 'threads':
        os.environ['OS_CINDER_DISABLE_EVENTLET_PATCHING'] = '1'
    else:
        os.environ.pop('OS_CINDER_DISABLE_EVENTLET_PATCHING', None)
    from cinder import monkey_patch
    monkey_patch.patch()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # This tree's cinder_ext first: the env may hold another copy (an
    # editable install of a different checkout), and that is not what the
    # reader of the figures expects to be measured.
    sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), REPO]
    if args.worker:
        patch_for(args.worker)
        import workloads
        return workloads.run_worker(args)
    import runner
    return runner.run(args, os.path.abspath(__file__))


if __name__ == '__main__':
    sys.exit(main())
