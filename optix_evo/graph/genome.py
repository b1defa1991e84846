"""Genomes as data: the search space (:class:`GenomeSpec`), the fixed-shape :class:`Genome`, random sampling and the
NOS mutation operators, active-node analysis, canonical form, hashing and JSON by op names.

Sampling and mutation run on the host (NumPy) and follow the authors' code (``shared/design/nos.md`` §1.2, 1.6, 2.3,
2.4); their output is the same fixed-shape arrays the interpreter consumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optix_evo.graph import ops

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


@dataclasses.dataclass(frozen=True)
class GenomeSpec:
  """The search space: op tables, graph size and the sampling / mutation probabilities (defaults: the NOS code)."""

  operands: tuple[ops.Operand, ...] = ops.OPERANDS
  unary: tuple[ops.Op, ...] = ops.UNARY
  binary: tuple[ops.Op, ...] = ops.BINARY
  decay_operands: tuple[ops.DecayOperand, ...] = ops.DECAY_OPERANDS
  decay_unary: tuple[ops.Op, ...] = ops.DECAY_UNARY
  decay_binary: tuple[ops.Op, ...] = ops.DECAY_BINARY
  schedules: tuple[ops.Schedule, ...] = ops.SCHEDULES
  momentum_types: tuple[ops.MomentumType, ...] = ops.MOMENTUM_TYPES
  buffers: tuple[ops.Buffer, ...] = ops.BUFFERS
  num_hidden: int = 5
  # random initialisation (nos.md §1.2, 2.3)
  hidden_unary_prob: float = 0.75
  root_unary_prob: float = 0.25
  operand_input_prob: float = 0.8
  identity_prob: float = 0.2
  decay_prob: float = 0.15
  root_unary_decay_prob: float = 0.85
  decay_unary_prob: float = 0.8
  schedule_prob: float = 0.1  # our addition: chance that a random genome draws a non-constant LR schedule
  # mutation kinds (nos.md §1.6): op, connection, unary<->binary, momentum type, decay, schedule (our addition)
  mutation_probs: tuple[float, ...] = (0.4, 0.3, 0.1, 0.1, 0.07, 0.03)
  decay_check_steps: int = 100  # decays must lie in [0, 1] on t = 0..T-1 with T = this

  def __post_init__(self):
    for field in ("operands", "unary", "binary", "decay_operands", "decay_unary", "decay_binary", "schedules",
                  "momentum_types"):
      names = [e.name for e in getattr(self, field)]
      if len(set(names)) != len(names):
        raise ValueError(f"GenomeSpec.{field} has duplicate names: {names}.")
    if self.unary[0].name != "id" or self.decay_unary[0].name != "id":
      raise ValueError("The first unary op (of the update and of the decay tables) must be the identity 'id'.")
    if self.schedules[0].name != "constant":
      raise ValueError("The first schedule must be 'constant'.")
    if self.num_hidden < 1:
      raise ValueError(f"num_hidden must be >= 1, got {self.num_hidden}.")
    if len(self.mutation_probs) != 6 or abs(sum(self.mutation_probs) - 1) > 1e-9:
      raise ValueError(f"mutation_probs must be 6 probabilities summing to 1, got {self.mutation_probs}.")
    known = {b.name for b in self.buffers}
    for o in self.operands:
      if not set(o.buffers) <= known:
        raise ValueError(f"Operand {o.name!r} reads buffers {o.buffers}, not all in {sorted(known)}.")

  def __repr__(self) -> str:
    """Table sizes instead of every entry (the default repr of the tables runs to pages in signatures and errors)."""
    tables = ("operands", "unary", "binary", "decay_operands", "decay_unary", "decay_binary", "schedules",
              "momentum_types", "buffers")
    sizes = ", ".join(f"{name}={len(getattr(self, name))}" for name in tables)
    return f"GenomeSpec({sizes}, num_hidden={self.num_hidden})"

  @property
  def num_nodes(self) -> int:
    return self.num_hidden + 1

  @property
  def num_operands(self) -> int:
    return len(self.operands)

  @property
  def num_vertices(self) -> int:
    return self.num_operands + self.num_hidden

  @property
  def used_buffers(self) -> tuple[ops.Buffer, ...]:
    """The EMA buffers the spec's operands read (the interpreter's state holds only these)."""
    names = {b for o in self.operands for b in o.buffers}
    return tuple(b for b in self.buffers if b.name in names)

  @property
  def stateful(self) -> bool:
    return any(op.state is not None for op in self.unary)

  @property
  def has_momentum(self) -> bool:
    return any(t.name != "none" for t in self.momentum_types)

  def index(self, table: str, name: str) -> int:
    """Index of entry ``name`` in table ``table`` (e.g. ``spec.index("unary", "tanh")``)."""
    entries = getattr(self, table)
    for i, e in enumerate(entries):
      if e.name == name:
        return i
    raise ValueError(f"Unknown {table} entry {name!r}. Known: {', '.join(e.name for e in entries)}.")


DEFAULT_SPEC = GenomeSpec()


# ----------------------------------------------------------------------------------------------------------------
# Host-side helpers


def _rng(key) -> np.random.Generator:
  """A NumPy generator seeded from a JAX PRNG key (typed or raw) or an int."""
  if isinstance(key, (int, np.integer)):
    return np.random.default_rng(int(key))
  key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  return np.random.default_rng(np.asarray(key, dtype=np.uint32).ravel().tolist())


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


def _empty(spec: GenomeSpec) -> Genome:
  n = spec.num_nodes
  z = lambda *s: np.zeros(s, np.int32)  # noqa: E731
  return Genome(z(n), z(n), z(n), z(n, 2), z(n, 2), z(n, 2, 2), z(n, 2, 2), z(n, 2, 2), z(n, 2, 2, 2), z(), z(), z())


def arity(kind) -> int:
  return 2 if int(kind) == BINARY else 1


def active_nodes(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> np.ndarray:
  """Boolean mask ``[..., N]`` of the nodes the root depends on (vectorised over leading axes)."""
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
  """Boolean mask ``[..., num_operands]`` of the operands that reach the root."""
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


def _decay_hidden_used(genome: Genome, i: int, s: int, spec: GenomeSpec) -> bool:
  """Whether the root of the decay graph on edge (i, s) reads the decay hidden node."""
  n_d = len(spec.decay_operands)
  return any(genome.decay_inputs[i, s, 1, a] == n_d for a in range(arity(genome.decay_kind[i, s, 1])))


def _topological(genome: Genome, spec: GenomeSpec) -> Genome | None:
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
  return Genome(**fields)


# ----------------------------------------------------------------------------------------------------------------
# Decays


_DECAY_CURVES: dict = {}


def _decay_curve_fn(spec: GenomeSpec):
  """Jitted ``(decay_kind, decay_unary, decay_binary, decay_inputs) of one edge -> values at t = 0..T-1``."""
  if spec not in _DECAY_CURVES:
    from optix_evo.graph.interpreter import decay_factor  # local: the interpreter imports this module

    steps = spec.decay_check_steps
    _DECAY_CURVES[spec] = jax.jit(lambda *dg: jax.vmap(lambda t: decay_factor(dg, t, float(steps), spec))(
        jnp.arange(steps, dtype=jnp.float32)))
  return _DECAY_CURVES[spec]


def decay_values(genome: Genome, node: int, slot: int, spec: GenomeSpec = DEFAULT_SPEC) -> np.ndarray:
  """Values of the decay graph on edge ``(node, slot)`` at ``t = 0..T-1``, ``T = spec.decay_check_steps``."""
  g = genome
  return np.asarray(_decay_curve_fn(spec)(g.decay_kind[node][slot], g.decay_unary[node][slot],
                                          g.decay_binary[node][slot], g.decay_inputs[node][slot]))


def _decay_valid(genome: Genome, i: int, s: int, spec: GenomeSpec) -> bool:
  vals = decay_values(genome, i, s, spec)
  return bool(np.all(np.isfinite(vals)) and np.all(vals >= 0) and np.all(vals <= 1))


def _sample_decay(rng: np.random.Generator, g: Genome, i: int, s: int, spec: GenomeSpec) -> None:
  """Attaches a random valid decay graph to edge (i, s) (nos.md §2.3), in place."""
  n_d = len(spec.decay_operands)
  while True:
    g.decay_on[i, s] = 1
    for node in (0, 1):
      unary = rng.random() < spec.decay_unary_prob
      g.decay_kind[i, s, node] = UNARY if unary else BINARY
      g.decay_unary[i, s, node] = rng.integers(len(spec.decay_unary))
      g.decay_binary[i, s, node] = rng.integers(len(spec.decay_binary))
    g.decay_inputs[i, s, 0] = rng.choice(n_d, 2, replace=False)
    if g.decay_kind[i, s, 1] == UNARY:
      g.decay_inputs[i, s, 1] = [n_d if rng.random() < 0.2 else rng.integers(n_d + 1), 0]
    elif rng.random() < 0.2:
      pair = [n_d, rng.integers(n_d)]
      g.decay_inputs[i, s, 1] = pair if rng.random() < 0.5 else pair[::-1]
    else:
      g.decay_inputs[i, s, 1] = rng.choice(n_d + 1, 2, replace=False)
    if _decay_valid(g, i, s, spec):
      return


def _clear_decay(g: Genome, i: int, s: int) -> None:
  g.decay_on[i, s] = 0
  g.decay_kind[i, s] = 0
  g.decay_unary[i, s] = 0
  g.decay_binary[i, s] = 0
  g.decay_inputs[i, s] = 0


def _mutate_decay(rng: np.random.Generator, g: Genome, i: int, s: int, spec: GenomeSpec) -> None:
  """Mutates the decay graph on edge (i, s) until it is valid and behaves differently (nos.md §2.4), in place."""
  n_d = len(spec.decay_operands)
  before = decay_values(g, i, s, spec)
  parent = to_numpy(g)
  for _ in range(100):
    for f in ("decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
      getattr(g, f)[i, s] = getattr(parent, f)[i, s]
    hidden_used = _decay_hidden_used(g, i, s, spec)
    node = 1 if not hidden_used or rng.random() < 0.5 else 0
    kind = g.decay_kind[i, s, node]
    n_in = n_d if node == 0 else n_d + 1
    r = rng.random()
    if r >= 0.4:
      if kind == UNARY:
        g.decay_unary[i, s, node] = (g.decay_unary[i, s, node] + rng.integers(1, len(spec.decay_unary))) % len(spec.decay_unary)
      else:
        g.decay_binary[i, s, node] = (g.decay_binary[i, s, node] + rng.integers(1, len(spec.decay_binary))) % len(spec.decay_binary)
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
    if _decay_valid(g, i, s, spec) and np.linalg.norm(decay_values(g, i, s, spec) - before) > 1e-4:
      return
  for f in ("decay_kind", "decay_unary", "decay_binary", "decay_inputs"):  # no valid variant: keep the parent's
    getattr(g, f)[i, s] = getattr(parent, f)[i, s]


# ----------------------------------------------------------------------------------------------------------------
# Sampling and mutation of the update graph


def _random_unary(rng: np.random.Generator, spec: GenomeSpec, exclude: int | None = None) -> int:
  if exclude != 0 and rng.random() < spec.identity_prob:
    return 0
  choices = [i for i in range(1, len(spec.unary)) if i != exclude]
  return int(rng.choice(choices))


def random_genome(key, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """A random structurally valid genome (nos.md §1.2): acyclic, root reading at least one hidden node, decays
  valid in [0, 1]. The numeric integrity check (:func:`check_integrity`) is separate and vectorised.

  ``key``: a JAX PRNG key or an int seed (sampling runs on the host with NumPy).
  """
  rng = _rng(key)
  h, n_op = spec.num_hidden, spec.num_operands
  while True:
    g = _empty(spec)
    for i in range(h):
      binary = rng.random() >= spec.hidden_unary_prob
      g.kind[i] = BINARY if binary else UNARY
      others = [n_op + j for j in range(h) if j != i]
      while True:
        src = [int(rng.integers(n_op)) if rng.random() < spec.operand_input_prob else int(rng.choice(others))
               for _ in range(2)]
        if not binary or src[0] != src[1]:
          break
      g.inputs[i] = src if binary else [src[0], 0]
    root = h
    hidden = list(range(n_op, n_op + h))
    if rng.random() < spec.root_unary_prob:
      g.kind[root] = UNARY
      g.inputs[root] = [rng.choice(hidden), 0]
    else:
      g.kind[root] = BINARY
      if rng.random() < spec.operand_input_prob:
        g.inputs[root] = [rng.integers(n_op), rng.choice(hidden)]
      else:
        first = int(rng.choice(hidden))
        second = int(rng.integers(n_op)) if rng.random() < spec.operand_input_prob else int(
            rng.choice([v for v in hidden if v != first]))
        g.inputs[root] = [first, second]
    for i in range(h + 1):
      g.unary[i] = _random_unary(rng, spec)
      g.binary[i] = rng.integers(len(spec.binary))
    ordered = _topological(g, spec)
    if ordered is None:
      continue
    g = to_numpy(ordered)
    for i in range(h + 1):
      for s in range(arity(g.kind[i])):
        p = spec.root_unary_decay_prob if (i == h and g.kind[i] == UNARY) else spec.decay_prob
        if rng.random() < p:
          _sample_decay(rng, g, i, s, spec)
    g.momentum[()] = rng.integers(len(spec.momentum_types))
    if rng.random() < spec.schedule_prob:
      g.schedule[()] = rng.integers(1, len(spec.schedules))
    return canonical(g, spec)


def _random_input(rng: np.random.Generator, spec: GenomeSpec, node: int, exclude: set[int], hidden_only: bool) -> int | None:
  n_op, h = spec.num_operands, spec.num_hidden
  choices = [n_op + j for j in range(h) if j != node] + ([] if hidden_only else list(range(n_op)))
  choices = [c for c in choices if c not in exclude]
  return int(rng.choice(choices)) if choices else None


def _mutate_once(rng: np.random.Generator, g: Genome, spec: GenomeSpec) -> None:
  """One NOS mutation of ``g`` in place (nos.md §1.6)."""
  n_op, h = spec.num_operands, spec.num_hidden
  root = h
  nodes = [int(i) for i in np.flatnonzero(active_nodes(g, spec))]
  i = int(rng.choice(nodes))
  kind = int(g.kind[i])
  is_hidden = lambda v: v >= n_op  # noqa: E731
  what = rng.choice(6, p=spec.mutation_probs)
  if what == 0:  # change the operation
    if kind == UNARY:
      g.unary[i] = _random_unary(rng, spec, exclude=int(g.unary[i])) if g.unary[i] != 0 else int(rng.integers(1, len(spec.unary)))
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
        _clear_decay(g, i, 0)
    else:
      keep = int(rng.integers(2))
      if i == root and not is_hidden(int(g.inputs[i, keep])):
        keep = 1 - keep
      g.kind[i] = UNARY
      g.inputs[i] = [g.inputs[i, keep], 0]
      if keep == 1:
        for f in ("decay_on", "decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
          getattr(g, f)[i, 0] = getattr(g, f)[i, 1]
      _clear_decay(g, i, 1)
  elif what == 3:  # momentum type
    if len(spec.momentum_types) > 1:
      g.momentum[()] = (g.momentum + rng.integers(1, len(spec.momentum_types))) % len(spec.momentum_types)
  elif what == 4:  # decay on a random incoming edge
    s = int(rng.integers(arity(kind)))
    if not g.decay_on[i, s]:
      _sample_decay(rng, g, i, s, spec)
    elif rng.random() < 0.5:
      _clear_decay(g, i, s)
    else:
      _mutate_decay(rng, g, i, s, spec)
  elif len(spec.schedules) > 1:  # learning-rate schedule
    g.schedule[()] = (g.schedule + rng.integers(1, len(spec.schedules))) % len(spec.schedules)


def mutate(key, genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """One random NOS mutation of ``genome`` (nos.md §1.6 and §2.4), retried until the child is acyclic and differs
  from the parent (canonical hash). Duplicates of other genomes and numeric integrity are the search's business
  (:func:`canonical_hash`, :func:`check_integrity`). Runs on the host; ``key`` is a JAX PRNG key or an int seed.
  """
  rng = _rng(key)
  parent = canonical(to_numpy(genome), spec)
  parent_hash = canonical_hash(parent, spec)
  for _ in range(1000):
    child = to_numpy(parent)
    _mutate_once(rng, child, spec)
    ordered = _topological(child, spec)
    if ordered is None:
      continue
    child = canonical(ordered, spec)
    if canonical_hash(child, spec) != parent_hash:
      return child
  raise ValueError("mutate: no valid mutation found in 1000 attempts (is the spec too small?).")


# ----------------------------------------------------------------------------------------------------------------
# Canonical form, hashing, JSON


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
  skipped, commutative arguments sorted; momentum type, flip and schedule included."""
  g = to_numpy(genome)
  u = _node_key(g, spec.num_hidden, spec, {})
  return (f"{spec.momentum_types[int(g.momentum)].name}|{'flip|' if g.flip else ''}"
          f"{spec.schedules[int(g.schedule)].name}|{u}")


