"""The decisions of :mod:`optix_evo.search.protocol` on planted outcomes (a fake evaluator, no training): the exact
refusals of :class:`Protocol` at each boundary, its budgets, the probe order, which probe wins under each rule set,
which candidate is rejected (each threshold at its boundary), what a rejected or stopped candidate scores, what every
call to the evaluator receives (members, seeds, rates, budget) and what :func:`tune` chooses and reports."""

import re

import jax
import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.search.evaluate import WORST, Budget, Outcome
from optix_evo.search.protocol import Protocol, probe_choice, probe_score, score, seed_keys, tune


class FakeEvaluator:
  """``outcome(candidate, lr, kind, seed_index) -> dict`` (fields of :class:`Outcome`, defaults below); ``kind`` is
  "probe" when the call passes ``validate=False``, else "run". Records every call."""

  DEFAULT = {"best_valid": 0.5, "test": 0.4, "train_accuracy": 0.6, "diverged": False, "stopped": False,
             "best_train_accuracy": None}

  def __init__(self, outcome, seed=0, seeds=4, spec=None):
    self.outcome, self.calls, self.spec = outcome, [], spec
    self.run_keys = [tuple(k) for k in seed_keys(seed, seeds)]

  def __call__(self, genomes, keys, learning_rates, budget, **kwargs):
    keys, lrs = np.asarray(keys), np.asarray(learning_rates, np.float64)
    ids = np.asarray(genomes["id"]).ravel() if isinstance(genomes, dict) else np.full(len(keys), -1)
    kind = "probe" if kwargs.get("validate", True) is False else "run"
    self.calls.append({"ids": ids.tolist(), "keys": keys, "lrs": lrs.tolist(), "budget": budget, "kwargs": kwargs,
                       "kind": kind})
    rows = []
    for i, lr, key in zip(ids, lrs, keys):
      s = self.run_keys.index(tuple(key)) if tuple(key) in self.run_keys else -1
      rows.append({**self.DEFAULT, **self.outcome(int(i), float(lr), kind, s)})
    col = lambda f: np.asarray([r[f] for r in rows])  # noqa: E731
    best_train = None if any(r["best_train_accuracy"] is None for r in rows) else col("best_train_accuracy")
    return Outcome(col("best_valid"), col("test"), col("train_accuracy"), np.full(len(rows), budget.steps),
                   col("diverged"), col("stopped"), best_train)


def _genomes(n):
  return {"id": np.arange(n)[:, None]}


def _near(lr, value):
  return abs(lr - value) < 1e-6 * value


# ---- Protocol: refusals at each boundary, budgets, order --------------------------------------------------------------

REFUSALS = [
    (dict(steps=0), "Protocol steps must be positive, got 0."),
    (dict(steps=10, probe_steps=-1), "probe_steps=-1 must be in [0, steps=10]."),
    (dict(steps=10, probe_steps=11), "probe_steps=11 must be in [0, steps=10]."),
    (dict(steps=10, lr_grid=()), "lr_grid must be a non-empty tuple of positive learning rates, got ()."),
    (dict(steps=10, lr_grid=(0.1, 0.0)), "lr_grid must be a non-empty tuple of positive learning rates, got (0.1, 0.0)."),
    (dict(steps=10, lr_grid=(float("nan"),)), "lr_grid must be a non-empty tuple of positive learning rates, got (nan,)."),
    (dict(steps=10, seeds=0), "seeds must be at least 1, got 0."),
    (dict(steps=10, rules="keras"), "rules must be one of library, nos, got 'keras'."),
    (dict(steps=10, lr_grid=(0.1, 0.01), probe_first=(0.001,)),
     "probe_first must name distinct rates of lr_grid=(0.1, 0.01), got (0.001,)."),
    (dict(steps=10, lr_grid=(0.1, 0.01), probe_first=(0.1, 0.1)),
     "probe_first must name distinct rates of lr_grid=(0.1, 0.01), got (0.1, 0.1)."),
    (dict(steps=10, epoch=0), "epoch must be positive, got 0."),
    (dict(steps=10, probe_epoch=0), "probe_epoch must be positive, got 0."),
    (dict(steps=10, warmup_steps=-1), "warmup_steps must be non-negative, got -1."),
    (dict(steps=10, warmup_steps=2, hold_steps=-1),
     "warmup_steps=2 plus hold_steps=-1 must be smaller than steps=10."),
    (dict(steps=10, warmup_steps=6, hold_steps=4), "warmup_steps=6 plus hold_steps=4 must be smaller than steps=10."),
    (dict(steps=10, probe_steps=10, lr_grid=(0.1, 0.01)),
     "warmup_steps=10 plus hold_steps=0 must be smaller than steps=10."),
]


