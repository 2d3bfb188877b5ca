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


"""Self-test of network_stub.py, from the repo root:

    python3 -m unittest tools/stack/lib/test_network_stub.py
"""

from http import server
import json
import os
import sys
import threading
import unittest
import urllib.error
import urllib.request

# tools/ is no package: import the module beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import network_stub  # noqa: E402  (needs the path above)


class AnswerTest(unittest.TestCase):

    def test_lists_are_empty(self):
        for path, key in (('/v2.0/ports?device_id=x', 'ports'),
                          ('/v2.0/networks', 'networks'),
                          ('/v2.0/security-groups/', 'security_groups'),
                          ('/v2.0/extensions', 'extensions')):
            status, body = network_stub.answer('GET', path)
            self.assertEqual(200, status, path)
            self.assertEqual({key: []}, json.loads(body), path)

    def test_quota_is_unlimited(self):
        status, body = network_stub.answer('GET', '/v2.0/quotas/p1')
        self.assertEqual(200, status)
        self.assertEqual(-1, json.loads(body)['quota']['port'])

    def test_one_resource_is_missing(self):
        status, body = network_stub.answer('GET', '/v2.0/ports/abc')
        self.assertEqual(404, status)
        self.assertIn('abc', json.loads(body)['NeutronError']['message'])

    def test_changes_are_refused(self):
        for method in ('POST', 'PUT', 'DELETE'):
            status, body = network_stub.answer(method, '/v2.0/ports')
            self.assertEqual(501, status, method)
            self.assertIn('no networks',
                          json.loads(body)['NeutronError']['message'])

    def test_versions(self):
        status, body = network_stub.answer('GET', '/')
        self.assertEqual(200, status)
        self.assertEqual('v2.0', json.loads(body)['versions'][0]['id'])


class ServerTest(unittest.TestCase):

    def setUp(self):
        self.httpd = server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                network_stub.Handler)
        threading.Thread(target=self.httpd.serve_forever,
                         daemon=True).start()
        self.addCleanup(self.httpd.server_close)
        self.addCleanup(self.httpd.shutdown)
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_port

    def test_get_and_post_over_http(self):
        with urllib.request.urlopen(self.url + '/v2.0/floatingips') as resp:
            self.assertEqual({'floatingips': []}, json.load(resp))
        request = urllib.request.Request(self.url + '/v2.0/ports',
                                         data=b'{"port": {}}', method='POST')
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(request)
        self.assertEqual(501, ctx.exception.code)


if __name__ == '__main__':
    unittest.main()
