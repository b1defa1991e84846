"""The search space: op tables (:mod:`optix_evo.graph.ops`), graph size and the sampling / mutation probabilities."""

from __future__ import annotations

import dataclasses

from optix_evo.graph import ops


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
