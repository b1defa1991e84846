"""Program simplification: the same optimizer with dead and redundant nodes removed, so that the equation a report
prints is the program that ran.

:func:`simplify` applies, until nothing changes:

* **identity bypass**: an edge that reads an identity node (``id(x)`` without a decay on its input) reads ``x``
  instead; a root ``u = id(h)`` with an undecayed input takes over ``h``'s definition (``h`` then dies);
* **common subexpressions**: nodes that compute the same expression (same canonical string: same ops, same inputs
  and decays, commutative arguments in any order) are merged into the first, except random ops (``dropout``), whose
  nodes draw independent masks;
* **dead nodes**: :func:`~optix_evo.graph.canonical` zeroes every node the root no longer reads and every unused
  field.

Like the authors' printed equations (https://github.com/OUStudent/NeuralOptimizerSearch) and
:func:`~optix_evo.graph.canonical_hash`, the result is behaviour-preserving: the simplified genome computes the same
update (``tests/graph/test_simplify.py`` checks it on random genomes) and has the same canonical hash.
"""

from __future__ import annotations

import numpy as np

from optix_evo.graph.analysis import active_nodes
from optix_evo.graph.canonical import _node_key, canonical
from optix_evo.graph.genome import UNARY, Genome, arity, to_numpy
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def _is_bypassable_identity(g: Genome, j: int, spec: GenomeSpec) -> bool:
  return g.kind[j] == UNARY and spec.unary[int(g.unary[j])].name == "id" and not g.decay_on[j, 0]


def _random(g: Genome, j: int, spec: GenomeSpec) -> bool:
  return g.kind[j] == UNARY and spec.unary[int(g.unary[j])].random


def _pass(g: Genome, spec: GenomeSpec) -> bool:
  """One round of identity bypass and subexpression merging on the writable ``g``; whether anything changed."""
  n_op, h = spec.num_operands, spec.num_hidden
  changed = False
  act = active_nodes(g, spec)
  # identity bypass on every live edge
  for i in range(spec.num_nodes):
    if not act[i]:
      continue
    for s in range(arity(g.kind[i])):
      v = int(g.inputs[i, s])
      j = v - n_op
      if 0 <= j < h and _is_bypassable_identity(g, j, spec):
        g.inputs[i, s] = g.inputs[j, 0]
        changed = True
  # a root that is the identity of a hidden node takes over that node's definition
  root = h
  j = int(g.inputs[root, 0]) - n_op
  if _is_bypassable_identity(g, root, spec) and 0 <= j < h and not _random(g, j, spec):
    for field in ("kind", "unary", "binary", "inputs", "decay_on", "decay_kind", "decay_unary", "decay_binary",
                  "decay_inputs"):
      getattr(g, field)[root] = getattr(g, field)[j]
    changed = True
  # common subexpressions: readers of a later copy read the first one
  act = active_nodes(g, spec)
  memo: dict = {}
  first: dict[str, int] = {}
  alias: dict[int, int] = {}
  for j in range(h):
    if not act[j] or _random(g, j, spec):
      continue
    key = _node_key(g, j, spec, memo)
    if key in first:
      alias[j] = first[key]
    else:
      first[key] = j
  if alias:
    for i in range(spec.num_nodes):
      for s in range(arity(g.kind[i])):
        j = int(g.inputs[i, s]) - n_op
        if j in alias:
          g.inputs[i, s] = n_op + alias[j]
          changed = True
  return changed


def simplify(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """``genome`` with identity nodes bypassed, common subexpressions merged and dead nodes zeroed (see the module
  docstring); it computes the same update and has the same :func:`~optix_evo.graph.canonical_hash`.

  Args:
    genome: one genome.
    spec: the search space of its indices.

  Returns:
    A writable ``int32`` NumPy :class:`~optix_evo.graph.Genome`.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> spec = ox.graph.DEFAULT_SPEC
    >>> g = ox.graph.known("adam")  # h0 = adam, u = h0
    >>> print(ox.graph.active_nodes(g).sum(), ox.graph.active_nodes(ox.graph.simplify(g)).sum())  # u = adam
    2 1
    >>> print(ox.graph.canonical_hash(ox.graph.simplify(g)) == ox.graph.canonical_hash(g))
    True
  """
  g = to_numpy(genome)
  for _ in range(4 * spec.num_nodes):
    if not _pass(g, spec):
      break
  return canonical(g, spec)


def node_count(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> int:
  """Number of live nodes (the root included)."""
  return int(np.sum(active_nodes(genome, spec)))
