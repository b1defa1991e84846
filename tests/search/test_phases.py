"""The search's phases and loop with a fake scorer (planted scores, no training): the task-family normalisation,
the Holm–Bonferroni line, which candidate is called best, the direction of every reported difference (found −
baseline) and its pairing over seeds; and the NOS behaviours of the driver (issue: the paper preset behaves as the
authors' code), each against a small NumPy transcription of ``NeuralOptimizerSearch.py``:

* a mutant is retried only when the fitness function returns ``None`` (``REDO``, L1693–1708); a full run stopped by
  the accuracy callback keeps its best validation accuracy (L1570–1575) and is not retried;
* each particle is re-scored on the evolution surrogate before it is first mutated (L1668–1683), and the archive the
  finalists come from holds evolution-task fitness only;
* a member of the random pool the probes rejected ranks with fitness 0, without retry (L1504–1509).
"""

import dataclasses
import hashlib

import numpy as np
import pytest

from optix_evo import graph
from optix_evo.search import (
    WORST, Search, SearchState, Stage, holm_bonferroni, normalised_score, phases, preset, write_results,
)
from optix_evo.search.protocol import Scores

BASE = preset("quick", task="digits_mlp", space="extended", particles=3, steps=2, mutants=2, pool_factor=2,
              surrogate_steps=20, epochs=2, probe_steps=6, lr_grid=(0.1, 0.01), elimination_candidates=6,
              stages=(Stage(20, seeds=2, keep=4), Stage(20, seeds=3, keep=2)), finalists=2, final_steps=20,
              final_seeds=6, final_lr_grid=(0.1, 0.01), holdout_tasks=("iris_mlp", "wine_dnm"), baselines=("adam",),
              references=("nos_opt9",), seed=5)


def _quality(genome, space) -> float:
  """A planted quality in [0.2, 0.9] from the canonical fingerprint (the same optimizer, the same quality)."""
  h = int(hashlib.sha1(graph.canonical_hash(genome, space).encode()).hexdigest()[:8], 16)
  return 0.2 + 0.7 * (h % 1000) / 999


class FakeSearch(Search):
  """The real loop with planted scores: ``score`` gives quality × the task's scale (Adam: ``adam_score``), ``tune``
  gives found #1 a planted edge over Adam per task on top of a large per-seed effect shared by all participants."""

  SCALE = {"digits_mlp": 1.0, "iris_mlp": 0.5, "wine_dnm": 0.8, "mnist1d_mlp": 0.3, "sbm_gcn": 1.5}
  EDGE = {"digits_mlp": 0.01, "iris_mlp": 0.02, "wine_dnm": -0.015}
  CHANCE = {"digits_mlp": 0.1, "iris_mlp": 1 / 3, "wine_dnm": 1 / 3, "mnist1d_mlp": 0.1, "sbm_gcn": 0.25}

  def __init__(self, *args, outcome=None, **kwargs):
    super().__init__(*args, **kwargs)
    self.calls, self.outcome = [], outcome

  def score(self, task, genomes, protocol, *, seed, extra=()):
    members = graph.unstack(genomes)
    fitness = np.array([_quality(g, self.space) * self.SCALE[task] for g in members] + [0.5 * self.SCALE[task]]
                       * len(extra))
    rejected = np.zeros(fitness.size, bool)
    if self.outcome is not None:  # planted NOS outcomes: None = probe rejection; "stopped" = stopped full run
      for i, g in enumerate(members):
        what = self.outcome(g, self.space)
        if what is None:
          fitness[i], rejected[i] = WORST, True
        elif what == "stopped":
          fitness[i] = 0.3  # the protocol reports the best validation accuracy of the stopped run
        elif isinstance(what, float):
          fitness[i] = what  # a planted accuracy
    self.calls.append({"task": task, "fingerprints": [graph.canonical_hash(g, self.space) for g in members],
                       "fitness": fitness, "extra": extra})
    n, seeds = fitness.size, protocol.seeds
    return Scores(fitness, np.full(n, 0.01), rejected, np.zeros(n, bool), np.repeat(fitness[:, None], seeds, 1),
                  np.repeat(fitness[:, None], seeds, 1), None, n)

  def tune(self, task, genomes, *, seed, seeds, lr_grid, **kwargs):
    n = graph.unstack(genomes).__len__()
    seed_effect = np.linspace(-0.2, 0.2, seeds)  # large: unpaired, no difference would be called
    test = np.tile(0.6 + seed_effect, (n, 1))
    test[0] += self.EDGE[task] + 0.001 * np.sin(np.arange(seeds))  # found #1 vs the rest, nearly constant
    return Scores(test.mean(1), np.full(n, lr_grid[0]), np.zeros(n, bool), np.zeros(n, bool), test, test,
                  np.tile(test.mean(1)[:, None], (1, len(lr_grid))), n * seeds * len(lr_grid))

  def chance(self, task):
    return self.CHANCE[task]

  def data_fingerprint(self):
    return None


