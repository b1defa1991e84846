"""Canonical form and hash of genomes: equal for genomes that compute the same optimizer (dead nodes, identity nodes
and the order of commutative arguments ignored), used for duplicate detection and file names."""

from __future__ import annotations

import hashlib

from optix_evo.graph.analysis import active_nodes, decay_hidden_used
from optix_evo.graph.genome import UNARY, Genome, arity, clear_decay, to_numpy
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def _edge_key(g: Genome, i: int, s: int, spec: GenomeSpec, memo: dict) -> str:
  v = int(g.inputs[i, s])
  src = spec.operands[v].name if v < spec.num_operands else _node_key(g, v - spec.num_operands, spec, memo)
  if not g.decay_on[i, s]:
    return src
  return f"[{_decay_key(g, i, s, 1, spec)}]{src}"


def _decay_key(g: Genome, i: int, s: int, node: int, spec: GenomeSpec) -> str:
  n_d = len(spec.decay_operands)
  args = []
  for a in range(arity(g.decay_kind[i, s, node])):
    v = int(g.decay_inputs[i, s, node, a])
    args.append(spec.decay_operands[v].name if v < n_d else _decay_key(g, i, s, 0, spec))
  if g.decay_kind[i, s, node] == UNARY:
    op = spec.decay_unary[g.decay_unary[i, s, node]]
    return args[0] if op.name == "id" else f"{op.name}({args[0]})"
  op = spec.decay_binary[g.decay_binary[i, s, node]]
  if op.commutative:
    args.sort()
  return f"{op.name}({args[0]},{args[1]})"


def _node_key(g: Genome, i: int, spec: GenomeSpec, memo: dict) -> str:
  if i not in memo:
    args = [_edge_key(g, i, s, spec, memo) for s in range(arity(g.kind[i]))]
    if g.kind[i] == UNARY:
      op = spec.unary[g.unary[i]]
      memo[i] = args[0] if op.name == "id" else f"{op.name}({args[0]})"
    else:
      op = spec.binary[g.binary[i]]
      if op.commutative:
        args.sort()
      memo[i] = f"{op.name}({args[0]},{args[1]})"
  return memo[i]


def canonical_string(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> str:
  """A string that identifies the optimizer's behaviour up to graph layout: dead nodes ignored, identity nodes
  skipped, commutative arguments sorted; momentum type, flip and schedule included.

  Args:
    genome: one genome.
    spec: the search space of its indices.

  Returns:
    ``"<momentum>|[flip|]<schedule>|<update expression>"``.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.canonical_string(ox.graph.known("adamw")))
    none|constant|add(1e-4w,adam)
  """
  g = to_numpy(genome)
  u = _node_key(g, spec.num_hidden, spec, {})
  return (f"{spec.momentum_types[int(g.momentum)].name}|{'flip|' if g.flip else ''}"
          f"{spec.schedules[int(g.schedule)].name}|{u}")


def canonical_hash(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> str:
  """SHA-1 (hex, 16 chars) of :func:`canonical_string`: equal for genomes that compute the same thing.

  The search uses it to skip duplicates; genome files record it (``to_json``'s ``"hash"``).

  Args:
    genome: one genome.
    spec: the search space of its indices.

  Returns:
    16 lowercase hexadecimal characters.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.canonical_hash(ox.graph.known("adam")))
    78497921b6421482
  """
  return hashlib.sha1(canonical_string(genome, spec).encode()).hexdigest()[:16]


def canonical(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """The genome with every unused field zeroed: dead nodes, the second input of unary nodes and the decay
  graphs of edges without a decay (and their unused parts). Two genomes that differ only in such fields become
  equal arrays; :func:`canonical_hash` additionally ignores node order and commutative argument order.

  Args:
    genome: one genome.
    spec: the search space of its indices.

  Returns:
    A writable ``int32`` NumPy :class:`~optix_evo.graph.Genome` that computes the same optimizer.

  Examples:
    >>> import optix_evo as ox
    >>> import numpy as np
    >>> g = ox.graph.known("adam")._replace(unary=np.array([0, 5, 5, 5, 5, 0]))  # ops on the dead nodes h1 .. h4
    >>> print(ox.graph.canonical(g).unary)
    [0 0 0 0 0 0]
  """
  g = to_numpy(genome)
  act = active_nodes(g, spec)
  for i in range(spec.num_nodes):
    if not act[i]:
      for f in ("kind", "unary", "binary"):
        getattr(g, f)[i] = 0
      g.inputs[i] = 0
      for s in range(2):
        clear_decay(g, i, s)
      continue
    if g.kind[i] == UNARY:
      g.binary[i] = 0
      g.inputs[i, 1] = 0
      clear_decay(g, i, 1)
    else:
      g.unary[i] = 0
    for s in range(2):
      if not g.decay_on[i, s]:
        clear_decay(g, i, s)
        continue
      hidden_used = decay_hidden_used(g, i, s, spec)
      for node in (0, 1):
        if node == 0 and not hidden_used:
          g.decay_kind[i, s, 0] = g.decay_unary[i, s, 0] = g.decay_binary[i, s, 0] = 0
          g.decay_inputs[i, s, 0] = 0
          continue
        if g.decay_kind[i, s, node] == UNARY:
          g.decay_binary[i, s, node] = 0
          g.decay_inputs[i, s, node, 1] = 0
        else:
          g.decay_unary[i, s, node] = 0
  return g
