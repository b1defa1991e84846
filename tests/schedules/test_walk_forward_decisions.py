"""The walk-forward evaluation's strategies and front doors (optix_evo/schedules/walk_forward.py), without compiling a
walk-forward run: each strategy's learning rate against the formula its docstring states, the optimizer each one
builds against the same thing built by hand, and the exact refusals."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo import training
from optix_evo.data.datasets import Dataset
from optix_evo.data.timeseries import lagged_windows, walk_forward_splits
from optix_evo.models.mlp import MLP
from optix_evo.schedules.walk_forward import STRATEGIES, make_strategy, make_walk_forward

LR = 0.01


def _refused(message, build):
  with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
    build()


def _sgd_steps(tx, losses):
  """The step sizes an optimizer takes on a gradient of ones (the update's negative), fed ``loss=``."""
  params = jnp.zeros(())
  state, steps = tx.init(params), []
  for loss in losses:
    updates, state = tx.update(jnp.ones(()), state, params, loss=jnp.float32(loss))
    steps.append(-float(updates))
  return np.array(steps), state


def test_the_strategy_names():
  assert STRATEGIES == ("constant", "step", "cosine", "plateau", "aldvi_paper", "aldvi_trend", "aldvi_phased")


def test_step_divides_by_ten_after_each_third_of_the_run():
  step = make_strategy("step", LR)
  got = [float(step.lr_of(None, s, 90)) for s in (0, 29, 30, 59, 60, 89)]
  np.testing.assert_allclose(got, [LR, LR, LR / 10, LR / 10, LR / 100, LR / 100], rtol=1e-6)
  np.testing.assert_allclose([float(step.lr_of(None, s, 2)) for s in (0, 1)], [LR, LR / 10], rtol=1e-6)  # ≥ 1 step
  # a run not divisible by 3: the decay steps every total // 3 = 3 steps (at 3, 6, 9 of 10), not every 10 / 3
  np.testing.assert_allclose([float(step.lr_of(None, s, 10)) for s in range(10)],
                             LR * 0.1 ** np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]), rtol=1e-5)


def test_cosine_decays_to_one_percent_and_constant_stays():
  cosine, constant = make_strategy("cosine", LR), make_strategy("constant", LR)
  for s in (0, 25, 50, 99, 100, 150):
    expected = LR * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, 100) / 100)))
    assert float(cosine.lr_of(None, s, 100)) == pytest.approx(expected, rel=1e-5)
    assert float(constant.lr_of(None, s, 100)) == pytest.approx(LR, rel=1e-7)


@pytest.mark.parametrize("name", ["constant", "step", "cosine"])
def test_a_schedule_strategy_steps_over_steps_per_epoch_times_epochs(name):
  """make(seed, steps_per_epoch=2, total_epochs=3) is base(schedule over 6 steps): the steps equal lr_of(t, 6)."""
  strategy = make_strategy(name, LR, base=optax.sgd)
  steps, _ = _sgd_steps(strategy.make(0, 2, 3), [1.0] * 6)
  np.testing.assert_allclose(steps, [float(strategy.lr_of(None, t, 6)) for t in range(6)], rtol=1e-6)


def test_plateau_halves_after_two_epochs_without_improvement_down_to_one_percent():
  """reduce_on_plateau on the epoch-mean loss (accumulation over steps_per_epoch): factor 0.5, patience 2, floor
  1 %; the same as optax's with those settings, and lr_of reads the rate it uses."""
  strategy = make_strategy("plateau", LR, base=optax.sgd)
  losses = [1.0, 1.0] + [2.0] * 40  # 21 epochs of 2 steps, none better than the first
  steps, state = _sgd_steps(strategy.make(0, 2, 21), losses)
  reference = optax.chain(optax.sgd(LR), optax.contrib.reduce_on_plateau(factor=0.5, patience=2, accumulation_size=2,
                                                                          min_scale=0.01))
  params, ref_state, ref_steps = jnp.zeros(()), None, []
  ref_state = reference.init(params)
  for loss in losses:
    updates, ref_state = reference.update(jnp.ones(()), ref_state, params, value=jnp.float32(loss))
    ref_steps.append(-float(updates))
  np.testing.assert_allclose(steps, ref_steps, rtol=1e-6)
  assert steps[0] == pytest.approx(LR) and steps[-1] == pytest.approx(LR * 0.01, rel=1e-5)  # the floor
  assert sorted(set(np.round(steps / LR, 6)), reverse=True)[:3] == [1.0, 0.5, 0.25]  # halved each time
  assert float(strategy.lr_of(state, 42, 42)) == pytest.approx(LR * 0.01, rel=1e-5)