def test_normalised_score_puts_tasks_on_one_scale():
  # task A: Adam 0.9, chance 0.1; task B: Adam 0.4, chance 0.1 (a hard task)
  a = normalised_score([0.5, 0.9, WORST], reference=0.9, chance=0.1)
  b = normalised_score([0.4, 0.16, 0.25], reference=0.4, chance=0.1)
  np.testing.assert_allclose(a, [0.5, 1.0, WORST])
  np.testing.assert_allclose(b, [1.0, 0.2, 0.5])
  # raw means rank candidate 1 first (0.53 vs 0.45); normalised, candidate 0 (0.75 vs 0.6): the hard task weighs as
  # much as the easy one
  assert np.mean([a[:2], b[:2]], axis=0).tolist() == pytest.approx([0.75, 0.6])
  assert np.mean([[0.5, 0.9], [0.4, 0.16]], axis=0).tolist() == pytest.approx([0.45, 0.53])
  # where Adam barely learns (0.12 vs chance 0.1), the floor 0.25 · 0.9 divides, not 0.02
  assert normalised_score([0.2], reference=0.12, chance=0.1)[0] == pytest.approx(0.1 / (phases.MIN_GAIN * 0.9))


def test_family_fitness_is_the_mean_of_the_normalised_scores():
  config = dataclasses.replace(BASE, family=("mnist1d_mlp",), normalise="adam")
  search = FakeSearch(config)
  genomes = graph.stack([graph.known("adam", search.space), graph.known("lion", search.space)])
  got = phases.family_scores(search, config.search_tasks, genomes, config.surrogate(pool=False), seed=0,
                             normalise="adam")
  assert [c["extra"] for c in search.calls] == [("adam",), ("adam",)]  # Adam scored in the same call
  q = np.array([_quality(g, search.space) for g in graph.unstack(genomes)])
  # digits: Adam 0.5 over chance 0.1; mnist1d (scale 0.3): Adam 0.15, within the floor 0.25 · 0.9 of chance
  expect = np.mean([(q * 1.0 - 0.1) / (0.5 * 1.0 - 0.1), (q * 0.3 - 0.1) / (0.25 * 0.9)], axis=0)
  np.testing.assert_allclose(got.fitness, expect)
  raw = phases.family_scores(search, config.search_tasks, genomes, config.surrogate(pool=False), seed=0,
                             normalise="none")
  np.testing.assert_allclose(raw.fitness, np.mean([q * 1.0, q * 0.3], axis=0))


