"""SWATS: Adam that switches to SGD with an estimated learning rate (Keskar & Socher 2017, Algorithm 1)."""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.errors import InputError
from optix_evo.optimizers._validation import (
    add_decayed_weights,
    check_decay,
    check_denominator_eps,
    check_learning_rate,
    check_non_negative,
    check_tree_match,
    with_tree_check,
)


class ScaleBySwatsState(NamedTuple):
  r"""State of :func:`scale_by_swats` (and so of :func:`swats`).

  Attributes:
    count: the number of updates taken, :math:`k` (int32 scalar).
    mu: Adam's first moment :math:`m`; after the switch the SGD heavy-ball buffer :math:`v` (which starts at 0).
    nu: Adam's second moment :math:`a` (frozen after the switch).
    lambda_ema: :math:`\lambda_k`, the EMA of the projected SGD rate :math:`\gamma_k`, not bias-corrected.
    sgd_rate: :math:`\Lambda`, the SGD learning rate set at the switch (0 in the Adam phase).
    switch_step: the step :math:`k` at which the switch happened (int32; 0 in the Adam phase).
    switch_lr: the learning rate at the switch step (a schedule rescales :math:`\Lambda` by
      :math:`\alpha_k / \alpha_{switch}`).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> state = ox.scale_by_swats().init(jnp.zeros(2))
    >>> print(state.count, state.switch_step, state.sgd_rate)
    0 0 0.0
  """

  count: chex.Array  # int32 number of updates taken (k)
  mu: optax.Updates  # Adam first moment m; after the switch the SGD heavy-ball buffer v (starts at 0)
  nu: optax.Updates  # Adam second moment a (frozen after the switch)
  lambda_ema: chex.Array  # λ_k: EMA of the projected SGD rate γ_k, not bias-corrected
  sgd_rate: chex.Array  # Λ: the SGD learning rate set at the switch (0 while in the Adam phase)
  switch_step: chex.Array  # int32 step k at which the switch happened; 0 while in the Adam phase
  switch_lr: chex.Array  # learning rate at the switch step (a schedule rescales Λ by lr_k / switch_lr)


