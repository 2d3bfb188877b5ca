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
"""Leak check of the RBD pool around a tempest run.

    leaks.py list CEPH_CONF POOL OUT
    leaks.py report --mysql-cnf CNF --since 'Y-m-d H:M:S' --api-log LOG
                    [--purge-unmanaged --ceph-conf CONF --pool POOL]
                    BEFORE AFTER OUT

`list` writes the pool's images, snapshots and trash entries, one a line
("image NAME", "snap IMAGE@SNAP", "trash ID NAME", "trash-snap NAME@SNAP"),
as client.admin.

`report` compares two listings.  The pool is shared (other test suites
create and delete images in it at the same time), so each new entry is
looked up in Cinder's database (soft-deleted rows included) and only
entries of volumes or snapshots created since the run started (UTC) count
as leaks:

  LEAK   a record of this run (its project is a tempest one, or gone as
         tempest's dynamic projects are at the end) that is deleted in
         Cinder while its RBD entry is still there, or that is still live
         (tempest could not delete it);
  other  a record of a live, non-tempest project (another user of the
         stack), a record older than the run, an entry that is no volume
         of this Cinder at all (a concurrent test's own image), a volume
         or snapshot that a test unmanaged (LOG, the run's cinder-api log,
         says which) or an image that carries such a snapshot: Cinder
         hands those back to the storage admin by design.

With --purge-unmanaged, a trash entry kept only by snapshots that a test
unmanaged is removed (the gate acts as the storage admin Cinder handed them
to), so runs do not pile them up; it is still listed, as "purged".

Cinder records of the run that tempest left live (volumes, snapshots,
groups, group snapshots of a gone or tempest project) are reported as
leaks too.

Exit status: 0 when no leak, 1 otherwise.  Runs with the tempest venv's
python; calls `rbd` and `mariadb`.
"""

import argparse
import json
import re
import subprocess
import sys
import time

UUID = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'


def rbd_json(conf, *args):
    """`rbd ... --format json`, retried.

    `ls -l` opens every image and fails when a concurrent client deletes
    one meanwhile.
    """
    cmd = ['rbd', '-c', conf, '--format', 'json'] + list(args)
    for attempt in range(10):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            return json.loads(proc.stdout or '[]')
        time.sleep(1)
    raise SystemExit('%s failed: %s' % (' '.join(cmd), proc.stderr.strip()))


def listing(conf, pool, out):
    lines = []
    for e in rbd_json(conf, 'ls', '-l', pool):
        if 'snapshot' in e:
            lines.append('snap %s@%s' % (e['image'], e['snapshot']))
        else:
            lines.append('image %s' % e['image'])
    for e in rbd_json(conf, 'trash', 'ls', pool):
        lines.append('trash %s %s' % (e['id'], e['name']))
        # A trashed image keeps its snapshots: they are what kept it from
        # being removed.  (It may be purged meanwhile: then it has none.)
        try:
            snaps = rbd_json(conf, 'snap', 'ls', '--all', '-p', pool,
                             '--image-id', e['id'])
        except SystemExit:
            snaps = []
        lines.extend('trash-snap %s@%s' % (e['name'], snap['name'])
                     for snap in snaps)
    with open(out, 'w') as f:
        f.writelines('%s\n' % line for line in sorted(set(lines)))


def read(path):
    with open(path) as f:
        return set(line.strip() for line in f if line.strip())


def db_rows(cnf, table, ids):
    """{id: (status, deleted, created_at, project name or '')}."""
    if not ids:
        return {}
    sql = ("SELECT r.id, r.status, r.deleted, r.created_at, "
           "COALESCE(p.name, '') FROM cinder.%s r LEFT JOIN keystone.project "
           "p ON p.id = r.project_id WHERE r.id IN (%s)"
           % (table, ','.join("'%s'" % i for i in sorted(ids))))
    out = subprocess.run(['mariadb', '--defaults-file=%s' % cnf, '-N', '-B',
                          '-e', sql], capture_output=True, text=True,
                         check=True).stdout
    rows = {}
    for line in out.splitlines():
        rid, status, deleted, created, project = line.split('\t')
        rows[rid] = (status, deleted != '0', created, project)
    return rows


def rbd_name(entry):
    kind, rest = entry.split(' ', 1)
    return rest.split(' ', 1)[1] if kind == 'trash' else rest


def unmanaged_ids(api_log):
    """UUIDs of the volumes and snapshots the run unmanaged (cinder-api)."""
    with open(api_log, errors='replace') as f:
        return set(re.findall(r'Unmanage (?:volume|snapshot) with id: (%s)'
                              % UUID, f.read()))


def leftovers(cnf, since):
    """Cinder records of this run that tempest left undeleted.

    Tempest's dynamic projects are gone after the run, so a live volume,
    snapshot or group created since the run started whose project is gone
    (or is a tempest one) is something tempest could not clean up.
    """
    rows = []
    for table in ('volumes', 'snapshots', 'groups', 'group_snapshots'):
        sql = ("SELECT r.id, r.status FROM cinder.`%s` r LEFT JOIN "
               "keystone.project p ON p.id = r.project_id WHERE r.deleted = 0"
               " AND r.created_at >= '%s' AND (p.name IS NULL OR p.name "
               "LIKE 'tempest-%%')" % (table, since))
        out = subprocess.run(['mariadb', '--defaults-file=%s' % cnf, '-N',
                              '-B', '-e', sql], capture_output=True,
                             text=True, check=True).stdout
        rows.extend('LEAK  cinder %s %s  [status %s, not deleted, project '
                    'gone or tempest\'s]' % ((table[:-1],) + tuple(
                        line.split('\t'))) for line in out.splitlines())
    return rows