@pytest.mark.parametrize("name, rule, kwargs", [("aldvi_paper", "paper", dict(sigma=0.001, alpha=2.0)),
                                                ("aldvi_trend", "trend", {}), ("aldvi_phased", "phased", {})])
def test_an_aldvi_strategy_is_aldvi_with_that_rule_the_seed_and_the_runs_epochs(name, rule, kwargs):
  strategy = make_strategy(name, LR, base=optax.sgd, **kwargs)
  extra = {"total_epochs": 4} if rule == "phased" else {}
  by_hand = ox.aldvi(optax.sgd, LR, 2, rule, seed=5, **extra, **kwargs)
  losses = [1.0, 1.0, 0.8, 0.8, 0.9, 0.9, 0.5, 0.5]
  steps, state = _sgd_steps(strategy.make(5, 2, 4), losses)
  params, ref_state, ref_steps = jnp.zeros(()), by_hand.init(jnp.zeros(())), []
  for loss in losses:
    updates, ref_state = by_hand.update(jnp.ones(()), ref_state, params, value=jnp.float32(loss))
    ref_steps.append(-float(updates))
  np.testing.assert_allclose(steps, ref_steps, rtol=1e-6)
  assert len(set(np.round(steps, 8))) >= 3  # η moved
  assert float(strategy.lr_of(state, 8, 8)) == float(ox.current_lr(ref_state))


def test_unknown_strategies_and_misplaced_options_are_refused_with_the_names():
  _refused("Unknown strategy 'adam'. Known strategies: constant, step, cosine, plateau, aldvi_paper, aldvi_trend, "
           "aldvi_phased.", lambda: make_strategy("adam", LR))
  _refused("Options ['alpha', 'sigma'] only apply to the aldvi_* strategies, not 'plateau'.",
           lambda: make_strategy("plateau", LR, sigma=0.1, alpha=1.0))
  make_strategy("aldvi_trend", LR, alpha=0.2)  # the options of an aldvi_* strategy


SETUP = dict(length=40, lags=4, train_size=16, test_size=4, epochs=1, batch_size=8)


@pytest.mark.parametrize("change, message", [
    (dict(mode="random"), "Unknown mode 'random'. Known modes: sequential, refit."),
    (dict(lags=0), "lags, train_size, test_size, epochs and batch_size must be >= 1, got 0, 16, 4, 1, 8."),
    (dict(train_size=0), "lags, train_size, test_size, epochs and batch_size must be >= 1, got 4, 0, 4, 1, 8."),
    (dict(test_size=0), "lags, train_size, test_size, epochs and batch_size must be >= 1, got 4, 16, 0, 1, 8."),
    (dict(epochs=0), "lags, train_size, test_size, epochs and batch_size must be >= 1, got 4, 16, 4, 0, 8."),
    (dict(batch_size=0), "lags, train_size, test_size, epochs and batch_size must be >= 1, got 4, 16, 4, 1, 0."),
    (dict(length=23), "a series of 23 points is too short for lags=4 + train_size=16 + test_size=4 = 24 points; use a "
                      "longer series or smaller sizes."),
])
def test_make_walk_forward_refuses_bad_settings_before_compiling(change, message):
  _refused(message, lambda: make_walk_forward(MLP(outputs=1), make_strategy("constant", LR), **(SETUP | change)))


