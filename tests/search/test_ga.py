"""Particle GA: ask/tell semantics on a toy genome space (no training, no graph package needed)."""

import jax
import numpy as np
import pytest

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


def _fitness(pop):
  return np.asarray(pop["x"], np.float64) @ np.array([1.0, 2.0, 3.0])


def _run(seed):
  key, state, told = jax.random.PRNGKey(seed), ga.init(PARAMS), []
  while not ga.done(state, PARAMS):
    pop, parents, fps = ga.ask(key, state, PARAMS, OPS)
    told.append((fps, parents.tolist()))
    state = ga.tell(pop, _fitness(pop), fps, state, PARAMS)
  return state, told


def test_pool_then_particles_then_mutants():
  key, state = jax.random.PRNGKey(0), ga.init(PARAMS)
  pop, parents, fps = ga.ask(key, state, PARAMS, OPS)
  assert pop["x"].shape == (9, 3) and (parents == -1).all()
  assert len(set(fps)) == 9  # duplicate filter over the pool
  assert all(np.sum(pop["x"], axis=1) > 0)  # integrity check applied
  fit = _fitness(pop)
  state = ga.tell(pop, fit, fps, state, PARAMS)
  np.testing.assert_array_equal(state.fitness, np.sort(fit)[::-1][:3])
  kids, parents, kfps = ga.ask(key, state, PARAMS, OPS)
  assert kids["x"].shape == (6, 3) and parents.tolist() == [0, 0, 1, 1, 2, 2]
  for p in range(3):  # each mutant is new to its particle's history and one mutation away
    assert kfps[2 * p] != kfps[2 * p + 1] and not {kfps[2 * p], kfps[2 * p + 1]} & state.seen[p]
    assert (kids["x"][2 * p] != state.particles["x"][p]).sum() == 1
  kfit = _fitness(kids)
  new = ga.tell(kids, kfit, kfps, state, PARAMS)
  for p in range(3):  # best child replaces the particle, even if worse (no elitism)
    assert new.fitness[p] == kfit[2 * p:2 * p + 2].max()
    assert set(kfps[2 * p:2 * p + 2]) <= new.seen[p]


def test_same_seed_same_search_and_done():
  state_a, told_a = _run(1)
  state_b, told_b = _run(1)
  assert told_a == told_b and ga.done(state_a, PARAMS) and state_a.generation == PARAMS.steps + 1
  np.testing.assert_array_equal(state_a.particles["x"], state_b.particles["x"])
  with pytest.raises(ValueError, match="done"):
    ga.ask(jax.random.PRNGKey(1), state_a, PARAMS, OPS)


def test_bad_params_and_exhausted_space():
  with pytest.raises(ValueError, match="particles"):
    ga.GAParams(particles=0)
  tiny = ga.GAParams(particles=1, steps=1, mutants=1, pool_factor=100, max_tries=5)  # only 63 distinct valid genomes
  with pytest.raises(RuntimeError, match="No valid, new random genome"):
    ga.ask(jax.random.PRNGKey(0), ga.init(tiny), tiny, OPS)
