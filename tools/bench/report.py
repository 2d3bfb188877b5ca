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

import operator
import statistics

LATENCY_OPS = (
    'create_volume', 'create_snapshot', 'revert_to_snapshot',
    'create_volume_from_snapshot', 'create_cloned_volume', 'extend_volume',
    'initialize_connection', 'get_volume_stats', 'delete_snapshot',
    'delete_volume', 'delete_volume (clone)')
# Most ours may take, as a multiple of raw librbd's median (in both modes).
# get_volume_stats has its own target (section 3).
RAW_TARGETS = dict.fromkeys(LATENCY_OPS, 1.2)
RAW_TARGETS.update({'delete_volume': 1.1, 'delete_volume (clone)': 1.1})
del RAW_TARGETS['get_volume_stats']
# Ours must not be slower than the in-tree driver at anything (5% for
# noise, as in apibench: some operations are the same librbd calls).
INTREE_RATIO = 1.05
# 64 concurrent create+delete: ours at least this share of raw's ops/s.
BURST_RAW_RATIO = 0.9
ATTACH_MS = 2.0
STATS_MS = 5.0
STATS_TARGET_IMAGES = 10000
STATS_ROWS = ('ours', 'ours, reconcile running', 'ours reconcile', 'in-tree',
              'raw')
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


def _ratio_cell(value, limit, over):
    """``1.05x``, marked ``!`` when ``over(value, limit)`` (off target)."""
    if value is None:
        return '-'
    return fmt_ratio(value) + ('!' if over(value, limit) else '')


def _latency_row(op, ours, intree, raw, targets, mode):
    limit = RAW_TARGETS.get(op)
    ours_raw = ratio(median(ours), median(raw))
    ours_intree = ratio(median(ours), median(intree))
    if limit and ours_raw is not None:
        targets.append(('%s, %s: ours <= %.1fx raw' % (op, mode, limit),
                        fmt_ratio(ours_raw), ours_raw <= limit))
    if op == 'initialize_connection' and ours:
        targets.append(('initialize_connection, %s: ours median < %.0f ms'
                        % (mode, ATTACH_MS), fmt_ms(median(ours)) + ' ms',
                        median(ours) < ATTACH_MS))
    return [op, fmt_pair(ours), fmt_pair(intree), fmt_pair(raw),
            _ratio_cell(ours_raw, limit or float('inf'), operator.gt),
            '<=%.1fx' % limit if limit else '',
            _ratio_cell(ours_intree, INTREE_RATIO, operator.gt)]


def _latency_rows(samples, mode):
    rows, targets = [], []
    for op in LATENCY_OPS:
        ours, intree, raw = (samples.get(n, {}).get(op)
                             for n in ('ours', 'in-tree', 'raw'))
        rows.append(_latency_row(op, ours, intree, raw, targets, mode))
    worst = max(((ratio(median(samples.get('ours', {}).get(op)),
                        median(samples.get('in-tree', {}).get(op))), op)
                 for op in LATENCY_OPS), key=lambda item: item[0] or 0)
    if worst[0] is not None:
        targets.append(('every operation, %s: ours <= %.2fx in-tree'
                        % (mode, INTREE_RATIO),
                        '%s (%s)' % (fmt_ratio(worst[0]), worst[1]),
                        worst[0] <= INTREE_RATIO))
    return rows, targets


def print_latency(result, mode):
    print('1. Per-operation latency, %s mode: %d rounds after 1 warm-up, '
          'ms median / p95' % (mode, result['rounds']))
    print('   (ours, in-tree and raw interleaved step by step, order '
          'rotated every round); "!" = off target')
    rows, targets = _latency_rows(result['samples'], mode)
    table(['operation', 'ours', 'in-tree', 'raw', 'ours/raw', 'target',
           'ours/in-tree'], rows)
    print('   raw = librbd on one persistent connection: create = '
          'RBD.create; snapshot = create_snap+protect_snap;')
    print('   revert = Image.rollback_to_snap; from snapshot = RBD.clone; '
          'cloned volume = create_snap+protect_snap+')
    print('   RBD.clone; extend = Image.resize; delete = RBD.remove; '
          'delete_snapshot = unprotect_snap+remove_snap;')
    print('   initialize_connection = mon_command "mon dump"; stats = '
          'mon_command df + osd pool get-quota.')
    print('   "delete_volume (clone)" deletes the volume made from the '
          'snapshot. Ratios compare medians.')
    print('   Raw does less than a driver must on delete: ours also reads '
          'the size, snapshot count and parent from')
    print('   the image header first (4 cls_rbd round trips, 6 for a '
          'clone), to release a Cinder clone\'s parent and')
    print('   to keep its capacity figures.')
    if result.get('handoff_ms') is not None:
        print('   Under eventlet both drivers hand each librbd call to a '
              'tpool thread (%s ms for a no-op here,' %
              fmt_ms(result['handoff_ms']))
        print('   median); raw calls run on the hub, with no hand-off.')
    if result['errors']:
        print('   FAILED steps (count): %s' % ', '.join(
            '%s x%d' % item for item in sorted(result['errors'].items())))
    print('')
    return targets


