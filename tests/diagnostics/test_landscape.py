"""Loss landscapes: exact values on closed-form losses, filter normalisation, chunked grids, PNG output."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optix_evo.diagnostics.landscape import (
    Landscape1D,
    filter_normalized_direction,
    loss_interpolation,
    loss_surface,
    plot_landscape,
)

PARAMS = {"dense": {"kernel": jnp.arange(12.0).reshape(3, 4) / 10, "bias": jnp.ones(4)}, "scale": jnp.array(2.0)}


def _loss(p):
  return sum(jnp.sum(x**2) for x in jax.tree.leaves(p))


def test_interpolation_is_exact_on_a_quadratic():
  zeros = jax.tree.map(jnp.zeros_like, PARAMS)
  ls = jax.jit(lambda a, b: loss_interpolation(_loss, a, b, num=5, span=(0.0, 2.0)))(zeros, PARAMS)
  np.testing.assert_allclose(ls.alphas, [0, 0.5, 1, 1.5, 2])
  np.testing.assert_allclose(ls.values, np.asarray(ls.alphas) ** 2 * float(_loss(PARAMS)), rtol=1e-6)


def test_filter_normalized_direction():
  d = filter_normalized_direction(jax.random.key(0), PARAMS)
  k, dk = np.asarray(PARAMS["dense"]["kernel"]), np.asarray(d["dense"]["kernel"])
  np.testing.assert_allclose(np.linalg.norm(dk, axis=0), np.linalg.norm(k, axis=0), rtol=1e-5)  # per output unit
  assert np.all(d["dense"]["bias"] == 0) and d["scale"] == 0  # vectors and scalars ignored (Li et al.)
  d_all = filter_normalized_direction(jax.random.key(0), PARAMS, ignore_1d=False)
  np.testing.assert_allclose(np.linalg.norm(d_all["dense"]["bias"]), 2.0, rtol=1e-5)


def test_surface_values_and_chunking():
  key = jax.random.key(1)
  loss_dict = lambda p: {"loss": _loss(p), "kernel_sum": jnp.sum(p["dense"]["kernel"])}
  full = loss_surface(loss_dict, PARAMS, key, num=5, span=0.5)
  chunked = jax.jit(lambda p: loss_surface(loss_dict, p, key, num=5, span=0.5, batch_size=4))(PARAMS)
  assert full.values["loss"].shape == (5, 5)
  np.testing.assert_allclose(full.values["loss"], chunked.values["loss"], rtol=1e-6)
  np.testing.assert_allclose(full.values["loss"][2, 2], _loss(PARAMS), rtol=1e-6)  # grid centre
  k1, k2 = jax.random.split(key)
  delta, eta = filter_normalized_direction(k1, PARAMS), filter_normalized_direction(k2, PARAMS)
  point = jax.tree.map(lambda p, d, e: p + 0.5 * d - 0.25 * e, PARAMS, delta, eta)
  np.testing.assert_allclose(full.values["loss"][4, 1], _loss(point), rtol=1e-5)
  same = loss_surface(_loss, PARAMS, directions=(delta, eta), num=5, span=0.5)
  np.testing.assert_allclose(same.values, full.values["loss"], rtol=1e-6)


def test_plots_are_written(tmp_path):
  ls1 = loss_interpolation(_loss, jax.tree.map(jnp.zeros_like, PARAMS), PARAMS, num=7)
  ls2 = loss_surface(lambda p: {"loss": _loss(p), "acc": jnp.tanh(_loss(p))}, PARAMS, jax.random.key(0), num=6)
  for path, ls in ((tmp_path / "line.png", ls1), (tmp_path / "sub" / "plane.png", ls2)):
    out = plot_landscape(ls, path, title="test", log_scale=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_settings():
  with pytest.raises(ValueError, match="num"):
    loss_interpolation(_loss, PARAMS, PARAMS, num=1)
  with pytest.raises(ValueError, match="key"):
    loss_surface(_loss, PARAMS)
  with pytest.raises(ValueError, match="batch_size"):
    loss_surface(_loss, PARAMS, jax.random.key(0), num=3, batch_size=0)
  assert isinstance(loss_interpolation(_loss, PARAMS, PARAMS, num=2), Landscape1D)
