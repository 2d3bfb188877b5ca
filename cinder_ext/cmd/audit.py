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

"""``cinder-ext-audit``: what RBD volume drivers leaked in a pool.

Read-only unless ``--fix``. The backend is read from cinder.conf exactly as
the driver reads it::

    cinder-ext-audit --config-file /etc/cinder/cinder.conf --backend ceph

or given directly, without cinder.conf::

    cinder-ext-audit --ceph-conf /etc/ceph/ceph.conf --user cinder \\
        --pool volumes

Exit status: 0 nothing found, 1 findings remain (foreign images do not
count), 2 error. See :mod:`cinder_ext.volume.audit` for what is looked for.
"""

import argparse
import dataclasses
import json
import logging
import sys
import uuid

from cinder import exception
from cinder.volume import configuration
from cinder.volume import driver as base_driver
from oslo_config import cfg

from cinder_ext.ceph import bindings
from cinder_ext.ceph import connection
from cinder_ext.ceph import images
from cinder_ext.volume import audit
from cinder_ext.volume import backend as backend_mod
from cinder_ext.volume import options
from cinder_ext.volume import validation

CLEAN, FOUND, ERROR = 0, 1, 2
PROG = 'cinder-ext-audit'


class UsageError(Exception):
    """Bad input from the operator; the command exits 2 with this text."""


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description=(
            'List what RBD volume drivers leak in a pool (.deleted images '
            'without clones, unused .clone_snap snapshots, expired volume-* '
            'trash entries), plus foreign images and, with '
            '--cinder-volume-ids, orphan volumes. Read-only unless --fix.'),
        epilog='Exit status: 0 nothing found (foreign images do not count), '
               '1 findings remain, 2 error.')
    conf = parser.add_argument_group(
        'backend from cinder.conf (rbd_* options read as the driver does)')
    conf.add_argument('--config-file', action='append', metavar='PATH',
                      help='cinder.conf; may be repeated')
    conf.add_argument('--backend', metavar='SECTION',
                      help='the backend section, e.g. ceph')
    direct = parser.add_argument_group('or the pool given directly')
    direct.add_argument('--pool', help='the RBD pool')
    direct.add_argument('--ceph-conf', metavar='PATH',
                        help='ceph.conf (default: librados search path)')
    direct.add_argument('--user', metavar='ID',
                        help='cephx id without "client.", e.g. cinder')
    direct.add_argument('--cluster', metavar='NAME',
                        help='cluster name (default: ceph)')
    parser.add_argument(
        '--cinder-volume-ids', metavar='FILE',
        help='volume UUIDs Cinder knows, one a line (openstack volume list '
             '--all-projects -f value -c ID); lists the other volume-<uuid> '
             'images as orphans (never removed)')
    parser.add_argument(
        '--min-age', type=int, default=audit.DEFAULT_MIN_AGE,
        metavar='SECONDS',
        help='ignore .clone_snap snapshots on live volumes younger than this '
             '(a clone may be being made from them); default %(default)s')
    parser.add_argument('--format', choices=('table', 'json'),
                        default='table', help='output format')
    parser.add_argument(
        '--fix', action='store_true',
        help='remove the .deleted images, .clone_snap snapshots and trash '
             'entries found (each re-checked first); never anything else')
    parser.add_argument('--verbose', '-v', action='store_true',
                        help='log what the driver code does')
    return parser


def parse_args(argv):
    parser = _parser()
    args = parser.parse_args(argv)
    direct = [flag for flag, value in (
        ('--pool', args.pool), ('--ceph-conf', args.ceph_conf),
        ('--user', args.user), ('--cluster', args.cluster)) if value]
    if args.config_file:
        if direct:
            parser.error('%s: not with --config-file (the backend section '
                         'says that)' % ', '.join(direct))
        if not args.backend:
            parser.error('--config-file needs --backend SECTION')
    elif args.backend:
        parser.error('--backend needs --config-file')
    elif not args.pool:
        parser.error('give --config-file and --backend, or --pool (with '
                     '--ceph-conf and --user)')
    if args.min_age < 0:
        parser.error('--min-age must be >= 0')
    return args


# -- configuration ---------------------------------------------------------

class DirectSettings(object):
    """The driver's option defaults, with the direct flags on top."""

    def __init__(self, **values):
        for opt in options.all_opts():
            setattr(self, opt.dest, opt.default)
        for key, value in values.items():
            setattr(self, key, value)

    def safe_get(self, name):
        return getattr(self, name, None)


def load_settings(args):
    """The backend's settings, from cinder.conf or from the flags."""
    if not args.config_file:
        return DirectSettings(rbd_pool=args.pool, rbd_user=args.user,
                              rbd_ceph_conf=args.ceph_conf or '',
                              rbd_cluster_name=args.cluster or 'ceph')
    try:
        cfg.CONF(args=[], project='cinder',
                 default_config_files=args.config_file)
    except cfg.Error as error:
        raise UsageError(str(error))
    if args.backend not in cfg.CONF.list_all_sections():
        raise UsageError('no section [%s] in %s' % (
            args.backend, ', '.join(args.config_file)))
    # What cinder-volume builds for the section: values fall back to
    # [backend_defaults], then to the options' defaults.
    conf = configuration.Configuration(base_driver.volume_opts,
                                       config_group=args.backend)
    conf.append_config_values(options.all_opts())
    return conf


