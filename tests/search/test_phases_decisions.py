"""The decisions of :mod:`optix_evo.search.phases` with planted scores (a fake scorer, a toy genome space, no
training): what each generation scores and with which protocol and seed, which members are retried and how often,
what each archive record and generation summary says, which candidates enter elimination and survive each stage,
which seed and budget every stage and final task gets, the direction of every reported difference and the
Holm–Bonferroni verdicts."""

import dataclasses
import re
import time

import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.search import Stage, WORST, ga, phases, preset
from optix_evo.search.protocol import Scores
from optix_evo.search.state import SearchState
from optix_evo.search.statistics import holm_bonferroni, paired_difference, paired_p_value, spearman_interval, verdict
from tests.search.test_ga_decisions import toy_fingerprint, toy_space

CONFIG = preset("quick", task="digits_mlp", space="extended", particles=2, steps=2, mutants=2, pool_factor=2,
                surrogate_steps=20, epochs=2, probe_steps=6, lr_grid=(0.1, 0.01), elimination_candidates=3,
                stages=(Stage(20, seeds=2, keep=2), Stage(30, seeds=3, keep=1)), finalists=1, final_steps=50,
                final_seeds=3, final_lr_grid=(0.1, 0.01), holdout_tasks=("iris_mlp", "wine_dnm"),
                baselines=("adam",), references=(), seed=5, mutant_tries=4)


# ---- a toy genome space ------------------------------------------------------------------------------------------------

_draw, _mutate = toy_space(5)  # 5^4 genomes
fp = toy_fingerprint


OPS = ga.GenomeOps(_draw, _mutate, lambda pop: (np.ones(len(pop["x"]), bool), pop), fp)


def describe(genome, **fields):
  return {"fingerprint": fp(genome), **fields}


@pytest.fixture(autouse=True)
def toy_genomes(monkeypatch):
  monkeypatch.setattr(phases, "_genome_type", lambda strategy_state: dict)


class Scorer:
  """Planted surrogate scores: ``fitness(task, fingerprint, call) -> accuracy or None`` (None: rejected); the
  reference (Adam) scores ``reference[task]``; every call is recorded."""

  def __init__(self, fitness, reference=None, chance=None):
    self.fitness, self.calls = fitness, []
    self.reference, self.chance_of = reference or {}, chance or {}

  def score(self, task, genomes, protocol, *, seed, extra=()):
    fps = [fp(g) for g in ga.unstack(genomes)]
    call = len(self.calls)
    planted = [self.fitness(task, f, call) for f in fps]
    fitness = np.array([WORST if p is None else p for p in planted] + [self.reference.get(task, 0.5)] * len(extra))
    rejected = np.array([p is None for p in planted] + [False] * len(extra))
    n, seeds = fitness.size, protocol.seeds
    valid = fitness[:, None] + np.linspace(-0.01, 0.01, seeds)[None] * ~rejected[:, None]
    self.calls.append({"task": task, "fps": fps, "protocol": protocol, "seed": seed, "extra": extra})
    scale = 1.0 if task in ("digits_mlp", "wine_dnm", "sbm_gcn") else 10.0  # another rate on a family's 2nd task
    lr = np.array([0.01 * (1 + int(f[0])) * scale for f in fps] + [0.1] * len(extra))
    diverged = np.array([diverges(task, f) for f in fps] + [False] * len(extra))
    return Scores(fitness, lr, rejected, diverged, valid, valid, None, 3 * n)

  def chance(self, task):
    return self.chance_of.get(task, 0.1)


def diverges(task, f):
  """Planted: a run diverges when the fingerprint's last digit is odd, except on a family's second task."""
  return int(f[-1]) % 2 == 1 and task not in ("mnist1d_mlp", "iris_mlp")


def quality(f):
  """A planted accuracy in [0.2, 0.9) from a fingerprint."""
  return 0.2 + 0.7 * (int(f) % 97) / 97


def fresh(config=CONFIG, strategy=None, warm=()):
  strategy = strategy or ga.ParticleGA(OPS)
  return SearchState.fresh({}, strategy.init(None, config.ga_params()).to_dict(), warm), strategy


# ---- normalisation and family scores -----------------------------------------------------------------------------------

def test_normalised_score_divides_by_the_larger_of_the_gain_and_its_floor_and_keeps_worst():
  got = phases.normalised_score([0.5, WORST, -1.5, -0.999, 0.1], reference=0.9, chance=0.1)
  np.testing.assert_allclose(got, [0.5, WORST, WORST, (-0.999 - 0.1) / 0.8, 0.0])
  floor = phases.normalised_score([0.5], reference=0.2, chance=0.1)  # gain 0.1 < 0.25 · 0.9
  np.testing.assert_allclose(floor, [0.4 / (0.25 * 0.9)])
  assert phases.MIN_GAIN == 0.25 and phases.REFERENCE == "adam"
  exact = phases.normalised_score([0.5], reference=0.1 + 0.25 * 0.8, chance=0.2)  # gain equal to the floor
  np.testing.assert_allclose(exact, [0.3 / 0.2])
  assert phases.normalised_score(np.float32([0.5]), reference=0.9, chance=0.1).dtype == np.float64


