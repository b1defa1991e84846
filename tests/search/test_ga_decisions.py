"""The decisions of :mod:`optix_evo.search.ga` on a toy genome space (no training, no graph): the exact refusals of
:class:`GAParams`, the generation sizes, which keys draw which member (so a seed gives one search), the duplicate
filter and the padded integrity check, the warm start, which members become particles (ties, a pool too small), each
particle's best child, the history each slot must avoid, the generation metrics at the WORST boundary and the state's
round trip."""

import re

import jax
import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.search import ga
from optix_evo.search.results_types import WORST

KEY = jax.random.PRNGKey(3)


def _key(key, *indices):
  for i in indices:
    key = jax.random.fold_in(key, i)
  return key


def toy_space(values):
  """``(draw, mutate)`` of a toy genome space: 4 integers in ``[0, values)`` (``values``^4 genomes); a mutation moves
  one of them to another value."""
  def draw(key):
    return {"x": np.asarray(jax.random.randint(key, (4,), 0, values), np.int32)}

  def mutate(key, g):
    x = np.asarray(g["x"]).copy()
    i = int(jax.random.randint(key, (), 0, 4))
    x[i] = (x[i] + 1 + int(jax.random.randint(jax.random.fold_in(key, 1), (), 0, values - 1))) % values
    return {"x": x}

  return draw, mutate


def toy_fingerprint(g):
  return "".join(str(int(v)) for v in np.asarray(g["x"]))


_draw, _mutate = toy_space(4)  # 4^4 genomes
_fp = toy_fingerprint


class Ops:
  """Toy :class:`ga.GenomeOps` that records the integrity check's batches; ``passes(x) -> bool``."""

  def __init__(self, passes=lambda x: x.sum() > 0, flip=False):
    self.batches, self.passes, self.flip = [], passes, flip

  def check(self, pop):
    x = np.asarray(pop["x"])
    self.batches.append(x.copy())
    out = x.copy()
    if self.flip:  # the check may rewrite a genome (the sign flip): the new fingerprint must be recorded too
      out[:, 0] = 9
    return np.array([bool(self.passes(r)) for r in x]), {"x": out}

  def ops(self):
    return ga.GenomeOps(_draw, _mutate, self.check, _fp)


def _first_new(generation, slots, seen):
  """Per slot, the first random draw (by attempt) new to ``seen`` (shared, updated): what random proposals give."""
  out = []
  for s in range(slots):
    fp = next(f for f in (_fp(_draw(_key(KEY, generation, s, a))) for a in range(200)) if f not in seen)
    seen.add(fp)
    out.append(fp)
  return out


def _fitness(pop):
  return np.asarray(pop["x"], np.float64) @ np.array([1.0, 2.0, 3.0, 4.0])


# ---- GAParams ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["particles", "steps", "mutants", "pool_factor", "max_tries", "tournament"])
@pytest.mark.parametrize("value", [0, -1, True, 2.0, "3", None])
def test_gaparams_refuse_each_non_positive_integer_with_its_exact_message(name, value):
  with pytest.raises(InputError, match=f"^{re.escape(f'GA {name} must be a positive integer, got {value!r}.')}$"):
    ga.GAParams(**{name: value})


def test_gaparams_accept_one_and_numpy_integers_and_count_members():
  ga.GAParams(particles=1, steps=1, mutants=1, pool_factor=1, max_tries=1, tournament=1)
  p = ga.GAParams(particles=np.int64(3), steps=2, mutants=2, pool_factor=4)
  assert [p.generation_size(g) for g in range(4)] == [12, 6, 6, 6]
  assert p.total == 12 + 6 + 6
  assert ga.GAParams() == ga.GAParams(50, 5, 7, 10, 200, 5)  # the paper's run
  assert ga.GAParams().total == 500 + 5 * 350


# ---- which keys draw which member -------------------------------------------------------------------------------------

