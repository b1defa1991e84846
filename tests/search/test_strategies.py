"""Regularized evolution (tournament selection with aging), the Strategy protocol and warm starts, on the toy genome
space of test_ga (no training, no graph), with planted fitness."""

import jax
import numpy as np

from optix_evo.search import ga
from optix_evo.search.strategies import STRATEGIES, RegularizedEvolution, Strategy, make_strategy, tournament

from tests.search.test_ga import OPS, _fitness

PARAMS = ga.GAParams(particles=2, steps=3, mutants=2, pool_factor=3, max_tries=200, tournament=3)
KEY = jax.random.PRNGKey(0)


def test_every_strategy_implements_the_protocol_and_asks_the_same_budget():
  sizes = {}
  for name, cls in STRATEGIES.items():
    strategy = cls(OPS)
    assert isinstance(strategy, Strategy)
    state, asked = strategy.init(KEY, PARAMS), []
    while not strategy.done(state, PARAMS):
      for when in ("before ask", "after ask"):  # the protocol: one int per slot of the current generation, always
        parents = strategy.parents(state, PARAMS)
        assert parents.shape == (PARAMS.generation_size(state.generation),), (name, when)
        assert parents.dtype.kind == "i" and (parents >= -1).all(), (name, when)
        if when == "before ask":
          pop, state = strategy.ask(KEY, state, PARAMS)
      asked.append(pop["x"].shape[0])
      state, _ = strategy.tell(KEY, pop, _fitness(pop), state, PARAMS)
    sizes[name] = asked
  assert sizes["ga"] == sizes["regularized"] == sizes["random"] == [6, 4, 4, 4]


def test_tournament_picks_the_best_of_its_sample():
  fitness = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.4])
  assert (tournament(KEY, fitness, size=8, count=5) == 1).all()  # S = P: always the best
  winners = tournament(KEY, fitness, size=3, count=400)
  for i, w in enumerate(winners[:50]):  # each winner is the best of its own sample of 3
    sample = np.asarray(jax.random.choice(jax.random.fold_in(KEY, i), 8, (3,), replace=False))
    assert w == sample[np.argmax(fitness[sample])]
  # selection pressure: P(winner = rank r from the top) for S=3 of P=8 is C(8-r, 2) / C(8, 3): 21/56 for the best, 0
  # for the two worst
  counts = np.bincount(np.argsort(np.argsort(-fitness))[winners], minlength=8) / 400
  assert abs(counts[0] - 21 / 56) < 0.08 and counts[6] == counts[7] == 0
  assert (np.bincount(tournament(KEY, fitness, size=1, count=400), minlength=8) > 0).all()  # S = 1: uniform


def test_aging_removes_the_oldest_not_the_worst():
  strategy = RegularizedEvolution(OPS)
  state = strategy.init(KEY, PARAMS)
  pool, state = strategy.ask(KEY, state, PARAMS)
  planted = np.array([9.0, 1.0, 2.0, 3.0, 4.0, 5.0])  # the oldest member is by far the best
  state, _ = strategy.tell(KEY, pool, planted, state, PARAMS)
  np.testing.assert_array_equal(state.fitness, planted)  # generation 0: the pool is the population, oldest first
  kids, state = strategy.ask(KEY, state, PARAMS)
  # every parent is a tournament winner of the population
  key = ga._key(KEY, 1, 1 << 21)  # pylint: disable=protected-access  # the tournament's key of generation 1
  assert all(planted[p] == max(planted[np.asarray(jax.random.choice(jax.random.fold_in(key, i), 6, (3,),
                                                                      replace=False))])
             for i, p in enumerate(strategy.parents(state, PARAMS)))
  for j, p in enumerate(strategy.parents(state, PARAMS)):  # one mutation away from its parent
    assert (kids["x"][j] != pool["x"][p]).sum() == 1
  child_fitness = np.array([0.5, 0.6, 0.7, 0.8])
  state, _ = strategy.tell(KEY, kids, child_fitness, state, PARAMS)
  # the 4 oldest (9, 1, 2, 3) die although 9 is the best; the children join at the young end
  np.testing.assert_array_equal(state.fitness, [4.0, 5.0, 0.5, 0.6, 0.7, 0.8])
  np.testing.assert_array_equal(state.particles["x"][2:], kids["x"])
  np.testing.assert_array_equal(state.particles["x"][:2], pool["x"][4:])


def test_regularized_evolution_climbs_a_planted_fitness():
  def best_after(cls, seed):
    strategy, key = cls(OPS), jax.random.PRNGKey(seed)
    params = ga.GAParams(particles=2, steps=8, mutants=2, pool_factor=2, tournament=2)
    state, best = strategy.init(key, params), -np.inf
    while not strategy.done(state, params):
      pop, state = strategy.ask(key, state, params)
      state, metrics = strategy.tell(key, pop, _fitness(pop), state, params)
      best = max(best, metrics["best"])
    return best
  evolved = np.mean([best_after(RegularizedEvolution, s) for s in range(6)])
  assert evolved >= 15.0  # the optimum is 18 (x = 3, 3, 3)


