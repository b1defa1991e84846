"""The mutation-only, particle-based genetic algorithm of NOS (Morgan & Hougen 2024; ``shared/design/nos.md`` §4).

Pure ``init`` / ``ask`` / ``tell`` over an immutable :class:`GAState` (evosax style), so a search loop reads
``ask → (integrity-checked, de-duplicated candidates) → evaluate (one program) → tell`` and the whole state can be
checkpointed and resumed bit-for-bit:

* generation 0 asks for a random pool of ``pool_factor · particles`` genomes; ``tell`` keeps the best
  ``particles`` of them as the particles;
* generations ``1..steps`` ask for ``mutants`` single-mutation children of every particle; ``tell`` replaces each
  particle by its best child, even when the child is worse than its parent (no elitism, as in the paper; every
  candidate is archived by the caller, and the hall of fame is drawn from the archive).

Every candidate passes the integrity check and the duplicate filter before it is returned by ``ask``: random
genomes must be new to the pool, mutants new to their particle's history (the paper's per-particle set of printed
equations, here canonical hashes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

Genome = Any  # a pytree of fixed-shape arrays (``optix_evo.graph.Genome``)


class GenomeOps(NamedTuple):
  """How the GA touches genomes; the default (:func:`graph_ops`) is ``optix_evo.graph``.

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
  """Hyperparameters of the particle GA (paper run: ``particles=50, steps=5, mutants=7, pool_factor=10``).

  Attributes:
    particles: number of independent particles ``n``.
    steps: evolution steps ``K`` per particle (generations after the random pool).
    mutants: children ``M`` per particle and step.
    pool_factor: the random initial pool holds ``pool_factor · particles`` genomes.
    max_tries: proposals per candidate before giving up on finding a new, valid one (then an error is raised).
  """

  particles: int = 50
  steps: int = 5
  mutants: int = 7
  pool_factor: int = 10
  max_tries: int = 200

  def __post_init__(self):
    for name in ("particles", "steps", "mutants", "pool_factor", "max_tries"):
      if getattr(self, name) < 1:
        raise ValueError(f"GA {name} must be a positive integer, got {getattr(self, name)}.")


@dataclasses.dataclass(frozen=True)
class GAState:
  """Where the GA stands: ``generation`` 0 is the random pool, ``1..steps`` the particle steps."""

  generation: int
  particles: Genome | None  # batched [particles], host arrays; None before the pool was told
  fitness: np.ndarray | None  # [particles]
  seen: tuple[frozenset[str], ...]  # per particle: fingerprints of itself and all its children so far


def init(params: GAParams) -> GAState:
  """The state before the random pool."""
  return GAState(generation=0, particles=None, fitness=None, seen=tuple(frozenset() for _ in range(params.particles)))


def done(state: GAState, params: GAParams) -> bool:
  """Whether every generation has been told."""
  return state.generation > params.steps


def stack(genomes: list[Genome]) -> Genome:
  """A list of genomes → one batched genome (host arrays)."""
  return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *genomes)


def unstack(batch: Genome) -> list[Genome]:
  """A batched genome → a list of genomes."""
  n = jax.tree.leaves(batch)[0].shape[0]
  return [jax.tree.map(lambda a, i=i: np.asarray(a)[i], batch) for i in range(n)]


def _fill(propose: Callable[[int, int], Genome], seen: list[set[str]], ops: GenomeOps, check_batch: int,
          max_tries: int, what: str) -> tuple[list[Genome], list[str]]:
  """One valid, new genome per slot: ``propose(slot, attempt)`` until the candidate is new to ``seen[slot]`` (a set,
  possibly shared between slots) and passes the integrity check, which runs in padded batches of ``check_batch``."""
  slots = len(seen)
  genomes: list[Genome | None] = [None] * slots
  fingerprints: list[str] = [""] * slots
  for attempt in range(max_tries):
    pending = [s for s in range(slots) if genomes[s] is None]
    if not pending:
      return genomes, fingerprints
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
          genomes[s], fingerprints[s] = g, ops.fingerprint(g)
          seen[s].add(fingerprints[s])
  if any(g is None for g in genomes):
    raise RuntimeError(f"No valid, new {what} after {max_tries} tries; raise max_tries or change the genome spec.")
  return genomes, fingerprints


def ask(key: jax.Array, state: GAState, params: GAParams, ops: GenomeOps) -> tuple[Genome, np.ndarray, list[str]]:
  """The next generation's candidates, all integrity-checked and new.

  Returns:
    ``(population, parent, fingerprints)``: a batched genome, the index of each member's particle (``-1`` for the
    random pool; mutants are particle-major, ``mutants`` per particle), and each member's canonical hash.
  """
  if done(state, params):
    raise ValueError("The GA is done: every generation has been told.")
  key = jax.random.fold_in(key, state.generation)
  batch = params.particles * params.mutants
  if state.generation == 0:
    size = params.pool_factor * params.particles
    pool_seen: set[str] = set()
    genomes, fps = _fill(lambda s, a: ops.random(jax.random.fold_in(jax.random.fold_in(key, s), a)),
                         [pool_seen] * size, ops, batch, params.max_tries, "random genome")
    return stack(genomes), np.full(size, -1), fps
  parents = unstack(state.particles)
  seen = [set(state.seen[p]) for p in range(params.particles)]
  genomes, fps = _fill(
      lambda s, a: ops.mutate(jax.random.fold_in(jax.random.fold_in(key, s), a), parents[s // params.mutants]),
      [seen[s // params.mutants] for s in range(batch)], ops, batch, params.max_tries, "mutant")
  return stack(genomes), np.repeat(np.arange(params.particles), params.mutants), fps


def tell(population: Genome, fitness: np.ndarray, fingerprints: list[str], state: GAState, params: GAParams) -> GAState:
  """Selection: the pool's best ``particles`` become the particles; later, each particle's best child replaces it."""
  fitness = np.asarray(fitness, np.float64)
  if state.generation == 0:
    order = np.argsort(-fitness, kind="stable")[: params.particles]
    if order.size < params.particles:
      raise ValueError(f"The pool has {order.size} members, fewer than the {params.particles} particles.")
    members = unstack(population)
    particles = stack([members[i] for i in order])
    seen = tuple(frozenset({fingerprints[i]}) for i in order)
    return GAState(1, particles, fitness[order], seen)
  m = params.mutants
  per_particle = fitness.reshape(params.particles, m)
  best = np.argmax(per_particle, axis=1)  # first best on ties: deterministic
  members = unstack(population)
  chosen = [p * m + b for p, b in enumerate(best)]
  seen = tuple(state.seen[p] | frozenset(fingerprints[p * m:(p + 1) * m]) for p in range(params.particles))
  return GAState(state.generation + 1, stack([members[i] for i in chosen]), per_particle[np.arange(params.particles), best],
                 seen)


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
