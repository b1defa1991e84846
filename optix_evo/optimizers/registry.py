"""Name → optimizer registry used by the CLI, the benchmarks and the search baselines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import optax

from optix_evo.errors import InputError


class OptimizerSpec(NamedTuple):
  """A zoo entry: how to build the optimizer, its reference default hyperparameters, and where it comes from."""

  constructor: Callable[..., optax.GradientTransformation]
  defaults: Mapping[str, Any]
  citation: str


#: Every optimizer of the zoo by name: its constructor, reference default hyperparameters and citation
#: (:class:`OptimizerSpec`); :func:`get_optimizer` builds one, :func:`register` adds one.
OPTIMIZERS: dict[str, OptimizerSpec] = {}


def register(name: str, constructor: Callable[..., optax.GradientTransformation], defaults: Mapping[str, Any], citation: str) -> None:
  """Adds ``name`` to :data:`OPTIMIZERS`. Registering a name twice is an error (one way to do each thing)."""
  if name in OPTIMIZERS:
    raise InputError(f"An optimizer named {name!r} is already registered.")
  OPTIMIZERS[name] = OptimizerSpec(constructor, dict(defaults), citation)


def get_optimizer(name: str, **hparams: Any) -> optax.GradientTransformation:
  """Builds the zoo optimizer ``name`` with its registered defaults overridden by ``hparams``.

  Example:
    >>> import optix_evo as ox
    >>> opt = ox.get_optimizer("adam", learning_rate=3e-4)

  Raises:
    InputError: if ``name`` is unknown (the message lists the known names) or a hyperparameter is not accepted.
  """
  try:
    spec = OPTIMIZERS[name]
  except KeyError:
    raise InputError(f"Unknown optimizer {name!r}. Known optimizers: {', '.join(sorted(OPTIMIZERS))}.") from None
  try:
    return spec.constructor(**{**spec.defaults, **hparams})
  except TypeError as e:
    raise InputError(f"Bad hyperparameters for optimizer {name!r}: {e}. Defaults are {dict(spec.defaults)}.") from e