def test_the_pool_member_of_slot_s_is_drawn_from_the_keys_generation_slot_and_attempt():
  params = ga.GAParams(particles=2, steps=1, mutants=2, pool_factor=3)
  strategy = ga.ParticleGA(ga.GenomeOps(_draw, _mutate, lambda pop: (np.ones(len(pop["x"]), bool), pop), _fp))
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  seen = set()
  expect = _first_new(0, 6, seen)  # the first attempt of each slot that is new to the pool's (shared) history
  assert [_fp(g) for g in ga.unstack(pop)] == expect
  assert state.seen[-1] == tuple(sorted(expect)) and state.seen[:2] == ((), ())
  assert state.generation == 0  # ask does not move the generation on; tell does


def test_mutants_are_drawn_from_their_own_keys_and_retries_from_other_keys():
  params = ga.GAParams(particles=2, steps=2, mutants=2, pool_factor=2)
  ops = ga.GenomeOps(_draw, _mutate, lambda pop: (np.ones(len(pop["x"]), bool), pop), _fp)
  strategy = ga.ParticleGA(ops)
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  state, _ = strategy.tell(KEY, pop, _fitness(pop), state, params)
  kids, state2 = strategy.ask(KEY, state, params)
  parents = ga.unstack(state.particles)
  for s, kid in enumerate(ga.unstack(kids)):
    assert _fp(kid) == _fp(_mutate(_key(KEY, 1, s, 0), parents[s // 2]))  # generation 1, slot s, attempt 0
  again, state3 = strategy.retry(KEY, state2, params, [3, 0])
  for j, s in enumerate([3, 0]):
    history = set(state2.seen[s // 2])
    for a in range(200):
      fp = _fp(_mutate(_key(KEY, 1, 1 << 20, s, a), parents[s // 2]))
      if fp not in history:
        break
    assert _fp(ga.unstack(again)[j]) == fp
    assert fp in state3.seen[s // 2]


def test_a_generation_shares_its_duplicate_filter_within_a_particles_history_only():
  params = ga.GAParams(particles=2, steps=1, mutants=3, pool_factor=2)
  strategy = ga.ParticleGA(ga.GenomeOps(_draw, _mutate, lambda pop: (np.ones(len(pop["x"]), bool), pop), _fp))
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  state, _ = strategy.tell(KEY, pop, _fitness(pop), state, params)
  kids, state = strategy.ask(KEY, state, params)
  fps = [_fp(g) for g in ga.unstack(kids)]
  assert len(set(fps[:3])) == 3 and len(set(fps[3:])) == 3
  particles = [_fp(g) for g in ga.unstack(state.particles)]
  for p in range(2):
    assert set(state.seen[p]) == {particles[p], *fps[3 * p:3 * p + 3]}  # its own history: itself and its children


# ---- _fill: the duplicate filter and the padded integrity check -------------------------------------------------------

def test_duplicates_never_reach_the_check_and_batches_are_padded_to_the_generation_size():
  recorder = Ops(passes=lambda x: x[1] != 0)
  params = ga.GAParams(particles=2, steps=1, mutants=3, pool_factor=4)
  strategy = ga.ParticleGA(recorder.ops())
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  assert all(len(b) == params.particles * params.mutants for b in recorder.batches)  # one shape: one compilation
  checked = [_fp({"x": r}) for b in recorder.batches for r in b]
  assert all(r[1] != 0 for r in pop["x"])
  assert len(recorder.batches) >= 2  # 8 members checked 6 at a time
  members = [_fp(g) for g in ga.unstack(pop)]
  assert len(set(members)) == 8 and set(members) <= set(checked)
  first_batch = [_fp({"x": r}) for r in recorder.batches[0]]
  drawn = [_fp(_draw(_key(KEY, 0, s, 0))) for s in range(8)]
  unique = list(dict.fromkeys(drawn))
  assert first_batch == unique[:6]  # the first attempt's new proposals, in slot order (a repeat is never checked)
  padded = recorder.batches[1]
  assert (padded[len(unique) - 6:] == padded[0]).all()  # padded with the batch's first member
  assert set(state.seen[-1]) >= set(unique)  # failed ones are remembered too: never proposed again


def test_the_fingerprint_after_the_check_is_recorded_too():
  recorder = Ops(flip=True)
  params = ga.GAParams(particles=1, steps=1, mutants=1, pool_factor=2)
  strategy = ga.ParticleGA(recorder.ops())
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  assert (pop["x"][:, 0] == 9).all()
  assert {_fp(g) for g in ga.unstack(pop)} <= set(state.seen[-1])
  drawn = {_fp({"x": r}) for b in recorder.batches for r in b}
  assert drawn <= set(state.seen[-1])


def test_an_exhausted_space_is_refused_with_the_exact_message():
  params = ga.GAParams(particles=1, steps=1, mutants=1, pool_factor=2, max_tries=3)
  strategy = ga.ParticleGA(Ops(passes=lambda x: False).ops())
  with pytest.raises(RuntimeError, match=f"^{re.escape('No valid, new random genome after 3 tries; raise max_tries or change the genome space.')}$"):  # noqa: E501
    strategy.ask(KEY, strategy.init(KEY, params), params)
  ok = ga.ParticleGA(Ops().ops())
  state = ok.init(KEY, params)
  pop, state = ok.ask(KEY, state, params)
  state, _ = ok.tell(KEY, pop, _fitness(pop), state, params)
  state = ga.GAState(state.generation, state.particles, state.fitness, state.seen)
  bad = ga.ParticleGA(Ops(passes=lambda x: False).ops())
  with pytest.raises(RuntimeError, match=f"^{re.escape('No valid, new mutant after 3 tries; raise max_tries or change the genome space.')}$"):  # noqa: E501
    bad.ask(KEY, state, params)


def test_max_tries_attempts_are_made_before_giving_up():
  calls = []

  def random(key):
    calls.append(1)
    return _draw(key)

  params = ga.GAParams(particles=1, steps=1, mutants=1, pool_factor=1, max_tries=4)
  strategy = ga.ParticleGA(ga.GenomeOps(random, _mutate, lambda pop: (np.zeros(len(pop["x"]), bool), pop), _fp))
  with pytest.raises(RuntimeError):
    strategy.ask(KEY, strategy.init(KEY, params), params)
  assert len(calls) == 4
  passes_third = iter([False, False, True])
  strategy = ga.ParticleGA(ga.GenomeOps(_draw, _mutate, lambda pop: (np.array([next(passes_third)]), pop), _fp))
  new = list(dict.fromkeys(_fp(_draw(_key(KEY, 0, 0, a))) for a in range(20)))
  tries = [_fp(_draw(_key(KEY, 0, 0, a))) for a in range(20)].index(new[2]) + 1
  params = ga.GAParams(particles=1, steps=1, mutants=1, pool_factor=1, max_tries=tries)
  pop, _ = strategy.ask(KEY, strategy.init(KEY, params), params)
  assert _fp(ga.unstack(pop)[0]) == new[2]  # the third new proposal passed, at the last try allowed


# ---- warm start --------------------------------------------------------------------------------------------------------

def test_warm_start_takes_the_first_slots_of_the_pool_only_and_a_failed_one_is_replaced():
  warm = ({"x": np.array([1, 1, 1, 1], np.int32)}, {"x": np.array([0, 0, 0, 0], np.int32)},
          {"x": np.array([2, 2, 2, 2], np.int32)})
  params = ga.GAParams(particles=2, steps=1, mutants=2, pool_factor=2)
  strategy = ga.ParticleGA(Ops().ops(), warm_start=warm)
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  fps = [_fp(g) for g in ga.unstack(pop)]
  assert fps[0] == "1111" and fps[2] == "2222"
  assert fps[1] != "0000" and fps[1] == _fp(_draw(_key(KEY, 0, 1, 1)))  # all zeros fails the check: a random one
  assert fps[3] == _fp(_draw(_key(KEY, 0, 3, 0)))
  state, _ = strategy.tell(KEY, pop, _fitness(pop), state, params)
  kids, _ = strategy.ask(KEY, state, params)
  for s, kid in enumerate(ga.unstack(kids)):  # later generations: mutants only
    assert _fp(kid) == _fp(_mutate(_key(KEY, 1, s, 0), ga.unstack(state.particles)[s // 2]))


# ---- tell: selection ---------------------------------------------------------------------------------------------------

def _pool(params, strategy, fitness):
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  return pop, state, strategy.tell(KEY, pop, np.asarray(fitness), state, params)


def test_the_pools_best_become_the_particles_first_of_equals_first():
  params = ga.GAParams(particles=3, steps=1, mutants=1, pool_factor=2)
  strategy = ga.ParticleGA(Ops().ops())
  pop, state, (new, metrics) = _pool(params, strategy, [0.2, 0.7, 0.5, 0.7, WORST, 0.5])
  members = [_fp(g) for g in ga.unstack(pop)]
  assert [_fp(g) for g in ga.unstack(new.particles)] == [members[1], members[3], members[2]]
  assert new.fitness.tolist() == [0.7, 0.7, 0.5] and new.fitness.dtype == np.float64
  assert new.seen == ((members[1],), (members[3],), (members[2],), state.seen[-1])  # each history starts with itself
  assert new.generation == 1
  assert metrics == {"best": 0.7, "median": 0.5, "rejected": 1}


def test_a_pool_smaller_than_the_particles_is_refused():
  params = ga.GAParams(particles=3, steps=1, mutants=1, pool_factor=1)
  strategy = ga.ParticleGA(Ops().ops())
  pop, state = strategy.ask(KEY, strategy.init(KEY, params), params)
  two = {"x": pop["x"][:2]}
  with pytest.raises(InputError, match=f"^{re.escape('The pool has 2 members, fewer than the 3 particles.')}$"):
    strategy.tell(KEY, two, _fitness(two), state, params)
  strategy.tell(KEY, pop, _fitness(pop), state, params)  # exactly the particles: fine


def test_each_particle_is_replaced_by_its_best_child_first_of_equals_even_when_worse():
  params = ga.GAParams(particles=2, steps=2, mutants=3, pool_factor=2)
  strategy = ga.ParticleGA(Ops().ops())
  _, _, (state, _) = _pool(params, strategy, [0.9, 0.8, 0.1, 0.2])
  kids, state = strategy.ask(KEY, state, params)
  fitness = np.array([0.1, 0.3, 0.3, 0.6, WORST, 0.2], np.float32)
  new, metrics = strategy.tell(KEY, kids, fitness, state, params)
  members = [_fp(g) for g in ga.unstack(kids)]
  assert [_fp(g) for g in ga.unstack(new.particles)] == [members[1], members[3]]
  assert new.fitness.tolist() == [pytest.approx(0.3), pytest.approx(0.6)] and new.fitness.dtype == np.float64
  assert new.seen == state.seen and new.generation == 2
  assert metrics == {"best": pytest.approx(0.6), "median": pytest.approx(0.3), "rejected": 1}
  assert strategy.done(new, params) is False
  assert strategy.done(ga.GAState(3, None, None, ()), params) is True


def test_metrics_count_the_worst_sentinel_as_rejected_and_take_the_median_above_it():
  assert ga._metrics(np.array([WORST, 0.2, 0.4, 0.9, -1.5])) == {"best": 0.9, "median": 0.4, "rejected": 2}
  assert ga._metrics(np.array([WORST, WORST])) == {"best": WORST, "median": WORST, "rejected": 2}
  assert ga._metrics(np.array([-0.999, 0.5])) == {"best": 0.5, "median": pytest.approx(-0.2495), "rejected": 0}
  m = ga._metrics(np.array([0.1, 0.3]))
  assert all(type(v) is float for v in (m["best"], m["median"])) and type(m["rejected"]) is int


def test_parents_and_done():
  params = ga.GAParams(particles=2, steps=1, mutants=3, pool_factor=2)
  strategy = ga.ParticleGA(Ops().ops())
  state = strategy.init(KEY, params)
  assert state == ga.GAState(0, None, None, ((), (), ()))
  assert strategy.parents(state, params).tolist() == [-1] * 4
  assert strategy.parents(ga.GAState(1, None, None, ()), params).tolist() == [0, 0, 0, 1, 1, 1]
  assert not strategy.done(ga.GAState(1, None, None, ()), params) and strategy.done(ga.GAState(2, None, None, ()),
                                                                                    params)
  with pytest.raises(InputError, match=f"^{re.escape('The search is done: every generation has been told.')}$"):
    strategy.ask(KEY, ga.GAState(2, None, None, ((), (), ())), params)
  with pytest.raises(InputError, match="done"):
    strategy.retry(KEY, ga.GAState(2, None, None, ((), (), ())), params, [0])


# ---- random search ----------------------------------------------------------------------------------------------------

def test_random_search_draws_fresh_genomes_from_one_history_and_selects_nothing():
  params = ga.GAParams(particles=2, steps=2, mutants=2, pool_factor=3)
  strategy = ga.RandomSearch(Ops().ops())
  state = strategy.init(KEY, params)
  pop, state = strategy.ask(KEY, state, params)
  state, metrics = strategy.tell(KEY, pop, _fitness(pop), state, params)
  assert state.particles is None and state.fitness is None and state.generation == 1
  assert metrics["best"] == _fitness(pop).max()
  assert strategy.parents(state, params).tolist() == [-1] * 4
  kids, state2 = strategy.ask(KEY, state, params)
  fps = [_fp(g) for g in ga.unstack(kids)]
  seen = set(state.seen[-1])
  expect = _first_new(1, 4, seen)
  assert fps == expect  # random genomes of generation 1's keys, new to everything drawn so far
  assert set(state2.seen[-1]) == seen and state2.seen[:-1] == ((), ())
  again, state3 = strategy.retry(KEY, state2, params, [2])
  assert _fp(ga.unstack(again)[0]) not in seen and state3.seen[:-1] == ((), ())
  metrics = strategy.tell(KEY, kids, np.array([0.1, WORST, 0.5, 0.3]), state2, params)[1]
  assert metrics == {"best": 0.5, "median": 0.3, "rejected": 1}


# ---- state round trip, stack / unstack ---------------------------------------------------------------------------------

def test_the_state_round_trips_with_its_parents_and_fitness():
  particles = {"x": np.arange(8).reshape(2, 4)}
  state = ga.GAState(3, particles, np.array([0.5, 0.25]), (("a", "b"), ("c",), ()), np.array([1, 0, 1]))
  d = state.to_dict()
  assert d["generation"] == 3 and d["seen"] == state.seen and d["particles"]["x"].tolist() == particles["x"].tolist()
  back = ga.GAState.from_dict(d, dict)
  assert back.generation == 3 and type(back.generation) is int and back.seen == state.seen
  np.testing.assert_array_equal(back.particles["x"], particles["x"])
  np.testing.assert_array_equal(back.fitness, state.fitness)
  assert back.parents.tolist() == [1, 0, 1] and back.parents.dtype.kind == "i"
  lists = ga.GAState.from_dict({**d, "seen": [["a", "b"], ["c"], []], "generation": np.int64(3)}, dict)
  assert lists.seen == state.seen and type(lists.generation) is int
  bare = ga.GAState.from_dict(ga.GAState(0, None, None, ((),)).to_dict(), dict)
  assert bare.particles is None and bare.parents is None and bare.fitness is None
  no_parents = {k: v for k, v in d.items() if k != "parents"}
  assert ga.GAState.from_dict(no_parents, dict).parents is None


def test_stack_and_unstack_invert_each_other():
  genomes = [{"x": np.array([i, i + 1]), "y": np.float32(i)} for i in range(3)]
  batch = ga.stack(genomes)
  assert batch["x"].shape == (3, 2) and batch["y"].tolist() == [0, 1, 2]
  back = ga.unstack(batch)
  assert len(back) == 3 and all(np.array_equal(b["x"], g["x"]) and b["y"] == g["y"] for b, g in zip(back, genomes))


def test_pool_ties_keep_the_pools_order_in_a_pool_large_enough_for_an_unstable_sort():
  fitness = np.array([2, 1, 1, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 1, 2, 2, 1], float)  # quicksort reorders these ties
  pop = {"x": np.array([[i // 4, i % 4, 1, 0] for i in range(17)], np.int32)}
  params = ga.GAParams(particles=5, steps=1, mutants=1, pool_factor=4)
  new, _ = ga.ParticleGA(Ops().ops()).tell(KEY, pop, fitness, ga.GAState(0, None, None, ((),) * 6), params)
  assert [_fp(g) for g in ga.unstack(new.particles)] == [_fp({"x": pop["x"][i]}) for i in (0, 9, 11, 14, 15)]


def test_random_search_parents_cover_the_pool_and_its_metrics_read_float32_in_float64():
  params = ga.GAParams(particles=2, steps=1, mutants=3, pool_factor=4)
  strategy = ga.RandomSearch(Ops().ops())
  assert strategy.parents(ga.GAState(0, None, None, ((),)), params).tolist() == [-1] * 8
  assert strategy.parents(ga.GAState(1, None, None, ((),)), params).tolist() == [-1] * 6
  f32 = np.array([0.1, 0.2], np.float32)
  median = float((np.float64(f32[0]) + np.float64(f32[1])) / 2)
  assert median != float(np.median(f32))  # float32 arithmetic would give another median
  state = ga.GAState(1, None, None, ((),))
  assert strategy.tell(KEY, None, f32, state, params)[1]["median"] == median
  pop = {"x": np.array([[1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0]] * 2, np.int32)}
  assert ga.ParticleGA(Ops().ops()).tell(KEY, pop, np.float32([0.1, 0.2, 0.0, 0.0, 0.0, 0.0]), ga.GAState(
      1, {"x": pop["x"][:2]}, None, ((), (), ())), params)[1]["median"] == 0.0


def test_a_namedtuple_genome_is_stored_as_plain_arrays_and_parents_as_integers():
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  genomes = graph.stack([graph.known("adam"), graph.known("sgd")])
  d = ga.GAState(1, genomes, np.array([0.5, 0.4]), ((), (), ())).to_dict()
  assert isinstance(d["particles"], dict) and set(d["particles"]) == set(graph.Genome._fields)
  assert all(type(v) is np.ndarray for v in d["particles"].values())
  back = ga.GAState.from_dict(d, graph.Genome)
  assert isinstance(back.particles, graph.Genome)
  for name in graph.Genome._fields:
    np.testing.assert_array_equal(getattr(back.particles, name), getattr(genomes, name))
  floats = ga.GAState.from_dict({**d, "parents": [1.0, 0.0]}, graph.Genome)  # e.g. read back from JSON
  assert floats.parents.dtype.kind == "i" and floats.parents.tolist() == [1, 0]


def test_graph_ops_are_the_graph_packages_functions_on_the_given_spec(monkeypatch):
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  key = jax.random.PRNGKey(4)
  default = ga.graph_ops()
  g = default.random(key)
  expect = graph.random_genome(key, graph.GenomeSpec())
  for name in graph.Genome._fields:
    np.testing.assert_array_equal(np.asarray(getattr(g, name)), np.asarray(getattr(expect, name)))
  child = default.mutate(jax.random.PRNGKey(5), g)
  want = graph.mutate(jax.random.PRNGKey(5), g, graph.GenomeSpec())
  assert default.fingerprint(child) == graph.canonical_hash(want) != default.fingerprint(g)
  nos = graph.get_space("nos")
  assert nos != graph.GenomeSpec()
  ops = ga.graph_ops(nos)
  g2 = ops.random(key)
  assert ops.fingerprint(g2) == graph.canonical_hash(g2, nos) == graph.canonical_hash(graph.random_genome(key, nos),
                                                                                          nos)
  assert ops.fingerprint(ops.mutate(key, g2)) == graph.canonical_hash(graph.mutate(key, g2, nos), nos)
  calls = []

  class Result:  # what check_integrity returns, planted (its program is checked in tests/graph)
    passed, genomes = np.array([True, False]), "checked genomes"

  monkeypatch.setattr(graph, "check_integrity", lambda population, spec: calls.append((population, spec)) or Result)
  assert ops.check("population") == (Result.passed, "checked genomes") and calls == [("population", nos)]
  default.check("other")
  assert calls[-1] == ("other", graph.GenomeSpec())
