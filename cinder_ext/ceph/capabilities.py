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

"""Cluster features discovered at run time, never from release names.

Clone format: librbd's default ``rbd_default_clone_format=auto`` makes v2
clones only when the OSD map requires mimic or newer clients. v2 clones do
not need protected parent snapshots, so a snapshot with clones can be
deleted (it waits in the snapshot trash) instead of flattening every clone.
"""

import time

_CLIENT_RELEASES = ['argonaut', 'bobtail', 'cuttlefish', 'dumpling',
                    'emperor', 'firefly', 'giant', 'hammer', 'infernalis',
                    'jewel', 'kraken', 'luminous', 'mimic', 'nautilus',
                    'octopus', 'pacific', 'quincy', 'reef', 'squid',
                    'tentacle', 'umbrella']

# Operators may flip require-min-compat-client at any time; re-read it.
CLONE_FORMAT_TTL = 60


def release_at_least(release, minimum):
    """Compare release names.

    A name we do not know is newer than our list; a missing one is older
    than anything (librbd reads it that way too).
    """
    def rank(name):
        if not name:
            return -1
        try:
            return _CLIENT_RELEASES.index(name)
        except ValueError:
            return len(_CLIENT_RELEASES)
    return rank(release) >= rank(minimum)


def clone_format(configured, min_compat_client):
    """The clone format librbd will use: 1 or 2."""
    if configured in ('1', '2'):
        return int(configured)
    return 2 if release_at_least(min_compat_client or '', 'mimic') else 1


class CloneFormatProbe(object):
    """Caches :func:`clone_format` for one cluster connection."""

    def __init__(self, ttl=CLONE_FORMAT_TTL, clock=time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._value = None
        self._read_at = None

    def get(self, session):
        now = self._clock()
        if self._value is None or now - self._read_at > self.ttl:
            osdmap = session.mon_command('osd dump')
            configured = session.handle.conf_get('rbd_default_clone_format')
            self._value = clone_format(
                configured, osdmap.get('require_min_compat_client'))
            self._read_at = now
        return self._value
