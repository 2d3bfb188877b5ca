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
"""What a volume type asks of an image: QoS limits and multiattach.

Multiattach works as in-tree: features that assume a single writer
(exclusive-lock, object-map, fast-diff, journaling) are switched off and
the original feature set is saved in ``provider_location`` as
``{"saved_features": N}`` so either driver can restore it on retype.
"""

import json

from cinder import exception
from oslo_log import log as logging

from cinder_ext.ceph import bindings
from cinder_ext.ceph import images
from cinder_ext.volume import qos

LOG = logging.getLogger(__name__)

MULTIATTACH_EXCLUSIONS = (bindings.FEATURE_JOURNALING |
                          bindings.FEATURE_FAST_DIFF |
                          bindings.FEATURE_OBJECT_MAP |
                          bindings.FEATURE_EXCLUSIVE_LOCK)


def _is_true(volume_type, key):
    if not volume_type:
        return False
    specs = volume_type.get('extra_specs') or {}
    return specs.get(key) == '<is> True'


def wants_multiattach(volume_type):
    return _is_true(volume_type, 'multiattach')


def check_type(volume_type, size_gb):
    """Refuse what we cannot do before anything is created."""
    if _is_true(volume_type, 'replication_enabled'):
        raise exception.InvalidVolumeType(
            reason='extra spec replication_enabled="<is> True": '
                   'replication is not supported by cinder-ext yet')
    return qos.settings_for(volume_type, size_gb)


def apply(session, ioctx, volume, volume_type, old_type=None,
          settings=None):
    """Bring ``volume``'s image in line with ``volume_type``.

    Returns the model update (``provider_location``) when multiattach
    changes. ``old_type`` is the type being left on retype; ``settings``
    the type's QoS settings if the caller already has them.
    """
    if settings is None:
        settings = check_type(volume_type, volume.size)
    if settings or (old_type and qos.specs_for_type(old_type)[0]):
        session.run(images.set_config, ioctx, volume.name, settings,
                    qos.ALL_CEPH_KEYS)
    want = wants_multiattach(volume_type)
    had = wants_multiattach(old_type) if old_type else False
    if want and not had:
        before = session.run(images.update_features, ioctx, volume.name,
                             MULTIATTACH_EXCLUSIONS, False)
        return {'provider_location': json.dumps({'saved_features': before})}
    if had and not want:
        saved = _saved_features(volume)
        session.run(images.update_features, ioctx, volume.name,
                    MULTIATTACH_EXCLUSIONS & saved, True)
        return {'provider_location': None}
    return {}


def _saved_features(volume):
    try:
        return int(json.loads(volume.provider_location)['saved_features'])
    except (TypeError, ValueError, KeyError):
        raise exception.VolumeDriverException(
            message='volume %s: provider_location %r does not hold the '
                    'features saved when multiattach was enabled'
                    % (volume.id, volume.provider_location))
