"""Test configuration: float64 for reference comparisons is enabled per test with ``jax.experimental.enable_x64``."""

import os

# Several tests exercise sharding over a population axis; give the CPU 8 devices before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")


import pytest  # noqa: E402


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
