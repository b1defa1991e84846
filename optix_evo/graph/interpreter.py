"""One compiled program for every genome: :func:`interpret` turns a (possibly traced) genome into an optax optimizer.

Nothing about the genome is a Python branch: its indices are data, chosen among with ``lax.switch`` / ``select_n``.
The program is kept small, because its compilation is what a search waits for:

* the parameters are interpreted as **one flat vector** (the leaves in tree order, in the promotion of their dtypes;
  each leaf's update comes back in its own dtype), so the graph's code exists once, not once per parameter tensor;
  the optimizer state holds its buffers in that flat layout, so only the gradient is copied in and the update split
  at each step;
* the nodes run in a ``lax.fori_loop`` whose body holds the code of one node; the gradient, the node outputs and the
  operands a node reads live in the rows of one scratch table, updated in place. An op's branch reads its inputs'
  rows itself (the reads and the edge decays fuse into the op's one pass over the parameters), a gradient input is
  read from the gradient's row, and an identity node computes nothing (its row is its input's);
* per-tensor ops (``norm``) and random ops (``drop``) see the parameter tensors' boundaries, so the result is the same
  as interpreting every tensor on its own (and as the standalone code of :func:`optix_evo.graph.to_python`).

Two strategies choose inputs and ops:

* ``"switch"`` (default; CPU): ``lax.switch`` with one branch per operand and one per op, so only the chosen operands
  and op are computed (an unselected op costs nothing and produces no denormals), dead nodes,
  unread moment buffers, unused node buffers and an unused momentum buffer skipped with ``lax.cond``: only what the
  genome uses is computed. Under ``jax.vmap`` over genomes the members' update graphs run one after another
  (``custom_vmap``), so each member still computes only its own ops.
* ``"select"`` (vectorised populations on GPU/TPU): every operand and every op computed, the chosen one selected
  with ``select_n``: no control flow, the same work for every member. On CPU it costs tens of times the genome's own
  work per step (never use it there); on a GPU the unselected elementwise ops are expected to cost less than the
  synchronising conditionals they replace.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo.errors import InputError
from optix_evo.graph import ops
from optix_evo.graph import decays
from optix_evo.graph.analysis import active_operands
from optix_evo.graph.genome import BINARY, UNARY, Genome
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec
from optix_evo.graph.validation import is_concrete, validate_genome

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], jax.Array]
STRATEGIES = ("switch", "select")


class GenomeState(NamedTuple):
  """State of an interpreted genome. Every buffer holds the parameters as one flat vector (the leaves in tree order)
  in the working dtype, the promotion of the leaves' dtypes. Only what the spec needs is held: the EMA buffers its
  operands read, the node buffers when it has stateful ops, a momentum buffer when it has momentum types. ``table``
  is the update graph's working memory (the last step's node outputs, the operands its nodes read and its flat
  gradient), kept in the state so that every step reuses it in place instead of allocating and clearing it: it costs
  ``num_nodes + 3`` times the parameters' memory (``num_nodes + 1`` with the ``"select"`` strategy).

  Attributes:
    count: ``[]`` int32, the steps taken.
    table: ``[rows, size]`` working memory: the node outputs of the update graph, then (``"switch"``) the operands
      read by the last node computed, then the last gradient, flattened.
    buffers: buffer name → ``[size]``, the EMA buffers the spec's operands read.
    nodes: ``[N, size]`` the buffers of stateful unary ops, or ``None``.
    momentum: ``[size]`` the momentum buffer, or ``None``.
    finite: ``[]`` bool, every update so far was finite (``False``: the candidate diverged).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> state = ox.graph.interpret(ox.graph.known("sgd"), 0.1).init({"w": jnp.zeros(3), "b": jnp.zeros(2)})
    >>> print(state.count, state.table.shape, state.momentum.shape, state.finite)
    0 (9, 5) (5,) True
  """

  count: jax.Array  # [] int32, steps taken
  table: jax.Array  # [rows, size]: working memory (node outputs, operands read, the gradient)
  buffers: dict[str, jax.Array]  # buffer name -> [size]
  nodes: jax.Array | None  # [num_nodes, size] (stateful unary ops), or None
  momentum: jax.Array | None  # [size], or None
  finite: jax.Array  # [] bool: every update so far was finite (False: the candidate diverged)


def is_finite(opt_state: optax.OptState) -> jax.Array:
  """True where every update produced so far by the interpreted genome(s) in ``opt_state`` was finite.

  Works on any state that contains :class:`GenomeState` (e.g. inside ``optax.chain``) and on vmapped states
  (returns one flag per population member). The search scores a candidate with ``is_finite == False`` worst.

  Args:
    opt_state: the state of an optimizer built by :func:`interpret` (or a state containing one).

  Returns:
    A bool array: ``[]``, or one flag per member of a vmapped state.

  Raises:
    ValueError: when ``opt_state`` holds no :class:`GenomeState`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> state = ox.graph.interpret(ox.graph.known("sgd"), 0.1).init({"w": jnp.zeros(3)})
    >>> print(ox.graph.is_finite(state))
    True
  """
  states = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, GenomeState))
            if isinstance(s, GenomeState)]
  if not states:
    raise ValueError("is_finite: no GenomeState in this optimizer state (was the optimizer built by interpret?).")
  return functools.reduce(jnp.logical_and, [s.finite for s in states])


class _Layout(NamedTuple):
  """The parameter leaves as one flat vector: their shapes and dtypes, and the working dtype of the vector."""

  shapes: tuple[tuple[int, ...], ...]
  dtypes: tuple[Any, ...]
  dtype: Any

  @classmethod
  def of(cls, leaves: list[Any]) -> _Layout:
    dtypes = tuple(jnp.result_type(leaf) for leaf in leaves)
    return cls(tuple(tuple(np.shape(leaf)) for leaf in leaves), dtypes,
               jnp.result_type(*dtypes) if dtypes else jnp.dtype(jnp.float32))

  @property
  def sizes(self) -> tuple[int, ...]:
    return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

  @property
  def size(self) -> int:
    return sum(self.sizes)

  @staticmethod
  def concat(parts: list[jax.Array]) -> jax.Array:
    parts = [jnp.ravel(p) for p in parts]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)

  def into(self, table: jax.Array, leaves: list[jax.Array], row: int) -> jax.Array:
    """``leaves`` written into row ``row`` of ``table`` tensor by tensor, in place (XLA's concatenate is slow)."""
    offset = 0
    for leaf, size in zip(leaves, self.sizes):
      table = jax.lax.dynamic_update_slice(table, jnp.ravel(leaf).astype(self.dtype)[None], (row, offset))
      offset += size
    return table

  def split(self, flat: jax.Array) -> list[jax.Array]:
    out, offset = [], 0
    for shape, size in zip(self.shapes, self.sizes):
      out.append(flat[offset:offset + size].reshape(shape))
      offset += size
    return out

  def per_tensor(self, fn: Callable[[jax.Array], jax.Array], flat: jax.Array) -> jax.Array:
    """``fn`` applied to each tensor's segment of ``flat`` on its own (its output as long as the segment)."""
    return self.concat([fn(part.ravel()) for part in self.split(flat)])


def _usage(genome: Genome, spec: GenomeSpec) -> tuple[jax.Array, jax.Array]:
  """Traced masks of the active nodes ``[N]`` and of the operands they read ``[num_operands]``."""
  n, n_op = spec.num_nodes, spec.num_operands
  used = jnp.stack([jnp.ones([n], bool), genome.kind == BINARY], -1)  # [N, 2] input slots in use
  reads = jnp.any(used[..., None] & (genome.inputs[..., None] - n_op == jnp.arange(n)), axis=1)  # [N, N]: i reads j
  active = jnp.arange(n) == n - 1
  for _ in range(n - 1):  # the root's inputs, their inputs, ...
    active = active | jnp.any(reads & active[:, None], axis=0)
  slots = used & active[:, None]
  operand_used = jnp.any(slots[..., None] & (genome.inputs[..., None] == jnp.arange(n_op)), axis=(0, 1))
  return active, operand_used


@functools.cache
def _env_names(spec: GenomeSpec) -> tuple[str, ...]:
  """The buffer values the operands may read: each used buffer after this step's update, then ``<name>_prev`` (before
  it) for the buffers whose previous value some operand reads."""
  prev = [f"{b.name}_prev" for b in spec.used_buffers
          if any(re.search(rf"\b{b.name}_prev\b", o.expr) for o in spec.operands)]
  return tuple(b.name for b in spec.used_buffers) + tuple(prev)


class _Step(NamedTuple):
  """What the update graph reads at one step. With ``member`` set (inside the vmap rule's loop
  over population members), ``w``, ``env``, ``table`` and ``nodes`` hold every member on a leading axis and rows are
  read only where they are used."""

  genome: Genome
  w: tuple[jax.Array, ...]  # the parameter leaves (or [members, ...]), flattened only where they are read
  env: tuple[jax.Array, ...]  # the values of _env_names, each [size] (or [members, size])
  table: jax.Array  # [rows, size]: the node outputs, scratch rows and the gradient (or [members, rows, size])
  nodes: jax.Array | None  # [N, size] node buffers (or [members, N, size])
  factors: jax.Array | None  # [N, 2] edge decays, None when decays are off
  seed: jax.Array  # PRNG seed of the random ops
  count: jax.Array
  member: jax.Array | None = None


def _gradient_row(spec: GenomeSpec, strategy: str) -> int:
  """The table's last row, which holds the gradient: after the node rows and, with ``"switch"``, the two scratch rows
  of a node's operand inputs."""
  return spec.num_nodes + (2 if strategy == "switch" else 0)


def _reads_weights(expr: str) -> bool:
  return re.search(r"\bw\b", expr) is not None


@functools.cache
def _graph_runner(spec: GenomeSpec, strategy: str, group: _Layout) -> Callable:
  """``run(step: _Step) -> (table, node buffers, root row)``: the update graph on the flat parameters laid out as
  ``group``; the root's output is the table's row ``root row``.

  The nodes run in topological order in a ``fori_loop``; each reads its inputs (an operand, or an earlier node's row
  of the table), applies its op and writes its row, in place. With ``"switch"`` a node's operand inputs are computed
  into scratch rows by a switch with one branch per operand (the gradient is read from its own row), and the op is a
  switch with one branch per op that reads its inputs' rows itself: only the chosen operands and op are computed (no
  work, and no denormals, from values nobody reads), and an identity node on an undecayed edge computes nothing. With
  ``"select"`` everything is computed and selected. Random ops draw with
  ``fold_in(fold_in(PRNGKey(seed), count), node)``, one mask per parameter tensor (as the standalone code does); the
  ``norm`` op's sums run per tensor.
  """
  n_nodes, n_op, n_unary, n_binary = spec.num_nodes, spec.num_operands, len(spec.unary), len(spec.binary)
  n_ops = n_unary + n_binary  # op index: the unary table, then the binary one
  g_row = _gradient_row(spec, strategy)
  gradient_operand = np.asarray([o.expr == "g" for o in spec.operands])  # read from the gradient's row, not computed
  operand_fns = [ops.compile_expr(o.expr, ", ".join(["g", "w", "k", *_env_names(spec)])) for o in spec.operands]
  unary_fns = [ops.compile_expr(op.expr, "x, n, k, key, tsum") for op in spec.unary]
  binary_fns = [ops.compile_expr(op.expr, "x, y") for op in spec.binary]
  state_fns = [(i, ops.compile_expr(op.state, "out, n, k")) for i, op in enumerate(spec.unary) if op.state is not None]
  stateful_op = np.asarray([op.state is not None for op in spec.unary] + [False] * n_binary)

  def tensor_sum(v):  # per element: the sum over its parameter tensor
    return group.per_tensor(lambda part: jnp.broadcast_to(jnp.sum(part), part.shape), v)

  def random_op(fn, x, key, k):
    """``fn`` on each parameter tensor with the same key, its draws made once: every tensor is padded to the largest
    size and the tensors are vmapped with the key unbatched (with partitionable threefry a draw of n values is the
    prefix of a longer one, so each tensor gets exactly the values of a draw of its own size)."""
    if len(group.sizes) == 1:
      return fn(x, None, k, key, tensor_sum)
    longest = max(group.sizes)
    padded = jnp.stack([jnp.pad(part.ravel(), (0, longest - part.size)) for part in group.split(x)])
    out = jax.vmap(lambda row: fn(row, None, k, key, None))(padded)
    return group.concat([out[t, :size] for t, size in enumerate(group.sizes)])

  def take(s: _Step, x):
    return x if s.member is None else x[s.member]

  def row(s: _Step, x, index):  # row ``index`` of a per-member array
    return jax.lax.dynamic_index_in_dim(take(s, x), index, 0, False)

  def put(s: _Step, x, index, value):
    if s.member is None:
      return jax.lax.dynamic_update_index_in_dim(x, value, index, 0)
    return x.at[s.member, index].set(value)

  def k_of(s: _Step):
    return (s.count + 1).astype(group.dtype)

  def operand(s: _Step, j: int, table) -> jax.Array:
    """Operand j, its gradient read from the table's last row."""
    w = group.concat([take(s, x) for x in s.w]).astype(group.dtype) if _reads_weights(spec.operands[j].expr) else None
    value = operand_fns[j](row(s, table, g_row), w, k_of(s), *(take(s, e) for e in s.env))
    return jnp.broadcast_to(value, (group.size,)).astype(group.dtype)

  def op_value(s: _Step, j: int, i, x, y, n):
    if j >= n_unary:
      return binary_fns[j - n_unary](x, y)
    if spec.unary[j].random:
      key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(s.seed), s.count), i)
      return random_op(unary_fns[j], x, key, k_of(s))
    return unary_fns[j](x, n, k_of(s), None, tensor_sum)

  def node_state(s: _Step, op_index, out, n):  # the buffer of a stateful op after this step (n for any other op)
    which = sum(jnp.where(op_index == i, j + 1, 0) for j, (i, _) in enumerate(state_fns))
    if strategy == "select":
      return jax.lax.select_n(which, n, *[f(out, n, k_of(s)) for _, f in state_fns])
    return jax.lax.switch(which, [lambda out, n: n] + [lambda out, n, f=f: f(out, n, k_of(s)).astype(n.dtype)
                                                      for _, f in state_fns], out, n)

  def scaled(x, factor):
    return x if factor is None else x * factor.astype(x.dtype)

  def node_output(s: _Step, i, op_index, table, nodes, rows):
    """Node i's output. With ``"switch"`` each op's branch reads its inputs' rows of the table itself (``rows``: an
    earlier node's row, or the scratch row its operand was written to), so the reads and edge decays fuse into the
    op's one pass; unary branches read no second input. The branch returns the output and the caller writes it: a
    branch that read and wrote the table would make XLA copy the whole table."""
    factor = lambda slot: None if s.factors is None else s.factors[i, slot]  # noqa: E731
    if strategy == "select":
      vertex = jnp.clip(s.genome.inputs[i], 0, n_op + n_nodes - 1)
      vertices = [operand(s, j, table) for j in range(n_op)]
      x, y = (scaled(jax.lax.select_n(jnp.minimum(vertex[slot], n_op),
                                      *vertices, row(s, table, jnp.maximum(vertex[slot] - n_op, 0))), factor(slot))
              for slot in (0, 1))
      n = None if nodes is None else row(s, nodes, i)
      return jax.lax.select_n(op_index, *[op_value(s, j, i, x, y, n) for j in range(n_ops)])

    def branch(table, nodes, j):
      x = scaled(row(s, table, rows[0]), factor(0))
      y = scaled(row(s, table, rows[1]), factor(1)) if j >= n_unary else None
      n = row(s, nodes, i) if nodes is not None and stateful_op[j] else None
      return op_value(s, j, i, x, y, n).astype(group.dtype)

    return jax.lax.switch(op_index, [functools.partial(branch, j=j) for j in range(n_ops)], table, nodes)

  identity = [j for j, op in enumerate(spec.unary) if op.expr == "x"]  # the op whose node can share its input's row

  def load(s: _Step, table, vertex, target):
    """Operand ``vertex`` computed into row ``target`` (a switch with one branch per operand: only it is computed)."""
    value = jax.lax.switch(jnp.minimum(vertex, n_op - 1),
                           [functools.partial(operand, s, j, table) for j in range(n_op)])
    return put(s, table, target, value)

  def run(s: _Step):
    """``(table, node buffers, root row)``: the update graph's rows and the row that holds the root's output."""
    genome = s.genome
    active, _ = _usage(genome, spec)
    op_index = jnp.clip(jnp.where(genome.kind == UNARY, genome.unary, n_unary + genome.binary), 0, n_ops - 1)

    def compute(i, rows, table, nodes):
      out = node_output(s, i, op_index[i], table, nodes, rows)
      table = put(s, table, i, out)
      if nodes is not None:  # a cond whose only operand is the buffer: in place when the op is not stateful
        def write_state(nodes):
          return put(s, nodes, i, node_state(s, op_index[i], out, row(s, nodes, i)))
        nodes = jax.lax.cond(jnp.asarray(stateful_op)[op_index[i]], write_state, lambda x: x, nodes)
      return table, nodes

    def node(i, carry):
      """With ``"switch"``: the node's operand inputs are computed into rows of the table (a unary node's second input
      is not read); an identity node on an undecayed edge computes nothing and points at its input's row (an operand
      is then computed into its own row); any other node computes its op from its inputs' rows into its own row. The
      conds stay one level deep: a table updated inside nested conds is copied whole by XLA."""
      table, nodes, row_of = carry
      if strategy == "select":
        table, nodes = jax.lax.cond(active[i], functools.partial(compute, i, None), lambda *c: c, table, nodes)
        return table, nodes, row_of
      vertex = jnp.clip(genome.inputs[i], 0, n_op + n_nodes - 1)
      is_operand = vertex < n_op
      is_gradient = is_operand & jnp.asarray(gradient_operand)[jnp.minimum(vertex, n_op - 1)]
      alias = active[i] & (genome.kind[i] == UNARY) & jnp.isin(genome.unary[i], jnp.asarray(identity, jnp.int32))
      if s.factors is not None:
        alias = alias & (s.factors[i, 0] == 1)
      targets = (jnp.where(alias, i, n_nodes), n_nodes + 1)  # scratch rows n_nodes, n_nodes + 1
      wanted = active[i] & is_operand & ~is_gradient & jnp.stack([True, genome.kind[i] == BINARY])
      for slot in (0, 1):
        table = jax.lax.cond(wanted[slot], functools.partial(load, s, vertex=vertex[slot], target=targets[slot]),
                             lambda table: table, table)
      node_rows = row_of[jnp.maximum(vertex - n_op, 0)]
      rows = jnp.where(is_gradient, g_row, jnp.where(is_operand, jnp.stack(targets), node_rows))
      table, nodes = jax.lax.cond(active[i] & ~alias, functools.partial(compute, i, rows), lambda *c: c, table, nodes)
      return table, nodes, row_of.at[i].set(jnp.where(alias, rows[0], i))

    table, nodes, row_of = jax.lax.fori_loop(0, n_nodes, node, (s.table, s.nodes, jnp.arange(n_nodes)))
    return table, nodes, row_of[n_nodes - 1]

  return run if strategy == "select" else _members_one_by_one(run)


