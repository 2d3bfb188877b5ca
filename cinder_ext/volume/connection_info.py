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

"""What Nova/os-brick get on attach: enough for QEMU's librbd alone.

Monitor addresses come from a ``mon dump`` monitor command on the pooled
connection (the in-tree driver forks ``ceph mon dump`` on every attach) and
are cached briefly: the monmap changes when monitors are added or moved,
which is rare and not urgent for attaches already answered.
"""

import time


def _split_host_port(addr):
    """'1.2.3.4:6789/0' or '[::1]:3300/0' -> ('1.2.3.4', '6789')."""
    addr = addr.split('/', 1)[0]
    host, port = addr.rsplit(':', 1)
    return host.strip('[]'), port


def mon_addresses(monmap, addr_type='v1'):
    """Parallel host and port lists, one entry per monitor.

    Each monitor is reported once, by the address of the wanted messenger
    type if it listens on it, else by the address it has. A bare
    ``host:3300`` is understood as msgr2 by Nautilus and later clients.
    """
    hosts, ports = [], []
    for mon in monmap.get('mons', []):
        addrvec = (mon.get('public_addrs') or {}).get('addrvec') or []
        chosen = next((a for a in addrvec if a.get('type') == addr_type),
                      addrvec[0] if addrvec else None)
        addr = chosen['addr'] if chosen else mon.get('addr')
        if not addr:
            continue
        host, port = _split_host_port(addr)
        hosts.append(host)
        ports.append(port)
    return hosts, ports


class MonAddressCache(object):
    def __init__(self, ttl, addr_type, clock=time.monotonic):
        self.ttl = ttl
        self.addr_type = addr_type
        self._clock = clock
        self._value = None
        self._read_at = 0.0

    def get(self, session):
        now = self._clock()
        if self._value is None or now - self._read_at >= self.ttl:
            monmap = session.mon_command('mon dump')
            self._value = mon_addresses(monmap, self.addr_type)
            self._read_at = now
        return self._value

    def invalidate(self):
        self._value = None


def build(volume, pool, hosts, ports, spec, secret_uuid, keyring=None):
    """The in-tree driver's connection info, field for field."""
    data = {
        'name': '%s/%s' % (pool, volume.name),
        'hosts': list(hosts),
        'ports': list(ports),
        'cluster_name': spec.cluster_name,
        'auth_enabled': spec.user is not None,
        'auth_username': spec.user,
        'secret_type': 'ceph',
        'secret_uuid': secret_uuid,
        'volume_id': volume.id,
        'discard': True,
    }
    if keyring:
        data['keyring'] = keyring
    return {'driver_volume_type': 'rbd', 'data': data}


def loggable(info):
    """A copy of ``info`` safe to log: keyring contents masked."""
    data = dict(info.get('data', {}))
    if 'keyring' in data:
        data['keyring'] = '***'
    return dict(info, data=data)
