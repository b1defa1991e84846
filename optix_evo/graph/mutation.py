"""The NOS mutation operators (Morgan & Hougen 2024; the authors' ``NeuralOptimizerSearch.py``): one mutation of the
update graph, or of a decay graph on one of its edges, on the host with NumPy.

The space's ``rules`` decide two things. Under ``"nos"`` (the authors' code) a decay belongs to the (node, source
vertex) pair: rewiring an edge or deleting an input puts its decay in :attr:`~optix_evo.graph.Genome.decay_memory`,
and connecting a node to a source brings back the decay it had with that source (``OptimizerChrom.decay`` is a
vertex-by-vertex matrix); a decay mutation is applied once, and kept even when it leaves [0, 1] or computes what it
did before (``DecaySchedule.mutate``'s result is ignored). Under ``"library"`` a decay stays with its input slot and
a decay mutation is re-drawn until it is valid and behaves differently."""

from __future__ import annotations

import numpy as np

from optix_evo.graph.analysis import active_nodes, decay_hidden_used, topological_order
from optix_evo.graph.canonical import canonical, canonical_hash
from optix_evo.graph.decays import decay_in_range, decay_values
from optix_evo.graph.genome import BINARY, UNARY, Genome, arity, clear_decay, pack_decay, to_numpy, unpack_decay
from optix_evo.graph.sampling import host_rng, random_unary, sample_decay
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def mutate_decay_once(rng: np.random.Generator, g: Genome, i: int, s: int, spec: GenomeSpec) -> None:
  """One mutation of the decay graph on edge (i, s), in place and kept whatever it computes, as the authors'
  ``DecaySchedule.mutate`` whose result ``OptimizerChrom.mutate`` ignores: the root, or (when the root reads it) the
  hidden node 50/50; r >= 0.4 another op; 0.15 <= r < 0.4 a connection (binary: 20% swap, else the first or second
  input) to a vertex the node does not read; else unary <-> binary (adding such a vertex on the right or the left,
  or deleting the right or the left input)."""
  n_d = len(spec.decay_operands)
  node = 1 if not decay_hidden_used(g, i, s, spec) or rng.random() > 0.5 else 0
  kind = int(g.decay_kind[i, s, node])
  ins = g.decay_inputs[i, s, node]
  current = {int(v) for v in ins[:arity(kind)]}
  free = [v for v in range(n_d + 1 if node == 1 else n_d) if v not in current]  # the root may read the hidden node
  c = int(rng.choice(free))
  r = rng.random()
  if r >= 0.4:
    if kind == UNARY:
      n_un = len(spec.decay_unary)
      g.decay_unary[i, s, node] = (g.decay_unary[i, s, node] + rng.integers(1, n_un)) % n_un
    else:
      n_bi = len(spec.decay_binary)
      g.decay_binary[i, s, node] = (g.decay_binary[i, s, node] + rng.integers(1, n_bi)) % n_bi
  elif r >= 0.15:
    if kind == UNARY:
      ins[0] = c
    elif rng.random() <= 0.2:
      ins[:] = ins[::-1].copy()
    else:
      ins[0 if rng.random() < 0.5 else 1] = c
  elif kind == UNARY:
    g.decay_kind[i, s, node] = BINARY
    ins[:] = [ins[0], c] if rng.random() <= 0.5 else [c, ins[0]]
  else:
    g.decay_kind[i, s, node] = UNARY
    ins[:] = [ins[0], 0] if rng.random() <= 0.5 else [ins[1], 0]


def mutate_decay(rng: np.random.Generator, g: Genome, i: int, s: int, spec: GenomeSpec) -> None:
  """Mutates the decay graph on edge (i, s) in place: under the ``"nos"`` rules once (:func:`mutate_decay_once`),
  else that mutation re-drawn until the decay stays in [0, 1] and behaves differently (phenotype distance above
  1e-4, the authors' test of ``DecaySchedule.mutate``, whose result their search ignores); after 100 failed draws
  the parent's decay is kept."""
  if spec.rules == "nos":
    mutate_decay_once(rng, g, i, s, spec)
    return
  before = decay_values(g, i, s, spec)
  parent = to_numpy(g)
  fields = ("decay_kind", "decay_unary", "decay_binary", "decay_inputs")
  for _ in range(100):
    for f in fields:
      getattr(g, f)[i, s] = getattr(parent, f)[i, s]
    mutate_decay_once(rng, g, i, s, spec)
    if decay_in_range(g, i, s, spec) and np.linalg.norm(decay_values(g, i, s, spec) - before) > 1e-4:
      return
  for f in fields:  # no valid variant: keep the parent's
    getattr(g, f)[i, s] = getattr(parent, f)[i, s]


