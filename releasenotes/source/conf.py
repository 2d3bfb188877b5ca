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

"""Sphinx configuration for the cinder-ext release notes (reno)."""

import importlib.util

# -- General configuration ---------------------------------------------------

extensions = [
    'reno.sphinxext',
]

_HAVE_OPENSTACKDOCSTHEME = (
    importlib.util.find_spec('openstackdocstheme') is not None)
if _HAVE_OPENSTACKDOCSTHEME:
    extensions.append('openstackdocstheme')

# openstackdocstheme options
openstackdocs_repo_name = 'openstack/cinder-ext'
openstackdocs_bug_project = 'cinder-ext'
openstackdocs_bug_tag = ''
openstackdocs_auto_name = False

templates_path = ['_templates']
source_suffix = '.rst'
master_doc = 'index'

project = 'cinder-ext Release Notes'
copyright = '2025, OpenStack Foundation'

# Release notes do not need version numbers in the title; reno supplies them.
version = ''
release = ''

exclude_patterns = []
pygments_style = 'native'

# -- Options for HTML output -------------------------------------------------

html_theme = 'openstackdocs' if _HAVE_OPENSTACKDOCSTHEME else 'alabaster'
html_static_path = ['_static']
htmlhelp_basename = 'CinderExtReleaseNotesdoc'

# -- Options for Internationalization output ---------------------------------
locale_dirs = ['locale/']