def test_the_smallest_settings_are_accepted_and_evaluate_checks_the_series_first():
  make_walk_forward(MLP(outputs=1), make_strategy("constant", LR), length=3, lags=1, train_size=1, test_size=1,
                    epochs=1, batch_size=1, mode="refit")
  evaluate = make_walk_forward(MLP(outputs=1), make_strategy("constant", LR), **SETUP)
  _refused("this evaluator was built for series of 40 points, got 39.", lambda: evaluate(np.ones(39), [0]))
  series = np.ones(40)
  series[[3, 17]] = [np.nan, np.inf]
  _refused("the series has 2 NaN or infinite value(s) (at positions [3, 17]); drop or fill them first "
           "(read_csv_series(..., dropna=True) drops them).", lambda: evaluate(series, [0]))
  series = np.ones(40)
  series[5:17] = np.nan  # 12 bad values: the message lists the first 10 positions
  _refused("the series has 12 NaN or infinite value(s) (at positions [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]); drop or "
           "fill them first (read_csv_series(..., dropna=True) drops them).", lambda: evaluate(series, [0]))
  # one seed: the persistence forecast of a line rising by 1 a step is off by 1 at every step of every window
  result = evaluate(np.arange(40, dtype=np.float32), [5])
  assert result.mse.shape == (1, 5) and result.naive_mse.tolist() == [1.0] * 5


def _reference_walk_forward(model, strategy, series, seed, *, mode, lags, train_size, test_size, epochs, batch_size,
                            step=None):
  """The rolling-origin protocol of the module docstring, window by window in Python (training.fit per epoch).

  Each window: train on the ``train_size`` examples before its origin (standardised by their targets' mean and
  std + 1e-6), forecast the next ``test_size`` examples, MSE in the series' units; the persistence forecast is the
  last lag. Sequential mode carries the parameters, the optimizer state and the step count; refit starts each window
  from ``model.init(fold_in(key, window))`` and a fresh optimizer state at step 0."""
  data = lagged_windows(series, lags)
  x, y = np.asarray(data.x), np.asarray(data.y)
  splits = walk_forward_splits(len(x), train_size=train_size, test_size=test_size, step=step)
  spe = train_size // batch_size
  total_epochs = epochs * len(splits) if mode == "sequential" else epochs
  key = jax.random.PRNGKey(seed)
  optimizer = strategy.make(seed, spe, total_epochs)
  loss_fn = training.regression_loss(model.apply)
  fit = jax.jit(lambda params, state, xt, yt, k, start: training.fit(
      loss_fn, params, optimizer, Dataset(xt, yt), k, steps=spe, batch_size=batch_size, opt_state=state,
      first_step=start))
  params = model.init(jax.random.fold_in(key, 0), x[:1])
  state = optimizer.init(params)
  mse, lrs, losses, naive = [], [], [], []
  for window, split in enumerate(splits):
    if mode == "refit":
      params = model.init(jax.random.fold_in(key, window), x[:1])
      state = optimizer.init(params)
    origin = split.train_stop
    x_train, y_train = x[origin - train_size:origin], y[origin - train_size:origin]
    mean, std = jnp.mean(y_train), jnp.std(y_train) + 1e-6
    steps_before = window * epochs * spe if mode == "sequential" else 0
    window_lrs, window_losses = [], []
    for epoch in range(epochs):
      start = steps_before + epoch * spe
      result = fit(params, state, (x_train - mean) / std, (y_train - mean) / std, jax.random.fold_in(key, window),
                   jnp.asarray(start))
      params, state = result.params, result.opt_state
      window_lrs.append(float(strategy.lr_of(state, start + spe, total_epochs * spe)))
      window_losses.append(float(jnp.mean(result.loss)))
    x_test, y_test = x[origin:origin + test_size], y[origin:origin + test_size]
    forecast = np.asarray(model.apply(params, (x_test - mean) / std)).reshape(y_test.shape) * std + mean
    mse.append(float(np.mean((forecast - y_test) ** 2)))
    naive.append(float(np.mean((x_test[:, -1] - y_test) ** 2)))
    lrs.append(window_lrs)
    losses.append(window_losses)
  return np.array(mse), np.array(lrs), np.array(losses), np.array(naive)


