"""The NOS mutation operators (Morgan & Hougen 2024; the authors' ``NeuralOptimizerSearch.py``): one mutation of the
update graph, or of a decay graph on one of its edges, on the host with NumPy."""

from __future__ import annotations

import numpy as np

from optix_evo.graph.analysis import active_nodes, decay_hidden_used, topological_order
from optix_evo.graph.canonical import canonical, canonical_hash
from optix_evo.graph.decays import decay_in_range, decay_values
from optix_evo.graph.genome import BINARY, UNARY, Genome, arity, clear_decay, to_numpy
from optix_evo.graph.sampling import host_rng, random_unary, sample_decay
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def mutate_decay(rng: np.random.Generator, g: Genome, i: int, s: int, spec: GenomeSpec) -> None:
  """Mutates the decay graph on edge (i, s) until it is valid and behaves differently (the authors'
  ``DecaySchedule.mutate``), in place."""
  n_d = len(spec.decay_operands)
  before = decay_values(g, i, s, spec)
  parent = to_numpy(g)
  for _ in range(100):
    for f in ("decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
      getattr(g, f)[i, s] = getattr(parent, f)[i, s]
    hidden_used = decay_hidden_used(g, i, s, spec)
    node = 1 if not hidden_used or rng.random() < 0.5 else 0
    kind = g.decay_kind[i, s, node]
    n_in = n_d if node == 0 else n_d + 1
    r = rng.random()
    if r >= 0.4:
      if kind == UNARY:
        n_un = len(spec.decay_unary)
        g.decay_unary[i, s, node] = (g.decay_unary[i, s, node] + rng.integers(1, n_un)) % n_un
      else:
        n_bi = len(spec.decay_binary)
        g.decay_binary[i, s, node] = (g.decay_binary[i, s, node] + rng.integers(1, n_bi)) % n_bi
    elif r >= 0.15:
      if kind == BINARY and rng.random() < 0.2:
        g.decay_inputs[i, s, node] = g.decay_inputs[i, s, node][::-1].copy()
      else:
        a = 0 if kind == UNARY else rng.integers(2)
        g.decay_inputs[i, s, node, a] = rng.integers(n_in)
    elif kind == UNARY:
      g.decay_kind[i, s, node] = BINARY
      new = rng.integers(n_in)
      old = g.decay_inputs[i, s, node, 0]
      g.decay_inputs[i, s, node] = [old, new] if rng.random() < 0.5 else [new, old]
    else:
      g.decay_kind[i, s, node] = UNARY
      g.decay_inputs[i, s, node] = [g.decay_inputs[i, s, node, rng.integers(2)], 0]
    if g.decay_kind[i, s, node] == BINARY and g.decay_inputs[i, s, node, 0] == g.decay_inputs[i, s, node, 1]:
      continue
    if decay_in_range(g, i, s, spec) and np.linalg.norm(decay_values(g, i, s, spec) - before) > 1e-4:
      return
  for f in ("decay_kind", "decay_unary", "decay_binary", "decay_inputs"):  # no valid variant: keep the parent's
    getattr(g, f)[i, s] = getattr(parent, f)[i, s]


def _random_input(rng: np.random.Generator, spec: GenomeSpec, node: int, exclude: set[int],
                  hidden_only: bool) -> int | None:
  n_op, h = spec.num_operands, spec.num_hidden
  choices = [n_op + j for j in range(h) if j != node] + ([] if hidden_only else list(range(n_op)))
  choices = [c for c in choices if c not in exclude]
  return int(rng.choice(choices)) if choices else None


def _mutate_once(rng: np.random.Generator, g: Genome, spec: GenomeSpec) -> None:
  """One NOS mutation of ``g`` in place (the authors' ``OptimizerChrom.mutate``)."""
  n_op, h = spec.num_operands, spec.num_hidden
  root = h
  nodes = [int(i) for i in np.flatnonzero(active_nodes(g, spec))]
  i = int(rng.choice(nodes))
  kind = int(g.kind[i])
  is_hidden = lambda v: v >= n_op  # noqa: E731
  what = rng.choice(6, p=spec.mutation_probs)
  if what == 0:  # change the operation
    if kind == UNARY:
      limit = spec.mutation_unary or len(spec.unary)
      g.unary[i] = (random_unary(rng, spec, exclude=int(g.unary[i]), limit=limit) if g.unary[i] != 0
                    else int(rng.integers(1, limit)))
    else:
      g.binary[i] = (g.binary[i] + rng.integers(1, len(spec.binary))) % len(spec.binary)
  elif what == 1:  # change a connection
    cur = {int(g.inputs[i, s]) for s in range(arity(kind))}
    if kind == BINARY and rng.random() < 0.2:
      g.inputs[i] = g.inputs[i][::-1].copy()
      g.decay_on[i], g.decay_kind[i], g.decay_unary[i], g.decay_binary[i], g.decay_inputs[i] = (
          g.decay_on[i][::-1].copy(), g.decay_kind[i][::-1].copy(), g.decay_unary[i][::-1].copy(),
          g.decay_binary[i][::-1].copy(), g.decay_inputs[i][::-1].copy())
    else:
      s = 0 if kind == UNARY else int(rng.integers(2))
      other = int(g.inputs[i, 1 - s]) if kind == BINARY else None
      hidden_only = i == root and (kind == UNARY or not is_hidden(other))
      new = _random_input(rng, spec, i, cur, hidden_only)
      if new is not None:
        g.inputs[i, s] = new
  elif what == 2:  # unary <-> binary
    if kind == UNARY:
      hidden_only = i == root and not is_hidden(int(g.inputs[i, 0]))
      new = _random_input(rng, spec, i, {int(g.inputs[i, 0])}, hidden_only)
      if new is None:
        return
      g.kind[i] = BINARY
      if rng.random() < 0.5:
        g.inputs[i] = [g.inputs[i, 0], new]
      else:
        g.inputs[i] = [new, g.inputs[i, 0]]
        for f in ("decay_on", "decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
          getattr(g, f)[i, 1] = getattr(g, f)[i, 0]
        clear_decay(g, i, 0)
    else:
      keep = int(rng.integers(2))
      if i == root and not is_hidden(int(g.inputs[i, keep])):
        keep = 1 - keep
      g.kind[i] = UNARY
      g.inputs[i] = [g.inputs[i, keep], 0]
      if keep == 1:
        for f in ("decay_on", "decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
          getattr(g, f)[i, 0] = getattr(g, f)[i, 1]
      clear_decay(g, i, 1)
  elif what == 3:  # momentum type
    if len(spec.momentum_types) > 1:
      g.momentum[()] = (g.momentum + rng.integers(1, len(spec.momentum_types))) % len(spec.momentum_types)
  elif what == 4:  # decay on a random incoming edge
    s = int(rng.integers(arity(kind)))
    if not g.decay_on[i, s]:
      sample_decay(rng, g, i, s, spec)
    elif rng.random() < 0.5:
      clear_decay(g, i, s)
    else:
      mutate_decay(rng, g, i, s, spec)
  elif len(spec.schedules) > 1:  # learning-rate schedule
    g.schedule[()] = (g.schedule + rng.integers(1, len(spec.schedules))) % len(spec.schedules)


def mutate(key, genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """One random NOS mutation of ``genome`` (``OptimizerChrom.mutate`` and ``DecaySchedule.mutate`` of the authors'
  code), retried until the child is acyclic and differs from the parent (canonical hash). Duplicates of other
  genomes and numeric integrity are the search's business (:func:`canonical_hash`, :func:`check_integrity`). Runs on
  the host; ``key`` is a JAX PRNG key or an int seed.

  The mutation kind is drawn with ``spec.mutation_probs``: an op, a connection, unary ↔ binary, the momentum type,
  a decay graph, or (extended space) the learning-rate schedule.

  Args:
    key: a JAX PRNG key or an int seed.
    genome: the parent.
    spec: the search space.

  Returns:
    The child, canonical (:func:`~optix_evo.graph.canonical`) and with another canonical hash than the parent.

  Raises:
    ValueError: when no valid mutation is found in 1000 attempts (a degenerate space).

  Examples:
    >>> import optix_evo as ox
    >>> parent = ox.graph.known("adam")
    >>> child = ox.graph.mutate(0, parent)
    >>> print(ox.graph.canonical_hash(child) != ox.graph.canonical_hash(parent))
    True
  """
  rng = host_rng(key)
  parent = canonical(to_numpy(genome), spec)
  parent_hash = canonical_hash(parent, spec)
  for _ in range(1000):
    child = to_numpy(parent)
    _mutate_once(rng, child, spec)
    ordered = topological_order(child, spec)
    if ordered is None:
      continue
    child = canonical(ordered, spec)
    if canonical_hash(child, spec) != parent_hash:
      return child
  raise ValueError("mutate: no valid mutation found in 1000 attempts (is the spec too small?).")
