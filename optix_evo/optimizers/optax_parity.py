"""Optimizers that optax already has, with argument checks and the options that give the PyTorch references' maths.

The maths is optax's. Each docstring lists where optax's defaults or semantics differ from the PyTorch reference
(``torch.optim``, pytorch-optimizer or the authors' code) and which argument gives the reference behaviour. Only two
small transformations are new here, because optax has no switch for them: the torch-style epsilon placement of
Adagrad (:func:`scale_by_rss_eps_outside`) and RAdam (:func:`scale_by_radam_eps_outside`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo.optimizers._validation import (
    _concrete,
    add_decayed_weights,
    check_decay,
    check_denominator_eps,
    check_learning_rate,
    check_non_negative,
    check_positive,
    with_tree_check,
)


def sgd(
    learning_rate: optax.ScalarOrSchedule,
    momentum: float | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum (:func:`optax.sgd`).

  With learning rate :math:`\eta_t`, momentum :math:`\mu` and gradient :math:`g_t`:

  .. math::

    m_t = \mu\, m_{t-1} + g_t, \qquad
    u_t = -\eta_t\, m_t \ \ \text{(heavy ball)} \quad\text{or}\quad u_t = -\eta_t (g_t + \mu\, m_t)
    \ \ \text{(Nesterov)},

  and :math:`u_t = -\eta_t g_t` without momentum. Equals ``torch.optim.SGD(lr, momentum, dampening=0, nesterov)``
  (torch's first buffer is ``g``, optax's trace starts at 0: the same sequence). Weight decay: chain
  :func:`optax.add_decayed_weights` before it (torch's coupled form).

  Args:
    learning_rate: a fixed learning rate or an optax schedule of the step count.
    momentum: the momentum decay :math:`\mu` in [0, 1), or ``None`` for plain SGD.
    nesterov: use Nesterov's form of momentum.
    accumulator_dtype: dtype of the momentum buffer (``None``: that of the parameters).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative or non-finite learning rate, or a momentum outside [0, 1).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.sgd(learning_rate=0.1, momentum=0.9)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> for _ in range(2):
    ...   grads = 2 * params  # the gradient of sum(params ** 2)
    ...   updates, state = opt.update(grads, state, params)
    ...   params = optax.apply_updates(params, updates)
    ...   print(params)
    [ 0.8 -1.6]
    [ 0.46 -0.92]

  References:
    Robbins & Monro, `A Stochastic Approximation Method <https://doi.org/10.1214/aoms/1177729586>`_, 1951.

    Sutskever et al., `On the importance of initialization and momentum in deep learning
    <https://proceedings.mlr.press/v28/sutskever13.html>`_, ICML 2013 (the Nesterov form).
  """
  check_learning_rate(learning_rate)
  if momentum is not None:
    check_decay("momentum", momentum)
  return with_tree_check(
      optax.sgd(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype),
      "sgd",
  )


