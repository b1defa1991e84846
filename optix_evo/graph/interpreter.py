"""One compiled program for every genome: :func:`interpret` turns a (possibly traced) genome into an optax optimizer.

Nothing about the genome is a Python branch: its indices are data, chosen among with ``lax.switch`` / ``select_n``.
Each parameter tensor is interpreted as it is (no flattening into one vector: on XLA:CPU concatenating and slicing
the leaves cost more than the update itself). Two strategies choose inputs and ops (measured in
``benchmarks/interpreter.py``; ``shared/design/perf_notes.md``):

* ``"switch"`` (default): ``lax.switch`` on each index, operands computed lazily inside the input switch, dead nodes,
  unread moment buffers, the node buffers of non-stateful ops and an unused momentum buffer skipped with
  ``lax.cond`` (in place, without a pass over the buffer): only what the genome uses is computed. Under ``jax.vmap``
  over genomes the members' update graphs run one after another (``custom_vmap`` + ``lax.map``), so each member
  still computes only its own ops, while the model's forward and backward passes stay vectorised.
* ``"select"`` (vectorised populations on GPU/TPU): every operand and every op computed, the chosen one selected
  with ``select_n``: no control flow, the same work for every member.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo.graph import ops
from optix_evo.graph.decays import decay_factor, schedule_factor
from optix_evo.graph.genome import BINARY, UNARY, Genome
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec
from optix_evo.graph.validation import is_concrete, validate_genome

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], jax.Array]
STRATEGIES = ("switch", "select")


class GenomeState(NamedTuple):
  """State of an interpreted genome; every buffer is a pytree shaped like the parameters. Only what the spec needs is
  held: the EMA buffers its operands read, one buffer per node when the spec has stateful ops, a momentum buffer
  when it has momentum types."""

  count: jax.Array  # [] int32, steps taken
  buffers: dict[str, optax.Updates]  # buffer name -> params-shaped pytree
  nodes: tuple[optax.Updates, ...] | None  # one params-shaped pytree per node (stateful unary ops), or None
  momentum: optax.Updates | None
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


@functools.cache
def _env_names(spec: GenomeSpec) -> tuple[str, ...]:
  """The buffer values the operands may read: each used buffer after this step's update, then ``<name>_prev`` (before
  it) for the buffers whose previous value some operand reads."""
  prev = [f"{b.name}_prev" for b in spec.used_buffers
          if any(re.search(rf"\b{b.name}_prev\b", o.expr) for o in spec.operands)]
  return tuple(b.name for b in spec.used_buffers) + tuple(prev)


Leaves = tuple  # one array per parameter tensor


@functools.cache
def _graph_runner(spec: GenomeSpec, strategy: str) -> Callable:
  """``run(genome, g, w, env, nodes, factors, seed_key, count) -> (root output, node buffers)``: the update graph on
  the gradient leaves ``g`` (``w``: the parameter leaves; ``env``: per leaf, the values of :func:`_env_names`;
  ``nodes``: one leaves-tuple per node or None; ``factors``: the edge decays ``[N, 2]`` or None). Dropout keys are
  ``fold_in(fold_in(seed_key, count), node)``, one per node, drawn per parameter tensor (as ``to_python`` does).

  ``"switch"``: every node in topological order inside ``lax.cond(active)``, each input and op chosen with
  ``lax.switch``; wrapped so that a ``jax.vmap`` over genomes runs the members one after another.
  ``"select"``: every operand and every op computed, the chosen one selected.
  """
  n_nodes, n_op, n_unary, n_binary = spec.num_nodes, spec.num_operands, len(spec.unary), len(spec.binary)
  n_ops = n_unary + n_binary  # op index: the unary table, then the binary one
  operand_fns = [ops.compile_expr(o.expr, ", ".join(["g", "w", "k", *_env_names(spec)])) for o in spec.operands]
  unary_fns = [ops.compile_expr(op.expr, "x, n, k, key, tsum") for op in spec.unary]
  binary_fns = [ops.compile_expr(op.expr, "x, y") for op in spec.binary]
  state_fns = [(i, ops.compile_expr(op.state, "out, n, k")) for i, op in enumerate(spec.unary) if op.state is not None]
  stateful_op = np.asarray([op.state is not None for op in spec.unary] + [False] * len(spec.binary))

  def setup(genome, g, w, env, seed_key, count, take=lambda x: x):
    k = (count + 1).astype(jnp.result_type(*g))

    def operand(f):  # ``take`` picks the member's row of batched w / env, inside the branch (only if it is read)
      return lambda: tuple(jnp.broadcast_to(f(gl, take(wl).astype(gl.dtype), k, *map(take, el)), gl.shape)
                           .astype(gl.dtype) for gl, wl, el in zip(g, w, env))

    def op(j, i):  # op j of node i on leaves: (x, y, n) -> out; only random ops derive their key
      if j < n_unary:
        key = (lambda: jax.random.fold_in(jax.random.fold_in(seed_key, count), i)) if spec.unary[j].random else None
        return lambda x, y, n: tuple(unary_fns[j](xl, nl, k, key() if key else None, jnp.sum)
                                     for xl, nl in zip(x, n if n is not None else (None,) * len(x)))
      return lambda x, y, n: tuple(binary_fns[j - n_unary](xl, yl) for xl, yl in zip(x, y))

    def node_state(op_index, out, n):  # the buffer of a stateful op after this step (n for any other op)
      which = sum(jnp.where(op_index == i, j + 1, 0) for j, (i, _) in enumerate(state_fns))
      return tuple(jax.lax.select_n(which, nl, *[f(ol, nl, k) for _, f in state_fns]) for ol, nl in zip(out, n))

    op_index = jnp.where(genome.kind == UNARY, genome.unary, n_unary + genome.binary)
    return [operand(f) for f in operand_fns], op, node_state, op_index

  def scaled(leaves, factor):
    return leaves if factor is None else tuple(x * factor.astype(x.dtype) for x in leaves)

  def run_switch(genome, g, w, env, nodes, factors, seed_key, count, member=None):
    """With ``member`` (inside the vmap rule's loop over members), ``w``, ``env`` and ``nodes`` hold every member
    (leading axis): rows are read only where used and the node buffers are updated in place at row ``member``."""
    take = (lambda x: x) if member is None else (lambda x: x[member])  # noqa: E731
    operands, op, node_state, op_index = setup(genome, g, w, env, seed_key, count, take)
    active, _ = _usage(genome, spec)
    nodes = (None,) * n_nodes if nodes is None else nodes
    zeros = lambda: tuple(jnp.zeros_like(x) for x in g)  # noqa: E731
    hidden: list[Leaves] = []  # outputs of the nodes so far (zeros for dead ones: never read)
    new_nodes: list[Leaves | None] = []
    for i in range(n_nodes):  # unrolled: a dead node costs a cond, and no buffer is copied
      reads = operands + [lambda h=h: h for h in hidden]  # vertex index -> its value (operands, earlier nodes)

      def read(slot, i=i, reads=reads):
        return jax.lax.switch(jnp.clip(genome.inputs[i, slot], 0, len(reads) - 1), reads)

      def live(i=i, read=read):
        # the edge decays scale the inputs inside the op's branch (fused with the op: no pass of their own)
        fx, fy = (None, None) if factors is None else (factors[i, 0], factors[i, 1])

        def binary(x):  # only binary nodes read their second input
          return jax.lax.switch(jnp.clip(genome.binary[i], 0, n_binary - 1),
                                [lambda x, y, j=j: op(n_unary + j, i)(scaled(x, fx), scaled(y, fy), None)
                                 for j in range(n_binary)], x, read(1))

        branch = jnp.where(genome.kind[i] == UNARY, jnp.clip(genome.unary[i], 0, n_unary - 1), n_unary)
        n = None if nodes[i] is None else tuple(map(take, nodes[i]))  # read inside the stateful ops' branches only
        return jax.lax.switch(branch, [lambda x, j=j: op(j, i)(scaled(x, fx), None, n) for j in range(n_unary)]
                              + [binary], read(0))

      out = jax.lax.cond(active[i], live, zeros)  # a dead node's output is never read
      hidden.append(out)
      if nodes[i] is None:
        new_nodes.append(None)
      else:  # a cond whose only operand is the buffer: XLA leaves it in place when the op is not stateful
        def update(n, i=i, out=out):
          if member is None:
            return node_state(op_index[i], out, n)
          return tuple(nl.at[member].set(s) for nl, s in zip(n, node_state(op_index[i], out, tuple(map(take, n)))))

        new_nodes.append(jax.lax.cond(active[i] & jnp.asarray(stateful_op)[op_index[i]], update, lambda n: n,
                                      nodes[i]))
    return hidden[-1], (None if new_nodes[0] is None else tuple(new_nodes))

  def run_select(genome, g, w, env, nodes, factors, seed_key, count):
    operands, op, node_state, op_index = setup(genome, g, w, env, seed_key, count)
    active, _ = _usage(genome, spec)
    computed = [f() for f in operands]
    # per leaf: every vertex stacked (operands, then the nodes); a fori_loop keeps one copy of the node code
    vertices = tuple(jnp.stack([o[leaf] for o in computed] + [jnp.zeros_like(x)] * n_nodes) for leaf, x in enumerate(g))
    stacked = None if nodes is None else tuple(jnp.stack([n[leaf] for n in nodes]) for leaf in range(len(g)))

    def node(i, carry):
      def live(vertices, stacked):
        x, y = (scaled(tuple(v[genome.inputs[i, s]] for v in vertices), None if factors is None else factors[i, s])
                for s in (0, 1))
        n = None if stacked is None else tuple(ns[i] for ns in stacked)
        outs = [op(j, i)(x, y, n) for j in range(n_ops)]
        which = jnp.clip(op_index[i], 0, n_ops - 1)
        out = tuple(jax.lax.select_n(which, *[o[leaf] for o in outs]) for leaf in range(len(g)))
        vertices = tuple(v.at[n_op + i].set(o) for v, o in zip(vertices, out))
        if stacked is not None:
          stacked = tuple(ns.at[i].set(s) for ns, s in zip(stacked, node_state(op_index[i], out, n)))
        return vertices, stacked

      return jax.lax.cond(active[i], live, lambda *c: c, *carry)  # skips dead nodes (unbatched genomes)

    vertices, stacked = jax.lax.fori_loop(0, n_nodes, node, (vertices, stacked))
    new_nodes = None if stacked is None else tuple(tuple(ns[i] for ns in stacked) for i in range(n_nodes))
    return tuple(v[-1] for v in vertices), new_nodes

  if strategy == "select":
    return run_select
  return _members_one_by_one(run_switch)


def _members_one_by_one(run: Callable) -> Callable:
  """``run`` (the switch runner) whose ``jax.vmap`` over genomes is a loop over the members, each running only its
  own branches, instead of the default batching of ``lax.switch``, which computes every branch of every switch.
  The loop reads a member's buffers where its graph uses them and updates its node buffers in place (slicing every
  member's whole state in and out costs more than its update on small models). A vmap that leaves the genome
  unbatched (seeds, learning rates) is vectorised as usual: its switches stay switches. Differentiation goes
  through ``run`` itself (``custom_vmap`` alone has no JVP rule)."""
  run_v = jax.custom_batching.custom_vmap(run)

  @run_v.def_vmap
  def rule(axis_size, in_batched, *args):
    if not any(jax.tree.leaves(in_batched[0])):
      out = jax.vmap(run, in_axes=tuple(jax.tree.map(lambda b: 0 if b else None, in_batched)))(*args)
      return out, jax.tree.map(lambda _: True, out)
    spread = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))  # noqa: E731
    genome, g, w, env, nodes, factors, seed_key, count, _ = (  # the last one: member=None
        jax.tree.map(spread, a, b) for a, b in zip(args, in_batched))

    def member(m, carry):
      roots, nodes = carry
      row = lambda tree: jax.tree.map(lambda x: x[m], tree)  # noqa: E731
      root, nodes = run(row(genome), row(g), w, env, nodes, row(factors), row(seed_key), row(count), member=m)
      return tuple(r.at[m].set(x) for r, x in zip(roots, root)), nodes

    roots = tuple(jnp.zeros_like(x) for x in g)
    out = jax.lax.fori_loop(0, axis_size, member, (roots, nodes))
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
    strategy: ``"switch"`` (default; only the genome's own ops run, also under ``vmap`` over genomes) or
      ``"select"`` (every op computed and one selected: vectorised populations on GPU/TPU); see the module
      docstring. Both compute the same updates. The updates are differentiable (meta-learning through training);
      with ``"select"`` a singular op that is computed but not selected (e.g. ``sqrt|x|`` at 0) makes the
      gradient NaN, so differentiate with ``"switch"``.

  Returns:
    An ``optax.GradientTransformation`` whose state is a :class:`GenomeState`; non-finite updates are not hidden
    and set ``is_finite(state)`` to False.
  """
  if strategy not in STRATEGIES:
    raise ValueError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
  if is_concrete(genome):
    validate_genome(genome, spec)
  genome = Genome(*(jnp.asarray(x, jnp.int32) for x in genome))
  lr_fn, m_fn = _as_schedule(learning_rate), _as_schedule(momentum)
  buffers = spec.used_buffers
  n_nodes = spec.num_nodes

  def init_fn(params):
    zeros = lambda: optax.tree.zeros_like(params)  # noqa: E731
    return GenomeState(
        count=jnp.zeros([], jnp.int32),
        buffers={b.name: zeros() for b in buffers},
        nodes=tuple(zeros() for _ in range(n_nodes)) if spec.stateful else None,
        momentum=zeros() if spec.has_momentum else None,
        finite=jnp.ones([], bool),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("An interpreted genome needs params (operands such as 1e-4·w read the weights).")
    count = state.count
    g, treedef = jax.tree.flatten(updates)
    g = tuple(g)
    leaves = lambda tree: tuple(treedef.flatten_up_to(tree))  # noqa: E731
    dtype = jnp.result_type(*g)
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
    # A buffer that no active operand reads is left as it is: a lax.cond whose only operand is the buffer, with the
    # identity as the false branch, is done in place by XLA:CPU (with the identity as the true branch, or with the
    # old value still read afterwards, XLA copies the buffer every step). The same holds for every cond below.
    _, operand_used = _usage(genome, spec)
    prev = {b.name: leaves(state.buffers[b.name]) for b in buffers}
    new = {}
    for b in buffers:
      ema = ops.compile_expr(b.expr, "g, prev")
      used = jnp.any(operand_used[np.asarray([b.name in o.buffers for o in spec.operands])])
      new[b.name] = jax.lax.cond(used, lambda p, ema=ema: tuple(ema(gl, pl) for gl, pl in zip(g, p)), lambda p: p,
                                 prev[b.name])
    values = {**new, **{f"{name}_prev": x for name, x in prev.items()}}
    env = tuple(zip(*(values[name] for name in _env_names(spec)))) if buffers else ((),) * len(g)
    nodes = None if state.nodes is None else tuple(leaves(n) for n in state.nodes)
    root, nodes = _graph_runner(spec, strategy)(genome, g, leaves(params), env, nodes, factors,
                                                jax.random.PRNGKey(seed), count)
    sign = jnp.where(genome.flip == 1, 1.0, -1.0).astype(dtype)
    update = tuple(sign * lr_t * r for r in root)
    mom = state.momentum
    if mom is not None:  # the types are cheap elementwise expressions: all computed, one selected (fused)
      m, which = m_fn(count), jnp.clip(genome.momentum, 0, len(spec.momentum_types) - 1)
      mom_fns = [ops.compile_expr(t.mom, "mom, m, d") for t in spec.momentum_types]
      update_fns = [ops.compile_expr(t.update, "mom, m, d, new") for t in spec.momentum_types]

      def new_momentum(mom, update):
        return tuple(jax.lax.select_n(which, *[f(ml, m, dl) for f in mom_fns]) for ml, dl in zip(mom, update))

      none = [i for i, t in enumerate(spec.momentum_types) if t.name == "none"]
      # without momentum the buffer stays as it is (a cond whose only operand is the buffer: in place, no pass)
      prev_mom = leaves(mom)
      mom = (jax.lax.cond(which != none[0], new_momentum, lambda mom, _: mom, prev_mom, update) if none
             else new_momentum(prev_mom, update))
      update = tuple(jax.lax.select_n(which, *[f(pl, m, dl, nl) for f in update_fns])
                     for pl, dl, nl in zip(prev_mom, update, mom))
      mom = treedef.unflatten(mom)
    new_state = GenomeState(
        count=optax.safe_increment(count),
        buffers={name: treedef.unflatten(x) for name, x in new.items()},
        nodes=None if nodes is None else tuple(treedef.unflatten(n) for n in nodes),
        momentum=mom,
        finite=state.finite & functools.reduce(jnp.logical_and, [jnp.all(jnp.isfinite(u)) for u in update], True),
    )
    return treedef.unflatten([u.astype(x.dtype) for u, x in zip(update, g)]), new_state

  return optax.GradientTransformation(init_fn, update_fn)
