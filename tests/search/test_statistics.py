"""Rank correlation, its bootstrap interval, paired differences and the three verdicts, on planted scores."""

import math

import numpy as np
import pytest
from scipy import stats

from optix_evo.search.statistics import (Interval, mean_interval, paired_difference, spearman, spearman_interval,
                                         verdict)


def test_spearman_matches_scipy_with_ties_and_is_nan_when_constant():
  rng = np.random.default_rng(0)
  a = rng.integers(0, 5, 30).astype(float)  # many ties
  b = a + rng.normal(0, 2, 30)
  assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
  assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
  assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
  assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(spearman([1], [2]))
  with pytest.raises(ValueError, match="paired"):
    spearman([1, 2], [1, 2, 3])


def test_spearman_interval_covers_the_estimate_and_narrows_with_more_pairs():
  rng = np.random.default_rng(1)
  x = rng.normal(size=200)
  y = x + rng.normal(size=200)
  small, large = spearman_interval(x[:24], y[:24], seed=0), spearman_interval(x, y, seed=0)
  for ci in (small, large):
    assert ci.low <= ci.estimate <= ci.high
  assert large.high - large.low < small.high - small.low
  assert small.n == 24 and large.estimate == pytest.approx(stats.spearmanr(x, y).statistic)
  assert spearman_interval(x[:24], y[:24], seed=0) == small  # deterministic for a seed
  # Truly unrelated pairs: the interval contains 0.
  z = rng.normal(size=60)
  ci = spearman_interval(rng.normal(size=60), z, seed=0)
  assert ci.low < 0 < ci.high


def test_mean_interval_is_the_student_t_interval():
  values = [0.61, 0.64, 0.62, 0.66, 0.63]
  ci = mean_interval(values)
  half = stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / math.sqrt(5)
  assert ci.estimate == pytest.approx(np.mean(values))
  assert (ci.low, ci.high) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
  one = mean_interval([0.5])
  assert one.estimate == 0.5 and math.isnan(one.low) and math.isnan(one.high)


@pytest.mark.parametrize("found, base, expected", [
    ([0.80, 0.82, 0.81, 0.83, 0.80], [0.75, 0.76, 0.74, 0.77, 0.75], "beats"),  # clearly better on every seed
    ([0.75, 0.76, 0.74, 0.77, 0.75], [0.80, 0.82, 0.81, 0.83, 0.80], "loses"),
    ([0.80, 0.70, 0.82, 0.71, 0.79], [0.75, 0.76, 0.74, 0.77, 0.75], "ties"),  # better on some seeds, worse on others
])
def test_three_verdicts_from_paired_differences(found, base, expected):
  diff = paired_difference(found, base)
  assert diff.estimate == pytest.approx(np.mean(np.subtract(found, base)))
  assert verdict(diff) == expected


def test_pairing_matters_and_failed_runs_count_as_zero():
  # Each seed's found run beats the baseline's by 0.01 while seeds vary by 0.1: paired, this is a clear win
  # (unpaired intervals would overlap).
  base = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
  assert verdict(paired_difference(base + 0.01, base)) == "beats"
  diff = paired_difference([0.8, np.nan, 0.8], [0.7, 0.7, 0.7])  # a divergent run scores 0, not dropped
  assert diff.estimate == pytest.approx((0.1 - 0.7 + 0.1) / 3)
  assert verdict(Interval(0.1, float("nan"), float("nan"), 1)) == "ties"  # no interval: no claim
  with pytest.raises(ValueError, match="one score per seed"):
    paired_difference([0.1, 0.2], [0.1])