def test_family_scores_normalise_each_task_against_its_own_reference_and_combine_flags():
  table = {("digits_mlp", "1111"): 0.9, ("digits_mlp", "2222"): None, ("digits_mlp", "3334"): 0.3,
           ("iris_mlp", "1111"): 0.5, ("iris_mlp", "2222"): 0.8, ("iris_mlp", "3334"): 0.6}
  scorer = Scorer(lambda t, f, c: table[(t, f)], reference={"digits_mlp": 0.8, "iris_mlp": 0.7},
                  chance={"digits_mlp": 0.1, "iris_mlp": 1 / 3})
  genomes = ga.stack([{"x": np.array([int(c) for c in f])} for f in ("1111", "2222", "3334")])
  protocol = CONFIG.surrogate(pool=False)
  got = phases.family_scores(scorer, ("digits_mlp", "iris_mlp"), genomes, protocol, seed=9, normalise="adam")
  assert [c["extra"] for c in scorer.calls] == [("adam",), ("adam",)] and [c["seed"] for c in scorer.calls] == [9, 9]
  assert [c["task"] for c in scorer.calls] == ["digits_mlp", "iris_mlp"]
  d = lambda a: (a - 0.1) / 0.7  # noqa: E731
  i = lambda a: (a - 1 / 3) / (0.7 - 1 / 3)  # noqa: E731
  np.testing.assert_allclose(got.fitness, [(d(0.9) + i(0.5)) / 2, WORST, (d(0.3) + i(0.6)) / 2])
  assert got.rejected.tolist() == [False, True, False]
  assert got.diverged.tolist() == [True, False, False]  # 1111 diverged on the first task only: diverged
  np.testing.assert_allclose(got.learning_rate, [0.02, 0.03, 0.04])  # the first task's
  assert got.runs == 2 * 3 * 4
  assert got.per_task["digits_mlp"]["reference"] == 0.8 and got.per_task["iris_mlp"]["reference"] == 0.7
  np.testing.assert_allclose(got.per_task["iris_mlp"]["accuracy"], [0.5, 0.8, 0.6])
  np.testing.assert_allclose(got.per_task["iris_mlp"]["normalised"], [i(0.5), i(0.8), i(0.6)])
  assert got.valid.shape == (3, protocol.seeds)
  np.testing.assert_allclose(got.valid[0], [(d(0.9 + e) + i(0.5 + e)) / 2 for e in np.linspace(-0.01, 0.01,
                                                                                               protocol.seeds)])
  raw = phases.family_scores(scorer, ("digits_mlp", "iris_mlp"), genomes, protocol, seed=9, normalise="none")
  assert scorer.calls[-1]["extra"] == () and raw.per_task["digits_mlp"]["reference"] is None
  np.testing.assert_allclose(raw.fitness, [0.7, WORST, 0.45])
  np.testing.assert_allclose(raw.per_task["digits_mlp"]["normalised"], [0.9, WORST, 0.3])
  assert phases.retry_slots(got) == [1] and phases.retry_slots(raw) == [1]


def test_the_tasks_and_labels_of_each_generation():
  family = dataclasses.replace(CONFIG, family=("mnist1d_mlp",))
  assert phases.evolution_tasks(family) == ("digits_mlp", "mnist1d_mlp")
  assert phases.generation_tasks(family, 0) == phases.generation_tasks(family, 3) == ("digits_mlp", "mnist1d_mlp")
  pool = dataclasses.replace(CONFIG, pool_task="wine_dnm")
  assert phases.generation_tasks(pool, 0) == ("wine_dnm",) and phases.generation_tasks(pool, 1) == ("digits_mlp",)
  assert phases.rescores_particles(pool) and not phases.rescores_particles(CONFIG)
  assert phases.surrogate_label(pool, 0) == "wine_dnm" and phases.surrogate_label(pool, 1) == "digits_mlp"
  assert phases.surrogate_label(family, 0) == "digits_mlp+mnist1d_mlp"
  short = dataclasses.replace(CONFIG, pool_surrogate_steps=10)
  assert phases.rescores_particles(short)
  assert phases.surrogate_label(short, 0) == "digits_mlp (pool surrogate)"
  assert phases.surrogate_label(short, 1) == "digits_mlp" and phases.surrogate_label(CONFIG, 0) == "digits_mlp"
  assert phases.final_tasks(family) == [("digits_mlp", False), ("mnist1d_mlp", False), ("iris_mlp", True),
                                        ("wine_dnm", True)]


# ---- generation_step ---------------------------------------------------------------------------------------------------

def test_the_pool_is_scored_once_with_the_pool_protocol_and_seed_and_recorded_member_by_member():
  config = dataclasses.replace(CONFIG, pool_surrogate_steps=10)
  state, strategy = fresh(config)
  rejected_fp = []

  def fitness(task, f, call):
    if not rejected_fp:
      rejected_fp.append(f)
    return None if f == rejected_fp[0] else quality(f)

  scorer = Scorer(fitness)
  state, records = phases.generation_step(state, config, strategy, scorer, describe)
  assert len(scorer.calls) == 1  # a pool member is never retried
  call = scorer.calls[0]
  assert call["seed"] == 5000 and call["protocol"] == config.surrogate(pool=True) and call["extra"] == ()
  assert records == list(state.archive) and len(records) == 4
  for f, r in zip(call["fps"], records):
    q = WORST if f == rejected_fp[0] else quality(f)
    assert r == {"fingerprint": f, "stage": "surrogate", "generation": 0, "task": "digits_mlp (pool surrogate)",
                 "particle": -1, "role": "candidate", "fitness": pytest.approx(q),
                 "learning_rate": pytest.approx(0.01 * (1 + int(f[0]))), "rejected": f == rejected_fp[0],
                 "diverged": diverges("digits_mlp", f), "attempts": 1, "per_task": {"digits_mlp": pytest.approx(q)}}
  assert 0 < sum(r["diverged"] for r in records) < 4  # the planted divergence is seen in the records
  summary = state.generations[-1]
  trained = [quality(f) for f in call["fps"] if f != rejected_fp[0]]
  assert summary["generation"] == 0 and summary["candidates"] == 4 and summary["runs"] == 12
  assert summary["rejected"] == 1 and summary["median"] == pytest.approx(np.median(trained))
  assert summary["best"] == pytest.approx(max(trained)) and summary["references"] == {"digits_mlp": None}
  assert summary["seconds"] >= 0 and summary["cpu_seconds"] >= 0 and "warm_start" not in summary
  assert state.phase == "search" and state.warm_start == ()
  gs = ga.GAState.from_dict(state.strategy, dict)
  assert gs.generation == 1 and sorted(gs.fitness.tolist(), reverse=True) == gs.fitness.tolist()
  assert gs.fitness.tolist() == pytest.approx(sorted(trained, reverse=True)[:2])