def _members_one_by_one(run: Callable) -> Callable:
  """``run`` (the switch runner) whose ``jax.vmap`` over genomes is a loop over the members, each running only its
  own branches, instead of the default batching of ``lax.switch``, which computes every branch of every switch. A
  vmap that leaves the genome unbatched (seeds, learning rates) is vectorised as usual: its switches stay switches.
  Differentiation goes through ``run`` itself (``custom_vmap`` alone has no JVP rule)."""
  run_v = jax.custom_batching.custom_vmap(run)

  @run_v.def_vmap
  def rule(axis_size, in_batched, s):
    in_batched, = in_batched  # one flag tree per argument
    if not any(jax.tree.leaves(in_batched.genome)):
      axes = jax.tree.map(lambda b: 0 if b else None, in_batched)
      out = jax.vmap(run, in_axes=(axes,))(s)
      return out, jax.tree.map(lambda _: True, out)
    spread = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))  # noqa: E731
    s = jax.tree.map(spread, s, in_batched)

    def member(m, carry):
      table, nodes, roots = carry
      row = lambda x: x[m]  # noqa: E731
      table, nodes, root = run(s._replace(genome=jax.tree.map(row, s.genome), table=table, nodes=nodes,
                                          factors=None if s.factors is None else row(s.factors), seed=row(s.seed),
                                          count=row(s.count), member=m))
      return table, nodes, roots.at[m].set(root)

    out = jax.lax.fori_loop(0, axis_size, member, (s.table, s.nodes, jnp.zeros([axis_size], jnp.int32)))
    return out, jax.tree.map(lambda _: True, out)

  run_d = jax.custom_jvp(run_v)
  run_d.defjvp(lambda primals, tangents: jax.jvp(run, primals, tangents))
  return run_d


