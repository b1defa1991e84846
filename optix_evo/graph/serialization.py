"""Genome files: JSON that names every op, operand, schedule and momentum type, and the space they belong to.

Indices are not stored, so files stay valid when tables grow. Format ``optix_evo.genome/2``::

  {"format": "optix_evo.genome/2", "space": "nos",
   "nodes": {"h0": {"op": "atan", "inputs": ["qh_s"]},
             "root": {"op": "mul", "inputs": ["g", "h0"],
                      "decays": {"0": {"root": {"op": "erfc", "inputs": ["a11"]}}}}},
   "momentum": "nesterov_nos", "flip": false, "schedule": "constant", "hash": "..."}

``nodes`` maps ``h0`` .. ``h<num_hidden - 1>`` and ``root`` to an op and its 1 (unary op) or 2 (binary op) inputs:
operand names or hidden-node labels, in any order as long as they form no cycle. A decay graph on input slot ``s``
has a ``root`` node and optionally a ``hidden`` node over the decay operands ``a1`` .. ``a14`` (the root may read
``"hidden"``). ``flip`` (default false) and ``schedule`` (default ``"constant"``) may be left out; ``hash`` (the
canonical hash :func:`to_json` writes, for readers) is not read back. Format-1 files (no ``space``) are ``"extended"``
genomes whose ``nos_lr2`` meant today's ``nos_lr2_search``.

:func:`from_json` reports every fault of a document in one :class:`~optix_evo.errors.InputError`, naming the node.
"""

from __future__ import annotations

import json
from typing import Any

from optix_evo.errors import InputError
from optix_evo.graph.analysis import active_nodes, decay_hidden_used, topological_order
from optix_evo.graph.canonical import canonical, canonical_hash
from optix_evo.graph.genome import BINARY, UNARY, Genome, arity, empty_genome, stack, unstack
from optix_evo.graph.spec import DEFAULT_SPEC, SPACES, GenomeSpec, get_space
from optix_evo.graph.validation import validate_genome

FORMAT = "optix_evo.genome/2"
_FORMAT_1 = "optix_evo.genome/1"
_RENAMED_IN_2 = {"schedules": {"nos_lr2": "nos_lr2_search"}}  # format-1 names whose meaning moved
_TOP_FIELDS = ("format", "space", "nodes", "momentum", "flip", "schedule", "hash")
_NODE_FIELDS = ("op", "inputs", "decays")
_DECAY_NODES = ("hidden", "root")


def to_json(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> dict:
  """A JSON-ready dict of one genome that names its space and every op, operand, schedule and momentum type. Only
  active nodes and used decays are written. Raises :class:`~optix_evo.errors.InputError` for arrays that are not a
  genome of ``spec`` (:func:`~optix_evo.graph.validate_genome`), so every file written loads with :func:`from_json`.

  Args:
    genome: one genome (for a population: ``[to_json(g, spec) for g in unstack(population)]``).
    spec: the search space of its indices.

  Returns:
    A dict in the ``optix_evo.genome/2`` format (see the module docstring); ``json.dumps`` writes it.

  Raises:
    InputError: for a population or arrays that are not a genome of ``spec``.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.to_json(ox.graph.known("adamw")))
    {'format': 'optix_evo.genome/2', 'space': 'extended', 'nodes': {'h0': {'op': 'id', 'inputs': ['adam']},
    'root': {'op': 'add', 'inputs': ['h0', '1e-4w']}}, 'momentum': 'none', 'flip': False, 'schedule': 'constant',
    'hash': '...'}
  """
  validate_genome(genome, spec)
  if getattr(genome.kind, "ndim", 1) != 1:
    raise InputError("to_json writes one genome; for a population, write [to_json(g) for g in unstack(population)].")
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
      table, index = (spec.decay_unary, g.decay_unary) if k == 1 else (spec.decay_binary, g.decay_binary)
      op = table[index[i, s, node]].name
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
      "format": FORMAT,
      "space": spec.name,
      "nodes": nodes,
      "momentum": spec.momentum_types[int(g.momentum)].name,
      "flip": bool(g.flip),
      "schedule": spec.schedules[int(g.schedule)].name,
      "hash": canonical_hash(g, spec),
  }


