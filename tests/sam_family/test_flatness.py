"""SAM ends in a flatter minimum than its base optimizer on a toy loss with a sharp and a flat basin."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo.diagnostics.sharpness import hessian_top_eigenvalue
from optix_evo.sam_family import sam

SHARP, FLAT = jnp.array([1.0, 0.0]), jnp.array([-1.0, 0.0])


def two_basin_loss(w):
  """``c (x² − 1)² + ½ h(x) y²`` with ``h(x) = 1 + 99 σ(x / 0.2)``: two minima of equal loss 0 at (±1, 0).

  The basin at SHARP = (1, 0) has top Hessian eigenvalue h(1) ≈ 99; the one at FLAT = (−1, 0) has ≈ 1.7 (and 8c = 0.4
  along x). A barrier of height c = 0.05 separates them.
  """
  x, y = w[0], w[1]
  curvature = 1.0 + 99.0 * jax.nn.sigmoid(x / 0.2)
  return 0.05 * (x**2 - 1.0) ** 2 + 0.5 * curvature * y**2


def train(opt, w0, steps=300):
  grad_fn = jax.grad(two_basin_loss)

  def body(carry, _):
    w, state = carry
    updates, state = opt.update(grad_fn(w), state, w, grad_fn=grad_fn)
    return (optax.apply_updates(w, updates), state), None

  return jax.lax.scan(body, (w0, opt.init(w0)), None, length=steps)[0][0]


def test_sam_reaches_a_flatter_minimum_than_its_base():
  # starts in the sharp basin, where plain gradient descent with momentum stays
  starts = SHARP + 0.05 * jax.random.normal(jax.random.key(0), (8, 2))
  base = optax.with_extra_args_support(optax.sgd(5e-3, momentum=0.9))
  top_eigenvalue = jax.vmap(lambda w, key: hessian_top_eigenvalue(two_basin_loss, w, key, iters=30))
  keys = jax.random.split(jax.random.key(1), starts.shape[0])

  @jax.jit
  def finals(starts):
    w_base = jax.vmap(lambda w: train(base, w))(starts)
    w_sam = jax.vmap(lambda w: train(sam(optax.sgd(5e-3, momentum=0.9), rho=0.3), w))(starts)
    return w_base, w_sam, top_eigenvalue(w_base, keys), top_eigenvalue(w_sam, keys)

  w_base, w_sam, eig_base, eig_sam = finals(starts)
  # the power iteration agrees with the exact 2×2 Hessian
  exact = jax.vmap(lambda w: jnp.linalg.eigvalsh(jax.hessian(two_basin_loss)(w))[-1])(w_sam)
  np.testing.assert_allclose(eig_sam, exact, rtol=1e-3)
  assert np.all(np.linalg.norm(w_base - SHARP, axis=1) < 0.05), w_base  # base: bottom of the sharp basin
  assert np.all(np.linalg.norm(w_sam - FLAT, axis=1) < 0.1), w_sam  # SAM: escaped to the flat basin
  assert float(jnp.max(eig_sam)) < 0.1 * float(jnp.min(eig_base)), (eig_sam, eig_base)
