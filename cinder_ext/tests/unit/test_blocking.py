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

"""Blocking librados calls: inline with native threads, tpool on eventlet."""

import subprocess
import sys
import threading
from unittest import mock

from cinder_ext.ceph import blocking
from cinder_ext.tests import unit
from cinder_ext.tests.unit import base


class Target(object):
    size = 42

    def __init__(self):
        self.threads = []

    def grow(self, by, factor=1):
        """Grow by something."""
        self.threads.append(threading.get_ident())
        return self.size + by * factor

    def fail(self):
        raise KeyError('boom')


class EventletActiveTestCase(base.TestCase):

    def test_false_without_monkey_patching(self):
        # A fresh interpreter that imports Cinder (which imports eventlet)
        # but never monkey patches.
        code = ('import cinder\n'
                'from cinder_ext.ceph import blocking\n'
                'import sys\n'
                'assert "eventlet" in sys.modules\n'
                'print(blocking.eventlet_active())\n')
        out = subprocess.check_output(
            [sys.executable, '-W', 'ignore', '-c', code],
            stderr=subprocess.DEVNULL, text=True)
        self.assertEqual('False', out.strip())

    def test_matches_this_process_mode(self):
        # The unit test package patched (or not) on import, as Cinder does.
        self.assertEqual(not unit.NATIVE_THREADS, blocking.eventlet_active())

    def test_false_when_eventlet_never_imported(self):
        with mock.patch.dict(sys.modules, {'eventlet.patcher': None}):
            self.assertFalse(blocking.eventlet_active())


class CallTestCase(base.TestCase):

    def test_inline_without_eventlet(self):
        target = Target()
        with mock.patch.object(blocking, 'eventlet_active',
                               return_value=False), \
                mock.patch('eventlet.tpool.execute') as execute:
            self.assertEqual(48, blocking.call(target.grow, 3, factor=2))
        execute.assert_not_called()
        self.assertEqual([threading.get_ident()], target.threads)

    def test_tpool_under_eventlet(self):
        target = Target()
        with mock.patch.object(blocking, 'eventlet_active',
                               return_value=True), \
                mock.patch('eventlet.tpool.execute',
                           return_value='from tpool') as execute:
            self.assertEqual('from tpool',
                             blocking.call(target.grow, 3, factor=2))
        execute.assert_called_once_with(target.grow, 3, factor=2)
        self.assertEqual([], target.threads)

    def test_errors_propagate(self):
        self.assertRaises(KeyError, blocking.call, Target().fail)


class InlineTpoolTestCase(base.TestCase):

    def setUp(self):
        super(InlineTpoolTestCase, self).setUp()
        from eventlet import tpool
        self.addCleanup(tpool.set_num_threads, tpool._nthreads)
        self.tpool = tpool

    def test_inline_in_native_thread_mode(self):
        with mock.patch.object(blocking, 'eventlet_active',
                               return_value=False):
            self.assertTrue(blocking.inline_tpool_without_eventlet())
        # A tpool.Proxy call now runs here, in the calling thread.
        target = Target()
        self.assertEqual(48, self.tpool.Proxy(target).grow(3, factor=2))
        self.assertEqual([threading.get_ident()], target.threads)

    def test_untouched_under_eventlet(self):
        self.tpool.set_num_threads(7)
        with mock.patch.object(blocking, 'eventlet_active',
                               return_value=True):
            self.assertFalse(blocking.inline_tpool_without_eventlet())
        self.assertEqual(7, self.tpool._nthreads)


class OffloadedTestCase(base.TestCase):

    def test_methods_go_through_call(self):
        target = Target()
        proxy = blocking.Offloaded(target)
        with mock.patch.object(blocking, 'call',
                               return_value=99) as call:
            self.assertEqual(99, proxy.grow(1, factor=3))
        call.assert_called_once_with(mock.ANY, 1, factor=3)
        self.assertEqual(target.grow, call.call_args[0][0])

    def test_really_calls_target(self):
        proxy = blocking.Offloaded(Target())
        self.assertEqual(45, proxy.grow(3))
        self.assertEqual('Grow by something.', proxy.grow.__doc__)
        self.assertEqual('grow', proxy.grow.__name__)
        self.assertRaises(KeyError, proxy.fail)

    def test_attributes_pass_through(self):
        target = Target()
        proxy = blocking.Offloaded(target)
        with mock.patch.object(blocking, 'call') as call:
            self.assertEqual(42, proxy.size)
            self.assertIs(target.threads, proxy.threads)
        call.assert_not_called()
        self.assertRaises(AttributeError, getattr, proxy, 'missing')
