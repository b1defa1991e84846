"""The genome: one optimizer of the NOS search space as a NamedTuple of fixed-shape ``int32`` arrays.

A population is the same NamedTuple with a leading axis on every field (:func:`stack` / :func:`unstack`). What the
indices mean is fixed by a :class:`~optix_evo.graph.spec.GenomeSpec`.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

UNARY, BINARY = 0, 1  # node kinds
"""Node kinds of :attr:`Genome.kind`: ``UNARY = 0`` (one input), ``BINARY = 1`` (two inputs)."""


class Genome(NamedTuple):
  """One optimizer (or, with a leading axis on every field, a population), all ``int32``.

  ``N = spec.num_hidden + 1`` nodes; nodes ``0..N-2`` are hidden-state nodes in topological order (a node reads
  operands and earlier hidden nodes only), node ``N-1`` is the root whose output is the update ``u``. A vertex index
  ``i < num_operands`` is operand ``i``; ``num_operands + j`` is hidden node ``j``. Each input edge ``(node, slot)``
  may carry a decay graph (one hidden node ``0`` and a root ``1``; decay vertex ``i < 14`` is decay operand ``i``,
  ``num_decay_operands`` is the decay hidden node) whose scalar value multiplies the edge.

  Build genomes with :func:`~optix_evo.graph.known`, :func:`~optix_evo.graph.random_genome`,
  :func:`~optix_evo.graph.mutate` or :func:`~optix_evo.graph.from_json`, not by hand.

  Attributes:
    kind: ``[N]`` node kinds, :data:`UNARY` (0) or :data:`BINARY` (1).
    unary: ``[N]`` index into ``spec.unary`` (read where ``kind == UNARY``).
    binary: ``[N]`` index into ``spec.binary`` (read where ``kind == BINARY``).
    inputs: ``[N, 2]`` vertex indices of each node's inputs (slot 1 unused by unary nodes).
    decay_on: ``[N, 2]`` 1 where the input edge carries a decay graph.
    decay_kind: ``[N, 2, 2]`` kind of (decay hidden node, decay root) of each edge.
    decay_unary: ``[N, 2, 2]`` index into ``spec.decay_unary``.
    decay_binary: ``[N, 2, 2]`` index into ``spec.decay_binary``.
    decay_inputs: ``[N, 2, 2, 2]`` decay vertex indices of the decay nodes' inputs.
    momentum: ``[]`` index into ``spec.momentum_types``.
    flip: ``[]`` 1 when the update direction is reversed (``w ← w + η u``).
    schedule: ``[]`` index into ``spec.schedules`` (the learning-rate schedule).
    decay_memory: ``[N, V, 11]`` (``V = spec.num_vertices`` in a ``rules="nos"`` space, else 0): the decay graphs
      of (node, source vertex) pairs that are not connected now, packed by :func:`pack_decay`. The authors' code keys
      decays by (node, source vertex), so a decay survives its edge being rewired and comes back when that source is
      reconnected; the interpreter never reads this field (what an edge computes is in the ``decay_*`` fields).

  Examples:
    >>> import optix_evo as ox
    >>> g = ox.graph.known("adam")
    >>> print(g.kind.shape, g.inputs.shape, g.decay_inputs.shape, g.decay_memory.shape)  # N = num_hidden + 1 = 6
    (6,) (6, 2) (6, 2, 2, 2) (6, 0, 11)
    >>> print(ox.graph.render(g))
    u = adam
    w ← w - η_t·u
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
  decay_memory: Any  # [N, V, 11] decays of unconnected (node, source) pairs ("nos" rules; V = 0 otherwise)


def to_numpy(genome: Genome) -> Genome:
  """A writable int32 NumPy copy of ``genome``."""
  return Genome(*(np.array(x, dtype=np.int32) for x in genome))


def stack(genomes: Sequence[Genome]) -> Genome:
  """A population: the genomes stacked along a new leading axis (``int32`` NumPy arrays).

  Args:
    genomes: one or more genomes of the same space.

  Returns:
    A :class:`Genome` whose every field has a leading axis of size ``len(genomes)``.

  Raises:
    ValueError: when ``genomes`` is empty.

  Examples:
    >>> import optix_evo as ox
    >>> population = ox.graph.stack([ox.graph.known("sgd"), ox.graph.known("adam")])
    >>> print(population.kind.shape, population.inputs.shape)
    (2, 6) (2, 6, 2)
  """
  if not genomes:
    raise ValueError("stack() needs at least one genome.")
  return Genome(*(np.stack([np.asarray(g[i], dtype=np.int32) for g in genomes]) for i in range(len(Genome._fields))))


def unstack(population: Genome) -> list[Genome]:
  """The genomes of a population (inverse of :func:`stack`).

  Args:
    population: a :class:`Genome` with a leading axis on every field.

  Returns:
    The list of its members, each a :class:`Genome` without the leading axis.

  Examples:
    >>> import optix_evo as ox
    >>> population = ox.graph.stack([ox.graph.known("sgd"), ox.graph.known("adam")])
    >>> print([ox.graph.render(g).splitlines()[0] for g in ox.graph.unstack(population)])
    ['u = g', 'u = adam']
  """
  n = np.asarray(population.kind).shape[0]
  return [Genome(*(np.asarray(x)[i] for x in population)) for i in range(n)]


def empty_genome(spec) -> Genome:
  """The all-zero genome of ``spec``'s shape (a writable NumPy genome)."""
  n = spec.num_nodes
  z = lambda *s: np.zeros(s, np.int32)  # noqa: E731
  return Genome(z(n), z(n), z(n), z(n, 2), z(n, 2), z(n, 2, 2), z(n, 2, 2), z(n, 2, 2), z(n, 2, 2, 2), z(), z(), z(),
                z(*memory_shape(spec)))


DECAY_FIELDS = ("decay_on", "decay_kind", "decay_unary", "decay_binary", "decay_inputs")
PACKED_DECAY = 11  # decay_on, kind[2], unary[2], binary[2], inputs[2, 2]


def memory_shape(spec) -> tuple[int, int, int]:
  """Shape of :attr:`Genome.decay_memory` in ``spec``: ``[N, V, 11]`` under the ``"nos"`` rules, else ``[N, 0, 11]``."""
  return spec.num_nodes, (spec.num_vertices if getattr(spec, "rules", "library") == "nos" else 0), PACKED_DECAY


def pack_decay(g: Genome, i: int, s: int) -> np.ndarray:
  """The decay graph of edge ``(i, s)`` as 11 ints (all 0 when the edge has none)."""
  return np.concatenate([np.ravel(np.asarray(getattr(g, f))[i, s]) for f in DECAY_FIELDS]).astype(np.int32)


def unpack_decay(g: Genome, i: int, s: int, packed: np.ndarray) -> None:
  """Writes 11 packed ints (:func:`pack_decay`) as the decay graph of edge ``(i, s)`` of the writable ``g``."""
  at = 0
  for f in DECAY_FIELDS:
    target = getattr(g, f)
    size = int(np.prod(target.shape[2:], dtype=int))
    target[i, s] = np.asarray(packed[at:at + size]).reshape(target.shape[2:])
    at += size


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
