"""The search space: op tables (:mod:`optix_evo.graph.ops`), graph size and the sampling / mutation probabilities.

Two named spaces (:data:`SPACES`):

* ``"nos"`` (:data:`NOS_SPEC`): the space the NOS search ran (Morgan & Hougen 2024,
  `arXiv:2404.06679 <https://arxiv.org/abs/2404.06679>`_; ``NeuralOptimizerSearch.py`` of the authors' code,
  https://github.com/OUStudent/NeuralOptimizerSearch): 20 operands, identity + 25 unary and 10 binary ops, the
  momentum types none, momentum and Nesterov in the search code's form (``w ← w + mom - η u``), no schedule gene
  (learning-rate schedules arise from decays on the root's input edges), the code's sampling and mutation
  probabilities (decay mutation 0.1), and its op mutation that never draws ``MaxValue``.
* ``"extended"`` (:data:`EXTENDED_SPEC`, the default): an extension of ``"nos"`` with Bello et al.'s Adam and RMSprop
  operands, Lion's interpolation, the operand of the shipped Opt3, the ``sign`` op, the optax / final-optimizer
  Nesterov form and a schedule gene over the authors' evolved schedules (drawn with probability 0.1, mutated with
  probability 0.03). Every ``"nos"`` table is a prefix of the extended one (same index for every shared entry), so
  a ``"nos"`` genome runs unchanged in the extended space after :func:`optix_evo.graph.convert` renumbers the
  hidden-node vertices.
"""

from __future__ import annotations

import dataclasses

from optix_evo.errors import InputError
from optix_evo.graph import ops


