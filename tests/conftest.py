"""Test configuration: float64 for reference comparisons is enabled per test with ``jax.experimental.enable_x64``."""

import os

# Several tests exercise sharding over a population axis; give the CPU 8 devices before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
