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
"""Removing what a benchmark made, shared by the parent and the workers.

Plain librbd only: the parent process never imports cinder or eventlet.
"""

import rbd


def purge_image(ioctx, name):
    """Remove every snapshot of ``name`` and then the image; True if gone.

    Used only to clean up after a failed step or a failed worker, never
    timed. ImageBusy/ImageHasSnapshots (clones still hanging off it)
    propagate, so callers can retry parents after their clones.
    """
    try:
        with rbd.Image(ioctx, name) as image:
            for snap in list(image.list_snaps()):
                if image.is_protected_snap(snap['name']):
                    image.unprotect_snap(snap['name'])
                image.remove_snap(snap['name'])
        rbd.RBD().remove(ioctx, name)
        return True
    except rbd.ImageNotFound:
        return False