def _vs_raw(bursts, raw_bursts):
    """Median over repetitions of raw wall / this wall (ops/s ratio).

    Bursts of one repetition run back to back, so pairing them cancels
    the drift of a shared cluster over the run.
    """
    if not bursts or not raw_bursts:
        return None
    return median([r['wall_s'] / b['wall_s']
                   for b, r in zip(bursts, raw_bursts)])


def _burst_row(mode, name, bursts, raw_bursts):
    walls = [b['wall_s'] for b in bursts]
    width = bursts[0]['width']
    wall = median(walls)
    late = [x for b in bursts for x in b['lateness_ms']]
    limit = BURST_RAW_RATIO if name == 'ours' else 0.0
    return [mode, name, '%.2f' % wall, '%.0f' % (2 * width / wall),
            _ratio_cell(_vs_raw(bursts, raw_bursts), limit, operator.lt),
            fmt_pair([x for b in bursts for x in b['create_ms']]),
            fmt_pair([x for b in bursts for x in b['delete_ms']]),
            str(sum(b['errors'] for b in bursts)),
            '%s / %s' % (fmt_ms(max(late) if late else None),
                         fmt_ms(percentile(late, 99)))]


def _burst_targets(mode, conc):
    targets = []
    ours = conc['bursts'].get('ours')
    rate_ratio = _vs_raw(ours, conc['bursts'].get('raw'))
    if rate_ratio is not None:
        targets.append(('64 concurrent create+delete, %s: ours >= %.1fx raw '
                        'ops/s' % (mode, BURST_RAW_RATIO),
                        fmt_ratio(rate_ratio), rate_ratio >= BURST_RAW_RATIO))
    if mode == 'eventlet' and ours:
        late = max(x for b in ours for x in b['lateness_ms'])
        targets.append(('no eventlet hub stall > %.0f ms during 64 '
                        'concurrent ops (ours)' % STALL_MS,
                        fmt_ms(late) + ' ms', late <= STALL_MS))
    return targets


def print_concurrency(results):
    rows, targets, idle, count = [], [], [], 0
    for mode in ('eventlet', 'threads'):
        conc = results.get(mode, {}).get('concurrency')
        if not conc:
            continue
        idle.append((mode, conc['idle_lateness_ms']))
        raw_bursts = conc['bursts'].get('raw')
        for name in ('ours', 'in-tree', 'raw'):
            bursts = conc['bursts'].get(name)
            if bursts:
                count = max(count, len(bursts))
                rows.append(_burst_row(mode, name, bursts, raw_bursts))
        targets += _burst_targets(mode, conc)
    if not rows:
        return targets
    print('2. 64 concurrent create+delete pairs (1 GiB), %d burst(s) per '
          'implementation and mode; wall = median burst' % count)
    table(['mode', 'impl', 'wall s', 'ops/s', 'vs raw', 'create ms p50/p95',
           'delete ms p50/p95', 'errors', 'wake-up late max/p99 ms'], rows)
    print('   ops/s = 128 operations (64 creates + 64 deletes) / wall; '
          '"vs raw" = median over repetitions of raw')
    print('   wall / wall (bursts of a repetition run back to back), "!" '
          'when ours is under %.1fx.' % BURST_RAW_RATIO)
    print('   raw = RBD.create + RBD.remove, each handed to a tpool thread '
          'under eventlet like')
    print('   the drivers\' calls. Wake-up lateness: a 5 ms sleeper (green '
          'thread under eventlet = hub stall;')
    print('   native thread otherwise = GIL/CPU contention). Eventlet: '
          'GreenPool(64), tpool of 20 threads (cinder')
    print('   default); threads: ThreadPoolExecutor(64).')
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
    for name in STATS_ROWS:
        values = result['samples'].get(name, [])
        provisioned = result['provisioned_gb'].get(name)
        rows.append([name, str(len(values)), fmt_ms(median(values)),
                     fmt_ms(percentile(values, 99)), fmt_ms(max(values)
                                                            if values
                                                            else None),
                     '-' if provisioned is None else '%g' % provisioned])
    table(['driver', 'calls', 'median ms', 'p99 ms', 'max ms',
           'provisioned'], rows)
    print('   ours answers from memory; "ours reconcile" is what its '
          'background task runs every rbd_stats_max_age')
    print('   (df + osd pool get-quota + RBD.pool_stats_get), timed '
          'directly; "ours, reconcile running": stats calls')
    print('   while reconciles run back to back beside them. raw = df + '
          'osd pool get-quota + RBD.pool_stats_get;')
    print('   in-tree opens every image. provisioned: GiB reported (raw: '
          'exact GiB).')
    print('   Images created in %.1f s, removed in %.1f s (16 in parallel).'
          % (result['setup_s'], result['teardown_s']))
    if result['create_failed'] or result['remove_failed']:
        print('   FAILED: %d image creates, %d image removes'
              % (result['create_failed'], len(result['remove_failed'])))
    print('')
    ours = result['samples'].get('ours', []) + result['samples'].get(
        'ours, reconcile running', [])
    if not ours:
        return []
    worst = percentile(ours, 99)
    label = 'stats on %d-image shared pool, %s: ours p99 < %.0f ms' % (
        count, mode, STATS_MS)
    if count < STATS_TARGET_IMAGES:
        label += ' (target is for %d+)' % STATS_TARGET_IMAGES
    return [(label, fmt_ms(worst) + ' ms', worst < STATS_MS)]


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
