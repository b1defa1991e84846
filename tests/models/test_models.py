"""Model shapes, input checks, and every model family training past chance with Adam (tiny budgets)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optix_evo import models
from optix_evo.bench.rows import parse_row
from optix_evo.bench.runner import Grid, run_cell
from optix_evo.tasks import get_task


@pytest.mark.parametrize(
    "model, x, out_shape",
    [
        (models.MLP((8,), 3), jnp.ones((5, 4)), (5, 3)),
        (models.ConvNet((4,), 8, 3), jnp.ones((2, 8, 8, 1)), (2, 3)),
        (models.NOSConvNet(base=4, outputs=10), jnp.ones((2, 32, 32, 3)), (2, 10)),
        (models.TransformerClassifier(dim=8, heads=2, layers=1, outputs=3), jnp.ones((2, 12, 5)), (2, 3)),
        (models.TransformerClassifier(dim=8, heads=2, layers=1, outputs=3, patch_size=4), jnp.ones((2, 12)), (2, 3)),
        (models.TransformerClassifier(dim=8, heads=2, layers=1, outputs=4, output_length=3), jnp.ones((2, 9, 6)), (2, 3, 4)),
        (models.DNM(dendrites=3, outputs=2), jnp.ones((5, 4)), (5, 2)),
    ],
)
def test_output_shapes(model, x, out_shape):
  params = model.init(jax.random.key(0), x)
  assert model.apply(params, x).shape == out_shape


def test_nos_convnet_layout():
  """nos.md §6.1: Conv(base) → Conv(2·base, stride 2) → Conv(4·base, stride 2), each with BN, then a Dense read-out."""
  params = models.NOSConvNet(base=4, outputs=10).init(jax.random.key(0), jnp.ones((1, 32, 32, 3)))["params"]
  kernels = [params[f"Conv_{i}"]["kernel"].shape for i in range(3)]
  assert kernels == [(3, 3, 3, 4), (3, 3, 4, 8), (3, 3, 8, 16)]
  assert params["Dense_0"]["kernel"].shape == (16, 10)
  assert set(params["BatchStatNorm_0"]) == {"scale", "bias"}


def test_dnm_matches_equations():
  """Gao et al. 2018: O = σ(k_s(Σ_j Π_i σ(k(w_ij x_i − θ_ij)) − θ_s)); the module returns the soma's logit."""
  model = models.DNM(dendrites=3, outputs=2, k=4.0, k_soma=6.0, theta_soma=0.3)
  x = jax.random.normal(jax.random.key(1), (7, 5))
  params = model.init(jax.random.key(0), x)
  w, theta = np.asarray(params["params"]["w"]), np.asarray(params["params"]["theta"])
  xs = np.asarray(x)
  synapse = 1 / (1 + np.exp(-4.0 * (w[None] * xs[:, None, None, :] - theta[None])))
  expected = 6.0 * (synapse.prod(-1).sum(-1) - 0.3)
  np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-5, atol=1e-6)
  assert np.all(np.abs(w) <= 1) and np.all(np.abs(theta) <= 1)


def test_gcn_propagation_and_normalisation():
  adjacency = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)
  a_hat = models.normalize_adjacency(adjacency)
  degree = adjacency.sum(1) + 1
  np.testing.assert_allclose(a_hat, (adjacency + np.eye(3)) / np.sqrt(degree[:, None] * degree[None, :]), rtol=1e-6)
  model = models.GCN((4,), 2)
  features = jnp.ones((3, 5))
  params = model.init(jax.random.key(0), features, a_hat)
  assert model.apply(params, features, a_hat).shape == (3, 2)
  with pytest.raises(ValueError, match="adjacency"):
    model.apply(params, features, a_hat[:2])
  with pytest.raises(ValueError, match="square"):
    models.normalize_adjacency(np.ones((2, 3)))


@pytest.mark.parametrize(
    "model, x, match",
    [
        (models.NOSConvNet(), jnp.ones((2, 8, 8)), "NHWC"),
        (models.ConvNet(), jnp.ones((2, 8)), "NHWC"),
        (models.TransformerClassifier(dim=6, heads=4), jnp.ones((2, 4, 3)), "divide dim"),
        (models.TransformerClassifier(dim=8, heads=2, patch_size=3), jnp.ones((2, 4, 3)), "patch_size"),
    ],
)
def test_bad_inputs_raise(model, x, match):
  with pytest.raises(ValueError, match=match):
    model.init(jax.random.key(0), x)


# One task per model family, with a few steps: Adam must beat chance (accuracy) or the mean predictor (MSE).
FAMILY_TASKS = {
    "mlp": ("digits_mlp", 60, 0.5),
    "cnn": ("digits_cnn", 60, 0.4),
    "transformer": ("copy_transformer", 120, 0.2),
    "gnn": ("sbm_gcn", 60, 0.5),
    "dnm": ("iris_dnm", 100, 0.6),
    "rnn": ("mnist1d_gru", 150, 0.2),
}


@pytest.mark.parametrize("family", sorted(FAMILY_TASKS))
def test_family_trains_past_chance_with_adam(family):
  task, steps, threshold = FAMILY_TASKS[family]
  problem = get_task(task, steps=steps)
  assert problem.family == family
  cell = run_cell(parse_row("adam@learning_rate=0.01"), problem, Grid({"lr": (1.0,)}), [0], curve_points=5)
  accuracy = float(cell.test[0, 0])
  assert accuracy > max(threshold, problem.chance), (task, accuracy, problem.chance)
