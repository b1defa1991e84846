"""Argument and pytree checks shared by the zoo's constructors and update functions.

Constructor checks only look at values known at construction: schedules, and the traced scalars that
``optax.inject_hyperparams`` or ``jax.vmap`` pass in, are accepted as they are. Bad values raise
``ValueError`` with one line that says what is wrong (the Python API's error; see :mod:`optix_evo.errors`).
"""

from __future__ import annotations

import inspect
from typing import Any

import chex
import jax
import jax.numpy as jnp
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


def check_denominator_eps(name: str, eps: Any, *others: tuple[str, Any]) -> None:
  """Raises if ``eps`` is a known 0 and none of ``others`` (``(name, value)`` pairs that also keep the denominator
  away from 0, such as ``eps_root``) is known to be positive: a zero gradient would then give 0/0 = NaN."""
  check_non_negative(name, eps)
  v = _concrete(eps)
  if v is None or np.any(v != 0):
    return
  for _, other in others:
    o = _concrete(other)
    if o is None or np.all(o > 0):
      return
  also = "".join(f" and {n}={value!r}" for n, value in others)
  raise ValueError(
      f"{name}=0{also} divides by zero wherever a gradient entry is 0 (0/0 = NaN); use a small positive {name} "
      "such as 1e-8."
  )


def check_float_params(params: chex.ArrayTree, optimizer: str) -> None:
  """Raises if a leaf of ``params`` is not a floating or complex array: an update would be truncated (one step of
  Adam turns an int32 1 into 0)."""
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and not jnp.issubdtype(dtype, jnp.inexact):
      raise ValueError(
          f"{optimizer} cannot train the {jnp.dtype(dtype).name} parameter {jax.tree_util.keystr(path) or '<root>'}: "
          "updates would be truncated to integers. Cast it to a float dtype, or leave it out of the optimizer "
          "(optax.masked / optax.multi_transform with optax.set_to_zero)."
      )


def add_decayed_weights(weight_decay: optax.ScalarOrSchedule = 0.0, mask: Any | None = None
                        ) -> optax.GradientTransformation:
  """:func:`optax.add_decayed_weights` (same state) that also runs without params while ``weight_decay`` is a
  constant 0, as every update that does not read the weights can (optax's raises whenever params are missing)."""
  tx = optax.add_decayed_weights(weight_decay=weight_decay, mask=mask)
  v = _concrete(weight_decay)
  if v is None or np.any(v != 0):
    return tx

  def update_fn(updates, state, params=None):
    if params is None:
      return updates, state
    return tx.update(updates, state, params)

  return optax.GradientTransformation(tx.init, update_fn)


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


def with_extra_args_support(tx: Any) -> optax.GradientTransformationExtraArgs:
  """:func:`optax.with_extra_args_support` that keeps the extra arguments of a transformation whose ``update``
  already takes ``**kwargs``: an ``optax.MultiSteps`` object, or its ``gradient_transformation()`` (a plain
  ``GradientTransformation`` whose update is ``MultiSteps.update``); optax's wrapper drops them there."""
  if isinstance(tx, optax.GradientTransformationExtraArgs):
    return tx
  try:
    parameters = inspect.signature(tx.update).parameters.values()
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
  except (TypeError, ValueError):  # no signature (a builtin): optax's wrapper
    takes_kwargs = False
  if takes_kwargs:
    return optax.GradientTransformationExtraArgs(init=tx.init, update=tx.update)
  return optax.with_extra_args_support(tx)


def with_tree_check(tx: optax.GradientTransformation, name: str) -> optax.GradientTransformationExtraArgs:
  """Wraps the zoo optimizer ``tx`` (called ``name`` in messages) so that ``init`` refuses integer params
  (:func:`check_float_params`) and ``update`` first checks the gradients against ``params`` (when given) with
  :func:`check_tree_match`. State and maths are unchanged (``optax.inject_hyperparams`` and ``optax.tree.get``
  see the wrapped transformation's own state)."""
  tx = with_extra_args_support(tx)

  def init_fn(params):
    check_float_params(params, name)
    return tx.init(params)

  def update_fn(updates, state, params=None, **extra_args):
    if params is not None:
      check_tree_match(updates, params, "params")
    return tx.update(updates, state, params, **extra_args)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)

