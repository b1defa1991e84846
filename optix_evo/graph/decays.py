"""Decay functions and learning-rate schedules of the NOS space, all scalar functions of the step ``t`` of ``T``.

Decay graphs (one hidden node and a root over the decay operands ``a1`` .. ``a14``) multiply edges of the update
graph; the genome's schedule multiplies the learning rate; :func:`nos_learning_rate` and :func:`nos_momentum` are
the base schedules every NOS run uses.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; ``NeuralOptimizerSearch.py`` and ``finalOptimizers.py`` of the authors'
  code, https://github.com/OUStudent/NeuralOptimizerSearch
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from optix_evo.errors import InputError
from optix_evo.graph import ops
from optix_evo.graph.genome import UNARY, Genome
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def _pick(values: list[jax.Array], index: jax.Array) -> jax.Array:
  """``values[index]`` elementwise, as a chain of selects: unlike a gather it fuses with the ops that compute the
  values (one small kernel for all of a step's decays, which keeps compilation cheap)."""
  one_hot = jnp.asarray(index)[..., None] == jnp.arange(len(values))  # one compare (a genome's indices are loop
  out = values[0]                                                      # invariants: XLA hoists what depends on them)
  for k, v in enumerate(values[1:], start=1):
    out = jnp.where(one_hot[..., k], v, out)
  return out


def decay_factor(dg: tuple, t: jax.Array, total: float | jax.Array, spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """Value of decay graphs ``dg = (kind[..., 2], unary[..., 2], binary[..., 2], inputs[..., 2, 2])`` at step ``t``
  of ``total``, for any number of edges (leading axes; the result has their shape).

  Every candidate op is computed on the scalars and the chosen one selected: the same work for every edge, and
  elementwise throughout, so XLA fuses a step's decays into a few kernels.

  Args:
    dg: the decay fields of the edges, ``(genome.decay_kind, genome.decay_unary, genome.decay_binary,
      genome.decay_inputs)`` or a slice of them (``[..., 2]``, ``[..., 2]``, ``[..., 2]``, ``[..., 2, 2]``).
    t: the step (from 0), a float scalar (may be traced).
    total: the horizon ``T``.
    spec: the search space of the indices.

  Returns:
    The decay values, one per edge (shape ``dg[0].shape[:-1]``); whether an edge has a decay at all
    (``decay_on``) is not read.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> g = ox.graph.known("powersign_ld")  # node h1's input 0 decays linearly: a1 = 1 - t/T
    >>> edge = (g.decay_kind[1, 0], g.decay_unary[1, 0], g.decay_binary[1, 0], g.decay_inputs[1, 0])
    >>> print(ox.graph.decay_factor(edge, jnp.array(25.0), 100.0))
    0.75
  """
  kind, un, bi, inp = (jnp.asarray(x) for x in dg)
  leaves = [ops.compile_expr(d.expr, "t, T")(t, total) for d in spec.decay_operands]
  dtype = jnp.result_type(*leaves)
  leaves = [jnp.asarray(v, dtype) for v in leaves]
  unary_fns = [ops.compile_expr(op.expr, "x") for op in spec.decay_unary]
  binary_fns = [ops.compile_expr(op.expr, "x, y") for op in spec.decay_binary]

  def node(n: int, vertices: list[jax.Array]) -> jax.Array:  # node 0: the decay hidden node, node 1: the root
    x, y = _pick(vertices, inp[..., n, 0]), _pick(vertices, inp[..., n, 1])
    unary = _pick([jnp.asarray(f(x), dtype) for f in unary_fns], un[..., n])
    binary = _pick([jnp.asarray(f(x, y), dtype) for f in binary_fns], bi[..., n])
    return jnp.where(kind[..., n] == UNARY, unary, binary)

  hidden = node(0, leaves)
  return node(1, leaves + [hidden])  # the root reads the decay operands and the hidden node (vertex n_d)


def _decay_env(t: jax.Array, total: jax.Array, spec: GenomeSpec) -> dict[str, jax.Array]:
  return {d.name: ops.compile_expr(d.expr, "t, T")(t, total) for d in spec.decay_operands}


def schedule_value(schedule: ops.Schedule, t: jax.Array, total: float | jax.Array,
                   spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """The learning-rate multiplier ``f(t/T)`` of one schedule entry at step ``t`` of ``total`` (in ``t``'s dtype).

  Args:
    schedule: an entry of ``spec.schedules``.
    t: the step (from 0), a float (may be traced).
    total: the horizon ``T``.
    spec: the space whose decay operands the schedule may read.

  Returns:
    The multiplier at ``t``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> spec = ox.graph.DEFAULT_SPEC
    >>> nos_lr0 = spec.schedules[spec.index("schedules", "nos_lr0")]
    >>> print(ox.graph.schedule_value(nos_lr0, jnp.array(50.0), 100.0))
    0.4977
  """
  env = _decay_env(t, total, spec)
  return ops.compile_expr(schedule.expr, ", ".join(["t", "T", *env]))(t, total, *env.values())


def schedule_factor(index: jax.Array, t: jax.Array, total: float | jax.Array,
                    spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """The learning-rate multiplier of schedule ``index`` at step ``t`` of ``total`` (all computed, one indexed).

  Args:
    index: the index into ``spec.schedules`` (e.g. ``genome.schedule``; may be traced).
    t: the step (from 0), a float (may be traced).
    total: the horizon ``T``.
    spec: the search space.

  Returns:
    The multiplier of the chosen schedule at ``t``, as :func:`schedule_value` of that entry.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> print(ox.graph.schedule_factor(0, jnp.array(50.0), 100.0))  # schedule 0 is "constant"
    1.0
  """
  values = [schedule_value(s, t, total, spec) for s in spec.schedules]
  dtype = jnp.result_type(*values)
  return _pick([jnp.asarray(v, dtype) for v in values], index)


def step_factors(genome: Genome, count: jax.Array, total: float | jax.Array,
                 spec: GenomeSpec = DEFAULT_SPEC) -> tuple[jax.Array, jax.Array]:
  """What a genome's decays and schedule contribute at step ``count`` of a run of ``total`` steps: the factor of every
  input edge ``[N, 2]`` (1 where the edge has no decay) and the learning-rate multiplier of its schedule. Steps past
  ``total`` reuse step ``total - 1``. Any argument may be traced or batched (``jax.vmap``).

  Args:
    genome: one genome (a population under ``jax.vmap``).
    count: the step count (from 0).
    total: the horizon ``T``.
    spec: the search space.

  Returns:
    ``(edge_factors, lr_multiplier)``: ``[N, 2]`` and a scalar, in the default float dtype.

  Examples:
    >>> import jax
    >>> import optix_evo as ox
    >>> factors, lr = jax.eval_shape(lambda: ox.graph.step_factors(ox.graph.known("powersign_ld"), 50, 100))
    >>> print(factors.shape, lr.shape)
    (6, 2) ()
  """
  real = jnp.result_type(float)  # float64 when x64 is on
  total = jnp.asarray(total, real)
  t = jnp.minimum(jnp.asarray(count, real), total - 1)
  values = decay_factor((genome.decay_kind, genome.decay_unary, genome.decay_binary, genome.decay_inputs), t, total,
                        spec)
  return jnp.where(jnp.asarray(genome.decay_on) == 1, values, 1.0), schedule_factor(genome.schedule, t, total, spec)


_DECAY_CURVES: dict = {}


def _decay_curve_fn(spec: GenomeSpec):
  """Jitted ``(decay_kind, decay_unary, decay_binary, decay_inputs) of one edge -> values at t = 0..T-1``."""
  if spec not in _DECAY_CURVES:
    steps = spec.decay_check_steps
    _DECAY_CURVES[spec] = jax.jit(lambda *dg: decay_factor(dg, jnp.arange(steps, dtype=jnp.float32), float(steps), spec))
  return _DECAY_CURVES[spec]


def decay_values(genome: Genome, node: int, slot: int, spec: GenomeSpec = DEFAULT_SPEC) -> np.ndarray:
  """Values of the decay graph on edge ``(node, slot)`` at ``t = 0..T-1``, ``T = spec.decay_check_steps``.

  Args:
    genome: one genome.
    node: the node whose input edge is read (0 .. ``spec.num_hidden``; the root is the last).
    slot: the input slot, 0 or 1.
    spec: the search space.

  Returns:
    A float32 NumPy array of ``spec.decay_check_steps`` values (computed whether or not ``decay_on`` is set).

  Examples:
    >>> import optix_evo as ox
    >>> values = ox.graph.decay_values(ox.graph.known("powersign_ld"), 1, 0)  # a1 = 1 - t/T, T = 100
    >>> print(values.shape, values[:3])
    (100,) [1.   0.99 0.98]
  """
  g = genome
  return np.asarray(_decay_curve_fn(spec)(g.decay_kind[node][slot], g.decay_unary[node][slot],
                                          g.decay_binary[node][slot], g.decay_inputs[node][slot]))


def decay_in_range(genome: Genome, i: int, s: int, spec: GenomeSpec = DEFAULT_SPEC) -> bool:
  """Whether the decay graph on edge ``(i, s)`` stays finite and in [0, 1] over ``spec.decay_check_steps`` steps."""
  vals = decay_values(genome, i, s, spec)
  return bool(np.all(np.isfinite(vals)) and np.all(vals >= 0) and np.all(vals <= 1))


def _check_phases(total_steps, warmup_steps, hold_steps) -> None:
  """Python-int phase lengths must fit in the run (traced values are not checked)."""
  values = (total_steps, warmup_steps, hold_steps)
  if not all(isinstance(v, (int, np.integer)) for v in values):
    return
  if total_steps < 1 or warmup_steps < 0 or hold_steps < 0 or warmup_steps + hold_steps > total_steps:
    raise InputError(f"Schedule phases must satisfy warmup_steps, hold_steps >= 0 and warmup_steps + hold_steps <= "
                     f"total_steps >= 1, got total_steps={total_steps}, warmup_steps={warmup_steps}, "
                     f"hold_steps={hold_steps}.")


def _steps(count: jax.Array) -> jax.Array:
  """The step count as a float of the default float dtype (float64 when x64 is on)."""
  return jnp.asarray(count, jnp.result_type(float))


def nos_learning_rate(peak: float | jax.Array, total_steps: int | jax.Array, warmup_steps: int | jax.Array,
                      hold_steps: int | jax.Array = 0):
  """The NOS base schedule, the authors' ``lr_warmup_cosine_decay`` (``NeuralOptimizerSearch.py``,
  ``finalOptimizers.py``; Morgan & Hougen 2024): with ``T, W, H`` = total, warmup and hold steps,

  ``η(t) = peak·t/W`` for ``t < W``; ``peak`` for ``W ≤ t ≤ W + H``; ``peak/2·(1 + cos(π(t - W - H)/(T - W - H)))``
  after, reaching 0 at ``t = T`` and staying there. The search runs ``H = 0``; the final runs ``W = T/15``,
  ``H = 2T/15`` (:func:`optix_evo.schedules.warmup_hold_cosine_schedule`). Computed in the default float dtype
  (float64 when x64 is on). Every argument may be traced (the search's budgets are data).

  .. math::
    \\eta(t) = \\begin{cases} \\eta_{\\max}\\, t / W & t < W \\\\
    \\eta_{\\max} & W \\le t \\le W + H \\\\
    \\tfrac{\\eta_{\\max}}{2}\\left(1 + \\cos\\frac{\\pi (t - W - H)}{T - W - H}\\right) & t > W + H
    \\end{cases}

  Args:
    peak: the peak learning rate.
    total_steps: ``T``.
    warmup_steps: ``W``.
    hold_steps: ``H``.

  Returns:
    An optax schedule ``count -> learning rate``.

  Raises:
    InputError: when Python-int phases do not fit (``W + H > T``, a negative phase, ``T < 1``).

  Examples:
    >>> import optix_evo as ox
    >>> schedule = ox.graph.nos_learning_rate(1.0, total_steps=100, warmup_steps=10)
    >>> print([round(float(schedule(t)), 3) for t in (0, 5, 10, 55, 100)])
    [0.0, 0.5, 1.0, 0.5, 0.0]
  """
  _check_phases(total_steps, warmup_steps, hold_steps)

  def schedule(count):
    t = jnp.minimum(_steps(count), total_steps)
    warm = peak * t / jnp.maximum(warmup_steps, 1)
    decay_len = jnp.maximum(total_steps - warmup_steps - hold_steps, 1)
    cos = 0.5 * peak * (1 + jnp.cos(jnp.pi * (t - warmup_steps - hold_steps) / decay_len))
    return jnp.where(t < warmup_steps, warm, jnp.where(t <= warmup_steps + hold_steps, peak, cos))

  return schedule


def nos_momentum(total_steps: int | jax.Array, warmup_steps: int | jax.Array, hold_steps: int | jax.Array = 0,
                 high: float = 0.95, low: float = 0.85):
  """The NOS momentum schedule as both of the authors' files build it, ``np.concatenate((np.linspace(high, low, W),
  np.linspace(low, low, H), np.linspace(low, high, T - W - H)))`` indexed by the step (endpoints included: ``low``
  at ``t = W - 1``, ``high`` at ``t = T - 1``); steps past ``T - 1`` keep the last value. Computed in the default
  float dtype (float64 when x64 is on). Every argument may be traced.

  Args:
    total_steps: ``T``.
    warmup_steps: ``W``, the steps going from ``high`` down to ``low``.
    hold_steps: ``H``, the steps held at ``low``.
    high: the momentum at the start and at the end.
    low: the momentum between the phases.

  Returns:
    An optax schedule ``count -> momentum``.

  Raises:
    InputError: when Python-int phases do not fit (``W + H > T``, a negative phase, ``T < 1``).

  Examples:
    >>> import optix_evo as ox
    >>> schedule = ox.graph.nos_momentum(total_steps=100, warmup_steps=10)
    >>> print([round(float(schedule(t)), 3) for t in (0, 9, 99)])
    [0.95, 0.85, 0.95]
  """
  _check_phases(total_steps, warmup_steps, hold_steps)

  def schedule(count):
    t = jnp.minimum(_steps(count), total_steps - 1)
    down = high + (low - high) * t / jnp.maximum(warmup_steps - 1, 1)
    rest = jnp.maximum(total_steps - warmup_steps - hold_steps - 1, 1)
    up = low + (high - low) * (t - warmup_steps - hold_steps) / rest
    return jnp.where(t < warmup_steps, down, jnp.where(t < warmup_steps + hold_steps, low, up))

  return schedule
