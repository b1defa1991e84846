"""The particle GA and random search: evosax-shaped ask/tell/retry on a toy genome space (no training, no graph)."""

import jax
import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.search import ga

# Toy genome: 3 small integers; "degenerate" when they sum to 0; fingerprint = the tuple.


def _mutate(key, g):
  x = np.asarray(g["x"]).copy()
  x[int(jax.random.randint(key, (), 0, 3))] = int(jax.random.randint(jax.random.fold_in(key, 1), (), 0, 4))
  return {"x": x}


OPS = ga.GenomeOps(
    random=lambda key: {"x": np.asarray(jax.random.randint(key, (3,), 0, 4), np.int32)},
    mutate=_mutate,
    check=lambda pop: (np.sum(pop["x"], axis=1) > 0, pop),
    fingerprint=lambda g: str(tuple(int(v) for v in np.asarray(g["x"]))),
)
PARAMS = ga.GAParams(particles=3, steps=2, mutants=2, pool_factor=3, max_tries=200)
KEY = jax.random.PRNGKey(0)


def _fitness(pop):
  return np.asarray(pop["x"], np.float64) @ np.array([1.0, 2.0, 3.0])


def _run(strategy, seed):
  key, state, asked = jax.random.PRNGKey(seed), strategy.init(jax.random.PRNGKey(seed), PARAMS), []
  while not strategy.done(state, PARAMS):
    pop, state = strategy.ask(key, state, PARAMS)
    asked.append([OPS.fingerprint(g) for g in ga.unstack(pop)])
    state, _ = strategy.tell(key, pop, _fitness(pop), state, PARAMS)
  return state, asked


def test_pool_then_particles_then_mutants():
  strategy = ga.ParticleGA(OPS)
  state = strategy.init(KEY, PARAMS)
  pop, state = strategy.ask(KEY, state, PARAMS)
  assert pop["x"].shape == (9, 3) and (strategy.parents(state, PARAMS) == -1).all()
  fps = [OPS.fingerprint(g) for g in ga.unstack(pop)]
  assert len(set(fps)) == 9 and all(np.sum(pop["x"], axis=1) > 0)  # duplicate filter and integrity check
  fit = _fitness(pop)
  state, metrics = strategy.tell(KEY, pop, fit, state, PARAMS)
  np.testing.assert_array_equal(state.fitness, np.sort(fit)[::-1][:3])  # the pool's best become the particles
  assert metrics["best"] == fit.max() and state.generation == 1
  kids, state = strategy.ask(KEY, state, PARAMS)
  assert kids["x"].shape == (6, 3) and strategy.parents(state, PARAMS).tolist() == [0, 0, 1, 1, 2, 2]
  kfps = [OPS.fingerprint(g) for g in ga.unstack(kids)]
  for p in range(3):  # each mutant is new to its particle's history and one mutation away from it
    assert kfps[2 * p] != kfps[2 * p + 1] and (kids["x"][2 * p] != state.particles["x"][p]).sum() == 1
    assert set(kfps[2 * p:2 * p + 2]) <= set(state.seen[p])  # recorded by ask, so a retry cannot repeat them
  kfit = _fitness(kids)
  kfit[0], kfit[1] = -5.0, -6.0  # particle 0's children are both worse than it: the better one replaces it anyway
  new, _ = strategy.tell(KEY, kids, kfit, state, PARAMS)
  for p in range(3):
    assert new.fitness[p] == kfit[2 * p:2 * p + 2].max()
    np.testing.assert_array_equal(new.particles["x"][p], kids["x"][2 * p + int(np.argmax(kfit[2 * p:2 * p + 2]))])


def test_retry_replaces_only_the_given_slots_with_new_mutants_of_the_same_parent():
  strategy = ga.ParticleGA(OPS)
  state = strategy.init(KEY, PARAMS)
  pop, state = strategy.ask(KEY, state, PARAMS)
  state, _ = strategy.tell(KEY, pop, _fitness(pop), state, PARAMS)
  kids, state = strategy.ask(KEY, state, PARAMS)
  seen_before = [set(s) for s in state.seen]
  again, state = strategy.retry(KEY, state, PARAMS, [1, 4])
  assert again["x"].shape == (2, 3)
  for j, slot in enumerate([1, 4]):
    parent = slot // PARAMS.mutants
    fp = OPS.fingerprint({"x": again["x"][j]})
    assert fp not in seen_before[parent] and fp in state.seen[parent]
    assert (again["x"][j] != state.particles["x"][parent]).sum() == 1


def test_random_search_asks_as_many_genomes_and_selects_nothing():
  ga_state, ga_asked = _run(ga.ParticleGA(OPS), 1)
  rs_state, rs_asked = _run(ga.RandomSearch(OPS), 1)
  assert [len(a) for a in rs_asked] == [len(a) for a in ga_asked] == [9, 6, 6]
  assert rs_asked[0] == ga_asked[0]  # generation 0: the same random pool for the same seed
  everything = sum(rs_asked, [])
  assert len(set(everything)) == len(everything)  # never the same genome twice
  assert rs_state.particles is None and ga_state.particles is not None


def test_same_seed_same_search_state_round_trips_and_done():
  strategy = ga.ParticleGA(OPS)
  state_a, asked_a = _run(strategy, 1)
  state_b, asked_b = _run(strategy, 1)
  assert asked_a == asked_b and strategy.done(state_a, PARAMS) and state_a.generation == PARAMS.steps + 1
  back = ga.GAState.from_dict(state_a.to_dict(), dict)
  assert back.seen == state_a.seen and back.generation == state_a.generation
  np.testing.assert_array_equal(back.particles["x"], state_a.particles["x"])
  with pytest.raises(InputError, match="done"):
    strategy.ask(KEY, state_a, PARAMS)


def test_bad_params_and_exhausted_space():
  with pytest.raises(InputError, match="particles"):
    ga.GAParams(particles=0)
  with pytest.raises(InputError, match="mutants"):
    ga.GAParams(mutants=2.5)
  tiny = ga.GAParams(particles=1, steps=1, mutants=1, pool_factor=100, max_tries=5)  # only 63 distinct valid genomes
  strategy = ga.ParticleGA(OPS)
  with pytest.raises(RuntimeError, match="No valid, new random genome"):
    strategy.ask(KEY, strategy.init(KEY, tiny), tiny)