def _retry_plan(rejections):
  """``rejections[k]`` = the rows of the k-th call of generation 1 the scorer rejects (the pool's call is 0)."""
  def fitness(task, f, call):
    rows = rejections.get(call, ())
    fitness.row = getattr(fitness, "row", {})
    key = (call, f)
    fitness.row.setdefault(call, []).append(f)
    return None if len(fitness.row[call]) - 1 in rows else quality(f)
  return fitness


@pytest.mark.parametrize("tries", [1, 2, 4])
def test_a_rejected_mutant_is_replaced_up_to_mutant_tries_times_with_the_same_seed(tries):
  config = dataclasses.replace(CONFIG, mutant_tries=tries)
  state, strategy = fresh(config)
  plan = {1: (1, 2, 3), 2: (0, 1), 3: (0,), 4: (0,)}  # slot 0 passes; slot 3 on its 2nd try, slot 2 on its 3rd
  scorer = Scorer(_retry_plan(plan))
  state, _ = phases.generation_step(state, config, strategy, scorer, describe)
  state, records = phases.generation_step(state, config, strategy, scorer, describe)
  calls = scorer.calls[1:]
  assert len(calls) == min(tries, 4) and all(c["seed"] == 5001 for c in calls)
  assert all(c["protocol"] == config.surrogate(pool=False) for c in calls)
  slots = [[0, 1, 2, 3], [1, 2, 3], [1, 2], [1]][:tries]
  attempts = [1, 1, 1, 1]
  last = {}
  for call, rows in zip(calls, slots):
    assert len(call["fps"]) == len(rows)
    for j, s in enumerate(rows):
      last[s] = (call["fps"][j], j in plan[1 + slots.index(rows)])
  for s in range(4):
    attempts[s] = sum(s in rows for rows in slots)
  assert [r["attempts"] for r in records] == attempts
  assert [r["fingerprint"] for r in records] == [last[s][0] for s in range(4)]
  assert [r["rejected"] for r in records] == [last[s][1] for s in range(4)]
  assert [r["fitness"] for r in records] == [WORST if last[s][1] else pytest.approx(quality(last[s][0]))
                                             for s in range(4)]
  assert [r["per_task"]["digits_mlp"] for r in records] == [r["fitness"] for r in records]
  assert [r["particle"] for r in records] == [0, 0, 1, 1] and {r["role"] for r in records} == {"candidate"}
  summary = state.generations[-1]
  assert summary["runs"] == 3 * sum(len(c["fps"]) for c in calls) and summary["candidates"] == 4
  assert summary["rejected"] == sum(last[s][1] for s in range(4))
  gs = ga.GAState.from_dict(state.strategy, dict)  # each particle's best child, from the final scores
  for p in range(2):
    kids = [WORST if last[s][1] else quality(last[s][0]) for s in (2 * p, 2 * p + 1)]
    assert gs.fitness[p] == pytest.approx(max(kids))


def test_the_search_phase_ends_when_the_strategy_is_done():
  config = dataclasses.replace(CONFIG, steps=1)
  state, strategy = fresh(config)
  scorer = Scorer(lambda t, f, c: quality(f))
  state, _ = phases.generation_step(state, config, strategy, scorer, describe)
  assert state.phase == "search"
  state, _ = phases.generation_step(state, config, strategy, scorer, describe)
  assert state.phase == "elimination" and len(state.generations) == 2 and len(state.archive) == 8
  assert [g["generation"] for g in state.generations] == [0, 1]


def test_particles_are_rescored_on_the_evolution_tasks_with_their_own_seed():
  config = dataclasses.replace(CONFIG, pool_task="sbm_gcn", normalise="adam", family=("mnist1d_mlp",))
  state, strategy = fresh(config)
  scorer = Scorer(lambda t, f, c: quality(f) * (1.5 if t == "sbm_gcn" else 1.0) - (0.1 if t == "mnist1d_mlp" else 0),
                  reference={"digits_mlp": 0.8, "mnist1d_mlp": 0.6, "sbm_gcn": 0.7})
  state, _ = phases.generation_step(state, config, strategy, scorer, describe)
  assert [c["task"] for c in scorer.calls] == ["sbm_gcn"]
  particles = ga.GAState.from_dict(state.strategy, dict).particles
  state, records = phases.generation_step(state, config, strategy, scorer, describe)
  rescore = scorer.calls[1:3]
  assert [c["task"] for c in rescore] == ["digits_mlp", "mnist1d_mlp"] and {c["seed"] for c in rescore} == {5001 + 499}
  assert rescore[0]["fps"] == [fp(g) for g in ga.unstack(particles)]
  assert {c["seed"] for c in scorer.calls[3:]} == {5001}
  roles = [r["role"] for r in records]
  assert roles == ["particle", "particle"] + ["candidate"] * 4
  for i, r in enumerate(records[:2]):
    q = quality(r["fingerprint"])
    d, s = (q - 0.1) / 0.7, (q - 0.1 - 0.1) / 0.5
    assert r["particle"] == i and r["generation"] == 1 and r["stage"] == "surrogate" and r["attempts"] == 1
    assert r["task"] == "digits_mlp+mnist1d_mlp" and r["fitness"] == pytest.approx((d + s) / 2)
    assert r["per_task"] == {"digits_mlp": pytest.approx(d), "mnist1d_mlp": pytest.approx(s)}
    assert r["rejected"] is False and r["diverged"] == diverges("digits_mlp", r["fingerprint"])
    assert r["learning_rate"] == pytest.approx(0.01 * (1 + int(r["fingerprint"][0])))
  summary = state.generations[-1]
  assert summary["runs"] == 3 * 3 * 2 + 3 * 5 * 2  # the particles' re-scoring (Adam included) and the children
  assert summary["references"] == {"digits_mlp": 0.8, "mnist1d_mlp": 0.6}
  assert summary["candidates"] == 4


