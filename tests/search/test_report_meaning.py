"""report.md says what it means: a NaN rank correlation says why; the verdict names its optimizer and why that one."""

import math

import optix_evo as ox
from optix_evo.search.results import rank_correlation_lines, verdict_sentences, verdict_subject_lines

CONFIG = ox.search.preset("quick")


def _result(rc=None, participants=()):
  difference = ox.search.paired_difference([0.91, 0.92, 0.93], [0.90, 0.90, 0.91])
  comparison = {"found": "found #1", "baseline": "adam", "difference": difference._asdict(),
                "verdict": ox.search.verdict(difference)}
  final = {"participants": list(participants),
           "tasks": {"mnist1d_mlp": {"held_out": False, "comparisons": [comparison]}}}
  return ox.search.SearchResult([], [], rc, final, {}, None)


def test_a_nan_rank_correlation_says_why_and_is_not_below_the_target():
  nan = float("nan")
  for n, why in ((1, "only 1 candidate(s) reached elimination stage 1"), (4, "scores of the 4 candidates are all equal")):
    line = rank_correlation_lines(_result({"estimate": nan, "low": nan, "high": nan, "n": n}), CONFIG)[0]
    assert "not computable" in line and why in line and "below" not in line, line
  line = rank_correlation_lines(_result({"estimate": 0.2, "low": nan, "high": nan, "n": 3}), CONFIG)[0]
  assert "is below the target" in line and "interval is not computable" in line
  line = rank_correlation_lines(_result({"estimate": 0.9, "low": 0.5, "high": 1.0, "n": 9}), CONFIG)[0]
  assert "meets the target" in line and math.isfinite(0.9)


def test_the_verdict_names_its_optimizer_and_why_that_one():
  participants = [{"name": "found #2", "kind": "found", "equation": "u = sign(g)\nw ← w - η_t·u"},
                  {"name": "found #1", "kind": "found", "equation": "u = (g + v̂)\nw ← w - η_t·u"}]
  sentence = verdict_sentences(_result(participants=participants))[0]
  assert "the best found optimizer (found #1, `u = (g + v̂)`) **beats** adam" in sentence
  why = " ".join(verdict_subject_lines(_result(participants=participants), CONFIG))
  assert "found #1" in why and "last elimination stage" in why and "sorted by test accuracy" in why
  assert verdict_subject_lines(ox.search.SearchResult([], [], None, {}, {}, None), CONFIG) == []
