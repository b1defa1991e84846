"""Rprop (iRprop⁻) as ``torch.optim.Rprop`` computes it.

optax 0.2.8's :func:`optax.scale_by_rprop` returns the update computed at the *previous* step (its state's
``prev_updates``) instead of the current one: its first step is 0 and every later step lags by one. The reference
(``torch.optim.Rprop``, Igel & Hüsken's iRprop⁻) moves at once. Same state type and hyperparameters as optax's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optix_evo.optimizers._validation import check_learning_rate, check_positive, with_tree_check


def scale_by_rprop(learning_rate: float, eta_minus: float = 0.5, eta_plus: float = 1.2, min_step_size: float = 1e-6,
                   max_step_size: float = 50.0) -> optax.GradientTransformation:
  r"""The Rprop step :math:`\Delta_t \odot \mathrm{sign}(g_t)` with per-coordinate step sizes :math:`\Delta_t`.

  .. math::

    s = g_t\, g_{t-1}, \qquad
    \Delta_t = \mathrm{clip}(\Delta_{t-1} \cdot \{\eta^+ \text{ if } s > 0;\ \eta^- \text{ if } s < 0;\ 1\},
    \Delta_{min}, \Delta_{max}), \qquad
    u_t = \begin{cases} 0 & s < 0 \\ \Delta_t\, \mathrm{sign}(g_t) & \text{else} \end{cases}

  (a coordinate whose gradient changed sign takes no step and forgets its gradient, so the next step is not scaled
  again). :math:`\Delta_0` is the learning rate; the step is the sign of the update, negate it (:func:`rprop` does).

  Args:
    learning_rate: the initial step size :math:`\Delta_0`.
    eta_minus: the step-size factor after a sign change, in (0, 1).
    eta_plus: the step-size factor while the sign holds, > 1.
    min_step_size: the smallest step size.
    max_step_size: the largest step size.

  Returns:
    An :class:`optax.GradientTransformation` whose state is :class:`optax.ScaleByRpropState` (``prev_updates`` holds
    :math:`u_t`, whose sign is that of the last gradient kept).

  References:
    Igel & Hüsken, `Improving the Rprop Learning Algorithm <https://citeseerx.ist.psu.edu/doc/10.1.1.17.1332>`_, 2000
    (iRprop⁻); `torch.optim.Rprop <https://github.com/pytorch/pytorch/blob/main/torch/optim/rprop.py>`_.
  """

  def init_fn(params):
    return optax.ScaleByRpropState(step_sizes=optax.tree.full_like(params, learning_rate),
                                   prev_updates=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    sign = jax.tree.map(lambda g, prev: g * prev, updates, state.prev_updates)
    step_sizes = jax.tree.map(
        lambda s, size: jnp.where(s == 0, size, jnp.clip(size * jnp.where(s > 0, eta_plus, eta_minus),
                                                          min_step_size, max_step_size)).astype(size.dtype),
        sign, state.step_sizes)
    updates = jax.tree.map(lambda s, g, size: jnp.where(s < 0, jnp.zeros_like(g), size * jnp.sign(g)).astype(g.dtype),
                           sign, updates, step_sizes)
    return updates, optax.ScaleByRpropState(step_sizes=step_sizes, prev_updates=updates)

  return optax.GradientTransformation(init_fn, update_fn)


def rprop(learning_rate: float, eta_minus: float = 0.5, eta_plus: float = 1.2, min_step_size: float = 1e-6,
          max_step_size: float = 50.0) -> optax.GradientTransformationExtraArgs:
  r"""Rprop (iRprop⁻): per-coordinate step sizes grown while the gradient keeps its sign and shrunk when it flips.

  :func:`optax.rprop`'s signature and defaults (``torch.optim.Rprop``'s: ``etas=(0.5, 1.2)``,
  ``step_sizes=(1e-6, 50)``), with the step taken when it is computed (:func:`scale_by_rprop`; optax's lags one
  step behind, so its first update is 0).

  Args:
    learning_rate: the initial step size.
    eta_minus: the step-size factor after a sign change, in (0, 1).
    eta_plus: the step-size factor while the sign holds, > 1.
    min_step_size: the smallest step size.
    max_step_size: the largest step size.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate or non-positive step-size bounds.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.rprop(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state, params)
    >>> print(optax.apply_updates(params, updates))  # the first step moves each coordinate by the learning rate
    [ 0.9 -1.9]

  References:
    Riedmiller & Braun, `A Direct Adaptive Method for Faster Backpropagation Learning: The RPROP Algorithm
    <https://doi.org/10.1109/ICNN.1993.298623>`_, 1993; Igel & Hüsken 2000 (iRprop⁻).
  """
  check_learning_rate(learning_rate)
  check_positive("min_step_size", min_step_size)
  check_positive("max_step_size", max_step_size)
  tx = optax.chain(scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size), optax.scale(-1.0))
  return with_tree_check(tx, "rprop")
