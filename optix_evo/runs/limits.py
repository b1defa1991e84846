"""Sizes a run is refused before it starts: training lengths without end, and runs that cannot fit in memory.

A run that asks for ``10**12`` steps or ``10**8`` seeds would otherwise compile, then fail minutes later with an
out-of-memory traceback, or run without end. Every command checks its sizes with :func:`check_steps` and
:func:`check_memory` before it creates its results folder or compiles anything.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from optix_evo.errors import InputError

__all__ = ["MAX_STEPS", "available_memory", "check_memory", "check_steps", "parameter_count"]

MAX_STEPS = 1_000_000
"""The longest training run accepted unless the user raises the limit (``--max-steps``): 10⁶ steps."""
_COPIES = 4  # parameters, gradients and (at least) two optimizer-state slots: a lower bound of a run's memory


def check_steps(steps: int, *, limit: int | None = None, what: str = "--steps", flag: str = "--max-steps",
                unit: str = "steps per run") -> int:
  """Refuses a training length above ``limit`` (default :data:`MAX_STEPS`); returns ``steps``.

  Examples:
    >>> from optix_evo.runs.limits import check_steps
    >>> check_steps(10**12)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: --steps 1000000000000 is above the limit of 1000000 steps per run; pass --max-steps ...
  """
  limit = MAX_STEPS if limit is None else limit
  if steps > limit:
    raise InputError(f"{what} {steps} is above the limit of {limit} {unit}; pass {flag} {steps} if you mean it (a "
                     "run this long does not end in hours).")
  return steps


def available_memory() -> int:
  """Bytes the runs can use: the accelerator's memory limit, else the host's available memory."""
  device = jax.devices()[0]
  if device.platform != "cpu":
    stats = device.memory_stats() or {}
    if stats.get("bytes_limit"):
      return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def parameter_count(task) -> int:
  """The number of parameters of ``task``'s model, from shapes only (nothing is computed or compiled)."""
  shapes = jax.eval_shape(task.init, jax.random.PRNGKey(0))
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(shapes)))


def check_memory(*, runs: int, parameters: int, what: str, available: int | None = None) -> None:
  """Refuses ``runs`` simultaneous training runs of ``parameters`` parameters each when even a lower bound of their
  memory (parameters, gradients and two optimizer-state slots, float32) exceeds the available memory.

  Args:
    runs: runs held in memory at once (seeds × grid points × ...).
    parameters: parameters per run.
    what: how the user chose ``runs``, for the message (e.g. ``"--seeds 100000000 × 5 learning rates"``).
    available: bytes available (default: :func:`available_memory`).

  Examples:
    >>> from optix_evo.runs.limits import check_memory
    >>> check_memory(runs=10**8, parameters=5000, what="--seeds 100000000", available=2**34)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: --seeds 100000000: 100000000 runs of 5000 parameters need at least 7451 GiB ...
  """
  need = runs * parameters * _COPIES * 4
  available = available_memory() if available is None else available
  if need > available:
    raise InputError(f"{what}: {runs} runs of {parameters} parameters need at least {need / 2**30:.0f} GiB "
                     f"(parameters, gradients, optimizer state), but {available / 2**30:.1f} GiB are available; "
                     "use fewer seeds or a smaller grid.")
