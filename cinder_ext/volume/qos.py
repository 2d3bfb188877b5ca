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
"""Back-end QoS: Cinder QoS specs as librbd per-image ``rbd_qos_*`` limits.

Same keys as the in-tree driver, with two differences:

* ``total_iops_sec_max`` sets the IOPS burst (``rbd_qos_iops_burst``); the
  in-tree table maps it to the bytes/s burst, so a total IOPS burst there
  silently limits bandwidth instead.
* capacity-based keys (``*_per_gb``, with optional ``*_per_gb_min``) are
  multiplied by the volume size and re-applied when the volume grows.

Values must be non-negative integers; a bad one is refused with the key
and value named, before anything is created.
"""

from cinder import exception
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

KEY_MAP = {
    'total_iops_sec': 'rbd_qos_iops_limit',
    'read_iops_sec': 'rbd_qos_read_iops_limit',
    'write_iops_sec': 'rbd_qos_write_iops_limit',
    'total_bytes_sec': 'rbd_qos_bps_limit',
    'read_bytes_sec': 'rbd_qos_read_bps_limit',
    'write_bytes_sec': 'rbd_qos_write_bps_limit',
    'total_iops_sec_max': 'rbd_qos_iops_burst',
    'read_iops_sec_max': 'rbd_qos_read_iops_burst',
    'write_iops_sec_max': 'rbd_qos_write_iops_burst',
    'total_bytes_sec_max': 'rbd_qos_bps_burst',
    'read_bytes_sec_max': 'rbd_qos_read_bps_burst',
    'write_bytes_sec_max': 'rbd_qos_write_bps_burst',
}
PER_GB_SUFFIX = '_per_gb'
PER_GB_MIN_SUFFIX = '_per_gb_min'
PER_GB_BASES = ('total_iops_sec', 'read_iops_sec', 'write_iops_sec',
                'total_bytes_sec', 'read_bytes_sec', 'write_bytes_sec')
ALL_CEPH_KEYS = tuple(sorted(set(KEY_MAP.values())))


def _as_count(key, value):
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0:
        raise exception.InvalidQoSSpecs(
            reason='QoS spec %s=%r: must be a non-negative integer'
                   % (key, value))
    return number


def _known(key):
    if key in KEY_MAP:
        return True
    for suffix in (PER_GB_MIN_SUFFIX, PER_GB_SUFFIX):
        if key.endswith(suffix) and key[:-len(suffix)] in PER_GB_BASES:
            return True
    return False


def ceph_settings(specs, size_gb, consumer='back-end'):
    """``{rbd_qos_key: value}`` for a volume of ``size_gb`` GiB.

    Unknown keys are an error for a 'back-end' spec; a 'both' spec may carry
    keys meant for the hypervisor only, so they are skipped there.
    """
    settings = {}
    for key, value in (specs or {}).items():
        if not _known(key):
            if consumer == 'back-end':
                raise exception.InvalidQoSSpecs(
                    reason='QoS spec %s=%r is not a key this backend '
                           'knows (%s, or *_per_gb[_min])'
                           % (key, value, ', '.join(sorted(KEY_MAP))))
            LOG.debug('QoS key %s is for the front end only', key)
            continue
        number = _as_count(key, value)
        if key in KEY_MAP:
            settings[KEY_MAP[key]] = number
    for base in PER_GB_BASES:
        per_gb = (specs or {}).get(base + PER_GB_SUFFIX)
        if per_gb is None:
            continue
        value = _as_count(base + PER_GB_SUFFIX, per_gb) * int(size_gb)
        minimum = (specs or {}).get(base + PER_GB_MIN_SUFFIX)
        if minimum is not None:
            value = max(value, _as_count(base + PER_GB_MIN_SUFFIX, minimum))
        settings[KEY_MAP[base]] = value
    return settings


def specs_for_type(volume_type):
    """(specs, consumer) of a volume type's back-end QoS, or (None, None)."""
    if not volume_type:
        return None, None
    qos_specs_id = volume_type.get('qos_specs_id')
    if not qos_specs_id:
        return None, None
    from cinder import context
    from cinder.volume import qos_specs
    spec = qos_specs.get_qos_specs(context.get_admin_context(),
                                   qos_specs_id)
    if spec['consumer'] not in ('back-end', 'both'):
        return None, None
    return spec['specs'], spec['consumer']


def settings_for(volume_type, size_gb):
    specs, consumer = specs_for_type(volume_type)
    return ceph_settings(specs, size_gb, consumer) if specs else {}