def _as_schedule(x: ScalarOrSchedule) -> Callable[[jax.Array], jax.Array]:
  return x if callable(x) else (lambda count: x)


def interpret(
    genome: Genome,
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    spec: GenomeSpec = DEFAULT_SPEC,
    total_steps: int | jax.Array | None = None,
    momentum: ScalarOrSchedule = 0.9,
    seed: int | jax.Array = 0,
    strategy: str = "switch",
    step_factors: Callable[[jax.Array], tuple[jax.Array, jax.Array]] | None = None,
    check_finite: bool = True,
) -> optax.GradientTransformationExtraArgs:
  """The optimizer encoded by ``genome``: ``w ← w - η_t·u`` (or its momentum / Nesterov form), ``u`` the root.

  As in NOS the learning rate enters the momentum buffer (``mom ← m·mom - η_t·u``); with a constant learning rate
  this equals optax's ``trace`` followed by scaling. Steps past ``total_steps`` reuse the decays of step ``T - 1``.
  With the update ``u_t`` computed by the genome's graph from the operands at step ``t``:

  .. math::
    w_{t+1} = w_t - \\eta_t\\, u_t, \\qquad \\eta_t = \\eta(t)\\, f_{\\mathrm{schedule}}(t / T).

  ``interpret(known("adam"), 1e-3)`` equals ``optax.adam(1e-3)``; ``jax.vmap(lambda g: train(interpret(g, 1e-2,
  total_steps=T)))(population)`` trains a whole population with one compilation.

  Args:
    genome: a :class:`Genome`; its arrays may be traced (``jax.vmap`` over a population compiles once).
    learning_rate: base learning rate η (float or optax schedule of the step count); the genome's schedule
      multiplies it: ``η_t = learning_rate(t) · f_schedule(t / total_steps)``.
    spec: the search space the genome's indices refer to.
    total_steps: the training horizon T used by decay functions and the LR schedule. ``None`` turns decays and
      schedules off (factor 1), like the reference code's "decays off" mode; may be traced.
    momentum: the momentum coefficient ``m`` of the momentum / Nesterov types (float or schedule).
    seed: PRNG seed of the dropout ops (may be traced: vmap over seeds).
    strategy: ``"switch"`` (default; only the genome's own ops run, also under ``vmap`` over genomes) or
      ``"select"`` (every op computed and one selected: vectorised populations on GPU/TPU); see the module
      docstring. Both compute the same updates. The updates are differentiable (meta-learning through training);
      with ``"select"`` a singular op that is computed but not selected (e.g. ``sqrt|x|`` at 0) makes the
      gradient NaN, so differentiate with ``"switch"``.
    step_factors: ``step_factors(count) -> (edge factors [N, 2], learning-rate multiplier)`` instead of computing
      them from ``total_steps`` at every step, e.g. read from tables computed once per run with
      :func:`optix_evo.graph.decays.step_factors` (the search does this: the decay maths then stays out of its
      training program, which compiles faster and dispatches fewer kernels per step).
    check_finite: keep the :func:`is_finite` flag (a pass over the update at every step, ~7 % of a small MLP's
      training step on CPU). ``False`` leaves the flag ``True``: for a loop that checks its parameters instead (a
      non-finite update makes them non-finite for good, ``w + nan`` and ``w ± inf`` stay non-finite), as the
      search's evaluator does once per epoch.

  Parameters may mix float dtypes (the work is done in their promotion, each update comes back in its leaf's dtype)
  and may be an empty tree. Integer and complex parameters are refused with an ``InputError``: the NOS operands and
  ops are real-valued. ``update`` needs ``params`` when the genome reads the weights (an error for a concrete
  genome; a traced one gets NaN weights, so its updates turn non-finite and :func:`is_finite` reports it).

  Returns:
    An ``optax.GradientTransformationExtraArgs`` (extra keyword arguments of ``update`` are accepted and ignored)
    whose state is a :class:`GenomeState`; non-finite updates are not hidden and set ``is_finite(state)`` to False.

  Raises:
    InputError: for a concrete genome that is not one of ``spec`` (:func:`~optix_evo.graph.validate_genome`), and
      at ``init`` / ``update`` for integer or complex parameters.
    ValueError: for an unknown ``strategy``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> opt = ox.graph.interpret(ox.graph.known("sgd"), learning_rate=0.1)
    >>> params = {"w": jnp.array([1.0, -2.0])}
    >>> state = opt.init(params)
    >>> updates, state = jax.jit(opt.update)(params, state, params)  # the gradient of |w|²/2 is w
    >>> print(updates["w"], state.count)
    [-0.1  0.2] 1
  """
  if strategy not in STRATEGIES:
    raise ValueError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
  if is_concrete(genome):
    validate_genome(genome, spec)
  genome = Genome(*(x.astype(jnp.int32) if isinstance(x, jax.core.Tracer) else np.asarray(x, np.int32) for x in genome))
  lr_fn, m_fn = _as_schedule(learning_rate), _as_schedule(momentum)
  step_fn = step_factors
  if step_fn is None and total_steps is not None:
    step_fn = lambda count: decays.step_factors(genome, count, total_steps, spec)  # noqa: E731
  buffers = spec.used_buffers
  n_nodes = spec.num_nodes
  g_row = _gradient_row(spec, strategy)

  def check_dtypes(leaves):
    for leaf in leaves:
      if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
        raise InputError(f"An interpreted genome needs real floating-point parameters, got a {jnp.result_type(leaf)} "
                         "leaf: the NOS operands and ops are real-valued (g², sign, max, erf ...); cast or split the "
                         "parameters.")

  reads_weights = np.asarray([_reads_weights(o.expr) for o in spec.operands])

  def check_params(params):
    if params is not None or not is_concrete(genome):
      return
    if np.any(active_operands(Genome(*(np.asarray(x) for x in genome)), spec) & reads_weights):
      raise ValueError("This genome reads the weights (an operand such as 1e-4·w): pass params to update.")

  def init_fn(params):
    leaves = jax.tree.leaves(params)
    check_dtypes(leaves)
    layout = _Layout.of(leaves)
    zeros = lambda *shape: jnp.zeros([*shape, layout.size], layout.dtype)  # noqa: E731
    return GenomeState(
        count=jnp.zeros([], jnp.int32),
        table=zeros(g_row + 1),
        buffers={b.name: zeros() for b in buffers},
        nodes=zeros(n_nodes) if spec.stateful else None,
        momentum=zeros() if spec.has_momentum else None,
        finite=jnp.ones([], bool),
    )

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    check_params(params)
    count = state.count
    leaves, treedef = jax.tree.flatten(updates)
    check_dtypes(leaves)
    if not leaves:  # nothing to update (optax's optimizers accept empty trees too)
      return updates, state._replace(count=optax.safe_increment(count))
    # Without params a traced genome that reads the weights gets NaN for them: its update turns non-finite (and
    # is_finite says so) instead of silently using made-up weights.
    param_leaves = (treedef.flatten_up_to(params) if params is not None
                    else [jnp.full_like(x, jnp.nan) for x in leaves])
    layout = _Layout.of(leaves)
    dtype = layout.dtype

    table = layout.into(state.table, leaves, g_row)
    if step_fn is None:
      factors, lr_t = None, lr_fn(count)
    else:
      factors, multiplier = step_fn(count)
      factors, lr_t = jnp.asarray(factors).astype(dtype), lr_fn(count) * multiplier
    # A buffer that no active operand reads is left as it is: a lax.cond whose only written operand is the buffer,
    # with the identity as the false branch, is done in place by XLA (no pass over the buffer). The same holds below.
    # The gradient and the root are read from the table inside the branches: a row sliced outside would be copied.
    _, operand_used = _usage(genome, spec)
    prev = {b.name: state.buffers[b.name] for b in buffers}
    new = {}
    for b in buffers:
      ema = ops.compile_expr(b.expr, "g, prev")
      used = jnp.any(operand_used[np.asarray([b.name in o.buffers for o in spec.operands])])
      new[b.name] = jax.lax.cond(used, lambda p, t, ema=ema: ema(t[g_row], p).astype(dtype), lambda p, t: p,
                                 prev[b.name], table)
    values = {**new, **{f"{name}_prev": x for name, x in prev.items()}}
    env = tuple(values[name] for name in _env_names(spec))
    step = _Step(genome=Genome(*(jnp.asarray(x) for x in genome)), w=tuple(param_leaves), env=env,
                 table=table, nodes=state.nodes, factors=factors, seed=jnp.asarray(seed), count=count)
    table, nodes, root = _graph_runner(spec, strategy, layout)(step)
    scale = (jnp.where(genome.flip == 1, 1.0, -1.0).astype(dtype) * jnp.asarray(lr_t).astype(dtype)).astype(dtype)
    direction = lambda table: scale * jax.lax.dynamic_index_in_dim(table, root, 0, False)  # noqa: E731  d = ∓η_t·u
    update = direction(table)
    mom = state.momentum
    if mom is not None:  # the types are cheap elementwise expressions: all computed, one selected
      m, which = jnp.asarray(m_fn(count)).astype(dtype), jnp.clip(genome.momentum, 0, len(spec.momentum_types) - 1)
      mom_fns = [ops.compile_expr(t.mom, "mom, m, d") for t in spec.momentum_types]
      update_fns = [ops.compile_expr(t.update, "mom, m, d, new") for t in spec.momentum_types]
      new_mom = lambda mom, t: jax.lax.select_n(which, *[f(mom, m, direction(t)).astype(dtype)  # noqa: E731
                                                         for f in mom_fns])
      none = [i for i, t in enumerate(spec.momentum_types) if t.name == "none"]
      # without momentum the buffer stays as it is (a cond whose only operand is the buffer: in place, no pass)
      prev_mom = mom
      mom = (jax.lax.cond(which != none[0], new_mom, lambda mom, _: mom, prev_mom, table) if none
             else new_mom(prev_mom, table))
      update = jax.lax.select_n(which, *[f(prev_mom, m, update, mom).astype(dtype) for f in update_fns])
    parts = [part.astype(leaf_dtype) for part, leaf_dtype in zip(layout.split(update), layout.dtypes)]
    new_state = GenomeState(
        count=optax.safe_increment(count), table=table, buffers=new, nodes=nodes, momentum=mom,
        finite=state.finite & jnp.all(jnp.isfinite(update)) if check_finite else state.finite)
    return treedef.unflatten(parts), new_state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
