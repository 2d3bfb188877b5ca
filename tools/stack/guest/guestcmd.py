#!/usr/bin/env python3
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

"""Host side of the cinder-ext test guest's disk agent (see init.sh).

Tests drive the guest with no network: they write a command sector at the
start of a data disk (e.g. into the RBD image behind a Cinder volume), then
read the result from the server's console log.  Standard library only, so
any Python can import it or run it:

    guestcmd.py sector write TOKEN OFFSET LENGTH > cmd.bin  # 512 bytes
    guestcmd.py pattern TOKEN LENGTH | sha256sum    # what "write" puts
    guestcmd.py parse < console.log                 # events as JSON lines
"""

import argparse
import dataclasses
import json
import re
import sys
import typing

MAGIC = b'CINDER-EXT-CMD '
SECTOR = 512
COMMANDS = ('write', 'read')
PREFIX = 'cinder-ext-guest: '
_TOKEN = re.compile(r'[A-Za-z0-9._-]{1,64}\Z')


def _check(token: str, offset: int, length: int) -> None:
    # The same limits as the guest's, so a bad command fails here and not
    # as an "error" line minutes later in a console log.
    if not _TOKEN.match(token):
        raise ValueError('token must be 1-64 of [A-Za-z0-9._-]: %r' % token)
    if offset < 0 or length <= 0 or (offset | length) % SECTOR:
        raise ValueError('offset and length must be multiples of %d '
                         '(length > 0): %d, %d' % (SECTOR, offset, length))


def command_sector(cmd: str, token: str, offset: int, length: int) -> bytes:
    """The 512-byte sector to put at byte 0 of a data disk."""
    if cmd not in COMMANDS:
        raise ValueError('command must be one of %s: %r' % (COMMANDS, cmd))
    _check(token, offset, length)
    line = MAGIC + ('%s %s %d %d\n' % (cmd, token, offset, length)).encode()
    return line.ljust(SECTOR, b'\0')


def pattern(token: str, length: int) -> bytes:
    """The bytes the guest's "write <token>" puts on the disk."""
    unit = ('GUEST %s ' % token).encode()
    return (unit * (length // len(unit) + 1))[:length]


@dataclasses.dataclass
class Event:
    """One agent line of the console log.

    kind is booted, disks, added, size, gone, wrote, read, error or poweroff.
    """

    kind: str
    disk: str = ''
    token: str = ''
    size: int = 0
    serial: str = ''
    sha256: str = ''
    text: str = ''
    # kind "disks": name -> (size in bytes, serial or '').
    disks: typing.Dict[str, typing.Tuple[int, str]] = dataclasses.field(
        default_factory=dict)


_DISK = r'(?P<disk>vd[a-z]+)'
_HASH = r'(?P<sha256>[0-9a-f]{64})'
_LINES = [
    ('booted', re.compile(r'booted (?P<text>\S+)$')),
    ('disks', re.compile(r'disks(?P<text>( \S+)*)$')),
    ('added', re.compile(
        r'disk %s added (?P<size>\d+)( serial (?P<serial>\S+))?$' % _DISK)),
    ('size', re.compile(r'disk %s size (?P<size>\d+)$' % _DISK)),
    ('gone', re.compile(r'disk %s gone$' % _DISK)),
    ('wrote', re.compile(
        r'wrote (?P<token>\S+) on %s sha256 %s$' % (_DISK, _HASH))),
    ('read', re.compile(
        r'read (?P<token>\S+) on %s sha256 %s$' % (_DISK, _HASH))),
    ('error', re.compile(
        r'error ((?P<token>\S+) )?on %s (?P<text>.*)$' % _DISK)),
    ('error', re.compile(r'error (?P<text>.*)$')),
    ('poweroff', re.compile(r'poweroff$')),
]


def _disks(text: str) -> typing.Dict[str, typing.Tuple[int, str]]:
    disks = {}
    for item in text.split():
        name, size, *serial = item.split(':', 2)
        disks[name] = (int(size), serial[0] if serial else '')
    return disks


def parse_line(line: str) -> typing.Optional[Event]:
    """The event of one console line, or None for any other line."""
    start = line.find(PREFIX)
    if start < 0:
        return None
    body = line[start + len(PREFIX):].strip()
    for kind, regex in _LINES:
        match = regex.match(body)
        if not match:
            continue
        fields = {k: v for k, v in match.groupdict().items() if v}
        if 'size' in fields:
            fields['size'] = int(fields['size'])
        event = Event(kind, **fields)
        if kind == 'disks':
            event.disks = _disks(event.text)
            event.text = ''
        return event
    return None


def parse_console(text: str) -> typing.List[Event]:
    """Every agent event of a console log, in order.

    The serial console ends lines with CR LF, and kernel messages may sit
    between the agent's lines: both are fine.
    """
    events = []
    for line in text.splitlines():
        event = parse_line(line)
        if event is not None:
            events.append(event)
    return events


def main(argv: typing.Optional[typing.List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='what', required=True)
    sector = sub.add_parser('sector', help='print a command sector')
    sector.add_argument('cmd', choices=COMMANDS)
    sector.add_argument('token')
    sector.add_argument('offset', type=int)
    sector.add_argument('length', type=int)
    pat = sub.add_parser('pattern', help='print the bytes "write" puts')
    pat.add_argument('token')
    pat.add_argument('length', type=int)
    sub.add_parser('parse', help='console log on stdin to JSON lines')
    args = parser.parse_args(argv)
    out = sys.stdout.buffer
    if args.what == 'sector':
        out.write(command_sector(args.cmd, args.token, args.offset,
                                 args.length))
    elif args.what == 'pattern':
        out.write(pattern(args.token, args.length))
    else:
        for event in parse_console(sys.stdin.read()):
            fields = {k: v for k, v in dataclasses.asdict(event).items() if v}
            out.write((json.dumps(fields) + '\n').encode())
    return 0


if __name__ == '__main__':
    sys.exit(main())
