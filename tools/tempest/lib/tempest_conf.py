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
"""Write tempest.conf for the cloud of tools/stack.

    tempest_conf.py --keystone URL --backend NAME --workspace DIR --out FILE
        [--full --image NAME --flavor NAME]

The admin password comes from the environment (ADMIN_PASSWORD), never from
the command line.  What can be asked of the cloud is asked, not assumed:

- the catalog type Cinder is registered under (block-storage, else
  volumev3), from the token's catalog;
- the microversion range, from Cinder's version document;
- that the scheduler has a pool of backend NAME, and what that pool reports
  as storage_protocol and vendor_name (the volume type tests create types
  with these as extra specs: a mismatch shows as "No valid backend", so it
  is reported here, before the run);
- with --full (stack-up.sh --full: Glance, Nova, cinder-backup and the
  read-only network stub), the compute microversion range, the guest
  image's and the flavor's ids.

Standard library only: it runs with the tempest venv's python.
"""

import argparse
import configparser
import json
import os
import sys
import urllib.error
import urllib.request

# What tempest expects of an RBD backend (cinder.common.constants.CEPH; the
# vendor the in-tree RBD driver reports).
STORAGE_PROTOCOL = 'ceph'
VENDOR_NAME = 'Open Source'

# [volume-feature-enabled]: what both RBD drivers really do on this stack.
FEATURES = {
    'snapshot': True,
    'clone': True,
    'manage_volume': True,
    'manage_snapshot': True,
    'volume_revert': True,             # cinder-tempest-plugin option
    'extend_volume_with_snapshot': True,
    'consistency_group': False,        # plugin option; see the README
    'extend_attached_volume': False,   # needs Nova: on with --full
    'extend_attached_encrypted_volume': False,  # needs Nova and Barbican
    # Despite its name it also gates test_volume_from_snapshot_cascade_delete
    # (no image involved); the image tests it gates skip for Glance anyway.
    'enable_volume_image_dep_tests': True,
    'backup': False,                   # cinder-backup: on with --full
    # cinder-tempest-plugin's scenario: volumes created in parallel.
    'concurrency_tests': True,
    'multi_backend': False,            # one backend
    'replication': False,              # no second Ceph cluster
}


# What the full cloud adds (--full): the services tempest may use, and the
# features that then work on both drivers.
FULL_FEATURES = {
    'extend_attached_volume': True,
    'extend_attached_encrypted_volume': True,
    'backup': True,
}
# [compute-feature-enabled] of the full stack: one compute host, servers
# without NICs, no console proxies; what is on is what the volume tests use.
COMPUTE_FEATURES = {
    'volume_multiattach': True,
    'attach_encrypted_volume': True,    # Barbican; LUKS1 in QEMU
    'console_output': True,
    'snapshot': True,
    'shelve': False,
    'resize': False,
    'cold_migration': False,
    'live_migration': False,
    'vnc_console': False,
    'spice_console': False,
    'serial_console': False,
    'rescue': False,
    'interface_attach': False,
}


def request(url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=dict(
        headers or {}, **{'Content-Type': 'application/json',
                          'Accept': 'application/json'}))
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers, json.load(resp)


def admin_token(keystone, password):
    """A project-scoped admin token and the catalog that comes with it."""
    user = {'name': 'admin', 'domain': {'name': 'Default'},
            'password': password}
    body = {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': user}},
        'scope': {'project': {'name': 'admin',
                              'domain': {'name': 'Default'}}}}}
    headers, data = request(keystone + '/auth/tokens', body)
    return headers['X-Subject-Token'], data['token']


def public_endpoint(token, *types):
    """(catalog type, public URL) of the first of TYPES in the catalog."""
    for wanted in types:
        for service in token['catalog']:
            if service['type'] != wanted:
                continue
            for endpoint in service['endpoints']:
                if endpoint['interface'] == 'public':
                    return wanted, endpoint['url']
    raise SystemExit('no %s public endpoint in catalog' % '/'.join(types))


def versions_document(root):
    try:
        _, doc = request(root)
    except urllib.error.HTTPError as exc:
        # Cinder and Nova answer their unversioned root with 300 Multiple
        # Choices.
        if exc.code != 300:
            raise
        doc = json.load(exc)
    return doc


def microversions(url):
    """(min, max) microversion of the v3 API, from the version document."""
    root = url.split('/v3', 1)[0] + '/'
    for version in versions_document(root)['versions']:
        if version['id'] == 'v3.0':
            return version['min_version'], version['version']
    raise SystemExit('no v3.0 in the version document of %s' % root)


def compute_microversions(url):
    """(min, max) microversion of Nova's v2.1 API."""
    root = url.split('/v2.1', 1)[0] + '/'
    for version in versions_document(root)['versions']:
        if version['id'] == 'v2.1':
            return version['min_version'], version['version']
    raise SystemExit('no v2.1 in the version document of %s' % root)


def find_id(url, auth, key, name):
    """The id of the one resource named NAME in list KEY at URL."""
    _, doc = request(url, headers={'X-Auth-Token': auth})
    found = [item['id'] for item in doc[key] if item['name'] == name]
    if len(found) != 1:
        raise SystemExit('%d resources named %s at %s, want 1'
                         % (len(found), name, url))
    return found[0]