def test_particle_records_come_only_from_a_rescore():
  state, strategy = fresh()
  scorer = Scorer(lambda t, f, c: quality(f))
  state, _ = phases.generation_step(state, CONFIG, strategy, scorer, describe)
  state, records = phases.generation_step(state, CONFIG, strategy, scorer, describe)
  assert {r["role"] for r in records} == {"candidate"} and len(scorer.calls) == 2


def test_regularized_evolution_draws_its_parents_by_the_rescored_fitness():
  import jax  # pylint: disable=import-outside-toplevel
  from optix_evo.search import strategies  # pylint: disable=import-outside-toplevel
  config = dataclasses.replace(CONFIG, pool_task="wine_dnm", steps=1, tournament=2, pool_factor=3)
  strategy = strategies.make_strategy("regularized", OPS)
  state = SearchState.fresh({}, strategy.init(None, config.ga_params()).to_dict())
  scorer = Scorer(lambda t, f, c: 1 - quality(f) if t == "wine_dnm" else quality(f))  # the pool ranks backwards
  state, _ = phases.generation_step(state, config, strategy, scorer, describe)
  pool_fitness = ga.GAState.from_dict(state.strategy, dict).fitness
  state, records = phases.generation_step(state, config, strategy, scorer, describe)
  rescored = np.array([r["fitness"] for r in records if r["role"] == "particle"])
  assert rescored == pytest.approx([quality(r["fingerprint"]) for r in records if r["role"] == "particle"])
  key = ga._key(jax.random.PRNGKey(config.seed), 1, 1 << 21)
  expect = strategies.tournament(key, rescored, 2, 4)
  assert not np.array_equal(expect, strategies.tournament(key, pool_fitness, 2, 4))
  assert [r["particle"] for r in records if r["role"] == "candidate"] == expect.tolist()


def test_the_warm_start_names_only_the_known_optimizers_that_entered_the_pool():
  warm = ({"x": np.array([1, 1, 1, 1])}, {"x": np.array([0, 0, 0, 0])}, {"x": np.array([2, 2, 2, 2])})
  ops = OPS._replace(check=lambda pop: (np.asarray(pop["x"]).sum(1) > 0, pop))
  strategy = ga.ParticleGA(ops, warm_start=warm)
  state = SearchState.fresh({}, strategy.init(None, CONFIG.ga_params()).to_dict(), ("adam", "sgd", "lion"))
  scorer = Scorer(lambda t, f, c: quality(f))
  state, records = phases.generation_step(state, CONFIG, strategy, scorer, describe)
  assert [r["fingerprint"] for r in records][0] == "1111" and records[2]["fingerprint"] == "2222"
  assert state.warm_start == ("adam", "lion") and state.generations[-1]["warm_start"] == ["adam", "lion"]
  state, _ = phases.generation_step(state, CONFIG, strategy, scorer, describe)
  assert state.warm_start == ("adam", "lion") and "warm_start" not in state.generations[-1]


# ---- elimination ---------------------------------------------------------------------------------------------------

def _rec(fingerprint, fitness, rejected=False, task="digits_mlp", **extra):
  return {"fingerprint": fingerprint, "fitness": fitness, "rejected": rejected, "task": task, "generation": 1,
          "particle": 0, "attempts": 1, "role": "candidate", "per_task": {}, "stage": "surrogate", **extra}


def _archive_state(records, **changes):
  return dataclasses.replace(SearchState.fresh({}, {}), archive=tuple(records), **{"phase": "elimination", **changes})


def behaves(genomes, spec):
  """A toy behaviour for ``distinct_behaviour``: genomes whose entries sum alike behave alike (in the extended space;
  anything else would be the wrong space)."""
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  assert spec is graph.get_space(CONFIG.space), "probes ran in another space than the search's"
  return [int(np.sum(g["x"])) for g in genomes]


@pytest.fixture(autouse=True)
def toy_behaviour(monkeypatch):
  from optix_evo.graph import fingerprint  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(fingerprint, "behaviour_fingerprints", behaves)


def genome_of(record):
  return {"x": np.array([int(c) for c in record["fingerprint"]])}


def test_elimination_candidates_count_one_per_behaviour_before_the_cut():
  archive = [_rec("1000", 0.9), _rec("0100", 0.8), _rec("2000", 0.7), _rec("3000", 0.6), _rec("0003", 0.5)]
  state = _archive_state(archive)
  assert phases.elimination_candidates(state, CONFIG, genome_of) == [0, 2, 3]  # 0100 behaves like 1000
  assert phases.elimination_candidates(state, CONFIG) == [0, 1, 2]


