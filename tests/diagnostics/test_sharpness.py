"""Sharpness measures against quadratics whose Hessian is known in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optix_evo as ox


def _quadratic(seed=0, n=6):
  """0.5 θᵀAθ + bᵀθ over a two-leaf pytree, with a known symmetric A (eigenvalues 0.1 … 5, well separated top)."""
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(n, n)))
  eigs = np.array([5.0, 2.0, 1.0, 0.5, 0.3, 0.1])[:n]
  a = (q * eigs) @ q.T
  b = rng.normal(size=n)

  def loss_fn(params):
    theta = jnp.concatenate([params["w"].ravel(), params["b"]])
    return 0.5 * theta @ jnp.asarray(a, theta.dtype) @ theta + jnp.asarray(b, theta.dtype) @ theta

  params = {"w": jnp.asarray(rng.normal(size=(2, 2)), jnp.float32), "b": jnp.asarray(rng.normal(size=n - 4), jnp.float32)}
  return loss_fn, params, a


def test_hvp_matches_dense_hessian():
  loss_fn, params, a = _quadratic()
  v = jax.tree.map(jnp.ones_like, params)
  hv = ox.hessian_vector_product(loss_fn, params, v)
  np.testing.assert_allclose(np.concatenate([hv["w"].ravel(), hv["b"]]), a @ np.ones(6), rtol=1e-5, atol=1e-5)


def test_top_eigenvalue():
  loss_fn, params, a = _quadratic()
  lam = jax.jit(lambda p, k: ox.hessian_top_eigenvalue(loss_fn, p, k, iters=60))(params, jax.random.key(0))
  np.testing.assert_allclose(lam, np.linalg.eigvalsh(a).max(), rtol=1e-4)


def test_top_eigenvalue_of_linear_loss_is_zero():
  lam = ox.hessian_top_eigenvalue(lambda p: jnp.sum(p["x"]), {"x": jnp.ones(3)}, jax.random.key(0), iters=3)
  assert lam == 0.0


def test_trace_and_perturbation_sharpness_are_unbiased():
  loss_fn, params, a = _quadratic()
  key = jax.random.key(1)
  tr = jax.jit(lambda p: ox.hessian_trace(loss_fn, p, key, samples=4000))(params)
  np.testing.assert_allclose(tr, np.trace(a), rtol=0.05)
  # E[L(θ+d)] - L(θ) = ρ²/(2n) tr A for a quadratic (the linear term averages out).
  rho = 0.3
  s = jax.jit(lambda p: ox.perturbation_sharpness(loss_fn, p, key, rho=rho, samples=20000))(params)
  np.testing.assert_allclose(s, rho**2 / (2 * 6) * np.trace(a), rtol=0.1)


def test_vmap_over_params_and_keys():
  loss_fn, params, a = _quadratic()
  batch = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), params)
  keys = jax.random.split(jax.random.key(2), 2)
  lam = jax.jit(jax.vmap(lambda p, k: ox.hessian_top_eigenvalue(loss_fn, p, k, iters=60)))(batch, keys)
  np.testing.assert_allclose(lam, [np.linalg.eigvalsh(a).max()] * 2, rtol=1e-4)
  tr = jax.jit(jax.vmap(lambda p, k: ox.hessian_trace(loss_fn, p, k, samples=8)))(batch, keys)
  assert tr.shape == (2,)
  rho_sharpness = jax.vmap(lambda p, k, r: ox.perturbation_sharpness(loss_fn, p, k, rho=r, samples=8))
  s = jax.jit(rho_sharpness)(batch, keys, jnp.array([0.1, 0.2]))
  assert s.shape == (2,) and np.all(np.isfinite(s))


def test_sharper_quadratic_scores_higher():
  loss_fn, params, _ = _quadratic()
  sharp = lambda p: 10.0 * loss_fn(p)
  key = jax.random.key(3)
  summaries = lambda p: (ox.sharpness_summary(loss_fn, p, key, rho=0.1), ox.sharpness_summary(sharp, p, key, rho=0.1))
  flat, steep = jax.jit(summaries)(params)
  for name in ("hessian_top_eigenvalue", "hessian_trace", "perturbation_sharpness"):
    assert steep[name] > flat[name], name


def test_summary_has_every_measure():
  loss_fn, params, a = _quadratic()
  s = jax.jit(lambda p: ox.sharpness_summary(loss_fn, p, jax.random.key(4), rho=0.1, iters=60, samples=8))(params)
  assert set(s) == {"loss", "hessian_top_eigenvalue", "hessian_trace", "perturbation_sharpness"}
  np.testing.assert_allclose(s["hessian_top_eigenvalue"], np.linalg.eigvalsh(a).max(), rtol=1e-4)
  np.testing.assert_allclose(s["loss"], loss_fn(params))


def test_bad_settings():
  loss_fn, params, _ = _quadratic()
  with pytest.raises(ValueError, match="iters"):
    ox.hessian_top_eigenvalue(loss_fn, params, jax.random.key(0), iters=0)
  with pytest.raises(ValueError, match="samples"):
    ox.hessian_trace(loss_fn, params, jax.random.key(0), samples=0)
  with pytest.raises(ValueError, match="rho"):
    ox.perturbation_sharpness(loss_fn, params, jax.random.key(0), rho=-1.0)