def full_sections(token, auth, args):
    """The sections that tell tempest about Nova, Glance and backups."""
    _, compute_url = public_endpoint(token, 'compute')
    _, image_url = public_endpoint(token, 'image')
    cmin, cmax = compute_microversions(compute_url)
    image = find_id(image_url.rstrip('/') + '/v2/images?name=' + args.image,
                    auth, 'images', args.image)
    flavor = find_id(compute_url + '/flavors', auth, 'flavors', args.flavor)
    return {
        'compute': {
            'image_ref': image,
            'image_ref_alt': image,
            'flavor_ref': flavor,
            'flavor_ref_alt': flavor,
            'min_compute_nodes': '1',
            'min_microversion': cmin,
            'max_microversion': cmax,
            'build_timeout': '300',
        },
        'compute-feature-enabled': {
            k: str(v) for k, v in COMPUTE_FEATURES.items()},
        'image': {
            'catalog_type': 'image',
            'region': 'RegionOne',
            'endpoint_type': 'publicURL',
        },
        'network': {
            # No project networks: tempest must not try to make any.
            'project_networks_reachable': 'False',
        },
        'network-feature-enabled': {'floating_ips': 'False'},
    }


def backend_pool(url, auth, backend):
    """The capabilities of the scheduler's pool for BACKEND."""
    _, doc = request(url + '/scheduler-stats/get_pools?detail=True',
                     headers={'X-Auth-Token': auth})
    for pool in doc['pools']:
        caps = pool.get('capabilities', {})
        if caps.get('volume_backend_name') == backend:
            return caps
    raise SystemExit('the scheduler has no pool of backend %s' % backend)


def base_config(args, password):
    """Everything but the volume sections and what --full adds."""
    conf = configparser.RawConfigParser()
    conf.optionxform = str
    conf['DEFAULT'] = {
        'log_dir': os.path.join(args.workspace, 'logs'),
        'log_file': 'tempest.log',
    }
    conf['oslo_concurrency'] = {
        'lock_path': os.path.join(args.workspace, 'tempest_lock')}
    conf['auth'] = {
        'use_dynamic_credentials': 'True',
        'create_isolated_networks': 'False',
        'admin_username': 'admin',
        'admin_password': password,
        'admin_project_name': 'admin',
        'admin_domain_name': 'Default',
        'default_credentials_domain_name': 'Default',
    }
    conf['identity'] = {
        'uri_v3': args.keystone,
        'auth_version': 'v3',
        'region': 'RegionOne',
    }
    conf['identity-feature-enabled'] = {'api_v2': 'False'}
    # With --full, 'neutron' is the stack's read-only network stub: it lets
    # tempest run the volume classes that ask for a default network
    # (create_isolated_networks is off, so none is made) and answers its
    # security-group cleanup with "none".
    # Barbican, the key manager, comes with the full cloud too.
    full = str(args.full)
    conf['service_available'] = {
        'cinder': 'True', 'nova': full, 'glance': full, 'neutron': full,
        'swift': 'False', 'barbican': full,
    }
    # oslo.policy 4.4+ always enforces scope (Cinder 29 has no switch left):
    # tempest must use the reader/member personas the cloud expects.
    conf['enforce_scope'] = {'cinder': 'True'}
    conf['validation'] = {'run_validation': 'False'}
    # Gates VolumeRetypeMultiattachTest, which only retypes a volume to and
    # from a multiattach type (no server): a backend feature of both RBD
    # drivers.  No other test of the volume suites reads it.
    conf['compute-feature-enabled'] = {'volume_multiattach': 'True'}
    return conf


def build(args, password):
    auth, token = admin_token(args.keystone, password)
    ctype, url = public_endpoint(token, 'block-storage', 'volumev3')
    vmin, vmax = microversions(url)
    caps = backend_pool(url, auth, args.backend)
    for key, want in (('storage_protocol', STORAGE_PROTOCOL),
                      ('vendor_name', VENDOR_NAME)):
        if caps.get(key) != want:
            print('tempest_conf: WARNING pool of %s reports %s=%r, tempest '
                  'is configured for %r' % (args.backend, key, caps.get(key),
                                            want), file=sys.stderr)
    conf = base_config(args, password)
    conf['volume'] = {
        'catalog_type': ctype,
        'endpoint_type': 'publicURL',
        'region': 'RegionOne',
        'backend_names': args.backend,
        'storage_protocol': STORAGE_PROTOCOL,
        'vendor_name': VENDOR_NAME,
        'min_microversion': vmin,
        'max_microversion': vmax,
        'manage_volume_ref': 'source-name,volume-%s',
        'manage_snapshot_ref': 'source-name,snapshot-%s',
        'build_timeout': '300',
    }
    features = dict(FEATURES, **(FULL_FEATURES if args.full else {}))
    conf['volume-feature-enabled'] = {
        k: str(v) for k, v in features.items()}
    if args.full:
        conf['volume']['backup_driver'] = 'ceph'
        conf.read_dict(full_sections(token, auth, args))
    return conf, ctype, vmin, vmax


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keystone', required=True)
    parser.add_argument('--backend', required=True)
    parser.add_argument('--workspace', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--full', action='store_true',
                        help='the cloud of stack-up.sh --full')
    parser.add_argument('--image', help='guest image name (--full)')
    parser.add_argument('--flavor', help='flavor name (--full)')
    args = parser.parse_args()
    if args.full and not (args.image and args.flavor):
        parser.error('--full needs --image and --flavor')
    password = os.environ.get('ADMIN_PASSWORD')
    if not password:
        raise SystemExit('ADMIN_PASSWORD is not set')
    conf, ctype, vmin, vmax = build(args, password)
    old = os.umask(0o077)  # it holds the admin password
    try:
        with open(args.out + '.new', 'w') as f:
            f.write('# Generated by cinder-ext tools/tempest/run-tempest.sh'
                    ' (lib/tempest_conf.py).\n')
            conf.write(f)
    finally:
        os.umask(old)
    os.replace(args.out + '.new', args.out)
    print('tempest.conf: backend %s, catalog_type %s, microversions %s-%s'
          % (args.backend, ctype, vmin, vmax))


if __name__ == '__main__':
    main()
