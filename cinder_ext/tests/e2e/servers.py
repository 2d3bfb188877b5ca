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

"""Nova servers running the stack's test guest, and talking to the guest.

The guest (tools/stack/guest) has no network: it prints what it sees on its
disks to the serial console, and runs read/write commands that the host
puts in the first sector of a data disk (guestcmd.py). Tests here drive it
through the real API (servers, attachments, console output) and the pool.
"""

import hashlib
import importlib.util
import os
import time
import typing

from openstack import exceptions

from cinder_ext.tests.e2e import base
from cinder_ext.tests.e2e import ceph
from cinder_ext.tests.e2e import stack


def _load_guestcmd():
    """tools/stack/guest/guestcmd.py (tools/ is no package)."""
    path = os.path.join(stack.REPO, 'tools', 'stack', 'guest', 'guestcmd.py')
    spec = importlib.util.spec_from_file_location('guestcmd', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


guestcmd = _load_guestcmd()

IMAGE = 'cinder-ext-guest'
FLAVOR = 'cinder-ext.tiny'
# Server builds and boots run under QEMU emulation (TCG) on 2 cores, next
# to the other test process.
BOOT_TIMEOUT = 240
GUEST_TIMEOUT = 90
# Where the tests put data: past the command sector, 64 KiB at a time.
DATA_OFFSET = 1024 * 1024
DATA_LENGTH = 64 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ServerTestCase(base.E2ETestCase):
    """E2E tests with servers: boot, attach, detach, guest I/O."""

    def setUp(self):
        super(ServerTestCase, self).setUp()
        self.compute = base.cloud().compute
        self.tokens = 0
        # Volume id -> LUKS passphrase, for encrypted volumes: the pool
        # is then read and written through QEMU's LUKS driver.
        self.passphrases = {}

    # -- servers -----------------------------------------------------------

    def create_server(self, **attrs) -> typing.Any:
        """A server of the guest image without NICs, booted (guest up)."""
        if 'block_device_mapping' not in attrs:
            attrs['image_id'] = base.cloud().image.find_image(
                IMAGE, ignore_missing=False).id
        flavor = self.compute.find_flavor(FLAVOR, ignore_missing=False)
        server = self.compute.create_server(
            name=self.name('server'), flavor_id=flavor.id, networks='none',
            **attrs)
        self.api_objects.append(('server', self.compute.get_server,
                                 server.id))
        self.addCleanup(self.delete_server, server.id)
        server = self._wait(
            'server %s' % server.id,
            lambda: self._get_or_none(self.compute.get_server, server.id),
            lambda s: s is not None and s.status == 'ACTIVE',
            failed=('ERROR', 'gone'), timeout=BOOT_TIMEOUT)
        self.wait_guest(server.id, 'booted')
        return server

    def delete_server(self, server_id: str) -> None:
        try:
            self.compute.delete_server(server_id)
        except exceptions.NotFoundException:
            return
        self._wait('server %s (deleting)' % server_id,
                   lambda: self._get_or_none(self.compute.get_server,
                                             server_id),
                   lambda s: s is None, failed=('ERROR',),
                   timeout=BOOT_TIMEOUT)

    # -- the guest ---------------------------------------------------------

    def console(self, server_id: str) -> str:
        return self.compute.get_server_console_output(server_id)['output']

    def events(self, server_id: str) -> list:
        return guestcmd.parse_console(self.console(server_id))

    def wait_guest(self, server_id: str, kind: str, after: int = 0,
                   timeout: int = GUEST_TIMEOUT,
                   **fields) -> typing.Any:
        """The first guest event of ``kind`` with these fields.

        Only events past the first ``after`` of the console count.
        """
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(server_id)
            for event in events[after:]:
                if event.kind == 'error':
                    self.fail('guest of server %s: %s' % (server_id,
                                                          event.text))
                if event.kind == kind and all(
                        getattr(event, k) == v for k, v in fields.items()):
                    return event
            if time.monotonic() > deadline:
                self.fail('guest of server %s printed no %s %s within %ss; '
                          'console:\n%s' % (server_id, kind, fields, timeout,
                                            self.console(server_id)[-3000:]))
            time.sleep(1)

    def token(self) -> str:
        self.tokens += 1
        return '%s-%d' % (self.name('t'), self.tokens)

    def pattern_sha(self, token: str, length: int = DATA_LENGTH) -> str:
        """sha256 of what the guest's write of ``token`` puts there."""
        return sha256(guestcmd.pattern(token, length))

    def pool_sha(self, vol_id: str, offset: int,
                 length: int = DATA_LENGTH) -> str:
        """sha256 of the volume's bytes there, read from the pool."""
        return sha256(ceph.read_at(self.image(vol_id), offset, length,
                                   self.passphrases.get(vol_id)))

    def _guest_command(self, verb: str, done: str, server_id: str,
                       vol_id: str, disk: str, offset: int,
                       length: int) -> typing.Tuple[str, str]:
        """Put a command in the sector; (token, sha256 the guest printed)."""
        token = self.token()
        after = len(self.events(server_id))
        ceph.write_at(self.image(vol_id), 0, guestcmd.command_sector(
            verb, token, offset, length), self.passphrases.get(vol_id))
        event = self.wait_guest(server_id, done, after, token=token,
                                disk=disk)
        return token, event.sha256

    def guest_write(self, server_id: str, vol_id: str, disk: str,
                    offset: int = DATA_OFFSET,
                    length: int = DATA_LENGTH) -> str:
        """The guest writes its pattern there; returns the token."""
        token, read_back = self._guest_command('write', 'wrote', server_id,
                                               vol_id, disk, offset, length)
        self.assertEqual(self.pattern_sha(token, length), read_back,
                         'what the guest read back')
        return token

    def guest_read(self, server_id: str, vol_id: str, disk: str,
                   offset: int = DATA_OFFSET,
                   length: int = DATA_LENGTH) -> str:
        """The sha256 of what the guest reads there."""
        return self._guest_command('read', 'read', server_id, vol_id, disk,
                                   offset, length)[1]

    def clear_command(self, vol_id: str) -> None:
        """Zero the command sector.

        A guest that attaches the volume later then runs nothing that is
        already there.
        """
        ceph.write_at(self.image(vol_id), 0, bytes(guestcmd.SECTOR),
                      self.passphrases.get(vol_id))

    # -- attachments ---------------------------------------------------------

    def attach(self, server_id: str, vol_id: str) -> str:
        """Attach through Nova; returns the disk the guest sees it as."""
        after = len(self.events(server_id))
        self.compute.create_volume_attachment(server_id, volume=vol_id)
        self.wait_volume(vol_id, 'in-use')
        # The virtio serial is the volume id, cut to 20 characters.
        return self.wait_guest(server_id, 'added', after,
                               serial=vol_id[:20]).disk

    def detach(self, server_id: str, vol_id: str, disk: str) -> None:
        after = len(self.events(server_id))
        self.compute.delete_volume_attachment(server_id, vol_id)
        self.wait_guest(server_id, 'gone', after, disk=disk)