def subject(entry):
    """(table, uuid) of the Cinder object an entry belongs to, if any."""
    image, _, snap = rbd_name(entry).partition('@')
    m = re.fullmatch('snapshot-(%s)' % UUID, snap)
    if m:
        return 'snapshots', m.group(1)
    # In-tree keeps a deleted volume that still has clones as NAME.deleted.
    m = re.fullmatch(r'volume-(%s)(\.deleted)?' % UUID, image)
    if m:
        return 'volumes', m.group(1)
    return None, None


def ours(row, since):
    """True if a record was made by this run (a tempest project's)."""
    if row is None:
        return False
    _status, _deleted, created, project = row
    return created >= since and (not project or
                                 project.startswith('tempest-'))


def verdict(row, since, unmanaged):
    if unmanaged:
        # Unmanage hands the object back to the storage admin: Cinder no
        # longer owns it, and an image holding it cannot be removed either.
        return False, unmanaged + ' (Cinder no longer owns it: expected)'
    if row is None:
        return False, 'not a volume/snapshot of this Cinder (foreign image)'
    status, deleted, created, project = row
    what = 'status %s, created %s, project %s' % (
        status, created, project or '(gone)')
    if created < since:
        return False, 'record older than the run: ' + what
    # Tempest's projects are dynamic and deleted at the end of the run;
    # a project that still exists and is no tempest one is another user's.
    if project and not project.startswith('tempest-'):
        return False, 'another project, not this run: ' + what
    if deleted:
        return True, 'deleted in Cinder, still in RBD: ' + what
    return True, 'tempest did not manage to delete it: ' + what


def purge_unmanaged(conf, pool, trash_id, snaps):
    """Remove a trashed image kept only by snapshots a test unmanaged.

    Unmanage hands the snapshot to the storage admin; in a test pool the
    gate is that admin, and without this every run would leave two such
    images behind for good.  Snapshots of anything else are left alone.
    """
    for snap in snaps:
        subprocess.run(['rbd', '-c', conf, 'snap', 'rm', '--force',
                        '--no-progress', '-p', pool, '--image-id', trash_id,
                        '--snap', snap], capture_output=True)
    done = subprocess.run(['rbd', '-c', conf, 'trash', 'rm', '--no-progress',
                           '-p', pool, trash_id], capture_output=True)
    return done.returncode == 0


def report(args):
    after = read(args.after)
    new = sorted(after - read(args.before))
    gone = len(read(args.before) - after)
    released = unmanaged_ids(args.api_log)
    # Image name -> the Cinder snapshot UUIDs it (still) carries.
    carried = {}
    for entry in after:
        image, _, snap = rbd_name(entry).partition('@')
        m = re.fullmatch('snapshot-(%s)' % UUID, snap)
        if m:
            carried.setdefault(image, set()).add(m.group(1))
    want = {'volumes': set(), 'snapshots': set()}
    for entry in new:
        table, uuid = subject(entry)
        if table:
            want[table].add(uuid)
    rows = {t: db_rows(args.mysql_cnf, t, ids) for t, ids in want.items()}
    leaks = 0
    lines = []
    for entry in new:
        table, uuid = subject(entry)
        image = rbd_name(entry).partition('@')[0]
        held = sorted(carried.get(image, set()) & released)
        unmanaged = (
            'a test unmanaged %s %s' % (table[:-1], uuid)
            if uuid in released else
            'carries snapshot %s, which a test unmanaged' % ', '.join(held)
            if held else '')
        row = rows[table].get(uuid) if table else None
        leak, why = verdict(row, args.since, unmanaged)
        if (args.purge_unmanaged and held and entry.startswith('trash ')
                and ours(row, args.since)):
            if purge_unmanaged(args.ceph_conf, args.pool, entry.split()[1],
                               ['snapshot-%s' % u for u in held]):
                why += '; purged'
        leaks += leak
        lines.append('%-5s %s  [%s]' % ('LEAK' if leak else 'other', entry,
                                        why))
    records = leftovers(args.mysql_cnf, args.since)
    lines.extend(records)
    leaks += len(records)
    head = ('pool leak check: %d new entries, %d leaks (%d Cinder records '
            'left), %d entries gone' % (len(new), leaks, len(records), gone))
    with open(args.out, 'w') as f:
        f.write(head + '\n')
        f.writelines('  %s\n' % line for line in lines)
    print(head)
    for line in lines:
        print('  ' + line)
    return 1 if leaks else 0


def main(argv):
    if argv[1:2] == ['list']:
        if len(argv) != 5:
            raise SystemExit(__doc__)
        return listing(*argv[2:])
    parser = argparse.ArgumentParser()
    parser.add_argument('cmd', choices=['report'])
    parser.add_argument('--mysql-cnf', required=True)
    parser.add_argument('--since', required=True)
    parser.add_argument('--api-log', required=True)
    parser.add_argument('--purge-unmanaged', action='store_true',
                        help='remove trashed images kept only by snapshots '
                        'a test unmanaged (needs --ceph-conf and --pool)')
    parser.add_argument('--ceph-conf')
    parser.add_argument('--pool')
    parser.add_argument('before')
    parser.add_argument('after')
    parser.add_argument('out')
    return report(parser.parse_args(argv[1:]))


if __name__ == '__main__':
    sys.exit(main(sys.argv) or 0)