@pytest.mark.parametrize("kwargs,message", REFUSALS)
def test_protocol_refuses_each_bad_field_with_its_exact_message(kwargs, message):
  with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
    Protocol(**kwargs)


def test_protocol_accepts_each_boundary():
  Protocol(steps=1, warmup_steps=0)  # one step, no warmup
  Protocol(steps=10, probe_steps=0)
  Protocol(steps=10, probe_steps=9, lr_grid=(0.1, 0.01))  # warmup 9 < 10
  Protocol(steps=10, probe_steps=10, lr_grid=(0.1,))  # a one-rate grid has no probes: warmup steps // 10
  Protocol(steps=10, seeds=1, epoch=1, probe_epoch=1, warmup_steps=0, hold_steps=9)
  Protocol(steps=10, warmup_steps=5, hold_steps=4)
  Protocol(steps=10, rules="nos", lr_grid=(0.1, 0.01), probe_first=(0.01, 0.1))
  Protocol(steps=10, lr_grid=(1e-9,))


def test_warmup_and_probes():
  assert Protocol(100).warmup == 10 and not Protocol(100).probes  # steps // 10
  assert Protocol(109).warmup == 10
  assert Protocol(100, probe_steps=20).warmup == 20 and Protocol(100, probe_steps=20).probes
  one = Protocol(100, lr_grid=(0.1,), probe_steps=20)
  assert not one.probes and one.warmup == 10  # a one-value grid: no probes, so no probe-length warmup
  assert Protocol(100, probe_steps=20, warmup_steps=0).warmup == 0
  assert Protocol(100, probe_steps=20, warmup_steps=7).warmup == 7
  assert not Protocol(100, lr_grid=(0.1, 0.01), probe_steps=0).probes


def test_budgets_are_exactly_the_protocols_fields():
  p = Protocol(100, lr_grid=(0.1, 0.01), probe_steps=20, hold_steps=5, probe_min_accuracy=0.25, probe_check_after=2,
               run_min_accuracy=0.4, run_check_after=3)
  assert p.run_budget() == Budget(100, 100, 20, 25, 0.4, 3, 5)
  assert p.probe_budget() == Budget(20, 100, 20, 5, 0.25, 2, 5)
  q = Protocol(103, lr_grid=(0.1, 0.01), probe_steps=9, epoch=7, probe_epoch=3)
  assert q.run_budget() == Budget(103, 103, 9, 7, 0.0, 0, 0)
  assert q.probe_budget() == Budget(9, 103, 9, 3, 0.0, 0, 0)
  tiny = Protocol(3, lr_grid=(0.1, 0.01), probe_steps=2)  # steps // 4 and probe_steps // 4 are 0: at least 1
  assert tiny.run_budget().epoch == 1 and tiny.probe_budget().epoch == 1
  assert Protocol(7, lr_grid=(0.1, 0.01), probe_steps=6).probe_budget().epoch == 1
  assert Protocol(8, lr_grid=(0.1, 0.01), probe_steps=0).run_budget() == Budget(8, 8, 0, 2, 0.0, 0, 0)


def test_probe_order_is_probe_first_then_the_rest_in_grid_order():
  grid = (1.0, 0.1, 0.01, 0.001, 1e-4)
  assert Protocol(50, lr_grid=grid, probe_steps=5).probe_order() == (0, 1, 2, 3, 4)
  assert Protocol(50, lr_grid=grid, probe_steps=5, probe_first=(0.001, 1.0)).probe_order() == (3, 0, 1, 2, 4)
  assert Protocol(50, lr_grid=grid, probe_steps=5, probe_first=(1e-4,)).probe_order() == (4, 0, 1, 2, 3)


def test_seed_keys_fold_each_index_into_the_root_key():
  keys = seed_keys(17, 3)
  assert keys.shape == (3, 2) and keys.dtype == np.uint32
  for s in range(3):
    np.testing.assert_array_equal(keys[s], np.asarray(jax.random.fold_in(jax.random.PRNGKey(17), s)))
  assert not np.array_equal(seed_keys(18, 1)[0], keys[0])


