"""Genomes as equations (text or LaTeX) and as standalone optax code.

Both read the op tables (``ops.py``): the templates for the equations, the expressions for the code, so the printed
optimizer and the generated one are the interpreter's optimizer. Dead nodes are never printed.
"""

from __future__ import annotations

import ast

import numpy as np

from optix_evo.graph import ops
from optix_evo.graph.analysis import active_nodes
from optix_evo.graph.canonical import canonical, canonical_hash
from optix_evo.graph.genome import BINARY, UNARY, Genome, arity
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def _decay_expr(g: Genome, i: int, s: int, spec: GenomeSpec, latex: bool, node: int = 1) -> str:
  n_d = len(spec.decay_operands)
  args = []
  for a in range(arity(g.decay_kind[i, s, node])):
    v = int(g.decay_inputs[i, s, node, a])
    if v < n_d:
      name = spec.decay_operands[v].text
      args.append(f"a_{{{name[1:]}}}" if latex and name.startswith("a") else name)
    else:
      args.append(_decay_expr(g, i, s, spec, latex, node=0))
  table = spec.decay_unary if g.decay_kind[i, s, node] == UNARY else spec.decay_binary
  op = table[g.decay_unary[i, s, node] if g.decay_kind[i, s, node] == UNARY else g.decay_binary[i, s, node]]
  return (op.latex if latex else op.text).format(*args)


def _node_expr(g: Genome, i: int, spec: GenomeSpec, latex: bool) -> str:
  args = []
  for s in range(arity(g.kind[i])):
    v = int(g.inputs[i, s])
    x = (spec.operands[v].latex if latex else spec.operands[v].text) if v < spec.num_operands else _node_expr(
        g, v - spec.num_operands, spec, latex)
    if g.decay_on[i, s]:
      d = _decay_expr(g, i, s, spec, latex)
      x = rf"\left[{d}\right]{x}" if latex else f"[{d}]·{x}"
    args.append(x)
  op = spec.unary[g.unary[i]] if g.kind[i] == UNARY else spec.binary[g.binary[i]]
  return (op.latex if latex else op.text).format(*args)


def render(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC, *, latex: bool = False) -> str:
  """The optimizer as equations: ``u = ...`` (dead nodes pruned, decays shown as ``[d(t)]·x``), the parameter
  step of its momentum type and, if any, its learning-rate schedule. ``latex=True`` gives LaTeX lines.

  Args:
    genome: one genome.
    spec: the search space of its indices.
    latex: LaTeX instead of text.

  Returns:
    The lines, joined by newlines: the update, the parameter step, the schedule if any and (text) the decay
    operands used.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.graph.render(ox.graph.known("powersign_ld")))
    u = (exp([a1]·(sign(g) * sign(v̂))) * g)
    w ← w - η_t·u
    where t/T is training progress: a1 = 1 - t / T
    >>> print(ox.graph.render(ox.graph.known("adam"), latex=True))
    u_t = \\mathrm{adam}
    w \\leftarrow w - \\eta_t\\,u
  """
  g = canonical(genome, spec)
  u = _node_expr(g, spec.num_hidden, spec, latex)
  mt = spec.momentum_types[int(g.momentum)]
  sched = spec.schedules[int(g.schedule)]
  step = mt.text.replace("- η_t·u", "+ η_t·u") if g.flip else mt.text
  if latex:
    lines = [f"u_t = {u}", step.replace("η_t", r"\eta_t").replace("·", r"\,").replace("←", r"\leftarrow")]
    if sched.name != "constant":
      lines.append(rf"\eta_t = \eta(t)\cdot {sched.latex}")
    return "\n".join(lines)
  lines = [f"u = {u}", step]
  if sched.name != "constant":
    lines.append(f"η_t = η(t) · {sched.text}   ({sched.name})")
  decays = sorted({o.name for o in spec.decay_operands if o.name in "\n".join(lines).replace("(", " ").replace(")", " ")
                   .replace(",", " ").replace("[", " ").replace("]", " ").split()}, key=lambda n: int(n[1:]))
  if decays:
    table = {o.name: o.expr for o in spec.decay_operands}
    lines.append("where t/T is training progress: " + "; ".join(f"{n} = {table[n]}" for n in decays))
  return "\n".join(lines)


def _names(expr: str) -> set[str]:
  return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def _func(name: str, expr: str, order: tuple[str, ...]) -> tuple[str, list[str]]:
  params = [a for a in order if a in _names(expr)]
  return f"def {name}({', '.join(params)}):\n  return {expr}\n", params


def _ident(prefix: str, name: str) -> str:
  return prefix + "".join(c if c.isalnum() else "_" for c in name)