def test_warm_start_seeds_the_first_slots_of_generation_zero():
  warm = ({"x": np.array([3, 3, 3], np.int32)}, {"x": np.array([0, 0, 0], np.int32)},  # the second fails the check
          {"x": np.array([1, 2, 3], np.int32)})
  for name, cls in STRATEGIES.items():
    cold_pop, _ = cls(OPS).ask(KEY, cls(OPS).init(KEY, PARAMS), PARAMS)
    strategy = cls(OPS, warm)
    pop, state = strategy.ask(KEY, strategy.init(KEY, PARAMS), PARAMS)
    assert pop["x"][0].tolist() == [3, 3, 3] and pop["x"][2].tolist() == [1, 2, 3], name
    assert pop["x"][1].sum() > 0, name  # the degenerate one was replaced by a random genome
    np.testing.assert_array_equal(pop["x"][3:], cold_pop["x"][3:])  # the rest: the same random pool as cold
    state, _ = strategy.tell(KEY, pop, _fitness(pop), state, PARAMS)
    if not strategy.done(state, PARAMS):
      kids, _ = strategy.ask(KEY, state, PARAMS)  # later generations are not seeded
      assert kids["x"].shape[0] == PARAMS.generation_size(1)


def test_make_strategy_builds_the_named_strategy_with_its_warm_start():
  warm = ({"x": np.array([3, 3, 3], np.int32)},)
  for name, cls in (("ga", ga.ParticleGA), ("regularized", RegularizedEvolution), ("random", ga.RandomSearch)):
    strategy = make_strategy(name, OPS, warm)
    assert type(strategy) is cls and strategy.name == name and strategy.ops is OPS
    pop, _ = strategy.ask(KEY, strategy.init(KEY, PARAMS), PARAMS)
    assert pop["x"][0].tolist() == [3, 3, 3]
  assert set(STRATEGIES) == {"ga", "regularized", "random"}


def test_tournament_size_is_capped_at_the_population():
  fitness = np.array([0.3, 0.9, 0.1])
  assert tournament(KEY, fitness, size=50, count=20).tolist() == [1] * 20  # S > P: the whole population, the best


def test_regularized_evolution_never_asks_for_a_genome_drawn_before():
  strategy = RegularizedEvolution(OPS)
  params = ga.GAParams(particles=2, steps=4, mutants=2, pool_factor=3, tournament=2)
  state, drawn = strategy.init(KEY, params), []
  while not strategy.done(state, params):
    pop, state = strategy.ask(KEY, state, params)
    again, state = strategy.retry(KEY, state, params, [0, 1])  # a retry is new to everything too
    drawn += [OPS.fingerprint(g) for g in ga.unstack(pop)] + [OPS.fingerprint(g) for g in ga.unstack(again)]
    state, _ = strategy.tell(KEY, pop, _fitness(pop), state, params)
  assert len(drawn) == len(set(drawn)) == 6 + 2 + 4 * (4 + 2)


def test_regularized_parents_are_none_in_the_pool_and_metrics_describe_the_told_generation():
  strategy = RegularizedEvolution(OPS)
  state = strategy.init(KEY, PARAMS)
  assert strategy.parents(state, PARAMS).tolist() == [-1] * 6  # generation 0: the random pool, no parents
  pool, state = strategy.ask(KEY, state, PARAMS)
  assert strategy.parents(state, PARAMS).tolist() == [-1] * 6
  planted = np.array([9.0, ga.WORST, 2.0, 3.0, 4.0, 5.0])
  state, metrics = strategy.tell(KEY, pool, planted, state, PARAMS)
  assert metrics == {"best": 9.0, "median": 4.0, "rejected": 1}
  kids, state = strategy.ask(KEY, state, PARAMS)
  state, metrics = strategy.tell(KEY, kids, np.array([0.5, ga.WORST, 0.7, 0.8]), state, PARAMS)
  # the children's own best, median and rejections, although the population still holds 4 and 5
  assert metrics == {"best": 0.8, "median": 0.7, "rejected": 1}


def test_every_strategy_reads_float32_fitness_in_float64():
  # fitness from a JAX evaluator is float32; the generation's median is taken in float64, as for float64 fitness
  f32 = np.array([0.1, 0.2, 0.3, 0.7, 0.4, 0.9], np.float32)
  for name, cls in STRATEGIES.items():
    got = []
    for fitness in (f32, f32.astype(np.float64)):
      strategy = cls(OPS)
      pool, state = strategy.ask(KEY, strategy.init(KEY, PARAMS), PARAMS)
      got.append(strategy.tell(KEY, pool, fitness, state, PARAMS)[1])
    assert got[0] == got[1] and got[0]["median"] == np.median(f32.astype(np.float64)), name
