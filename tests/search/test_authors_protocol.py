"""The "nos" rules of :func:`optix_evo.search.score` against a NumPy transcription of the authors' surrogate
(``fitness_function_evolution`` of ``NeuralOptimizerSearch.py``, OUStudent/NeuralOptimizerSearch @005dfce,
L1540-1575, with ``FiveEpochCallback`` L118-128 and Keras' ``TerminateOnNaN``), on planted per-epoch histories:
which candidate is rejected (and so retried), which probe wins, what a stopped full run scores."""

import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.search.evaluate import WORST, Outcome
from optix_evo.search.protocol import NOS_PROBE_FIRST, Protocol, score

GRID = (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)  # the paper's grid, in the library's order
PROBE_STEPS, PROBE_EPOCH, STEPS, EPOCH = 8, 2, 80, 2  # 4 probe epochs, 40 full-run epochs, as in the paper


def nos_protocol(**changes) -> Protocol:
  fields = dict(lr_grid=GRID, probe_steps=PROBE_STEPS, probe_epoch=PROBE_EPOCH, epoch=EPOCH, probe_min_accuracy=0.25,
                probe_check_after=2, best_probe_min_accuracy=0.40, run_min_accuracy=0.40, run_check_after=4,
                probe_first=NOS_PROBE_FIRST, probe_first_min_accuracy=0.25, rules="nos")
  return Protocol(STEPS, **{**fields, **changes})


# ---- the authors' code, transcribed ---------------------------------------------------------------------------------
def keras_history(train, valid, threshold, after, diverge_at):
  """What ``model.fit(..., callbacks=[TerminateOnNaN(), FiveEpochCallback(threshold, after)])`` records: epochs up
  to the first one whose training accuracy is below ``threshold`` from epoch ``after`` on, or whose loss is NaN."""
  out_train, out_valid = [], []
  for e, acc in enumerate(train):
    out_train.append(acc)
    out_valid.append(valid[e] if valid is not None else np.nan)
    if e == diverge_at or (e >= after and acc < threshold):
      break
  return {"accuracy": out_train, "val_accuracy": out_valid}


def authors_fitness(plan):
  """``fitness_function_evolution`` (L1540-1575): ``plan[(lr, kind)] = (train, valid, diverge_at)``."""
  threshold = 0.40
  acc = []
  lrs = [10, 1e-2, 1e-5]
  for lr in lrs:
    train, _, div = plan[(lr, "probe")]
    acc.append(np.nanmax(keras_history(train, None, 0.25, 2, div)["accuracy"]))
  if np.all(np.asarray(acc) < 0.25):
    return None
  lrs = lrs + [1, 1e-1, 1e-3, 1e-4]
  for i in range(3, len(lrs)):
    train, _, div = plan[(lrs[i], "probe")]
    acc.append(np.nanmax(keras_history(train, None, 0.25, 2, div)["accuracy"]))
  if np.nanmax(acc) < threshold:
    return None
  lr = lrs[np.argmax(acc)]
  train, valid, div = plan[(lr, "run")]
  f = np.nanmax(keras_history(train, valid, threshold, 4, div)["val_accuracy"])
  return f, lr


