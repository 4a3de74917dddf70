"""Sphinx configuration of the sklmixed documentation.

Build offline with ``make -C docs html`` or ``sphinx-build -W -b html docs docs/_build/html``.
Only Sphinx's own extensions and numpydoc are used, and nothing is fetched: there is
no intersphinx mapping. The figures and printed outputs of the user guide are made at
the start of every build by ``make_figures.py`` (into ``_static/generated/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # make_figures
if (HERE.parent / "sklmixed" / "__init__.py").is_file():
    sys.path.insert(0, str(HERE.parent))  # the checkout, when sklmixed is not installed

import sklmixed  # noqa: E402

project = "sklmixed"
author = "the sklmixed developers"
copyright = "the sklmixed developers; BSD 3-Clause License"
release = sklmixed.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_static/generated", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# API reference: one page per object, written by autosummary into api/generated/
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"sklmixed {release}"
html_theme_options = {
    "description": "Mixed-effects models after MixedModels.jl, with scikit-learn estimators",
    "fixed_sidebar": True,
}
html_show_sourcelink = False


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out members scikit-learn generates (``set_fit_request``, ``get_metadata_routing``).

    Their docstrings refer to scikit-learn's own glossary and labels, which this build
    does not have; the user guide explains metadata routing instead.
    """
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.startswith("sklearn."):
        return True
    return None


def setup(app):
    import make_figures

    app.connect("autodoc-skip-member", _skip_foreign_members)

    make_figures.main(HERE / "_static" / "generated")
    return {"parallel_read_safe": True}
