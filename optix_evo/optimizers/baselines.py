"""Optimizers that optax already has, re-exported with argument checks and reference-parity options.

The maths is optax's. Each docstring lists where optax's defaults or semantics differ from the PyTorch reference
(``shared/design/zoo_references.md`` §8-13) and which argument gives the reference behaviour. Only two small
transformations are new here, because optax has no switch for them: the torch-style epsilon placement of Adagrad
(:func:`scale_by_rss_eps_outside`) and RAdam (:func:`scale_by_radam_eps_outside`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo.errors import InputError
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
  """Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum (:func:`optax.sgd`).

  Equals ``torch.optim.SGD(lr, momentum, dampening=0, nesterov)`` (torch's first buffer is ``g``, optax's trace
  starts at 0: the same sequence). Weight decay: chain ``optax.add_decayed_weights`` before it (torch's coupled form).

  References: Robbins & Monro 1951; Polyak 1964; Sutskever et al. 2013 (Nesterov form).
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

  optax: :math:`u = g/\sqrt{\sum g^2 + \epsilon}` with ``initial_accumulator_value=0.1, eps=1e-7``.
  ``torch.optim.Adagrad``: :math:`u = g/(\sqrt{\sum g^2} + \epsilon)` with ``initial_accumulator_value=0, eps=1e-10``;
  get it with ``adagrad(lr, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)`` (torch's ``lr_decay``
  is a learning-rate schedule here).

  References: Duchi, Hazan & Singer 2011.
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

  optax defaults ``decay=0.9`` and :math:`g/\sqrt{\nu + \epsilon}`; ``torch.optim.RMSprop`` uses ``alpha=0.99`` and
  :math:`g/(\sqrt{\nu} + \epsilon)`: ``rmsprop(lr, decay=0.99, eps_in_sqrt=False)`` reproduces it (also with
  ``momentum`` and ``centered``, for a constant learning rate).

  References: Tieleman & Hinton 2012 (lecture 6.5).
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
  """Adam (:func:`optax.adam`); identical to ``torch.optim.Adam`` (same defaults, same epsilon placement).

  References: Kingma & Ba 2015, arXiv:1412.6980.
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
  """AdamW (:func:`optax.adamw`): the same maths as ``torch.optim.AdamW`` for equal ``weight_decay``.

  Difference: optax's default ``weight_decay=1e-4``, torch's is ``1e-2`` (the registry entry uses torch's). The decay
  reads the weights, so ``update`` needs params (as optax's).

  References: Loshchilov & Hutter 2019, arXiv:1711.05101.
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

  With :math:`\rho_\infty = 2/(1-\beta_2) - 1`, :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`:
  if :math:`\rho_t > \text{threshold}`, :math:`u = r_t\,\hat m_t \sqrt{1-\beta_2^t}/(\sqrt{v_t} + \epsilon)`
  (epsilon added to the *uncorrected* root; optax adds it to :math:`\sqrt{\hat v_t}`), else :math:`u = \hat m_t`.
  The rectification term is only evaluated where its argument is non-negative (no NaN in the unused branch).
  Updates keep the gradients' dtype.
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

  optax adds ``eps`` to :math:`\sqrt{\hat v_t}`; ``torch.optim.RAdam`` adds it to the uncorrected :math:`\sqrt{v_t}`
  (the effective epsilon differs by :math:`\sqrt{1-\beta_2^t}`). ``eps_after_bias_correction=False`` gives torch's
  form (:func:`scale_by_radam_eps_outside`; it takes no ``eps_root`` or ``nesterov``). Steps with
  :math:`\rho_t \le 5` (the first five for ``b2=0.999``) are bias-corrected momentum steps in both.

  References: Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond", arXiv:1908.03265.
  """
  _check_adam_args(learning_rate, b1, b2, eps, eps_root)
  if eps_after_bias_correction:
    tx = optax.radam(
        learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov
    )
    return with_tree_check(tx, "radam")
  root = _concrete(eps_root)  # a traced eps_root (inject_hyperparams) is the default 0 unless the caller set it
  if nesterov or (root is not None and np.any(root != 0)):
    raise InputError("eps_after_bias_correction=False (torch.optim.RAdam's form) has no nesterov or eps_root option.")
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
    mask: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""AdaBelief (:func:`optax.adabelief`) with optional decoupled weight decay.

  optax equals pytorch-optimizer's ``AdaBelief`` defaults (``rectify=False``) and the official ``adabelief_pytorch``
  with ``rectify=False``; the official package defaults to ``rectify=True`` (RAdam-style rectification, not offered
  here). optax has no weight decay; ``weight_decay`` adds the official decoupled form
  :math:`w \leftarrow w - \eta\lambda w` (``weight_decouple=True``) through :func:`optax.add_decayed_weights`.

  References: Zhuang et al. 2020, "AdaBelief Optimizer", arXiv:2010.07468.
  """
  _check_adam_args(learning_rate, b1, b2, eps, eps_root)
  check_non_negative("weight_decay", weight_decay)
  tx = optax.chain(
      optax.scale_by_belief(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
      add_decayed_weights(weight_decay=weight_decay, mask=mask),
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
  r"""Lion (:func:`optax.lion`): :math:`w \leftarrow w - \eta(\mathrm{sign}(\beta_1 m + (1-\beta_1) g) + \lambda w)`.

  Same maths as the official PyTorch ``Lion`` and pytorch-optimizer's for equal ``weight_decay``; optax's default
  ``weight_decay=1e-3`` differs from the reference ``0.0`` (the registry entry uses ``0.0`` and ``lr=1e-4``). Built
  as optax builds it (``scale_by_lion``, ``add_decayed_weights``, ``scale_by_learning_rate``: the same state), except
  that at ``weight_decay=0`` ``update`` needs no params.

  References: Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", arXiv:2302.06675.
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


def hutchinson_diag_hessian(random_seed: jax.Array | None = None) -> optax.GradientTransformationExtraArgs:
  r"""Hutchinson estimate of the Hessian diagonal, :math:`\mathrm{diag}(H) \approx z \odot Hz` (Rademacher ``z``).

  Like :func:`optax.contrib.hutchinson_estimator_diag_hessian`, but the Hessian-vector product is the ``jvp`` of the
  ``grad_fn`` extra argument that :func:`optix_evo.training.fit` passes to every optimizer; optax's ``obj_fn``
  (a scalar loss of the params) is accepted too. State: :class:`optax.contrib.HutchinsonState` (``key``).
  """

  def init_fn(params):
    del params
    return optax.contrib.HutchinsonState(key=random_seed if random_seed is not None else jax.random.PRNGKey(0))

  def update_fn(updates, state, params=None, grad_fn=None, obj_fn=None, **extra_args):
    del updates, extra_args
    if params is None:
      raise InputError("sophia's Hessian estimate needs params: call update(grads, state, params, grad_fn=...).")
    if grad_fn is None:
      if obj_fn is None:
        raise InputError(
            "sophia needs the gradient function of the current batch: pass grad_fn=(params -> grads) "
            "(optix_evo.training.fit does) or optax's obj_fn=(params -> loss) to update()."
        )
      grad_fn = jax.grad(obj_fn)
    key, subkey = jax.random.split(state.key)
    signs = optax.tree.random_like(subkey, params, sampler=jax.random.rademacher, dtype=jnp.float32)
    signs = optax.tree.cast_like(signs, params)  # each leaf in its parameter's dtype (trees may mix dtypes)
    hvp = jax.jvp(grad_fn, (params,), (signs,))[1]
    return optax.tree.mul(hvp, signs), optax.contrib.HutchinsonState(key=key)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def sophia(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.965,
    b2: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    weight_decay_mask: Any | None = None,
    gamma: float = 0.01,
    clip_threshold: float | None = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: optax.GradientTransformation | None = None,
    mu_dtype: Any | None = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: int = 0,
) -> optax.GradientTransformationExtraArgs:
  r"""Sophia (:func:`optax.contrib.sophia`): Sophia-H with bias-corrected momentum, not the paper's SophiaG.

  :math:`u = \mathrm{clip}(\hat m_t/\max(\gamma h, \epsilon), \pm c) + \lambda w`, :math:`w \leftarrow w - \eta u`;
  the Hessian-diagonal EMA :math:`h` is refreshed every ``update_interval`` steps (steps 1, 11, 21, ...) after the
  update is computed. Differences from the references: the official ``SophiaG`` (Liu et al.) uses an uncorrected
  momentum, a Gauss-Newton-Bartlett estimate and ``rho·bs`` instead of ``gamma``; pytorch-optimizer's ``SophiaH``
  uses an uncorrected momentum and refreshes ``h`` before the update. The only change from optax: the default
  Hessian estimate is :func:`hutchinson_diag_hessian`, which works with the ``grad_fn=`` that
  :func:`optix_evo.training.fit` passes (optax's default needs ``obj_fn=``; both are accepted). ``update`` needs
  params: the estimate differentiates the loss there.

  References: Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer", arXiv:2305.14342.
  """
  check_learning_rate(learning_rate)
  check_decay("b1", b1)
  check_decay("b2", b2)
  check_denominator_eps("eps", eps)  # the denominator is max(gamma·h, eps) and h starts at 0
  check_non_negative("weight_decay", weight_decay)
  check_positive("gamma", gamma)
  check_positive("update_interval", update_interval)
  tx = optax.contrib.sophia(
      learning_rate=learning_rate,
      b1=b1,
      b2=b2,
      eps=eps,
      weight_decay=weight_decay,
      weight_decay_mask=weight_decay_mask,
      gamma=gamma,
      clip_threshold=clip_threshold,
      update_interval=update_interval,
      hessian_diagonal_fn=hutchinson_diag_hessian() if hessian_diagonal_fn is None else hessian_diagonal_fn,
      mu_dtype=mu_dtype,
      verbose=verbose,
      print_win_rate_every_n_steps=print_win_rate_every_n_steps,
  )

  def update_fn(updates, state, params=None, **extra_args):
    if not jax.tree.leaves(updates):  # nothing to update (optax's sophia reduces over the leaves with no initial value)
      return updates, state
    return tx.update(updates, state, params, **extra_args)

  return with_tree_check(optax.GradientTransformationExtraArgs(tx.init, update_fn), "sophia")
