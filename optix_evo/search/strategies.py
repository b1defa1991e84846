"""Search strategies behind one ask/tell interface (:class:`Strategy`), at the same budget: the NOS particle GA,
regularized evolution and random search.

Every strategy asks for the same number of genomes per generation (``GAParams.generation_size``: a random pool of
``pool_factor · particles`` genomes, then ``particles · mutants`` per generation), all integrity-checked and new, and
the driver scores them with the same protocol and seeds, so strategies compare at equal training steps; the driver
also records the CPU time of every generation. Generation 0 is the same random pool for every strategy with the same
seed (optionally warm-started with known optimizers), so runs pair by search seed. **Fitness is maximised.**

References:
  Real, Aggarwal, Huang & Le, `Regularized Evolution for Image Classifier Architecture Search
  <https://arxiv.org/abs/1802.01548>`_, AAAI 2019 (tournament selection with aging); Real et al., `AutoML-Zero
  <https://arxiv.org/abs/2003.03384>`_, ICML 2020; Chen et al., `Symbolic Discovery of Optimization Algorithms
  <https://arxiv.org/abs/2302.06675>`_, 2023 (Lion's search, regularized evolution warm-started from AdamW).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import jax
import numpy as np

from optix_evo.search.ga import (
    GAParams, GAState, Genome, GenomeOps, ParticleGA, RandomSearch, _key, _metrics, stack, unstack,
)


@runtime_checkable
class Strategy(Protocol):
  """An evosax-shaped search strategy over genomes. **Fitness is maximised** (a rejected candidate scores
  :data:`~optix_evo.search.results_types.WORST`).

  * ``init(key, params) -> state``;
  * ``ask(key, state, params) -> (population, state)``: the next generation, integrity-checked and new;
  * ``tell(key, population, fitness, state, params) -> (state, metrics)``: selection (``metrics``: best, median,
    rejected);
  * ``retry(key, state, params, slots) -> (genomes, state)``: replacements for members whose training was rejected;
  * ``parents(state, params)``: the member each slot of the current generation descends from (-1: none);
  * ``done(state, params)``: every generation told.

  Examples:
    >>> import optix_evo as ox
    >>> ops = ox.search.ga.graph_ops()
    >>> print(all(isinstance(cls(ops), ox.search.Strategy) for cls in ox.search.STRATEGIES.values()))
    True
  """

  name: str

  def init(self, key: jax.Array, params: GAParams) -> GAState: ...

  def ask(self, key: jax.Array, state: GAState, params: GAParams) -> tuple[Genome, GAState]: ...

  def tell(self, key: jax.Array, population: Genome, fitness: np.ndarray, state: GAState,
           params: GAParams) -> tuple[GAState, dict[str, float]]: ...

  def retry(self, key: jax.Array, state: GAState, params: GAParams, slots: list[int]) -> tuple[Genome, GAState]: ...

  def parents(self, state: GAState, params: GAParams) -> np.ndarray: ...

  def done(self, state: GAState, params: GAParams) -> bool: ...


def tournament(key: jax.Array, fitness: np.ndarray, size: int, count: int) -> np.ndarray:
  """``count`` tournament winners: each samples ``size`` members uniformly without replacement and keeps the one with
  the highest fitness (the earliest sampled on ties).

  Args:
    key: the PRNG key (winner ``i`` uses ``fold_in(key, i)``).
    fitness: ``[P]`` the population's fitness (maximised).
    size: the tournament size ``S`` (capped at ``P``).
    count: how many winners.

  Returns:
    ``int[count]`` indices into the population.

  Examples:
    >>> import jax
    >>> import optix_evo as ox
    >>> print(ox.search.tournament(jax.random.PRNGKey(0), [0.1, 0.9, 0.5], size=3, count=2))  # S = P: the best
    [1 1]
  """
  fitness = np.asarray(fitness, np.float64)
  size = min(size, fitness.size)
  winners = np.empty(count, int)
  for i in range(count):
    sample = np.asarray(jax.random.choice(jax.random.fold_in(key, i), fitness.size, (size,), replace=False))
    winners[i] = sample[int(np.argmax(fitness[sample]))]
  return winners


class RegularizedEvolution(ParticleGA):
  """Regularized evolution (Real et al. 2019): a population of ``pool_factor · particles`` genomes, initially the
  random pool of generation 0, held oldest first. Each later generation asks for ``particles · mutants`` children,
  each one mutation of a tournament winner (:func:`tournament`, size ``params.tournament``); ``tell`` appends the
  children and removes as many of the *oldest* members (aging, not the worst: the best also dies of age, which
  regularises against lucky evaluations). Every child is new to everything drawn so far."""

  name = "regularized"

  def parents(self, state: GAState, params: GAParams) -> np.ndarray:
    if state.generation == 0 or state.parents is None:
      return np.full(params.generation_size(state.generation), -1)
    return np.asarray(state.parents)

  def _histories(self, state: GAState, params: GAParams, slots: list[int]) -> tuple[list[set[str]], list[set[str]]]:
    sets = [set(s) for s in state.seen]
    return [sets[-1]] * len(slots), sets

  def _propose(self, key, state: GAState, params: GAParams):
    if state.generation == 0:
      return lambda s, a: self.ops.random(_key(key, s, a))
    members, winners = unstack(state.particles), state.parents
    return lambda s, a: self.ops.mutate(_key(key, s, a), members[winners[s]])

  def ask(self, key: jax.Array, state: GAState, params: GAParams) -> tuple[Genome, GAState]:
    """The next generation: the random pool, then one mutant of a tournament winner per slot."""
    if state.generation > 0 and not self.done(state, params):
      winners = tournament(_key(key, state.generation, 1 << 21), state.fitness, params.tournament,
                           params.generation_size(state.generation))
      state = dataclasses.replace(state, parents=winners)
    return super().ask(key, state, params)

  def tell(self, key: jax.Array, population: Genome, fitness: np.ndarray, state: GAState,
           params: GAParams) -> tuple[GAState, dict[str, float]]:
    """Generation 0: the pool becomes the population. Later: children appended, the oldest removed."""
    del key
    fitness = np.asarray(fitness, np.float64)
    if state.generation == 0:
      members, member_fitness = unstack(population), fitness
    else:
      members = unstack(state.particles) + unstack(population)
      member_fitness = np.concatenate([np.asarray(state.fitness, np.float64), fitness])
    size = params.generation_size(0)
    members, member_fitness = members[-size:], member_fitness[-size:]  # aging: the oldest leave
    return GAState(state.generation + 1, stack(members), member_fitness, state.seen, None), _metrics(fitness)


STRATEGIES: dict[str, type] = {"ga": ParticleGA, "regularized": RegularizedEvolution, "random": RandomSearch}
"""Search strategies by name (``SearchConfig.strategy``); each implements :class:`Strategy`."""


def make_strategy(name: str, ops: GenomeOps, warm_start: tuple[Genome, ...] = ()) -> Strategy:
  """The strategy ``name`` of :data:`STRATEGIES` over ``ops``, its first population seeded with ``warm_start``."""
  return STRATEGIES[name](ops, warm_start)


