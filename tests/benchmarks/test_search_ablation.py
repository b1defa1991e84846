"""The bookkeeping of benchmarks/search_ablation.py, fed planted search results (no search runs here): every number
of the table must come from the right strategy, seed, task, participant and baseline."""

import importlib.util
import json
import math
import os
import sys

import numpy as np
import pytest
from scipy import stats

from optix_evo.search import SearchResult

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_module():
  path = os.path.join(ROOT, "benchmarks", "search_ablation.py")
  spec = importlib.util.spec_from_file_location("search_ablation", path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module
  spec.loader.exec_module(module)
  return module


ab = _load_module()
SEEDS = (0, 1, 2)
SEARCH, HELD = "mnist1d_mlp", "digits_mlp"
# Planted truth per (strategy, seed): final fitness, and per task found #1's per-seed test accuracies and its
# difference vs adam. Values differ between strategies, seeds and tasks, and the per-seed GA − random differences
# are uneven, so pairing by position instead of seed changes the interval.
FITNESS = {("ga", 0): 0.80, ("ga", 1): 0.90, ("ga", 2): 0.85, ("random", 0): 0.78, ("random", 1): 0.86,
           ("random", 2): 0.845}
TEST = {(s, seed, task): [base + 0.01 * seed + (0.1 if task == HELD else 0.0) + (0.03 if s == "ga" else 0.0) + d
                          for d in (0.02, -0.02, 0.01, -0.01, 0.0)]
        for s in ("ga", "random") for seed in SEEDS for task in (SEARCH, HELD) for base in [0.6 + 0.02 * seed ** 2]}
TEST[("random", 1, HELD)][2] = float("nan")  # a divergent final seed counts as 0
DIFF = {(s, seed, task): (0.011 * (seed + 1) ** 2 if s == "ga" else -0.004 * (seed + 1)) + (0.05 if task == HELD else 0)
        for s in ("ga", "random") for seed in SEEDS for task in (SEARCH, HELD)}
POOL = {0: 0.5, 1: 0.55, 2: 0.52}


def _diff(estimate):
  return {"estimate": estimate, "low": estimate - 0.01, "high": estimate + 0.01, "n": 5}


def fake_result(strategy, seed):
  """A SearchResult shaped like the driver's, with the planted numbers (and decoys that a mix-up would read)."""
  fit = FITNESS[(strategy, seed)]
  hall = [{"rank": 1, "stage_fitness": [fit - 0.07, fit], "equation": f"{strategy}-{seed}-best",
           "surrogate_fitness": 0},
          {"rank": 2, "stage_fitness": [fit - 0.2, fit - 0.1], "equation": "second", "surrogate_fitness": 0}]
  # participants in an order the driver does not use, so that an index instead of a name lookup reads a decoy
  participants = [{"name": n} for n in ("found #2", "sgd", "found #1", "adam")]
  tasks = {}
  for task in (HELD, SEARCH):  # held-out task listed first: the bookkeeping must not rely on the order
    found = TEST[(strategy, seed, task)]
    d = DIFF[(strategy, seed, task)]
    tasks[task] = {
        "held_out": task == HELD,
        "test": [[0.1] * 5, [0.2] * 5, found, [0.3] * 5],
        "learning_rate": [1.0, 0.1, 0.01 if strategy == "ga" else 0.001, 1e-4],
        "comparisons": [{"found": "found #2", "baseline": "adam", "difference": _diff(-0.5), "verdict": "loses"},
                        {"found": "found #1", "baseline": "sgd", "difference": _diff(0.4), "verdict": "beats"},
                        {"found": "found #1", "baseline": "adam", "difference": _diff(d),
                         "verdict": "beats" if d > 0.01 else "ties"}],
    }
  gens = [{"best": POOL[seed], "median": 0.3},
          {"best": POOL[seed] + 0.1 + (0.05 if strategy == "ga" else 0), "median": 0.35},
          {"best": POOL[seed] + 0.05, "median": 0.33}]  # the best generation is not the last
  timing = {"wall_s": 100.0 + seed, "compile_and_trace_s": 30.0, "compilations": 12, "cache_hits": 3}
  return SearchResult(hall, gens, {"estimate": 0.6 if strategy == "ga" else 0.4}, {"participants": participants,
                                                                                   "tasks": tasks}, timing, None)


def records(order=None):
  keys = order or [(s, seed) for s in ("ga", "random") for seed in SEEDS]
  return [ab.run_record(fake_result(s, seed), strategy=s, seed=seed) for s, seed in keys]


def t_interval(x):
  x = np.asarray(x, float)
  half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
  return x.mean(), x.mean() - half, x.mean() + half


def test_run_record_reads_found_1_against_the_baseline_per_task():
  r = ab.run_record(fake_result("random", 1), strategy="random", seed=1)
  assert (r["strategy"], r["seed"]) == ("random", 1)
  assert r["best_final_fitness"] == FITNESS[("random", 1)]  # the last stage's fitness of hall-of-fame #1
  assert r["equation"] == "random-1-best"
  for task in (SEARCH, HELD):
    t = r["tasks"][task]
    assert t["held_out"] == (task == HELD)
    np.testing.assert_allclose(t["found_test"], np.mean(np.nan_to_num(TEST[("random", 1, task)], nan=0.0)))
    assert t["baseline_test"] == pytest.approx(0.3)
    assert t["difference"] == pytest.approx(DIFF[("random", 1, task)])
    assert t["found_lr"] == 0.001 and t["baseline_lr"] == 1e-4
  assert r["tasks"][HELD]["found_test"] < np.nanmean(TEST[("random", 1, HELD)])  # the NaN seed counted as 0
  assert (r["wall_s"], r["compile_s"], r["compilations"], r["cache_hits"]) == (101.0, 30.0, 12, 3)
  assert r["best_surrogate"] == pytest.approx(POOL[1] + 0.1)
  with pytest.raises(ValueError, match="no participant 'lion'"):
    ab.run_record(fake_result("ga", 0), strategy="ga", seed=0, baseline="lion")


def _expected_rows():
  """label prefix → (GA values, random values) by seed, computed from the planted truth."""
  def per(fn):
    return ([fn("ga", s) for s in SEEDS], [fn("random", s) for s in SEEDS])
  found = lambda task: per(lambda st, s: np.mean(np.nan_to_num(TEST[(st, s, task)], nan=0.0)))  # noqa: E731
  return {"best final fitness": per(lambda st, s: FITNESS[(st, s)]),
          f"`{HELD}` (held out): found #1 test": found(HELD),
          f"`{HELD}` (held out): found #1 − adam": per(lambda st, s: DIFF[(st, s, HELD)]),
          f"`{SEARCH}` (search task): found #1 test": found(SEARCH),
          f"`{SEARCH}` (search task): found #1 − adam": per(lambda st, s: DIFF[(st, s, SEARCH)])}


# Records in a shuffled order: a mix-up of strategies or seeds changes the numbers.
SHUFFLED = [("random", 2), ("ga", 1), ("random", 0), ("ga", 2), ("random", 1), ("ga", 0)]


def test_table_rows_pair_strategies_by_seed_with_t_intervals():
  rows = ab.table_rows(records(SHUFFLED))
  expected = _expected_rows()
  assert [r.label for r in rows[:5]] == [next(r.label for r in rows if r.label.startswith(k)) for k in expected]
  for prefix, (ga_values, random_values) in expected.items():
    row = next(r for r in rows if r.label.startswith(prefix))
    assert row.seeds == SEEDS
    np.testing.assert_allclose(tuple(row.ga)[:3], t_interval(ga_values), err_msg=prefix)
    np.testing.assert_allclose(tuple(row.random)[:3], t_interval(random_values), err_msg=prefix)
    d = t_interval(np.subtract(ga_values, random_values))
    np.testing.assert_allclose(tuple(row.difference)[:3], d, err_msg=prefix)
    assert row.verdict == ("beats" if d[1] > 0 else "loses" if d[2] < 0 else "ties"), prefix
  # the planted data make the verdicts differ, so a verdict read from the wrong row fails too
  by = {p: next(r for r in rows if r.label.startswith(p)).verdict for p in expected}
  assert by["best final fitness"] == "ties" and by[f"`{SEARCH}` (search task): found #1 test"] == "beats"


def test_markdown_table_holds_the_rows_and_every_run():
  recs = records(SHUFFLED)
  md = ab.markdown(recs, command="python benchmarks/search_ablation.py --seeds 0 1 2")
  assert "python benchmarks/search_ablation.py --seeds 0 1 2" in md
  for prefix, (ga_values, random_values) in _expected_rows().items():
    line = next(l for l in md.splitlines() if l.startswith(f"| {prefix}"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    m, lo, hi = t_interval(ga_values)
    assert cells[1] == f"{m:.4f} [{lo:.4f}, {hi:.4f}]", (prefix, cells)
    m, lo, hi = t_interval(random_values)
    assert cells[2] == f"{m:.4f} [{lo:.4f}, {hi:.4f}]", (prefix, cells)
    m, lo, hi = t_interval(np.subtract(ga_values, random_values))
    assert cells[3] == f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]", (prefix, cells)
  # the per-run table: one line per run, in seed order, with that run's own numbers
  runs = [l for l in md.splitlines() if l.startswith("| ga |") or l.startswith("| random |")]
  assert [tuple(c.strip() for c in l.split("|")[1:3]) for l in runs] == [(s, str(seed)) for seed in SEEDS
                                                                         for s in ("ga", "random")]
  line = runs[3]  # random, seed 1
  assert f"| {FITNESS[('random', 1)]:.4f} |" in line and "| 101 | 30 (12 / 3) |" in line
  search_cell = f"{np.mean(TEST[('random', 1, SEARCH)]):.4f} (0.001)"
  held_cell = f"{np.mean(np.nan_to_num(TEST[('random', 1, HELD)], nan=0.0)):.4f} (0.001)"
  assert line.index(search_cell) < line.index(held_cell)  # search task column first
  assert "random, seed 1:\n\n```\nrandom-1-best\n```" in md
  assert "- generation-0 pool (best surrogate fitness): yes." in md


def test_unpaired_duplicate_or_incomparable_records_are_refused():
  recs = records()
  with pytest.raises(ValueError, match="no run for random seed 2"):
    ab.table_rows([r for r in recs if (r["strategy"], r["seed"]) != ("random", 2)])
  with pytest.raises(ValueError, match="Two records for strategy 'ga' and seed 1"):
    ab.table_rows(recs + [recs[1]])
  other = dict(recs[0], tasks={SEARCH: recs[0]["tasks"][SEARCH]})
  with pytest.raises(ValueError, match="not comparable"):
    ab.table_rows([other] + recs[1:])


def test_a_pairing_that_does_not_hold_is_reported():
  recs = records()
  assert all(not bad for bad in ab.pairing_mismatches(recs).values())
  recs[4]["generations"][0]["best"] += 0.01  # random, seed 1: another pool
  recs[2]["tasks"][HELD]["baseline_test"] += 0.01  # ga, seed 2: other adam runs on the held-out task
  assert ab.pairing_mismatches(recs) == {"generation-0 pool (best surrogate fitness)": [1],
                                         f"adam on `{SEARCH}` (test accuracy)": [],
                                         f"adam on `{HELD}` (test accuracy)": [2]}
  md = ab.markdown(recs, command="x")
  assert "- generation-0 pool (best surrogate fitness): **no**, for seeds [1]" in md
  assert f"- adam on `{SEARCH}` (test accuracy): yes." in md
  assert f"- adam on `{HELD}` (test accuracy): **no**, for seeds [2]" in md


def test_from_json_writes_the_table_and_plot(tmp_path):
  path = tmp_path / "in.json"
  path.write_text(json.dumps({"format": ab.FORMAT, "command": "nice -n 10 python benchmarks/search_ablation.py",
                              "settings": {"particles": 6, "strategy": "ga"}, "records": records()}))
  assert ab.main(["--from-json", str(path), "--out", str(tmp_path / "out")]) == 0
  md = (tmp_path / "out" / "search_ablation.md").read_text()
  assert "nice -n 10 python benchmarks/search_ablation.py" in md and "particles = 6" in md
  assert "strategy = " not in md
  assert (tmp_path / "out" / "search_ablation.png").read_bytes()[:4] == b"\x89PNG"