@dataclasses.dataclass(frozen=True)
class GenomeSpec:
  """The search space: op tables, graph size and the sampling / mutation probabilities.

  The defaults are the ``"extended"`` space; ``name`` is recorded in every genome file (``to_json``) and checked on
  load. Probabilities follow the authors' code (https://github.com/OUStudent/NeuralOptimizerSearch) unless marked as
  our addition. Use the named spaces (:func:`get_space`); a custom space is ``dataclasses.replace(NOS_SPEC, ...)``.

  Attributes:
    name: the space's name, recorded in genome files.
    operands: the operand table (gradient, moment estimates, weights, constants, ...).
    unary: the unary op table; entry 0 is the identity ``id``.
    binary: the binary op table.
    decay_operands: the decay operands ``a1`` .. ``a14`` (functions of ``t / T``).
    decay_unary: the unary ops of decay graphs; entry 0 is the identity.
    decay_binary: the binary ops of decay graphs.
    schedules: the learning-rate schedules; entry 0 is ``constant``.
    momentum_types: none, momentum, Nesterov (and, extended, optax's Nesterov); entry 0 is ``none``.
    buffers: the EMA buffers that operands may read.
    num_hidden: the number of hidden nodes (the genome has ``num_hidden + 1`` nodes with the root).
    hidden_unary_prob: at initialisation, the chance that a hidden node is unary.
    root_unary_prob: the chance that the root is unary.
    operand_input_prob: the chance that an input reads an operand rather than a hidden node.
    identity_prob: the chance of the identity when a unary op is drawn.
    decay_prob: the chance that an input edge gets a decay graph.
    root_unary_decay_prob: the same for the input of a unary root.
    decay_unary_prob: the chance that a decay node is unary.
    schedule_prob: the chance that a random genome draws a non-constant schedule (our addition).
    mutation_probs: the chances of the six mutation kinds: op, connection, unary↔binary, momentum type, decay,
      schedule (the last ours).
    mutation_unary: op mutation draws unary ops among the first this many entries (``None``: all); the NOS code
      never draws ``MaxValue`` (its last op) in a mutation.
    decay_check_steps: decays must lie in [0, 1] on ``t = 0 .. T-1`` with ``T`` = this.
    rules: how mutation and the integrity check behave: ``"nos"``, as the authors' code (a decay belongs to the
      (node, source vertex) pair, so rewiring an edge drops it and reconnecting that source brings it back; a decay
      mutation is applied once, valid or not; the integrity check is the descent test alone, reading the loss before
      the 35th update); ``"library"`` (default), stricter (a decay stays with its input slot; decay mutations are
      re-drawn until valid and different; the integrity check also rejects non-finite, exploding, zero, constant and
      gradient-free updates and reads the loss after the 35th update).

  Raises:
    InputError: for a malformed space (duplicate names, a first entry that is not the identity / ``constant`` /
      ``none``, probabilities that do not sum to 1, ...).

  Examples:
    >>> import optix_evo as ox
    >>> spec = ox.graph.NOS_SPEC
    >>> print(spec.num_operands, len(spec.unary), len(spec.binary), spec.num_nodes)
    20 26 10 6
    >>> print([t.name for t in spec.momentum_types])
    ['none', 'momentum', 'nesterov_nos']
    >>> print(spec.index("unary", "tanh"), ox.graph.EXTENDED_SPEC.num_operands)
    12 24
  """

  name: str = "extended"
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
  # random initialisation (the authors' OptimizerChrom.setup / DecaySchedule.setup)
  hidden_unary_prob: float = 0.75
  root_unary_prob: float = 0.25
  operand_input_prob: float = 0.8
  identity_prob: float = 0.2
  decay_prob: float = 0.15
  root_unary_decay_prob: float = 0.85
  decay_unary_prob: float = 0.8
  schedule_prob: float = 0.1  # our addition: chance that a random genome draws a non-constant LR schedule
  # mutation kinds (OptimizerChrom.mutate): op, connection, unary<->binary, momentum type, decay, schedule (ours)
  mutation_probs: tuple[float, ...] = (0.4, 0.3, 0.1, 0.1, 0.07, 0.03)
  # op mutation draws unary ops among the first this many entries (None: all); the NOS code draws identity and ops
  # 0..23 of its list, so MaxValue (its op 24) appears only at initialisation
  mutation_unary: int | None = None
  decay_check_steps: int = 100  # decays must lie in [0, 1] on t = 0..T-1 with T = this
  rules: str = "library"  # "nos": mutation and integrity as the authors' code; "library": stricter

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise InputError(f"GenomeSpec.name must be a non-empty string, got {self.name!r}.")
    for field in ("operands", "unary", "binary", "decay_operands", "decay_unary", "decay_binary", "schedules",
                  "momentum_types"):
      names = [e.name for e in getattr(self, field)]
      if len(set(names)) != len(names):
        raise InputError(f"GenomeSpec.{field} has duplicate names: {names}.")
    if self.unary[0].name != "id" or self.decay_unary[0].name != "id":
      raise InputError("The first unary op (of the update and of the decay tables) must be the identity 'id'.")
    if self.schedules[0].name != "constant":
      raise InputError("The first schedule must be 'constant'.")
    if self.momentum_types[0].name != "none":
      raise InputError("The first momentum type must be 'none'.")
    if self.rules not in ("library", "nos"):
      raise InputError(f"GenomeSpec.rules must be 'library' or 'nos', got {self.rules!r}.")
    if self.num_hidden < 1:
      raise InputError(f"num_hidden must be >= 1, got {self.num_hidden}.")
    if len(self.mutation_probs) != 6 or abs(sum(self.mutation_probs) - 1) > 1e-9:
      raise InputError(f"mutation_probs must be 6 probabilities summing to 1, got {self.mutation_probs}.")
    if self.mutation_unary is not None and not 2 <= self.mutation_unary <= len(self.unary):
      raise InputError(f"mutation_unary must be None or in [2, {len(self.unary)}], got {self.mutation_unary}.")
    known = {b.name for b in self.buffers}
    for o in self.operands:
      if not set(o.buffers) <= known:
        raise InputError(f"Operand {o.name!r} reads buffers {o.buffers}, not all in {sorted(known)}.")

  def __repr__(self) -> str:
    """Table sizes instead of every entry (the default repr of the tables runs to pages in signatures and errors)."""
    tables = ("operands", "unary", "binary", "decay_operands", "decay_unary", "decay_binary", "schedules",
              "momentum_types", "buffers")
    sizes = ", ".join(f"{name}={len(getattr(self, name))}" for name in tables)
    return f"GenomeSpec({self.name!r}, {sizes}, num_hidden={self.num_hidden})"

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
    """Index of entry ``name`` in table ``table`` (e.g. ``spec.index("unary", "tanh")``).

    Args:
      table: a table field, e.g. ``"operands"``, ``"unary"``, ``"binary"``, ``"schedules"``.
      name: the entry's name.

    Returns:
      Its position in the table.

    Raises:
      InputError: when the table has no such entry (the message lists the known names).
    """
    entries = getattr(self, table)
    for i, e in enumerate(entries):
      if e.name == name:
        return i
    raise InputError(f"Unknown {table} entry {name!r} in the {self.name!r} space. Known: "
                     f"{', '.join(e.name for e in entries)}.")


EXTENDED_SPEC = GenomeSpec()
NOS_SPEC = GenomeSpec(
    name="nos",
    operands=ops.OPERANDS[:ops.NOS_OPERANDS],
    unary=ops.UNARY[:ops.NOS_UNARY],
    schedules=ops.SCHEDULES[:1],
    momentum_types=ops.MOMENTUM_TYPES[:ops.NOS_MOMENTUM_TYPES],
    schedule_prob=0.0,
    mutation_probs=(0.4, 0.3, 0.1, 0.1, 0.1, 0.0),
    mutation_unary=ops.NOS_UNARY - 1,
    rules="nos",
)
SPACES: dict[str, GenomeSpec] = {"nos": NOS_SPEC, "extended": EXTENDED_SPEC}
DEFAULT_SPEC = EXTENDED_SPEC


def get_space(name: str) -> GenomeSpec:
  """The named search space (:data:`SPACES`: ``"nos"``, the paper's; ``"extended"``, the default).

  Args:
    name: ``"nos"`` or ``"extended"``.

  Returns:
    The :class:`GenomeSpec` of that name.

  Raises:
    InputError: for an unknown name.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.get_space("nos"))
    GenomeSpec('nos', operands=20, unary=26, binary=10, decay_operands=14, decay_unary=13, decay_binary=7,
    schedules=1, momentum_types=3, buffers=6, num_hidden=5)
  """
  if name not in SPACES:
    raise InputError(f"Unknown genome space {name!r}. Known spaces: {', '.join(SPACES)}.")
  return SPACES[name]
