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
"""Summarise a tempest subunit v2 stream.

    summary.py RUN.subunit SUMMARY.txt

Writes SUMMARY.txt: the counts, every failure with its traceback, and the
skips grouped by reason.  Prints the counts line and the failed test ids.
Exit status 0 when nothing failed, 1 otherwise.

A test class skipped in setUpClass (a service or feature is disabled) is
one "setUpClass (module.Class)" entry in the stream, so such a class counts
as one skip whatever its number of tests; the summary says how many of the
skips are whole classes.  Runs with the tempest venv's python (subunit and
testtools come with tempest).
"""

import collections
import sys

import subunit
import testtools

PASS = ('success', 'xfail')
FAIL = ('fail', 'uxsuccess')


def text(details, name):
    content = details.get(name)
    if content is None:
        return ''
    return b''.join(bytes(c) for c in content.iter_bytes()).decode(
        'utf-8', 'replace')


def read(path):
    tests = []

    def on_test(test):
        if test['status'] in PASS + FAIL + ('skip',):
            tests.append(test)

    result = testtools.StreamToDict(on_test)
    with open(path, 'rb') as f:
        stream = subunit.ByteStreamToStreamResult(f, non_subunit_name='stdout')
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()
    return tests


def duration(tests):
    starts = [t['timestamps'][0] for t in tests if t['timestamps'][0]]
    stops = [t['timestamps'][1] for t in tests if t['timestamps'][1]]
    if not starts or not stops:
        return 0.0
    return (max(stops) - min(starts)).total_seconds()


def suite(test_id):
    """tempest.api.volume, cinder_tempest_plugin.api, ... of a test id."""
    name = test_id.split('(', 1)[-1].split('[', 1)[0]
    parts = name.split('.')
    return '.'.join(parts[:3] if parts[0] == 'tempest' else parts[:2])


def main(argv):
    tests = read(argv[1])
    passed = [t for t in tests if t['status'] in PASS]
    failed = sorted((t for t in tests if t['status'] in FAIL),
                    key=lambda t: t['id'])
    skipped = [t for t in tests if t['status'] == 'skip']
    classes = sum(1 for t in skipped if t['id'].startswith('setUpClass'))
    counts = ('passed %d, failed %d, skipped %d (%d of them whole classes), '
              'tests run in %.0fs' % (len(passed), len(failed), len(skipped),
                                      classes, duration(tests)))
    reasons = collections.defaultdict(list)
    for t in skipped:
        reason = text(t['details'], 'reason').strip() or '(no reason)'
        reasons[reason].append(t['id'])
    by_suite = collections.defaultdict(collections.Counter)
    for t in tests:
        kind = ('passed' if t['status'] in PASS else
                'failed' if t['status'] in FAIL else 'skipped')
        by_suite[suite(t['id'])][kind] += 1
    with open(argv[2], 'w') as out:
        out.write('%s\n' % counts)
        for name, c in sorted(by_suite.items()):
            out.write('  %-28s passed %3d, failed %d, skipped %2d\n'
                      % (name, c['passed'], c['failed'], c['skipped']))
        out.write('\n== failures (%d)\n' % len(failed))
        for t in failed:
            out.write('\n--- %s\n%s\n' % (t['id'],
                                          text(t['details'], 'traceback')))
        out.write('\n== skips by reason (%d reasons)\n' % len(reasons))
        for reason, ids in sorted(reasons.items(),
                                  key=lambda r: (-len(r[1]), r[0])):
            out.write('\n[%d] %s\n' % (len(ids), reason))
            out.writelines('    %s\n' % i for i in sorted(ids))
    print(counts)
    for t in failed:
        print('FAILED %s' % t['id'])
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
