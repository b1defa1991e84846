"""Statistics of a search's evidence: rank correlation with a bootstrap interval, paired differences with a
Student-t interval, and the three-way verdict they support."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

VERDICTS = ("beats", "ties", "loses")


def _ranks(x: np.ndarray) -> np.ndarray:
  """Ranks from 0 with ties given their average rank."""
  order = np.argsort(x, kind="stable")
  ranks = np.empty(x.size)
  ranks[order] = np.arange(x.size, dtype=np.float64)
  for value in np.unique(x):
    tied = x == value
    ranks[tied] = ranks[tied].mean()
  return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
  """Spearman rank correlation of two paired score lists (average ranks for ties); NaN when either is constant or
  has fewer than two entries."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape != b.shape:
    raise ValueError(f"spearman needs paired lists, got {a.shape} and {b.shape}.")
  if a.size < 2:
    return float("nan")
  ra, rb = _ranks(a), _ranks(b)
  if np.std(ra) == 0 or np.std(rb) == 0:
    return float("nan")
  return float(np.corrcoef(ra, rb)[0, 1])


class Interval(NamedTuple):
  """An estimate with a two-sided interval (``low``/``high`` NaN when it cannot be computed)."""

  estimate: float
  low: float
  high: float
  n: int

  def __str__(self) -> str:
    return f"{self.estimate:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def spearman_interval(a: Sequence[float], b: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                      seed: int = 0) -> Interval:
  """Spearman's rho of the pairs ``(a[i], b[i])`` with a percentile bootstrap interval (pairs resampled with
  replacement; resamples where a side is constant are left out)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  rho = spearman(a, b)
  rng = np.random.default_rng(seed)
  draws = []
  for _ in range(resamples):
    idx = rng.integers(0, a.size, a.size)
    r = spearman(a[idx], b[idx])
    if np.isfinite(r):
      draws.append(r)
  if not draws or not np.isfinite(rho):
    return Interval(rho, float("nan"), float("nan"), int(a.size))
  tail = (1 - level) / 2
  return Interval(rho, float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail)), int(a.size))


def mean_interval(values: Sequence[float], *, level: float = 0.95) -> Interval:
  """Mean of ``values`` with the two-sided Student-t interval (NaN bounds for fewer than two values)."""
  from scipy import stats  # pylint: disable=import-outside-toplevel

  x = np.asarray(values, np.float64)
  mean = float(x.mean()) if x.size else float("nan")
  if x.size < 2:
    return Interval(mean, float("nan"), float("nan"), int(x.size))
  half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
  return Interval(mean, mean - half, mean + half, int(x.size))


def paired_difference(found: Sequence[float], baseline: Sequence[float], *, level: float = 0.95) -> Interval:
  """Mean of ``found[s] - baseline[s]`` over seeds ``s`` (the same network init and batch order for both) with its
  Student-t interval. A seed where either run has no finite score counts as that run's worst, 0 accuracy."""
  f, b = np.asarray(found, np.float64), np.asarray(baseline, np.float64)
  if f.shape != b.shape:
    raise ValueError(f"paired_difference needs one score per seed on both sides, got {f.shape} and {b.shape}.")
  f, b = np.where(np.isfinite(f), f, 0.0), np.where(np.isfinite(b), b, 0.0)
  return mean_interval(f - b, level=level)


def verdict(difference: Interval) -> str:
  """``"beats"`` when the whole interval of the difference is above 0, ``"loses"`` when it is below, else ``"ties"``
  (also when the interval could not be computed)."""
  if difference.low > 0:
    return "beats"
  if difference.high < 0:
    return "loses"
  return "ties"
