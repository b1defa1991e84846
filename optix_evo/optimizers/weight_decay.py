"""Layer-adaptive weight decay: a drop-in for ``optax.add_decayed_weights`` whose coefficient adapts per layer."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.errors import InputError
from optix_evo.optimizers._validation import check_decay, check_denominator_eps, check_non_negative, check_tree_match

MODES = ("adadecay", "awd", "trust")


class LayerwiseDecayState(NamedTuple):
  r"""State of :func:`add_layerwise_decayed_weights`.

  Attributes:
    count: the number of updates taken (int32 scalar).
    coefficient: one scalar per leaf: the mean decay coefficient :math:`\lambda_l` applied at the last step
      (``"trust"``: the leaf's trust ratio); ``"awd"`` smooths it across steps with ``beta``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tx = ox.add_layerwise_decayed_weights(1e-2, mode="awd")
    >>> params = {"w": jnp.ones(4)}
    >>> _, state = tx.update({"w": jnp.full(4, 2.0)}, tx.init(params), params)
    >>> print(state.coefficient)  # lambda * |u| / |w| = 0.01 * 4 / 2
    {'w': Array(0.02, dtype=float32)}
  """

  count: chex.Array  # int32 number of updates taken
  coefficient: optax.Updates  # one scalar per leaf: the mean decay coefficient λ_l applied at the last step
  # ("trust": the leaf's trust ratio); "awd" smooths it across steps with ``beta``


def add_layerwise_decayed_weights(
    weight_decay: float = 1e-4,
    mode: Literal["adadecay", "awd", "trust"] = "adadecay",
    alpha: float = 4.0,
    eps: float = 1e-8,
    beta: float = 0.0,
    mask: Any | None = None,
) -> optax.GradientTransformation:
  r"""Adds :math:`\lambda_l w` to the updates, with a decay coefficient adapted per pytree leaf ("layer").

  Like :func:`optax.add_decayed_weights`, the coefficient is computed from the *incoming updates*: placed first in a
  chain they are the raw gradients (L2 form, e.g. SGD or Adam-L2), placed after ``scale_by_adam`` they are Adam's
  direction (decoupled, AdamW form). Modes (per leaf :math:`l`, :math:`u` = incoming update, :math:`w` = params):

  * ``"adadecay"`` (Nakamura & Hong 2019, AdaDecay): per element
    :math:`\lambda_i = \lambda \cdot 2\sigma(\alpha\,\hat a_i)`, :math:`\hat a = (|u| - \mathrm{mean}_l|u|) /
    (\mathrm{std}_l|u| + \epsilon)`: larger-than-typical gradients decay more, the mean coefficient is ≈ λ.
    ``alpha=0`` is exactly :func:`optax.add_decayed_weights`. (No public code exists; reconstructed from the paper.)
  * ``"awd"`` (Ghiasi et al. 2023, adaptive weight decay, per-layer variant):
    :math:`\lambda_l = \lambda\,\|u_l\| / (\|w_l\| + \epsilon)`, optionally smoothed
    :math:`\bar\lambda_l \leftarrow \beta\bar\lambda_l + (1-\beta)\lambda_l` (``beta``; the first step uses
    :math:`\lambda_l`).
  * ``"trust"`` (LAMB / LARS family): :math:`u \leftarrow r_l (u + \lambda w)` with the trust ratio
    :math:`r_l = \|w_l\| / \|u_l + \lambda w_l\|` (1 where either norm is 0) — the decay enters a per-layer
    normalised step, as :func:`optax.lamb` does with ``add_decayed_weights`` + ``scale_by_trust_ratio``.

  Args:
    weight_decay: base coefficient :math:`\lambda \ge 0` (0 makes every mode a no-op except ``"trust"``'s ratio).
    mode: one of ``"adadecay"``, ``"awd"``, ``"trust"``.
    alpha: AdaDecay's sigmoid slope (0 = uniform decay).
    eps: small constant in the normalisations.
    beta: AWD's smoothing of :math:`\lambda_l` across steps (0 = none).
    mask: a pytree of booleans or a callable ``params -> mask``, as in optax: leaves with ``False`` (e.g. biases,
      norm scales) get neither decay nor trust ratio.

  Returns:
    An :class:`optax.GradientTransformation` whose state is a :class:`LayerwiseDecayState` (wrapped in
    :func:`optax.masked` when ``mask`` is given); ``update`` needs params.

  Raises:
    InputError: for an unknown mode, a negative ``weight_decay`` or ``alpha``, ``beta`` outside [0, 1), an ``eps``
      that could divide by 0, or (from ``update``) missing params.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> params = {"w": jnp.array([1.0, 1.0]), "b": jnp.array([1.0])}
    >>> tx = ox.add_layerwise_decayed_weights(0.1, mode="adadecay", alpha=0.0)  # = optax.add_decayed_weights(0.1)
    >>> updates, _ = tx.update({"w": jnp.array([0.0, 2.0]), "b": jnp.zeros(1)}, tx.init(params), params)
    >>> print(updates["w"])
    [0.1 2.1]
    >>> tx = ox.add_layerwise_decayed_weights(0.1, mode="adadecay", alpha=4.0)
    >>> updates, _ = tx.update({"w": jnp.array([0.0, 2.0]), "b": jnp.zeros(1)}, tx.init(params), params)
    >>> print(updates["w"])  # the larger gradient's weight decays more
    [0.0036 2.1964 ]

  References:
    Nakamura & Hong, `Adaptive Weight Decay for Deep Neural Networks <https://arxiv.org/abs/1907.08931>`_, IEEE
    Access 7, 2019 (AdaDecay).

    Ghiasi, Shafahi & Ardekani, `Improving Robustness with Adaptive Weight Decay <https://arxiv.org/abs/2210.00094>`_,
    NeurIPS 2023 (AWD).

    You et al., `Large Batch Optimization for Deep Learning: Training BERT in 76 minutes
    <https://arxiv.org/abs/1904.00962>`_, ICLR 2020 (LAMB's trust ratio).
  """
  if mode not in MODES:
    raise InputError(f"Unknown mode {mode!r} for add_layerwise_decayed_weights. Known modes: {', '.join(MODES)}.")
  check_non_negative("weight_decay", weight_decay)
  check_non_negative("alpha", alpha)
  if mode == "trust":
    check_non_negative("eps", eps)  # the trust ratio guards its own zero norms
  else:
    check_denominator_eps("eps", eps)  # std or weight norm of a layer can be 0
  check_decay("beta", beta)

  def leaf_update(u, w, prev, first):
    if mode == "adadecay":
      # mean and std of |u| from one pass (sum of |u| and of |u|^2, accumulated in at least float32) instead of
      # a second pass over |u| - mean, which XLA materialises; the variance is clipped at 0 against rounding.
      acc = jnp.promote_types(jnp.finfo(u.dtype).dtype, jnp.float32)
      n = max(u.size, 1)
      a = jnp.abs(u)
      mean = jnp.sum(a, dtype=acc) / n
      var = jnp.sum(jnp.real(jnp.conj(u) * u), dtype=acc) / n - jnp.square(mean)
      std = jnp.sqrt(jnp.maximum(var, 0.0))
      z = (a - mean.astype(a.dtype)) / (std.astype(a.dtype) + eps)
      # lambda_i = 2 lambda sigmoid(alpha z_i); the mean coefficient is taken of the sigmoid, the one array shared
      # by the update and the reduction (the mean of lambda made XLA materialise both).
      s = jax.nn.sigmoid(alpha * z)
      return u + weight_decay * 2.0 * s * w, weight_decay * 2.0 * (jnp.sum(s, dtype=acc) / n)
    if mode == "awd":
      lam = weight_decay * jnp.linalg.norm(u) / (jnp.linalg.norm(w) + eps)
      lam = jnp.where(first, lam, beta * prev + (1.0 - beta) * lam)
      return u + lam * w, lam
    r = u + weight_decay * w
    w_norm, r_norm = jnp.linalg.norm(w), jnp.linalg.norm(r)
    ratio = jnp.where((w_norm > 0) & (r_norm > 0), w_norm / jnp.where(r_norm > 0, r_norm, 1.0), 1.0)
    return ratio * r, ratio

  def init_fn(params):
    return LayerwiseDecayState(
        count=jnp.zeros([], jnp.int32), coefficient=jax.tree.map(lambda w: jnp.zeros([], w.dtype), params)
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise InputError("add_layerwise_decayed_weights needs params: call update(updates, state, params).")
    check_tree_match(updates, params, "params")
    if not jax.tree.leaves(updates):
      return updates, state._replace(count=optax.safe_increment(state.count))
    first = state.count == 0
    out = jax.tree.map(lambda u, w, c: leaf_update(u, w, c, first), updates, params, state.coefficient)
    treedef = jax.tree.structure(updates)
    new_updates, coefficient = (treedef.unflatten(x) for x in zip(*treedef.flatten_up_to(out)))
    coefficient = jax.tree.map(lambda c, old: c.astype(old.dtype), coefficient, state.coefficient)
    return new_updates, LayerwiseDecayState(count=optax.safe_increment(state.count), coefficient=coefficient)

  tx = optax.GradientTransformation(init_fn, update_fn)
  return optax.masked(inner=tx, mask=mask) if mask is not None else tx