# ---- a stand-in for the Evaluator that plays the planted histories with the library's epoch loop -------------------
class PlayedEvaluator:
  """Runs ``plans[candidate][(lr, kind)] = (train, valid, diverge_at)`` epoch by epoch as ``train_run`` does: stop
  after a non-finite epoch (its validation ignored) or after an epoch below ``budget.min_accuracy`` from
  ``budget.check_after`` on."""

  def __init__(self, plans):
    self.plans, self.calls = plans, []

  def __call__(self, genomes, keys, learning_rates, budget, *, validate=True):
    kind = "probe" if budget.steps == PROBE_STEPS else "run"
    assert validate == (kind == "run"), "probes read no held-out set; full runs do"
    self.calls.append((kind, len(keys)))
    rows = []
    for i, lr in zip(np.asarray(genomes["id"]).ravel(), learning_rates):
      lr = min(GRID, key=lambda g: abs(np.log(g) - np.log(lr)))  # noqa: B023
      train, valid, div = self.plans[int(i)][(lr, kind)]
      best, best_train, last, stopped, diverged = WORST, 0.0, 0.0, False, False
      for e in range(budget.steps // budget.epoch):
        last = train[e]
        best_train = max(best_train, last)
        if e == div:
          diverged = True
          break
        if valid is not None:
          best = max(best, valid[e])
        if e >= budget.check_after and last < budget.min_accuracy:
          stopped = True
          break
      rows.append((best, best, last, budget.steps, diverged, stopped, best_train))
    return Outcome(*(np.asarray(col) for col in zip(*rows)))


def random_plan(rng):
  """Planted histories on a coarse grid of accuracies (ties happen), some probes diverging."""
  levels = np.array([0.1, 0.2, 0.3, 0.45, 0.5, 0.6])
  plan = {}
  weak = rng.random() < 0.4  # mostly below 0.25: the probe rounds reject many of these
  for lr in GRID:
    train = list(rng.choice(levels, 4, p=[0.45, 0.45, 0.03, 0.03, 0.02, 0.02] if weak else None))
    plan[(lr, "probe")] = (train, None, int(rng.integers(4)) if rng.random() < 0.15 else None)
    run_train = list(rng.choice(levels, 40, p=[0.02, 0.02, 0.02, 0.04, 0.3, 0.6]))
    plan[(lr, "run")] = (run_train, list(rng.uniform(0.3, 0.9, 40).round(3)), None)
  return plan


def _genomes(n):
  return {"id": np.arange(n)[:, None]}


@pytest.fixture(scope="module")
def planted():
  rng = np.random.default_rng(0)
  plans = [random_plan(rng) for _ in range(300)]
  return plans, score(PlayedEvaluator(plans), _genomes(len(plans)), nos_protocol(), seed=0)


def test_nos_rules_reject_choose_and_score_as_the_authors_code(planted):
  plans, s = planted
  expected = [authors_fitness(p) for p in plans]
  rejected = np.array([e is None for e in expected])
  np.testing.assert_array_equal(s.rejected, rejected)
  np.testing.assert_array_equal(s.probe_rejected, rejected)  # only the probe stage rejects (the authors' REDO)
  for i, e in enumerate(expected):
    if e is not None:
      assert s.learning_rate[i] == pytest.approx(e[1]), i
      assert s.fitness[i] == pytest.approx(e[0]), i
  # the planted data exercises every rule: both probe rounds reject some, stopped full runs keep their fitness
  first_round = [all(np.nanmax(keras_history(p[(lr, "probe")][0], None, 0.25, 2, p[(lr, "probe")][2])["accuracy"])
                     < 0.25 for lr in NOS_PROBE_FIRST) for p in plans]
  assert 0 < sum(first_round) < sum(rejected) < len(plans)
  assert np.sum(s.stopped & ~s.rejected) > 10


def test_planted_cases():
  low = ([0.1, 0.1, 0.1, 0.1], None, None)
  plan = {(lr, "probe"): low for lr in GRID}
  plan.update({(lr, "run"): ([0.6] * 40, [0.5] * 40, None) for lr in GRID})
  # candidate 0: the first round (10, 1e-2, 1e-5) is all below 0.25, so 1's fine probe never runs
  a = {**plan, (1.0, "probe"): ([0.9] * 4, None, None)}
  # candidate 1: 1e-2's best epoch (0.7) beats 1's last epoch (0.5) though 1e-2 ends at 0.3: the best epoch counts
  b = {**plan, (1e-2, "probe"): ([0.3, 0.7, 0.5, 0.3], None, None), (1.0, "probe"): ([0.5] * 4, None, None),
       (1e-2, "run"): ([0.6] * 40, [0.8] * 40, None)}
  # candidate 2: 1e-2 and 1 tie: 1e-2 was probed first and wins
  c = {**plan, (1e-2, "probe"): ([0.5] * 4, None, None), (1.0, "probe"): ([0.5] * 4, None, None),
       (1e-2, "run"): ([0.6] * 40, [0.7] * 40, None)}
  # candidate 3: the full run is stopped at epoch 5 (training accuracy 0.3 < 0.40): it keeps its best validation
  d = {**plan, (1e-5, "probe"): ([0.5] * 4, None, None),
       (1e-5, "run"): ([0.6] * 5 + [0.3] + [0.6] * 34, [0.2, 0.55, 0.4, 0.5, 0.5, 0.1] + [0.9] * 34, None)}
  # candidate 4: the 10 probe diverges in its third epoch after reaching 0.6: it still wins
  e = {**plan, (10.0, "probe"): ([0.3, 0.6, 0.1, 0.1], None, 2), (1.0, "probe"): ([0.45] * 4, None, None)}
  plans = [a, b, c, d, e]
  ev = PlayedEvaluator(plans)
  s = score(ev, _genomes(5), nos_protocol(), seed=0)
  assert [authors_fitness(p) for p in plans] == [None, (0.8, 1e-2), (0.7, 1e-2), (0.55, 1e-5), (0.5, 10)]
  assert s.rejected.tolist() == [True, False, False, False, False]
  assert s.learning_rate[1:].tolist() == [1e-2, 1e-2, 1e-5, 10.0]
  np.testing.assert_allclose(s.fitness, [WORST, 0.8, 0.7, 0.55, 0.5])
  assert s.stopped.tolist() == [False, False, False, True, False]
  # the second round skipped candidate 0; full runs trained only the four survivors
  assert ev.calls == [("probe", 15), ("probe", 16), ("run", 4)] and s.runs == 15 + 16 + 4


def test_library_rules_stay_strict():
  """The extended space's protocol: last epoch, divergent probes never win, a stopped run rejects."""
  low = ([0.1] * 4, None, None)
  plan = {(lr, "probe"): low for lr in GRID}
  plan.update({(lr, "run"): ([0.6] * 40, [0.5] * 40, None) for lr in GRID})
  b = {**plan, (1e-2, "probe"): ([0.3, 0.7, 0.5, 0.3], None, None), (1.0, "probe"): ([0.5] * 4, None, None)}
  d = {**plan, (1e-5, "probe"): ([0.5] * 4, None, None),
       (1e-5, "run"): ([0.6] * 5 + [0.3] + [0.6] * 34, [0.5] * 40, None)}
  e = {**plan, (10.0, "probe"): ([0.3, 0.6, 0.1, 0.1], None, 2), (1.0, "probe"): ([0.45] * 4, None, None)}
  s = score(PlayedEvaluator([b, d, e]), _genomes(3), nos_protocol(rules="library", probe_first=()), seed=0)
  assert s.learning_rate.tolist() == [1.0, 1e-5, 1.0]
  assert s.rejected.tolist() == [False, True, False]


def test_probe_first_must_name_grid_rates():
  with pytest.raises(InputError, match="probe_first"):
    nos_protocol(probe_first=(3.0,))
  with pytest.raises(InputError, match="rules"):
    nos_protocol(rules="keras")
  assert nos_protocol().probe_order() == (0, 3, 6, 1, 2, 4, 5)


def test_the_evaluator_records_the_best_epoch_of_training_accuracy():
  """``best_train_accuracy`` is the best of the epochs' mean training accuracies (Keras' ``np.nanmax(history
  ["accuracy"])``): runs cut after 1, 2, 3, 4 epochs are prefixes of the same run, so their last epochs are its
  epochs."""
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  from optix_evo.search.evaluate import Budget, Evaluator  # pylint: disable=import-outside-toplevel
  from optix_evo.search.protocol import seed_keys  # pylint: disable=import-outside-toplevel
  from optix_evo.tasks import get_task  # pylint: disable=import-outside-toplevel
  evaluator = Evaluator(get_task("digits_mlp"), max_steps=16, batch=3, population_loop="map")
  genomes = graph.stack([graph.known("sgd")] * 3)
  keys, lrs = np.tile(seed_keys(0, 1), (3, 1)), np.array([0.3, 10.0, 30.0])
  epochs = [evaluator(genomes, keys, lrs, Budget(4 * k, 64, 2, 4)) for k in (1, 2, 3, 4)]
  last = np.stack([o.train_accuracy for o in epochs], 1)  # [run, epoch]
  np.testing.assert_allclose(epochs[-1].best_train_accuracy, last.max(1), rtol=1e-6)
  assert (last.max(1) > last[:, -1]).any()  # the planted rates make some run's best epoch not its last
