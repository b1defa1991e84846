"""Walk-forward (rolling-origin) evaluation of learning-rate strategies on a univariate time series.

For each window the model trains on the ``train_size`` lagged examples before the forecast origin and forecasts the
next ``test_size`` examples (one step ahead); the window's MSE is recorded in the series' original units. Two modes,
after the sequential-vs-random comparison of Bhandari & Hirawat, *Dynamic Learning for Iterative Optimization*,
section IV.F:

* ``sequential``: the parameters and the optimizer state (ALDVI's η and history, a schedule's step count) are carried
  from one window to the next;
* ``refit``: every window starts from freshly initialised parameters and optimizer state.

The whole run — all windows, all epochs, all seeds (vmapped) — is one compiled program, reused for every series of the
same length (:func:`make_walk_forward`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo import training
from optix_evo.data.datasets import Dataset
from optix_evo.data.timeseries import lagged_windows, walk_forward_splits
from optix_evo.errors import InputError
from optix_evo.schedules.aldvi import aldvi, current_lr

MODES = ("sequential", "refit")


class Strategy(NamedTuple):
  """A learning-rate strategy of the walk-forward evaluation (built by :func:`make_strategy`).

  Attributes:
    make: ``make(seed, steps_per_epoch, total_epochs)`` builds the optimizer.
    lr_of: ``lr_of(opt_state, step, total_steps)`` reads the learning rate it uses after ``step`` updates (for plots).

  Examples:
    >>> import optix_evo as ox
    >>> from optix_evo.schedules.walk_forward import make_strategy
    >>> strategy = make_strategy("cosine", 0.01)
    >>> print(round(float(strategy.lr_of(None, 100, 100)), 6))  # at the end of the run: 1% of the rate
    0.0001
  """

  make: Callable[[jax.Array, int, int], optax.GradientTransformation]
  lr_of: Callable[[optax.OptState, jax.Array, int], jax.Array]


def _find(state: Any, cls: type) -> Any:
  return next(s for s in jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, cls)) if isinstance(s, cls))


def _value_from_loss(tx: optax.GradientTransformationExtraArgs) -> optax.GradientTransformationExtraArgs:
  """Feeds the ``loss=`` extra argument that :func:`optix_evo.training.fit` passes as ``value=`` (reduce_on_plateau)."""

  def update_fn(updates, state, params=None, *, loss, **extra_args):
    del extra_args
    return tx.update(updates, state, params, value=loss)

  return optax.GradientTransformationExtraArgs(tx.init, update_fn)


def make_strategy(name: str, learning_rate: float, base: Callable[..., optax.GradientTransformation] = optax.adam,
                  **aldvi_kwargs: Any) -> Strategy:
  """The strategy ``name`` (one of :data:`STRATEGIES`) around ``base`` with peak/initial ``learning_rate``.

  ``constant``; ``step`` (×0.1 after each third of the run); ``cosine`` (to 1% of the rate); ``plateau``
  (``optax.contrib.reduce_on_plateau`` on the epoch-mean loss, factor 0.5, patience 2 epochs, down to 1%);
  ``aldvi_paper``, ``aldvi_trend`` and ``aldvi_phased`` (:func:`optix_evo.schedules.aldvi` with that rule; ``aldvi_kwargs`` go to it).

  Args:
    name: one of ``constant``, ``step``, ``cosine``, ``plateau``, ``aldvi_paper``, ``aldvi_trend``, ``aldvi_phased``.
    learning_rate: the peak (schedules) or initial (plateau, ALDVI) learning rate.
    base: the optimizer constructor taking the learning rate.
    **aldvi_kwargs: options of :func:`optix_evo.schedules.aldvi` (``aldvi_*`` strategies only).

  Returns:
    A :class:`Strategy`.

  Raises:
    InputError: for an unknown strategy, or ALDVI options given to another strategy.

  Examples:
    >>> from optix_evo.schedules.walk_forward import make_strategy
    >>> strategy = make_strategy("step", 0.01)
    >>> print([round(float(strategy.lr_of(None, step, 90)), 6) for step in (0, 30, 60)])
    [0.01, 0.001, 0.0001]
    >>> make_strategy("adam", 0.01)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: Unknown strategy 'adam'. Known strategies: constant, step, cosine, plateau, ...
  """

  def scheduled(make_schedule):  # a schedule over the run's total steps (a window in refit mode)
    make = lambda seed, spe, total_epochs: base(make_schedule(spe * total_epochs))
    return make, lambda state, step, total_steps: make_schedule(total_steps)(step)

  step_decay = lambda total: optax.exponential_decay(learning_rate, max(total // 3, 1), 0.1, staircase=True)
  cosine = lambda total: optax.cosine_decay_schedule(learning_rate, total, alpha=0.01)
  constant = lambda total: optax.constant_schedule(learning_rate)

  def plateau(seed, spe, total_epochs):
    del seed, total_epochs
    plateau_scale = optax.contrib.reduce_on_plateau(factor=0.5, patience=2, accumulation_size=spe, min_scale=0.01)
    return optax.chain(base(learning_rate), _value_from_loss(plateau_scale))

  def aldvi_rule(rule):
    def make(seed, spe, total_epochs):
      extra = {"total_epochs": total_epochs} if rule == "phased" else {}
      return aldvi(base, learning_rate, spe, rule, seed=seed, **extra, **aldvi_kwargs)

    return make

  aldvi_lr = lambda state, step, total_steps: current_lr(state)
  plateau_lr = lambda state, step, total_steps: learning_rate * _find(
      state, optax.contrib.ReduceLROnPlateauState).scale
  table = {
      "constant": scheduled(constant),
      "step": scheduled(step_decay),
      "cosine": scheduled(cosine),
      "plateau": (plateau, plateau_lr),
      "aldvi_paper": (aldvi_rule("paper"), aldvi_lr),
      "aldvi_trend": (aldvi_rule("trend"), aldvi_lr),
      "aldvi_phased": (aldvi_rule("phased"), aldvi_lr),
  }
  if name not in table:
    raise InputError(f"Unknown strategy {name!r}. Known strategies: {', '.join(STRATEGIES)}.")
  if aldvi_kwargs and not name.startswith("aldvi"):
    raise InputError(f"Options {sorted(aldvi_kwargs)} only apply to the aldvi_* strategies, not {name!r}.")
  return Strategy(*table[name])


STRATEGIES = ("constant", "step", "cosine", "plateau", "aldvi_paper", "aldvi_trend", "aldvi_phased")


class WalkForwardResult(NamedTuple):
  """Per seed (leading axis) and window: forecast MSE, and the learning rate after each training epoch.

  Attributes:
    mse: ``[seeds, windows]`` forecast MSE, in the series' units.
    lr: ``[seeds, windows, epochs]`` the learning rate after each epoch.
    train_loss: ``[seeds, windows, epochs]`` epoch-mean training loss (standardised units).
    naive_mse: ``[windows]`` MSE of the persistence forecast (the last observed value).

  Examples:
    See :func:`make_walk_forward`.
  """

  mse: np.ndarray  # [seeds, windows], in the series' units
  lr: np.ndarray  # [seeds, windows, epochs]
  train_loss: np.ndarray  # [seeds, windows, epochs] epoch-mean training loss (standardised units)
  naive_mse: np.ndarray  # [windows] MSE of the persistence forecast (last observed value)


def make_walk_forward(
    model: nn.Module,
    strategy: Strategy,
    *,
    length: int,
    lags: int,
    train_size: int,
    test_size: int,
    epochs: int,
    batch_size: int,
    mode: str = "sequential",
    step: int | None = None,
) -> Callable[[np.ndarray, Sequence[int]], WalkForwardResult]:
  """A compiled walk-forward evaluator for series of ``length`` points: ``evaluate(series, seeds)``.

  Each window is standardised with the mean and standard deviation of its own training targets (no look-ahead).

  Args:
    model: a flax module mapping ``[batch, lags]`` inputs to one forecast per example.
    strategy: the learning-rate strategy (:func:`make_strategy`).
    length: the number of points of the series the evaluator accepts.
    lags: the number of past values each example sees.
    train_size: the number of training examples of a window.
    test_size: the number of forecasts of a window.
    epochs: training epochs per window.
    batch_size: the minibatch size.
    mode: ``"sequential"`` (carry the model and optimizer across windows) or ``"refit"``.
    step: the distance between window origins (default ``test_size``).

  Returns:
    ``evaluate(series, seeds) -> WalkForwardResult``: one compiled program for all windows, epochs and seeds
    (``evaluate`` raises ``ValueError`` for a series of another length or with NaN/inf values).

  Raises:
    ValueError: for an unknown ``mode``, sizes below 1, or a series too short for one window.

  Examples:
    >>> import optix_evo as ox
    >>> from optix_evo.schedules.walk_forward import make_strategy, make_walk_forward
    >>> series = ox.data.sine_mix(40)
    >>> evaluate = make_walk_forward(ox.models.MLP(hidden=(4,), outputs=1), make_strategy("constant", 0.01),
    ...                              length=40, lags=4, train_size=16, test_size=4, epochs=1, batch_size=8)
    >>> result = evaluate(series, seeds=[0])
    >>> print(result.mse.shape, result.lr.shape, result.naive_mse.shape)  # 1 seed, 5 windows, 1 epoch
    (1, 5) (1, 5, 1) (5,)
  """
  if mode not in MODES:
    raise ValueError(f"Unknown mode {mode!r}. Known modes: {', '.join(MODES)}.")
  if min(lags, train_size, test_size, epochs, batch_size) < 1:
    raise ValueError(f"lags, train_size, test_size, epochs and batch_size must be >= 1, got {lags}, {train_size}, "
                     f"{test_size}, {epochs}, {batch_size}.")
  if length < lags + train_size + test_size:
    raise ValueError(f"a series of {length} points is too short for lags={lags} + train_size={train_size} + "
                     f"test_size={test_size} = {lags + train_size + test_size} points; use a longer series or smaller "
                     "sizes.")
  num_examples = length - lags
  splits = walk_forward_splits(num_examples, train_size=train_size, test_size=test_size, step=step)
  spe = training.steps_per_epoch(train_size, batch_size)
  num_windows = len(splits)
  total_epochs = epochs * (num_windows if mode == "sequential" else 1)
  origins = jnp.asarray([s.train_stop for s in splits])
  loss_fn = training.regression_loss(model.apply)

  def run_one(x, y, seed):
    key = jax.random.PRNGKey(seed)
    optimizer = strategy.make(seed, spe, total_epochs)

    def fresh(window):
      params = model.init(jax.random.fold_in(key, window), x[:1])
      return params, optimizer.init(params)

    def window_fn(carry, inputs):
      window, origin = inputs
      params, opt_state = carry if mode == "sequential" else fresh(window)
      first_step = window * epochs * spe if mode == "sequential" else 0
      x_train = jax.lax.dynamic_slice_in_dim(x, origin - train_size, train_size)
      y_train = jax.lax.dynamic_slice_in_dim(y, origin - train_size, train_size)
      mean, std = y_train.mean(), y_train.std() + 1e-6
      train = Dataset((x_train - mean) / std, (y_train - mean) / std)

      def epoch_fn(state, epoch):
        params, opt_state = state
        start = first_step + epoch * spe
        fit = training.fit(loss_fn, params, optimizer, train, jax.random.fold_in(key, window), steps=spe,
                           batch_size=batch_size, opt_state=opt_state, first_step=start)
        lr = strategy.lr_of(fit.opt_state, start + spe, total_epochs * spe)
        return (fit.params, fit.opt_state), (lr, fit.loss.mean())

      (params, opt_state), (lrs, losses) = jax.lax.scan(epoch_fn, (params, opt_state), jnp.arange(epochs))
      x_test = jax.lax.dynamic_slice_in_dim(x, origin, test_size)
      y_test = jax.lax.dynamic_slice_in_dim(y, origin, test_size)
      prediction = model.apply(params, (x_test - mean) / std).reshape(y_test.shape) * std + mean
      mse = jnp.mean((prediction - y_test) ** 2)
      naive = jnp.mean((x_test[:, -1] - y_test) ** 2)
      return (params, opt_state), (mse, lrs, losses, naive)

    _, (mse, lrs, losses, naive) = jax.lax.scan(window_fn, fresh(0), (jnp.arange(num_windows), origins))
    return mse, lrs, losses, naive

  compiled = jax.jit(jax.vmap(run_one, in_axes=(None, None, 0)))

  def evaluate(series: np.ndarray, seeds: Sequence[int]) -> WalkForwardResult:
    if len(series) != length:
      raise ValueError(f"this evaluator was built for series of {length} points, got {len(series)}.")
    bad = np.flatnonzero(~np.isfinite(np.asarray(series, np.float32)))
    if bad.size:
      raise ValueError(f"the series has {bad.size} NaN or infinite value(s) (at positions {bad[:10].tolist()}); drop "
                       "or fill them first (read_csv_series(..., dropna=True) drops them).")
    data = lagged_windows(series, lags)
    mse, lrs, losses, naive = jax.device_get(compiled(data.x, data.y, jnp.asarray(seeds, jnp.int32)))
    return WalkForwardResult(mse, lrs, losses, naive[0])

  return evaluate
