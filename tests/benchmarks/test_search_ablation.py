"""The bookkeeping of benchmarks/search_ablation.py on planted runs (no search here): incumbents, anytime curves on a
CPU-time grid, bands, pairing by seed, the direction of every difference, the curves' shape, the report."""

import importlib.util
import os
import sys

import numpy as np
import pytest
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_module():
  path = os.path.join(ROOT, "benchmarks", "search_ablation.py")
  spec = importlib.util.spec_from_file_location("search_ablation", path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module
  spec.loader.exec_module(module)
  return module


ab = _load_module()
LABEL = "a+b"


def test_incumbent_is_the_best_unrejected_evolution_record_so_far():
  generations = [{"generation": 0, "cpu_seconds": 60.0}, {"generation": 1, "cpu_seconds": 30.0},
                 {"generation": 2, "cpu_seconds": 90.0}]
  rec = lambda g, fp, f, task=LABEL, rejected=False: {"generation": g, "fingerprint": fp, "fitness": f,  # noqa: E731
                                                      "task": task, "rejected": rejected}
  archive = [rec(0, "p", 0.5), rec(0, "q", 0.9, task="pool"), rec(1, "r", 0.7), rec(1, "s", 0.95, rejected=True),
             rec(2, "t", 0.6), rec(2, "u", 0.7)]
  curve = ab.incumbents(generations, archive, LABEL)
  assert [p["fingerprint"] for p in curve] == ["p", "r", "r"]  # pool-task and rejected records never; first of ties
  assert [p["cpu_min"] for p in curve] == [1.0, 1.5, 3.0] and [p["candidates"] for p in curve] == [2, 4, 6]


def test_on_grid_reads_the_step_function():
  curve = [{"cpu_min": 1.0, "held_out": 0.2}, {"cpu_min": 2.0, "held_out": 0.5}, {"cpu_min": 4.0, "held_out": 0.4}]
  got = ab.on_grid(curve, [0.5, 1.0, 1.9, 2.0, 3.9, 5.0])
  np.testing.assert_array_equal(got, [np.nan, 0.2, 0.2, 0.5, 0.5, 0.4])


def _record(arm, seed, values, cpu):
  strategy = arm.replace("+warm", "")
  return {"arm": arm, "strategy": strategy, "warm": "+warm" in arm, "seed": seed, "equation": "u = g",
          "pool": [f"pool{seed}-{i}" for i in range(3)], "warm_start": ["adam"] if "+warm" in arm else [],
          "curve": [{"generation": g, "cpu_min": c, "candidates": 4 * (g + 1), "fingerprint": f"{arm}{seed}{g}",
                     "search_fitness": v + 0.1, "held_out": v} for g, (v, c) in enumerate(zip(values, cpu))]}


SEED_EFFECT = {0: 0.0, 1: 0.3, 2: -0.2}


def _records():
  out = []
  for seed, e in SEED_EFFECT.items():
    out.append(_record("random", seed, [0.5 + e, 0.5 + e, 0.52 + e], [1.0, 2.0, 3.0]))
    out.append(_record("ga", seed, [0.5 + e, 0.55 + e, 0.56 + e + 0.001 * seed], [1.0, 2.1, 3.2]))
    out.append(_record("regularized", seed, [0.5 + e, 0.6 + e, 0.7 + e + 0.002 * seed], [1.1, 2.0, 2.9]))
    out.append(_record("regularized+warm", seed, [0.6 + e, 0.62 + e, 0.72 + e + 0.004 * seed], [1.0, 2.0, 3.0]))
  return out


def test_differences_are_first_minus_second_and_paired_by_seed():
  records = _records()
  rows = {r.label: r for r in ab.comparisons(records, "regularized+warm")}
  row = rows["held-out fitness after the whole budget: regularized − random"]
  d = np.array([0.7 + 0.002 * s - 0.52 for s in SEED_EFFECT])
  assert row.difference.estimate == pytest.approx(d.mean())
  half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
  assert row.difference.low == pytest.approx(d.mean() - half)  # paired: the ±0.3 seed effect cancels
  assert row.verdict == "beats" and row.seeds == (0, 1, 2)
  # unpaired, the seed effect would swamp the 0.18 difference: the arms' own intervals overlap
  assert row.a_value.low < row.b_value.high
  warm = rows["held-out fitness: regularized+warm − regularized"]
  assert warm.difference.estimate == pytest.approx(np.mean([0.02 + 0.002 * s for s in SEED_EFFECT]))
  # at equal CPU time: the grid ends at the shortest run (2.9 min), where ga is still at 0.55 + e and random at 0.5 + e
  at = rows[[k for k in rows if k.startswith("held-out fitness at") and k.endswith("ga − random")][0]]
  assert "2.9 CPU-min" in at.label and at.difference.estimate == pytest.approx(0.05)


def test_a_duplicate_record_is_refused_and_a_broken_pairing_reported():
  records = _records()
  with pytest.raises(ValueError, match="Two records"):
    ab.by_arm(records + [records[0]])
  assert ab.pairing_mismatches(records) == []
  records[1] = {**records[1], "pool": ["other"]}
  assert ab.pairing_mismatches(records) == ["seed 0"]


def test_curve_shape_tells_rising_from_flat():
  records = _records()
  flat = [_record("random", s, [0.5 + e] * 3, [1.0, 2.0, 3.0]) for s, e in SEED_EFFECT.items()]
  rising = [_record("ga", s, [0.3 + e, 0.5 + e, 0.8 + e], [1.0, 2.0, 3.0]) for s, e in SEED_EFFECT.items()]
  assert ab.curve_shape(flat + rising, "random") == "flat"
  assert ab.curve_shape(flat + rising, "ga") == "rising"
  assert ab.curve_shape(records, "regularized") in ("rising", "flat")


def test_report_and_plot(tmp_path):
  data = {"format": ab.FORMAT, "command": "python benchmarks/search_ablation.py --preset cpu", "warm_arm":
          "regularized+warm", "held_out_protocol": "200-step run, 2 seeds", "records": _records(),
          "settings": {"task": "mnist1d_mlp", "family": ["digits_cnn"], "normalise": "adam",
                       "holdout_tasks": ["wine_dnm"], "particles": 4}}
  md, png = ab.write(str(tmp_path), data)
  text = open(md, encoding="utf-8").read()
  assert "regularized − random" in text and "`wine_dnm`" in text and "Pairing checked" in text
  assert "seeded with adam" in text and os.path.getsize(png) > 10_000
