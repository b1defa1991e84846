"""Walk-forward evaluation: strategies, sequential vs refit, no look-ahead, one compiled program per setup."""

import jax.numpy as jnp
import numpy as np
import pytest

from optix_evo.data.timeseries import lagged_windows, synthetic_series, walk_forward_splits
from optix_evo.models.mlp import MLP
from optix_evo.schedules.walk_forward import STRATEGIES, make_strategy, make_walk_forward

SETUP = dict(length=120, lags=4, train_size=32, test_size=16, epochs=3, batch_size=16)


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_builds_trains_and_reports_its_lr(name):
  strategy = make_strategy(name, 0.1)
  opt = strategy.make(jnp.int32(0), 2, 3)
  params = {"w": jnp.ones(3)}
  state = opt.init(params)
  for step in range(6):
    _, state = opt.update(params, state, params, loss=jnp.float32(1.0 + step % 2))
    lr = strategy.lr_of(state, step + 1, 6)
    assert np.isfinite(lr) and 0 < lr <= 1.0


def test_unknown_strategy_mode_and_misplaced_options_are_explained():
  with pytest.raises(ValueError, match="Known strategies: constant, step"):
    make_strategy("adam", 0.1)
  with pytest.raises(ValueError, match="only apply to the aldvi"):
    make_strategy("cosine", 0.1, alpha=1.0)
  with pytest.raises(ValueError, match="Known modes: sequential, refit"):
    make_walk_forward(MLP(outputs=1), make_strategy("constant", 0.1), mode="random", **SETUP)


def test_sequential_carries_the_aldvi_lr_and_refit_restarts_it():
  series = synthetic_series("sine_mix", SETUP["length"])
  results = {}
  for mode in ("sequential", "refit"):
    evaluate = make_walk_forward(MLP(hidden=(8,), outputs=1), make_strategy("aldvi_trend", 1e-2), mode=mode, **SETUP)
    results[mode] = evaluate(series, [0, 1])
  windows = len(walk_forward_splits(SETUP["length"] - SETUP["lags"], train_size=32, test_size=16))
  for result in results.values():
    assert result.mse.shape == (2, windows) and result.lr.shape == (2, windows, 3)
    assert np.all(np.isfinite(result.mse)) and np.all(result.mse > 0)
  # The first epoch of a window keeps η in refit mode (fresh state); sequential mode goes on adapting it.
  np.testing.assert_allclose(results["refit"].lr[:, :, 0], 1e-2)
  assert not np.allclose(results["sequential"].lr[:, 1:, 0], 1e-2)
  # Persistence baseline: last lag vs target on each test block.
  data = lagged_windows(series, SETUP["lags"])
  expected = np.mean((data.x[32:48, -1] - data.y[32:48]) ** 2)
  assert results["refit"].naive_mse[0] == pytest.approx(expected, rel=1e-5)
  with pytest.raises(ValueError, match="built for series of 120 points"):
    make_walk_forward(MLP(outputs=1), make_strategy("constant", 0.1), **SETUP)(series[:100], [0])
