"""Test configuration: float64 for reference comparisons is enabled per test with ``jax.experimental.enable_x64``."""

import os

import tempfile

# Several tests exercise sharding over a population axis; give the CPU 8 devices before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
# Programs that several tests (or test processes, or xdist workers) build again are loaded from JAX's persistent
# compilation cache instead of compiled again (the cache key covers the program, the options and the versions).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "optix_evo_test_xla_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# Generated data sets (MNIST-1D) are cached beside it, not in the user's home folder.
os.environ.setdefault("OPTIX_EVO_DATA_CACHE", os.path.join(tempfile.gettempdir(), "optix_evo_test_data_cache"))


import pytest  # noqa: E402

# `--doctest-modules` (pyproject.toml) imports every Python file under the test paths; these scripts make the PyTorch
# reference fixtures, import torch (the optional `torch` extra) and hold no tests.
collect_ignore = ["oracles/cases_sam.py", "oracles/cases_zoo.py", "oracles/make_fixtures.py"]


@pytest.fixture
def one_error_line(capsys):
  """``check(command, *fragments)``: stderr so far is one line ``optix-evo <command>: error: ...`` holding every
  fragment (the command line's error style); returns it."""
  def check(command, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"optix-evo {command}: error: "), err
    for fragment in fragments:
      assert fragment in err, err
    return err

  return check


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
  """Every test file is one xdist group (``--dist loadgroup``), so it runs on one worker and its compiled programs are
  reused, as with ``--dist loadfile``; a file whose tests name their own groups is shared between the workers (the
  optax battery: its optimizers in two halves)."""
  del config
  for item in items:
    if item.get_closest_marker("xdist_group") is None:
      item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
