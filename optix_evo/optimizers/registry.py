"""Name → optimizer registry used by the CLI, the benchmarks and the search baselines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import optax

from optix_evo.errors import InputError


class OptimizerSpec(NamedTuple):
  """A zoo entry: how to build the optimizer, its reference default hyperparameters, and where it comes from.

  Attributes:
    constructor: the function that builds the optimizer from keyword hyperparameters.
    defaults: the reference default hyperparameters (those of the paper's or the reference code's).
    citation: the paper (and reference code) the defaults come from.

  Examples:
    >>> import optix_evo as ox
    >>> spec = ox.OPTIMIZERS["adamw"]
    >>> print(spec.constructor.__name__, spec.defaults)
    adamw {'learning_rate': 0.001, 'weight_decay': 0.01}
  """

  constructor: Callable[..., optax.GradientTransformation]
  defaults: Mapping[str, Any]
  citation: str


#: Every optimizer of the zoo by name: its constructor, reference default hyperparameters and citation
#: (:class:`OptimizerSpec`); :func:`get_optimizer` builds one, :func:`register` adds one.
OPTIMIZERS: dict[str, OptimizerSpec] = {}


def register(name: str, constructor: Callable[..., optax.GradientTransformation], defaults: Mapping[str, Any], citation: str) -> None:
  """Adds the optimizer ``name`` to :data:`OPTIMIZERS`.

  Args:
    name: the registry name (what ``optix-evo bench`` rows and :func:`get_optimizer` use).
    constructor: a function of keyword hyperparameters returning an :class:`optax.GradientTransformation`.
    defaults: the reference default hyperparameters, overridable in :func:`get_optimizer`.
    citation: where the optimizer and its defaults come from.

  Raises:
    ValueError: if ``name`` is already registered (one way to do each thing).

  Examples:
    >>> import optax
    >>> import optix_evo as ox
    >>> ox.register("lamb_3e3", optax.lamb, {"learning_rate": 3e-3}, "You et al. 2020, arXiv:1904.00962")
    >>> print(ox.OPTIMIZERS["lamb_3e3"].defaults)
    {'learning_rate': 0.003}
    >>> del ox.OPTIMIZERS["lamb_3e3"]  # this example's entry removed again
  """
  if name in OPTIMIZERS:
    raise ValueError(f"An optimizer named {name!r} is already registered.")
  OPTIMIZERS[name] = OptimizerSpec(constructor, dict(defaults), citation)


def get_optimizer(name: str, **hparams: Any) -> optax.GradientTransformation:
  """Builds the zoo optimizer ``name`` with its registered defaults overridden by ``hparams``.

  Args:
    name: a name in :data:`OPTIMIZERS` (``"adam"``, ``"swats"``, ...).
    **hparams: hyperparameters that replace the registered defaults (``learning_rate=3e-4``, ...).

  Returns:
    The optimizer, an :class:`optax.GradientTransformation`.

  Raises:
    InputError: if ``name`` is unknown (the message lists the known names) or a hyperparameter is not accepted:
      names and hyperparameters come from row specs, ``--set`` values and configuration files.

  Examples:
    >>> import optix_evo as ox
    >>> opt = ox.get_optimizer("adam", learning_rate=3e-4)
    >>> print(sorted(ox.OPTIMIZERS)[:4])
    ['acprop', 'adabelief', 'adabound', 'adadelta']
    >>> ox.get_optimizer("adamm")
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: Unknown optimizer 'adamm'. Known optimizers: ...
  """
  try:
    spec = OPTIMIZERS[name]
  except KeyError:
    raise InputError(f"Unknown optimizer {name!r}. Known optimizers: {', '.join(sorted(OPTIMIZERS))}.") from None
  try:
    return spec.constructor(**{**spec.defaults, **hparams})
  except (TypeError, ValueError) as e:
    raise InputError(f"Bad hyperparameters for optimizer {name!r}: {e} Defaults are {dict(spec.defaults)}.") from e
