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

"""Self-test of guestcmd.py, from the repo root:

    python3 -m unittest tools/stack/guest/test_guestcmd.py
"""

import hashlib
import os
import subprocess
import sys
import unittest

# tools/ is no package: import the module beside this file however unittest
# was started (file path, or discover -s tools/stack/guest).
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import guestcmd  # noqa: E402  (needs the path above)

# Console log of a real boot (QEMU, TCG), cut down, with a kernel message
# and an agent line that share the console.
CONSOLE = (
    '\r\nSYSLINUX 6.04 20210613 Copyright (C) 1994-2015 H. Peter Anvin\r\n'
    'cinder-ext-guest: booted 6.1.0-57-cloud-amd64\r\n'
    'cinder-ext-guest: disks vda:67108864 '
    'vdb:16777216:0123456789abcdefghij\r\n'
    'cinder-ext-guest: wrote t1 on vdb sha256 '
    '5ec4f256ec314f618b6ccc4e2becc1843075fdb4d163ffb79a740994775d86f7\r\n'
    '[   12.5] virtio_blk virtio2: [vdc] 2048 512-byte logical blocks\r\n'
    'cinder-ext-guest: disk vdc added 1048576 serial hot1\r\n'
    'cinder-ext-guest: disk vdb size 33554432\r\n'
    'cinder-ext-guest: read r.1 on vdc sha256 ' + 'ab' * 32 + '\r\n'
    'cinder-ext-guest: error x on vdb bad range 1+512\r\n'
    'cinder-ext-guest: error modprobe evdev\r\n'
    'cinder-ext-guest: disk vdc gone\r\n'
    'cinder-ext-guest: poweroff\r\n'
)


class CommandSectorTest(unittest.TestCase):

    def test_layout(self) -> None:
        sector = guestcmd.command_sector('write', 'tok-1', 1048576, 65536)
        self.assertEqual(512, len(sector))
        line, _, rest = sector.partition(b'\n')
        self.assertEqual(b'CINDER-EXT-CMD write tok-1 1048576 65536', line)
        self.assertEqual(b'\0' * len(rest), rest)

    def test_rejects_what_the_guest_rejects(self) -> None:
        bad = [
            ('erase', 't', 0, 512),
            ('read', '', 0, 512),
            ('read', 'a b', 0, 512),
            ('read', 't' * 65, 0, 512),
            ('read', 't', 100, 512),
            ('read', 't', 0, 1000),
            ('read', 't', 0, 0),
            ('read', 't', -512, 512),
        ]
        for args in bad:
            with self.subTest(args=args):
                self.assertRaises(ValueError, guestcmd.command_sector, *args)


class PatternTest(unittest.TestCase):

    def test_repeats_and_cuts(self) -> None:
        self.assertEqual(b'GUEST ab GUEST ab GU', guestcmd.pattern('ab', 20))
        self.assertEqual(b'', guestcmd.pattern('ab', 0))

    def test_matches_the_guest(self) -> None:
        # The hash the guest printed for "write t1 1048576 65536" above.
        digest = hashlib.sha256(guestcmd.pattern('t1', 65536)).hexdigest()
        self.assertEqual(guestcmd.parse_console(CONSOLE)[2].sha256, digest)


class ParseTest(unittest.TestCase):

    def test_events(self) -> None:
        events = guestcmd.parse_console(CONSOLE)
        self.assertEqual(
            ['booted', 'disks', 'wrote', 'added', 'size', 'read', 'error',
             'error', 'gone', 'poweroff'],
            [e.kind for e in events])
        booted, disks, wrote, added, size, read, err, err2 = events[:8]
        self.assertEqual('6.1.0-57-cloud-amd64', booted.text)
        self.assertEqual({'vda': (67108864, ''),
                          'vdb': (16777216, '0123456789abcdefghij')},
                         disks.disks)
        self.assertEqual(('t1', 'vdb'), (wrote.token, wrote.disk))
        self.assertEqual(('vdc', 1048576, 'hot1'),
                         (added.disk, added.size, added.serial))
        self.assertEqual(('vdb', 33554432), (size.disk, size.size))
        self.assertEqual(('r.1', 'vdc', 'ab' * 32),
                         (read.token, read.disk, read.sha256))
        self.assertEqual(('x', 'vdb', 'bad range 1+512'),
                         (err.token, err.disk, err.text))
        self.assertEqual(('', 'modprobe evdev'), (err2.disk, err2.text))

    def test_other_lines(self) -> None:
        self.assertIsNone(guestcmd.parse_line('cinder-ext-guest: hello'))
        self.assertIsNone(guestcmd.parse_line('[    1.0] booted'))
        empty = guestcmd.parse_line('cinder-ext-guest: disks')
        self.assertEqual({}, empty.disks)


class CommandLineTest(unittest.TestCase):

    def run_tool(self, *args: str, stdin: bytes = b'') -> bytes:
        return subprocess.run(
            [sys.executable, os.path.join(HERE, 'guestcmd.py'), *args],
            input=stdin, stdout=subprocess.PIPE, check=True).stdout

    def test_sector_and_pattern(self) -> None:
        self.assertEqual(guestcmd.command_sector('read', 'r', 512, 1024),
                         self.run_tool('sector', 'read', 'r', '512', '1024'))
        self.assertEqual(guestcmd.pattern('r', 1000),
                         self.run_tool('pattern', 'r', '1000'))

    def test_parse(self) -> None:
        out = self.run_tool('parse', stdin=CONSOLE.encode())
        lines = out.decode().splitlines()
        self.assertEqual(10, len(lines))
        self.assertEqual('{"kind": "booted", "text": "6.1.0-57-cloud-amd64"}',
                         lines[0])


if __name__ == '__main__':
    unittest.main()