def test_elimination_candidates_rank_the_evolution_archive_once_per_program():
  archive = [_rec("1000", 0.5), _rec("2000", 0.9, task="digits_mlp (pool surrogate)"), _rec("3000", 0.7),
             _rec("4000", 0.7), _rec("1000", 0.8), _rec("5000", 0.95, rejected=True), _rec("6000", WORST),
             {"fingerprint": "7000", "fitness": 0.6, "rejected": False}, _rec("8000", 0.65, task="wine_dnm")]
  state = _archive_state(archive)
  # 6000 trained at WORST (not rejected): a candidate, last
  assert phases.elimination_candidates(state, dataclasses.replace(CONFIG, elimination_candidates=10)) == [4, 2, 3, 7, 6]
  assert phases.elimination_candidates(state, CONFIG) == [4, 2, 3]
  assert phases.elimination_candidates(state, dataclasses.replace(CONFIG, elimination_candidates=1)) == [4]
  family = dataclasses.replace(CONFIG, family=("mnist1d_mlp",), elimination_candidates=10)
  mixed = _archive_state([_rec("1000", 0.5, task="digits_mlp+mnist1d_mlp"), _rec("2000", 0.9)])
  assert phases.elimination_candidates(mixed, family) == [0]


def test_a_trained_candidate_below_worst_is_a_candidate_and_can_survive():
  # normalised against Adam, a trained candidate can score below WORST (it is no rejection): with free slots it
  # enters elimination and survives a stage rather than ending the search with "no candidate survived"
  archive = [_rec("1000", 0.5), _rec("2000", -1.7), _rec("3000", WORST, rejected=True)]
  state = _archive_state(archive)
  assert phases.elimination_candidates(state, CONFIG) == [0, 1]
  assert phases.select_survivors([0, 1, 2], np.array([-1.7, 0.2, WORST]), 3, rejected=np.array([False, False, True])) \
      == [1, 0]
  assert phases.select_survivors([0, 1, 2], np.array([-1.7, -2.0, WORST]), 3,
                                 rejected=np.array([False, False, True])) == [0, 1]
  scorer = Scorer(lambda t, f, c: -0.5 if f == "2000" else 0.4, reference={"digits_mlp": 0.5})
  config = dataclasses.replace(CONFIG, normalise="adam")
  state, _ = phases.elimination_step(state, config, scorer, genome_of)
  assert state.stages[-1]["survivors"] == [0, 1]  # 2000 trained at (−0.5 − 0.1) / 0.4 = −1.5 < WORST: it survives
  assert scorer.calls[-1]["extra"] == ("adam",) and state.stages[-1]["fitness"] == pytest.approx([0.75, -1.5])


def test_select_survivors_keeps_the_best_first_of_equals_never_a_rejected_one():
  assert phases.select_survivors([10, 11, 12, 13], np.array([0.5, 0.9, 0.9, WORST]), 2) == [11, 12]
  assert phases.select_survivors([10, 11, 12, 13], [0.5, 0.9, 0.9, WORST], 9) == [11, 12, 10]
  assert phases.select_survivors([10, 11], np.array([WORST, -0.999]), 2) == [11]
  assert phases.select_survivors([10, 11], np.array([0.3, 0.4]), 2, rejected=np.array([False, True])) == [10]
  assert phases.select_survivors([10, 11], np.float32([0.1, 0.1 + 1e-9]), 1) == [10]


def test_elimination_stages_score_their_candidates_with_their_budget_and_seed():
  archive = [_rec("1000", 0.5, learning_rate=0.1), _rec("2000", 0.9), _rec("3000", 0.7), _rec("4000", 0.6)]
  state = _archive_state(archive)
  stage_fitness = {"1000": 0.8, "2000": 0.3, "3000": 0.6, "4000": 0.1}
  scorer = Scorer(lambda t, f, c: stage_fitness[f])
  state, records = phases.elimination_step(state, CONFIG, scorer, genome_of)
  call = scorer.calls[0]
  assert call["fps"] == ["2000", "3000", "4000"] and call["seed"] == 5100 and call["task"] == "digits_mlp"
  assert call["protocol"] == CONFIG.stage_protocol(CONFIG.stages[0]) and call["protocol"].seeds == 2
  stage = state.stages[0]
  assert stage["stage"] == 1 and stage["candidates"] == [1, 2, 3] and stage["survivors"] == [2, 1]
  assert stage["fitness"] == pytest.approx([0.3, 0.6, 0.1]) and stage["runs"] == 9
  assert stage["learning_rate"] == pytest.approx([0.03, 0.04, 0.05])
  assert state.phase == "elimination"
  expect = spearman_interval([0.9, 0.7, 0.6], np.array([0.3, 0.6, 0.1]), seed=CONFIG.seed)._asdict()
  assert state.rank_correlation == pytest.approx(expect)
  assert [r["stage"] for r in records] == ["elimination-1"] * 3
  r = records[0]
  assert r == {"fingerprint": "2000", "fitness": pytest.approx(0.3), "rejected": False, "task": "digits_mlp",
               "stage": "elimination-1", "learning_rate": pytest.approx(0.03),
               "per_seed": pytest.approx([0.29, 0.31])}
  state, records = phases.elimination_step(state, CONFIG, scorer, genome_of)
  call = scorer.calls[1]
  assert call["fps"] == ["3000", "2000"] and call["seed"] == 5101
  assert call["protocol"] == CONFIG.stage_protocol(CONFIG.stages[1]) and call["protocol"].seeds == 3
  assert state.stages[1]["stage"] == 2 and state.stages[1]["survivors"] == [2] and state.phase == "final"
  assert state.rank_correlation == pytest.approx(expect)  # measured at the first stage only
  assert [r["stage"] for r in records] == ["elimination-2"] * 2


