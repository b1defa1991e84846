r"""Optimizer telemetry: ``ox.monitor`` records per-step, per-layer statistics of gradients and updates in its state.

What the monitor sees depends on where it sits. It is a wrapper, ``monitor(inner)``: the vector it receives is
the *gradient* :math:`g` (at its position in the chain) and what ``inner`` returns is the *update* :math:`u`.

* ``ox.monitor(optimizer)`` — the whole optimizer wrapped, or the wrapper first in an ``optax.chain``:
  :math:`g` is the raw loss gradient and :math:`u` the update added to the parameters (learning rate included).
  This is the usual placement and the only one that records the raw gradient.
* ``optax.chain(clip, ox.monitor(optax.adam(lr)))``: :math:`g` is the clipped gradient.
* ``ox.monitor()`` (``inner`` = identity) is a pass-through probe for any position: it records the vector at
  that position (``grad_*`` = ``update_*``, cosine = −1 trivially). Placed last it measures the final update and
  the effective step; placed first, the raw gradient.

Recorded per top-level parameter group (``"Dense_0"``, ... for flax: single-key wrappers such as
``{"params": ...}`` are looked through) and for ``"total"`` (all parameters):

=================  =========================================================================================
``grad_norm``      :math:`\|g\|_2`
``update_norm``    :math:`\|u\|_2`
``param_norm``     :math:`\|\theta\|_2` before the update (NaN when ``update`` gets no params)
``update_ratio``   :math:`\|u\| / \|\theta\|`, the effective relative step (0 when :math:`u = 0`)
``cosine``         :math:`\langle u, -g\rangle / (\|u\|\|g\|)`: +1 for SGD, < 1 when the optimizer rotates
                   the step (preconditioning, momentum); 0 when either vector is zero
``grad_nonfinite`` fraction of non-finite entries of :math:`g` (``update_nonfinite``: of :math:`u`)
=================  =========================================================================================

Each statistic is a ``[history]`` ring buffer in the state (the last ``history`` steps; slots not yet written are
NaN), so ``training.fit`` with ``history=steps`` returns the whole run's telemetry in its final state. Everything is
a handful of reductions over the parameters (no extra gradient evaluations): cheap, pure, and fine under ``jit``,
``vmap`` (the buffers get the batch axes) and ``lax.scan``. Read it with :func:`monitor_metrics` (latest step, flat
dict for logging) or :func:`monitor_history` (all buffered steps, oldest first); both find the monitor inside
nested chain / wrapper states.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.optimizers._validation import with_extra_args_support

METRICS = ("grad_norm", "update_norm", "param_norm", "update_ratio", "cosine", "grad_nonfinite", "update_nonfinite")
TOTAL = "total"


class MonitorState(NamedTuple):
  """State of :func:`monitor`.

  Attributes:
    count: the number of updates taken (int32).
    stats: ring buffers ``stats[metric][group]`` of shape ``[history]`` (NaN where not yet written).
    inner_state: the state of the wrapped transformation.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> state = ox.monitor(history=2).init({"w": jnp.ones(3), "b": jnp.zeros(1)})
    >>> print(sorted(state.stats["grad_norm"]), state.stats["grad_norm"]["total"])
    ['b', 'total', 'w'] [nan nan]
  """

  count: jax.Array
  stats: dict[str, dict[str, jax.Array]]
  inner_state: optax.OptState


def _key_name(key: Any) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


def parameter_groups(tree: chex.ArrayTree) -> dict[str, chex.ArrayTree]:
  """Splits ``tree`` into its top-level groups ``{name: subtree}``, looking through single-entry containers.

  ``{"params": {"Dense_0": ..., "Dense_1": ...}}`` gives ``{"Dense_0": ..., "Dense_1": ...}``; a tree that is a
  single array (or has no entries) is one group named ``"all"``.

  Args:
    tree: a pytree of parameters (or gradients, or updates).

  Returns:
    A dict from group name to subtree.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> params = {"params": {"Dense_0": {"kernel": jnp.ones((2, 3))}, "Dense_1": {"bias": jnp.zeros(3)}}}
    >>> print(list(ox.parameter_groups(params)), list(ox.parameter_groups(jnp.ones(3))))
    ['Dense_0', 'Dense_1'] ['all']
  """
  while True:
    children = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x, root=tree: x is not root)[0]
    if not children or not children[0][0]:  # a leaf, or an empty container
      return {"all": tree}
    if len(children) > 1:
      return {_key_name(path[0]): sub for path, sub in children}
    tree = children[0][1]


def _leaf_sums(g: jax.Array, u: jax.Array, p: jax.Array | None) -> jax.Array:
  """``[Σg², Σu², Σp², Σug, #non-finite g, #non-finite u]`` of one array, as one variadic reduction.

  A single ``lax.reduce`` over six operands makes XLA read ``g``, ``u`` and ``p`` once (separate ``jnp.sum`` calls
  read them once per statistic: about 4× the memory traffic).
  """
  dtype = jnp.promote_types(g.dtype, jnp.float32)
  g, u = g.astype(dtype), u.astype(dtype)
  p2 = jnp.square(p.astype(dtype)) if p is not None else jnp.zeros_like(g)
  ops = (g * g, u * u, p2, u * g, (~jnp.isfinite(g)).astype(dtype), (~jnp.isfinite(u)).astype(dtype))
  zero = jnp.zeros((), dtype)
  add = lambda a, b: tuple(x + y for x, y in zip(a, b))
  return jnp.stack(jax.lax.reduce(ops, (zero,) * len(ops), add, tuple(range(g.ndim))))


def _sums(g: chex.ArrayTree, u: chex.ArrayTree, p: chex.ArrayTree | None, has_params: bool) -> jax.Array:
  """The additive raw sums behind every statistic (plus the entry count), so groups add up to the total."""
  leaves_p = jax.tree.leaves(p) if has_params else [None] * len(jax.tree.leaves(g))
  sums = sum((_leaf_sums(*t) for t in zip(jax.tree.leaves(g), jax.tree.leaves(u), leaves_p)), jnp.zeros(6, jnp.float32))
  if not has_params:
    sums = sums.at[2].set(jnp.nan)
  return jnp.append(sums.astype(jnp.float32), optax.tree.size(g)).astype(jnp.float32)


def _statistics(sums: jax.Array) -> dict[str, jax.Array]:
  g2, u2, p2, dot, g_bad, u_bad, size = sums
  g_norm, u_norm, p_norm = jnp.sqrt(g2), jnp.sqrt(u2), jnp.sqrt(p2)
  denom = g_norm * u_norm
  return {
      "grad_norm": g_norm,
      "update_norm": u_norm,
      "param_norm": p_norm,
      "update_ratio": jnp.where(u_norm == 0, 0.0, u_norm / p_norm),  # no step is a ratio of 0, even for empty groups
      "cosine": jnp.where(denom > 0, -dot / jnp.where(denom > 0, denom, 1.0), 0.0),
      "grad_nonfinite": g_bad / jnp.maximum(size, 1),
      "update_nonfinite": u_bad / jnp.maximum(size, 1),
  }


def monitor(inner: optax.GradientTransformation | None = None, *, history: int = 1) -> optax.GradientTransformationExtraArgs:
  """Wraps ``inner`` (default: identity) and records gradient/update telemetry per parameter group in the state.

  See the module docstring for what each statistic means and how placement changes what is seen. The updates of
  ``inner`` pass through unchanged; extra arguments (``grad_fn``, ``loss``, ...) are forwarded to it.

  Args:
    inner: the transformation whose input is treated as the gradient and whose output as the update.
    history: number of most recent steps kept per statistic (``training.fit``'s ``steps`` keeps them all).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs` whose state is a :class:`MonitorState`.

  Raises:
    ValueError: if ``history < 1``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.monitor(optax.sgd(learning_rate=0.1), history=2)
    >>> params = {"w": jnp.array([3.0, 4.0]), "b": jnp.zeros(1)}
    >>> state = opt.init(params)
    >>> _, state = jax.jit(opt.update)({"w": jnp.array([0.3, 0.4]), "b": jnp.zeros(1)}, state, params)
    >>> metrics = ox.monitor_metrics(state)
    >>> print(metrics["w/grad_norm"], metrics["w/update_norm"], metrics["w/update_ratio"], metrics["w/cosine"])
    0.5 0.05 0.01 1.0

  References:
    The statistics follow the update-to-weight ratio of Karpathy's `CS231n notes
    <https://cs231n.github.io/neural-networks-3/#ratio>`_ and LARS's per-layer norms (You, Gitman & Ginsburg,
    `Large Batch Training of Convolutional Networks <https://arxiv.org/abs/1708.03888>`_, 2017).
  """
  if history < 1:
    raise ValueError(f"history must be a positive number of steps, got {history}.")
  inner = with_extra_args_support(inner if inner is not None else optax.identity())

  def init_fn(params):
    names = [*parameter_groups(params), TOTAL]
    stats = {m: {n: jnp.full((history,), jnp.nan, jnp.float32) for n in names} for m in METRICS}
    return MonitorState(jnp.zeros([], jnp.int32), stats, inner.init(params))

  def update_fn(updates, state, params=None, **extra_args):
    new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
    grad_groups, update_groups = parameter_groups(updates), parameter_groups(new_updates)
    param_groups = parameter_groups(params) if params is not None else {n: None for n in grad_groups}
    sums = {n: _sums(grad_groups[n], update_groups[n], param_groups[n], params is not None) for n in grad_groups}
    sums[TOTAL] = sum(sums.values())
    per_group = {n: _statistics(v) for n, v in sums.items()}
    slot = state.count % history
    stats = {
        m: {n: jnp.asarray(buf).at[slot].set(per_group[n][m]) for n, buf in state.stats[m].items()} for m in METRICS
    }
    return new_updates, MonitorState(optax.safe_increment(state.count), stats, inner_state)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _path_name(path: tuple) -> str:
  """``"[1]"``, ``"inner_state[1]"``, ... for a path from :func:`optax.tree.get_all_with_path` (its named-tuple
  entries read as attributes); ``"monitor"`` for the root."""
  keys = (f".{k.name}" if hasattr(k, "tuple_name") else jax.tree_util.keystr((k,)) for k in path)
  return "".join(keys).lstrip(".") or "monitor"


def _find_monitors(opt_state: optax.OptState) -> list[tuple[str, MonitorState]]:
  found = [(_path_name(path), state) for path, state in optax.tree.get_all_with_path(opt_state, "MonitorState")]
  if not found:
    raise ValueError("No ox.monitor state found in this optimizer state; wrap the optimizer with ox.monitor(...).")
  return found


def monitor_history(opt_state: optax.OptState) -> dict[str, jax.Array]:
  """All buffered steps of every monitor in ``opt_state``: ``{"<group>/<metric>": [..., history]}``, oldest first.

  Slots not yet written (fewer steps than ``history``) are NaN. With several monitors the keys are prefixed by the
  path of each in the state: ``"[1]/Dense_0/grad_norm"`` for the second link of a chain,
  ``"monitor/..."`` and ``"inner_state[1]/..."`` for an outer monitor and one nested in its chain. Leading axes from
  ``vmap`` are kept.

  Args:
    opt_state: an optimizer state holding one or more :class:`MonitorState`.

  Returns:
    A dict from ``"<group>/<metric>"`` (prefixed by the monitor's path when there are several) to an array of
    ``history`` values, oldest first.

  Raises:
    ValueError: if ``opt_state`` holds no monitor.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> opt = ox.monitor(optax.sgd(learning_rate=0.1), history=3)
    >>> params = {"w": jnp.array([3.0, 4.0])}
    >>> state, update = opt.init(params), jax.jit(opt.update)
    >>> for scale in (1.0, 2.0):
    ...   _, state = update({"w": scale * jnp.array([0.3, 0.4])}, state, params)
    >>> print(ox.monitor_history(state)["total/grad_norm"])  # the slot not yet written is NaN
    [nan 0.5 1. ]
  """
  monitors = _find_monitors(opt_state)
  out = {}
  for path, state in monitors:
    prefix = f"{path}/" if len(monitors) > 1 else ""
    for m, groups in state.stats.items():
      for n, buf in groups.items():
        history = buf.shape[-1]
        # Ring buffer: the oldest entry sits at slot count % history.
        order = (state.count[..., None] + jnp.arange(history)) % history
        out[f"{prefix}{n}/{m}"] = jnp.take_along_axis(buf, order, axis=-1)
  return dict(sorted(out.items()))


def monitor_metrics(opt_state: optax.OptState) -> dict[str, jax.Array]:
  """The latest step's statistics of every monitor in ``opt_state`` as a flat ``{"<group>/<metric>": value}`` dict.

  Values are scalars (arrays with the ``vmap`` axes when the state is batched); NaN before the first update.

  Args:
    opt_state: an optimizer state holding one or more :class:`MonitorState`.

  Returns:
    A dict from ``"<group>/<metric>"`` to the latest value.

  Raises:
    ValueError: if ``opt_state`` holds no monitor.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> state = ox.monitor(optax.sgd(learning_rate=0.1)).init({"w": jnp.ones(2), "b": jnp.ones(1)})
    >>> print(sorted(ox.monitor_metrics(state))[:3], ox.monitor_metrics(state)["w/grad_norm"])  # NaN: no update yet
    ['b/cosine', 'b/grad_nonfinite', 'b/grad_norm'] nan
  """
  return {k: v[..., -1] for k, v in monitor_history(opt_state).items()}
