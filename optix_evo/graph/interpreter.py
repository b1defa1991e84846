"""One compiled program for every genome: :func:`interpret` turns a (possibly traced) genome into an optax optimizer.

Nothing about the genome is a Python branch. All parameter leaves are interpreted together as one flat vector and
the nodes run in a ``fori_loop``, so the op tables appear once in the compiled program whatever the model. Two
strategies choose inputs and ops (measured in ``benchmarks/interpreter.py``; ``shared/design/perf_notes.md``):

* ``"switch"`` (default; one genome, or a population run with ``lax.map``): ``lax.switch`` on each index, operands
  computed lazily inside the input switch, dead nodes and unread moment buffers skipped with ``lax.cond``: only
  what the genome uses is computed.
* ``"select"`` (populations under ``vmap``, where every branch runs anyway): every operand computed once and
  stacked, every op computed and the chosen one selected with ``select_n``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo.graph import ops
from optix_evo.graph.genome import BINARY, DEFAULT_SPEC, UNARY, Genome, GenomeSpec

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], jax.Array]
STRATEGIES = ("switch", "select")


class GenomeState(NamedTuple):
  """State of an interpreted genome. Only what the spec needs is held: the EMA buffers its operands read, one
  buffer per node when the spec has stateful ops, a momentum buffer when it has momentum types. Buffers are flat
  vectors over all parameters (the leaves concatenated in tree order), so the interpreter is compiled once per
  program whatever the number of parameter leaves."""

  count: jax.Array  # [] int32, steps taken
  buffers: dict[str, jax.Array]  # buffer name -> [num_params]
  nodes: jax.Array | None  # [num_nodes, num_params] (stateful unary ops), or None
  momentum: jax.Array | None  # [num_params], or None
  finite: jax.Array  # [] bool: every update so far was finite (False: the candidate diverged)


def is_finite(opt_state: optax.OptState) -> jax.Array:
  """True where every update produced so far by the interpreted genome(s) in ``opt_state`` was finite.

  Works on any state that contains :class:`GenomeState` (e.g. inside ``optax.chain``) and on vmapped states
  (returns one flag per population member). The search scores a candidate with ``is_finite == False`` worst.
  """
  states = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, GenomeState))
            if isinstance(s, GenomeState)]
  if not states:
    raise ValueError("is_finite: no GenomeState in this optimizer state (was the optimizer built by interpret?).")
  return functools.reduce(jnp.logical_and, [s.finite for s in states])


def _choose(index: jax.Array, branches: Sequence[Callable], operands: tuple, strategy: str):
  """``branches[index](*operands)`` with ``lax.switch`` or by computing every branch and selecting."""
  if len(branches) == 1:
    return branches[0](*operands)
  if strategy == "switch":
    return jax.lax.switch(index, branches, *operands)
  outs = [b(*operands) for b in branches]
  which = jnp.clip(index, 0, len(branches) - 1)
  return jax.tree.map(lambda *xs: jax.lax.select_n(which, *xs), *outs)


def _pick(index: jax.Array, values: Sequence[Any], strategy: str):
  return _choose(index, [lambda vs, j=j: vs[j] for j in range(len(values))], (tuple(values),), strategy)


def _usage(genome: Genome, spec: GenomeSpec) -> tuple[jax.Array, jax.Array]:
  """Traced masks of the active nodes ``[N]`` and of the operands they read ``[num_operands]``."""
  n, n_op = spec.num_nodes, spec.num_operands
  used = jnp.stack([jnp.ones([n], bool), genome.kind == BINARY], -1)  # [N, 2] input slots in use
  active = jnp.zeros([n], bool).at[n - 1].set(True)
  for i in range(n - 1, -1, -1):  # a node reads earlier nodes only
    reads = used[i] & active[i]
    for slot in range(2):
      active = active | (reads[slot] & (jnp.arange(n) == genome.inputs[i, slot] - n_op))
  slots = used & active[:, None]
  operand_used = jnp.any(slots[..., None] & (genome.inputs[..., None] == jnp.arange(n_op)), axis=(0, 1))
  return active, operand_used


def decay_factor(dg: tuple, t: jax.Array, total: float | jax.Array, spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """Value of one edge's decay graph ``dg = (kind[2], unary[2], binary[2], inputs[2, 2])`` at step ``t`` of ``total``.

  Scalars only, so every candidate op is computed and the chosen one is indexed (cheap, and the same under vmap);
  the two decay nodes run in a ``fori_loop`` so the op tables are compiled once.
  """
  kind, un, bi, inp = (jnp.asarray(x) for x in dg)
  leaves = [ops.compile_expr(d.expr, "t, T")(t, total) for d in spec.decay_operands]
  dtype = jnp.result_type(*leaves)
  n_d = len(leaves)
  vertices = jnp.stack([jnp.asarray(v, dtype) for v in leaves] + [jnp.zeros([], dtype)])

  def node(n, vertices):  # node 0: the decay hidden node (stored at n_d), node 1: the root (read from n_d)
    x, y = vertices[inp[n, 0]], vertices[inp[n, 1]]
    u = jnp.stack([jnp.asarray(ops.compile_expr(op.expr, "x")(x), dtype) for op in spec.decay_unary])
    b = jnp.stack([jnp.asarray(ops.compile_expr(op.expr, "x, y")(x, y), dtype) for op in spec.decay_binary])
    return vertices.at[n_d].set(jnp.where(kind[n] == UNARY, u[un[n]], b[bi[n]]))

  return jax.lax.fori_loop(0, 2, node, vertices)[n_d]


def _decay_env(t: jax.Array, total: jax.Array, spec: GenomeSpec) -> dict[str, jax.Array]:
  return {d.name: ops.compile_expr(d.expr, "t, T")(t, total) for d in spec.decay_operands}


def schedule_factor(index: jax.Array, t: jax.Array, total: float | jax.Array, spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """The learning-rate multiplier of schedule ``index`` at step ``t`` of ``total`` (all computed, one indexed)."""
  env = _decay_env(t, total, spec)
  names = ", ".join(["t", "T", *env])
  values = [ops.compile_expr(s.expr, names)(t, total, *env.values()) for s in spec.schedules]
  dtype = jnp.result_type(*values)
  return jnp.stack([jnp.asarray(v, dtype) for v in values])[index]


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
) -> optax.GradientTransformation:
  """The optimizer encoded by ``genome``: ``w ← w - η_t·u`` (or its momentum / Nesterov form), ``u`` the root.

  As in NOS the learning rate enters the momentum buffer (``mom ← m·mom - η_t·u``); with a constant learning rate
  this equals optax's ``trace`` followed by scaling. Steps past ``total_steps`` reuse the decays of step ``T - 1``.

  Example::

    opt = interpret(known("adam"), 1e-3)                       # equals optax.adam(1e-3)
    losses = jax.vmap(lambda g: train(interpret(g, 1e-2, total_steps=T)))(population)   # one compilation

  Args:
    genome: a :class:`Genome`; its arrays may be traced (``jax.vmap`` over a population compiles once).
    learning_rate: base learning rate η (float or optax schedule of the step count); the genome's schedule
      multiplies it: ``η_t = learning_rate(t) · f_schedule(t / total_steps)``.
    spec: the search space the genome's indices refer to.
    total_steps: the training horizon T used by decay functions and the LR schedule. ``None`` turns decays and
      schedules off (factor 1), like the reference code's "decays off" mode; may be traced.
    momentum: the momentum coefficient ``m`` of the momentum / Nesterov types (float or schedule).
    seed: PRNG seed of the dropout ops (may be traced: vmap over seeds).
    strategy: ``"switch"`` (default: one genome, or ``lax.map`` over genomes) or ``"select"`` (``vmap`` over
      genomes): how ops and inputs are chosen (see the module docstring); both compute the same updates.

  Returns:
    An ``optax.GradientTransformation`` whose state is a :class:`GenomeState`; non-finite updates are not hidden
    and set ``is_finite(state)`` to False.
  """
  if strategy not in STRATEGIES:
    raise ValueError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
  genome = Genome(*(jnp.asarray(x, jnp.int32) for x in genome))
  lr_fn, m_fn = _as_schedule(learning_rate), _as_schedule(momentum)
  buffers = spec.used_buffers
  n_nodes, n_op, hidden = spec.num_nodes, spec.num_operands, spec.num_hidden
  buffer_args = ", ".join(["g", "w", "k", *(n for b in buffers for n in (b.name, f"{b.name}_prev"))])
  operand_fns = [ops.compile_expr(o.expr, buffer_args) for o in spec.operands]
  random_ops = any(op.random for op in spec.unary)

  def op_branch(op: ops.Op, binary: bool, k: jax.Array, tsum: Callable):
    if binary:
      f = ops.compile_expr(op.expr, "x, y")
      return lambda x, y, n, key: (f(x, y), n)
    f = ops.compile_expr(op.expr, "x, n, k, key, tsum")
    if op.state is None:
      return lambda x, y, n, key: (f(x, n, k, key, tsum), n)
    s = ops.compile_expr(op.state, "x, n, k")
    return lambda x, y, n, key: (f(x, n, k, key, tsum), s(x, n, k))

  def init_fn(params):
    size = sum(p.size for p in jax.tree.leaves(params))
    dtype = jnp.result_type(*jax.tree.leaves(params)) if jax.tree.leaves(params) else jnp.float32
    return GenomeState(
        count=jnp.zeros([], jnp.int32),
        buffers={b.name: jnp.zeros(size, dtype) for b in buffers},
        nodes=jnp.zeros((n_nodes, size), dtype) if spec.stateful else None,
        momentum=jnp.zeros(size, dtype) if spec.has_momentum else None,
        finite=jnp.ones([], bool),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("An interpreted genome needs params (operands such as 1e-4·w read the weights).")
    count = state.count
    leaves, treedef = jax.tree.flatten(updates)
    flat = lambda xs: jnp.concatenate([jnp.ravel(x) for x in xs]) if len(xs) != 1 else jnp.ravel(xs[0])  # noqa: E731
    g, w = flat(leaves), flat(treedef.flatten_up_to(params)).astype(flat(leaves).dtype)
    bounds = [0]
    for leaf in leaves:
      bounds.append(bounds[-1] + leaf.size)

    def tsum(v):  # per-tensor sum broadcast back to every element (the interpreter works on the flat vector)
      return jnp.concatenate([jnp.broadcast_to(jnp.sum(v[a:b]), (b - a,)) for a, b in zip(bounds, bounds[1:])])

    dtype = g.dtype
    k = (count + 1).astype(dtype)
    if total_steps is None:
      factors = None
      lr_t = lr_fn(count)
    else:
      total = jnp.asarray(total_steps, dtype)
      t = jnp.minimum(count.astype(dtype), total - 1)
      edges = [x.reshape((2 * n_nodes, *x.shape[2:])) for x in
               (genome.decay_kind, genome.decay_unary, genome.decay_binary, genome.decay_inputs)]
      values = jax.vmap(lambda *dg: decay_factor(dg, t, total, spec))(*edges).reshape(n_nodes, 2)
      factors = jnp.where(genome.decay_on == 1, values, 1.0).astype(dtype)
      lr_t = lr_fn(count) * schedule_factor(genome.schedule, t, total, spec)
    m = m_fn(count)
    sign = jnp.where(genome.flip == 1, 1.0, -1.0).astype(dtype)
    step_key = jax.random.fold_in(jax.random.PRNGKey(seed), count) if random_ops else None
    branches = ([op_branch(op, False, k, tsum) for op in spec.unary]
                + [op_branch(op, True, k, tsum) for op in spec.binary])
    op_index = jnp.where(genome.kind == UNARY, genome.unary, len(spec.unary) + genome.binary)

    prev = state.buffers
    active, operand_used = _usage(genome, spec)
    # a buffer no active operand reads is left as it is (its value never matters); cond skips the work
    new = {b.name: jax.lax.cond(jnp.any(operand_used[np.asarray([b.name in o.buffers for o in spec.operands])]),
                                lambda p, b=b: ops.compile_expr(b.expr, "g, prev")(g, p), lambda p: p, prev[b.name])
           for b in buffers}
    env = [x for b in buffers for x in (new[b.name], prev[b.name])]

    def operand(f):
      return lambda: jnp.broadcast_to(f(g, w, k, *env), g.shape).astype(dtype)

    if strategy == "switch":  # lazy: each input computes only the operand it reads
      operand_branches = [lambda hidden, f=f: operand(f)() for f in operand_fns]

      def read(index, hidden):
        return jax.lax.switch(jnp.minimum(index, n_op), operand_branches + [
            lambda hidden: hidden[jnp.clip(index - n_op, 0, n_nodes - 1)]], hidden)
      vertices = jnp.zeros((n_nodes, g.shape[0]), dtype)  # hidden nodes, then the root
    else:  # eager: every operand once, stacked with the hidden nodes, read by index
      def read(index, vertices):
        return vertices[index]
      vertices = jnp.stack([operand(f)() for f in operand_fns] + [jnp.zeros_like(g)] * n_nodes)
    offset = 0 if strategy == "switch" else n_op

    def node(i, carry):
      vertices, node_buf = carry

      def run(vertices, node_buf):
        x, y = read(genome.inputs[i, 0], vertices), read(genome.inputs[i, 1], vertices)
        if factors is not None:
          x, y = x * factors[i, 0], y * factors[i, 1]
        key = jax.random.fold_in(step_key, i) if random_ops else None
        n = node_buf[i] if node_buf is not None else None
        out, n = _choose(op_index[i], branches, (x, y, n, key), strategy)
        node_buf = node_buf.at[i].set(n) if node_buf is not None else None
        return vertices.at[offset + i].set(out), node_buf

      return jax.lax.cond(active[i], run, lambda *c: c, vertices, node_buf)  # dead nodes are skipped

    vertices, node_buf = jax.lax.fori_loop(0, n_nodes, node, (vertices, state.nodes))
    update = sign * lr_t * vertices[-1]
    mom = state.momentum
    if mom is not None:
      mom_types = spec.momentum_types
      d = update
      mom = _pick(genome.momentum, [ops.compile_expr(mt.mom, "mom, m, d")(mom, m, d) for mt in mom_types], strategy)
      update = _pick(genome.momentum,
                     [ops.compile_expr(mt.update, "mom, m, d, new")(state.momentum, m, d, mom) for mt in mom_types],
                     strategy)
    new_updates = treedef.unflatten(
        [update[a:b].reshape(leaf.shape).astype(leaf.dtype) for a, b, leaf in zip(bounds, bounds[1:], leaves)])
    new_state = GenomeState(
        count=optax.safe_increment(count),
        buffers=new,
        nodes=node_buf,
        momentum=mom,
        finite=state.finite & jnp.all(jnp.isfinite(update)),
    )
    return new_updates, new_state

  return optax.GradientTransformation(init_fn, update_fn)