def test_elimination_without_candidates_is_refused_with_the_exact_message():
  state = _archive_state([_rec("1000", WORST, rejected=True)])
  message = ("No candidate survived the surrogate (every one was rejected or diverged): lower the rejection "
             "thresholds or widen lr_grid.")
  with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
    phases.elimination_step(state, CONFIG, Scorer(lambda t, f, c: 0.5), lambda r: None)
  later = _archive_state([_rec("1000", 0.5)], stages=({"survivors": []},))
  with pytest.raises(InputError, match="No candidate survived"):
    phases.elimination_step(later, CONFIG, Scorer(lambda t, f, c: 0.5), lambda r: None)


# ---- the final comparison ------------------------------------------------------------------------------------------

class Tuner:
  """Planted tuned test accuracies: ``test[task][row]`` per seed."""

  def __init__(self, test):
    self.test, self.calls = test, []

  def tune(self, task, genomes, *, seed, zoo=None, **kwargs):
    self.calls.append({"task": task, "n": len(ga.unstack(genomes)), "seed": seed, "zoo": zoo, **kwargs})
    t = np.asarray(self.test[task], np.float32)
    n, seeds = t.shape
    lr = np.full(n, kwargs["lr_grid"][-1])
    return Scores(t.mean(1), lr, np.zeros(n, bool), np.arange(n) == 1, t + 0.01, t,
                  np.tile(t.mean(1)[:, None], (1, 2)), 7 * n)


PARTICIPANTS = [{"kind": "found", "name": "found #1"}, {"kind": "baseline", "name": "adam"},
                {"kind": "reference", "name": "nos_opt9"}, {"kind": "baseline", "name": "sgd", "zoo": "sgd"}]


def _final_test(edge):
  seeds = np.array([0.6, 0.7, 0.8])
  return [seeds + edge + np.array([0.001, -0.002, 0.0015]), seeds, seeds - 0.3, seeds - edge]


def test_each_final_task_is_tuned_in_turn_with_its_seed_and_the_papers_schedule():
  test = {"digits_mlp": _final_test(0.05), "iris_mlp": _final_test(-0.04), "wine_dnm": _final_test(0.0)}
  tuner = Tuner(test)
  genomes = ga.stack([{"x": np.array([i] * 4)} for i in range(4)])
  state = _archive_state([], phase="final")
  done, states = [], []
  start = time.perf_counter()
  for k in range(3):
    state = phases.comparison_step(state, CONFIG, tuner, PARTICIPANTS, genomes)
    done.append(state.phase)
    states.append(state)
  wall = time.perf_counter() - start
  assert done == ["final", "final", "done"]
  assert [list(s.final["tasks"]) for s in states] == [["digits_mlp"], ["digits_mlp", "iris_mlp"],
                                                       ["digits_mlp", "iris_mlp", "wine_dnm"]]  # never mutated
  assert "holm" not in states[0].final and "holm" not in states[1].final
  for table in state.final["tasks"].values():
    assert set(table) == {"held_out", "learning_rate", "valid", "test", "grid_valid", "diverged", "comparisons",
                          "runs", "seconds", "cpu_seconds"}
    assert 0 <= table["seconds"] <= wall and 0 <= table["cpu_seconds"] <= wall * 4
  assert [c["task"] for c in tuner.calls] == ["digits_mlp", "iris_mlp", "wine_dnm"]
  assert [c["seed"] for c in tuner.calls] == [5500, 5501, 5502]
  for c in tuner.calls:  # T = 50: warmup T // 15, hold 2T // 15, validation every T // epochs steps
    assert c["steps"] == 50 and c["lr_grid"] == (0.1, 0.01) and c["seeds"] == 3 and c["epoch"] == 25
    assert c["warmup_steps"] == 3 and c["hold_steps"] == 6 and c["zoo"] == {3: "sgd"} and c["n"] == 4
    assert all(type(c[k]) is int for k in ("epoch", "warmup_steps", "hold_steps"))
  final = state.final
  assert final["participants"] == PARTICIPANTS and list(final["tasks"]) == ["digits_mlp", "iris_mlp", "wine_dnm"]
  table = final["tasks"]["iris_mlp"]
  assert table["held_out"] is True and final["tasks"]["digits_mlp"]["held_out"] is False
  assert table["runs"] == 28 and table["learning_rate"] == [0.01] * 4
  np.testing.assert_allclose(table["test"], np.float32(test["iris_mlp"]))
  np.testing.assert_allclose(table["valid"], np.float32(test["iris_mlp"]) + 0.01, rtol=1e-6)
  assert table["diverged"] == [False, True, False, False] and np.shape(table["grid_valid"]) == (4, 2)
  comps = table["comparisons"]
  assert [(c["found"], c["baseline"]) for c in comps] == [("found #1", "adam"), ("found #1", "sgd")]
  t = np.float32(test["iris_mlp"])
  for c, j in zip(comps, (1, 3)):
    assert c["difference"] == pytest.approx(paired_difference(t[0], t[j])._asdict(), nan_ok=True)
    assert c["difference"]["estimate"] < 0  # found − baseline: found #1 is planted 0.04 below
    assert c["p_value"] == pytest.approx(paired_p_value(t[0], t[j]))
    assert c["verdict"] == verdict(paired_difference(t[0], t[j]))
  assert final["holm"] == phases.holm_summary(final)


