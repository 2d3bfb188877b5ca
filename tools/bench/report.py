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

"""Plain-text tables and target checks for bench.py's results."""

import statistics

LATENCY_OPS = (
    'create_volume', 'create_snapshot', 'create_volume_from_snapshot',
    'create_cloned_volume', 'extend_volume', 'initialize_connection',
    'get_volume_stats', 'delete_snapshot', 'delete_volume',
    'delete_volume (clone)')
# Operations judged against raw librbd (target: ours within 1.2x).
CORE_OPS = ('create_volume', 'create_snapshot', 'create_volume_from_snapshot',
            'create_cloned_volume', 'extend_volume', 'delete_snapshot',
            'delete_volume')
CORE_RATIO = 1.2
ATTACH_MS = 2.0
STATS_MS = 100.0
STALL_MS = 20.0


def percentile(values, q):
    """Linear-interpolated percentile (q in 0..100), None when empty."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values):
    return statistics.median(values) if values else None


def fmt_ms(value):
    if value is None:
        return '-'
    return '%.1f' % value if value >= 10 else '%.2f' % value


def fmt_pair(values):
    if not values:
        return '-'
    return '%s / %s' % (fmt_ms(median(values)), fmt_ms(percentile(values,
                                                                  95)))


def ratio(num, den):
    if num is None or not den:
        return None
    return num / den


def fmt_ratio(value):
    return '-' if value is None else '%.2fx' % value


def verdict(ok):
    return 'met' if ok else 'NOT MET'


def table(headers, rows, indent='  '):
    """Left-aligned first column, right-aligned others; '-' rule below."""
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for number, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append(indent + '  '.join(parts).rstrip())
        if number == 0:
            lines.append(indent + '  '.join('-' * w for w in widths))
    print('\n'.join(lines))


def print_header(info, args):
    facts = info['cluster']
    clone_v = 1 if facts['require_min_compat_client'] in (
        'jewel', 'kraken', 'luminous') else 2
    print('cinder-ext RBD driver benchmark')
    print('===============================')
    print('Machine : %d CPUs (%s), load average %s at start'
          % (info['nproc'], info['cpu'], info['loadavg']))
    print('Python  : %s, eventlet %s' % (info['python'], info['eventlet']))
    print('Ceph    : %s' % info['ceph'])
    print('librbd  : %s' % info['librbd'])
    print('Cinder  : %s (in-tree RBDDriver); cinder-ext %s'
          % (info['cinder'], info['cinder-ext']))
    print('Cluster : %s, require_min_compat_client=%s (clone v%d), '
          'rbd_default_features=%s' % (args.ceph_conf,
                                       facts['require_min_compat_client'],
                                       clone_v,
                                       facts['rbd_default_features']))
    print('Run     : --mode %s, --rounds %d%s; user %s, pools volumes and '
          'volumes2, 1 GiB volumes' % (args.mode, args.rounds,
                                       ', --quick' if args.quick else '',
                                       args.user))
    print('')


def _latency_rows(samples):
    rows, targets = [], []
    for op in LATENCY_OPS:
        ours, intree, raw = (samples.get(n, {}).get(op)
                             for n in ('ours', 'in-tree', 'raw'))
        ours_raw = ratio(median(ours), median(raw))
        target = ''
        if op in CORE_OPS and ours_raw is not None:
            ok = ours_raw <= CORE_RATIO
            target = '<=%.1fx raw: %s' % (CORE_RATIO, verdict(ok))
            targets.append(('%s: ours within %.1fx of raw' % (op, CORE_RATIO),
                            fmt_ratio(ours_raw), ok))
        elif op == 'initialize_connection' and ours:
            ok = median(ours) < ATTACH_MS
            target = '<%.0f ms: %s' % (ATTACH_MS, verdict(ok))
            targets.append(('initialize_connection: ours median < %.0f ms'
                            % ATTACH_MS, fmt_ms(median(ours)) + ' ms', ok))
        rows.append([op, fmt_pair(ours), fmt_pair(intree), fmt_pair(raw),
                     fmt_ratio(ours_raw),
                     fmt_ratio(ratio(median(intree), median(ours))), target])
    return rows, targets


def print_latency(result, mode):
    print('1. Per-operation latency, %s mode: %d rounds after 1 warm-up, '
          'ms median / p95' % (mode, result['rounds']))
    print('   (ours, in-tree and raw interleaved step by step, order '
          'rotated every round)')
    rows, targets = _latency_rows(result['samples'])
    table(['operation', 'ours', 'in-tree', 'raw', 'ours/raw',
           'in-tree/ours', 'target'], rows)
    print('   raw = librbd on one persistent connection: create = '
          'RBD.create; snapshot = create_snap+protect_snap;')
    print('   from snapshot = RBD.clone; cloned volume = create_snap+'
          'protect_snap+RBD.clone; extend = Image.resize;')
    print('   delete = RBD.remove; delete_snapshot = unprotect_snap+'
          'remove_snap; initialize_connection = mon_command')
    print('   "mon dump"; stats = mon_command df + osd pool get-quota. '
          '"delete_volume (clone)" deletes the volume')
    print('   made from the snapshot (informational).')
    if result['errors']:
        print('   FAILED steps (count): %s' % ', '.join(
            '%s x%d' % item for item in sorted(result['errors'].items())))
    print('')
    return targets


def _burst_row(mode, name, bursts):
    walls = [b['wall_s'] for b in bursts]
    width = bursts[0]['width']
    wall = median(walls)
    late = [x for b in bursts for x in b['lateness_ms']]
    return [mode, name, '%.2f' % wall, '%.0f' % (2 * width / wall),
            fmt_pair([x for b in bursts for x in b['create_ms']]),
            fmt_pair([x for b in bursts for x in b['delete_ms']]),
            str(sum(b['errors'] for b in bursts)),
            '%s / %s' % (fmt_ms(max(late) if late else None),
                         fmt_ms(percentile(late, 99)))]


def print_concurrency(results):
    rows, targets, idle, count = [], [], [], 0
    for mode in ('eventlet', 'threads'):
        conc = results.get(mode, {}).get('concurrency')
        if not conc:
            continue
        idle.append((mode, conc['idle_lateness_ms']))
        for name in ('ours', 'in-tree'):
            bursts = conc['bursts'].get(name)
            if bursts:
                count = max(count, len(bursts))
                rows.append(_burst_row(mode, name, bursts))
                late = max(x for b in bursts for x in b['lateness_ms'])
                if mode == 'eventlet' and name == 'ours':
                    targets.append(('no eventlet hub stall > %.0f ms during '
                                    '64 concurrent ops (ours)' % STALL_MS,
                                    fmt_ms(late) + ' ms', late <= STALL_MS))
    if not rows:
        return targets
    print('2. 64 concurrent create+delete pairs (1 GiB), %d burst(s) per '
          'driver and mode; wall = median burst' % count)
    table(['mode', 'driver', 'wall s', 'ops/s', 'create ms p50/p95',
           'delete ms p50/p95', 'errors', 'wake-up late max/p99 ms'], rows)
    print('   ops/s = 128 operations (64 creates + 64 deletes) / wall. '
          'Wake-up lateness: a 5 ms sleeper (green thread')
    print('   under eventlet = hub stall; native thread otherwise = GIL/CPU '
          'contention). Eventlet: GreenPool(64), tpool of 20')
    print('   threads (cinder default); threads: ThreadPoolExecutor(64).')
    for mode, late in idle:
        print('   idle %s baseline (1 s, no load): max %s ms, p99 %s ms'
              % (mode, fmt_ms(max(late) if late else None),
                 fmt_ms(percentile(late, 99))))
    print('')
    return targets


def print_stats(result, mode):
    count = result['images']
    print('3. get_volume_stats(refresh=True), shared pool volumes2 holding '
          '%d x 1 MiB images (rbd_exclusive_cinder_pool=False), %s mode'
          % (count, mode))
    rows = []
    for name in ('ours', 'in-tree', 'raw'):
        values = result['samples'].get(name, [])
        provisioned = result['provisioned_gb'].get(name)
        rows.append([name, str(len(values)), fmt_ms(median(values)),
                     fmt_ms(percentile(values, 95)),
                     '-' if provisioned is None else '%g' % provisioned])
    table(['driver', 'calls', 'median ms', 'p95 ms', 'provisioned'], rows)
    print('   raw = df + osd pool get-quota + RBD.pool_stats_get; in-tree '
          'opens every image. provisioned: GiB reported')
    print('   (raw: exact GiB). Images created in %.1f s, removed in %.1f s '
          '(16 in parallel).' % (result['setup_s'], result['teardown_s']))
    if result['create_failed'] or result['remove_failed']:
        print('   FAILED: %d image creates, %d image removes'
              % (result['create_failed'], len(result['remove_failed'])))
    print('')
    ours = median(result['samples'].get('ours', []))
    if ours is None:
        return []
    label = 'stats on %d-image shared pool: ours median < %.0f ms' % (
        count, STATS_MS)
    if count < 1000:
        label += ' (--quick; target is for 1000)'
    return [(label, fmt_ms(ours) + ' ms', ours < STATS_MS)]


def _print_targets(targets):
    print('Targets')
    table(['target', 'figure', 'result'],
          [[label, figure, verdict(ok)] for label, figure, ok in targets])
    print('')


def _had_errors(result):
    """True when a worker failed or some measured operation did."""
    bursts = result.get('concurrency', {}).get('bursts', {}).values()
    stats = result.get('stats', {})
    return bool(result.get('fatal') or
                result.get('latency', {}).get('errors') or
                any(b['errors'] for runs in bursts for b in runs) or
                stats.get('create_failed') or stats.get('remove_failed'))


def print_results(results, info):
    """Print every table; True when some part failed to run."""
    targets = []
    for mode, result in results.items():
        if result.get('fatal'):
            print('!! %s worker failed: %s' % (mode, result['fatal']))
        if result.get('latency'):
            targets += print_latency(result['latency'], mode)
    targets += print_concurrency(results)
    for mode, result in results.items():
        if result.get('stats'):
            targets += print_stats(result['stats'], mode)
    failed = any(_had_errors(result) for result in results.values())
    if targets:
        _print_targets(targets)
    print('Load average at end: %s (the box is shared: high load means '
          'noisy figures)' % info['loadavg_end'])
    return failed


def print_cleanup(pools, token, removed, left, foreign):
    if removed:
        print('Cleanup: the final sweep had to remove %d leftover(s): %s'
              % (len(removed), ', '.join(removed)))
    if left:
        print('Cleanup: FAILED, still in the pools: %s' % ', '.join(left))
    else:
        print('Cleanup: verified, pools %s hold no image, snapshot or trash '
              'entry created by this run (token %s)'
              % (' and '.join(pools), token))
    if foreign:
        print('Note: images that appeared during the run without our token '
              '(not touched): %s' % ', '.join(foreign))
