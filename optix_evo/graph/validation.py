"""Checks that genome arrays are a well-formed optimizer of a space, with one message per fault naming the node.

The interpreter reads any int32 arrays (it clips indices rather than fail inside a compiled program), so arrays
that do not describe a genome of the space would train as *some* optimizer without a word. :func:`validate_genome`
refuses them on the host: field shapes and integer types, node kinds, op indices, input vertices (in range, not the
node itself, hidden nodes reading only operands and earlier hidden nodes: a later node is a cycle or an unordered
graph), decay graphs on used edges, momentum type, flip bit and schedule. ``interpret``, ``to_json`` and
``from_json`` call it on concrete genomes.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from optix_evo.errors import InputError
from optix_evo.graph.genome import BINARY, UNARY, Genome, memory_shape
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec

_MAX_SHOWN = 8  # faults listed in the error message (their total is always given)


def _field_shapes(spec: GenomeSpec) -> dict[str, tuple[int, ...]]:
  n = spec.num_nodes
  return {"kind": (n,), "unary": (n,), "binary": (n,), "inputs": (n, 2), "decay_on": (n, 2), "decay_kind": (n, 2, 2),
          "decay_unary": (n, 2, 2), "decay_binary": (n, 2, 2), "decay_inputs": (n, 2, 2, 2), "momentum": (),
          "flip": (), "schedule": (), "decay_memory": memory_shape(spec)}


def node_label(i: int, spec: GenomeSpec) -> str:
  """``h<i>`` for hidden node ``i``, ``root`` for the last node."""
  return "root" if i == spec.num_hidden else f"h{i}"


def _vertex_label(v: int, spec: GenomeSpec) -> str:
  if 0 <= v < spec.num_operands:
    return f"operand {spec.operands[v].name!r}"
  return f"h{v - spec.num_operands}"


def _shape_faults(genome: Any, spec: GenomeSpec) -> tuple[list[str], tuple[int, ...] | None]:
  """Faults of the fields' types and shapes, and the common leading (population) shape when there are none."""
  if not isinstance(genome, Genome):
    return [f"expected a Genome (NamedTuple of int arrays), got {type(genome).__name__}"], None
  faults, batch = [], None
  for field, shape in _field_shapes(spec).items():
    x = np.asarray(getattr(genome, field))
    if x.dtype.kind not in "iub":
      faults.append(f"field '{field}' must hold integers, got {x.dtype}")
      continue
    lead = x.shape[:x.ndim - len(shape)]
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
      faults.append(f"field '{field}' has shape {x.shape}, expected {shape} (or a leading population axis) for "
                    f"the {spec.name!r} space with {spec.num_hidden} hidden nodes")
    elif batch is None:
      batch = lead
    elif lead != batch:
      faults.append(f"field '{field}' has leading shape {lead}, other fields {batch}")
  return faults, (None if faults else batch)


def _cycle(inputs: np.ndarray, kind: np.ndarray, start: int, spec: GenomeSpec) -> list[int] | None:
  """A cycle of hidden nodes through ``start`` (node indices, closed), or None."""
  n_op, h = spec.num_operands, spec.num_hidden

  def reads(j):
    return [int(inputs[j, s]) - n_op for s in range(2 if kind[j] == BINARY else 1)
            if 0 <= int(inputs[j, s]) - n_op < h]

  stack = [(start, [start])]
  seen = set()
  while stack:
    j, path = stack.pop()
    for nxt in reads(j):
      if nxt == start:
        return path + [start]
      if nxt not in seen:
        seen.add(nxt)
        stack.append((nxt, path + [nxt]))
  return None


