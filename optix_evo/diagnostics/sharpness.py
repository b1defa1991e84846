"""Sharpness of a loss at given parameters: top Hessian eigenvalue, Hessian trace, random-perturbation sharpness.

Every function takes ``loss_fn: params -> scalar`` (close over the batch, e.g.
``lambda p: loss_fn(p, x, y)[0]`` for a :mod:`optix_evo.training` loss), a parameter pytree and a PRNG key, and is
pure: it works under ``jax.jit`` (``loss_fn`` and the keyword settings static) and under ``jax.vmap`` over params,
keys or the data that ``loss_fn`` closes over. Nothing materialises the Hessian; everything is built on
Hessian-vector products, ``Hv = jvp(grad(loss_fn), (params,), (v,))`` (forward-over-reverse, one extra backward pass).

References:
  Pearlmutter, `Fast exact multiplication by the Hessian <https://doi.org/10.1162/neco.1994.6.1.147>`_, Neural
  Computation 6, 1994.

  Hutchinson, `A stochastic estimator of the trace of the influence matrix for Laplacian smoothing splines
  <https://doi.org/10.1080/03610918908812806>`_, 1989.

  Keskar et al., `On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima
  <https://arxiv.org/abs/1609.04836>`_, ICLR 2017.

  Foret et al., `Sharpness-Aware Minimization for Efficiently Improving Generalization
  <https://arxiv.org/abs/2010.01412>`_, ICLR 2021.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import optax

ScalarLossFn = Callable[[chex.ArrayTree], jax.Array]


def hessian_vector_product(loss_fn: ScalarLossFn, params: chex.ArrayTree, vector: chex.ArrayTree) -> chex.ArrayTree:
  r"""The Hessian-vector product :math:`H v` with :math:`H = \nabla^2 L(\theta)`, by forward-mode differentiation of
  ``jax.grad``.

  Args:
    loss_fn: ``params -> scalar`` loss.
    params: the point :math:`\theta` at which the Hessian is taken.
    vector: the vector :math:`v`, a pytree like ``params``.

  Returns:
    :math:`H v`, a pytree like ``params``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda p: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * p ** 2)  # Hessian diag(1, 4)
    >>> params = jnp.zeros(2)
    >>> print(ox.hessian_vector_product(loss, params, jnp.ones(2)))
    [1. 4.]

  References:
    Pearlmutter, `Fast exact multiplication by the Hessian <https://doi.org/10.1162/neco.1994.6.1.147>`_, 1994.
  """
  return jax.jvp(jax.grad(loss_fn), (params,), (vector,))[1]


def _check_positive(name: str, value: int) -> None:
  if value < 1:
    raise ValueError(f"{name} must be a positive integer, got {value}.")


def hessian_top_eigenvalue(loss_fn: ScalarLossFn, params: chex.ArrayTree, key: jax.Array, *, iters: int = 20) -> jax.Array:
  r"""Dominant Hessian eigenvalue by power iteration on Hessian-vector products.

  Starts from a random unit vector :math:`v_0` and iterates :math:`v_{k+1} = H v_k / \|H v_k\|`; returns the
  Rayleigh quotient :math:`v_k^\top H v_k` of the last iterate. Power iteration converges to the eigenvalue of
  largest *magnitude*: at a minimum (positive semi-definite Hessian) that is the top eigenvalue
  :math:`\lambda_{\max}`; far from one it may be a large negative eigenvalue (the sign is kept). Convergence is
  geometric in :math:`|\lambda_2/\lambda_1|`; 20 iterations suffice for a well separated top eigenvalue.

  Args:
    loss_fn: ``params -> scalar`` loss.
    params: point at which the Hessian is taken.
    key: PRNG key for the starting vector.
    iters: number of Hessian-vector products.

  Returns:
    A scalar array.

  Raises:
    ValueError: if ``iters < 1``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda p: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * p ** 2)  # Hessian diag(1, 4)
    >>> params = jnp.zeros(2)
    >>> print(ox.hessian_top_eigenvalue(loss, params, jax.random.PRNGKey(0), iters=20))
    4.0

  References:
    Pearlmutter, `Fast exact multiplication by the Hessian <https://doi.org/10.1162/neco.1994.6.1.147>`_, 1994
    (the Hessian-vector products); power iteration as in Yao et al., `PyHessian <https://arxiv.org/abs/1912.07145>`_,
    2020.
  """
  _check_positive("iters", iters)
  v = optax.tree.random_like(key, params)
  v = optax.tree.scale(1.0 / optax.tree.norm(v), v)

  def body(_, carry):
    v, _ = carry
    hv = hessian_vector_product(loss_fn, params, v)
    eigenvalue = optax.tree.vdot(v, hv)
    norm = optax.tree.norm(hv)
    # A zero Hessian (e.g. a linear loss) leaves v unchanged instead of dividing by zero.
    v = jax.tree.map(lambda h, old: jnp.where(norm > 0, h / jnp.where(norm > 0, norm, 1.0), old), hv, v)
    return v, eigenvalue

  _, eigenvalue = jax.lax.fori_loop(0, iters, body, (v, jnp.zeros_like(optax.tree.vdot(v, v))))
  return eigenvalue


def hessian_trace(loss_fn: ScalarLossFn, params: chex.ArrayTree, key: jax.Array, *, samples: int = 32) -> jax.Array:
  r"""Hutchinson's unbiased estimate of the Hessian trace, :math:`\operatorname{tr} H \approx \frac1S \sum_s z_s^\top H z_s`.

  The probes :math:`z_s` have independent Rademacher (±1) entries. The ``samples`` Hessian-vector products run
  vmapped, so memory grows with ``samples`` × the size of ``params``; the estimator's standard deviation falls as
  :math:`1/\sqrt{S}`.

  Args:
    loss_fn: ``params -> scalar`` loss.
    params: point at which the Hessian is taken.
    key: PRNG key for the probes.
    samples: number of probe vectors :math:`S`.

  Returns:
    A scalar array.

  Raises:
    ValueError: if ``samples < 1``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda p: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * p ** 2)  # Hessian diag(1, 4)
    >>> params = jnp.zeros(2)
    >>> print(ox.hessian_trace(loss, params, jax.random.PRNGKey(0), samples=8))  # exact for a diagonal Hessian
    5.0

  References:
    Hutchinson, `A stochastic estimator of the trace of the influence matrix for Laplacian smoothing splines
    <https://doi.org/10.1080/03610918908812806>`_, 1989.
  """
  _check_positive("samples", samples)

  def quadratic_form(k):
    z = optax.tree.random_like(k, params, sampler=jax.random.rademacher)
    return optax.tree.vdot(z, hessian_vector_product(loss_fn, params, z))

  return jnp.mean(jax.vmap(quadratic_form)(jax.random.split(key, samples)))


def perturbation_sharpness(
    loss_fn: ScalarLossFn, params: chex.ArrayTree, key: jax.Array, *, rho: float, samples: int = 32
) -> jax.Array:
  r"""Mean loss increase under random perturbations of norm :math:`\rho`: :math:`\mathbb E_d[L(\theta + d)] - L(\theta)`.

  Each direction :math:`d` is a Gaussian draw over the whole parameter tree rescaled to global norm :math:`\rho`
  (a uniformly random direction on the :math:`\rho`-sphere). This is the average-case counterpart of SAM's
  worst-case sharpness :math:`\max_{\|d\|\le\rho} L(\theta+d) - L(\theta)`; to second order it equals
  :math:`\frac{\rho^2}{2n}\operatorname{tr} H` for :math:`n` parameters. The ``samples`` loss evaluations run
  vmapped.

  Args:
    loss_fn: ``params -> scalar`` loss.
    params: unperturbed parameters.
    key: PRNG key for the directions.
    rho: perturbation radius (non-negative).
    samples: number of random directions.

  Returns:
    A scalar array (negative when the point is not a local minimum along most directions).

  Raises:
    ValueError: if ``samples < 1`` or ``rho < 0``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda p: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * p ** 2)  # Hessian diag(1, 4)
    >>> params = jnp.zeros(2)
    >>> print(ox.perturbation_sharpness(loss, params, jax.random.PRNGKey(0), rho=0.1, samples=64))  # ~ 0.1^2/4 * 5
    0.0129

  References:
    Keskar et al., `On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima
    <https://arxiv.org/abs/1609.04836>`_, ICLR 2017; Foret et al., `Sharpness-Aware Minimization
    <https://arxiv.org/abs/2010.01412>`_, ICLR 2021 (the worst-case form).
  """
  _check_positive("samples", samples)
  if not isinstance(rho, jax.Array) and rho < 0:
    raise ValueError(f"rho must be non-negative, got {rho}.")

  def perturbed_loss(k):
    d = optax.tree.random_like(k, params)
    d = optax.tree.scale(rho / optax.tree.norm(d), d)
    return loss_fn(optax.tree.add(params, d))

  return jnp.mean(jax.vmap(perturbed_loss)(jax.random.split(key, samples))) - loss_fn(params)


def sharpness_summary(
    loss_fn: ScalarLossFn, params: chex.ArrayTree, key: jax.Array, *, rho: float = 0.05, iters: int = 20, samples: int = 32
) -> dict[str, jax.Array]:
  """All three sharpness measures at once, for tables.

  Args:
    loss_fn: ``params -> scalar`` loss.
    params: the point at which they are measured.
    key: PRNG key (split three ways, one per measure).
    rho: the radius of :func:`perturbation_sharpness`.
    iters: the power iterations of :func:`hessian_top_eigenvalue`.
    samples: the probes of :func:`hessian_trace` and :func:`perturbation_sharpness`.

  Returns:
    ``{"loss", "hessian_top_eigenvalue", "hessian_trace", "perturbation_sharpness"}`` (independent keys).

  Raises:
    ValueError: for ``iters < 1``, ``samples < 1`` or ``rho < 0``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda p: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * p ** 2)  # Hessian diag(1, 4)
    >>> params = jnp.zeros(2)
    >>> summary = ox.sharpness_summary(loss, params, jax.random.PRNGKey(0), samples=8)
    >>> print({k: round(float(v), 2) for k, v in summary.items()})
    {'loss': 0.0, 'hessian_top_eigenvalue': 4.0, 'hessian_trace': 5.0, 'perturbation_sharpness': 0.0}
  """
  k_eig, k_trace, k_rho = jax.random.split(key, 3)
  return {
      "loss": loss_fn(params),
      "hessian_top_eigenvalue": hessian_top_eigenvalue(loss_fn, params, k_eig, iters=iters),
      "hessian_trace": hessian_trace(loss_fn, params, k_trace, samples=samples),
      "perturbation_sharpness": perturbation_sharpness(loss_fn, params, k_rho, rho=rho, samples=samples),
  }