def test_a_single_final_task_ends_the_comparison_at_once():
  config = dataclasses.replace(CONFIG, holdout_tasks=())
  tuner = Tuner({"digits_mlp": _final_test(0.05)})
  genomes = ga.stack([{"x": np.array([i] * 4)} for i in range(4)])
  state = phases.comparison_step(_archive_state([], phase="final"), config, tuner, PARTICIPANTS, genomes)
  assert state.phase == "done" and state.final["holm"] == [] and len(tuner.calls) == 1
  short = dataclasses.replace(config, final_steps=16, epochs=20)  # fewer steps than epochs: validate every step
  phases.comparison_step(_archive_state([], phase="final"), short, tuner, PARTICIPANTS, genomes)
  assert (tuner.calls[-1]["epoch"], tuner.calls[-1]["warmup_steps"], tuner.calls[-1]["hold_steps"]) == (1, 1, 2)


def test_holm_verdicts_over_the_held_out_tasks_only():
  def comp(found, baseline, estimate, p):
    return {"found": found, "baseline": baseline, "difference": {"estimate": estimate}, "p_value": p}

  final = {"tasks": {
      "search": {"held_out": False, "comparisons": [comp("found #1", "adam", 0.5, 1e-9)]},
      "a": {"held_out": True, "comparisons": [comp("found #1", "sgd", 0.1, 0.01), comp("found #2", "sgd", 0.3, 0.0),
                                              comp("found #1", "adam", 0.2, 0.02)]},
      "b": {"held_out": True, "comparisons": [comp("found #1", "sgd", -0.1, 0.001), comp("found #1", "adam", 0.1,
                                                                                          0.0249)]},
      "c": {"held_out": True, "comparisons": [comp("found #1", "sgd", 0.0, 0.0), {"found": "found #1",
                                                                                  "baseline": "adam",
                                                                                  "difference": {"estimate": 0.1}}]}}}
  out = phases.holm_summary(final)
  assert [o["baseline"] for o in out] == ["adam", "sgd"] and {o["found"] for o in out} == {"found #1"}
  assert {o["alpha"] for o in out} == {0.05}
  adam, sgd = out
  assert [t["task"] for t in adam["tasks"]] == ["a", "b", "c"]
  adjusted = holm_bonferroni([0.02, 0.0249, float("nan")])
  assert [t["holm_p"] for t in adam["tasks"]][:2] == pytest.approx(adjusted[:2].tolist())
  assert np.isnan(adam["tasks"][2]["holm_p"]) and adam["tasks"][2]["p_value"] is None
  assert [t["verdict"] for t in adam["tasks"]] == ["beats", "beats", "ties"]  # both adjusted to 2 · 0.02 = 0.04
  assert [t["difference"] for t in sgd["tasks"]] == [0.1, -0.1, 0.0]
  assert [t["holm_p"] for t in sgd["tasks"]] == pytest.approx([0.01, 0.002, 0.0])
  assert [t["verdict"] for t in sgd["tasks"]] == ["beats", "loses", "ties"]  # p 0 but no difference: ties
  assert [t["p_value"] for t in sgd["tasks"]] == [0.01, 0.001, 0.0]
  at = phases.holm_summary(final, alpha=0.002)  # b's adjusted p is exactly alpha: not below it, so no call
  assert [t["verdict"] for t in at[1]["tasks"]] == ["ties", "ties", "ties"]
  strict = phases.holm_summary(final, alpha=0.01)
  assert [t["verdict"] for t in strict[1]["tasks"]] == ["ties", "loses", "ties"]  # 0.01 is not below 0.01
  other = phases.holm_summary(final, found="found #2")
  assert [o["baseline"] for o in other] == ["adam", "sgd"] and other[0]["tasks"] == []
  assert [t["verdict"] for t in other[1]["tasks"]] == ["beats"]


def test_the_first_stage_drops_a_candidate_that_behaves_like_a_better_one():
  archive = [_rec("1000", 0.9), _rec("0100", 0.8), _rec("2000", 0.7)]
  scorer = Scorer(lambda t, f, c: 0.5)
  state, _ = phases.elimination_step(_archive_state(archive), CONFIG, scorer, genome_of)
  assert state.stages[0]["candidates"] == [0, 2] and scorer.calls[0]["fps"] == ["1000", "2000"]


def test_every_found_optimizer_is_compared_with_every_baseline_whatever_the_order():
  people = [{"kind": "baseline", "name": "adam"}, {"kind": "reference", "name": "nos_opt9"},
            {"kind": "found", "name": "found #1"}, {"kind": "baseline", "name": "sgd"},
            {"kind": "found", "name": "found #2"}]
  t = np.array([[0.5, 0.6, 0.7], [0.1, 0.1, 0.1], [0.6, 0.8, 0.7], [0.4, 0.5, 0.6], [0.5, 0.55, 0.7]], np.float32)
  scores = Scores(t.mean(1), np.ones(5), np.zeros(5, bool), np.zeros(5, bool), t, t, None, 15)
  out = phases.comparisons(people, scores)
  assert [(c["found"], c["baseline"]) for c in out] == [("found #1", "adam"), ("found #1", "sgd"),
                                                         ("found #2", "adam"), ("found #2", "sgd")]
  assert [c["difference"]["estimate"] for c in out] == pytest.approx([0.1, 0.2, -0.0166667, 0.0833333], abs=1e-6)