def _document(data: Any) -> dict:
  if isinstance(data, (str, bytes)):
    try:
      data = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise InputError(f"Genome JSON is not valid JSON: {e}.") from None
  if not isinstance(data, dict):
    raise InputError(f"A genome must be a JSON object, got {type(data).__name__}.")
  fmt = data.get("format")
  if fmt not in (FORMAT, _FORMAT_1):
    raise InputError(f"Not an optix_evo genome: format {fmt!r}, expected {FORMAT!r} (or the older {_FORMAT_1!r}).")
  return data


def _space_name(data: dict) -> str:
  if data["format"] == _FORMAT_1:
    return "extended"
  space = data.get("space")
  if not isinstance(space, str):
    raise InputError(f"The genome document names no 'space' (one of {', '.join(SPACES)}).")
  return space


def space_of(data: dict | str) -> GenomeSpec:
  """The named space (:data:`~optix_evo.graph.SPACES`) a genome document records; format-1 files are
  ``"extended"``.

  Args:
    data: a genome document (dict) or its JSON text.

  Returns:
    The :class:`~optix_evo.graph.GenomeSpec` it names.

  Raises:
    InputError: when ``data`` is not a genome document or names an unknown space.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.space_of('{"format": "optix_evo.genome/2", "space": "nos", "nodes": {}}').name)
    nos
  """
  return get_space(_space_name(_document(data)))


