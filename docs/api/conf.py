"""Sphinx configuration of the API reference (docs/api): the docstrings of
the public modules. Built by scripts/docs.sh with warnings as errors."""

import dftracer.utils

project = "dftracer.utils"
author = "the dftracer.utils runtime authors"
release = dftracer.utils.__version__
version = release
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# No network in CI: Python's own names are left as plain text.
intersphinx_mapping: dict = {}
html_theme = "alabaster"
exclude_patterns = ["_build"]
