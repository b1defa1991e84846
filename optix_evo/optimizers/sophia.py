"""Sophia (:func:`optax.contrib.sophia`) with a Hessian estimate that reads the training loop's ``grad_fn``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from optix_evo.optimizers._validation import (
    check_decay,
    check_denominator_eps,
    check_learning_rate,
    check_non_negative,
    check_positive,
    with_tree_check,
)


def hutchinson_diag_hessian(random_seed: jax.Array | None = None) -> optax.GradientTransformationExtraArgs:
  r"""Hutchinson's estimate of the Hessian diagonal, :math:`\mathrm{diag}(H) \approx z \odot Hz` (Rademacher ``z``).

  Like :func:`optax.contrib.hutchinson_estimator_diag_hessian`, but the Hessian-vector product is the ``jvp`` of the
  ``grad_fn`` extra argument that :func:`optix_evo.training.fit` passes to every optimizer; optax's ``obj_fn``
  (a scalar loss of the params) is accepted too. Its ``update`` returns the estimate in place of the updates.

  Args:
    random_seed: the PRNG key of the probe vectors (``None``: ``jax.random.PRNGKey(0)``).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs` whose state is an :class:`optax.contrib.HutchinsonState`
    (``key``); ``update`` takes ``grad_fn=`` (or ``obj_fn=``) and params.

  Raises:
    ValueError: from ``update``, without params or without ``grad_fn``/``obj_fn``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda w: jnp.sum(jnp.array([1.0, 3.0]) * w ** 2)  # Hessian diag(2, 6)
    >>> tx = ox.hutchinson_diag_hessian()
    >>> params = jnp.array([0.5, -0.5])
    >>> state = tx.init(params)
    >>> estimate, state = tx.update(None, state, params, grad_fn=jax.grad(loss))
    >>> print(estimate)  # exact for a diagonal Hessian
    [2. 6.]

  References:
    Hutchinson, `A stochastic estimator of the trace of the influence matrix for Laplacian smoothing splines
    <https://doi.org/10.1080/03610918908812806>`_, 1989.

    Yao et al., `ADAHESSIAN: An Adaptive Second Order Optimizer for Machine Learning
    <https://arxiv.org/abs/2006.00719>`_, AAAI 2021 (the diagonal estimate).
  """

  def init_fn(params):
    del params
    return optax.contrib.HutchinsonState(key=random_seed if random_seed is not None else jax.random.PRNGKey(0))

  def update_fn(updates, state, params=None, grad_fn=None, obj_fn=None, **extra_args):
    del updates, extra_args
    if params is None:
      raise ValueError("sophia's Hessian estimate needs params: call update(grads, state, params, grad_fn=...).")
    if grad_fn is None:
      if obj_fn is None:
        raise ValueError(
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

  .. math::

    u_t = -\eta_t \left(\mathrm{clip}\!\left(\frac{\hat m_t}{\max(\gamma h_t, \epsilon)}, \pm c\right)
    + \lambda w_{t-1}\right),

  where :math:`\hat m_t` is the bias-corrected EMA of the gradients and :math:`h_t` the EMA (decay :math:`\beta_2`)
  of Hutchinson estimates of the Hessian diagonal, refreshed every ``update_interval`` steps (steps 1, 11, 21, ...)
  after the update is computed. Differences from the references: the official ``SophiaG`` (Liu et al.) uses an
  uncorrected momentum, a Gauss-Newton-Bartlett estimate and ``rho·bs`` instead of ``gamma``; pytorch-optimizer's
  ``SophiaH`` uses an uncorrected momentum and refreshes ``h`` before the update. The only change from optax: the
  default Hessian estimate is :func:`hutchinson_diag_hessian`, which works with the ``grad_fn=`` that
  :func:`optix_evo.training.fit` passes (optax's default needs ``obj_fn=``; both are accepted). ``update`` needs
  params: the estimate differentiates the loss there.

  Args:
    learning_rate: a fixed learning rate or an optax schedule.
    b1: the decay of the gradient EMA, in [0, 1).
    b2: the decay of the Hessian-diagonal EMA, in [0, 1).
    eps: the floor :math:`\epsilon` of the denominator (> 0).
    weight_decay: the decoupled weight decay :math:`\lambda`.
    weight_decay_mask: a pytree of booleans (or a function of the params returning one): where to apply the decay.
    gamma: the scale :math:`\gamma` of the Hessian estimate (> 0).
    clip_threshold: the clipping bound :math:`c` (``None``: no clipping).
    update_interval: refresh the Hessian estimate every this many steps (> 0).
    hessian_diagonal_fn: a transformation returning the Hessian-diagonal estimate (``None``:
      :func:`hutchinson_diag_hessian`).
    mu_dtype: dtype of the gradient EMA.
    verbose: print the clipping win rate (optax's option).
    print_win_rate_every_n_steps: how often ``verbose`` prints.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs`; ``update`` takes params and ``grad_fn=`` (or ``obj_fn=``).

  Raises:
    ValueError: for a negative learning rate or weight decay, decays outside [0, 1), ``eps <= 0``, ``gamma <= 0`` or
      ``update_interval <= 0``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> loss = lambda w: jnp.sum(w ** 2)
    >>> opt = ox.sophia(learning_rate=0.1, weight_decay=0.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(jax.grad(loss)(params), state, params, grad_fn=jax.grad(loss))
    >>> print(optax.apply_updates(params, updates))  # the first step is clipped to lr * sign(g)
    [ 0.9 -1.9]

  References:
    Liu et al., `Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training
    <https://arxiv.org/abs/2305.14342>`_, ICLR 2024; code: `Liuhong99/Sophia <https://github.com/Liuhong99/Sophia>`_.
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
