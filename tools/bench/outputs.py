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

"""What bench.py leaves in ``--out-dir``: its tables and its samples.

* ``driver.txt``: everything the run printed on stdout.
* ``driver-<mode>.json``: per-mode latency samples in the format that
  ``tools/bench/plots.py`` draws (shared with the API benchmark)::

      {"title": str, "subtitle": str,
       "ops": {op_name: {impl_name: [latency_ms, ...]}}}
"""

import io
import json
import os
import time

import report

TEXT_FILE = 'driver.txt'
SAMPLES_FILE = 'driver-%s.json'
IMPLS = ('ours', 'in-tree', 'raw')


class Tee(io.TextIOBase):
    """Writes through to ``stream`` and keeps a copy of the text."""

    def __init__(self, stream):
        super(Tee, self).__init__()
        self._stream = stream
        self._copy = io.StringIO()

    def write(self, text):
        self._copy.write(text)
        return self._stream.write(text)

    def flush(self):
        self._stream.flush()

    def text(self):
        return self._copy.getvalue()


def _short_ceph(version):
    # 'ceph version 16.2.15 (618f...) pacific (stable)' -> 'Ceph 16.2.15'
    words = version.split()
    return 'Ceph ' + words[2] if len(words) > 2 else version


def plot_data(result, mode, info):
    """The samples of one worker as the plots.py JSON; None if none."""
    samples = result.get('latency', {}).get('samples', {})
    ops = {}
    for op in report.LATENCY_OPS:
        found = {name: samples[name][op] for name in IMPLS
                 if samples.get(name, {}).get(op)}
        if found:
            ops[op] = found
    bursts = result.get('concurrency', {}).get('bursts', {})
    for key, op in (('create_ms', 'create_volume'),
                    ('delete_ms', 'delete_volume')):
        found = {name: [x for burst in bursts[name] for x in burst[key]]
                 for name in IMPLS if bursts.get(name)}
        if any(found.values()):
            ops['%s, 64 at once' % op] = found
    if not ops:
        return None
    return {
        'title': 'cinder-ext RBD driver vs in-tree driver vs raw librbd, '
                 '%s mode' % mode,
        'subtitle': '%d rounds (1 GiB volumes) and 64-wide create+delete '
                    'bursts; %s, librbd %s, Cinder %s; %d CPUs; %s'
                    % (result.get('latency', {}).get('rounds', 0),
                       _short_ceph(info['ceph']), info['librbd'],
                       info['cinder'], info['nproc'],
                       time.strftime('%Y-%m-%d')),
        'ops': ops,
    }


def write(out_dir, results, info, text, text_file=TEXT_FILE):
    """Write the text and one samples file per mode; return the paths."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for mode, result in results.items():
        data = plot_data(result, mode, info)
        if data is None:
            continue
        path = os.path.join(out_dir, SAMPLES_FILE % mode)
        with open(path, 'w') as out:
            json.dump(data, out, indent=1)  # op order = panel order
            out.write('\n')
        written.append(path)
    path = os.path.join(out_dir, text_file)
    with open(path, 'w') as out:
        out.write(text)
    written.append(path)
    return written