def _member_faults(g: Genome, spec: GenomeSpec) -> list[str]:
  """The faults of one genome (fields already of the right shapes)."""
  g = Genome(*(np.asarray(x).astype(np.int64) for x in g))
  n_op, h, n = spec.num_operands, spec.num_hidden, spec.num_nodes
  faults: list[str] = []
  kind_ok = [int(k) in (UNARY, BINARY) for k in g.kind]
  for i in range(n):
    label = node_label(i, spec)
    if not kind_ok[i]:
      faults.append(f"node {label}: kind {int(g.kind[i])} is neither unary ({UNARY}) nor binary ({BINARY})")
    for field, table in (("unary", spec.unary), ("binary", spec.binary)):
      x = int(getattr(g, field)[i])
      if not 0 <= x < len(table):
        faults.append(f"node {label}: {field} op index {x} is outside 0..{len(table) - 1}")
    if not kind_ok[i]:
      continue
    limit = n_op + min(i, h)  # hidden node i reads operands and h0..h(i-1); the root reads any hidden node
    for s in range(2 if g.kind[i] == BINARY else 1):
      v = int(g.inputs[i, s])
      if not 0 <= v < spec.num_vertices:
        faults.append(f"node {label}: input {s} is vertex {v}, outside 0..{spec.num_vertices - 1} "
                      f"({n_op} operands, then h0..h{h - 1})")
      elif v == n_op + i:
        faults.append(f"node {label} reads itself")
      elif v >= limit:
        cycle = _cycle(g.inputs, g.kind, i, spec) if all(kind_ok[:h]) else None
        if cycle is not None:
          text = f"nodes {' → '.join(f'h{j}' for j in cycle)} form a cycle"
          if text not in faults:
            faults.append(text)
        else:
          faults.append(f"node {label} reads {_vertex_label(v, spec)}, a later node: hidden nodes must be numbered "
                        "in topological order (from_json orders them)")
      if int(g.decay_on[i, s]) not in (0, 1):
        faults.append(f"node {label}: decay_on[{s}] is {int(g.decay_on[i, s])}, not 0 or 1")
      elif g.decay_on[i, s] == 1:
        faults += _decay_faults(g, i, s, spec, f"node {label}, decay on input {s}")
  for field, table in (("momentum", spec.momentum_types), ("schedule", spec.schedules)):
    x = int(getattr(g, field))
    if not 0 <= x < len(table):
      faults.append(f"{field} index {x} is outside 0..{len(table) - 1} ({', '.join(e.name for e in table)})")
  if int(g.flip) not in (0, 1):
    faults.append(f"flip is {int(g.flip)}, not 0 or 1")
  return faults


def _decay_faults(g: Genome, i: int, s: int, spec: GenomeSpec, where: str) -> list[str]:
  n_d = len(spec.decay_operands)
  faults = []
  root_kind = int(g.decay_kind[i, s, 1])
  root_reads = [int(g.decay_inputs[i, s, 1, a]) for a in range(2 if root_kind == BINARY else 1)]
  for node, label, limit in ((1, "root", n_d + 1), (0, "hidden", n_d)):
    if node == 0 and n_d not in root_reads:
      continue  # the decay hidden node is unused
    k = int(g.decay_kind[i, s, node])
    if k not in (UNARY, BINARY):
      faults.append(f"{where}: {label} kind {k} is neither unary nor binary")
      continue
    table, field = (spec.decay_unary, "decay_unary") if k == UNARY else (spec.decay_binary, "decay_binary")
    x = int(getattr(g, field)[i, s, node])
    if not 0 <= x < len(table):
      faults.append(f"{where}: {label} op index {x} is outside 0..{len(table) - 1}")
    for a in range(2 if k == BINARY else 1):
      v = int(g.decay_inputs[i, s, node, a])
      if not 0 <= v < limit:
        what = "the decay operands a1..a14 and the decay hidden node" if node == 1 else "the decay operands"
        faults.append(f"{where}: {label} input {a} is {v}, outside 0..{limit - 1} ({what})")
  return faults


