"""Adan with the reference coefficient on the gradient difference (optax's ``scale_by_adan`` uses ``1 - b2``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from optix_evo.optimizers._validation import (
    add_decayed_weights,
    check_decay,
    check_denominator_eps,
    check_learning_rate,
    check_non_negative,
    check_tree_match,
    with_tree_check,
)


def scale_by_adan(
    b1: float = 0.98, b2: float = 0.92, b3: float = 0.99, eps: float = 1e-8, eps_root: float = 0.0
) -> optax.GradientTransformation:
  r"""Rescales updates by the Adan rule of the official code (sail-sg/Adan).

  .. math::

    d_t = g_t - g_{t-1}\ (d_1 = 0), \quad m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t, \quad n_t = \beta_3 n_{t-1} + (1-\beta_3)(g_t + \beta_2 d_t)^2,

  .. math::

    u_t = (\hat m_t + \beta_2 \hat v_t) / (\sqrt{\hat n_t + \epsilon_{root}} + \epsilon)

  (hats: bias corrections). :func:`optax.scale_by_adan` weights :math:`d_t` and :math:`\hat v_t` by
  :math:`1-\beta_2` instead of :math:`\beta_2` (optax PR #1715); the two agree on step 1 only.

  Args:
    b1: the decay :math:`\beta_1` of the gradient average, in [0, 1).
    b2: the decay :math:`\beta_2` of the gradient-difference average, in [0, 1).
    b3: the decay :math:`\beta_3` of the second moment, in [0, 1).
    eps: the constant :math:`\epsilon` added outside the root.
    eps_root: the constant :math:`\epsilon_{root}` added inside the root.

  Returns:
    An :class:`optax.GradientTransformation` whose state is an :class:`optax.ScaleByAdanState` (``m``, ``v``,
    ``n``, ``g`` = the previous gradient, ``t`` = the count).

  Raises:
    InputError: for decays outside [0, 1), a negative ``eps_root`` or ``eps = eps_root = 0``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_adan()
    >>> state = tx.init(jnp.zeros(2))
    >>> updates, state = tx.update(jnp.array([2.0, -4.0]), state)
    >>> print(updates)  # step 1 (no difference yet): g / |g|
    [ 1.0 -1.0]
    >>> updates, state = tx.update(jnp.array([4.0, -4.0]), state)
    >>> print(updates)  # the first coordinate's gradient grew: Adan's look-ahead adds b2 * d
    [ 0.9074 -1.0]

  References:
    Xie et al., `Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models
    <https://arxiv.org/abs/2208.06677>`_, TPAMI 2024; code: `sail-sg/Adan <https://github.com/sail-sg/Adan>`_.
  """
  check_decay("b1", b1)
  check_decay("b2", b2)
  check_decay("b3", b3)
  check_non_negative("eps_root", eps_root)
  check_denominator_eps("eps", eps, ("eps_root", eps_root))

  def init_fn(params):
    zeros = optax.tree.zeros_like(params)
    return optax.ScaleByAdanState(m=zeros, v=zeros, n=zeros, g=zeros, t=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    check_tree_match(updates, state.m, "params the optimizer was initialised with")
    g = updates
    first = state.t == 0
    diff = jax.tree.map(lambda x, prev: jnp.where(first, jnp.zeros_like(x), x - prev), g, state.g)
    m = optax.tree.update_moment(g, state.m, decay=b1, order=1)
    v = optax.tree.update_moment(diff, state.v, decay=b2, order=1)
    n = optax.tree.update_moment_per_elem_norm(optax.tree.add_scale(g, b2, diff), state.n, decay=b3, order=2)
    t = optax.safe_increment(state.t)
    m_hat = optax.tree.bias_correction(m, decay=b1, count=t)
    v_hat = optax.tree.bias_correction(v, decay=b2, count=t)
    n_hat = optax.tree.bias_correction(n, decay=b3, count=t)
    u = jax.tree.map(lambda mh, vh, nh: (mh + b2 * vh) / (jnp.sqrt(nh + eps_root) + eps), m_hat, v_hat, n_hat)
    return optax.tree.cast_like(u, g), optax.ScaleByAdanState(m=m, v=v, n=n, g=g, t=t)

  return optax.GradientTransformation(init_fn, update_fn)


def _proximal_shrink(learning_rate: optax.ScalarOrSchedule, weight_decay: float) -> optax.GradientTransformation:
  """Multiplies updates by ``1 / (1 + lr_t · weight_decay)`` (with the schedule's value at the step)."""
  if callable(learning_rate):
    return optax.scale_by_schedule(step_size_fn=lambda count: 1.0 / (1.0 + learning_rate(count) * weight_decay))
  return optax.scale(step_size=1.0 / (1.0 + learning_rate * weight_decay))


def adan(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mask: Any | None = None,
    *,
    proximal: bool = True,
) -> optax.GradientTransformationExtraArgs:
  r"""Adan, re-implemented to match the official PyTorch code (optax's :func:`optax.adan` has a coefficient bug).

  The step :math:`u_t` of :func:`scale_by_adan`, then
  :math:`w \leftarrow (w - \eta_t u_t)/(1 + \eta_t\lambda)` (``proximal=True``) or
  :math:`w \leftarrow w - \eta_t(u_t + \lambda w)` (``proximal=False``). Same argument names as :func:`optax.adan`.
  Differences from optax, all following the reference (sail-sg/Adan ``Adan``, pytorch-optimizer ``Adan``):

  * the gradient difference is weighted by ``b2`` (0.92), not ``1 - b2`` (see :func:`scale_by_adan`);
  * ``eps_root`` defaults to ``0.0`` (optax: ``1e-8`` inside the root; the reference adds ``eps`` outside only);
  * ``proximal=True`` (default, the reference's ``no_prox=False``); ``proximal=False`` is optax's and the
    reference's ``no_prox=True`` AdamW form.

  The reference's optional ``max_grad_norm`` clipping is ``optax.clip_by_global_norm`` chained in front.

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    b1: the decay of the gradient average, in [0, 1).
    b2: the decay of the gradient-difference average, in [0, 1).
    b3: the decay of the second moment, in [0, 1).
    eps: the constant added outside the root.
    eps_root: the constant added inside the root.
    weight_decay: the weight decay :math:`\lambda`.
    mask: a pytree of booleans (or a function of the params returning one): where to apply the decay.
    proximal: the proximal (``True``) or the AdamW (``False``) form of the weight decay.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    InputError: for a negative learning rate or weight decay (and the checks of :func:`scale_by_adan`).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.adan(learning_rate=0.1, weight_decay=1.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state, params)
    >>> print(optax.apply_updates(params, updates))  # (w - 0.1 * sign(g)) / (1 + 0.1)
    [ 0.8182 -1.7273 ]

  References:
    Xie et al., `Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models
    <https://arxiv.org/abs/2208.06677>`_, TPAMI 2024; code: `sail-sg/Adan <https://github.com/sail-sg/Adan>`_.
  """
  check_learning_rate(learning_rate)
  check_non_negative("weight_decay", weight_decay)
  links = [
      scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
      add_decayed_weights(weight_decay=weight_decay, mask=mask),
      optax.scale_by_learning_rate(learning_rate=learning_rate),
  ]
  if proximal:
    shrink = _proximal_shrink(learning_rate, weight_decay)
    links.append(optax.masked(inner=shrink, mask=mask) if mask is not None else shrink)
  return with_tree_check(optax.chain(*links), "adan")