class _Parser:
  """Reads a genome document into arrays of ``spec``, collecting one message per fault."""

  def __init__(self, spec: GenomeSpec, renamed: dict):
    self.spec, self.renamed, self.faults = spec, renamed, []
    self.g = empty_genome(spec)
    self.n_op, self.n_d = spec.num_operands, len(spec.decay_operands)

  def fault(self, text: str) -> None:
    self.faults.append(text)

  def name_index(self, table: str, name: Any, where: str, what: str) -> int | None:
    if not isinstance(name, str):
      self.fault(f"{where}: expected a {what} name, got {name!r}")
      return None
    name = self.renamed.get(table, {}).get(name, name)
    entries = getattr(self.spec, table)
    for i, e in enumerate(entries):
      if e.name == name:
        return i
    self.fault(f"{where}: unknown {what} {name!r} in the {self.spec.name!r} space (known: "
               f"{', '.join(e.name for e in entries)})")
    return None

  def label_index(self, label: Any) -> int | None:
    h = self.spec.num_hidden
    if label == "root":
      return h
    if isinstance(label, str) and label[:1] == "h" and label[1:].isdigit():
      if int(label[1:]) < h:
        return int(label[1:])
      self.fault(f"node label {label!r} is out of range: the {self.spec.name!r} space has hidden nodes "
                 f"h0..h{h - 1} and 'root'")
      return None
    self.fault(f"unknown node label {label!r}: nodes are h0..h{h - 1} and 'root'")
    return None

  def op(self, entry: Any, where: str, unary: tuple, binary: tuple,
         fields: tuple[str, ...]) -> tuple[int, int, list] | None:
    """``(kind, op index, inputs)`` of a node entry ``{"op": name, "inputs": [...]}``, or None after a fault."""
    if not isinstance(entry, dict):
      self.fault(f"{where}: expected an object with 'op' and 'inputs', got {type(entry).__name__}")
      return None
    for key in entry:
      if key not in fields:
        self.fault(f"{where}: unknown field {key!r} (fields: {', '.join(fields)})")
    name, inputs = entry.get("op"), entry.get("inputs")
    if not isinstance(name, str):
      self.fault(f"{where}: 'op' must be an op name, got {name!r}")
      return None
    if not isinstance(inputs, list) or not all(isinstance(v, str) for v in inputs):
      self.fault(f"{where}: 'inputs' must be a list of 1 or 2 names, got {inputs!r}")
      return None
    k = len(inputs)
    if k not in (1, 2):
      self.fault(f"{where} has {k} inputs; a node takes 1 (unary op) or 2 (binary op)")
      return None
    names = {UNARY: [e.name for e in unary], BINARY: [e.name for e in binary]}
    kind = UNARY if k == 1 else BINARY
    if name in names[kind]:
      return kind, names[kind].index(name), inputs
    if name in names[1 - kind]:
      self.fault(f"{where}: op {name!r} is {'binary' if kind == UNARY else 'unary'} but has {k} input"
                 f"{'s' if k > 1 else ''}")
    else:
      self.fault(f"{where}: unknown op {name!r} in the {self.spec.name!r} space (unary: {', '.join(names[UNARY])}; "
                 f"binary: {', '.join(names[BINARY])})")
    return None

  def decay(self, i: int, s: int, dec: Any, where: str) -> None:
    if not isinstance(dec, dict) or "root" not in dec:
      self.fault(f"{where}: a decay must be an object with a 'root' node (and optionally a 'hidden' one)")
      return
    for key in dec:
      if key not in _DECAY_NODES:
        self.fault(f"{where}: unknown decay node {key!r} (decay nodes: hidden, root)")
    g, spec = self.g, self.spec
    root_reads_hidden = False
    for node, label in ((0, "hidden"), (1, "root")):
      if label not in dec:
        continue
      parsed = self.op(dec[label], f"{where}, decay {label}", spec.decay_unary, spec.decay_binary, ("op", "inputs"))
      if parsed is None:
        continue
      kind, index, inputs = parsed
      g.decay_kind[i, s, node] = kind
      (g.decay_unary if kind == UNARY else g.decay_binary)[i, s, node] = index
      for a, v in enumerate(inputs):
        if v == "hidden" and node == 1:
          root_reads_hidden = True
          g.decay_inputs[i, s, node, a] = self.n_d
          continue
        j = self.name_index("decay_operands", v, f"{where}, decay {label}", "decay operand")
        if j is not None:
          g.decay_inputs[i, s, node, a] = j
    if root_reads_hidden and "hidden" not in dec:
      self.fault(f"{where}: the decay root reads 'hidden' but no 'hidden' decay node is given")
    g.decay_on[i, s] = 1

  def node(self, label: str, i: int, entry: Any, defined: set[str]) -> None:
    spec, g = self.spec, self.g
    where = f"node {label}"
    parsed = self.op(entry, where, spec.unary, spec.binary, _NODE_FIELDS)
    if parsed is None:
      return
    kind, index, inputs = parsed
    g.kind[i] = kind
    (g.unary if kind == UNARY else g.binary)[i] = index
    operands = {o.name: j for j, o in enumerate(spec.operands)}
    for s, v in enumerate(inputs):
      if v in operands:
        g.inputs[i, s] = operands[v]
      elif v == "root":
        self.fault(f"{where}: 'root' cannot be an input")
      elif v == label:
        self.fault(f"{where} reads itself")
      elif v[:1] == "h" and v[1:].isdigit() and int(v[1:]) < spec.num_hidden:
        if v not in defined:
          self.fault(f"{where}: input {v!r} is not defined in 'nodes'")
        g.inputs[i, s] = self.n_op + int(v[1:])
      else:
        self.fault(f"{where}: unknown input {v!r} (an operand of the {spec.name!r} space: "
                   f"{', '.join(operands)}; or a hidden node h0..h{spec.num_hidden - 1})")
    decays = entry.get("decays", {})
    if not isinstance(decays, dict):
      self.fault(f"{where}: 'decays' must be an object mapping input slots ('0', '1') to decay graphs")
      return
    for slot, dec in decays.items():
      if slot not in [str(s) for s in range(len(inputs))]:
        self.fault(f"{where}: decay on input slot {slot!r}, but the node has {len(inputs)} input"
                   f"{'s' if len(inputs) > 1 else ''} (slots {', '.join(repr(str(s)) for s in range(len(inputs)))})")
        continue
      self.decay(i, int(slot), dec, f"{where}, input {slot}")

  def cycles(self, labels: dict[str, int]) -> None:
    """One fault per cycle among the parsed hidden nodes."""
    g, n_op, h = self.g, self.n_op, self.spec.num_hidden
    edges = {i: {int(g.inputs[i, s]) - n_op for s in range(arity(g.kind[i]))} & set(labels.values()) - {h}
             for i in labels.values() if i < h}
    reported: set[frozenset] = set()
    for start in sorted(edges):
      stack = [(start, [start])]
      while stack:
        j, path = stack.pop()
        for nxt in sorted(edges.get(j, ())):
          if nxt == start:
            if frozenset(path) not in reported:
              reported.add(frozenset(path))
              self.fault(f"nodes {' → '.join(f'h{k}' for k in path + [start])} form a cycle")
          elif nxt not in path:
            stack.append((nxt, path + [nxt]))


