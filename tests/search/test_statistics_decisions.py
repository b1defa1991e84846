"""The statistics' decisions, each against a transcription of its formula: average ranks, the percentile bootstrap
of Spearman's rho (pairs resampled with replacement, constant resamples left out), the Student-t interval at any
level, and the verdict's strict inequalities."""

import math

import numpy as np
import pytest
from scipy import stats

from optix_evo.search.statistics import (Interval, _ranks, holm_bonferroni, mean_interval, paired_difference,
                                         paired_p_value, spearman, spearman_interval, verdict)


def _bootstrap(a, b, level, resamples, seed):
  """Efron's percentile interval, transcribed: the same generator, one ``integers(0, n, n)`` draw per resample."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  rng = np.random.default_rng(seed)
  draws = []
  for _ in range(resamples):
    idx = rng.integers(0, a.size, a.size)
    ra, rb = stats.rankdata(a[idx]), stats.rankdata(b[idx])
    if ra.std() > 0 and rb.std() > 0:
      draws.append(np.corrcoef(ra, rb)[0, 1])
  tail = (1 - level) / 2
  return np.quantile(draws, tail), np.quantile(draws, 1 - tail), len(draws)


def test_ranks_start_at_zero_and_ties_share_their_average_rank():
  np.testing.assert_array_equal(_ranks(np.array([3.0, 1.0, 2.0, 1.0, 5.0, 3.0, 3.0])),
                                [4.0, 0.5, 2.0, 0.5, 6.0, 4.0, 4.0])
  x = np.random.default_rng(0).integers(0, 4, 50).astype(float)
  np.testing.assert_allclose(_ranks(x), stats.rankdata(x) - 1)


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_spearman_interval_is_the_percentile_bootstrap(level):
  rng = np.random.default_rng(3)
  a = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 0.0])  # tied: some resamples are constant and left out
  b = a + rng.normal(0, 1, 9)
  low, high, kept = _bootstrap(a, b, level, 300, seed=5)
  assert kept < 300  # the transcription did leave constant resamples out
  ci = spearman_interval(a, b, level=level, resamples=300, seed=5)
  assert ci == Interval(pytest.approx(stats.spearmanr(a, b).statistic), pytest.approx(low), pytest.approx(high), 9)
  assert spearman_interval(a, b, level=level, resamples=300, seed=6) != ci  # the seed is used


def test_spearman_interval_is_nan_without_a_defined_rho():
  ci = spearman_interval([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
  assert math.isnan(ci.estimate) and math.isnan(ci.low) and math.isnan(ci.high) and ci.n == 3
  ci = spearman_interval([1.0, 2.0], [2.0, 1.0], resamples=50)  # rho = -1, and resamples of 2 pairs often constant
  assert ci.estimate == pytest.approx(-1) and ci.n == 2 and ci.low == ci.high == pytest.approx(-1)


def test_spearman_is_pearson_on_ranks_in_the_pairs_order():
  a, b = [0.1, 0.5, 0.3, 0.9, 0.7], [1.0, 3.0, 2.0, 4.0, 0.0]
  assert spearman(a, b) == pytest.approx(np.corrcoef(stats.rankdata(a), stats.rankdata(b))[0, 1])
  assert spearman(a, b) == pytest.approx(0.4)
  assert spearman(a, b[::-1]) != pytest.approx(spearman(a, b))  # the pairing is what is measured


@pytest.mark.parametrize("level", [0.9, 0.99])
def test_mean_interval_uses_the_level(level):
  values = [0.61, 0.64, 0.62, 0.66, 0.63, 0.60]
  half = stats.t.ppf(0.5 + level / 2, 5) * np.std(values, ddof=1) / math.sqrt(6)
  ci = mean_interval(values, level=level)
  assert (ci.low, ci.high, ci.n) == (pytest.approx(np.mean(values) - half), pytest.approx(np.mean(values) + half), 6)
  assert math.isnan(mean_interval([]).estimate) and mean_interval([]).n == 0


def test_paired_difference_is_found_minus_baseline_with_the_level():
  found, base = [0.9, 0.8, 0.85], [0.7, 0.75, 0.6]
  diff = paired_difference(found, base, level=0.8)
  assert diff == mean_interval(np.subtract(found, base), level=0.8)
  assert diff.estimate > 0
  assert paired_difference([0.7, np.inf], [0.8, 0.8]).estimate == pytest.approx((-0.1 - 0.8) / 2)  # inf: worst
  for worst in (np.nan, -np.inf):  # on both sides
    assert paired_difference([0.7, 0.7], [0.8, worst]).estimate == pytest.approx((-0.1 + 0.7) / 2)


@pytest.mark.parametrize("low, high, expected", [
    (0.0, 0.1, "ties"), (1e-9, 0.1, "beats"), (-0.1, 0.0, "ties"), (-0.1, -1e-9, "loses"), (-0.1, 0.1, "ties"),
    (0.01, float("nan"), "beats"), (float("nan"), -0.01, "loses"),
])
def test_verdict_needs_the_whole_interval_strictly_on_one_side(low, high, expected):
  assert verdict(Interval(0.0, low, high, 5)) == expected


def test_interval_prints_signed_with_four_decimals():
  assert str(Interval(0.0123, -0.004, 0.0286, 5)) == "+0.0123 [-0.0040, +0.0286]"


def test_the_defaults_are_a_95_percent_level_2000_resamples_and_seed_0():
  rng = np.random.default_rng(8)
  a, b = rng.normal(size=12), rng.normal(size=12)
  assert spearman_interval(a, b) == spearman_interval(a, b, level=0.95, resamples=2000, seed=0)
  assert spearman_interval(a, b) != spearman_interval(a, b, resamples=1999)
  assert mean_interval(a) == mean_interval(a, level=0.95) != mean_interval(a, level=0.9)
  assert paired_difference(a, b) == paired_difference(a, b, level=0.95) != paired_difference(a, b, level=0.9)


def test_paired_p_value_is_the_two_sided_paired_t_test():
  found, base = [0.91, 0.95, 0.92, 0.97, 0.90], [0.90, 0.90, 0.91, 0.93, 0.92]
  d = np.subtract(found, base)
  t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))  # transcribed: t with n - 1 degrees of freedom, both tails
  assert paired_p_value(found, base) == pytest.approx(2 * stats.t.sf(abs(t), d.size - 1))
  assert paired_p_value(found, base) == pytest.approx(stats.ttest_rel(found, base).pvalue)
  assert paired_p_value(base, found) == pytest.approx(paired_p_value(found, base))  # two-sided: no direction
  assert paired_p_value(found, base[::-1]) != pytest.approx(paired_p_value(found, base))  # pairs in seed order


def test_paired_p_value_counts_a_failed_run_as_zero_and_is_nan_or_exact_at_the_edges():
  for worst in (np.nan, np.inf, -np.inf):  # on either side, a failed run scores 0 as in paired_difference
    assert paired_p_value([0.8, worst, 0.7], [0.6, 0.7, 0.65]) == pytest.approx(
        stats.ttest_1samp([0.2, -0.7, 0.05], 0.0).pvalue)
    assert paired_p_value([0.6, 0.7, 0.65], [0.8, worst, 0.7]) == pytest.approx(
        stats.ttest_1samp([-0.2, 0.7, -0.05], 0.0).pvalue)
  assert math.isnan(paired_p_value([0.9], [0.8])) and math.isnan(paired_p_value([], []))
  assert paired_p_value([0.9, 0.8], [0.9, 0.8]) == 1.0  # every difference 0: no evidence at all
  assert paired_p_value([0.75, 0.5], [0.5, 0.25]) == 0.0  # the same nonzero difference on every seed: certain
  assert paired_p_value([0.9, 0.8], [0.7, 0.7]) > 0.05  # two differences that disagree in size: a real t-test


def _holm_by_hand(p):
  """Holm (1979) step-down, transcribed: sort the finite p ascending, multiply the j-th (from 1) by m - j + 1, cap at
  1, carry the running maximum, put back in the input order."""
  finite = [i for i in range(len(p)) if np.isfinite(p[i])]
  m, out, running = len(finite), [float("nan")] * len(p), 0.0
  for j, i in enumerate(sorted(finite, key=lambda i: p[i]), start=1):
    running = max(running, min(1.0, (m - j + 1) * p[i]))
    out[i] = running
  return out


def test_holm_adjusts_by_hand_and_rejects_what_the_step_down_rejects():
  # sorted 0.005, 0.01, 0.03, 0.04 → 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06, 1·0.04 = 0.04 → carried 0.06
  np.testing.assert_allclose(holm_bonferroni([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
  np.testing.assert_allclose(holm_bonferroni([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
  # NaN is not a test: m = 2, and it stays NaN (never rejected)
  np.testing.assert_allclose(holm_bonferroni([0.5, np.nan, 0.01]), [0.5, np.nan, 0.02])
  np.testing.assert_allclose(holm_bonferroni([0.6, 0.7]), [1.0, 1.0])  # 2·0.6 capped at 1, carried to 0.7
  np.testing.assert_allclose(holm_bonferroni([0.02, 0.02, 0.3]), [0.06, 0.06, 0.3])  # ties: the same adjusted value
  assert holm_bonferroni([]).shape == (0,) and np.isnan(holm_bonferroni([np.nan])).all()
  rng = np.random.default_rng(4)
  for _ in range(20):
    p = rng.uniform(0, 0.2, rng.integers(1, 8))
    p[rng.uniform(size=p.size) < 0.2] = np.nan
    np.testing.assert_allclose(holm_bonferroni(p), _holm_by_hand(p))
  # At α = 0.05: [0.01, 0.02, 0.06] → 0.03, 0.04, 0.06 rejects two; in [0.01, 0.03, 0.04] the 0.04 alone would pass,
  # but the step-down stopped at 0.03·2 = 0.06 (carried), so it rejects one.
  assert list(holm_bonferroni([0.01, 0.02, 0.06]) < 0.05) == [True, True, False]
  assert list(holm_bonferroni([0.01, 0.03, 0.04]) < 0.05) == [True, False, False]


def test_the_statistics_run_in_float64_on_the_protocols_float32_scores():
  # the protocol's per-seed test accuracies are float32 (protocol.score); a float32 mean or difference would round
  rng = np.random.default_rng(2)
  found, base = rng.uniform(0.9, 0.91, 7).astype(np.float32), rng.uniform(0.9, 0.91, 7).astype(np.float32)
  f64, b64 = found.astype(np.float64), base.astype(np.float64)
  assert mean_interval(found) == mean_interval(f64)
  assert paired_difference(found, base) == paired_difference(f64, b64) == mean_interval(f64 - b64)
  p = rng.uniform(0.001, 0.05, 5).astype(np.float32)  # and Holm's products m · p, on float32 p-values
  np.testing.assert_array_equal(holm_bonferroni(p), _holm_by_hand(p.astype(np.float64)))


def test_two_seeds_give_a_student_t_interval_with_one_degree_of_freedom():
  ci = mean_interval([0.2, 0.19])
  half = stats.t.ppf(0.975, 1) * np.std([0.2, 0.19], ddof=1) / math.sqrt(2)  # t = 12.71: wide, but an interval
  assert (ci.low, ci.high, ci.n) == (pytest.approx(0.195 - half), pytest.approx(0.195 + half), 2)
  assert verdict(paired_difference([0.9, 0.8], [0.7, 0.61])) == "beats"  # consistent over two seeds: a claim


def test_a_defined_rho_without_a_usable_resample_has_no_interval():
  # seed 4 draws the pair indices (2, 2, 2): the only resample is constant, so no bootstrap draw exists; rho itself is
  # defined and reported, the bounds are NaN (the report says "its interval is not computable")
  ci = spearman_interval([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], resamples=1, seed=4)
  assert ci.estimate == pytest.approx(0.5) and math.isnan(ci.low) and math.isnan(ci.high) and ci.n == 3
  ci = spearman_interval([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], resamples=1, seed=0)  # indices (2, 1, 1): one draw, -1
  assert (ci.estimate, ci.low, ci.high) == (pytest.approx(0.5), pytest.approx(-1.0), pytest.approx(-1.0))


def test_spearman_is_defined_for_two_tied_pairs():
  # the ranks of (0, 0, 1, 1) are (0.5, 0.5, 2.5, 2.5), with a standard deviation of exactly 1: not constant
  for a, b in (([0, 0, 1, 1], [1, 2, 3, 4]), ([1, 2, 3, 4], [0, 0, 1, 1])):
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic) == pytest.approx(0.8944, abs=1e-4)