def make_backend(args):
    settings = load_settings(args)
    validation.check_configuration(settings)
    backend = backend_mod.Backend(settings)
    validation.check_cluster(backend)  # explains a failed connect
    return backend


def read_ids(path):
    """Volume UUIDs (lower case) from ``path``; blank and # lines skipped."""
    ids = set()
    with open(path) as lines:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith('#'):
                continue
            try:
                ids.add(str(uuid.UUID(text)))
            except ValueError:
                raise UsageError('%s, line %d: not a volume UUID: %r'
                                 % (path, number, text))
    return ids


# -- output ----------------------------------------------------------------

def _table(findings):
    rows = [('CATEGORY', 'NAME', 'FIX', 'DETAIL')] + [
        (f.category, f.label, 'yes' if f.removable else 'no', f.detail)
        for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return ['  '.join(cell.ljust(width) for cell, width in
                      zip(row[:3], widths)) + '  ' + row[3]
            for row in rows]


def _summary(result):
    counts = {c: 0 for c in audit.CATEGORIES}
    for finding in result.findings:
        counts[finding.category] += 1
    removable = sum(1 for f in result.findings if f.removable)
    by_hand = sum(counts[c] for c in audit.REMOVABLE) - removable
    parts = []
    if removable:
        parts.append('%d leak(s) --fix can remove' % removable)
    if by_hand:
        parts.append('%d leak(s) to look at by hand' % by_hand)
    if counts[audit.ORPHAN]:
        parts.append('%d orphan volume(s)' % counts[audit.ORPHAN])
    text = ', '.join(parts) if parts else 'No leaks found'
    if counts[audit.FOREIGN]:
        text += ('; %d foreign image(s) (not Cinder\'s, never touched)'
                 % counts[audit.FOREIGN])
    return text + '.'


def _count(number, one, many):
    return '%d %s' % (number, one if number == 1 else many)


def write_table(out, result, outcomes=None, after=None):
    lines = ['Pool %s: %s, %s.' % (
        result.pool, _count(result.images, 'image', 'images'),
        _count(result.trash, 'trash entry', 'trash entries')), '']
    if result.findings:
        lines += _table(result.findings) + ['']
    lines.append(_summary(result))
    if outcomes is not None:
        removed = [item for o in outcomes for item in o.removed]
        lines += ['', 'Removed:' if removed else 'Removed nothing.']
        lines += ['  %s' % item for item in removed]
        kept = [o for o in outcomes
                if o.note and o.note != 'already gone']
        if kept:
            lines += ['Not removed:'] + ['  %s: %s' % (o.finding.label,
                                                       o.note)
                                         for o in kept]
        lines += ['', 'After --fix:'] + (
            _table(after.findings) if after.findings else [])
        lines.append(_summary(after))
    out.write('\n'.join(lines) + '\n')


def write_json(out, result, outcomes=None, after=None):
    doc = {'pool': result.pool, 'images': result.images,
           'trash_entries': result.trash,
           'findings': [dataclasses.asdict(f) for f in result.findings]}
    if outcomes is not None:
        doc['fix'] = {
            'removed': [item for o in outcomes for item in o.removed],
            'not_removed': [dict(dataclasses.asdict(o.finding), reason=o.note)
                            for o in outcomes
                            if o.note and o.note != 'already gone'],
            'remaining': [dataclasses.asdict(f) for f in after.findings]}
    json.dump(doc, out, indent=2, sort_keys=True)
    out.write('\n')


# -- main ------------------------------------------------------------------

def run(args, out):
    """Audit (and fix); return the exit status."""
    cinder_ids = None
    if args.cinder_volume_ids:
        cinder_ids = read_ids(args.cinder_volume_ids)
        if not cinder_ids:
            logging.getLogger(PROG).warning(
                'no volume ids in %s: every volume will be listed as an '
                'orphan', args.cinder_volume_ids)
    backend = make_backend(args)
    try:
        result = audit.audit(backend, cinder_ids, args.min_age)
        outcomes = after = None
        if args.fix:
            outcomes = audit.fix(backend, result.findings)
            after = audit.audit(backend, cinder_ids, args.min_age)
    finally:
        backend.client.close()
    writer = write_json if args.format == 'json' else write_table
    writer(out, result, outcomes, after)
    return FOUND if (after or result).counted() else CLEAN


def main(argv=None, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parse_args(argv)
    except SystemExit as done:  # --help, or a usage error (status 2)
        return done.code
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=err, format='%(levelname)s %(name)s: %(message)s',
            level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return run(args, out)
    except (UsageError, OSError, exception.CinderException,
            connection.CephConnectionError, images.TrashUnreadable,
            bindings.RBDError, bindings.RadosError) as error:
        err.write('%s: error: %s\n' % (PROG, error))
    except Exception:
        # Exit 1 means "findings" to a monitoring check: never for a bug.
        logging.getLogger(PROG).exception('unexpected error')
    return ERROR


if __name__ == '__main__':
    sys.exit(main())