def to_python(genome: Genome, spec: GenomeSpec = DEFAULT_SPEC, *, name: str = "evolved") -> str:
  """Standalone Python source defining ``<name>(learning_rate, total_steps=None, momentum=0.9, seed=0)``, an optax
  optimizer equal to ``interpret(genome, ...)`` without importing optix_evo. When the genome has a learning-rate
  schedule or decays, they run over the training horizon, so ``total_steps`` is required:
  ``<name>(learning_rate, total_steps, momentum=0.9, seed=0)``, and a call without it (or with ``None``) raises
  ``TypeError`` / ``ValueError`` instead of silently training without them (dropout ops draw per-tensor masks from
  a key per node, as the interpreter does, but the code is written from the canonical genome, whose node numbering
  can differ: random masks may then differ; everything else is the same maths).

  Args:
    genome: one genome.
    spec: the search space of its indices.
    name: the name of the generated function.

  Returns:
    The module's source text (imports ``jax``, ``jax.numpy`` and ``optax`` only).

  Examples:
    >>> import optix_evo as ox
    >>> source = ox.graph.to_python(ox.graph.known("sgd"), name="my_sgd")
    >>> print([line for line in source.splitlines() if line.startswith("def my_sgd")])
    ['def my_sgd(learning_rate, total_steps=None, momentum=0.9, seed=0):']
    >>> namespace = {}
    >>> exec(source, namespace)
    >>> print(type(namespace["my_sgd"](0.1)).__name__)
    GradientTransformation
    >>> scheduled = ox.graph.to_python(ox.graph.known("nos_opt4"), name="opt4")  # a genome with a schedule
    >>> print([line for line in scheduled.splitlines() if line.startswith("def opt4")])
    ['def opt4(learning_rate, total_steps, momentum=0.9, seed=0):']
    >>> exec(scheduled, namespace)
    >>> namespace["opt4"](0.1, None)
    Traceback (most recent call last):
      ...
    ValueError: opt4 has an evolved learning-rate schedule or decays over the training horizon: pass total_steps ...
  """
  g = canonical(genome, spec)
  act = active_nodes(g, spec)
  n_op, h = spec.num_operands, spec.num_hidden
  funcs: dict[str, str] = {}
  calls: dict[str, list[str]] = {}

  def use(kind: str, op: ops.Op, binary: bool) -> str:
    fname = _ident(f"{kind}_", op.name)
    if fname not in funcs:
      order = ("x", "y") if binary else ("x", "n", "k", "key", "tsum")
      funcs[fname], calls[fname] = _func(fname, op.expr, order)
      if op.state is not None:
        funcs[fname + "_state"], calls[fname + "_state"] = _func(fname + "_state", op.state, ("out", "n", "k"))
    return fname

  def call(fname: str, env: dict[str, str]) -> str:
    return f"{fname}({', '.join(env[p] for p in calls[fname])})"

  # decays (scalar statements, computed once per step)
  decay_lines: list[str] = []
  n_d = len(spec.decay_operands)
  for i in range(spec.num_nodes):
    for s in range(arity(g.kind[i]) if act[i] else 0):
      if not g.decay_on[i, s]:
        continue
      env_vals = []
      for node in (0, 1):
        if node == 0 and not any(g.decay_inputs[i, s, 1, a] == n_d for a in range(arity(g.decay_kind[i, s, 1]))):
          continue
        binary = g.decay_kind[i, s, node] == BINARY
        op = spec.decay_binary[g.decay_binary[i, s, node]] if binary else spec.decay_unary[g.decay_unary[i, s, node]]
        fname = use("decay", op, binary)
        args = [spec.decay_operands[v].name if v < n_d else f"decay_{i}_{s}_h"
                for v in g.decay_inputs[i, s, node, :2 if binary else 1]]
        env = {"x": args[0], "y": args[-1]}
        target = f"decay_{i}_{s}" + ("_h" if node == 0 else "")
        env_vals.append(f"    {target} = {call(fname, env)}")
      decay_lines += env_vals

  # the update graph, per parameter tensor
  used = np.zeros(n_op, bool)
  body: list[str] = []
  stateful: list[int] = []
  for i in range(spec.num_nodes):
    if not act[i]:
      continue
    binary = g.kind[i] == BINARY
    args = []
    for s in range(2 if binary else 1):
      v = int(g.inputs[i, s])
      if v < n_op:
        used[v] = True
        x = _ident("o_", spec.operands[v].name)
      else:
        x = f"h{v - n_op}"
      if g.decay_on[i, s]:
        x = f"{x} * decay_{i}_{s}"
      args.append(x)
    op = spec.binary[g.binary[i]] if binary else spec.unary[g.unary[i]]
    fname = use("binary" if binary else "unary", op, binary)
    target = "u" if i == h else f"h{i}"
    env = {"x": args[0], "y": args[-1], "n": f"n{i}_prev", "k": "k", "key": f"jax.random.fold_in(step_key, {i})",
           "out": target, "tsum": "jnp.sum"}
    body.append(f"      {target} = {call(fname, env)}")
    if op.state is not None:
      stateful.append(i)
      body.append(f"      n{i} = {call(fname + '_state', env)}")
  operands = [o for o, u in zip(spec.operands, used) if u]
  bufs = [b for b in spec.buffers if any(b.name in o.buffers for o in operands)]
  mt = spec.momentum_types[int(g.momentum)]
  has_mom = mt.name != "none"
  sched = spec.schedules[int(g.schedule)]
  random = any("step_key" in line for line in body)
  state_names = [b.name for b in bufs] + [f"n{i}" for i in stateful] + (["mom"] if has_mom else [])

  src = [f'"""{name}: an optimizer found by neural optimizer search (optix_evo, genome {canonical_hash(g, spec)}).\n']
  src += ["    " + line for line in render(g, spec).splitlines()]
  src += ['"""', "", "import optax", ops.PRELUDE, ""]
  src += [f for f in funcs.values()]
  horizon = bool(decay_lines) or sched.name != "constant"
  src += [
      "",
      f"def {name}(learning_rate, total_steps{'' if horizon else '=None'}, momentum=0.9, seed=0):",
      f'  """The optimizer as an optax GradientTransformation; total_steps (T) drives its decays and schedule."""',
  ]
  if horizon:
    src += [
        "  if total_steps is None or int(total_steps) < 1:",
        f"    raise ValueError('{name} has an evolved learning-rate schedule or decays over the training horizon: pass '",
        "                     f'total_steps (the number of training steps, >= 1), got {total_steps!r}.')",
    ]
  src += [
      "  lr_fn = learning_rate if callable(learning_rate) else (lambda count: learning_rate)",
      "  m_fn = momentum if callable(momentum) else (lambda count: momentum)",
      "",
      "  def init_fn(params):",
      "    zeros = lambda: jax.tree.map(jnp.zeros_like, params)",
      "    return {'count': jnp.zeros([], jnp.int32)" + "".join(f", {n!r}: zeros()" for n in state_names) + "}",
      "",
      "  def update_fn(updates, state, params=None):",
      "    count = state['count']",
      "    leaves, treedef = jax.tree.flatten(updates)",
      "    dtype = leaves[0].dtype",
      "    k = (count + 1).astype(dtype)",
      "    lr_t = lr_fn(count)",
      "    m = m_fn(count)",
  ]
  if decay_lines or sched.name != "constant":
    src += ["    if total_steps is not None:",
            "      T = jnp.asarray(total_steps, dtype)",
            "      t = jnp.minimum(count.astype(dtype), T - 1)"]
    src += [f"      {d.name} = {d.expr}" for d in spec.decay_operands]
    if sched.name != "constant":
      src.append(f"      lr_t = lr_t * ({sched.expr})")
    src += ["  " + line for line in decay_lines]
    if decay_lines:
      src.append("    else:")
      src += [f"      {line.split('=')[0].strip()} = 1.0" for line in decay_lines if "_h =" not in line]
  if random:
    src.append("    step_key = jax.random.fold_in(jax.random.PRNGKey(seed), count)")
  sign = "1.0" if g.flip else "-1.0"
  src += [
      "",
      "    def leaf(g, w, " + ", ".join(f"{n}_prev" for n in state_names) + "):",
  ]
  src += [f"      {b.name} = {b.expr.replace('prev', f'{b.name}_prev')}" for b in bufs]
  src += [f"      {_ident('o_', o.name)} = jnp.broadcast_to({o.expr}, g.shape).astype(g.dtype)" for o in operands]
  src += body
  src.append(f"      d = {sign} * lr_t * u")
  if has_mom:
    src += [f"      mom = {mt.mom.replace('mom', 'mom_prev')}",
            f"      update = {mt.update.replace('mom', 'mom_prev').replace('new', 'mom')}"]
  else:
    src.append("      update = d")
  src.append("      return (update, " + "".join(f"{n}, " for n in state_names) + ")")
  src += [
      "",
      "    per_leaf = [leaf(g, w, *s) for g, w, *s in zip(leaves, treedef.flatten_up_to(params)"
      + "".join(f", treedef.flatten_up_to(state[{n!r}])" for n in state_names) + ")]",
      "    new_state = {'count': optax.safe_increment(count)"
      + "".join(f", {n!r}: treedef.unflatten([r[{j + 1}] for r in per_leaf])" for j, n in enumerate(state_names)) + "}",
      "    return treedef.unflatten([r[0] for r in per_leaf]), new_state",
      "",
      "  return optax.GradientTransformation(init_fn, update_fn)",
      "",
  ]
  return "\n".join(src)