# ---- probe_choice and probe_score --------------------------------------------------------------------------------------

def test_probe_choice_reads_divergence_and_ties_by_the_rules_and_the_order():
  acc = np.array([[0.5, 0.9, 0.7], [0.6, 0.6, 0.6], [np.nan, 0.3, -np.inf], [0.8, 0.8, 0.2]])
  div = np.array([[False, True, False], [False] * 3, [False] * 3, [True, False, False]])
  index, best = probe_choice(acc, div)
  assert index.tolist() == [2, 0, 1, 1] and best.tolist() == [0.7, 0.6, 0.3, 0.8]
  index, best = probe_choice(acc, div, rules="nos")  # a divergent probe competes with what it reached
  assert index.tolist() == [1, 0, 1, 0] and best.tolist() == [0.9, 0.6, 0.3, 0.8]
  index, best = probe_choice(acc, div, order=[2, 1, 0])  # the first of equals in the probe order
  assert index.tolist() == [2, 2, 1, 1] and best.tolist() == [0.7, 0.6, 0.3, 0.8]
  index, best = probe_choice(acc, div, order=[1, 2, 0], rules="nos")
  assert index.tolist() == [1, 1, 1, 1] and best.tolist() == [0.9, 0.6, 0.3, 0.8]
  index, best = probe_choice(np.array([[np.nan, -np.inf], [0.5, 0.5]]), np.array([[False, False], [True, True]]))
  assert best.tolist() == [-np.inf, -np.inf]
  assert probe_choice(np.array([[0.5, 0.5]]), np.array([[True, True]]), rules="nos")[1].tolist() == [0.5]


def test_probe_score_is_the_last_epoch_or_under_nos_the_best_epoch():
  out = Outcome(np.zeros(2), np.zeros(2), np.array([0.3, 0.5], np.float32), np.zeros(2), np.zeros(2, bool),
                np.zeros(2, bool), np.array([0.7, 0.5], np.float32))
  assert probe_score(out).tolist() == [pytest.approx(0.3), 0.5]
  assert probe_score(out, "library").dtype == np.float64
  assert probe_score(out, "nos").tolist() == [pytest.approx(0.7), 0.5] and probe_score(out, "nos").dtype == np.float64
  without = out._replace(best_train_accuracy=None)
  assert probe_score(without, "nos").tolist() == [pytest.approx(0.3), 0.5]


# ---- score: what each call receives --------------------------------------------------------------------------------

GRID = (1.0, 0.1, 0.01, 0.001)


def test_score_calls_probes_then_full_runs_with_the_protocols_members_seeds_rates_and_budgets():
  def outcome(i, lr, kind, s):
    if kind == "probe":
      return {"train_accuracy": 0.9 if _near(lr, [0.1, 0.001, 1.0][i]) else 0.5}
    return {"best_valid": 0.6 + 0.1 * s + 0.01 * i, "test": 0.5 + 0.1 * s}

  p = Protocol(40, lr_grid=GRID, probe_steps=8, seeds=3, probe_first=(0.01, 1.0), probe_first_min_accuracy=0.0)
  ev = FakeEvaluator(outcome, seed=11, seeds=3)
  s = score(ev, _genomes(3), p, seed=11)
  probe1, probe2, full = ev.calls
  assert [c["kind"] for c in ev.calls] == ["probe", "probe", "run"]
  assert probe1["kwargs"] == {"validate": False} and probe2["kwargs"] == {"validate": False}
  assert "validate" not in full["kwargs"] or full["kwargs"]["validate"] is True
  assert probe1["ids"] == [0, 0, 1, 1, 2, 2] and np.allclose(probe1["lrs"], [0.01, 1.0] * 3)  # member by member
  assert probe2["ids"] == [0, 0, 1, 1, 2, 2] and np.allclose(probe2["lrs"], [0.1, 0.001] * 3)
  probe_key = seed_keys(11 + 7919, 1)[0]
  for c in (probe1, probe2):
    assert c["budget"] == p.probe_budget() and (c["keys"] == probe_key).all()
  assert full["budget"] == p.run_budget()
  assert full["ids"] == [0, 0, 0, 1, 1, 1, 2, 2, 2] and np.allclose(full["lrs"], [0.1] * 3 + [0.001] * 3 + [1.0] * 3)
  np.testing.assert_array_equal(full["keys"], np.tile(seed_keys(11, 3), (3, 1)))
  np.testing.assert_allclose(s.learning_rate, [0.1, 0.001, 1.0])
  np.testing.assert_allclose(s.valid, [[0.6, 0.7, 0.8], [0.61, 0.71, 0.81], [0.62, 0.72, 0.82]], rtol=1e-6)
  np.testing.assert_allclose(s.test, np.tile([0.5, 0.6, 0.7], (3, 1)), rtol=1e-6)
  np.testing.assert_allclose(s.fitness, [0.7, 0.71, 0.72], rtol=1e-6)
  assert s.runs == 3 * 4 + 3 * 3 and s.grid_valid is None
  assert not s.rejected.any() and not s.diverged.any() and not s.stopped.any() and not s.probe_rejected.any()


