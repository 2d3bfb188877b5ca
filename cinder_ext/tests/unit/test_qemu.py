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

"""qemu-img's command line for writing through LUKS over librbd."""

import os
import tempfile
from unittest import mock

from oslo_concurrency import processutils
import testtools

from cinder_ext.ceph import connection
from cinder_ext.ceph import qemu

CEPHX_KEY = 'AQBcRg5kAAAAABAAkK7+ZqW0Qz1xk3d5UsH2Tg=='


class TestWriteRawIntoLuks(testtools.TestCase):

    def run_convert(self, spec, execute_error=None):
        """The qemu-img arguments and the secret files' contents."""
        seen = {}

        def execute(*args, **kwargs):
            seen['args'] = args
            for arg in args:
                if arg.startswith('secret,'):
                    path = arg.rsplit('file=', 1)[1]
                    with open(path) as f:
                        seen[arg.split(',')[1]] = f.read()
                    seen.setdefault('modes', []).append(
                        os.stat(path).st_mode & 0o777)
            if execute_error:
                raise execute_error

        with mock.patch.object(processutils, 'execute',
                               side_effect=execute):
            qemu.write_raw_into_luks('/tmp/image.raw', spec, 'vol,umes',
                                     'volume-1', 'c0ffee')
        return seen

    def test_secrets_only_in_private_files(self):
        with tempfile.NamedTemporaryFile('w') as keyring:
            keyring.write('[client.cinder]\n\tkey = %s\n' % CEPHX_KEY)
            keyring.flush()
            spec = connection.ClusterSpec(conf_file='/etc/ceph/a,b.conf',
                                          user='cinder',
                                          keyring_file=keyring.name)
            seen = self.run_convert(spec)
        args = seen['args']
        self.assertEqual(('qemu-img', 'convert', '-n', '-W', '-f', 'raw'),
                         args[:6])
        self.assertEqual('c0ffee', seen['id=luks0'])
        self.assertEqual(CEPHX_KEY, seen['id=ceph0'])
        self.assertEqual([0o600, 0o600], seen['modes'])
        self.assertNotIn('c0ffee', ' '.join(args))
        self.assertNotIn(CEPHX_KEY, ' '.join(args))
        self.assertEqual('/tmp/image.raw', args[-2])
        # Commas in values are escaped by doubling them.
        self.assertEqual(
            'driver=luks,key-secret=luks0,file.driver=rbd,'
            'file.pool=vol,,umes,file.image=volume-1,file.user=cinder,'
            'file.conf=/etc/ceph/a,,b.conf,file.key-secret=ceph0', args[-1])
        self.assertEqual('--target-image-opts', args[-3])

    def test_cluster_name_picks_its_conf(self):
        spec = connection.ClusterSpec(cluster_name='backup')
        seen = self.run_convert(spec)
        self.assertIn('file.conf=/etc/ceph/backup.conf', seen['args'][-1])
        self.assertNotIn('file.user', seen['args'][-1])
        self.assertNotIn('id=ceph0', seen)

    def test_failure_carries_qemu_stderr(self):
        error = processutils.ProcessExecutionError(
            stderr='error while writing sector 0\n')
        self.assertRaisesRegex(
            qemu.QemuFailed, '^error while writing sector 0$',
            self.run_convert, connection.ClusterSpec(), error)
