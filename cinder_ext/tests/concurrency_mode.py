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
"""Choose the concurrency mode for a test run, as cinder-volume would.

Eventlet monkey patching by default, native threads when
OS_CINDER_DISABLE_EVENTLET_PATCHING is set. The choice must come before
anything else is imported, so the test packages' ``__init__`` call
:func:`select` first. Cinder's own switch is used where the installed
Cinder has one (2025.2 and later).
"""

import os

NATIVE_THREADS = os.environ.get(
    'OS_CINDER_DISABLE_EVENTLET_PATCHING', '').lower() in ('1', 'true', 'yes')


def select():
    try:
        from cinder import monkey_patch
    except ImportError:  # Cinder releases that always run on eventlet
        monkey_patch = None
    if monkey_patch is not None:
        monkey_patch.patch()
    elif not NATIVE_THREADS:
        import eventlet
        eventlet.monkey_patch()
