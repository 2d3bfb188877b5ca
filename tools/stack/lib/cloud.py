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
"""Keystone and Cinder API steps of tools/stack/stack-up.sh.

Run with the clients venv's python (openstacksdk) against the cloud named
in clouds.yaml.  One process per step instead of a dozen `openstack` CLI
calls (each ~1.5 s of start-up); every step is idempotent.

    cloud.py register USER PASSWORD NAME:TYPE=URL...   service user + catalog
    cloud.py backend-ready HOST@BACKEND TIMEOUT   wait for it, then its type
    cloud.py internal-tenant NAME   project + user NAME: "PROJECT_ID USER_ID"
    cloud.py key-check   Barbican makes, returns and deletes a 256-bit key
"""

import sys
import time

import openstack

CLOUD = 'cinder-ext'


def register(conn, user_name, password, *services):
    """Service project, USER with admin on it, catalog entries.

    Each of ``services`` is ``NAME:TYPE=URL``: the service's catalog name,
    its type, and the URL of its public, internal and admin endpoints.
    """
    ident = conn.identity
    domain = ident.find_domain('default', ignore_missing=False)
    project = (ident.find_project('service', domain_id=domain.id) or
               ident.create_project(name='service', domain_id=domain.id,
                                    description='Service accounts'))
    user = ident.find_user(user_name, domain_id=domain.id)
    if user is None:
        user = ident.create_user(name=user_name, domain_id=domain.id,
                                 password=password,
                                 default_project_id=project.id)
    else:
        # Keep the password in step with $STATE/passwords.
        ident.update_user(user, password=password)
    # admin for the service's own calls; service for the service-token
    # checks other services make on requests it sends them
    # ([service_user] send_service_user_token).
    for role_name in ('admin', 'service'):
        role = (ident.find_role(role_name) or
                ident.create_role(name=role_name))
        if not ident.validate_user_has_project_role(project, user, role):
            ident.assign_project_role_to_user(project, user, role)
    for spec in services:
        name_type, url = spec.split('=', 1)
        name, stype = name_type.split(':', 1)
        _endpoints(ident, name, stype, url)
    print('keystone: user %s, endpoints %s' % (
        user_name, ' '.join(s.split('=', 1)[0] for s in services)))


def _endpoints(ident, name, stype, url):
    """Service TYPE (named NAME) with three endpoints at URL."""
    services = [s for s in ident.services() if s.type == stype]
    service = services[0] if services else ident.create_service(
        name=name, type=stype, description=name)
    have = {e.interface: e for e in ident.endpoints(service_id=service.id)}
    for interface in ('public', 'internal', 'admin'):
        endpoint = have.get(interface)
        if endpoint is None:
            ident.create_endpoint(service_id=service.id, url=url,
                                  interface=interface,
                                  region_id='RegionOne')
        elif endpoint.url != url:
            ident.update_endpoint(endpoint, url=url)


def wait_backend(conn, host, timeout):
    """cinder-volume HOST is up and the scheduler has its pool.

    A volume service that is up but whose capabilities have not reached
    the scheduler yet fails a create with "No valid backend", so both are
    checked.
    """
    deadline = time.monotonic() + float(timeout)
    last = 'no answer'
    while time.monotonic() < deadline:
        try:
            up = [s for s in conn.block_storage.services()
                  if s.binary == 'cinder-volume' and s.host == host
                  and s.state == 'up' and s.status == 'enabled']
            pools = [p.name for p in conn.block_storage.backend_pools()
                     if p.name.split('#')[0] == host]
            if up and pools:
                print('cinder-volume %s up, pool %s' % (host, pools[0]))
                return 0
            last = 'service up: %s, pools: %s' % (bool(up), pools)
        except Exception as exc:  # API still starting
            last = '%s: %s' % (type(exc).__name__, exc)
        time.sleep(1)
    print('cinder-volume %s not ready after %ss: %s' % (host, timeout, last),
          file=sys.stderr)
    return 1


def volume_type(conn, name):
    """Volume type NAME bound to the back end of the same name."""
    vtype = conn.block_storage.find_type(name)
    if vtype is None:
        conn.block_storage.create_type(
            name=name, extra_specs={'volume_backend_name': name})
    elif vtype.extra_specs.get('volume_backend_name') != name:
        conn.block_storage.update_type_extra_specs(
            vtype, volume_backend_name=name)
    print('volume type %s -> volume_backend_name=%s' % (name, name))


def internal_tenant(conn, name):
    """Cinder's internal tenant (the owner of image-volume cache entries).

    Cinder only needs the ids: it never authenticates as this user, so the
    user has no password and no role.
    """
    ident = conn.identity
    domain = ident.find_domain('default', ignore_missing=False)
    project = (ident.find_project(name, domain_id=domain.id) or
               ident.create_project(
                   name=name, domain_id=domain.id,
                   description="Cinder's internal tenant (image cache)"))
    user = (ident.find_user(name, domain_id=domain.id) or
            ident.create_user(name=name, domain_id=domain.id))
    print(project.id, user.id)


def key_check(conn, timeout=60):
    """A key ordered, read and deleted as Cinder's castellan does it.

    Retried until TIMEOUT: the first requests after a start may find
    keystonemiddleware still fetching its token.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _key_round_trip(conn.key_manager)
        except Exception as exc:
            if time.monotonic() > deadline:
                print('barbican: %s: %s' % (type(exc).__name__, exc),
                      file=sys.stderr)
                return 1
            time.sleep(1)


def _key_round_trip(km):
    order = km.post('/orders', json={
        'type': 'key',
        'meta': {'algorithm': 'aes', 'bit_length': 256, 'mode': 'xts'},
    }, raise_exc=True).json()['order_ref']
    order_id = order.rsplit('/', 1)[1]
    status = km.get('/orders/%s' % order_id, raise_exc=True).json()
    if status['status'] != 'ACTIVE':
        raise RuntimeError('order %s is %s' % (order_id, status['status']))
    secret_id = status['secret_ref'].rsplit('/', 1)[1]
    payload = km.get('/secrets/%s/payload' % secret_id, raise_exc=True,
                     headers={'Accept': 'application/octet-stream'}).content
    km.delete('/secrets/%s' % secret_id, raise_exc=True)
    km.delete('/orders/%s' % order_id, raise_exc=True)
    if len(payload) != 32:
        raise RuntimeError('a 256-bit key came back as %d bytes'
                           % len(payload))
    print('barbican: a 256-bit key made, read and deleted')
    return 0


def main(argv):
    conn = openstack.connect(cloud=CLOUD)
    cmd, args = argv[1], argv[2:]
    if cmd == 'register':
        return register(conn, *args)
    if cmd == 'backend-ready':
        host, timeout = args
        # The volume type is named after the backend (host@BACKEND).
        return (wait_backend(conn, host, timeout) or
                volume_type(conn, host.split('@', 1)[1]))
    if cmd == 'internal-tenant':
        return internal_tenant(conn, *args)
    if cmd == 'key-check':
        return key_check(conn)
    raise SystemExit('unknown command %s' % cmd)


if __name__ == '__main__':
    sys.exit(main(sys.argv) or 0)
