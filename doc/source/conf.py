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

"""Sphinx configuration for the cinder-ext documentation."""

import importlib.util


def _have(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


# -- General configuration ---------------------------------------------------

extensions = [
    'sphinx.ext.autodoc',
]

# show-options / the generated sample config come from oslo.config.
if _have('oslo_config.sphinxext'):
    extensions += [
        'oslo_config.sphinxext',
        'oslo_config.sphinxconfiggen',
    ]

_HAVE_OPENSTACKDOCSTHEME = _have('openstackdocstheme')
if _HAVE_OPENSTACKDOCSTHEME:
    extensions.append('openstackdocstheme')

# oslo_config.sphinxconfiggen: writes _static/cinder-ext.conf.sample
config_generator_config_file = (
    '../../etc/cinder-ext/cinder-ext-config-generator.conf')
sample_config_basename = '_static/cinder-ext'

# openstackdocstheme options
openstackdocs_repo_name = 'openstack/cinder-ext'
openstackdocs_bug_project = 'cinder-ext'
openstackdocs_bug_tag = ''
openstackdocs_auto_name = False
openstackdocs_pdf_link = False

templates_path = []
source_suffix = '.rst'
master_doc = 'index'

project = 'cinder-ext'
copyright = '2025, OpenStack Foundation'

exclude_patterns = []
add_module_names = False
pygments_style = 'native'

# -- Options for HTML output -------------------------------------------------

html_theme = 'openstackdocs' if _HAVE_OPENSTACKDOCSTHEME else 'alabaster'
html_static_path = ['_static']
htmlhelp_basename = 'cinder-extdoc'
