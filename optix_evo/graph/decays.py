"""Decay functions and learning-rate schedules of the NOS space, all scalar functions of the step ``t`` of ``T``.

Decay graphs (one hidden node and a root over the decay operands ``a1`` .. ``a14``) multiply edges of the update
graph; the genome's schedule multiplies the learning rate; :func:`nos_learning_rate` and :func:`nos_momentum` are
the base schedules every NOS run uses (Morgan & Hougen 2024; the authors' ``NeuralOptimizerSearch.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from optix_evo.errors import InputError
from optix_evo.graph import ops
from optix_evo.graph.genome import UNARY, Genome
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec


def decay_factor(dg: tuple, t: jax.Array, total: float | jax.Array, spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """Value of one edge's decay graph ``dg = (kind[2], unary[2], binary[2], inputs[2, 2])`` at step ``t`` of ``total``.

  Scalars only, so every candidate op is computed and the chosen one is indexed (cheap, and the same under vmap;
  the two nodes are unrolled: a loop would cost more per step than these scalar ops).
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

  return node(1, node(0, vertices))[n_d]


def _decay_env(t: jax.Array, total: jax.Array, spec: GenomeSpec) -> dict[str, jax.Array]:
  return {d.name: ops.compile_expr(d.expr, "t, T")(t, total) for d in spec.decay_operands}


def schedule_value(schedule: ops.Schedule, t: jax.Array, total: float | jax.Array,
                   spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """The learning-rate multiplier ``f(t/T)`` of one schedule entry at step ``t`` of ``total`` (in ``t``'s dtype)."""
  env = _decay_env(t, total, spec)
  return ops.compile_expr(schedule.expr, ", ".join(["t", "T", *env]))(t, total, *env.values())


def schedule_factor(index: jax.Array, t: jax.Array, total: float | jax.Array,
                    spec: GenomeSpec = DEFAULT_SPEC) -> jax.Array:
  """The learning-rate multiplier of schedule ``index`` at step ``t`` of ``total`` (all computed, one indexed)."""
  values = [schedule_value(s, t, total, spec) for s in spec.schedules]
  dtype = jnp.result_type(*values)
  return jnp.stack([jnp.asarray(v, dtype) for v in values])[index]


_DECAY_CURVES: dict = {}


def _decay_curve_fn(spec: GenomeSpec):
  """Jitted ``(decay_kind, decay_unary, decay_binary, decay_inputs) of one edge -> values at t = 0..T-1``."""
  if spec not in _DECAY_CURVES:
    steps = spec.decay_check_steps
    _DECAY_CURVES[spec] = jax.jit(lambda *dg: jax.vmap(lambda t: decay_factor(dg, t, float(steps), spec))(
        jnp.arange(steps, dtype=jnp.float32)))
  return _DECAY_CURVES[spec]


def decay_values(genome: Genome, node: int, slot: int, spec: GenomeSpec = DEFAULT_SPEC) -> np.ndarray:
  """Values of the decay graph on edge ``(node, slot)`` at ``t = 0..T-1``, ``T = spec.decay_check_steps``."""
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


def nos_learning_rate(peak: float | jax.Array, total_steps: int, warmup_steps: int, hold_steps: int = 0):
  """The NOS base schedule, the authors' ``lr_warmup_cosine_decay`` (``NeuralOptimizerSearch.py``,
  ``finalOptimizers.py``; Morgan & Hougen 2024): with ``T, W, H`` = total, warmup and hold steps,

  ``η(t) = peak·t/W`` for ``t < W``; ``peak`` for ``W ≤ t ≤ W + H``; ``peak/2·(1 + cos(π(t - W - H)/(T - W - H)))``
  after, reaching 0 at ``t = T`` and staying there. The search runs ``H = 0``; the final runs ``W = T/15``,
  ``H = 2T/15`` (:func:`optix_evo.schedules.warmup_hold_cosine_schedule`). Computed in the default float dtype
  (float64 when x64 is on).
  """
  _check_phases(total_steps, warmup_steps, hold_steps)

  def schedule(count):
    t = jnp.minimum(_steps(count), total_steps)
    warm = peak * t / max(warmup_steps, 1)
    decay_len = max(total_steps - warmup_steps - hold_steps, 1)
    cos = 0.5 * peak * (1 + jnp.cos(jnp.pi * (t - warmup_steps - hold_steps) / decay_len))
    return jnp.where(t < warmup_steps, warm, jnp.where(t <= warmup_steps + hold_steps, peak, cos))

  return schedule


def nos_momentum(total_steps: int, warmup_steps: int, hold_steps: int = 0, high: float = 0.95, low: float = 0.85):
  """The NOS momentum schedule as both of the authors' files build it, ``np.concatenate((np.linspace(high, low, W),
  np.linspace(low, low, H), np.linspace(low, high, T - W - H)))`` indexed by the step (endpoints included: ``low``
  at ``t = W - 1``, ``high`` at ``t = T - 1``); steps past ``T - 1`` keep the last value. Computed in the default
  float dtype (float64 when x64 is on).
  """
  _check_phases(total_steps, warmup_steps, hold_steps)

  def schedule(count):
    t = jnp.minimum(_steps(count), total_steps - 1)
    down = high + (low - high) * t / max(warmup_steps - 1, 1)
    up = low + (high - low) * (t - warmup_steps - hold_steps) / max(total_steps - warmup_steps - hold_steps - 1, 1)
    return jnp.where(t < warmup_steps, down, jnp.where(t < warmup_steps + hold_steps, low, up))

  return schedule