@pytest.mark.parametrize("mode, name, base", [("sequential", "cosine", optax.sgd), ("refit", "cosine", optax.adam),
                                              ("sequential", "aldvi_trend", optax.sgd)])
def test_each_window_trains_before_its_origin_and_forecasts_after_it_as_the_protocol_states(mode, name, base):
  """evaluate() against the protocol transcribed window by window: the MSEs, the per-epoch learning rates and losses
  and the persistence MSEs of every window, for two seeds. Cosine's rate depends on the step count and the run's total
  steps (sequential: all windows; refit: one window), ALDVI's on the carried state; refit's fresh optimizer state
  is adam's, built from each window's fresh parameters."""
  # 3 lags: the persistence forecast (the last lag) is neither the first column nor the second
  setup = dict(lags=3, train_size=6, test_size=2, epochs=2, batch_size=3, mode=mode, step=3)
  series = np.asarray(ox.data.sine_mix(17), np.float32) * 3.0 + 5.0  # standardisation matters: mean 5, scale 3
  model = MLP(hidden=(3,), outputs=1)
  strategy = make_strategy(name, 0.05, base=base)  # adam: an optimizer state built from the parameters
  result = make_walk_forward(model, strategy, length=17, **setup)(series, [0, 3])
  assert result.mse.shape == (2, 3) and result.lr.shape == (2, 3, 2)  # windows at origins 6, 9, 12 of 14 examples
  for row, seed in enumerate([0, 3]):
    mse, lrs, losses, naive = _reference_walk_forward(model, strategy, series, seed, **setup)
    np.testing.assert_allclose(result.mse[row], mse, rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(result.lr[row], lrs, rtol=1e-5)
    np.testing.assert_allclose(result.train_loss[row], losses, rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(result.naive_mse, naive, rtol=1e-6)
  assert not np.allclose(result.mse[0], result.mse[1])  # the seeds differ


def test_a_value_beyond_float32_counts_as_infinite():
  """The run computes in float32: a float64 value that overflows it is refused like inf (checked before compiling)."""
  evaluate = make_walk_forward(MLP(outputs=1), make_strategy("constant", LR), **SETUP)
  series = np.ones(40)
  series[5] = 1e39
  _refused("the series has 1 NaN or infinite value(s) (at positions [5]); drop or fill them first "
           "(read_csv_series(..., dropna=True) drops them).", lambda: evaluate(series, [0]))


@pytest.mark.slow  # two walk-forward compiles (about 9 s of CPU)
def test_a_seed_gives_the_same_run_with_x64_on_negative_seeds_included():
  """Seeds are read as int32 whether x64 is on or not: ``PRNGKey`` of an int64 -1 is another key than of an int32 -1
  (its high word is all ones), so without the cast a negative seed would train another run under x64."""
  series = np.asarray(ox.data.sine_mix(17), np.float32)
  setup = dict(length=17, lags=3, train_size=6, test_size=2, epochs=1, batch_size=3)
  make = lambda: make_walk_forward(MLP(hidden=(3,), outputs=1), make_strategy("constant", 0.05), **setup)
  off = make()(series, [-1, 7])
  with jax.enable_x64(True):
    on = make()(series, [-1, 7])
  for name in ("mse", "lr", "train_loss"):
    np.testing.assert_allclose(getattr(on, name), getattr(off, name), rtol=1e-4, err_msg=name)
  assert not np.allclose(off.mse[0], off.mse[1])  # the seeds differ