def test_holm_against_a_hand_computation():
  # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → max-accumulated 0.06
  np.testing.assert_allclose(holm_bonferroni([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
  np.testing.assert_allclose(holm_bonferroni([0.5, np.nan, 0.01]), [0.5, np.nan, 0.02])
  np.testing.assert_allclose(holm_bonferroni([0.4, 0.9]), [0.8, 0.9])


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("fake") / "run"
  search = FakeSearch(BASE, str(out))
  result = search.run()
  write_results(str(out), result, BASE)
  return search, result, out


def test_the_driver_calls_the_best_last_stage_candidate_best(fake_run):
  search, result, _ = fake_run
  last = search.state.stages[-1]
  best = last["candidates"][int(np.argmax(last["fitness"]))]
  assert result.hall_of_fame[0]["fingerprint"] == search.state.archive[best]["fingerprint"]
  assert result.final["participants"][0]["archive"] == best
  # and the elimination started from the best distinct surrogate candidates
  first = search.state.stages[0]["candidates"]
  fitness = sorted({r["fingerprint"]: r["fitness"] for r in search.state.archive}.values(), reverse=True)
  assert sorted(search.state.archive[i]["fitness"] for i in first)[::-1] == fitness[:len(first)]


def test_reported_differences_are_found_minus_baseline_and_paired(fake_run):
  _, result, out = fake_run
  for task, table in result.final["tasks"].items():
    (c,) = [c for c in table["comparisons"] if c["found"] == "found #1"]
    d = c["difference"]
    assert d["estimate"] == pytest.approx(FakeSearch.EDGE[task], abs=0.002)  # sign: found − baseline
    # paired: the ±0.2 seed effect cancels, so a 0.01 edge is called; unpaired it would not be
    assert c["verdict"] == ("beats" if FakeSearch.EDGE[task] > 0 else "loses")
    assert d["n"] == BASE.final_seeds
  assert [task for task, t in result.final["tasks"].items() if t["held_out"]] == ["iris_mlp", "wine_dnm"]
  (holm,) = result.final["holm"]
  assert [(t["task"], t["verdict"]) for t in holm["tasks"]] == [("iris_mlp", "beats"), ("wine_dnm", "loses")]
  report = (out / "report.md").read_text()
  assert "Holm–Bonferroni corrected" in report and "no warm start" in report


def test_a_zoo_baseline_is_tuned_as_its_zoo_row_and_gets_comparisons_and_a_holm_line(tmp_path):
  config = dataclasses.replace(BASE, baselines=("adam", "prodigy"), finalists=1)
  zoo_rows = []

  class Recording(FakeSearch):
    def tune(self, task, genomes, *, zoo=None, **kwargs):
      zoo_rows.append(zoo)
      return super().tune(task, genomes, **kwargs)

  search = Recording(config)  # straight to the final comparison, with one planted finalist
  record = search.describe(graph.known("sgd", search.space), fitness=0.5, generation=0)
  stage = {"stage": 1, "candidates": [0], "fitness": [0.5], "learning_rate": [0.01], "survivors": [0]}
  search.state = dataclasses.replace(search.state, archive=(record,), stages=(stage,), phase="final")
  search.compare()
  result = search.result()
  assert [p["name"] for p in result.final["participants"]] == ["found #1", "adam", "prodigy", "nos_opt9"]
  assert zoo_rows == [{2: "prodigy"}] * 3  # one tune per task; the row of prodigy trains the zoo's optimizer
  for task, table in result.final["tasks"].items():
    (c,) = [c for c in table["comparisons"] if (c["found"], c["baseline"]) == ("found #1", "prodigy")]
    assert c["difference"]["estimate"] == pytest.approx(FakeSearch.EDGE[task], abs=0.002)  # found − baseline
  holm = {h["baseline"]: h for h in result.final["holm"]}
  assert sorted(holm) == ["adam", "prodigy"]
  assert [(t["task"], t["verdict"]) for t in holm["prodigy"]["tasks"]] == [("iris_mlp", "beats"), ("wine_dnm", "loses")]
  write_results(str(tmp_path), result, config)
  assert "| prodigy | baseline |" in (tmp_path / "report.md").read_text()


def test_found_programs_are_simplified_in_the_archive(fake_run):
  search, _, _ = fake_run
  for rec in search.state.archive[:10]:
    g = search.genome(rec)
    np.testing.assert_array_equal(graph.simplify(g, search.space).inputs, np.asarray(g.inputs))
    assert rec["nodes"] == graph.active_nodes(g, search.space).sum()


def test_the_state_is_immutable_and_round_trips(fake_run):
  search, _, _ = fake_run
  with pytest.raises(dataclasses.FrozenInstanceError):
    search.state.phase = "search"  # type: ignore[misc]
  back = SearchState.from_dict(search.state.to_dict())
  assert back.archive == search.state.archive and back.phase == "done" and back.final == search.state.final


def test_warm_start_is_recorded_and_seeds_the_pool():
  search = FakeSearch(dataclasses.replace(BASE, warm_start=True, pool_factor=6))
  assert search.warm_names[:3] == ("adam", "rmsprop", "lion") and len(search.warm_names) >= 10
  search.generation()
  pool = search.state.archive
  warm = [graph.canonical_hash(graph.known(n, search.space), search.space) for n in search.warm_names]
  passed = graph.check_integrity(graph.stack([graph.known(n, search.space) for n in search.warm_names]),
                                 search.space).passed
  placed = [r["fingerprint"] for r in pool[:len(warm)]]
  assert [p == w for p, w in zip(placed, warm)] == list(passed)  # each known one in its slot unless it failed the check
  seeded = tuple(n for n, ok in zip(search.warm_names, passed) if ok)
  assert search.result().warm_start == search.state.warm_start == seeded and len(seeded) >= 10


# -- the NOS behaviours of the driver against the authors' logic ------------------------------------------------------

def _authors_slot(outcomes):
  """NeuralOptimizerSearch.py L1693–1708 for one mutant slot: ``outcomes`` yields the fitness function's results
  (None: rejected by the probe stage) for successive mutants. Returns (fitness, attempts)."""
  redo, attempts, f = 4, 0, None
  while redo > 0:
    result = next(outcomes)
    attempts += 1
    if result is None:
      f, redo = -1, redo - 1
    else:
      f, redo = result, -1
  return f, attempts


def _planted_outcome(genome, space):
  h = int(graph.canonical_hash(genome, space)[:6], 16)
  return None if h % 3 == 0 else "stopped" if h % 3 == 1 else "ok"


def test_a_mutant_is_retried_only_when_the_probe_stage_rejects_it():
  config = dataclasses.replace(BASE, mutant_tries=4)
  search = FakeSearch(config, outcome=_planted_outcome)
  search.generation()
  search.calls.clear()
  search.generation()
  calls = [c for c in search.calls if c["task"] == "digits_mlp"]
  # the transcription replays the same mutants: slot i's outcomes are its rows in the calls, in order
  pending, per_slot = list(range(len(calls[0]["fingerprints"]))), {}
  for call in calls:
    assert len(call["fingerprints"]) == len(pending)
    for slot, fitness in zip(pending, call["fitness"]):
      per_slot.setdefault(slot, []).append(None if fitness == WORST else float(fitness))
    pending = [s for s in pending if per_slot[s][-1] is None]
  expect = [_authors_slot(iter(per_slot[s])) for s in sorted(per_slot)]
  records = [r for r in search.state.archive if r["generation"] == 1 and r["role"] == "candidate"]
  assert [(r["fitness"], r["attempts"]) for r in records] == [(pytest.approx(f), a) for f, a in expect]
  stopped = [s for s in sorted(per_slot) if per_slot[s][0] == pytest.approx(0.3)]
  assert stopped and all(records[s]["attempts"] == 1 for s in stopped)  # a stopped run counts, not retried
  assert any(a > 1 for _, a in expect)


def _authors_archive(particles, particle_fitness, children):
  """NeuralOptimizerSearch.py ``evolve``: per particle, its re-scored fitness then its children's (prev_fitness)."""
  return [(p, f) for p, f in zip(particles, particle_fitness)] + children


def test_particles_are_rescored_on_the_evolution_task_and_the_pool_never_enters_elimination():
  config = dataclasses.replace(BASE, pool_task="sbm_gcn", steps=1)
  search = FakeSearch(config)
  search.generation()  # the pool, on a planted pool task whose scores are 1.5 times higher than evolution's
  pool_ids = {r["fingerprint"] for r in search.state.archive}
  search.generation()
  gen1 = [r for r in search.state.archive if r["generation"] == 1]
  particles = [r for r in gen1 if r["role"] == "particle"]
  assert len(particles) == config.particles and {r["fingerprint"] for r in particles} <= pool_ids
  for r in particles:  # re-scored on the evolution task (scale 1.0), not the pool's fitness
    assert r["task"] == "digits_mlp" and r["fitness"] == pytest.approx(_quality(search.genome(r), search.space))
  assert search.ga_state.generation == 2
  children = [(r["fingerprint"], r["fitness"]) for r in gen1 if r["role"] == "candidate"]
  archive = _authors_archive([r["fingerprint"] for r in particles], [r["fitness"] for r in particles], children)
  ranked = []
  for fp, _ in sorted(archive, key=lambda x: -x[1]):
    if fp not in ranked:
      ranked.append(fp)
  chosen = [search.state.archive[i]["fingerprint"] for i in search.elimination_candidates()]
  assert chosen == ranked[:config.elimination_candidates]
  assert all(search.state.archive[i]["generation"] == 1 for i in search.elimination_candidates())


def test_a_pool_scored_at_another_budget_is_rescored_and_kept_out_of_elimination():
  config = dataclasses.replace(BASE, pool_surrogate_steps=10, steps=1)  # same task, a shorter pool surrogate
  assert phases.rescores_particles(config) and not phases.rescores_particles(BASE)
  search = FakeSearch(config)
  search.generation()
  search.generation()
  archive = search.state.archive
  assert {r["task"] for r in archive if r["generation"] == 0} == {"digits_mlp (pool surrogate)"}
  assert len([r for r in archive if r.get("role") == "particle"]) == config.particles
  assert all(archive[i]["generation"] == 1 for i in search.elimination_candidates())


def _authors_pool(outcomes, n, failed):
  """NeuralOptimizerSearch.py L1504–1509 and the particles drawn from the pool: a pool member whose fitness function
  returned ``None`` scores ``failed`` (the authors: 0), not retried; the ``n`` best become the particles. Returns the
  pool's fitness and the particles' fitness, best first."""
  fit = np.array([failed if f is None else f for f in outcomes])
  return fit, np.sort(fit)[::-1][:n]


@pytest.mark.parametrize("space", ["nos", "extended"])
def test_a_pool_member_the_probes_rejected_ranks_at_zero_under_the_nos_rules_only(space):
  config = dataclasses.replace(BASE, space=space, normalise="adam", mutant_tries=4)
  nos = config.surrogate(pool=True).rules == "nos"
  assert nos == (space == "nos")
  succeeded = []

  def outcome(genome, space):  # the pool's first two members succeed below chance (normalised < 0), the rest fail
    fp = graph.canonical_hash(genome, space)
    if fp not in succeeded and len(succeeded) < 2:
      succeeded.append(fp)
    return 0.05 if fp in succeeded else None

  search = FakeSearch(config, outcome=outcome)
  summary = search.generation()
  pool = search.state.archive
  assert len(search.calls) == 1 and all(r["attempts"] == 1 for r in pool)  # scored once, nothing retried
  assert [r["rejected"] for r in pool] == [False, False] + [True] * (len(pool) - 2)  # fewer than n succeed
  below = (0.05 - 0.1) / (0.5 - 0.1)  # the planted accuracy normalised against the planted Adam
  fit, particles = _authors_pool([below, below] + [None] * (len(pool) - 2), config.particles, 0.0 if nos else WORST)
  np.testing.assert_allclose([r["fitness"] for r in pool], fit)
  np.testing.assert_allclose(search.ga_state.fitness, particles)
  chosen = {graph.canonical_hash(g, search.space) for g in graph.unstack(search.ga_state.particles)}
  if nos:  # the failed members (0) rank above the successes below chance
    assert not chosen & set(succeeded)
  else:
    assert set(succeeded) < chosen
  assert summary["rejected"] == len(pool) - 2


def test_a_trained_candidate_normalised_below_worst_is_not_counted_as_rejected():
  # iris (chance 1/3, planted Adam 0.25, so the floor 0.25 · 2/3 divides): a trained candidate at accuracy 0.05
  # normalises to (0.05 - 1/3) / (1/6) = -1.7, below WORST; it trained, so it is no rejection, and it is in the median
  config = dataclasses.replace(BASE, task="iris_mlp", holdout_tasks=("digits_mlp",), normalise="adam")
  planted = {}

  def outcome(genome, space):
    fp = graph.canonical_hash(genome, space)
    planted.setdefault(fp, [0.05, None, 0.6][len(planted) % 3])  # below chance, rejected, fine
    return planted[fp]

  search = FakeSearch(config, outcome=outcome)
  summary = search.generation()
  pool = search.state.archive
  below = [r for r in pool if not r["rejected"] and r["fitness"] < WORST]
  assert below and below[0]["fitness"] == pytest.approx((0.05 - 1 / 3) / (phases.MIN_GAIN * 2 / 3))
  assert summary["rejected"] == sum(r["rejected"] for r in pool) < sum(r["fitness"] <= WORST for r in pool)
  assert summary["median"] == pytest.approx(np.median([r["fitness"] for r in pool if not r["rejected"]]))
  assert summary["best"] == pytest.approx(max(r["fitness"] for r in pool))