def _quick_ok(g: Genome, spec: GenomeSpec) -> np.ndarray:
  """Vectorised screen over a population ``[B]``: True where a member certainly has no fault."""
  kind, inputs = np.asarray(g.kind), np.asarray(g.inputs)
  n_op, h, n = spec.num_operands, spec.num_hidden, spec.num_nodes
  ok = np.all((kind == UNARY) | (kind == BINARY), -1)
  for field, size in (("unary", len(spec.unary)), ("binary", len(spec.binary))):
    x = np.asarray(getattr(g, field))
    ok &= np.all((x >= 0) & (x < size), -1)
  used = np.stack([np.ones_like(kind, bool), kind == BINARY], -1)  # [B, N, 2]
  limit = (n_op + np.minimum(np.arange(n), h))[:, None]
  ok &= ~np.any(used & ((inputs < 0) | (inputs >= limit)), axis=(-1, -2))
  decay_on = np.asarray(g.decay_on)
  ok &= np.all((decay_on == 0) | (decay_on == 1), axis=(-1, -2))
  on = used & (decay_on == 1)  # [B, N, 2] edges whose decay is read
  if np.any(on):
    n_d = len(spec.decay_operands)
    dk, du, db, di = (np.asarray(getattr(g, f)) for f in ("decay_kind", "decay_unary", "decay_binary", "decay_inputs"))
    root_used = np.stack([np.ones_like(dk[..., 1], bool), dk[..., 1] == BINARY], -1)  # [B, N, 2, 2]
    hidden_used = np.any(root_used & (di[..., 1, :] == n_d), -1)  # [B, N, 2]
    for node, node_used, limit_d in ((1, on, n_d + 1), (0, on & hidden_used, n_d)):
      k = dk[..., node]
      bad = ~((k == UNARY) | (k == BINARY))
      bad |= (k == UNARY) & ((du[..., node] < 0) | (du[..., node] >= len(spec.decay_unary)))
      bad |= (k == BINARY) & ((db[..., node] < 0) | (db[..., node] >= len(spec.decay_binary)))
      slots = np.stack([np.ones_like(k, bool), k == BINARY], -1)
      bad |= np.any(slots & ((di[..., node, :] < 0) | (di[..., node, :] >= limit_d)), -1)
      ok &= ~np.any(node_used & bad, axis=(-1, -2))
  for field, size in (("momentum", len(spec.momentum_types)), ("schedule", len(spec.schedules)), ("flip", 2)):
    x = np.asarray(getattr(g, field))
    ok &= (x >= 0) & (x < size)
  return ok


def genome_faults(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> list[str]:
  """Every fault of ``genome`` (or of each member of a population, prefixed ``member i:``) as a space's genome; an
  empty list when it is well formed.

  Args:
    genome: a genome or a population (concrete arrays).
    spec: the search space.

  Returns:
    One line per fault (field shapes, indices outside their tables, nodes reading later nodes, invalid decays).

  Examples:
    >>> import optix_evo as ox
    >>> g = ox.graph.known("adam")
    >>> print(ox.graph.genome_faults(g))
    []
    >>> print(ox.graph.genome_faults(g._replace(binary=g.binary + 99)))
    ['node h0: binary op index 99 is outside 0..9', ..., 'node root: binary op index 99 is outside 0..9']
  """
  faults, batch = _shape_faults(genome, spec)
  if batch is None:
    return faults
  flat = Genome(*(np.asarray(x).reshape((int(np.prod(batch, dtype=int)), *np.shape(x)[len(batch):])) for x in genome))
  ok = _quick_ok(flat, spec)
  for m in np.flatnonzero(~ok):
    member = Genome(*(x[m] for x in flat))
    where = tuple(int(k) for k in np.unravel_index(m, batch)) if len(batch) > 1 else int(m)
    prefix = f"member {where}: " if batch else ""
    faults += [prefix + f for f in _member_faults(member, spec)]
  return faults


def validate_genome(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> None:
  """Raises :class:`~optix_evo.errors.InputError` listing the faults of ``genome`` (a genome or a population) as a
  genome of ``spec``, e.g. ``node h2: binary op index 14 is outside 0..9``; returns None when it is well formed.

  Traced arrays cannot be checked: call it before ``jax.jit`` / ``jax.vmap`` (``interpret`` does, on concrete
  genomes).

  Args:
    genome: a genome or a population (concrete arrays).
    spec: the search space.

  Raises:
    InputError: listing the faults (:func:`genome_faults`, the first few), or for traced arrays.

  Examples:
    >>> import optix_evo as ox
    >>> g = ox.graph.known("adam")
    >>> ox.graph.validate_genome(g)
    >>> ox.graph.validate_genome(g._replace(unary=g.unary + 99))
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: Invalid genome for the 'extended' space: node h0: unary op index 99 is outside ...
  """
  if any(isinstance(x, jax.core.Tracer) for x in (genome if isinstance(genome, tuple) else ())):
    raise InputError("validate_genome needs concrete arrays, not traced ones: validate before jit/vmap.")
  faults = genome_faults(genome, spec)
  if faults:
    more = f"; ... and {len(faults) - _MAX_SHOWN} more" if len(faults) > _MAX_SHOWN else ""
    raise InputError(f"Invalid genome for the {spec.name!r} space: " + "; ".join(faults[:_MAX_SHOWN]) + more + ".")


def is_concrete(genome: Genome) -> bool:
  """Whether no field of ``genome`` is traced (so :func:`validate_genome` can read it)."""
  return not any(isinstance(x, jax.core.Tracer) for x in genome)
