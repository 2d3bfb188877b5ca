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

"""Latency distributions of a benchmark run as one PNG.

Usage::

    python tools/bench/plots.py SAMPLES.json OUT.png
    tox -e plots        # every doc/source/benchmarks/*.json to *.png

SAMPLES.json (written by tools/bench/bench.py and by the API benchmark)::

    {"title": str, "subtitle": str,
     "ops": {op_name: {impl_name: [latency_ms, ...]}}}

One panel per operation, one box per implementation present (any subset
of "ours", "in-tree", "raw", or other names), every sample drawn as a
point over its box and the median written above it. An implementation
keeps its colour in every panel and every picture. A panel whose samples
span more than :data:`LOG_SPAN` is drawn on a log scale.

Needs only matplotlib (the Agg backend: no display).
"""

import argparse
import json
import math
import random
import sys

import matplotlib
matplotlib.use('Agg')
from matplotlib import pyplot  # noqa: E402 (after choosing the backend)
from matplotlib import ticker  # noqa: E402

# Fixed colours, so "ours" is the same blue in every picture.
IMPL_COLOURS = {'ours': '#1f77b4', 'in-tree': '#ff7f0e', 'raw': '#7f7f7f'}
IMPL_ORDER = ('ours', 'in-tree', 'raw')
# Colours for other implementation names, given out in name order.
EXTRA_COLOURS = ('#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf',
                 '#bcbd22', '#d62728')
# max/min of a panel's samples above which its axis is logarithmic.
LOG_SPAN = 20.0
COLUMNS = 3


def load(path: str) -> dict:
    """Read and check a samples file; raise ValueError when malformed."""
    with open(path) as source:
        data = json.load(source)
    if not isinstance(data, dict) or not isinstance(data.get('ops'), dict):
        raise ValueError('%s: expected an object with an "ops" object'
                         % path)
    for op, impls in data['ops'].items():
        if not isinstance(impls, dict):
            raise ValueError('%s: ops[%r] must map implementation names to '
                             'lists of milliseconds' % (path, op))
        for impl, values in impls.items():
            if not isinstance(values, list) or not all(
                    isinstance(v, (int, float)) for v in values):
                raise ValueError('%s: ops[%r][%r] must be a list of numbers'
                                 % (path, op, impl))
    return data


def impl_names(ops: dict) -> list:
    """Every implementation with samples: known ones first, then by name."""
    present = {impl for impls in ops.values()
               for impl, values in impls.items() if values}
    known = [name for name in IMPL_ORDER if name in present]
    return known + sorted(present - set(known))


def colours(names: list) -> dict:
    extra = [name for name in sorted(names) if name not in IMPL_COLOURS]
    found = {name: EXTRA_COLOURS[i % len(EXTRA_COLOURS)]
             for i, name in enumerate(extra)}
    found.update((name, IMPL_COLOURS[name]) for name in names
                 if name in IMPL_COLOURS)
    return found


def _median(values: list) -> float:
    data = sorted(values)
    middle = len(data) // 2
    if len(data) % 2:
        return data[middle]
    return (data[middle - 1] + data[middle]) / 2.0


def _fmt_ms(value: float) -> str:
    if value >= 100:
        return '%.0f' % value
    return '%.1f' % value if value >= 10 else '%.2f' % value


def _use_log(series: list) -> bool:
    values = [v for _name, vals in series for v in vals]
    low, high = min(values), max(values)
    return low > 0 and high / low > LOG_SPAN


def draw_panel(axes, op: str, series: list, palette: dict,
               jitter: random.Random) -> None:
    """Box plot of ``series`` [(impl, samples)], points and medians."""
    positions = list(range(1, len(series) + 1))
    boxes = axes.boxplot([vals for _name, vals in series],
                         positions=positions, widths=0.55,
                         showfliers=False, patch_artist=True,
                         medianprops={'color': 'black', 'linewidth': 2})
    for box, (name, _vals) in zip(boxes['boxes'], series):
        box.set_facecolor(palette[name])
        box.set_alpha(0.35)
    for pos, (name, vals) in zip(positions, series):
        xs = [pos + jitter.uniform(-0.15, 0.15) for _ in vals]
        dense = len(vals) > 100  # bursts: hundreds of points per box
        axes.scatter(xs, vals, s=4 if dense else 9, color=palette[name],
                     alpha=0.4 if dense else 0.8, zorder=3, linewidths=0)
    if _use_log(series):
        axes.set_yscale('log')
        # 1, 10, 100 rather than 10^0, 10^1, 10^2: these are milliseconds.
        axes.yaxis.set_major_formatter(
            ticker.FuncFormatter(lambda value, _pos: '%g' % value))
    for pos, (_name, vals) in zip(positions, series):
        # Right of the box, level with its median line.
        axes.annotate(_fmt_ms(_median(vals)), (pos + 0.3, _median(vals)),
                      ha='left', va='center', fontsize=7,
                      fontweight='bold', zorder=4)
    axes.set_xlim(0.5, len(series) + 0.75)
    axes.set_xticks(positions)
    axes.set_xticklabels([name for name, _vals in series], fontsize=8)
    axes.set_title(op, fontsize=9)
    axes.set_ylabel('ms', fontsize=8)
    axes.tick_params(axis='y', labelsize=7)
    axes.grid(axis='y', which='major', alpha=0.3)


def draw(data: dict, out_path: str) -> int:
    """Write the picture of ``data`` to ``out_path``; returns the panels."""
    ops = [(op, impls) for op, impls in data['ops'].items()
           if any(impls.values())]
    if not ops:
        raise ValueError('no operation has samples')
    names = impl_names(dict(ops))
    palette = colours(names)
    columns = min(COLUMNS, len(ops))
    rows = int(math.ceil(len(ops) / float(columns)))
    figure, grid = pyplot.subplots(rows, columns, squeeze=False,
                                   figsize=(3.6 * columns, 2.9 * rows + 0.7))
    jitter = random.Random(0)  # same picture for the same samples
    for axes, (op, impls) in zip(grid.flat, ops):
        series = [(name, impls[name]) for name in names if impls.get(name)]
        draw_panel(axes, op, series, palette, jitter)
    for axes in list(grid.flat)[len(ops):]:
        axes.set_visible(False)
    title = data.get('title') or 'Latency per operation'
    figure.suptitle(title, fontsize=12, fontweight='bold')
    subtitle = data.get('subtitle') or ''
    # Title and subtitle take the top 0.7 inch; panels the rest.
    inch = 1.0 / figure.get_figheight()
    if subtitle:
        figure.text(0.5, 1.0 - 0.45 * inch, subtitle, ha='center', va='top',
                    fontsize=8, color='#444444')
    figure.tight_layout(rect=(0, 0, 1, 1.0 - 0.7 * inch))
    figure.savefig(out_path, dpi=110)
    pyplot.close(figure)
    return len(ops)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description='Draw per-operation latency distributions (box plot, '
                    'samples and medians, ms) from a benchmark samples '
                    'JSON file.')
    parser.add_argument('samples', help='SAMPLES.json')
    parser.add_argument('out', help='PNG file to write')
    args = parser.parse_args(argv)
    try:
        panels = draw(load(args.samples), args.out)
    except (OSError, ValueError) as error:
        sys.stderr.write('plots.py: %s\n' % error)
        return 1
    print('%s: %d panel(s) -> %s' % (args.samples, panels, args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