def scale_by_swats(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-9,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
  r"""SWATS, Algorithm 1 of Keskar & Socher (2017), over the whole parameter tree. Returns the (negative) update.

  Adam phase (:math:`k` counts from 1, :math:`\alpha_k` is the learning rate):

  .. math::
    m_k = \beta_1 m + (1-\beta_1) g_k,\quad a_k = \beta_2 a + (1-\beta_2) g_k^2,\quad
    p_k = -\alpha_k \frac{\sqrt{1-\beta_2^k}}{1-\beta_1^k}\frac{m_k}{\sqrt{a_k}+\epsilon}

  and, when :math:`p_k^\top g_k \ne 0` (dot products summed over all leaves),
  :math:`\gamma_k = p_k^\top p_k / (-p_k^\top g_k)`, :math:`\lambda_k = \beta_2\lambda + (1-\beta_2)\gamma_k`. If
  :math:`k > 1` and :math:`|\lambda_k/(1-\beta_2^k) - \gamma_k| < \epsilon` (and the estimate is positive, as in both
  PyTorch references), SWATS switches for good, with :math:`\Lambda = \lambda_k/(1-\beta_2^k)`. SGD phase:
  :math:`v_k = \beta_1 v + g_k` (``v`` starts at 0), update :math:`-(1-\beta_1)\Lambda_k v_k`, or
  :math:`-(1-\beta_1)\Lambda_k (g_k + \beta_1 v_k)` with ``nesterov`` (``torch.optim.SGD``'s Nesterov form).

  ``eps`` is both Adam's denominator epsilon and the absolute switch tolerance, as in the paper (default 1e-9,
  which rarely triggers; use ~1e-4 to see a switch). The learning rate is consumed here because the switch test is
  absolute: :math:`\Lambda_k = \Lambda \cdot \alpha_k / \alpha_{switch}` so a schedule keeps scaling the SGD phase.

  Documented differences from the PyTorch packages (``swats`` on PyPI, pytorch-optimizer ``SWATS``): they estimate
  :math:`\gamma, \lambda` and the switch per tensor (phase per parameter group), use ``allclose`` with a relative
  tolerance, and their SGD buffers differ (the PyPI one rescales its buffer in place).

  Updates and moments keep the parameters' dtypes; the scalars (:math:`\lambda`, :math:`\Lambda`) are real, at least
  float32. Complex parameters use the real part of :math:`p^\mathsf{H} g`.

  Args:
    learning_rate: the learning rate :math:`\alpha_k` (a number or an optax schedule).
    b1: the decay :math:`\beta_1` of the first moment (and the SGD phase's momentum), in [0, 1).
    b2: the decay :math:`\beta_2` of the second moment and of :math:`\lambda_k`, in [0, 1).
    eps: Adam's denominator epsilon and the switch tolerance (> 0).
    nesterov: Nesterov momentum in the SGD phase.

  Returns:
    An :class:`optax.GradientTransformation` whose state is a :class:`ScaleBySwatsState`; its updates are the
    (negative) steps, learning rate included.

  Raises:
    InputError: for a negative learning rate, decays outside [0, 1) or ``eps <= 0``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_swats(learning_rate=0.1, eps=1e-4)
    >>> state = tx.init(jnp.zeros(2))
    >>> for _ in range(3):  # a constant gradient (a linear loss): the projected SGD rate is constant
    ...   updates, state = tx.update(jnp.array([1.0, -1.0]), state)
    ...   print(updates)
    [-0.0997 0.0997]
    [-0.0998 0.0998]
    [-0.01 0.01]
    >>> print(state.switch_step, state.sgd_rate)  # switched at step 2 with the rate of Adam's steps
    2 0.0997

  References:
    Keskar & Socher, `Improving Generalization Performance by Switching from Adam to SGD
    <https://arxiv.org/abs/1712.07628>`_, 2017; PyTorch code: `Mrpatekful/swats <https://github.com/Mrpatekful/swats>`_,
    `pytorch-optimizer SWATS <https://github.com/kozistr/pytorch_optimizer>`_.
  """
  check_learning_rate(learning_rate)
  check_decay("b1", b1)
  check_decay("b2", b2)
  check_denominator_eps("eps", eps)

  def init_fn(params):
    highest = optax.tree.dtype(params, "highest") if jax.tree.leaves(params) else jnp.float32
    zero = jnp.zeros([], jnp.promote_types(jnp.finfo(highest).dtype, jnp.float32))
    return ScaleBySwatsState(
        count=jnp.zeros([], jnp.int32),
        mu=optax.tree.zeros_like(params),
        nu=optax.tree.zeros_like(params),
        lambda_ema=zero,
        sgd_rate=zero,
        switch_step=jnp.zeros([], jnp.int32),
        switch_lr=zero,
    )

  def update_fn(updates, state, params=None):
    del params
    check_tree_match(updates, state.mu, "params the optimizer was initialised with")
    lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
    count = optax.safe_increment(state.count)
    sgd = state.switch_step > 0
    bc1, bc2 = 1.0 - b1**count, 1.0 - b2**count
    real = state.lambda_ema.dtype
    adam_scale = lr * jnp.sqrt(bc2) / bc1
    sgd_scale = (1.0 - b1) * state.sgd_rate * lr / jnp.where(sgd, state.switch_lr, 1.0)  # no 0/0 under vmap
    keep = jnp.where(state.switch_step == state.count, 0.0, b1)  # v starts at 0 on the first SGD step

    # Both phases are computed per element and selected, not under a lax.cond over the trees: a cond's outputs
    # cannot share the buffers of the state they replace (a copy of m and a per step), while a select fuses into
    # the one pass that reads m (or a, or the params). In the SGD phase a is rewritten unchanged.
    mu = optax.tree.where(
        sgd,
        jax.tree.map(lambda v, g: keep * v + g, state.mu, updates),
        optax.tree.update_moment(updates=updates, moments=state.mu, decay=b1, order=1),
    )
    mu = optax.tree.cast_like(mu, state.mu)
    nu = optax.tree.where(
        sgd, state.nu, optax.tree.update_moment_per_elem_norm(updates=updates, moments=state.nu, decay=b2, order=2)
    )
    nu = optax.tree.cast_like(nu, state.nu)

    def adam_step(m, n, g):
      return (-adam_scale * m / (jnp.sqrt(n) + eps)).astype(g.dtype)

    def sgd_step(v, g):
      return (-sgd_scale * (g + b1 * v if nesterov else v)).astype(g.dtype)

    p = jax.tree.map(lambda m, n, g: jnp.where(sgd, sgd_step(m, g), adam_step(m, n, g)), mu, nu, updates)

    def adam_dots(mu, nu, g):
      """p'p and Re p^H g of the Adam step, summed over leaves in `real` (at least float32)."""
      steps = jax.tree.map(adam_step, mu, nu, g)
      dot = lambda x, y: jnp.sum(jnp.real(jnp.conj(x) * y), dtype=real)  # noqa: E731
      pp = sum((dot(x, x) for x in jax.tree.leaves(steps)), jnp.zeros([], real))
      pg = sum((dot(x, y) for x, y in zip(jax.tree.leaves(steps), jax.tree.leaves(g))), jnp.zeros([], real))
      return pp, pg

    # The two tree-wide reductions are the Adam phase's extra cost over Adam; under a cond whose outputs are two
    # scalars (nothing to copy) the SGD phase skips them. Under vmap with a batched phase cond becomes select.
    zeros = lambda *_: (jnp.zeros([], real), jnp.zeros([], real))  # noqa: E731
    pp, pg = jax.lax.cond(sgd, zeros, adam_dots, mu, nu, updates)
    estimate = jnp.logical_and(jnp.logical_not(sgd), pg != 0)
    gamma = pp / jnp.where(estimate, -pg, 1.0)
    lambda_ema = jnp.where(estimate, b2 * state.lambda_ema + (1.0 - b2) * gamma, state.lambda_ema)
    rate = lambda_ema / bc2
    switch = estimate & (count > 1) & (rate > 0) & (jnp.abs(rate - gamma) < eps)
    new_state = ScaleBySwatsState(
        count=count,
        mu=mu,
        nu=nu,
        lambda_ema=lambda_ema.astype(state.lambda_ema.dtype),
        sgd_rate=jnp.where(switch, rate, state.sgd_rate).astype(state.sgd_rate.dtype),
        switch_step=jnp.where(switch, count, state.switch_step),
        switch_lr=jnp.where(switch, lr, state.switch_lr).astype(state.switch_lr.dtype),
    )
    return p, new_state

  return optax.GradientTransformation(init_fn, update_fn)


def swats(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-9,
    weight_decay: float = 0.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""SWATS (:func:`scale_by_swats`) with coupled L2 weight decay :math:`g \leftarrow g + \lambda w`.

  As in the PyTorch references, the decayed gradient enters the switch estimate too.

  Args:
    learning_rate: the learning rate (a number or an optax schedule).
    b1: the decay of the first moment (and the SGD phase's momentum), in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: Adam's denominator epsilon and the switch tolerance (> 0; ~1e-4 to see a switch).
    weight_decay: the coupled L2 coefficient :math:`\lambda` (0: ``update`` needs no params).
    nesterov: Nesterov momentum in the SGD phase.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`; :func:`swats_in_sgd_phase` reads its phase.

  Raises:
    InputError: for a negative weight decay (and the checks of :func:`scale_by_swats`).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> opt = ox.swats(1e-3, eps=1e-4)
    >>> state = opt.init({"w": jnp.ones(3)})
    >>> bool(ox.swats_in_sgd_phase(state))
    False

  References:
    Keskar & Socher, `Improving Generalization Performance by Switching from Adam to SGD
    <https://arxiv.org/abs/1712.07628>`_, 2017; PyTorch code: `Mrpatekful/swats <https://github.com/Mrpatekful/swats>`_,
    `pytorch-optimizer SWATS <https://github.com/kozistr/pytorch_optimizer>`_.
  """
  check_non_negative("weight_decay", weight_decay)
  tx = optax.chain(
      add_decayed_weights(weight_decay=weight_decay),
      scale_by_swats(learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, nesterov=nesterov),
  )
  return with_tree_check(tx, "swats")


def swats_in_sgd_phase(state: optax.OptState) -> chex.Array:
  """Whether the SWATS state inside ``state`` (from :func:`swats`, possibly chained or injected) has switched to SGD.

  Args:
    state: an optimizer state holding one :class:`ScaleBySwatsState`.

  Returns:
    A boolean scalar (batched under ``vmap``); ``switch_step`` of the :class:`ScaleBySwatsState` says when.

  Raises:
    InputError: if ``state`` holds no SWATS state.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = optax.chain(optax.clip_by_global_norm(1.0), ox.swats(0.1, eps=1e-4))
    >>> state = opt.init(jnp.zeros(2))
    >>> print(bool(ox.swats_in_sgd_phase(state)))
    False
    >>> for _ in range(2):
    ...   updates, state = opt.update(jnp.array([1.0, -1.0]), state)
    >>> print(bool(ox.swats_in_sgd_phase(state)))
    True
  """
  found = optax.tree.get(state, "ScaleBySwatsState")
  if found is None:
    raise InputError("No SWATS state (ScaleBySwatsState) found in the given optimizer state.")
  return found.switch_step > 0
