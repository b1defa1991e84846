"""PowerSign and AddSign (Bello et al. 2017, neural optimizer search), with TensorFlow's sign-decay schedules."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.optimizers._validation import (
    check_decay,
    check_learning_rate,
    check_non_negative,
    check_positive,
    check_tree_match,
    with_tree_check,
)

SignDecay = Callable[[chex.Array], chex.Array]  # step (counted from 0) -> multiplier of sign(g)·sign(m)


class ScaleBySignMomentumState(NamedTuple):
  """State of :func:`scale_by_powersign` and :func:`scale_by_addsign`."""

  count: chex.Array  # int32 number of updates taken (the sign decay is evaluated at this value, before the step)
  mu: optax.Updates  # m: EMA of the gradients (no bias correction)


def linear_sign_decay(decay_steps: int) -> SignDecay:
  """``max(0, (T - t)/T)`` with ``t`` clipped to ``T = decay_steps`` (TF ``get_linear_decay_fn``; "-ld")."""
  check_positive("decay_steps", decay_steps)

  def fn(step):
    step = jnp.minimum(step, decay_steps)
    return jnp.maximum(0.0, (decay_steps - step) / decay_steps)

  return fn


def cosine_sign_decay(decay_steps: int, num_periods: float = 0.5, zero_after: float | None = None) -> SignDecay:
  """``0.5 (1 + cos(2π·num_periods·t/T))``, 0 once ``2·num_periods·t/T >= 2·zero_after`` (TF
  ``get_cosine_decay_fn``; "-cd")."""
  check_positive("decay_steps", decay_steps)

  def fn(step):
    fraction = 2.0 * num_periods * jnp.minimum(step, decay_steps) / decay_steps
    decayed = 0.5 * (1.0 + jnp.cos(math.pi * fraction))
    return decayed if zero_after is None else jnp.where(fraction >= 2 * zero_after, 0.0, decayed)

  return fn


def restart_sign_decay(decay_steps: int, num_periods: float = 1.0, zero_after: float | None = None) -> SignDecay:
  """``0.5 (1 + cos(π·((num_periods·t) mod T)/T))``, 0 once ``num_periods·t/T >= zero_after`` (TF
  ``get_restart_decay_fn``; "-rd")."""
  check_positive("decay_steps", decay_steps)

  def fn(step):
    step = jnp.minimum(step, decay_steps)
    decayed = 0.5 * (1.0 + jnp.cos(math.pi * jnp.mod(num_periods * step, decay_steps) / decay_steps))
    return decayed if zero_after is None else jnp.where(num_periods * step / decay_steps >= zero_after, 0.0, decayed)

  return fn


def _scale_by_sign_agreement(
    beta: float, sign_decay_fn: SignDecay | None, gain: Callable[[chex.Array], chex.Array]
) -> optax.GradientTransformation:
  """``u = gain(d(t)·sign(g)·sign(m_t)) · g`` with ``m_t = β m + (1-β) g`` (the shared body of PowerSign/AddSign)."""
  check_decay("beta", beta)

  def init_fn(params):
    return ScaleBySignMomentumState(count=jnp.zeros([], jnp.int32), mu=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    check_tree_match(updates, state.mu, "params the optimizer was initialised with")
    mu = optax.tree.update_moment(updates, state.mu, decay=beta, order=1)
    decay = 1.0 if sign_decay_fn is None else sign_decay_fn(state.count)
    updates = jax.tree.map(lambda g, m: (gain(decay * jnp.sign(g) * jnp.sign(m)) * g).astype(g.dtype), updates, mu)
    return updates, ScaleBySignMomentumState(count=optax.safe_increment(state.count), mu=mu)

  return optax.GradientTransformation(init_fn, update_fn)


def scale_by_powersign(
    base: float = math.e, beta: float = 0.9, sign_decay_fn: SignDecay | None = None
) -> optax.GradientTransformation:
  r"""PowerSign scaling: :math:`u = \text{base}^{\,d(t)\,\mathrm{sign}(g)\,\mathrm{sign}(m_t)}\, g`,
  :math:`m_t = \beta m_{t-1} + (1-\beta) g` (updated first, no bias correction; ``sign(0) = 0``), as TF 1.x
  ``PowerSignOptimizer``. ``sign_decay_fn`` (default: none, :math:`d \equiv 1`) gets the step count before the
  update, starting at 0 — see :func:`linear_sign_decay`, :func:`cosine_sign_decay`, :func:`restart_sign_decay`.
  """
  check_positive("base", base)
  return _scale_by_sign_agreement(beta, sign_decay_fn, lambda s: jnp.exp(jnp.log(base) * s))


def scale_by_addsign(
    alpha: float = 1.0, beta: float = 0.9, sign_decay_fn: SignDecay | None = None
) -> optax.GradientTransformation:
  r"""AddSign scaling: :math:`u = (\alpha + d(t)\,\mathrm{sign}(g)\,\mathrm{sign}(m_t))\, g`, as TF 1.x
  ``AddSignOptimizer`` (same momentum and sign decay as :func:`scale_by_powersign`)."""
  check_non_negative("alpha", alpha)
  return _scale_by_sign_agreement(beta, sign_decay_fn, lambda s: alpha + s)


def powersign(
    learning_rate: optax.ScalarOrSchedule = 0.1,
    base: float = math.e,
    beta: float = 0.9,
    sign_decay_fn: SignDecay | None = None,
) -> optax.GradientTransformationExtraArgs:
  """PowerSign: ``chain(scale_by_powersign(base, beta, sign_decay_fn), scale_by_learning_rate(learning_rate))``.

  Defaults are TF's ``PowerSignOptimizer(learning_rate=0.1, base=e, beta=0.9)``. With the defaults the gradient is
  scaled by e where it agrees in sign with its running average, by 1/e where it disagrees.

  Examples:
    >>> import optix_evo as ox
    >>> opt = ox.powersign(0.01, sign_decay_fn=ox.linear_sign_decay(1000))  # PowerSign-ld

  References: Bello, Zoph, Vasudevan & Le 2017, "Neural Optimizer Search with Reinforcement Learning",
  arXiv:1709.07417.
  """
  check_learning_rate(learning_rate)
  return with_tree_check(
      optax.chain(
          scale_by_powersign(base=base, beta=beta, sign_decay_fn=sign_decay_fn),
          optax.scale_by_learning_rate(learning_rate=learning_rate),
      ),
      "powersign",
  )


def addsign(
    learning_rate: optax.ScalarOrSchedule = 0.1,
    alpha: float = 1.0,
    beta: float = 0.9,
    sign_decay_fn: SignDecay | None = None,
) -> optax.GradientTransformationExtraArgs:
  """AddSign: ``chain(scale_by_addsign(alpha, beta, sign_decay_fn), scale_by_learning_rate(learning_rate))``.

  Defaults are TF's ``AddSignOptimizer(learning_rate=0.1, alpha=1.0, beta=0.9)``: the gradient is doubled where it
  agrees in sign with its running average and zeroed where it disagrees.

  References: Bello, Zoph, Vasudevan & Le 2017, arXiv:1709.07417.
  """
  check_learning_rate(learning_rate)
  return with_tree_check(
      optax.chain(
          scale_by_addsign(alpha=alpha, beta=beta, sign_decay_fn=sign_decay_fn),
          optax.scale_by_learning_rate(learning_rate=learning_rate),
      ),
      "addsign",
  )
