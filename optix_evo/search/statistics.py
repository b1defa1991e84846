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
  has fewer than two entries.

  .. math::
    \\rho = \\operatorname{corr}(\\operatorname{rank}(a), \\operatorname{rank}(b))

  (`Spearman's rank correlation <https://en.wikipedia.org/wiki/Spearman%27s_rank_correlation_coefficient>`_).

  Args:
    a: scores of the items under one measurement (e.g. the surrogate).
    b: scores of the same items under another (e.g. the first elimination stage).

  Returns:
    ``rho`` in ``[-1, 1]``, or NaN.

  Raises:
    ValueError: when ``a`` and ``b`` differ in shape.

  Examples:
    >>> import optix_evo as ox
    >>> print(round(ox.search.spearman([1, 2, 3, 4], [10, 20, 40, 30]), 4))
    0.8
  """
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
  """An estimate with a two-sided interval (``low``/``high`` NaN when it cannot be computed).

  Attributes:
    estimate: the point estimate.
    low: the interval's lower bound.
    high: the interval's upper bound.
    n: the number of observations (pairs or seeds) behind it.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.Interval(0.0123, -0.004, 0.0286, 5))
    +0.0123 [-0.0040, +0.0286]
  """

  estimate: float
  low: float
  high: float
  n: int

  def __str__(self) -> str:
    return f"{self.estimate:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def spearman_interval(a: Sequence[float], b: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                      seed: int = 0) -> Interval:
  """Spearman's rho of the pairs ``(a[i], b[i])`` with a percentile bootstrap interval (pairs resampled with
  replacement; resamples where a side is constant are left out).

  Args:
    a: scores of the items under one measurement.
    b: scores of the same items under another.
    level: the interval's coverage.
    resamples: bootstrap resamples.
    seed: seed of the resampling.

  Returns:
    An :class:`Interval` (NaN bounds when rho is undefined).

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.spearman_interval([1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 6, 5], resamples=200))
    +0.8857 [+0.0000, +1.0000]
  """
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
  """Mean of ``values`` with the two-sided Student-t interval (NaN bounds for fewer than two values).

  .. math::
    \\bar x \\pm t_{(1 + \\text{level})/2,\\, n-1}\\, s / \\sqrt{n}

  Args:
    values: the observations.
    level: the interval's coverage.

  Returns:
    An :class:`Interval`.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.mean_interval([0.5, 0.6, 0.7]))
    +0.6000 [+0.3516, +0.8484]
  """
  from scipy import stats  # pylint: disable=import-outside-toplevel

  x = np.asarray(values, np.float64)
  mean = float(x.mean()) if x.size else float("nan")
  if x.size < 2:
    return Interval(mean, float("nan"), float("nan"), int(x.size))
  half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
  return Interval(mean, mean - half, mean + half, int(x.size))


def paired_difference(found: Sequence[float], baseline: Sequence[float], *, level: float = 0.95) -> Interval:
  """Mean of ``found[s] - baseline[s]`` over seeds ``s`` (the same network init and batch order for both) with its
  Student-t interval. A seed where either run has no finite score counts as that run's worst, 0 accuracy.

  Args:
    found: one score per seed of the found optimizer.
    baseline: one score per seed of the baseline (same seeds, same order).
    level: the interval's coverage.

  Returns:
    An :class:`Interval` of the mean difference (:func:`mean_interval` of the differences).

  Raises:
    ValueError: when the two sides have different shapes.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.paired_difference([0.91, 0.92, 0.93], [0.90, 0.90, 0.91]))
    +0.0167 [+0.0023, +0.0310]
  """
  f, b = np.asarray(found, np.float64), np.asarray(baseline, np.float64)
  if f.shape != b.shape:
    raise ValueError(f"paired_difference needs one score per seed on both sides, got {f.shape} and {b.shape}.")
  f, b = np.where(np.isfinite(f), f, 0.0), np.where(np.isfinite(b), b, 0.0)
  return mean_interval(f - b, level=level)


def verdict(difference: Interval) -> str:
  """``"beats"`` when the whole interval of the difference is above 0, ``"loses"`` when it is below, else ``"ties"``
  (also when the interval could not be computed).

  Args:
    difference: the interval of ``found - baseline`` (:func:`paired_difference`).

  Returns:
    ``"beats"``, ``"ties"`` or ``"loses"``.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.verdict(ox.search.paired_difference([0.91, 0.92, 0.93], [0.90, 0.90, 0.91])))
    beats
    >>> print(ox.search.verdict(ox.search.paired_difference([0.9, 0.8], [0.85, 0.85])))
    ties
  """
  if difference.low > 0:
    return "beats"
  if difference.high < 0:
    return "loses"
  return "ties"


def paired_p_value(found: Sequence[float], baseline: Sequence[float]) -> float:
  """Two-sided p-value of the paired Student-t test of ``found - baseline`` (non-finite scores count as 0, as in
  :func:`paired_difference`); NaN for fewer than two pairs, 1 when every difference is 0.

  Examples:
    >>> import optix_evo as ox
    >>> print(round(ox.search.paired_p_value([0.91, 0.92, 0.93], [0.90, 0.90, 0.91]), 4))
    0.0377
  """
  from scipy import stats  # pylint: disable=import-outside-toplevel

  f, b = np.asarray(found, np.float64), np.asarray(baseline, np.float64)
  d = np.where(np.isfinite(f), f, 0.0) - np.where(np.isfinite(b), b, 0.0)
  if d.size < 2:
    return float("nan")
  if np.all(d == d[0]):
    return 1.0 if d[0] == 0 else 0.0
  return float(stats.ttest_1samp(d, 0.0).pvalue)


def holm_bonferroni(p_values: Sequence[float]) -> np.ndarray:
  """Holm–Bonferroni adjusted p-values (Holm 1979), in the input order: with the ``m`` p-values sorted ascending,
  ``p̃_(i) = max_{j ≤ i} min(1, (m - j + 1) · p_(j))``. Rejecting where ``p̃ < α`` controls the family-wise error
  rate at ``α`` over the ``m`` tests. NaN p-values are never rejected (adjusted to NaN, not counted in ``m``).

  Args:
    p_values: one p-value per test.

  Returns:
    The adjusted p-values, ``float64[m]``.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.holm_bonferroni([0.01, 0.04, 0.03]))
    [0.03 0.06 0.06]
  """
  p = np.asarray(p_values, np.float64)
  out = np.full(p.shape, np.nan)
  ok = np.flatnonzero(np.isfinite(p))
  m = ok.size
  running = 0.0
  for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
    running = max(running, min(1.0, (m - rank) * p[i]))
    out[i] = running
  return out
