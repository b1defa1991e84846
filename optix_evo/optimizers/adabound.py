"""AdaBound and AMSBound: Adam with a per-element step size clipped into bounds that converge to SGD's."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.optimizers._validation import (
    add_decayed_weights,
    check_decay,
    check_learning_rate,
    check_non_negative,
    check_positive,
    check_tree_match,
    with_tree_check,
)


class ScaleByAdaBoundState(NamedTuple):
  """State of :func:`scale_by_adabound` (and so of :func:`adabound` and :func:`amsbound`).

  Attributes:
    count: the number of updates taken (int32 scalar).
    mu: the first moment, a pytree like the params.
    nu: the second moment, a pytree like the params.
    nu_max: the running maximum of ``nu`` (AMSBound), or ``None`` for AdaBound.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> state = ox.scale_by_adabound(amsbound=True).init({"w": jnp.zeros(2)})
    >>> print(type(state).__name__, state.count, state.nu_max)
    ScaleByAdaBoundState 0 {'w': Array([0., 0.], dtype=float32)}
  """

  count: chex.Array  # int32 number of updates taken
  mu: optax.Updates  # first moment
  nu: optax.Updates  # second moment
  nu_max: optax.Updates | None  # running maximum of nu (AMSBound); None for AdaBound


def scale_by_adabound(
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    amsbound: bool = False,
    base_learning_rate: float = 1e-3,
) -> optax.GradientTransformation:
  r"""Rescales updates by the AdaBound step size, per unit of learning rate (chain with a learning rate).

  .. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) |g_t|^2
    \quad (\text{AMSBound: } v_t \leftarrow \max(v_{t-1}^{max}, v_t)),

  .. math::

    u_t = \mathrm{clip}\Big(\frac{\sqrt{1-\beta_2^t}}{(1-\beta_1^t)(\sqrt{v_t}+\epsilon)},\
    \tfrac{f}{\eta_0}\big(1 - \tfrac{1}{\gamma t+1}\big),\ \tfrac{f}{\eta_0}\big(1 + \tfrac{1}{\gamma t}\big)\Big)\, m_t

  with :math:`f` = ``final_lr`` and :math:`\eta_0` = ``base_learning_rate``. Multiplied by a learning rate
  :math:`\eta_t` this is exactly the reference step :math:`\mathrm{clip}(\eta_t\cdot\ldots,\ f\eta_t/\eta_0\cdot l_t,\
  f\eta_t/\eta_0\cdot u_t)\,m_t` (Luolc/AdaBound): clipping commutes with a positive scale, so the bounds follow a
  learning-rate schedule just as the reference's ``final_lr * lr / base_lr`` does. Updates keep the gradients'
  dtype; complex gradients use :math:`|g|^2` in :math:`v` (the clipped step size is real). ``eps=0`` is allowed:
  where :math:`v = 0` the step size is the upper bound, times :math:`m = 0`.

  Args:
    final_lr: the SGD learning rate :math:`f` both bounds converge to.
    gamma: the convergence speed :math:`\gamma` of the bounds (> 0; time scale :math:`1/\gamma` steps).
    b1: the decay of the first moment, in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: the constant :math:`\epsilon` added to :math:`\sqrt{v_t}`.
    amsbound: use the running maximum of the second moment (AMSBound).
    base_learning_rate: the learning rate :math:`\eta_0` the bounds are set against (> 0).

  Returns:
    An :class:`optax.GradientTransformation` whose state is a :class:`ScaleByAdaBoundState`.

  Raises:
    ValueError: for a negative ``final_lr`` or ``eps``, ``gamma <= 0``, ``base_learning_rate <= 0`` or decays outside
      [0, 1).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_adabound(final_lr=0.1, base_learning_rate=1e-3)
    >>> state = tx.init(jnp.zeros(2))
    >>> updates, state = tx.update(jnp.array([1000.0, -1.0]), state)
    >>> print(updates)  # Adam's step is sign(g); for g = 1000 the lower bound 0.0999 binds: 0.0999 * m = 9.99
    [ 9.9903 -1.0]

  References:
    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate <https://arxiv.org/abs/1902.09843>`_,
    ICLR 2019; code: `Luolc/AdaBound <https://github.com/Luolc/AdaBound>`_.
  """
  check_non_negative("final_lr", final_lr)
  check_positive("gamma", gamma)
  check_decay("b1", b1)
  check_decay("b2", b2)
  check_non_negative("eps", eps)
  check_positive("base_learning_rate", base_learning_rate)

  def init_fn(params):
    return ScaleByAdaBoundState(
        count=jnp.zeros([], jnp.int32),
        mu=optax.tree.zeros_like(params),
        nu=optax.tree.zeros_like(params),
        nu_max=optax.tree.zeros_like(params) if amsbound else None,
    )

  def update_fn(updates, state, params=None):
    del params
    check_tree_match(updates, state.mu, "params the optimizer was initialised with")
    grads = updates
    mu = optax.tree.update_moment(updates, state.mu, decay=b1, order=1)
    nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, decay=b2, order=2)
    # nu is real-valued (|g|² for complex gradients) even when stored in the params' complex dtype
    running_max = lambda a, b: jnp.maximum(jnp.real(a), jnp.real(b)).astype(a.dtype)  # noqa: E731
    nu_max = jax.tree.map(running_max, state.nu_max, nu) if amsbound else None
    count = optax.safe_increment(state.count)
    t = count.astype(jnp.result_type(float))
    step_size = jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    ratio = final_lr / base_learning_rate
    lower, upper = ratio * (1.0 - 1.0 / (gamma * t + 1.0)), ratio * (1.0 + 1.0 / (gamma * t))
    updates = jax.tree.map(
        lambda m, v: jnp.clip(step_size / (jnp.sqrt(jnp.real(v)) + eps), lower, upper) * m,
        mu, nu_max if amsbound else nu,
    )
    return optax.tree.cast_like(updates, grads), ScaleByAdaBoundState(count=count, mu=mu, nu=nu, nu_max=nu_max)

  return optax.GradientTransformation(init_fn, update_fn)


def adabound(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    amsbound: bool = False,
    decoupled_weight_decay: bool = False,
    mask: Any | None = None,
    base_learning_rate: float | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""AdaBound / AMSBound: Adam whose per-element step size is clipped into bounds that converge to SGD's.

  As in the reference code Luolc/AdaBound: no :math:`1/\sqrt{t}` factor, Adam's bias correction inside the clipped
  step (maths in :func:`scale_by_adabound`). Differences from pytorch-optimizer's ``AdaBound``: decoupled decay is its
  default, and it adds ``1e-15`` under the square root (a relative difference below 1e-9 unless gradients are tiny).

  Args:
    learning_rate: the step size :math:`\eta_t` (a number or an optax schedule).
    final_lr: the SGD learning rate both bounds converge to (for :math:`\eta_t = \eta_0`).
    gamma: the convergence speed of the bounds (time scale :math:`1/\gamma` steps).
    b1: the decay of the first moment, in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: the constant added to the root of the second moment.
    weight_decay: :math:`\lambda`. Default (``decoupled_weight_decay=False``): coupled L2
      :math:`g \leftarrow g + \lambda w` as Luolc's ``AdaBound``; ``True``: AdamW form
      :math:`w \leftarrow w - \eta_t\lambda w` as pytorch-optimizer's default (``weight_decouple=True``).
    amsbound: use the running maximum of the second moment (AMSBound).
    decoupled_weight_decay: apply the weight decay after the scaling (AdamW form) instead of to the gradient.
    mask: which leaves get weight decay (as :func:`optax.add_decayed_weights`).
    base_learning_rate: :math:`\eta_0` against which the bounds are set (``final_lr`` is reached when
      :math:`\eta_t = \eta_0`). Default: ``learning_rate``, or a schedule's value at step 0 (pass it explicitly
      for a schedule that starts at 0, e.g. a warm-up).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate or weight decay, or an initial learning rate of 0 without
      ``base_learning_rate`` (and the checks of :func:`scale_by_adabound`).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.adabound(learning_rate=0.1, final_lr=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state, params)
    >>> print(optax.apply_updates(params, updates))  # the bounds are wide on step 1: Adam's step lr * sign(g)
    [ 0.9 -1.9]

  References:
    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate <https://arxiv.org/abs/1902.09843>`_,
    ICLR 2019; code: `Luolc/AdaBound <https://github.com/Luolc/AdaBound>`_.
  """
  check_learning_rate(learning_rate)
  check_non_negative("weight_decay", weight_decay)
  if base_learning_rate is None:
    base_learning_rate = learning_rate(0) if callable(learning_rate) else learning_rate
    try:
      check_positive("base_learning_rate", base_learning_rate)
    except ValueError:
      raise ValueError(
          f"AdaBound's bounds are set relative to the initial learning rate, which is {base_learning_rate!r}; "
          "pass base_learning_rate= (e.g. the peak of a warm-up schedule)."
      ) from None
  decay = add_decayed_weights(weight_decay=weight_decay, mask=mask)
  scale = scale_by_adabound(
      final_lr=final_lr, gamma=gamma, b1=b1, b2=b2, eps=eps, amsbound=amsbound, base_learning_rate=base_learning_rate
  )
  links = (scale, decay) if decoupled_weight_decay else (decay, scale)
  tx = optax.chain(*links, optax.scale_by_learning_rate(learning_rate=learning_rate))
  return with_tree_check(tx, "amsbound" if amsbound else "adabound")


