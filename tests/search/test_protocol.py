"""The protocols' decisions on planted training outcomes: probes pick the best learning rate, the rejection rules
reject, tuning keeps the rate with the best mean validation accuracy and reports the test accuracy there."""

import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.search.evaluate import WORST, Outcome
from optix_evo.search.protocol import Protocol, probe_choice, score, tune


class PlantedEvaluator:
  """Stands in for an Evaluator: a run's outcome is ``table[(candidate, learning rate, kind)]`` where candidates
  are genomes ``{"id": [i]}``; ``kind`` is "probe" or "run" (by the budget's step count)."""

  def __init__(self, table, probe_steps):
    self.table, self.probe_steps, self.calls = table, probe_steps, []

  def __call__(self, genomes, keys, learning_rates, budget, *, validate=True):
    self.calls.append((len(keys), budget))
    kind = "probe" if budget.steps == self.probe_steps else "run"
    assert validate == (kind == "run")  # a probe's held-out accuracies are never read: not evaluated
    rows = []
    for i, lr, key in zip(np.asarray(genomes["id"]).ravel(), learning_rates, keys):
      best, test, train, diverged, stopped = self.table[(int(i), float(np.float32(lr)), kind)]
      rows.append((best + 1e-3 * int(key[1] % 7), test, train, budget.steps, diverged, stopped))
    return Outcome(*(np.asarray(col) for col in zip(*rows)))


GRID = (0.1, 0.01, 0.001)
F32 = [float(np.float32(lr)) for lr in GRID]


def _genomes(n):
  return {"id": np.arange(n)[:, None]}


def test_probe_choice_prefers_accuracy_skips_divergent_and_takes_the_first_tie():
  acc = np.array([[0.5, 0.9, 0.7], [0.9, 0.9, 0.1], [0.2, 0.95, 0.3], [0.1, 0.2, 0.3]])
  diverged = np.array([[False] * 3, [False] * 3, [False, True, False], [True] * 3])
  index, best = probe_choice(acc, diverged)
  assert index.tolist()[:3] == [1, 0, 2]  # best; first of equals; the divergent 0.95 never wins
  assert best[:3].tolist() == [0.9, 0.9, 0.3] and best[3] == -np.inf


def test_score_uses_the_probes_choice_and_the_rejection_rules():
  table = {}
  # candidate 0: the middle rate probes best and its run is fine; candidate 1: every probe is poor (rejected by the
  # best-probe rule); candidate 2: the run falls below the training-accuracy rule (stopped).
  probes = {0: (0.3, 0.8, 0.6), 1: (0.2, 0.3, 0.1), 2: (0.9, 0.5, 0.4)}
  for c, accs in probes.items():
    for lr, acc in zip(F32, accs):
      table[(c, lr, "probe")] = (acc, acc, acc, False, False)
      table[(c, lr, "run")] = (0.7 + 0.01 * c, 0.68, 0.7, False, c == 2)
  protocol = Protocol(steps=50, lr_grid=GRID, probe_steps=10, seeds=2, best_probe_min_accuracy=0.4,
                      run_min_accuracy=0.5)
  ev = PlantedEvaluator(table, probe_steps=10)
  s = score(ev, _genomes(3), protocol, seed=0)
  assert s.learning_rate.tolist() == [0.01, 0.01, 0.1]
  assert s.rejected.tolist() == [False, True, True]
  assert s.fitness[0] == pytest.approx(s.valid[0].mean()) and (s.fitness[1:] == WORST).all()
  assert s.valid.shape == (3, 2) and s.runs == 3 * 3 + 2 * 2  # the probe-rejected candidate 1 is not trained
  assert [n for n, _ in ev.calls] == [9, 4]  # one call for every probe, one for every full run
  assert s.probe_rejected.tolist() == [False, True, False] and s.stopped.tolist() == [False, False, True]
  probe_budget, run_budget = ev.calls[0][1], ev.calls[1][1]
  assert probe_budget.horizon == run_budget.horizon == 50  # a probe sees the start of the full run's schedule


def test_tune_keeps_the_rate_with_the_best_mean_validation_and_reports_test_there():
  table = {}
  for c in range(2):
    for lr in F32:
      good = (c == 0 and lr == F32[2]) or (c == 1 and lr == F32[0])
      table[(c, lr, "run")] = (0.9 if good else 0.6, 0.85 if good else 0.5, 0.9, False, False)
  s = tune(PlantedEvaluator(table, probe_steps=-1), _genomes(2), steps=40, lr_grid=GRID, seeds=3, seed=0)
  assert s.learning_rate.tolist() == [0.001, 0.1]
  assert s.test.shape == (2, 3) and np.allclose(s.test, 0.85)
  assert s.grid_valid.shape == (2, 3) and s.runs == 2 * 3 * 3
  np.testing.assert_array_equal(np.argmax(s.grid_valid, axis=1), [2, 0])


def test_protocol_refuses_inconsistent_budgets():
  with pytest.raises(InputError, match="probe_steps"):
    Protocol(steps=10, probe_steps=20)
  with pytest.raises(InputError, match="lr_grid"):
    Protocol(steps=10, lr_grid=(0.1, -1.0))
  with pytest.raises(InputError, match="smaller than steps"):
    Protocol(steps=10, warmup_steps=8, hold_steps=2)
  with pytest.raises(InputError, match="seeds"):
    Protocol(steps=10, seeds=0)
