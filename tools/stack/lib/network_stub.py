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

"""A read-only stand-in for the Networking API, for stack-up.sh --full.

Nova asks Neutron about every server (ports to show its addresses and
security groups, ports to release on delete, networks to pick one at
create) even when the server has no network.  The stack runs servers
without NICs, so this answers those questions with "nothing": every list is
empty, every single resource is missing, quotas are unlimited.  Anything
that would create or change a network resource is refused with 501, so a
caller that really needs Neutron fails loudly instead of silently.

    python3 network_stub.py HOST PORT

Standard library only; one line per request on stderr.
"""

from http import server
import json
import sys

API_PREFIX = '/v2.0/'


def _body(status, payload):
    return status, json.dumps(payload).encode()


def answer(method, path):
    """(HTTP status, JSON body) for one request."""
    path = path.split('?', 1)[0].rstrip('/')
    if path in ('', '/v2.0'):
        return _body(200, {'versions': [
            {'id': 'v2.0', 'status': 'CURRENT',
             'links': [{'rel': 'self', 'href': API_PREFIX}]}]})
    if not path.startswith(API_PREFIX):
        return _body(404, {'NeutronError': {
            'type': 'HTTPNotFound', 'message': 'no such path %s' % path}})
    if method != 'GET':
        return _body(501, {'NeutronError': {
            'type': 'HTTPNotImplemented',
            'message': 'the cinder-ext stack has no networks: %s %s is '
                       'not available' % (method, path)}})
    parts = path[len(API_PREFIX):].split('/')
    collection = parts[0].replace('-', '_')
    if collection == 'quotas' and len(parts) > 1:
        return _body(200, {'quota': {name: -1 for name in (
            'network', 'subnet', 'port', 'router', 'floatingip',
            'security_group', 'security_group_rule')}})
    if len(parts) == 1:
        return _body(200, {collection: []})
    return _body(404, {'NeutronError': {
        'type': 'HTTPNotFound',
        'message': '%s %s could not be found' % (collection, parts[1])}})


class Handler(server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def _reply(self):
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            self.rfile.read(length)
        status, body = answer(self.command, self.path)
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _reply


def main(argv):
    if len(argv) != 3:
        sys.exit('usage: network_stub.py HOST PORT')
    httpd = server.ThreadingHTTPServer((argv[1], int(argv[2])), Handler)
    httpd.serve_forever()


if __name__ == '__main__':
    main(sys.argv)
