"""The API reference (``docs/``) builds from the docstrings with Sphinx, warnings as errors, and documents every
public function and class; the docstrings' examples themselves run as doctests (``--doctest-modules``, pyproject)."""

import importlib.util
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None,
                    reason="Sphinx is not installed: pip install -e '.[docs]' (the dev extra includes it)")
def test_api_reference_builds_without_warnings(tmp_path):
  out = tmp_path / "html"
  result = subprocess.run(
      [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
       str(DOCS), str(out)], capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stdout + result.stderr
  anchors = set()
  for page in (out / "api").glob("*.html"):
    anchors.update(re.findall(r'id="(optix_evo\.[\w.]+)"', page.read_text()))
  import optix_evo  # noqa: F401
  missing = []
  for package in ("optimizers", "sam_family", "schedules", "diagnostics", "graph", "search", "bench", "models", "data",
                  "tasks", "compilation", "errors", "runs"):
    module = importlib.import_module(f"optix_evo.{package}")
    public = getattr(module, "__all__", None)
    if public is None:  # a module without __all__: its own public functions and classes
      public = [name for name, obj in vars(module).items()
                if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__]
    for name in public:
      if not (inspect.isfunction(getattr(module, name)) or inspect.isclass(getattr(module, name))):
        continue  # constants and submodules: documented where they have a doc comment
      if not any(a.endswith(f".{name}") for a in anchors):
        missing.append(f"optix_evo.{package}.{name}")
  assert not missing, f"public names missing from the API reference: {missing}"