def from_json(data: dict | str, spec: GenomeSpec | None = DEFAULT_SPEC) -> Genome:
  """Inverse of :func:`to_json` (accepts the dict or its JSON text).

  ``spec``: the space to load into; it must be the one the document records (``None``: that space, see
  :func:`space_of`). A genome of another space is refused: load it into its own space and
  :func:`~optix_evo.graph.convert` it, e.g. ``convert(from_json(d, None), space_of(d), DEFAULT_SPEC)``.

  Args:
    data: a genome document (dict) or its JSON text.
    spec: the space to load into (``None``: the one the document records).

  Returns:
    The canonical :class:`~optix_evo.graph.Genome`.

  Raises:
    InputError: listing every fault (unknown names, an op given the wrong number of inputs, node labels, undefined
      inputs, cycles, a missing root or momentum, unknown fields), each naming its node; or the document is in
      another space than ``spec``.

  Examples:
    >>> import optix_evo as ox
    >>> doc = {"format": "optix_evo.genome/2", "space": "nos", "momentum": "momentum",
    ...        "nodes": {"h0": {"op": "tanh", "inputs": ["g"]}, "root": {"op": "mul", "inputs": ["h0", "v_hat"]}}}
    >>> print(ox.graph.render(ox.graph.from_json(doc, spec=None), ox.graph.NOS_SPEC))
    u = (tanh(g) * v̂)
    mom ← m·mom - η_t·u;  w ← w + mom
    >>> ox.graph.from_json({**doc, "nodes": {"root": {"op": "tanh", "inputs": ["h7"]}}}, spec=None)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: Invalid genome: ...
  """
  data = _document(data)
  recorded = _space_name(data)
  spec = get_space(recorded) if spec is None else spec
  if recorded != spec.name:
    get_space(recorded)  # an unknown space name is refused as such
    raise InputError(f"This genome is in the {recorded!r} space, not {spec.name!r}: load it into its own space "
                     "(spec=None), then convert(genome, from_spec, to_spec).")
  parser = _Parser(spec, _RENAMED_IN_2 if data["format"] == _FORMAT_1 else {})
  for key in data:
    if key not in _TOP_FIELDS:
      parser.fault(f"unknown field {key!r} (fields: {', '.join(_TOP_FIELDS)})")
  nodes = data.get("nodes")
  if not isinstance(nodes, dict):
    parser.fault("'nodes' must be an object mapping node labels (h0, h1, ..., root) to nodes, got "
                 f"{type(nodes).__name__ if nodes is not None else 'nothing'}")
    nodes = {}
  elif "root" not in nodes:
    parser.fault("the genome has no 'root' node (the node whose output is the update)")
  labels = {label: i for label in nodes if (i := parser.label_index(label)) is not None}
  for label, i in labels.items():
    parser.node(label, i, nodes[label], set(labels))
  parser.cycles(labels)
  g = parser.g
  if "momentum" not in data:
    parser.fault(f"the genome has no 'momentum' (one of {', '.join(t.name for t in spec.momentum_types)})")
  elif (m := parser.name_index("momentum_types", data["momentum"], "momentum", "momentum type")) is not None:
    g.momentum[()] = m
  flip = data.get("flip", False)
  if not isinstance(flip, bool):
    parser.fault(f"'flip' must be true or false, got {flip!r}")
  g.flip[()] = int(flip is True)
  if (sched := parser.name_index("schedules", data.get("schedule", "constant"), "schedule", "schedule")) is not None:
    g.schedule[()] = sched
  if parser.faults:
    raise InputError(f"Invalid genome: {'; '.join(parser.faults)}.")
  ordered = topological_order(g, spec)
  if ordered is None:  # cycles among hidden nodes are reported above; this cannot happen
    raise InputError("Invalid genome: the hidden nodes form a cycle.")
  g = canonical(ordered, spec)
  validate_genome(g, spec)
  return g