def test_score_without_probes_trains_every_candidate_at_the_first_rate():
  ev = FakeEvaluator(lambda i, lr, kind, s: {"best_valid": 0.3 + 0.1 * i})
  s = score(ev, _genomes(2), Protocol(20, lr_grid=(0.05, 0.5), probe_steps=0, seeds=1), seed=0)
  assert [c["kind"] for c in ev.calls] == ["run"] and np.allclose(ev.calls[0]["lrs"], [0.05, 0.05])
  np.testing.assert_allclose(s.learning_rate, [0.05, 0.05])
  np.testing.assert_allclose(s.fitness, [0.3, 0.4])
  assert s.runs == 2


def _probe_table(first_round, rest):
  """Candidate ``i``'s probes: ``first_round[i]`` at 1.0 and 0.01 (the first round), ``rest[i]`` at 0.1 and 0.001."""
  def outcome(i, lr, kind, s):
    del s
    if kind == "run":
      return {"best_valid": 0.55}
    values = first_round[i] if _near(lr, 1.0) or _near(lr, 0.01) else rest[i]
    k = 0 if _near(lr, 1.0) or _near(lr, 0.1) else 1
    return {"train_accuracy": values[k]}
  return outcome


def test_the_first_probe_round_rejects_only_when_every_first_probe_is_below_its_threshold():
  first_round = [(0.2, 0.24), (0.25, 0.1), (0.1, 0.3), (0.24, 0.24)]
  rest = [(0.9, 0.9)] * 4
  p = Protocol(40, lr_grid=GRID, probe_steps=8, probe_first=(1.0, 0.01), probe_first_min_accuracy=0.25)
  ev = FakeEvaluator(_probe_table(first_round, rest))
  s = score(ev, _genomes(4), p, seed=0)
  assert s.probe_rejected.tolist() == [True, False, False, True] == s.rejected.tolist()
  assert ev.calls[1]["ids"] == [1, 1, 2, 2]  # the second round only for the first round's survivors
  assert ev.calls[2]["ids"] == [1, 2] and s.runs == 4 * 2 + 2 * 2 + 2
  assert (s.fitness[[0, 3]] == WORST).all() and (s.valid[[0, 3]] == WORST).all() and np.isnan(s.test[[0, 3]]).all()
  assert s.valid.dtype == np.float32 and s.test.dtype == np.float32


def test_a_first_round_that_rejects_everyone_runs_no_other_probe_and_no_full_run():
  p = Protocol(40, lr_grid=GRID, probe_steps=8, probe_first=(1.0, 0.01), probe_first_min_accuracy=0.25)
  ev = FakeEvaluator(_probe_table([(0.1, 0.1)] * 2, [(0.9, 0.9)] * 2))
  s = score(ev, _genomes(2), p, seed=0)
  assert len(ev.calls) == 1 and s.rejected.all() and s.runs == 4 and (s.fitness == WORST).all()


def test_a_divergent_first_probe_counts_as_failed_under_library_rules_only():
  def outcome(i, lr, kind, s):
    del i, s
    if kind == "run":
      return {"best_valid": 0.55}
    return {"train_accuracy": 0.5, "diverged": _near(lr, 1.0)} if _near(lr, 1.0) else {"train_accuracy": 0.1}

  for rules, rejected in (("library", True), ("nos", False)):
    p = Protocol(40, lr_grid=GRID, probe_steps=8, probe_first=(1.0, 0.01), probe_first_min_accuracy=0.25,
                 rules=rules)
    assert score(FakeEvaluator(outcome), _genomes(1), p, seed=0).probe_rejected.tolist() == [rejected]