def canonical_hash(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> str:
  """SHA-1 (hex, 16 chars) of :func:`canonical_string`: equal for genomes that compute the same thing."""
  return hashlib.sha1(canonical_string(genome, spec).encode()).hexdigest()[:16]


def canonical(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> Genome:
  """The genome with every unused field zeroed: dead nodes, the second input of unary nodes and the decay
  graphs of edges without a decay (and their unused parts). Two genomes that differ only in such fields become
  equal arrays; :func:`canonical_hash` additionally ignores node order and commutative argument order."""
  g = to_numpy(genome)
  act = active_nodes(g, spec)
  for i in range(spec.num_nodes):
    if not act[i]:
      for f in ("kind", "unary", "binary"):
        getattr(g, f)[i] = 0
      g.inputs[i] = 0
      for s in range(2):
        _clear_decay(g, i, s)
      continue
    if g.kind[i] == UNARY:
      g.binary[i] = 0
      g.inputs[i, 1] = 0
      _clear_decay(g, i, 1)
    else:
      g.unary[i] = 0
    for s in range(2):
      if not g.decay_on[i, s]:
        _clear_decay(g, i, s)
        continue
      hidden_used = _decay_hidden_used(g, i, s, spec)
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


def to_json(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC) -> dict:
  """A JSON-ready dict of the genome that names every op, operand, schedule and momentum type (indices into the
  tables are not stored, so files stay valid when tables grow). Only active nodes and used decays are written."""
  g = canonical(genome, spec)
  act = active_nodes(g, spec)
  n_op, n_d = spec.num_operands, len(spec.decay_operands)

  def vertex(v: int) -> str:
    return spec.operands[v].name if v < n_op else f"h{v - n_op}"

  def decay(i: int, s: int) -> dict:
    hidden_used = _decay_hidden_used(g, i, s, spec)
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
  g = _empty(spec)
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
  if _topological(g, spec) is not g:
    raise ValueError("Genome JSON: hidden nodes must only read operands and lower-numbered hidden nodes.")
  return canonical(g, spec)
