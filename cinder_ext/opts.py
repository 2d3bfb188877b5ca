"""oslo.config entry point: every option cinder-ext reads.

Used by ``oslo-config-generator --namespace cinder_ext`` and the docs. The
options live in Cinder's ``[backend_defaults]`` group and may be set in any
backend section, like every volume driver option.
"""

import copy

from cinder_ext.volume import options


def list_opts():
    return [('backend_defaults', copy.deepcopy(options.all_opts()))]