def test_the_best_probe_must_reach_its_threshold():
  rest = [(0.39, 0.1), (0.4, 0.1), (0.1, 0.41)]
  p = Protocol(40, lr_grid=GRID, probe_steps=8, probe_first=(1.0, 0.01), best_probe_min_accuracy=0.4)
  s = score(FakeEvaluator(_probe_table([(0.0, 0.0)] * 3, rest)), _genomes(3), p, seed=0)
  assert s.probe_rejected.tolist() == [True, False, False] == s.rejected.tolist()
  assert np.allclose(s.learning_rate[1:], [0.1, 0.001])


def test_a_candidate_whose_every_probe_diverged_is_rejected_even_without_a_threshold():
  def outcome(i, lr, kind, s):
    del lr, s
    return {"best_valid": 0.55} if kind == "run" else {"train_accuracy": 0.5, "diverged": i == 0}

  s = score(FakeEvaluator(outcome), _genomes(2), Protocol(40, lr_grid=GRID, probe_steps=8), seed=0)
  assert s.probe_rejected.tolist() == [True, False] and s.fitness.tolist() == [WORST, pytest.approx(0.55)]
  s = score(FakeEvaluator(outcome), _genomes(2), Protocol(40, lr_grid=GRID, probe_steps=8, rules="nos"), seed=0)
  assert s.probe_rejected.tolist() == [False, False]  # under nos a divergent probe keeps what it reached


def test_library_rules_reject_a_stopped_run_or_one_without_any_finite_seed():
  plan = {0: [(0.6, False), (0.7, False)], 1: [(0.6, False), (0.7, True)], 2: [(WORST, False), (WORST, False)],
          3: [(WORST, False), (0.8, False)]}
  ev = FakeEvaluator(lambda i, lr, kind, s: {"best_valid": plan[i][s][0], "stopped": plan[i][s][1],
                                             "diverged": i == 3 and s == 0}, seeds=2)
  s = score(ev, _genomes(4), Protocol(20, lr_grid=(0.1,), seeds=2), seed=0)
  assert s.rejected.tolist() == [False, True, True, False]
  assert s.stopped.tolist() == [False, True, False, False] and s.diverged.tolist() == [False, False, False, True]
  np.testing.assert_allclose(s.fitness, [0.65, WORST, WORST, (WORST + 0.8) / 2], rtol=1e-6)
  assert not s.probe_rejected.any()


def test_nos_rules_keep_a_stopped_run_and_count_a_seed_without_a_finite_epoch_as_zero():
  plan = {0: [(0.6, False), (0.7, True)], 1: [(WORST, False), (0.8, False)], 2: [(WORST, True), (WORST, False)]}
  ev = FakeEvaluator(lambda i, lr, kind, s: {"best_valid": plan[i][s][0], "stopped": plan[i][s][1]}, seeds=2)
  s = score(ev, _genomes(3), Protocol(20, lr_grid=(0.1,), seeds=2, rules="nos"), seed=0)
  assert not s.rejected.any() and s.stopped.tolist() == [True, False, True]
  np.testing.assert_allclose(s.fitness, [0.65, 0.4, 0.0], rtol=1e-6)
  assert s.valid[1].tolist() == [WORST, pytest.approx(0.8)]  # the per-seed record keeps the sentinel


def test_nos_rules_score_probes_by_their_best_epoch():
  def outcome(i, lr, kind, s):
    del i, s
    if kind == "run":
      return {"best_valid": 0.55}
    return {"train_accuracy": 0.9 if _near(lr, 1.0) else 0.2, "best_train_accuracy": 0.95 if _near(lr, 0.01) else 0.9}

  p = dict(lr_grid=GRID, probe_steps=8)
  assert np.allclose(score(FakeEvaluator(outcome), _genomes(1), Protocol(40, **p), seed=0).learning_rate, 1.0)
  assert np.allclose(score(FakeEvaluator(outcome), _genomes(1), Protocol(40, rules="nos", **p), seed=0).learning_rate,
                     0.01)


