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

"""Unit tests: the driver against in-memory fakes of rados and rbd.

The suite runs in the concurrency mode cinder-volume would use, chosen
before anything else is imported: eventlet monkey patching by default,
native threads when OS_CINDER_DISABLE_EVENTLET_PATCHING is set (tox env
py3-threading). Importing ``cinder.tests.unit`` (for ``fake_volume``) would
make the same choice; doing it here makes it explicit and first.
"""

from cinder_ext.tests import concurrency_mode

NATIVE_THREADS = concurrency_mode.NATIVE_THREADS
concurrency_mode.select()
