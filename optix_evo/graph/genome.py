"""The genome: one optimizer of the NOS search space as a NamedTuple of fixed-shape ``int32`` arrays.

A population is the same NamedTuple with a leading axis on every field (:func:`stack` / :func:`unstack`). What the
indices mean is fixed by a :class:`~optix_evo.graph.spec.GenomeSpec` (Morgan & Hougen 2024, arXiv:2404.06679).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

UNARY, BINARY = 0, 1  # node kinds


class Genome(NamedTuple):
  """One optimizer (or, with a leading axis on every field, a population), all ``int32``.

  ``N = spec.num_hidden + 1`` nodes; nodes ``0..N-2`` are hidden-state nodes in topological order (a node reads
  operands and earlier hidden nodes only), node ``N-1`` is the root whose output is the update ``u``. A vertex index
  ``i < num_operands`` is operand ``i``; ``num_operands + j`` is hidden node ``j``. Each input edge ``(node, slot)``
  may carry a decay graph (one hidden node ``0`` and a root ``1``; decay vertex ``i < 14`` is decay operand ``i``,
  ``num_decay_operands`` is the decay hidden node) whose scalar value multiplies the edge.
  """

  kind: Any  # [N] UNARY / BINARY
  unary: Any  # [N] index into spec.unary
  binary: Any  # [N] index into spec.binary
  inputs: Any  # [N, 2] vertex indices (slot 1 unused by unary nodes)
  decay_on: Any  # [N, 2] 0/1
  decay_kind: Any  # [N, 2, 2] kind of (decay hidden, decay root)
  decay_unary: Any  # [N, 2, 2]
  decay_binary: Any  # [N, 2, 2]
  decay_inputs: Any  # [N, 2, 2, 2]
  momentum: Any  # [] index into spec.momentum_types
  flip: Any  # [] 1: the update direction is reversed (w ← w + η u)
  schedule: Any  # [] index into spec.schedules


def to_numpy(genome: Genome) -> Genome:
  """A writable int32 NumPy copy of ``genome``."""
  return Genome(*(np.array(x, dtype=np.int32) for x in genome))


def stack(genomes: Sequence[Genome]) -> Genome:
  """A population: the genomes stacked along a new leading axis."""
  if not genomes:
    raise ValueError("stack() needs at least one genome.")
  return Genome(*(np.stack([np.asarray(g[i], dtype=np.int32) for g in genomes]) for i in range(len(Genome._fields))))


def unstack(population: Genome) -> list[Genome]:
  """The genomes of a population (inverse of :func:`stack`)."""
  n = np.asarray(population.kind).shape[0]
  return [Genome(*(np.asarray(x)[i] for x in population)) for i in range(n)]


def empty_genome(spec) -> Genome:
  """The all-zero genome of ``spec``'s shape (a writable NumPy genome)."""
  n = spec.num_nodes
  z = lambda *s: np.zeros(s, np.int32)  # noqa: E731
  return Genome(z(n), z(n), z(n), z(n, 2), z(n, 2), z(n, 2, 2), z(n, 2, 2), z(n, 2, 2), z(n, 2, 2, 2), z(), z(), z())


def arity(kind) -> int:
  """Number of inputs of a node of ``kind`` (:data:`UNARY` or :data:`BINARY`)."""
  return 2 if int(kind) == BINARY else 1


def clear_decay(g: Genome, i: int, s: int) -> None:
  """Removes the decay graph of edge ``(i, s)`` of the writable genome ``g`` (in place)."""
  g.decay_on[i, s] = 0
  g.decay_kind[i, s] = 0
  g.decay_unary[i, s] = 0
  g.decay_binary[i, s] = 0
  g.decay_inputs[i, s] = 0
