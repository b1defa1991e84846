"""Sphinx configuration of the optix_evo API reference (built from the docstrings; ``tests/test_docs.py``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import optix_evo  # noqa: E402

project = "optix_evo"
author = "the optix_evo authors"
copyright = "the optix_evo authors, Apache-2.0"  # noqa: A001
release = optix_evo.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style Args:/Returns:/Examples: sections, as optax writes them
    "sphinx.ext.mathjax",
]

# Each package is documented on one page from its ``__all__``, in source order; docstrings are the single source.
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": False}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Type aliases shown by name instead of their expanded unions (the package annotates with postponed evaluation).
autodoc_type_aliases = {
    name: name for name in (
        "optax.ScalarOrSchedule", "optax.Schedule", "optax.OptState", "optax.Updates", "optax.Params", "chex.ArrayTree",
        "chex.Array", "chex.Numeric", "chex.PRNGKey", "ArrayLike", "jax.typing.ArrayLike",
    )
}
# A NamedTuple's fields are listed by its docstring's ``Attributes:`` section (as ``:ivar:`` fields, so they are not
# described twice); autodoc's own "Alias for field number N" entries are dropped.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False
add_module_names = False
python_display_short_literal_types = True
default_role = "code"

html_theme = "alabaster"
html_title = f"optix_evo {release}"
html_static_path: list[str] = []
exclude_patterns = ["_build"]


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
  """Drops the NamedTuple field properties ("Alias for field number N"): the class docstring lists the fields."""
  if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
    return True
  return None


def setup(app):
  app.connect("autodoc-skip-member", _skip_namedtuple_fields)
