"""Univariate time series for walk-forward (rolling-origin) evaluation.

Synthetic series generated in code (:data:`SERIES`), a loader for one column of a user's CSV file, lagged-window
supervised data sets, and rolling-origin splits (Tashman 2000,
`Out-of-sample tests of forecasting accuracy <https://doi.org/10.1016/S0169-2070(00)00065-0>`_).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from optix_evo.data.datasets import Dataset
from optix_evo.errors import InputError


def sine_mix(length: int, seed: int = 0) -> np.ndarray:
  """Three sines with incommensurate periods (~25, ~70, ~200 steps) plus Gaussian noise of std 0.3.

  Args:
    length: the number of points.
    seed: the seed of the noise.

  Returns:
    A ``[length]`` float array.

  Examples:
    >>> import optix_evo as ox
    >>> x = ox.data.sine_mix(100, seed=0)
    >>> print(x.shape, x[:3].round(2))
    (100,) [-0.03 -0.36 -0.17]
  """
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  phases = rng.uniform(0, 2 * np.pi, 3)
  clean = np.sin(2 * np.pi * t / 25 + phases[0]) + 0.6 * np.sin(2 * np.pi * t / 70.7 + phases[1])
  clean += 0.4 * np.sin(2 * np.pi * t / 199.3 + phases[2])
  return clean + 0.3 * rng.normal(size=length)


def ar2(length: int, seed: int = 0, *, phi: tuple[float, float] = (1.6, -0.8), noise: float = 0.5) -> np.ndarray:
  r"""A stationary AR(2) process :math:`x_t = \phi_1 x_{t-1} + \phi_2 x_{t-2} + e_t` (quasi-periodic by default).

  Args:
    length: the number of points.
    seed: the seed of the noise.
    phi: the coefficients :math:`(\phi_1, \phi_2)` (stationary: inside the triangle of AR(2) stationarity).
    noise: the standard deviation of :math:`e_t`.

  Returns:
    A ``[length]`` float array.

  Examples:
    >>> import optix_evo as ox
    >>> x = ox.data.ar2(100, seed=0)
    >>> print(x.shape, x[:3].round(2))
    (100,) [-3.05 -2.02 -0.88]

  References:
    Box, Jenkins, Reinsel & Ljung, *Time Series Analysis: Forecasting and Control*, Wiley, 5th ed. 2015, chapter 3.
  """
  rng = np.random.default_rng(seed)
  e = noise * rng.normal(size=length + 100)
  x = np.zeros(length + 100)
  for t in range(2, length + 100):
    x[t] = phi[0] * x[t - 1] + phi[1] * x[t - 2] + e[t]
  return x[100:]  # burn-in


def regime_switch(length: int, seed: int = 0, *, mean_duration: int = 300) -> np.ndarray:
  """Alternating AR(1) regimes (persistent trend-like vs. mean-reverting oscillating) with a level shift at each switch.

  Regime durations are geometric with mean ``mean_duration``.

  Args:
    length: the number of points.
    seed: the seed of the noise.
    mean_duration: the mean number of steps of a regime.

  Returns:
    A ``[length]`` float array.

  Examples:
    >>> import optix_evo as ox
    >>> x = ox.data.regime_switch(100, seed=0)
    >>> print(x.shape, x[:3].round(2))
    (100,) [-0.04 -0.01 0.1 ]

  References:
    Hamilton, `A New Approach to the Economic Analysis of Nonstationary Time Series and the Business Cycle
    <https://doi.org/10.2307/1912559>`_, Econometrica 57, 1989 (regime-switching processes).
  """
  rng = np.random.default_rng(seed)
  x = np.zeros(length)
  regime, level, prev = 0, 0.0, 0.0
  for t in range(length):
    if rng.random() < 1.0 / mean_duration:
      regime, level = 1 - regime, level + rng.normal(scale=2.0)
    phi, noise = ((0.95, 0.3), (-0.6, 0.8))[regime]
    prev = phi * prev + noise * rng.normal()
    x[t] = level + prev
  return x


def random_walk(length: int, seed: int = 0, *, drift: float = 0.05, noise: float = 1.0) -> np.ndarray:
  r"""A Gaussian random walk with drift, :math:`x_t = x_{t-1} + \text{drift} + e_t` (unforecastable beyond the drift).

  Args:
    length: the number of points.
    seed: the seed of the noise.
    drift: the mean step.
    noise: the standard deviation of :math:`e_t`.

  Returns:
    A ``[length]`` float array.

  Examples:
    >>> import optix_evo as ox
    >>> x = ox.data.random_walk(100, seed=0)
    >>> print(x.shape, x[:3].round(2))
    (100,) [0.18 0.09 0.78]
  """
  rng = np.random.default_rng(seed)
  return np.cumsum(drift + noise * rng.normal(size=length))


SERIES: dict[str, Callable[..., np.ndarray]] = {
    "sine_mix": sine_mix,
    "ar2": ar2,
    "regime_switch": regime_switch,
    "random_walk": random_walk,
}


def synthetic_series(name: str, length: int, seed: int = 0) -> np.ndarray:
  """The synthetic series ``name`` (see :data:`SERIES`) with ``length`` points, as float32.

  Args:
    name: ``"sine_mix"``, ``"ar2"``, ``"regime_switch"`` or ``"random_walk"``.
    length: the number of points.
    seed: the seed of the noise.

  Returns:
    A ``[length]`` float32 array.

  Raises:
    ValueError: for an unknown name (the message lists the known ones) or a non-positive length.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.data.synthetic_series("ar2", 50).dtype)
    float32
  """
  if name not in SERIES:
    raise ValueError(f"Unknown series {name!r}. Known series: {', '.join(sorted(SERIES))}.")
  if length < 1:
    raise ValueError(f"length must be positive, got {length}.")
  return SERIES[name](length, seed).astype(np.float32)


class CsvSeries(NamedTuple):
  """A column read by :func:`read_csv_series`: its values and the file lines of the rows dropped (``dropna``)."""

  values: np.ndarray  # float32, in file order
  dropped: tuple[int, ...]  # line numbers (1-based) of the rows whose value was missing or non-finite


_MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "+nan", "null", "none"})  # case-insensitive
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _lines(numbers: list[int]) -> str:
  return ", ".join(map(str, numbers[:10])) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def read_csv_series(path: str | Path, column: str | int, *, delimiter: str = ",", dropna: bool = False) -> CsvSeries:
  """One numeric column of a CSV file as a float32 series, in file order, and the rows dropped from it.

  Args:
    path: the CSV file (UTF-8, with or without a byte-order mark); its first row is a header when ``column`` is a name.
    column: a header name, or a 0-based column index (then a first row that does not parse as a number is skipped
      as a header).
    delimiter: field separator.
    dropna: drop the rows whose value is missing (empty, ``NA``, ``nan``, ``null``, ...) or not finite (``inf``,
      beyond float32's range) instead of refusing the file; :attr:`CsvSeries.dropped` lists their lines.

  Raises:
    InputError: the file cannot be read or parsed, the column does not exist, a value is not a number (the message
      gives the line), a value is missing or not finite without ``dropna`` (the message lists the lines), or no value
      is left.
  """
  if isinstance(column, int) and column < 0:
    raise InputError(f"column index must be >= 0, got {column}.")
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:
      reader = csv.reader(f, delimiter=delimiter)
      rows = [(reader.line_num, row) for row in reader]
  except OSError as e:
    raise InputError(f"cannot read the CSV file {path}: {e.strerror or e}.") from None
  except UnicodeDecodeError as e:
    raise InputError(f"{path} is not a UTF-8 text file (byte {e.start}: {e.reason}); save it as UTF-8 CSV.") from None
  except csv.Error as e:
    raise InputError(f"{path}: not a readable CSV file ({e}).") from None
  if not rows:
    raise InputError(f"{path} is empty.")
  start = 0
  if isinstance(column, str):
    header = [h.strip() for h in rows[0][1]]
    if column not in header:
      raise InputError(f"{path} has no column {column!r}; its columns are {header[:20]}.")
    index, start = header.index(column), 1
  else:
    index = column
    try:
      float(rows[0][1][index])
    except (ValueError, IndexError):
      start = 1
  values, bad = [], []
  for line, row in rows[start:]:
    if not row:
      continue
    if index >= len(row):
      raise InputError(f"{path}:{line}: no column {column!r} (the row has {len(row)} fields).")
    text = row[index].strip()
    if text.lower() in _MISSING:
      bad.append(line)
      continue
    try:
      value = float(text)
    except ValueError:
      raise InputError(f"{path}:{line}: value {text[:40]!r} of column {column!r} is not a number.") from None
    if not abs(value) <= _FLOAT32_MAX:  # inf, nan, or beyond float32
      bad.append(line)
      continue
    values.append(value)
  if bad and not dropna:
    raise InputError(f"{path}: column {column!r} has {len(bad)} missing or non-finite value(s) "
                     f"(line(s) {_lines(bad)}); drop those rows with --dropna (dropna=True), or fix the file.")
  if not values:
    dropped = f" (all {len(bad)} rows with a value were dropped)" if bad else ""
    raise InputError(f"{path}: column {column!r} holds no values{dropped}.")
  return CsvSeries(np.asarray(values, np.float32), tuple(bad))


def load_csv_column(path: str | Path, column: str | int, *, delimiter: str = ",", dropna: bool = False) -> np.ndarray:
  r"""The values of :func:`read_csv_series` (same arguments and errors).

  Args:
    path: the CSV file.
    column: a header name, or a 0-based column index.
    delimiter: the field separator.
    dropna: drop the rows whose value is missing or not finite instead of refusing the file.

  Returns:
    The column's values, a float32 array in file order.

  Raises:
    InputError: as ``read_csv_series``: an unreadable file, an unknown column, a value that is not a number, or
      (without ``dropna``) a missing or non-finite value; each message names the line.

  Examples:
    >>> import os
    >>> import tempfile
    >>> import optix_evo as ox
    >>> path = os.path.join(tempfile.mkdtemp(), "prices.csv")
    >>> with open(path, "w") as f:
    ...   _ = f.write("day,close\n1,10.5\n2,NA\n3,11.0\n")
    >>> print(ox.data.load_csv_column(path, "close", dropna=True))
    [10.5 11. ]
    >>> ox.data.load_csv_column(path, "close")
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: ...prices.csv: column 'close' has 1 missing or non-finite value(s) (line(s) 3)...
  """
  return read_csv_series(path, column, delimiter=delimiter, dropna=dropna).values


def lagged_windows(series: np.ndarray, lags: int, horizon: int = 1) -> Dataset:
  """Supervised pairs from a series: ``x[i] = series[i : i + lags]``, ``y[i] = series[i + lags + horizon - 1]``.

  It returns ``len(series) - lags - horizon + 1`` examples, with ``x`` of shape ``[n, lags]`` (float32) and ``y``
  ``[n]``.

  Args:
    series: the ``[T]`` series.
    lags: the number of past values per example.
    horizon: how many steps ahead the target is (1: the next value).

  Returns:
    A :class:`Dataset` with ``x`` ``[n, lags]`` and ``y`` ``[n]``.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> data = ox.data.lagged_windows(np.arange(6.0), lags=3)
    >>> print(data.x, data.y)
    [[0. 1. 2.]
     [1. 2. 3.]
     [2. 3. 4.]] [3. 4. 5.]
  """
  series = np.asarray(series, np.float32)
  if series.ndim != 1:
    raise ValueError(f"series must be one-dimensional, got shape {series.shape}.")
  if lags < 1 or horizon < 1:
    raise ValueError(f"lags and horizon must be >= 1, got lags={lags}, horizon={horizon}.")
  n = len(series) - lags - horizon + 1
  if n < 1:
    raise ValueError(f"a series of {len(series)} points is too short for lags={lags} and horizon={horizon}.")
  x = np.lib.stride_tricks.sliding_window_view(series, lags)[:n]
  return Dataset(np.ascontiguousarray(x), series[lags + horizon - 1 :][:n].copy())


class WalkForwardSplit(NamedTuple):
  """One rolling-origin window: train on examples ``[train_start, train_stop)``, forecast ``[train_stop, test_stop)``.

  Attributes:
    train_start: the first training example.
    train_stop: the forecast origin (the first test example).
    test_stop: one past the last test example.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.data.walk_forward_splits(10, train_size=4, test_size=3)[0])
    WalkForwardSplit(train_start=0, train_stop=4, test_stop=7)
  """

  train_start: int
  train_stop: int
  test_stop: int


def walk_forward_splits(
    num_examples: int, *, train_size: int, test_size: int, step: int | None = None, expanding: bool = False
) -> list[WalkForwardSplit]:
  """Rolling-origin splits over ``num_examples`` time-ordered examples.

  The forecast origin starts after ``train_size`` examples and moves forward by ``step`` (default ``test_size``)
  until the test block would run past the end. Each window trains on the ``train_size`` examples just before the
  origin (``expanding=False``, a fixed-length rolling window: every window has the same shapes, so a whole
  walk-forward run compiles once) or on everything before it (``expanding=True``). Test blocks never overlap the
  training data of their own window.

  Args:
    num_examples: the number of time-ordered examples.
    train_size: the training examples of a (rolling) window.
    test_size: the forecasts of a window.
    step: the distance between origins (default ``test_size``).
    expanding: train on everything before the origin.

  Returns:
    The windows, a list of :class:`WalkForwardSplit` in time order.

  Raises:
    ValueError: if the sizes are not positive or leave no window.

  Examples:
    >>> import optix_evo as ox
    >>> for s in ox.data.walk_forward_splits(10, train_size=4, test_size=3, expanding=True):
    ...   print(s)
    WalkForwardSplit(train_start=0, train_stop=4, test_stop=7)
    WalkForwardSplit(train_start=0, train_stop=7, test_stop=10)

  References:
    Tashman, `Out-of-sample tests of forecasting accuracy: an analysis and review
    <https://doi.org/10.1016/S0169-2070(00)00065-0>`_, International Journal of Forecasting 16, 2000.
  """
  step = test_size if step is None else step
  if min(train_size, test_size, step) < 1:
    raise InputError(f"train_size, test_size and step must be >= 1, got {train_size}, {test_size}, {step}.")
  if train_size + test_size > num_examples:
    have = f"{num_examples} examples leave" if num_examples > 0 else "there are no examples, so there is"
    raise InputError(f"{have} no window of train_size={train_size} + test_size={test_size}; use a longer "
                     "series or smaller sizes.")
  origins = range(train_size, num_examples - test_size + 1, step)
  return [WalkForwardSplit(0 if expanding else o - train_size, o, o + test_size) for o in origins]