def _connect(g: Genome, i: int, s: int, new: int, spec: GenomeSpec) -> None:
  """Edge (i, s) now reads vertex ``new``. Under the ``"nos"`` rules its decay stays with the old source (in
  ``decay_memory``) and the edge takes the decay remembered for (i, new), if any."""
  if spec.rules == "nos":
    _forget(g, i, s, spec)
    unpack_decay(g, i, s, g.decay_memory[i, new])
    g.decay_memory[i, new] = 0
  g.inputs[i, s] = new


def _forget(g: Genome, i: int, s: int, spec: GenomeSpec) -> None:
  """Edge (i, s) stops reading its source: under the ``"nos"`` rules its decay is remembered for (i, source)."""
  if spec.rules == "nos":
    g.decay_memory[i, int(g.inputs[i, s])] = pack_decay(g, i, s)
    clear_decay(g, i, s)


CYCLE = -1  # a drawn input that makes a cycle (the node itself or the root): the mutation is invalid


def _random_input(rng: np.random.Generator, spec: GenomeSpec, node: int, exclude: set[int],
                  hidden_only: bool) -> int | None:
  """A vertex ``node`` does not read yet: hidden nodes and (unless ``hidden_only``) operands. Under the ``"nos"``
  rules the authors' draw is over every vertex the node does not read, so unless ``hidden_only`` it may also be the
  node itself or the root (for the root: itself), which closes a cycle: :data:`CYCLE`, and the mutation is redrawn
  from scratch as their cycle check makes it."""
  n_op, h = spec.num_operands, spec.num_hidden
  choices = [n_op + j for j in range(h) if j != node] + ([] if hidden_only else list(range(n_op)))
  choices = [c for c in choices if c not in exclude]
  if spec.rules == "nos" and not hidden_only:
    choices += [CYCLE] * (1 if node == h else 2)  # the root itself; a hidden node itself and the root
  return int(rng.choice(choices)) if choices else None


def _mutate_once(rng: np.random.Generator, g: Genome, spec: GenomeSpec, what: int | None = None) -> int | None:
  """One NOS mutation of ``g`` in place (the authors' ``OptimizerChrom.mutate``); ``what`` forces the kind (an index
  of ``spec.mutation_probs``). Returns the kind, or ``None`` when the draw closed a cycle (``g`` is then invalid)."""
  n_op, h = spec.num_operands, spec.num_hidden
  root = h
  nodes = [int(i) for i in np.flatnonzero(active_nodes(g, spec))]
  i = int(rng.choice(nodes))
  kind = int(g.kind[i])
  is_hidden = lambda v: v >= n_op  # noqa: E731
  what = rng.choice(6, p=spec.mutation_probs) if what is None else what
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
      if new == CYCLE:
        return None
      if new is not None:
        _connect(g, i, s, new, spec)
  elif what == 2:  # unary <-> binary
    if kind == UNARY:
      hidden_only = i == root and not is_hidden(int(g.inputs[i, 0]))
      new = _random_input(rng, spec, i, {int(g.inputs[i, 0])}, hidden_only)
      if new == CYCLE:
        return None
      if new is None:
        return what
      g.kind[i] = BINARY
      clear_decay(g, i, 1)
      g.inputs[i, 1] = g.inputs[i, 0]
      if rng.random() < 0.5:
        _connect(g, i, 1, new, spec)
      else:
        for f in ("decay_on", "decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
          getattr(g, f)[i, 1] = getattr(g, f)[i, 0]
        clear_decay(g, i, 0)
        _connect(g, i, 0, new, spec)
    else:
      keep = int(rng.integers(2))
      if i == root and not is_hidden(int(g.inputs[i, keep])):
        keep = 1 - keep
      _forget(g, i, 1 - keep, spec)
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
  return int(what)


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
    if _mutate_once(rng, child, spec) is None:
      continue
    ordered = topological_order(child, spec)
    if ordered is None:
      continue
    child = canonical(ordered, spec)
    if canonical_hash(child, spec) != parent_hash:
      return child
  raise ValueError("mutate: no valid mutation found in 1000 attempts (is the spec too small?).")