def scale_by_rss_eps_outside(initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> optax.GradientTransformation:
  r"""Adagrad scaling with the epsilon outside the root, as ``torch.optim.Adagrad``.

  .. math:: s_t = s_{t-1} + |g_t|^2, \qquad u_t = g_t / (\sqrt{s_t} + \epsilon)

  (optax's :func:`optax.scale_by_rss` computes :math:`g_t / \sqrt{s_t + \epsilon}`). Complex gradients accumulate
  :math:`|g|^2`, as optax does.

  Args:
    initial_accumulator_value: the starting value :math:`s_0` of the sum of squares (>= 0).
    eps: the constant :math:`\epsilon` added to the root (> 0 when ``initial_accumulator_value`` is 0).

  Returns:
    An :class:`optax.GradientTransformation` whose state is an :class:`optax.ScaleByRssState`.

  Raises:
    ValueError: for a negative ``initial_accumulator_value`` or an ``eps`` that would divide 0 by 0.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_rss_eps_outside(initial_accumulator_value=0.0, eps=1e-10)
    >>> state = tx.init(jnp.zeros(2))
    >>> updates, state = tx.update(jnp.array([3.0, -4.0]), state)
    >>> print(updates)  # g / |g| on the first step
    [ 1. -1.]

  References:
    Duchi, Hazan & Singer, `Adaptive Subgradient Methods for Online Learning and Stochastic Optimization
    <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 12, 2011.

    `torch.optim.Adagrad <https://github.com/pytorch/pytorch/blob/main/torch/optim/adagrad.py>`_.
  """
  check_non_negative("initial_accumulator_value", initial_accumulator_value)
  check_denominator_eps("eps", eps, ("initial_accumulator_value", initial_accumulator_value))

  def init_fn(params):
    return optax.ScaleByRssState(sum_of_squares=optax.tree.full_like(params, fill_value=initial_accumulator_value))

  def update_fn(updates, state, params=None):
    del params
    s = jax.tree.map(lambda g, t: (t + jnp.square(jnp.abs(g))).astype(t.dtype), updates, state.sum_of_squares)
    updates = jax.tree.map(lambda g, t: (g / (jnp.sqrt(t) + eps)).astype(g.dtype), updates, s)
    return updates, optax.ScaleByRssState(sum_of_squares=s)

  return optax.GradientTransformation(init_fn, update_fn)


def adagrad(
    learning_rate: optax.ScalarOrSchedule,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    *,
    eps_in_sqrt: bool = True,
) -> optax.GradientTransformationExtraArgs:
  r"""Adagrad (:func:`optax.adagrad`), with an option for torch's epsilon placement.

  .. math::

    s_t = s_{t-1} + |g_t|^2, \qquad
    u_t = -\eta_t\, g_t / \sqrt{s_t + \epsilon} \ \ \text{(optax)} \quad\text{or}\quad
    u_t = -\eta_t\, g_t / (\sqrt{s_t} + \epsilon) \ \ \text{(torch,}\ \texttt{eps_in_sqrt=False)}.

  optax's defaults are ``initial_accumulator_value=0.1, eps=1e-7``; ``torch.optim.Adagrad``'s are 0 and ``1e-10``
  with the epsilon outside the root: ``adagrad(lr, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)``
  (torch's ``lr_decay`` is a learning-rate schedule here). The registry's ``"adagrad"`` uses torch's form.

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    initial_accumulator_value: the starting value :math:`s_0` of the sum of squares.
    eps: the constant :math:`\epsilon` of the denominator.
    eps_in_sqrt: ``True`` for optax's placement (inside the root), ``False`` for torch's
      (:func:`scale_by_rss_eps_outside`).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate, accumulator value or epsilon, or ``eps=0`` outside the root with a
      zero starting accumulator (0/0 on a zero gradient).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.adagrad(learning_rate=0.1, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state, params)
    >>> print(optax.apply_updates(params, updates))  # the first step moves each coordinate by the learning rate
    [ 0.9 -1.9]

  References:
    Duchi, Hazan & Singer, `Adaptive Subgradient Methods for Online Learning and Stochastic Optimization
    <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 12, 2011.
  """
  check_learning_rate(learning_rate)
  check_non_negative("initial_accumulator_value", initial_accumulator_value)
  check_non_negative("eps", eps)  # optax's form is safe at eps=0 (it returns 0 where the sum is 0)
  if eps_in_sqrt:
    tx = optax.adagrad(learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value, eps=eps)
  else:
    tx = optax.chain(
        scale_by_rss_eps_outside(initial_accumulator_value=initial_accumulator_value, eps=eps),
        optax.scale_by_learning_rate(learning_rate=learning_rate),
    )
  return with_tree_check(tx, "adagrad")


def rmsprop(
    learning_rate: optax.ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""RMSProp (:func:`optax.rmsprop`).

  .. math::

    \nu_t = \rho\, \nu_{t-1} + (1 - \rho)\, g_t^2, \qquad
    u_t = -\eta_t\, g_t / \sqrt{\nu_t + \epsilon} \ \ \text{(optax)} \quad\text{or}\quad
    u_t = -\eta_t\, g_t / (\sqrt{\nu_t} + \epsilon) \ \ \text{(torch)},

  with :math:`\rho` = ``decay``. optax defaults to ``decay=0.9`` and the epsilon inside the root;
  ``torch.optim.RMSprop`` uses ``alpha=0.99`` and the epsilon outside: ``rmsprop(lr, decay=0.99, eps_in_sqrt=False)``
  reproduces it (also with ``momentum`` and ``centered``, for a constant learning rate).

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    decay: the decay :math:`\rho` of the moving average of squared gradients, in [0, 1).
    eps: the constant :math:`\epsilon` of the denominator.
    initial_scale: the starting value :math:`\nu_0`.
    eps_in_sqrt: ``True`` for optax's placement (inside the root), ``False`` for torch's.
    centered: divide by the centred second moment (an estimate of the variance), as in Graves 2013.
    momentum: a momentum decay in [0, 1) applied after the scaling, or ``None``.
    nesterov: Nesterov's form of that momentum.
    bias_correction: bias-correct the moving averages (as Adam does).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate, a decay or momentum outside [0, 1), or ``eps=0`` where a zero gradient
      would divide 0 by 0.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.rmsprop(learning_rate=0.01, decay=0.99, eps_in_sqrt=False)  # torch.optim.RMSprop's defaults
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state, params)
    >>> print(optax.apply_updates(params, updates))  # the first step is lr / sqrt(1 - decay) = 0.1 per coordinate
    [ 0.9 -1.9 ]

  References:
    Tieleman & Hinton, `Lecture 6.5, Neural Networks for Machine Learning
    <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>`_, 2012.

    Graves, `Generating Sequences With Recurrent Neural Networks <https://arxiv.org/abs/1308.0850>`_, 2013
    (the centred form).
  """
  check_learning_rate(learning_rate)
  check_decay("decay", decay)
  check_denominator_eps("eps", eps, *(() if centered else (("initial_scale", initial_scale),)))
  if momentum is not None:
    check_decay("momentum", momentum)
  return with_tree_check(
      optax.rmsprop(
          learning_rate=learning_rate, decay=decay, eps=eps, initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt,
          centered=centered, momentum=momentum, nesterov=nesterov, bias_correction=bias_correction,
      ),
      "rmsprop",
  )


def _check_adam_args(learning_rate, b1, b2, eps, eps_root=0.0) -> None:
  check_learning_rate(learning_rate)
  check_decay("b1", b1)
  check_decay("b2", b2)
  check_non_negative("eps_root", eps_root)
  check_denominator_eps("eps", eps, ("eps_root", eps_root))


def adam(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""Adam (:func:`optax.adam`); identical to ``torch.optim.Adam`` (same defaults, same epsilon placement).

  .. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
    u_t = -\eta_t\, \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t) + \bar\epsilon} + \epsilon}.

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    b1: the decay :math:`\beta_1` of the first moment, in [0, 1).
    b2: the decay :math:`\beta_2` of the second moment, in [0, 1).
    eps: the constant :math:`\epsilon` added outside the root.
    eps_root: the constant :math:`\bar\epsilon` added inside the root (for meta-gradients through Adam).
    mu_dtype: dtype of the first moment (``None``: that of the parameters).
    nesterov: use Nesterov momentum (NAdam).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate, decays outside [0, 1), or ``eps = eps_root = 0`` (0/0 on a zero
      gradient).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.adam(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state, params)
    >>> print(optax.apply_updates(params, updates))  # Adam's first step: lr * sign(g)
    [ 0.9 -1.9]

  References:
    Kingma & Ba, `Adam: A Method for Stochastic Optimization <https://arxiv.org/abs/1412.6980>`_, ICLR 2015.
  """
  _check_adam_args(learning_rate, b1, b2, eps, eps_root)
  return with_tree_check(
      optax.adam(
          learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
      ),
      "adam",
  )


def adamw(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: optax.ScalarOrSchedule = 1e-4,
    mask: Any | None = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""AdamW (:func:`optax.adamw`): the same maths as ``torch.optim.AdamW`` for equal ``weight_decay``.

  Adam's step (see :func:`adam`) plus the decoupled weight decay :math:`-\eta_t \lambda w_{t-1}`. optax's default
  ``weight_decay=1e-4``, torch's is ``1e-2`` (the registry's ``"adamw"`` uses torch's). The decay reads the weights,
  so ``update`` needs params (as optax's).

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    b1: the decay of the first moment, in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: the constant added outside the root.
    eps_root: the constant added inside the root.
    mu_dtype: dtype of the first moment (``None``: that of the parameters).
    weight_decay: the decoupled weight decay :math:`\lambda` (a number or a schedule).
    mask: a pytree of booleans (or a function of the params returning one): where to apply the decay.
    nesterov: use Nesterov momentum.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate or weight decay, decays outside [0, 1), or ``eps = eps_root = 0``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.adamw(learning_rate=0.1, weight_decay=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(jnp.zeros(2), state, params)  # no gradient: only the decay moves the weights
    >>> print(optax.apply_updates(params, updates))
    [ 0.95 -1.9 ]

  References:
    Loshchilov & Hutter, `Decoupled Weight Decay Regularization <https://arxiv.org/abs/1711.05101>`_, ICLR 2019.
  """
  _check_adam_args(learning_rate, b1, b2, eps, eps_root)
  check_non_negative("weight_decay", weight_decay)
  return with_tree_check(
      optax.adamw(
          learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype,
          weight_decay=weight_decay, mask=mask, nesterov=nesterov,
      ),
      "adamw",
  )


def scale_by_radam_eps_outside(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, threshold: float = 5.0
) -> optax.GradientTransformation:
  r"""RAdam scaling with ``torch.optim.RAdam``'s epsilon placement.

  With :math:`\rho_\infty = 2/(1-\beta_2) - 1` and :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`:

  .. math::

    u_t = \begin{cases}
      r_t\, \hat m_t \sqrt{1-\beta_2^t} / (\sqrt{v_t} + \epsilon) & \rho_t > \text{threshold} \\
      \hat m_t & \text{otherwise,}
    \end{cases} \qquad
    r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},

  the epsilon added to the *uncorrected* root (optax adds it to :math:`\sqrt{\hat v_t}`). The rectification term is
  only evaluated where its argument is non-negative (no NaN in the unused branch). Updates keep the gradients' dtype.

  Args:
    b1: the decay of the first moment, in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: the constant :math:`\epsilon` added to :math:`\sqrt{v_t}` (> 0).
    threshold: the value of :math:`\rho_t` above which the adaptive (rectified) step is taken.

  Returns:
    An :class:`optax.GradientTransformation` whose state is an :class:`optax.ScaleByAdamState`.

  Raises:
    ValueError: for decays outside [0, 1) or ``eps <= 0``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.scale_by_radam_eps_outside()
    >>> state = tx.init(jnp.zeros(2))
    >>> updates, state = tx.update(jnp.array([0.5, -1.0]), state)
    >>> print(updates)  # rho_1 <= 5: the first step is the bias-corrected momentum, the gradient itself
    [ 0.5 -1.0]

  References:
    Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond <https://arxiv.org/abs/1908.03265>`_,
    ICLR 2020.

    `torch.optim.RAdam <https://github.com/pytorch/pytorch/blob/main/torch/optim/radam.py>`_.
  """
  check_decay("b1", b1)
  check_decay("b2", b2)
  check_denominator_eps("eps", eps)

  def init_fn(params):
    return optax.ScaleByAdamState(
        count=jnp.zeros([], jnp.int32), mu=optax.tree.zeros_like(params), nu=optax.tree.zeros_like(params)
    )

  def update_fn(updates, state, params=None):
    del params
    grads = updates
    count = optax.safe_increment(state.count)
    mu = optax.tree.update_moment(updates, state.mu, decay=b1, order=1)
    nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, decay=b2, order=2)
    t = count.astype(jnp.result_type(float))
    bc2 = 1 - b2**t
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / bc2
    rectified = rho_t > threshold
    safe_rho = jnp.where(rectified, rho_t, rho_inf)
    r = jnp.sqrt((safe_rho - 4) * (safe_rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe_rho))
    mu_hat = optax.tree.bias_correction(mu, decay=b1, count=count)
    updates = jax.tree.map(
        lambda m, v: jnp.where(rectified, r * jnp.sqrt(bc2) * m / (jnp.sqrt(v) + eps), m), mu_hat, nu
    )
    return optax.tree.cast_like(updates, grads), optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


def radam(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
    eps_after_bias_correction: bool = True,
) -> optax.GradientTransformationExtraArgs:
  r"""Rectified Adam (:func:`optax.radam`).

  Adam whose adaptive step is multiplied by the rectification :math:`r_t` (see :func:`scale_by_radam_eps_outside`)
  once :math:`\rho_t` exceeds ``threshold``; before that the steps are bias-corrected momentum steps (the first five
  for ``b2=0.999``). optax adds ``eps`` to :math:`\sqrt{\hat v_t}`; ``torch.optim.RAdam`` adds it to the
  uncorrected :math:`\sqrt{v_t}` (the effective epsilon differs by :math:`\sqrt{1-\beta_2^t}`).
  ``eps_after_bias_correction=False`` gives torch's form (the registry's default).

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    b1: the decay of the first moment, in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: the constant added to the root.
    eps_root: the constant added inside the root (optax's form only).
    threshold: the value of :math:`\rho_t` above which the rectified adaptive step is taken.
    nesterov: Nesterov momentum (optax's form only).
    eps_after_bias_correction: ``True`` for optax's placement, ``False`` for torch's
      (:func:`scale_by_radam_eps_outside`).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate, decays outside [0, 1), ``eps = eps_root = 0``, or ``nesterov`` /
      ``eps_root`` together with ``eps_after_bias_correction=False``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.radam(learning_rate=0.1, eps_after_bias_correction=False)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state, params)
    >>> print(optax.apply_updates(params, updates))  # a momentum step: lr * g
    [ 0.8 -1.6]

  References:
    Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond <https://arxiv.org/abs/1908.03265>`_,
    ICLR 2020.
  """
  _check_adam_args(learning_rate, b1, b2, eps, eps_root)
  if eps_after_bias_correction:
    tx = optax.radam(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov
    )
    return with_tree_check(tx, "radam")
  root = _concrete(eps_root)  # a traced eps_root (inject_hyperparams) is the default 0 unless the caller set it
  if nesterov or (root is not None and np.any(root != 0)):
    raise ValueError("eps_after_bias_correction=False (torch.optim.RAdam's form) has no nesterov or eps_root option.")
  tx = optax.chain(
      scale_by_radam_eps_outside(b1=b1, b2=b2, eps=eps, threshold=threshold),
      optax.scale_by_learning_rate(learning_rate=learning_rate),
  )
  return with_tree_check(tx, "radam")


def adabelief(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
    weight_decay: optax.ScalarOrSchedule = 0.0,
    weight_decay_mask: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""AdaBelief (:func:`optax.adabelief`) with optional decoupled weight decay.

  Adam with the second moment taken of the gradient's deviation from its moving average ("belief"):

  .. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \bar\epsilon, \qquad
    u_t = -\eta_t \left(\frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon} + \lambda w_{t-1}\right).

  optax equals pytorch-optimizer's ``AdaBelief`` defaults (``rectify=False``) and the official ``adabelief_pytorch``
  with ``rectify=False``; the official package defaults to ``rectify=True`` (RAdam-style rectification, not offered
  here). optax has no weight decay; ``weight_decay`` adds the official decoupled form (``weight_decouple=True``)
  through :func:`optax.add_decayed_weights`.

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    b1: the decay of the first moment, in [0, 1).
    b2: the decay of the second moment, in [0, 1).
    eps: the constant :math:`\epsilon` added outside the root.
    eps_root: the constant :math:`\bar\epsilon` added to the second moment.
    nesterov: use Nesterov momentum.
    weight_decay: the decoupled weight decay :math:`\lambda` (0: ``update`` needs no params).
    weight_decay_mask: a pytree of booleans (or a function of the params returning one): where to apply the decay
      (the name optax's newer optimizers use, e.g. :func:`optax.contrib.muon`).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate or weight decay, decays outside [0, 1), or ``eps = eps_root = 0``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.adabelief(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state)  # no params needed without weight decay
    >>> print(optax.apply_updates(params, updates))
    [ 0.8889 -1.8889]

  References:
    Zhuang et al., `AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients
    <https://arxiv.org/abs/2010.07468>`_, NeurIPS 2020; code: `juntang-zhuang/Adabelief-Optimizer
    <https://github.com/juntang-zhuang/Adabelief-Optimizer>`_.
  """
  _check_adam_args(learning_rate, b1, b2, eps, eps_root)
  check_non_negative("weight_decay", weight_decay)
  tx = optax.chain(
      optax.scale_by_belief(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
      add_decayed_weights(weight_decay=weight_decay, mask=weight_decay_mask),
      optax.scale_by_learning_rate(learning_rate=learning_rate),
  )
  return with_tree_check(tx, "adabelief")


def lion(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.99,
    mu_dtype: Any | None = None,
    weight_decay: optax.ScalarOrSchedule = 1e-3,
    mask: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Lion (:func:`optax.lion`): the sign of an interpolated momentum.

  .. math::

    u_t = -\eta_t \left(\mathrm{sign}(\beta_1 m_{t-1} + (1-\beta_1) g_t) + \lambda w_{t-1}\right), \qquad
    m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t.

  Same maths as the official PyTorch ``Lion`` and pytorch-optimizer's for equal ``weight_decay``; optax's default
  ``weight_decay=1e-3`` differs from the reference ``0.0`` (the registry's ``"lion"`` uses ``0.0`` and ``lr=1e-4``).
  Built as optax builds it (``scale_by_lion``, ``add_decayed_weights``, ``scale_by_learning_rate``: the same state),
  except that at ``weight_decay=0`` ``update`` needs no params.

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    b1: the interpolation :math:`\beta_1` of the update direction, in [0, 1).
    b2: the decay :math:`\beta_2` of the momentum, in [0, 1).
    mu_dtype: dtype of the momentum (``None``: that of the parameters).
    weight_decay: the decoupled weight decay :math:`\lambda`.
    mask: a pytree of booleans (or a function of the params returning one): where to apply the decay.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative learning rate or weight decay, or decays outside [0, 1).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.lion(learning_rate=0.1, weight_decay=0.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(2 * params, state)
    >>> print(optax.apply_updates(params, updates))  # every coordinate moves by exactly the learning rate
    [ 0.9 -1.9]

  References:
    Chen et al., `Symbolic Discovery of Optimization Algorithms <https://arxiv.org/abs/2302.06675>`_, NeurIPS 2023;
    code: `google/automl lion <https://github.com/google/automl/tree/master/lion>`_.
  """
  check_learning_rate(learning_rate)
  check_decay("b1", b1)
  check_decay("b2", b2)
  check_non_negative("weight_decay", weight_decay)
  tx = optax.chain(
      optax.scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
      add_decayed_weights(weight_decay=weight_decay, mask=mask),
      optax.scale_by_learning_rate(learning_rate=learning_rate),
  )
  return with_tree_check(tx, "lion")
