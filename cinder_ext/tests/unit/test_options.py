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

"""The drop-in guarantee: every in-tree option, same name, type, default."""

from cinder.volume.drivers import rbd as intree
from oslo_config import cfg

from cinder_ext import opts
from cinder_ext.tests.unit import base
from cinder_ext.volume import options


def _by_name(opt_list):
    return {opt.name: opt for opt in opt_list}


class OptionsTestCase(base.TestCase):

    def _check_same(self, ours):
        ours = _by_name(ours)
        for theirs in intree.RBD_OPTS:
            self.assertIn(theirs.name, ours)
            mine = ours[theirs.name]
            self.assertIs(type(theirs), type(mine), theirs.name)
            self.assertIs(type(theirs.type), type(mine.type), theirs.name)
            self.assertEqual(theirs.default, mine.default, theirs.name)
            for bound in ('min', 'max', 'choices'):
                self.assertEqual(getattr(theirs.type, bound, None),
                                 getattr(mine.type, bound, None),
                                 '%s %s' % (theirs.name, bound))

    def test_every_intree_option_is_ours(self):
        self._check_same(options.all_opts())

    def test_own_copy_matches_intree(self):
        # The copy used where the installed Cinder lacks an option.
        own = getattr(options, '_OWN_RBD_OPTS', options.RBD_OPTS)
        self._check_same(own)

    def test_keyring_option_not_registered(self):
        # OSSN-0085: its contents would reach users through attach info.
        names = [opt.name for opt in options.all_opts()]
        self.assertNotIn('rbd_keyring_conf', names)
        self.assertNotIn('rbd_keyring_conf',
                         [name for _group, group_opts in opts.list_opts()
                          for name in _by_name(group_opts)])

    def test_no_duplicates(self):
        names = [opt.name for opt in options.all_opts()]
        self.assertEqual(len(names), len(set(names)))

    def test_list_opts(self):
        listed = opts.list_opts()
        self.assertEqual(['backend_defaults'], [g for g, _o in listed])
        group_opts = listed[0][1]
        names = [opt.name for opt in group_opts]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(sorted(o.name for o in options.all_opts()),
                         sorted(names))
        # The generator may mutate what it gets: copies, not ours.
        ours = {id(opt) for opt in options.all_opts()}
        for opt in group_opts:
            self.assertNotIn(id(opt), ours, opt.name)

    def test_generator_shows_our_deadline_meaning(self):
        # The shared in-tree object says "< 0: no timeout"; ours does not.
        listed = {opt.name: opt for opt in opts.list_opts()[0][1]}
        self.assertNotIn('no timeout is set',
                         listed['rados_connect_timeout'].help)
        self.assertIn('rados_default_op_timeout',
                      listed['rados_connect_timeout'].help)

    def test_loads_next_to_intree_driver_in_any_order(self):
        for first, second in ((intree.RBD_OPTS, options.all_opts()),
                              (options.all_opts(), intree.RBD_OPTS)):
            conf = cfg.ConfigOpts()
            conf.register_opts(first, group='backend_defaults')
            conf.register_opts(second, group='backend_defaults')
            conf([], default_config_files=[])
            self.assertEqual('rbd', conf.backend_defaults.rbd_pool)
            self.assertEqual(
                30, conf.backend_defaults.rados_default_op_timeout)

    def test_stats_max_age(self):
        conf = cfg.ConfigOpts()
        conf.register_opts(options.all_opts(), group='backend_defaults')
        path = self.temp_file('[backend_defaults]\nrbd_stats_max_age = -1\n')
        conf([], default_config_files=[path])
        self.assertRaises(cfg.ConfigFileValueError, getattr,
                          conf.backend_defaults, 'rbd_stats_max_age')
        conf = cfg.ConfigOpts()
        conf.register_opts(options.all_opts(), group='backend_defaults')
        conf([], default_config_files=[])
        self.assertEqual(60, conf.backend_defaults.rbd_stats_max_age)
        # The freshness promise is in the help operators read.
        listed = {opt.name: opt for opt in opts.list_opts()[0][1]}
        help_text = listed['rbd_stats_max_age'].help
        self.assertIn('count at once', help_text)
        self.assertIn('within this many seconds', help_text)
