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
  """State of :func:`scale_by_powersign` and :func:`scale_by_addsign`.

  Attributes:
    count: the number of updates taken (int32 scalar); the sign decay is evaluated at this value, before the step.
    mu: :math:`m`, the EMA of the gradients (no bias correction), a pytree like the params.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> print(ox.scale_by_powersign().init(jnp.zeros(2)))
    ScaleBySignMomentumState(count=Array(0, dtype=int32), mu=Array([0., 0.], dtype=float32))
  """

  count: chex.Array  # int32 number of updates taken (the sign decay is evaluated at this value, before the step)
  mu: optax.Updates  # m: EMA of the gradients (no bias correction)


def linear_sign_decay(decay_steps: int) -> SignDecay:
  r"""The linear sign decay :math:`d(t) = \max(0, (T - t)/T)`, :math:`t` clipped to :math:`T` (TF's "-ld").

  Args:
    decay_steps: the horizon :math:`T` in steps.

  Returns:
    A function of the step count (from 0) returning the multiplier :math:`d(t)` of :math:`\mathrm{sign}(g)\,
    \mathrm{sign}(m)`, for ``sign_decay_fn`` of :func:`powersign` and :func:`addsign`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> print(ox.linear_sign_decay(10)(jnp.array([0, 5, 10, 20])))
    [1. 0.5 0. 0. ]

  References:
    Bello, Zoph, Vasudevan & Le, `Neural Optimizer Search with Reinforcement Learning
    <https://arxiv.org/abs/1709.07417>`_, ICML 2017; TF 1.x code: `tensorflow/contrib/opt/python/training
    <https://github.com/tensorflow/tensorflow/tree/r1.15/tensorflow/contrib/opt/python/training>`_
    (``get_linear_decay_fn`` in ``sign_decay.py``).
  """
  check_positive("decay_steps", decay_steps)

  def fn(step):
    step = jnp.minimum(step, decay_steps)
    return jnp.maximum(0.0, (decay_steps - step) / decay_steps)

  return fn


def cosine_sign_decay(decay_steps: int, num_periods: float = 0.5, zero_after: float | None = None) -> SignDecay:
  r"""The cosine sign decay :math:`d(t) = \tfrac12(1 + \cos(2\pi p\, t/T))` (TF's "-cd"), :math:`t` clipped to T.

  With :math:`p` = ``num_periods``; :math:`d = 0` once :math:`2 p t / T \ge 2\,` ``zero_after``.

  Args:
    decay_steps: the horizon :math:`T` in steps.
    num_periods: the number of cosine periods :math:`p` over :math:`T` (0.5: one half-period, from 1 down to 0).
    zero_after: if given, the decay is 0 from this many periods on.

  Returns:
    A function of the step count (from 0) returning :math:`d(t)`, for ``sign_decay_fn``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> print(ox.cosine_sign_decay(10)(jnp.array([0, 5, 10])))
    [1. 0.5 0. ]

  References:
    Bello, Zoph, Vasudevan & Le, `Neural Optimizer Search with Reinforcement Learning
    <https://arxiv.org/abs/1709.07417>`_, ICML 2017; TF 1.x code: `tensorflow/contrib/opt/python/training
    <https://github.com/tensorflow/tensorflow/tree/r1.15/tensorflow/contrib/opt/python/training>`_
    (``get_cosine_decay_fn``).
  """
  check_positive("decay_steps", decay_steps)

  def fn(step):
    fraction = 2.0 * num_periods * jnp.minimum(step, decay_steps) / decay_steps
    decayed = 0.5 * (1.0 + jnp.cos(math.pi * fraction))
    return decayed if zero_after is None else jnp.where(fraction >= 2 * zero_after, 0.0, decayed)

  return fn


