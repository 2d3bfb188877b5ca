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

"""Run blocking librados/librbd calls without stalling the eventlet hub.

The Ceph bindings release the GIL but know nothing about eventlet: a call
made from a greenthread blocks every other greenthread (RPC heartbeats
included) until librados answers. Under eventlet we hand the call to
``eventlet.tpool``; in native-thread mode (Cinder with
``OS_CINDER_DISABLE_EVENTLET_PATCHING=1``) threads already run in parallel
and we call directly.

The mode is decided per call from eventlet's own record of monkey patching,
so the same process can be imported by tools that never patch.

Rule for code passed to :func:`call`: it runs on a native thread, so it must
not log, sleep or take locks that eventlet has patched; it returns a value or
raises, and the caller does the rest.
"""

import functools
import sys


def eventlet_active():
    """True when eventlet has monkey patched threading in this process."""
    patcher = sys.modules.get('eventlet.patcher')
    return bool(patcher and patcher.is_monkey_patched('thread'))


def inline_tpool_without_eventlet() -> bool:
    """In native-thread mode, make ``eventlet.tpool`` run calls inline.

    Cinder 29 still wraps image downloads and uploads in ``tpool.Proxy``
    (``image_utils.fetch``, ``upload_volume``). Without monkey patching,
    tpool hands each answer to the hub of the thread that used it first, so
    the same call from any other thread waits forever. With no hub to
    protect, running the call in the calling thread is what tpool is for.
    Returns True when it changed eventlet's setting.
    """
    if eventlet_active():
        return False
    from eventlet import tpool
    tpool.set_num_threads(0)
    return True


def call(func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` where it cannot block the hub."""
    if eventlet_active():
        from eventlet import tpool
        return tpool.execute(func, *args, **kwargs)
    return func(*args, **kwargs)


class Offloaded(object):
    """Proxy whose method calls go through :func:`call`.

    Unlike ``eventlet.tpool.Proxy`` it is a no-op wrapper in native-thread
    mode and works the same way for any object.
    """

    __slots__ = ('_target',)

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def offloaded(*args, **kwargs):
            return call(attr, *args, **kwargs)
        return offloaded