# ---- tune --------------------------------------------------------------------------------------------------------------

def test_tune_chooses_the_best_mean_validation_rate_first_of_equals_and_reports_there():
  valid = {0: {0.1: [0.5, 0.9], 0.01: [0.7, 0.7], 0.001: [0.8, 0.3]},  # means 0.7, 0.7, 0.55: the first 0.7
           1: {0.1: [0.2, 0.2], 0.01: [0.3, 0.1], 0.001: [0.9, 0.1]},  # 0.2, 0.2, 0.5
           2: {0.1: [WORST, WORST], 0.01: [WORST, WORST], 0.001: [WORST, WORST]}}

  def outcome(i, lr, kind, s):
    rate = min(valid[i], key=lambda r: abs(r - lr))
    return {"best_valid": valid[i][rate][s], "test": 10 * i + 100 * rate + s, "diverged": i == 1 and s == 1
            and _near(lr, 0.001)}

  ev = FakeEvaluator(outcome, seed=3, seeds=2)
  s = tune(ev, _genomes(3), steps=30, lr_grid=(0.1, 0.01, 0.001), seeds=2, seed=3, epoch=5, warmup_steps=2,
           hold_steps=4)
  assert len(ev.calls) == 1 and ev.calls[0]["budget"] == Budget(30, 30, 2, 5, 0.0, 0, 4)
  call = ev.calls[0]
  assert call["ids"] == [0] * 6 + [1] * 6 + [2] * 6
  assert np.allclose(call["lrs"], [0.1, 0.1, 0.01, 0.01, 0.001, 0.001] * 3)
  np.testing.assert_array_equal(call["keys"], np.tile(seed_keys(3, 2), (9, 1)))
  np.testing.assert_allclose(s.learning_rate, [0.1, 0.001, 0.1])
  np.testing.assert_allclose(s.grid_valid[:2], [[0.7, 0.7, 0.55], [0.2, 0.2, 0.5]], rtol=1e-6)
  np.testing.assert_allclose(s.valid[:2], [[0.5, 0.9], [0.9, 0.1]], rtol=1e-6)
  np.testing.assert_allclose(s.test, [[10, 11], [10.1, 11.1], [30, 31]], rtol=1e-5)
  assert s.rejected.tolist() == [False, False, True] and s.diverged.tolist() == [False, True, False]
  np.testing.assert_allclose(s.fitness, [0.7, 0.5, WORST], rtol=1e-6)
  assert s.runs == 3 * 3 * 2


def test_tune_defaults_its_budget_from_steps():
  ev = FakeEvaluator(lambda i, lr, kind, s: {})
  tune(ev, _genomes(1), steps=40, lr_grid=(0.1,), seeds=1, seed=0)
  assert ev.calls[0]["budget"] == Budget(40, 40, 4, 10, 0.0, 0, 0)


def test_tune_trains_a_zoo_row_with_its_own_evaluator_on_the_same_seeds_and_rates():
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  from optix_evo.search.evaluate import plain_genome  # pylint: disable=import-outside-toplevel

  main = FakeEvaluator(lambda i, lr, kind, s: {"best_valid": 0.5, "test": 0.1 * i}, seed=1, seeds=2)
  zoo = FakeEvaluator(lambda i, lr, kind, s: {"best_valid": 0.9 if _near(lr, 0.01) else 0.2, "test": 0.77 + s},
                      seed=1, seeds=2, spec=graph.DEFAULT_SPEC)
  seen = []
  original = zoo.__call__

  def record(genomes, *args, **kwargs):
    seen.append(genomes)
    return original(genomes, *args, **kwargs)

  zoo_call = type("Zoo", (), {"spec": graph.DEFAULT_SPEC, "__call__": lambda self, *a, **k: record(*a, **k)})()
  s = tune(main, _genomes(3), steps=20, lr_grid=(0.1, 0.01), seeds=2, seed=1, zoo={1: zoo_call})
  assert main.calls[0]["ids"] == [0] * 4 + [2] * 4
  assert np.allclose(zoo.calls[0]["lrs"], [0.1, 0.1, 0.01, 0.01])
  np.testing.assert_array_equal(zoo.calls[0]["keys"], np.tile(seed_keys(1, 2), (2, 1)))
  assert zoo.calls[0]["budget"] == main.calls[0]["budget"]
  plain = plain_genome(graph.DEFAULT_SPEC)
  for field in plain._fields:
    np.testing.assert_array_equal(np.asarray(getattr(seen[0], field)),
                                  np.repeat(np.asarray(getattr(plain, field))[None], 4, 0))
  np.testing.assert_allclose(s.learning_rate, [0.1, 0.01, 0.1])
  np.testing.assert_allclose(s.test, [[0.0, 0.0], [0.77, 1.77], [0.2, 0.2]], rtol=1e-6)
  with pytest.raises(InputError, match=re.escape("zoo rows [3] must index the 3 candidates.")):
    tune(main, _genomes(3), steps=20, lr_grid=(0.1,), seeds=1, seed=0, zoo={3: zoo_call})
  with pytest.raises(InputError, match=re.escape("zoo rows [-1] must index the 3 candidates.")):
    tune(main, _genomes(3), steps=20, lr_grid=(0.1,), seeds=1, seed=0, zoo={-1: zoo_call})
  tune(main, _genomes(3), steps=20, lr_grid=(0.1,), seeds=1, seed=0, zoo={0: zoo_call, 2: zoo_call})