def restart_sign_decay(decay_steps: int, num_periods: float = 1.0, zero_after: float | None = None) -> SignDecay:
  r"""The cosine sign decay with restarts, :math:`d(t) = \tfrac12(1 + \cos(\pi\, ((p\,t) \bmod T)/T))` (TF's "-rd").

  With :math:`p` = ``num_periods`` and :math:`t` clipped to :math:`T`; :math:`d = 0` once :math:`p t / T \ge`
  ``zero_after``.

  Args:
    decay_steps: the horizon :math:`T` in steps.
    num_periods: the number of restarts :math:`p` over :math:`T`.
    zero_after: if given, the decay is 0 from this many periods on.

  Returns:
    A function of the step count (from 0) returning :math:`d(t)`, for ``sign_decay_fn``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> print(ox.restart_sign_decay(10, num_periods=2.0)(jnp.array([0, 4, 5, 9])))
    [1. 0.0955 1. 0.0955]

  References:
    Bello, Zoph, Vasudevan & Le, `Neural Optimizer Search with Reinforcement Learning
    <https://arxiv.org/abs/1709.07417>`_, ICML 2017; TF 1.x code: `tensorflow/contrib/opt/python/training
    <https://github.com/tensorflow/tensorflow/tree/r1.15/tensorflow/contrib/opt/python/training>`_
    (``get_restart_decay_fn``).
  """
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
  r"""PowerSign scaling: the gradient scaled up where it agrees in sign with its running average, down where not.

  .. math::

    m_t = \beta m_{t-1} + (1-\beta) g_t, \qquad u_t = b^{\,d(t)\,\mathrm{sign}(g_t)\,\mathrm{sign}(m_t)}\, g_t,

  with :math:`b` = ``base``, the momentum updated first, no bias correction and :math:`\mathrm{sign}(0) = 0`, as TF
  1.x ``PowerSignOptimizer``. ``sign_decay_fn`` (default: none, :math:`d \equiv 1`) gets the step count before the
  update, starting at 0: see :func:`linear_sign_decay`, :func:`cosine_sign_decay`, :func:`restart_sign_decay`.

  Args:
    base: the base :math:`b` (> 0).
    beta: the decay :math:`\beta` of the gradient average, in [0, 1).
    sign_decay_fn: the sign decay :math:`d(t)`, a function of the step count, or ``None``.

  Returns:
    An :class:`optax.GradientTransformation` whose state is a :class:`ScaleBySignMomentumState`.

  Raises:
    InputError: for ``base <= 0`` or ``beta`` outside [0, 1).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_powersign(base=2.0)
    >>> state = tx.init(jnp.zeros(2))
    >>> updates, state = tx.update(jnp.array([1.0, -1.0]), state)
    >>> updates, state = tx.update(jnp.array([1.0, 0.5]), state)
    >>> print(updates)  # agrees with the momentum: x2; disagrees (m = -0.04): /2
    [2. 0.25]

  References:
    Bello, Zoph, Vasudevan & Le, `Neural Optimizer Search with Reinforcement Learning
    <https://arxiv.org/abs/1709.07417>`_, ICML 2017; TF 1.x code: `tensorflow/contrib/opt/python/training
    <https://github.com/tensorflow/tensorflow/tree/r1.15/tensorflow/contrib/opt/python/training>`_.
  """
  check_positive("base", base)
  return _scale_by_sign_agreement(beta, sign_decay_fn, lambda s: jnp.exp(jnp.log(base) * s))