def convert(genome: Genome, from_spec: GenomeSpec, to_spec: GenomeSpec) -> Genome:
  """The same optimizer as a genome of ``to_spec``: every op, operand, decay, momentum type and schedule is looked up
  by name (e.g. a ``"nos"`` genome in the ``"extended"`` space, where it computes the same updates). Works on a
  population too. Raises :class:`~optix_evo.errors.InputError` naming what the target space lacks (e.g. the
  ``sign`` op or the ``nesterov`` momentum type in ``"nos"``), or when the active graph needs more hidden nodes
  than the target has; active hidden nodes keep their numbers whenever the target has room for them.

  Args:
    genome: a genome or a population of ``from_spec``.
    from_spec: the space it is written in.
    to_spec: the space to write it in.

  Returns:
    The genome (or population) in ``to_spec``.

  Raises:
    InputError: when ``to_spec`` lacks an op, operand, decay, momentum type or schedule the genome uses, or hidden
      nodes.

  Examples:
    >>> import optix_evo as ox
    >>> nos = ox.graph.convert(ox.graph.known("momentum"), ox.graph.EXTENDED_SPEC, ox.graph.NOS_SPEC)
    >>> print(ox.graph.render(nos, ox.graph.NOS_SPEC))
    u = g
    mom ← m·mom - η_t·u;  w ← w + mom
    >>> ox.graph.convert(ox.graph.known("lion"), ox.graph.EXTENDED_SPEC, ox.graph.NOS_SPEC)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: Cannot convert from the 'extended' to the 'nos' space: ...
  """
  if getattr(genome.kind, "ndim", 1) > 1:
    return stack([convert(g, from_spec, to_spec) for g in unstack(genome)])
  doc = to_json(genome, from_spec)
  doc["space"] = to_spec.name
  hidden = sorted(int(label[1:]) for label in doc["nodes"] if label != "root")
  if hidden and hidden[-1] >= to_spec.num_hidden:  # renumber the active hidden nodes 0, 1, ... (same order)
    if len(hidden) > to_spec.num_hidden:
      raise InputError(f"Cannot convert to the {to_spec.name!r} space: the genome uses {len(hidden)} hidden nodes, "
                       f"the space has {to_spec.num_hidden}.")
    new = {f"h{old}": f"h{k}" for k, old in enumerate(hidden)}
    doc["nodes"] = {new.get(label, label): {**node, "inputs": [new.get(v, v) for v in node["inputs"]]}
                    for label, node in doc["nodes"].items()}
  try:
    return from_json(doc, to_spec)
  except InputError as e:
    reason = str(e).removeprefix("Invalid genome: ")
    raise InputError(f"Cannot convert from the {from_spec.name!r} to the {to_spec.name!r} space: {reason}") from None
