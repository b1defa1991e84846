"""Genome files: JSON that names every op, operand, schedule and momentum type (indices are not stored, so files stay
valid when tables grow)."""

from __future__ import annotations

import json
from typing import Any

from optix_evo.graph.analysis import active_nodes, decay_hidden_used, topological_order
from optix_evo.graph.canonical import canonical, canonical_hash
from optix_evo.graph.genome import BINARY, UNARY, Genome, arity, empty_genome
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def to_json(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> dict:
  """A JSON-ready dict of the genome that names every op, operand, schedule and momentum type (indices into the
  tables are not stored, so files stay valid when tables grow). Only active nodes and used decays are written."""
  g = canonical(genome, spec)
  act = active_nodes(g, spec)
  n_op, n_d = spec.num_operands, len(spec.decay_operands)

  def vertex(v: int) -> str:
    return spec.operands[v].name if v < n_op else f"h{v - n_op}"

  def decay(i: int, s: int) -> dict:
    hidden_used = decay_hidden_used(g, i, s, spec)
    nodes = {}
    for node, label in ((0, "hidden"), (1, "root")):
      if node == 0 and not hidden_used:
        continue
      k = arity(g.decay_kind[i, s, node])
      ins = [spec.decay_operands[v].name if v < n_d else "hidden" for v in g.decay_inputs[i, s, node, :k]]
      op = (spec.decay_unary[g.decay_unary[i, s, node]] if k == 1 else spec.decay_binary[g.decay_binary[i, s, node]]).name
      nodes[label] = {"op": op, "inputs": ins}
    return nodes

  nodes = {}
  for i in range(spec.num_nodes):
    if not act[i]:
      continue
    k = arity(g.kind[i])
    entry: dict[str, Any] = {
        "op": (spec.unary[g.unary[i]] if k == 1 else spec.binary[g.binary[i]]).name,
        "inputs": [vertex(int(v)) for v in g.inputs[i, :k]],
    }
    decays = {str(s): decay(i, s) for s in range(k) if g.decay_on[i, s]}
    if decays:
      entry["decays"] = decays
    nodes["root" if i == spec.num_hidden else f"h{i}"] = entry
  return {
      "format": "optix_evo.genome/1",
      "nodes": nodes,
      "momentum": spec.momentum_types[int(g.momentum)].name,
      "flip": bool(g.flip),
      "schedule": spec.schedules[int(g.schedule)].name,
      "hash": canonical_hash(g, spec),
  }


def from_json(data: dict | str, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """Inverse of :func:`to_json` (accepts the dict or its JSON text). Raises ValueError on unknown names."""
  if isinstance(data, str):
    data = json.loads(data)
  if data.get("format") != "optix_evo.genome/1":
    raise ValueError(f"Not an optix_evo genome (format {data.get('format')!r}, expected 'optix_evo.genome/1').")
  g = empty_genome(spec)
  n_op, n_d = spec.num_operands, len(spec.decay_operands)
  operand_index = {o.name: i for i, o in enumerate(spec.operands)}

  def vertex(name: str) -> int:
    if name in operand_index:
      return operand_index[name]
    if name.startswith("h") and name[1:].isdigit() and int(name[1:]) < spec.num_hidden:
      return n_op + int(name[1:])
    raise ValueError(f"Unknown vertex {name!r}: not an operand ({', '.join(operand_index)}) nor h0..h{spec.num_hidden - 1}.")

  for label, entry in data["nodes"].items():
    i = spec.num_hidden if label == "root" else int(label[1:])
    k = len(entry["inputs"])
    if k not in (1, 2):
      raise ValueError(f"Node {label} has {k} inputs; nodes take 1 or 2.")
    g.kind[i] = UNARY if k == 1 else BINARY
    if k == 1:
      g.unary[i] = spec.index("unary", entry["op"])
    else:
      g.binary[i] = spec.index("binary", entry["op"])
    g.inputs[i, :k] = [vertex(v) for v in entry["inputs"]]
    for s, dec in entry.get("decays", {}).items():
      s = int(s)
      g.decay_on[i, s] = 1
      for node, lab in ((0, "hidden"), (1, "root")):
        if lab not in dec:
          continue
        kd = len(dec[lab]["inputs"])
        g.decay_kind[i, s, node] = UNARY if kd == 1 else BINARY
        if kd == 1:
          g.decay_unary[i, s, node] = spec.index("decay_unary", dec[lab]["op"])
        else:
          g.decay_binary[i, s, node] = spec.index("decay_binary", dec[lab]["op"])
        g.decay_inputs[i, s, node, :kd] = [n_d if v == "hidden" else spec.index("decay_operands", v)
                                           for v in dec[lab]["inputs"]]
  g.momentum[()] = spec.index("momentum_types", data["momentum"])
  g.flip[()] = int(bool(data.get("flip", False)))
  g.schedule[()] = spec.index("schedules", data.get("schedule", "constant"))
  if topological_order(g, spec) is not g:
    raise ValueError("Genome JSON: hidden nodes must only read operands and lower-numbered hidden nodes.")
  return canonical(g, spec)