# ---- types and front doors of the results ------------------------------------------------------------------------------

def test_a_full_runs_default_epoch_is_a_whole_quarter_of_its_steps():
  budget = Protocol(103, lr_grid=(0.1,)).run_budget()
  assert budget.epoch == 25 and type(budget.epoch) is int
  probe = Protocol(103, lr_grid=(0.1, 0.01), probe_steps=30).probe_budget()
  assert probe.epoch == 7 and type(probe.epoch) is int


def test_probe_scores_are_float64_whatever_the_evaluators_dtype():
  acc = np.array([[0.3, 0.7]], np.float32)
  index, best = probe_choice(acc, np.zeros((1, 2), bool))
  assert index.tolist() == [1] and best.dtype == np.float64 and best[0] == np.float64(np.float32(0.7))


def test_integer_learning_rates_are_reported_as_floats():
  ev = FakeEvaluator(lambda i, lr, kind, s: {"train_accuracy": 0.9 if lr == 2 else 0.5})
  s = score(ev, _genomes(1), Protocol(20, lr_grid=(1, 2), probe_steps=4), seed=0)
  assert s.learning_rate.dtype == np.float64 and s.learning_rate.tolist() == [2.0]
  assert all(isinstance(lr, float) for c in ev.calls for lr in c["lrs"])
  t = tune(FakeEvaluator(lambda i, lr, kind, s: {"best_valid": 0.9 if lr == 2 else 0.5}), _genomes(1), steps=20,
           lr_grid=(1, 2), seeds=1, seed=0)
  assert t.learning_rate.dtype == np.float64 and t.learning_rate.tolist() == [2.0]


def test_tune_keeps_the_evaluators_float32_scores():
  ev = FakeEvaluator(lambda i, lr, kind, s: {"best_valid": np.float32(0.1) if s == 0 else np.float32(0.2),
                                             "test": np.float32(0.3)}, seeds=2)
  t = tune(ev, _genomes(1), steps=20, lr_grid=(0.1,), seeds=2, seed=0)
  assert t.valid.dtype == np.float32 and t.test.dtype == np.float32 and t.grid_valid.dtype == np.float32
  assert t.fitness[0] == np.float32(np.float32(0.1) + np.float32(0.2)) / np.float32(2)
  s = score(ev, _genomes(1), Protocol(20, lr_grid=(0.1,), seeds=2), seed=0)
  assert s.valid.dtype == np.float32 and s.test.dtype == np.float32


@pytest.mark.parametrize("kwargs,message", [
    (dict(lr_grid=(0.1, -1.0), seeds=1), "lr_grid must be a non-empty tuple of positive learning rates, got (0.1, -1.0)."),
    (dict(lr_grid=(), seeds=1), "lr_grid must be a non-empty tuple of positive learning rates, got ()."),
    (dict(lr_grid=(0.1,), seeds=0), "seeds must be at least 1, got 0."),
])
def test_tune_refuses_a_bad_grid_or_seed_count_before_training(kwargs, message):
  ev = FakeEvaluator(lambda i, lr, kind, s: {})
  with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
    tune(ev, _genomes(1), steps=20, seed=0, **kwargs)
  assert not ev.calls