def scale_by_addsign(
    alpha: float = 1.0, beta: float = 0.9, sign_decay_fn: SignDecay | None = None
) -> optax.GradientTransformation:
  r"""AddSign scaling: :math:`u_t = (\alpha + d(t)\,\mathrm{sign}(g_t)\,\mathrm{sign}(m_t))\, g_t`, as TF's AddSign.

  The momentum :math:`m_t = \beta m_{t-1} + (1-\beta) g_t` and the sign decay :math:`d(t)` are those of
  :func:`scale_by_powersign`.

  Args:
    alpha: the constant :math:`\alpha`.
    beta: the decay :math:`\beta` of the gradient average, in [0, 1).
    sign_decay_fn: the sign decay :math:`d(t)`, a function of the step count, or ``None``.

  Returns:
    An :class:`optax.GradientTransformation` whose state is a :class:`ScaleBySignMomentumState`.

  Raises:
    InputError: for ``beta`` outside [0, 1).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_addsign(alpha=1.0)
    >>> state = tx.init(jnp.zeros(2))
    >>> updates, state = tx.update(jnp.array([1.0, -1.0]), state)
    >>> updates, state = tx.update(jnp.array([1.0, 0.5]), state)
    >>> print(updates)  # agrees with the momentum: (1 + 1) g; disagrees (m = -0.04): (1 - 1) g
    [2. 0.]

  References:
    Bello, Zoph, Vasudevan & Le, `Neural Optimizer Search with Reinforcement Learning
    <https://arxiv.org/abs/1709.07417>`_, ICML 2017; TF 1.x code: `tensorflow/contrib/opt/python/training
    <https://github.com/tensorflow/tensorflow/tree/r1.15/tensorflow/contrib/opt/python/training>`_.
  """
  check_non_negative("alpha", alpha)
  return _scale_by_sign_agreement(beta, sign_decay_fn, lambda s: alpha + s)


def powersign(
    learning_rate: optax.ScalarOrSchedule = 0.1,
    base: float = math.e,
    beta: float = 0.9,
    sign_decay_fn: SignDecay | None = None,
) -> optax.GradientTransformationExtraArgs:
  """PowerSign: ``chain(scale_by_powersign(base, beta, sign_decay_fn), scale_by_learning_rate(learning_rate))``.

  Defaults are TF's ``PowerSignOptimizer(learning_rate=0.1, base=e, beta=0.9)``: the gradient is scaled by e where it
  agrees in sign with its running average, by 1/e where it disagrees (maths in :func:`scale_by_powersign`).

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    base: the base of the sign-agreement scaling (> 0).
    beta: the decay of the gradient average, in [0, 1).
    sign_decay_fn: a sign decay (:func:`linear_sign_decay`, :func:`cosine_sign_decay`, :func:`restart_sign_decay`)
      or ``None``.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    InputError: for a negative learning rate, ``base <= 0`` or ``beta`` outside [0, 1).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.powersign(learning_rate=0.01, sign_decay_fn=ox.linear_sign_decay(1000))  # PowerSign-ld
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state)
    >>> print(optax.apply_updates(params, updates))  # g agrees with its average on step 1: lr * e * g
    [ 0.9456 -1.8913 ]

  References:
    Bello, Zoph, Vasudevan & Le, `Neural Optimizer Search with Reinforcement Learning
    <https://arxiv.org/abs/1709.07417>`_, ICML 2017; TF 1.x code: `tensorflow/contrib/opt/python/training
    <https://github.com/tensorflow/tensorflow/tree/r1.15/tensorflow/contrib/opt/python/training>`_.
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
  agrees in sign with its running average and zeroed where it disagrees (maths in :func:`scale_by_addsign`).

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    alpha: the constant of the sign-agreement scaling.
    beta: the decay of the gradient average, in [0, 1).
    sign_decay_fn: a sign decay (:func:`linear_sign_decay`, :func:`cosine_sign_decay`, :func:`restart_sign_decay`)
      or ``None``.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    InputError: for a negative learning rate or ``beta`` outside [0, 1).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.addsign(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state)
    >>> print(optax.apply_updates(params, updates))  # 2 * lr * g on step 1
    [ 0.6 -1.2]

  References:
    Bello, Zoph, Vasudevan & Le, `Neural Optimizer Search with Reinforcement Learning
    <https://arxiv.org/abs/1709.07417>`_, ICML 2017; TF 1.x code: `tensorflow/contrib/opt/python/training
    <https://github.com/tensorflow/tensorflow/tree/r1.15/tensorflow/contrib/opt/python/training>`_.
  """
  check_learning_rate(learning_rate)
  return with_tree_check(
      optax.chain(
          scale_by_addsign(alpha=alpha, beta=beta, sign_decay_fn=sign_decay_fn),
          optax.scale_by_learning_rate(learning_rate=learning_rate),
      ),
      "addsign",
  )
