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

"""Parent side of bench.py: start the workers, then check and report.

The parent never imports cinder or eventlet: it only starts workers, reads
their JSON, looks at the pools with plain rados/rbd calls and prints.
"""

import contextlib
import importlib.metadata
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time

import rados
import rbd

import cleanup
import outputs
import report

POOLS = ('volumes', 'volumes2')
# Hard stop per worker (s): the sweep then removes what it left.
WORKER_TIMEOUT_S = {False: 360, True: 150}
# Added per image of the stats pool (create, in-tree opens, remove).
STATS_S_PER_IMAGE = 0.1
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _command(*argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return 'unavailable (%s)' % error
    return (out.stdout or out.stderr).strip()


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return 'not installed'


def _cpu_model():
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def ensure_cluster(args):
    """Start the test cluster with tools/ceph/ceph-up.sh unless it is up."""
    status = os.path.join(REPO, 'tools', 'ceph', 'ceph-status.sh')
    if subprocess.run(['bash', status]).returncode == 0:
        return
    sys.stderr.write('Ceph test cluster not running: starting it\n')
    subprocess.run(['bash', os.path.join(REPO, 'tools', 'ceph',
                                         'ceph-up.sh')], check=True)


def _cluster_facts(cluster):
    cmd = json.dumps({'prefix': 'osd dump', 'format': 'json'})
    ret, out, _err = cluster.mon_command(cmd, b'')
    osdmap = json.loads(out) if ret == 0 else {}
    return {
        'require_min_compat_client': osdmap.get('require_min_compat_client',
                                                'unknown'),
        'rbd_default_features': cluster.conf_get('rbd_default_features'),
    }


def machine_info(args):
    cluster = connect(args)
    try:
        facts = _cluster_facts(cluster)
    finally:
        cluster.shutdown()
    return {
        'nproc': len(os.sched_getaffinity(0)),
        'cpu': _cpu_model(),
        'loadavg': '%.2f %.2f %.2f' % os.getloadavg(),
        'python': platform.python_version(),
        'ceph': _command('ceph', '--version'),
        'librbd': '.'.join(str(n) for n in rbd.RBD().version()),
        'cinder': _version('cinder'),
        # What is measured: this tree (bench.py puts it first on the path).
        'cinder-ext': '%s (%s)' % (REPO, _command(
            'git', '-C', REPO, 'describe', '--always', '--dirty')),
        'eventlet': _version('eventlet'),
        'cluster': facts,
    }


def connect(args):
    cluster = rados.Rados(rados_id=args.user, conffile=args.ceph_conf)
    cluster.connect(timeout=30)
    return cluster


def inventory(args, token):
    """Per pool: images and trash entries, and which carry ``token``."""
    cluster = connect(args)
    found = {}
    try:
        for pool in POOLS:
            with cluster.open_ioctx(pool) as ioctx:
                names = set(rbd.RBD().list(ioctx))
                trash = {e['name'] for e in rbd.RBD().trash_list(ioctx)}
            found[pool] = {
                'images': names, 'trash': trash,
                'ours': sorted(n for n in names | trash if token in n)}
    finally:
        cluster.shutdown()
    return found


def _purge_pool(ioctx, token):
    """Remove every image and trash entry carrying ``token``."""
    removed = []
    for entry in rbd.RBD().trash_list(ioctx):
        if token in entry['name']:
            rbd.RBD().trash_remove(ioctx, entry['id'], force=True)
            removed.append(entry['name'] + ' (trash)')
    # Clones must go before their parents: repeat while that makes progress.
    pending = [n for n in rbd.RBD().list(ioctx) if token in n]
    while pending:
        progress = []
        for name in pending:
            try:
                cleanup.purge_image(ioctx, name)
                progress.append(name)
            except (rbd.ImageBusy, rbd.ImageHasSnapshots):
                continue
        if not progress:
            break
        removed.extend(progress)
        pending = [n for n in pending if n not in progress]
    return removed


def sweep(args, token, baseline):
    """Remove what a failed worker left, then verify the pools are clean.

    Returns (removed_by_sweep, still_left, new_foreign): the last lists
    images that appeared during the run without the token (someone else's,
    or a naming bug of ours), which are reported but not touched.
    """
    before = inventory(args, token)
    removed = []
    if any(before[pool]['ours'] for pool in POOLS):
        cluster = connect(args)
        try:
            for pool in POOLS:
                if before[pool]['ours']:
                    with cluster.open_ioctx(pool) as ioctx:
                        removed += ['%s/%s' % (pool, n)
                                    for n in _purge_pool(ioctx, token)]
        finally:
            cluster.shutdown()
    after = inventory(args, token)
    left = ['%s/%s' % (p, n) for p in POOLS for n in after[p]['ours']]
    foreign = ['%s/%s' % (p, n) for p in POOLS
               for n in sorted((after[p]['images'] | after[p]['trash']) -
                               (baseline[p]['images'] | baseline[p]['trash']))
               if token not in n]
    return removed, left, foreign


def worker_plan(mode, stats_only=False):
    """[(worker mode, parts)]: stats run once, in the first."""
    if stats_only:
        modes = ('eventlet', 'threads') if mode == 'both' else (mode,)
        return [(each, 'stats') for each in modes]
    if mode == 'both':
        return [('eventlet', 'latency,concurrency,stats'),
                ('threads', 'latency,concurrency')]
    return [(mode, 'latency,concurrency,stats')]


def spawn(script, args, mode, parts, token):
    env = dict(os.environ)
    # cinder and oslo emit hundreds of DeprecationWarnings per run (tox
    # turns them on); they would bury the progress lines.
    env['PYTHONWARNINGS'] = 'ignore::DeprecationWarning'
    env.pop('OS_CINDER_DISABLE_EVENTLET_PATCHING', None)
    if mode == 'threads':
        env['OS_CINDER_DISABLE_EVENTLET_PATCHING'] = '1'
    fd, out_path = tempfile.mkstemp(prefix='cinder-ext-bench-',
                                    suffix='.json')
    os.close(fd)
    argv = [sys.executable, script, '--worker', mode, '--parts', parts,
            '--token', token, '--out', out_path, '--rounds',
            str(args.rounds), '--ceph-conf', args.ceph_conf,
            '--user', args.user, '--stats-images', str(args.stats_images)
            ] + (['--quick'] if args.quick else [])
    timeout = WORKER_TIMEOUT_S[args.quick]
    if 'stats' in parts:
        timeout += args.stats_images * STATS_S_PER_IMAGE
    try:
        proc = subprocess.run(argv, env=env, stdout=sys.stderr,
                              timeout=timeout)
        with open(out_path) as out:
            text = out.read()
        result = json.loads(text) if text else {}
        if proc.returncode and 'fatal' not in result:
            result['fatal'] = 'worker exited with %d' % proc.returncode
        return result
    except subprocess.TimeoutExpired:
        return {'fatal': 'worker timed out after %d s' % timeout}
    finally:
        os.unlink(out_path)


def run(args, script):
    """Run and print everything; keep a copy in ``args.out_dir``."""
    tee = outputs.Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        code, results, info = _run(args, script)
    name = 'driver-stats.txt' if args.stats_only else outputs.TEXT_FILE
    paths = outputs.write(args.out_dir, results, info, tee.text(), name)
    sys.stderr.write('Wrote %s\n' % ', '.join(paths))
    return code


def _run(args, script):
    started = time.monotonic()
    ensure_cluster(args)
    info = machine_info(args)
    report.print_header(info, args)
    token = secrets.token_hex(4)
    baseline = inventory(args, token)
    results = {}
    try:
        for mode, parts in worker_plan(args.mode, args.stats_only):
            sys.stderr.write('--- %s worker (%s), token %s\n'
                             % (mode, parts, token))
            results[mode] = spawn(script, args, mode, parts, token)
    except KeyboardInterrupt:
        # The workers got the SIGINT too; still clean up and report.
        results.setdefault('interrupted', {'fatal': 'interrupted'})
    removed, left, foreign = sweep(args, token, baseline)
    info['loadavg_end'] = '%.2f %.2f %.2f' % os.getloadavg()
    failed = report.print_results(results, info)
    report.print_cleanup(POOLS, token, removed, left, foreign)
    print('Total wall time: %.0f s' % (time.monotonic() - started))
    return 1 if (failed or left) else 0, results, info
