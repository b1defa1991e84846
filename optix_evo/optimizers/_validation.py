"""Argument and pytree checks shared by the zoo's constructors and update functions.

Constructor checks only look at values known at construction: schedules, and the traced scalars that
``optax.inject_hyperparams`` or ``jax.vmap`` pass in, are accepted as they are.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import numpy as np
import optax


def _concrete(value: Any) -> np.ndarray | None:
  """``value`` as a float array if it is known now (not a schedule, not a tracer), else ``None``."""
  if value is None or callable(value) or isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError):
    return None


def check_learning_rate(learning_rate: optax.ScalarOrSchedule, name: str = "learning_rate") -> None:
  """Raises if a constant learning rate is negative or not finite (schedules are accepted as given)."""
  v = _concrete(learning_rate)
  if v is not None and not np.all(np.isfinite(v) & (v >= 0)):
    raise ValueError(f"{name} must be a finite number >= 0 or an optax schedule, got {learning_rate!r}.")


def check_non_negative(name: str, value: Any) -> None:
  """Raises if ``value`` is known now and is negative or NaN."""
  v = _concrete(value)
  if v is not None and not np.all(v >= 0):
    raise ValueError(f"{name} must be non-negative, got {value!r}.")


def check_positive(name: str, value: Any) -> None:
  """Raises if ``value`` is known now and is not strictly positive."""
  v = _concrete(value)
  if v is not None and not np.all(v > 0):
    raise ValueError(f"{name} must be > 0, got {value!r}.")


def check_decay(name: str, value: Any) -> None:
  """Raises unless ``value`` (an exponential decay rate such as ``b1``) lies in [0, 1)."""
  v = _concrete(value)
  if v is not None and not np.all((v >= 0) & (v < 1)):
    raise ValueError(f"{name} must be in [0, 1) (an exponential decay rate such as 0.9), got {value!r}.")


def check_tree_match(updates: chex.ArrayTree, reference: chex.ArrayTree, what: str) -> None:
  """Raises if ``updates`` (the gradients) do not have the structure and leaf shapes of ``reference``.

  Runs at trace time (shapes and structures are static), so it costs nothing inside ``jit``.
  """
  u_def, r_def = jax.tree.structure(updates), jax.tree.structure(reference)
  if u_def != r_def:
    raise ValueError(
        f"The gradient tree does not match the {what}: gradients have structure {u_def}, the {what} have {r_def}. "
        "Pass gradients of the same parameters the optimizer was initialised with."
    )
  for path, (u, r) in zip(
      (jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(reference)[0]),
      zip(jax.tree.leaves(updates), jax.tree.leaves(reference)),
  ):
    if np.shape(u) != np.shape(r):
      raise ValueError(
          f"Gradient leaf {path or '<root>'} has shape {np.shape(u)} but the {what} leaf has shape {np.shape(r)}."
      )


def with_tree_check(tx: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
  """Wraps ``tx`` so that ``update`` first checks the gradients against ``params`` (when given) with
  :func:`check_tree_match`. State and maths are unchanged (``optax.inject_hyperparams`` and ``optax.tree.get``
  see the wrapped transformation's own state)."""
  tx = optax.with_extra_args_support(tx)

  def update_fn(updates, state, params=None, **extra_args):
    if params is not None:
      check_tree_match(updates, params, "params")
    return tx.update(updates, state, params, **extra_args)

  return optax.GradientTransformationExtraArgs(tx.init, update_fn)

