"""Univariate time series for walk-forward (rolling-origin) evaluation.

Synthetic series generated in code (:data:`SERIES`), a loader for one column of a user's CSV file, lagged-window
supervised data sets, and rolling-origin splits (Tashman 2000, "Out-of-sample tests of forecasting accuracy").
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
  """Three sines with incommensurate periods (~25, ~70, ~200 steps) plus Gaussian noise of std 0.3."""
  rng = np.random.default_rng(seed)
  t = np.arange(length)
  phases = rng.uniform(0, 2 * np.pi, 3)
  clean = np.sin(2 * np.pi * t / 25 + phases[0]) + 0.6 * np.sin(2 * np.pi * t / 70.7 + phases[1])
  clean += 0.4 * np.sin(2 * np.pi * t / 199.3 + phases[2])
  return clean + 0.3 * rng.normal(size=length)


def ar2(length: int, seed: int = 0, *, phi: tuple[float, float] = (1.6, -0.8), noise: float = 0.5) -> np.ndarray:
  """A stationary AR(2) process :math:`x_t = \\phi_1 x_{t-1} + \\phi_2 x_{t-2} + e_t` (quasi-periodic for the default)."""
  rng = np.random.default_rng(seed)
  e = noise * rng.normal(size=length + 100)
  x = np.zeros(length + 100)
  for t in range(2, length + 100):
    x[t] = phi[0] * x[t - 1] + phi[1] * x[t - 2] + e[t]
  return x[100:]  # burn-in


def regime_switch(length: int, seed: int = 0, *, mean_duration: int = 300) -> np.ndarray:
  """Alternating AR(1) regimes (persistent trend-like vs. mean-reverting oscillating) with a level shift at each switch.

  Regime durations are geometric with mean ``mean_duration``.
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
  """A Gaussian random walk with drift, :math:`x_t = x_{t-1} + \\text{drift} + e_t` (unforecastable beyond the drift)."""
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

  Raises:
    ValueError: for an unknown name (the message lists the known ones) or a non-positive length.
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
  """The values of :func:`read_csv_series` (same arguments and errors)."""
  return read_csv_series(path, column, delimiter=delimiter, dropna=dropna).values


def lagged_windows(series: np.ndarray, lags: int, horizon: int = 1) -> Dataset:
  """Supervised pairs from a series: ``x[i] = series[i : i + lags]``, ``y[i] = series[i + lags + horizon - 1]``.

  Returns ``len(series) - lags - horizon + 1`` examples, with ``x`` of shape ``[n, lags]`` (float32) and ``y`` ``[n]``.
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
  """One rolling-origin window: train on examples ``[train_start, train_stop)``, forecast ``[train_stop, test_stop)``."""

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

  Raises:
    ValueError: if the sizes are not positive or leave no window.
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
