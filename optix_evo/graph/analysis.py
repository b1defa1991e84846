"""Graph analysis of genomes on the host: which nodes and operands reach the root, and topological order."""

from __future__ import annotations

import numpy as np

from optix_evo.graph.genome import BINARY, Genome, arity
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def active_nodes(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> np.ndarray:
  """Boolean mask ``[..., N]`` of the nodes the root depends on (vectorised over leading axes).

  Args:
    genome: a genome or a population (leading axes).
    spec: the search space of its indices.

  Returns:
    A bool array of shape ``genome.kind.shape``; the root (last node) is always active.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.active_nodes(ox.graph.known("adam")))  # h0 = adam, u = h0: h1 .. h4 are dead
    [ True False False False False  True]
  """
  kind, inputs = np.asarray(genome.kind), np.asarray(genome.inputs)
  n, n_op = spec.num_nodes, spec.num_operands
  active = np.zeros(kind.shape, bool)
  active[..., n - 1] = True
  for i in range(n - 1, -1, -1):  # topological order: a node only reads earlier nodes
    for slot in range(2):
      used = active[..., i] & ((slot == 0) | (kind[..., i] == BINARY))
      src = inputs[..., i, slot] - n_op
      for j in range(i):
        active[..., j] |= used & (src == j)
  return active


def active_operands(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> np.ndarray:
  """Boolean mask ``[..., num_operands]`` of the operands that reach the root.

  Args:
    genome: a genome or a population (leading axes).
    spec: the search space of its indices.

  Returns:
    A bool array of shape ``genome.kind.shape[:-1] + (spec.num_operands,)``.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> spec = ox.graph.DEFAULT_SPEC
    >>> used = ox.graph.active_operands(ox.graph.known("adamw"), spec)
    >>> print([spec.operands[i].name for i in np.flatnonzero(used)])
    ['1e-4w', 'adam']
  """
  kind, inputs = np.asarray(genome.kind), np.asarray(genome.inputs)
  active = active_nodes(genome, spec)
  used = np.zeros(kind.shape[:-1] + (spec.num_operands,), bool)
  for i in range(spec.num_nodes):
    for slot in range(2):
      on = active[..., i] & ((slot == 0) | (kind[..., i] == BINARY))
      src = inputs[..., i, slot]
      for o in range(spec.num_operands):
        used[..., o] |= on & (src == o)
  return used


def decay_hidden_used(genome: Genome, i: int, s: int, spec: GenomeSpec = DEFAULT_SPEC) -> bool:
  """Whether the root of the decay graph on edge (i, s) reads the decay hidden node."""
  n_d = len(spec.decay_operands)
  return any(genome.decay_inputs[i, s, 1, a] == n_d for a in range(arity(genome.decay_kind[i, s, 1])))


def topological_order(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> Genome | None:
  """``genome`` with its hidden nodes relabelled into topological order, or None if the hidden graph has a cycle."""
  h, n_op = spec.num_hidden, spec.num_operands
  deps = {j: {int(genome.inputs[j, s]) - n_op for s in range(arity(genome.kind[j]))} & set(range(h)) for j in range(h)}
  order: list[int] = []
  while len(order) < h:
    ready = [j for j in range(h) if j not in order and deps[j] <= set(order)]
    if not ready:
      return None
    order.append(ready[0])
  if order == list(range(h)):
    return genome
  new_of = {old: new for new, old in enumerate(order)}
  perm = order + [h]
  fields = {f: (np.asarray(getattr(genome, f))[perm] if np.ndim(getattr(genome, f)) else getattr(genome, f))
            for f in Genome._fields}
  inputs = fields["inputs"].copy()
  hid = inputs >= n_op
  inputs[hid] = np.vectorize(lambda v: n_op + new_of[v - n_op])(inputs[hid])
  fields["inputs"] = inputs
  memory = np.asarray(fields["decay_memory"])
  if memory.shape[1]:  # decays remembered per (node, source vertex): hidden source vertices are relabelled too
    relabelled = memory.copy()
    for old, new in new_of.items():
      relabelled[:, n_op + new] = memory[:, n_op + old]
    fields["decay_memory"] = relabelled
  return Genome(**fields)
