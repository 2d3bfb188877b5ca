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

"""Functional tests: the real drivers against a real one-node Ceph cluster.

The suite runs in the concurrency mode cinder-volume would use: eventlet
monkey patching unless OS_CINDER_DISABLE_EVENTLET_PATCHING says native
threads. The mode must be chosen before anything else is imported, which is
why it happens in the package ``__init__``, through Cinder's own switch
where the installed Cinder has one (2025.2 and later).
"""

from cinder_ext.tests import concurrency_mode

NATIVE_THREADS = concurrency_mode.NATIVE_THREADS
concurrency_mode.select()
