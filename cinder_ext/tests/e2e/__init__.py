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

"""End-to-end tests: the real Cinder API of tools/stack, over real Ceph.

The suite runs in the stack's clients virtualenv (openstacksdk; no Cinder,
no rados bindings) and looks at the pool with the ``rbd`` CLI as
client.admin. It brings the stack up itself when needed, with the driver
and cinder-volume mode asked for in ``CINDER_EXT_E2E_DRIVER`` (cinder-ext or
intree) and ``CINDER_EXT_E2E_THREADS=1``; it never skips. Run it with
``tools/stack/run-e2e.sh``.
"""
