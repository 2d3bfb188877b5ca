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

"""Side-by-side API benchmark: cinder-ext vs the in-tree driver.

Both drivers serve one local stack at once (``stack-up.sh --driver
both``: backends ``ceph-ext`` and ``ceph-intree`` on pool ``volumes``, one
volume type each), so every figure of a run comes from the same services,
database and cluster. Each round runs one volume's lifecycle through the
Cinder API for each driver, alternating which driver goes first, and times
each call from the request until Cinder shows the result (status polled
every ``POLL_S``). Usage (through ``tools/bench/apibench.sh`` or ``tox -e
apibench``, which bring the stack up first)::

    apibench.py [--rounds N] [--burst N] [--mode eventlet|threads|both]
                [--out-dir DIR]

Writes ``api.txt`` (the tables) and ``api-<mode>.json`` (the samples, for
``tools/bench/plots.py``) into ``--out-dir``.
"""

import argparse
import json
import os
import sys
import time

import apicalls

DRIVERS = (('in-tree', 'ceph-intree'), ('ours', 'ceph-ext'))
MODES = ('eventlet', 'threads')
# Ours may be at most this much slower than the in-tree driver (noise).
NOISE = 1.05
# What the last round gets instead of a next round, before its leak check.
LAST_ROUND_GRACE_S = 5


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=8,
                        help='lifecycles per driver and mode (default 8)')
    parser.add_argument('--burst', type=int, default=32,
                        help='volumes per concurrent create/delete burst '
                             '(default 32; 0 skips the bursts)')
    parser.add_argument('--bursts', type=int, default=10,
                        help='bursts per driver and mode (default 10: a '
                             'burst varies by 20%% from one to the next)')
    parser.add_argument('--mode', choices=MODES + ('both',), default='both')
    parser.add_argument('--out-dir',
                        default=os.path.join(apicalls.REPO, 'doc', 'source',
                                             'benchmarks'))
    parser.add_argument('--no-stack', action='store_true',
                        help='use the stack as it is (it must run --driver '
                             'both in the right mode)')
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')
    return args


def stack_up(mode):
    apicalls.stack_up(['--driver', 'both'] +
                      (['--threads'] if mode == 'threads' else []))


def run_mode(cloud, args, mode):
    """Samples, failed calls and per-driver leaks of one mode."""
    samples = {}
    errors = []
    leaks = {}
    previous = set()  # volume ids of the round before

    def count_leaks(idents):
        for impl, names in apicalls.round_leaks(cloud, idents).items():
            leaks.setdefault(impl, []).extend(names)

    for number in range(args.rounds):
        # Alternate who goes first: a warm cache or a busy OSD must not
        # always favour the same driver.
        order = DRIVERS if number % 2 else DRIVERS[::-1]
        before = set(cloud.owner)
        for impl, vtype in order:
            apicalls.lifecycle(cloud, impl, vtype, samples, errors)
        # A round's leftovers are looked for one round later: each
        # driver's own background work (our parent releases) has had a
        # whole round to end, and nothing has cleaned up yet (our trash
        # purge would also finish the in-tree driver's leftovers in this
        # shared pool, but runs only every minute).
        count_leaks(previous)
        previous = set(cloud.owner) - before
        apicalls.log('%s: round %d/%d done', mode, number + 1, args.rounds)
    time.sleep(LAST_ROUND_GRACE_S)
    count_leaks(previous)
    for number in range(args.bursts if args.burst else 0):
        order = DRIVERS if number % 2 else DRIVERS[::-1]
        for impl, vtype in order:
            apicalls.burst(cloud, impl, vtype, args.burst, samples, errors)
    return samples, errors, leaks


def summarize(mode, samples):
    return [(op, theirs, ours, ratio, ratio <= NOISE, count)
            for op, theirs, ours, ratio, count in apicalls.side_by_side(
                samples, apicalls.OPS + apicalls.BURST_OPS)]


def render(mode, rows, errors, leaks, leftovers):
    lines = ['API benchmark, cinder-volume in %s mode (median ms; ratio = '
             'ours / in-tree, target <= %.2f)' % (mode, NOISE), '',
             '  %-30s %10s %10s %8s  %s' % ('operation', 'in-tree', 'ours',
                                            'ratio', 'n')]
    for op, theirs, ours, ratio, ok, count in rows:
        lines.append('  %-30s %10.1f %10.1f %7.2fx%s %d' % (
            op, theirs, ours, ratio, ' ' if ok else '!', count))
    met = all(row[4] for row in rows)
    lines.append('')
    lines.append('  target (no operation above %.2fx in-tree): %s' % (
        NOISE, 'met' if met else 'NOT MET (marked !)'))
    lines.append('  failed calls: %d%s' % (len(errors), ''.join(
        '\n    ' + e for e in errors[:10])))
    for impl, _vtype in DRIVERS:
        names = leaks.get(impl, [])
        lines.append('  left by %s after its lifecycles: %d%s' % (
            impl, len(names), ''.join('\n    ' + n for n in names[:4])))
    lines.append('  left at the end: %s' % (
        ', '.join(leftovers) or 'nothing'))
    # The in-tree driver's leftovers are its known leak, not a failure.
    ours_left = [item for item in leftovers if not item.endswith('(in-tree)')]
    return lines, met and not errors and not leaks.get('ours') and \
        not ours_left


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    modes = MODES if args.mode == 'both' else (args.mode,)
    os.makedirs(args.out_dir, exist_ok=True)
    report = [apicalls.machine_line()]
    ok = True
    for mode in modes:
        if not args.no_stack:
            stack_up(mode)
        cloud = apicalls.Cloud()
        quota = cloud.unlimited_quota()
        started = time.monotonic()
        try:
            samples, errors, leaks = run_mode(cloud, args, mode)
            leftovers = apicalls.leftovers(cloud)
        finally:
            cloud.set_quota(quota)
        lines, mode_ok = render(mode, summarize(mode, samples), errors,
                                leaks, leftovers)
        lines.append('  wall time: %.0f s' % (time.monotonic() - started))
        ok = ok and mode_ok
        report += [''] + lines
        print('\n'.join(lines), flush=True)
        with open(os.path.join(args.out_dir, 'api-%s.json' % mode),
                  'w') as out:
            json.dump({'title': 'Cinder API, cinder-volume in %s mode'
                                % mode,
                       'subtitle': '%d rounds, %s' % (
                           args.rounds, apicalls.machine_line()),
                       'ops': samples}, out, indent=1, sort_keys=True)
    with open(os.path.join(args.out_dir, 'api.txt'), 'w') as out:
        out.write('\n'.join(report) + '\n')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
