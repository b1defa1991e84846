"""Random genomes and random decay graphs, on the host with NumPy, following the authors' code (Morgan & Hougen
2024; OUStudent/NeuralOptimizerSearch ``NeuralOptimizerSearch.py``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from optix_evo.graph.analysis import topological_order
from optix_evo.graph.canonical import canonical
from optix_evo.graph.decays import decay_in_range
from optix_evo.graph.genome import BINARY, UNARY, Genome, arity, empty_genome, to_numpy
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def host_rng(key) -> np.random.Generator:
  """A NumPy generator seeded from a JAX PRNG key (typed or raw) or an int."""
  if isinstance(key, (int, np.integer)):
    return np.random.default_rng(int(key))
  key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  return np.random.default_rng(np.asarray(key, dtype=np.uint32).ravel().tolist())


def sample_decay(rng: np.random.Generator, g: Genome, i: int, s: int, spec: GenomeSpec) -> None:
  """Attaches a random valid decay graph to edge (i, s) (the authors' ``DecaySchedule.setup``), in place."""
  n_d = len(spec.decay_operands)
  while True:
    g.decay_on[i, s] = 1
    for node in (0, 1):
      unary = rng.random() < spec.decay_unary_prob
      g.decay_kind[i, s, node] = UNARY if unary else BINARY
      g.decay_unary[i, s, node] = rng.integers(len(spec.decay_unary))
      g.decay_binary[i, s, node] = rng.integers(len(spec.decay_binary))
    g.decay_inputs[i, s, 0] = rng.choice(n_d, 2, replace=False)
    if g.decay_kind[i, s, 1] == UNARY:
      g.decay_inputs[i, s, 1] = [n_d if rng.random() < 0.2 else rng.integers(n_d + 1), 0]
    elif rng.random() < 0.2:
      pair = [n_d, rng.integers(n_d)]
      g.decay_inputs[i, s, 1] = pair if rng.random() < 0.5 else pair[::-1]
    else:
      g.decay_inputs[i, s, 1] = rng.choice(n_d + 1, 2, replace=False)
    if decay_in_range(g, i, s, spec):
      return


def random_unary(rng: np.random.Generator, spec: GenomeSpec, exclude: int | None = None,
                 limit: int | None = None) -> int:
  """The identity with ``spec.identity_prob`` (unless ``exclude`` is it), else a uniform unary op among entries
  ``1 .. limit - 1`` (default: the whole table) other than ``exclude``."""
  if exclude != 0 and rng.random() < spec.identity_prob:
    return 0
  choices = [i for i in range(1, limit or len(spec.unary)) if i != exclude]
  return int(rng.choice(choices))


def random_genome(key, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """A random structurally valid genome (the authors' ``OptimizerChrom.setup``): acyclic, root reading at least one
  hidden node, decays valid in [0, 1]. The numeric integrity check (:func:`check_integrity`) is separate and vectorised.

  Args:
    key: a JAX PRNG key or an int seed (sampling runs on the host with NumPy).
    spec: the search space (its initialisation probabilities).

  Returns:
    A canonical :class:`~optix_evo.graph.Genome`; the same key gives the same genome.

  Examples:
    >>> import optix_evo as ox
    >>> g = ox.graph.random_genome(0, ox.graph.NOS_SPEC)
    >>> print(ox.graph.render(g, ox.graph.NOS_SPEC))
    u = [erfc(arctan(a4))]·exp(1)
    mom ← m·mom - η_t·u;  w ← w + mom
    where t/T is training progress: a4 = 0.5 * (1 - jnp.cos(jnp.pi * t / T))
  """
  rng = host_rng(key)
  h, n_op = spec.num_hidden, spec.num_operands
  while True:
    g = empty_genome(spec)
    for i in range(h):
      binary = rng.random() >= spec.hidden_unary_prob
      g.kind[i] = BINARY if binary else UNARY
      others = [n_op + j for j in range(h) if j != i]
      while True:
        src = [int(rng.integers(n_op)) if rng.random() < spec.operand_input_prob else int(rng.choice(others))
               for _ in range(2)]
        if not binary or src[0] != src[1]:
          break
      g.inputs[i] = src if binary else [src[0], 0]
    root = h
    hidden = list(range(n_op, n_op + h))
    if rng.random() < spec.root_unary_prob:
      g.kind[root] = UNARY
      g.inputs[root] = [rng.choice(hidden), 0]
    else:
      g.kind[root] = BINARY
      if rng.random() < spec.operand_input_prob:
        g.inputs[root] = [rng.integers(n_op), rng.choice(hidden)]
      else:
        first = int(rng.choice(hidden))
        second = int(rng.integers(n_op)) if rng.random() < spec.operand_input_prob else int(
            rng.choice([v for v in hidden if v != first]))
        g.inputs[root] = [first, second]
    for i in range(h + 1):
      g.unary[i] = random_unary(rng, spec)
      g.binary[i] = rng.integers(len(spec.binary))
    ordered = topological_order(g, spec)
    if ordered is None:
      continue
    g = to_numpy(ordered)
    for i in range(h + 1):
      for s in range(arity(g.kind[i])):
        p = spec.root_unary_decay_prob if (i == h and g.kind[i] == UNARY) else spec.decay_prob
        if rng.random() < p:
          sample_decay(rng, g, i, s, spec)
    g.momentum[()] = rng.integers(len(spec.momentum_types))
    if rng.random() < spec.schedule_prob:
      g.schedule[()] = rng.integers(1, len(spec.schedules))
    return canonical(g, spec)