def amsbound(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decoupled_weight_decay: bool = False,
    mask: Any | None = None,
    base_learning_rate: float | None = None,
) -> optax.GradientTransformationExtraArgs:
  """AMSBound: :func:`adabound` with the running maximum of the second moment (``amsbound=True``).

  Args:
    learning_rate: the step size (a number or an optax schedule).
    final_lr: the SGD learning rate both bounds converge to.
    gamma: the convergence speed of the bounds.
    b1: the decay of the first moment, in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: the constant added to the root of the second moment.
    weight_decay: the weight decay (coupled L2 unless ``decoupled_weight_decay``).
    decoupled_weight_decay: apply the weight decay after the scaling (AdamW form).
    mask: which leaves get weight decay.
    base_learning_rate: the learning rate the bounds are set against (default: the initial learning rate).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: as :func:`adabound`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.amsbound(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> for grads in (jnp.array([2.0, -4.0]), jnp.array([0.0, 0.0])):
    ...   updates, state = opt.update(grads, state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(params)  # the second (zero) gradient still moves the weights: the momentum carries on
    [ 0.833 -1.833 ]

  References:
    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate <https://arxiv.org/abs/1902.09843>`_,
    ICLR 2019.
  """
  return adabound(
      learning_rate=learning_rate, final_lr=final_lr, gamma=gamma, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
      amsbound=True, decoupled_weight_decay=decoupled_weight_decay, mask=mask, base_learning_rate=base_learning_rate,
  )
