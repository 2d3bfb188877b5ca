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
"""Write the cinder.conf section of one cinder-ext backend.

The one place that knows what a cinder-ext backend section holds. The
DevStack plugin and the local stack (tools/stack) both run it, so what CI
runs is what DevStack writes. It uses only the standard library because
DevStack calls it before the package is installed::

    python3 cinder_ext/backend_section.py \\
        --config-file /etc/cinder/cinder.conf --backend ceph-ext \\
        --pool volumes --user cinder \\
        --ceph-conf /etc/ceph/ceph.conf [--secret-uuid UUID] \\
        [--driver intree] [--set rbd_max_clone_depth=3 ...]

Other sections and comments of the file are left as they are; keys of the
backend's own section are replaced.
"""

import argparse
import os
import re
import sys

DRIVERS = {
    'cinder-ext': 'cinder_ext.volume.drivers.rbd.RBDDriver',
    'intree': 'cinder.volume.drivers.rbd.RBDDriver',
}
_KEY = re.compile(r'^[a-z][a-z0-9_]*$')
_SECTION = re.compile(r'^\s*\[([^\]]+)\]\s*$')


def section_options(backend, pool, user, ceph_conf, secret_uuid=None,
                    driver='cinder-ext', cluster_name='ceph', extra=None):
    """Ordered (key, value) pairs for the backend section."""
    if driver not in DRIVERS:
        raise ValueError('driver %r: choose one of %s'
                         % (driver, ', '.join(sorted(DRIVERS))))
    options = [('volume_backend_name', backend),
               ('volume_driver', DRIVERS[driver]),
               ('rbd_cluster_name', cluster_name),
               ('rbd_ceph_conf', ceph_conf),
               ('rbd_pool', pool),
               ('rbd_user', user)]
    if secret_uuid:
        options.append(('rbd_secret_uuid', secret_uuid))
    for key, value in (extra or []):
        if not _KEY.match(key):
            raise ValueError('option name %r is not a cinder.conf key' % key)
        options = [(k, v) for k, v in options if k != key]
        options.append((key, value))
    for key, value in options:
        if value is None or '\n' in str(value):
            raise ValueError('option %s=%r: empty or multi-line value'
                             % (key, value))
    return options


def render(lines, backend, options):
    """``lines`` of an ini file with ``[backend]`` holding ``options``."""
    out, in_section, written = [], False, False
    pending = dict(options)

    def flush():
        # New keys go before the blank lines that end the section.
        blanks = 0
        while out and not out[-1].strip():
            out.pop()
            blanks += 1
        for key, value in options:
            if key in pending:
                out.append('%s = %s\n' % (key, value))
        out.extend(['\n'] * blanks)
        pending.clear()

    for line in lines:
        match = _SECTION.match(line)
        if match:
            if in_section:
                flush()
            in_section = match.group(1) == backend
            written = written or in_section
            out.append(line)
            continue
        if in_section:
            key = line.split('=', 1)[0].strip()
            if '=' in line and key in dict(options):
                if key in pending:
                    out.append('%s = %s\n' % (key, pending.pop(key)))
                continue
        out.append(line)
    if in_section:
        flush()
    if not written:
        if out and not out[-1].endswith('\n'):
            out[-1] += '\n'
        if out:
            out.append('\n')
        out.append('[%s]\n' % backend)
        out.extend('%s = %s\n' % kv for kv in options)
    return out


def write(path, backend, options):
    lines = []
    if os.path.exists(path):
        with open(path) as conf:
            lines = conf.readlines()
    new = render(lines, backend, options)
    tmp = path + '.tmp'
    with open(tmp, 'w') as conf:
        conf.writelines(new)
    os.replace(tmp, path)


def _key_value(text):
    if '=' not in text:
        raise argparse.ArgumentTypeError('%r: expected KEY=VALUE' % text)
    key, value = text.split('=', 1)
    return key.strip(), value.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config-file', required=True)
    parser.add_argument('--backend', required=True)
    parser.add_argument('--pool', required=True)
    parser.add_argument('--user', required=True)
    parser.add_argument('--ceph-conf', required=True)
    parser.add_argument('--secret-uuid')
    parser.add_argument('--cluster-name', default='ceph')
    parser.add_argument('--driver', default='cinder-ext',
                        choices=sorted(DRIVERS))
    parser.add_argument('--set', dest='extra', action='append', default=[],
                        type=_key_value, metavar='KEY=VALUE')
    args = parser.parse_args(argv)
    try:
        options = section_options(args.backend, args.pool, args.user,
                                  args.ceph_conf, args.secret_uuid,
                                  args.driver, args.cluster_name, args.extra)
    except ValueError as error:
        parser.error(str(error))
    write(args.config_file, args.backend, options)
    return 0


if __name__ == '__main__':
    sys.exit(main())