def test_generation_and_stage_timings_are_elapsed_seconds():
  state, strategy = fresh()
  start = time.perf_counter()
  state, _ = phases.generation_step(state, CONFIG, strategy, Scorer(lambda t, f, c: quality(f)), describe)
  wall = time.perf_counter() - start
  summary = state.generations[-1]
  assert 0 <= summary["seconds"] <= wall and 0 <= summary["cpu_seconds"] <= 4 * wall
  archive = [_rec("1000", 0.9), _rec("2000", 0.7)]
  start = time.perf_counter()
  state, _ = phases.elimination_step(_archive_state(archive), CONFIG, Scorer(lambda t, f, c: 0.5), genome_of)
  wall = time.perf_counter() - start
  assert 0 <= state.stages[0]["seconds"] <= wall and 0 <= state.stages[0]["cpu_seconds"] <= 4 * wall


def test_the_warm_start_is_read_only_for_the_pools_slots_and_only_from_a_strategy_that_has_one():
  warm = tuple({"x": np.array([k + 1, 0, 0, 1])} for k in range(5))  # five known optimizers, a pool of four
  strategy = ga.ParticleGA(OPS, warm_start=warm)
  names = ("a", "b", "c", "d", "e")
  state = SearchState.fresh({}, strategy.init(None, CONFIG.ga_params()).to_dict(), names)
  state, records = phases.generation_step(state, CONFIG, strategy, Scorer(lambda t, f, c: quality(f)), describe)
  assert [r["fingerprint"] for r in records] == ["1001", "2001", "3001", "4001"]
  assert state.warm_start == ("a", "b", "c", "d") and state.generations[-1]["warm_start"] == ["a", "b", "c", "d"]

  class Bare:  # a strategy without a warm start of its own
    def __init__(self, inner):
      self.inner = inner

    def __getattr__(self, name):
      if name == "warm_start":
        raise AttributeError(name)
      return getattr(self.inner, name)

  bare = Bare(ga.ParticleGA(OPS))
  state = SearchState.fresh({}, bare.init(None, CONFIG.ga_params()).to_dict(), ("adam",))
  state, _ = phases.generation_step(state, CONFIG, bare, Scorer(lambda t, f, c: quality(f)), describe)
  assert state.warm_start == () and state.generations[-1]["warm_start"] == []


def test_the_rank_correlation_is_the_bootstrap_interval_with_the_searchs_seed():
  surrogate = [0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55]
  stage = {f"{k + 1}000": v for k, v in enumerate([0.5, 0.7, 0.4, 0.6, 0.2, 0.3, 0.1, 0.35])}
  archive = [_rec(f"{k + 1}000", v) for k, v in enumerate(surrogate)]
  config = dataclasses.replace(CONFIG, elimination_candidates=8)
  state, _ = phases.elimination_step(_archive_state(archive), config, Scorer(lambda t, f, c: stage[f]), genome_of)
  planted = np.array(list(stage.values()))
  expect = spearman_interval(surrogate, planted, seed=config.seed)._asdict()
  assert expect != pytest.approx(spearman_interval(surrogate, planted, seed=config.seed + 1)._asdict())
  assert state.rank_correlation == pytest.approx(expect)


def test_a_candidate_rejected_at_a_stage_is_recorded_so_and_never_survives():
  archive = [_rec("1000", 0.9), _rec("2000", 0.8), _rec("3000", 0.7)]
  scorer = Scorer(lambda t, f, c: None if f == "1000" else 0.5)
  state, records = phases.elimination_step(_archive_state(archive), CONFIG, scorer, genome_of)
  assert [r["rejected"] for r in records] == [True, False, False]
  assert [r["fitness"] for r in records] == [WORST, 0.5, 0.5] and state.stages[0]["survivors"] == [1, 2]


def test_a_generation_without_a_trained_member_has_the_worst_median():
  state, strategy = fresh()
  state, records = phases.generation_step(state, CONFIG, strategy, Scorer(lambda t, f, c: None), describe)
  summary = state.generations[-1]
  assert all(r["rejected"] for r in records) and summary["rejected"] == 4 and summary["median"] == WORST


def test_raw_family_fitness_averages_float32_scores_in_float64():
  class Float32(Scorer):
    def score(self, *args, **kwargs):
      s = super().score(*args, **kwargs)
      return s._replace(fitness=s.fitness.astype(np.float32), valid=s.valid.astype(np.float32))

  table = {"digits_mlp": 0.1, "mnist1d_mlp": 0.2}
  genomes = ga.stack([{"x": np.array([1, 1, 1, 1])}])
  got = phases.family_scores(Float32(lambda t, f, c: table[t]), ("digits_mlp", "mnist1d_mlp"), genomes,
                             CONFIG.surrogate(pool=False), seed=0, normalise="none")
  expect = (np.float64(np.float32(0.1)) + np.float64(np.float32(0.2))) / 2
  assert expect != np.float64(np.mean(np.float32([0.1, 0.2])))  # float32 arithmetic would give another fitness
  assert got.fitness.dtype == np.float64 and got.fitness[0] == expect
  assert got.valid.dtype == np.float64  # the per-seed fitness too


def test_survivors_keep_the_candidates_order_among_ties_in_a_field_large_enough_for_an_unstable_sort():
  fitness = np.array([2, 1, 1, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 1, 2, 2, 1], float)  # quicksort reorders these ties
  assert phases.select_survivors(list(range(100, 117)), fitness, 5) == [100, 109, 111, 114, 115]
  assert phases.select_survivors(list(range(100, 117)), fitness, 5, rejected=np.zeros(17, bool)) == [100, 109, 111,
                                                                                                   114, 115]
