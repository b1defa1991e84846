"""The mutation-only, particle-based genetic algorithm of NOS (Morgan & Hougen 2024), and random search as its
control, both shaped like evosax's algorithms:

* ``init(key, params) -> state``;
* ``ask(key, state, params) -> (population, state)``: the next generation, every member integrity-checked and new;
* ``tell(key, population, fitness, state, params) -> (state, metrics)``: selection;
* ``retry(key, state, params, slots) -> (genomes, state)``: replacements for members whose training was rejected
  (NOS re-mutates a rejected mutant up to four times).

This is the :class:`~optix_evo.search.strategies.Strategy` protocol (fitness is maximised);
:mod:`optix_evo.search.strategies` adds regularized evolution and holds the registry of strategies.

``params`` (:class:`GAParams`) and ``state`` (:class:`GAState`) are immutable; the state converts to plain data
(:meth:`GAState.to_dict`) for checkpoints. Genomes are host arrays (sampling, mutation and the duplicate filter run
on the host; the integrity check is one vectorised program).

The particle GA (:class:`ParticleGA`): generation 0 asks for a random pool of ``pool_factor · particles`` genomes
and keeps the best ``particles``; generations ``1..steps`` ask for ``mutants`` single-mutation children of every
particle, and each particle is replaced by its best child even when the child is worse (no elitism, as in the
paper; every candidate is archived by the caller). A mutant must be new to its particle's history (the paper's set
of printed equations, here canonical hashes). :class:`RandomSearch` asks for the same number of genomes per
generation, all fresh random ones, and selects nothing: the control that shows what evolution adds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from optix_evo.errors import InputError
from optix_evo.search.results_types import WORST

Genome = Any  # a pytree of fixed-shape arrays (``optix_evo.graph.Genome``)


class GenomeOps(NamedTuple):
  """How the search touches genomes; the default (:func:`graph_ops`) is ``optix_evo.graph``.

  Attributes:
    random: ``random(key) -> genome``.
    mutate: ``mutate(key, genome) -> genome`` (one mutation).
    check: ``check(population) -> (passed, population)``: the integrity check of a batch (``passed`` bool ``[n]``;
      the returned genomes may have their sign flip set). Batches are padded to a fixed size (one compilation).
    fingerprint: ``fingerprint(genome) -> str``: canonical hash; equal for functionally identical genomes.
  """

  random: Callable[[jax.Array], Genome]
  mutate: Callable[[jax.Array, Genome], Genome]
  check: Callable[[Genome], tuple[np.ndarray, Genome]]
  fingerprint: Callable[[Genome], str]


@dataclasses.dataclass(frozen=True)
class GAParams:
  """Hyperparameters (the paper's run: ``particles=50, steps=5, mutants=7, pool_factor=10``).

  Attributes:
    particles: number of independent particles ``n``.
    steps: evolution steps ``K`` per particle (generations after the random pool).
    mutants: children ``M`` per particle and step.
    pool_factor: the random initial pool holds ``pool_factor · particles`` genomes.
    max_tries: proposals per member before giving up on finding a new, valid one (then an error is raised).
    tournament: regularized evolution's tournament size ``S`` (members sampled per parent choice).
  """

  particles: int = 50
  steps: int = 5
  mutants: int = 7
  pool_factor: int = 10
  max_tries: int = 200
  tournament: int = 5

  def __post_init__(self):
    for name in ("particles", "steps", "mutants", "pool_factor", "max_tries", "tournament"):
      value = getattr(self, name)
      if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise InputError(f"GA {name} must be a positive integer, got {value!r}.")

  def generation_size(self, generation: int) -> int:
    """Members asked for in ``generation`` (0: the random pool)."""
    return self.pool_factor * self.particles if generation == 0 else self.particles * self.mutants

  @property
  def total(self) -> int:
    """Members asked for over the whole search (retries not counted)."""
    return sum(self.generation_size(g) for g in range(self.steps + 1))


@dataclasses.dataclass(frozen=True)
class GAState:
  """Where the search stands: ``generation`` 0 is the random pool, ``1..steps`` the particle steps.

  Attributes:
    generation: the generation the next ``ask`` draws (``tell`` moves it on).
    particles: the particles, a batched genome of host arrays (None before the pool was told; unused by
      :class:`RandomSearch`).
    fitness: the particles' fitness ``[particles]``.
    seen: per history (one per particle; one for the random pool and for random search), the fingerprints drawn so
      far, sorted.
    parents: the member of ``particles`` each slot of the current generation descends from (regularized evolution's
      tournament winners; ``None`` where the strategy computes them from the generation).
  """

  generation: int
  particles: Genome | None
  fitness: np.ndarray | None
  seen: tuple[tuple[str, ...], ...]
  parents: np.ndarray | None = None

  def to_dict(self) -> dict[str, Any]:
    """Plain data (dicts, tuples, strings, arrays) for a checkpoint; :meth:`from_dict` inverts it."""
    fields = None if self.particles is None else getattr(self.particles, "_asdict", lambda: self.particles)()
    particles = None if fields is None else {k: np.asarray(v) for k, v in fields.items()}
    return {"generation": self.generation, "particles": particles, "fitness": self.fitness, "seen": self.seen,
            "parents": self.parents}

  @classmethod
  def from_dict(cls, d: dict[str, Any], genome_type: type) -> GAState:
    particles = None if d["particles"] is None else genome_type(**d["particles"])
    parents = d.get("parents")
    return cls(int(d["generation"]), particles, d["fitness"], tuple(tuple(s) for s in d["seen"]),
               None if parents is None else np.asarray(parents, int))


def stack(genomes: list[Genome]) -> Genome:
  """A list of genomes → one batched genome (host arrays)."""
  return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *genomes)


def unstack(batch: Genome) -> list[Genome]:
  """A batched genome → a list of genomes."""
  n = jax.tree.leaves(batch)[0].shape[0]
  return [jax.tree.map(lambda a, i=i: np.asarray(a)[i], batch) for i in range(n)]


def _fill(propose: Callable[[int, int], Genome], seen: list[set[str]], ops: GenomeOps, check_batch: int,
          max_tries: int, what: str) -> list[Genome]:
  """One valid, new genome per slot: ``propose(slot, attempt)`` until the candidate is new to ``seen[slot]`` (a set,
  possibly shared between slots; updated in place) and passes the integrity check, run in padded batches."""
  slots = len(seen)
  genomes: list[Genome | None] = [None] * slots
  for attempt in range(max_tries):
    pending = [s for s in range(slots) if genomes[s] is None]
    if not pending:
      return genomes
    fresh = []
    for s in pending:
      g = propose(s, attempt)
      fp = ops.fingerprint(g)
      if fp not in seen[s]:  # duplicates never reach the (costlier) integrity check
        seen[s].add(fp)
        fresh.append((s, g))
    for start in range(0, len(fresh), check_batch):
      part = fresh[start:start + check_batch]
      padded = [g for _, g in part] + [part[0][1]] * (check_batch - len(part))
      passed, checked = ops.check(stack(padded))
      for (s, _), ok, g in zip(part, np.asarray(passed), unstack(checked)):
        if ok:
          genomes[s] = g
          seen[s].add(ops.fingerprint(g))  # the flip bit may have changed the fingerprint
  if all(g is not None for g in genomes):  # the last try filled the last slot
    return genomes
  raise RuntimeError(f"No valid, new {what} after {max_tries} tries; raise max_tries or change the genome space.")


def _key(key: jax.Array, *indices: int) -> jax.Array:
  for i in indices:
    key = jax.random.fold_in(key, i)
  return key


class ParticleGA:
  """The NOS particle GA over the genomes of ``ops`` (see the module docstring).

  ``warm_start``: genomes placed in the first slots of generation 0 before random ones (each still checked for
  integrity and duplicates; one that fails is replaced by a random genome), as Lion's search started from AdamW
  (Chen et al. 2023). Fitness is maximised.
  """

  name = "ga"

  def __init__(self, ops: GenomeOps, warm_start: tuple[Genome, ...] = ()):
    self.ops = ops
    self.warm_start = tuple(warm_start)

  def _seeded(self, propose: Callable[[int, int], Genome], state: GAState) -> Callable[[int, int], Genome]:
    """``propose`` with the warm-start genomes as the first attempt of generation 0's first slots."""
    if state.generation != 0 or not self.warm_start:
      return propose
    warm = self.warm_start
    return lambda s, a: warm[s] if a == 0 and s < len(warm) else propose(s, a)

  def init(self, key: jax.Array, params: GAParams) -> GAState:
    del key
    return GAState(0, None, None, tuple(() for _ in range(params.particles)) + ((),))

  def done(self, state: GAState, params: GAParams) -> bool:
    return state.generation > params.steps

  def parents(self, state: GAState, params: GAParams) -> np.ndarray:
    """The particle each member of the current generation descends from (-1 for the random pool)."""
    if state.generation == 0:
      return np.full(params.generation_size(0), -1)
    return np.repeat(np.arange(params.particles), params.mutants)

  def _propose(self, key, state: GAState, params: GAParams):
    if state.generation == 0:
      return lambda s, a: self.ops.random(_key(key, s, a))
    parents = unstack(state.particles)
    return lambda s, a: self.ops.mutate(_key(key, s, a), parents[s // params.mutants])

  def _histories(self, state: GAState, params: GAParams, slots: list[int]) -> tuple[list[set[str]], list[set[str]]]:
    """Per slot, the (shared, mutable) set of fingerprints it must avoid; and the sets, one per history."""
    sets = [set(s) for s in state.seen]
    if state.generation == 0:
      return [sets[-1]] * len(slots), sets
    return [sets[s // params.mutants] for s in slots], sets

  def _draw(self, key, state: GAState, params: GAParams, slots: list[int]) -> tuple[Genome, GAState]:
    if self.done(state, params):
      raise InputError("The search is done: every generation has been told.")
    per_slot, sets = self._histories(state, params, slots)
    propose = self._seeded(self._propose(key, state, params), state)
    what = "random genome" if state.generation == 0 else "mutant"
    genomes = _fill(lambda i, a: propose(slots[i], a), per_slot, self.ops, params.particles * params.mutants,
                    params.max_tries, what)
    return stack(genomes), dataclasses.replace(state, seen=tuple(tuple(sorted(s)) for s in sets))

  def ask(self, key: jax.Array, state: GAState, params: GAParams) -> tuple[Genome, GAState]:
    """The next generation (integrity-checked, new to its history)."""
    key = _key(key, state.generation)
    return self._draw(key, state, params, list(range(params.generation_size(state.generation))))

  def retry(self, key: jax.Array, state: GAState, params: GAParams, slots: list[int]) -> tuple[Genome, GAState]:
    """New members for ``slots`` of the current generation (same parents), new to their history."""
    return self._draw(_key(key, state.generation, 1 << 20), state, params, list(slots))

  def tell(self, key: jax.Array, population: Genome, fitness: np.ndarray, state: GAState,
           params: GAParams) -> tuple[GAState, dict[str, float]]:
    """Selection: the pool's best ``particles`` become the particles; later, each particle's best child replaces it
    (the first best on ties). Returns the new state and the generation's metrics."""
    del key
    fitness = np.asarray(fitness, np.float64)
    members = unstack(population)
    if state.generation == 0:
      order = np.argsort(-fitness, kind="stable")[: params.particles]
      if order.size < params.particles:
        raise InputError(f"The pool has {order.size} members, fewer than the {params.particles} particles.")
      particles, particle_fitness = stack([members[i] for i in order]), fitness[order]
      seen = tuple(tuple(sorted({self.ops.fingerprint(members[i])})) for i in order) + (state.seen[-1],)
    else:
      per_particle = fitness.reshape(params.particles, params.mutants)
      best = np.argmax(per_particle, axis=1)
      particles = stack([members[p * params.mutants + b] for p, b in enumerate(best)])
      particle_fitness = per_particle[np.arange(params.particles), best]
      seen = state.seen
    return GAState(state.generation + 1, particles, particle_fitness, seen), _metrics(fitness)


class RandomSearch(ParticleGA):
  """The control: every generation asks for as many genomes as the particle GA would, all fresh random ones (new to
  everything drawn so far, integrity-checked), and selects nothing."""

  name = "random"

  def parents(self, state: GAState, params: GAParams) -> np.ndarray:
    return np.full(params.generation_size(state.generation), -1)

  def _propose(self, key, state: GAState, params: GAParams):
    return lambda s, a: self.ops.random(_key(key, s, a))

  def _histories(self, state: GAState, params: GAParams, slots: list[int]) -> tuple[list[set[str]], list[set[str]]]:
    sets = [set(s) for s in state.seen]
    return [sets[-1]] * len(slots), sets

  def tell(self, key: jax.Array, population: Genome, fitness: np.ndarray, state: GAState,
           params: GAParams) -> tuple[GAState, dict[str, float]]:
    del key, population
    return dataclasses.replace(state, generation=state.generation + 1), _metrics(np.asarray(fitness, np.float64))


def _metrics(fitness: np.ndarray) -> dict[str, float]:
  """Best, median of the members above :data:`WORST`, and the count at or below it: exact for raw accuracies; the
  search's generation summary recounts from the protocol's flags, since a normalised fitness can fall below WORST."""
  ok = fitness[fitness > WORST]
  return {"best": float(fitness.max()), "median": float(np.median(ok)) if ok.size else WORST,
          "rejected": int(np.sum(fitness <= WORST))}


def graph_ops(spec: Any = None) -> GenomeOps:
  """:class:`GenomeOps` of ``optix_evo.graph`` for the genome ``spec`` (default spec when ``None``)."""
  from optix_evo import graph  # pylint: disable=import-outside-toplevel

  spec = graph.GenomeSpec() if spec is None else spec

  def check(population):
    result = graph.check_integrity(population, spec)
    return result.passed, result.genomes

  return GenomeOps(
      random=lambda key: graph.random_genome(key, spec),
      mutate=lambda key, genome: graph.mutate(key, genome, spec),
      check=check,
      fingerprint=lambda genome: graph.canonical_hash(genome, spec),
  )
