"""Loss landscapes (Li et al. 2018): 1-D interpolation between two solutions, 2-D slices along random directions.

``loss_fn`` maps a parameter pytree to a scalar or to a dict of scalars (e.g. ``{"loss": ..., "accuracy": ...}``;
close over the evaluation data). The grid is evaluated with ``jax.vmap`` (in chunks of ``batch_size`` grid points
via ``lax.map`` when memory matters), so a 21 × 21 slice is one compiled call. :func:`plot_landscape` writes a PNG.

References:
  Goodfellow, Vinyals & Saxe, `Qualitatively characterizing neural network optimization problems
  <https://arxiv.org/abs/1412.6544>`_, ICLR 2015.

  Li et al., `Visualizing the Loss Landscape of Neural Nets <https://arxiv.org/abs/1712.09913>`_, NeurIPS 2018;
  code: `tomgoldstein/loss-landscape <https://github.com/tomgoldstein/loss-landscape>`_.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

LandscapeFn = Callable[[chex.ArrayTree], Any]  # params -> scalar or dict of scalars


class Landscape1D(NamedTuple):
  """A loss along a line: ``values[i]`` = ``loss_fn((1 - alphas[i]) θ_a + alphas[i] θ_b)``.

  Attributes:
    alphas: ``[num]`` the positions on the line (0 is ``θ_a``, 1 is ``θ_b``).
    values: ``loss_fn``'s output structure with a leading ``[num]`` axis.

  Examples:
    See :func:`loss_interpolation`.
  """

  alphas: jax.Array
  values: Any


class Landscape2D(NamedTuple):
  """A loss on a plane: ``values[i, j]`` = ``loss_fn(θ + alphas[i] δ + betas[j] η)`` for the two directions δ, η.

  Attributes:
    alphas: ``[num]`` the coordinates along δ.
    betas: ``[num]`` the coordinates along η.
    values: ``loss_fn``'s output structure with leading ``[num, num]`` axes.

  Examples:
    See :func:`loss_surface`.
  """

  alphas: jax.Array
  betas: jax.Array
  values: Any


def _grid_map(fn: Callable, points: jax.Array, batch_size: int | None) -> Any:
  if batch_size is None:
    return jax.vmap(fn)(points)
  if batch_size < 1:
    raise ValueError(f"batch_size must be a positive number of grid points (or None for all at once), got {batch_size}.")
  return jax.lax.map(fn, points, batch_size=batch_size)


def loss_interpolation(
    loss_fn: LandscapeFn,
    params_a: chex.ArrayTree,
    params_b: chex.ArrayTree,
    *,
    num: int = 51,
    span: tuple[float, float] = (-0.25, 1.25),
    batch_size: int | None = None,
) -> Landscape1D:
  r"""Loss along the line :math:`\theta(\alpha) = (1-\alpha)\theta_a + \alpha\theta_b` (Goodfellow et al. 2015).

  Args:
    loss_fn: ``params -> scalar`` (or dict of scalars).
    params_a: the end point at :math:`\alpha = 0` (e.g. the initial parameters).
    params_b: the end point at :math:`\alpha = 1` (e.g. the trained parameters, or a second solution).
    num: number of grid points.
    span: range of :math:`\alpha`; 0 is ``params_a``, 1 is ``params_b``.
    batch_size: grid points evaluated at once (default: all, one ``vmap``).

  Returns:
    A :class:`Landscape1D`.

  Raises:
    ValueError: if ``num < 2`` or ``batch_size < 1``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda p: jnp.sum((p - 1.0) ** 2)
    >>> line = ox.loss_interpolation(loss, jnp.zeros(2), jnp.ones(2), num=5, span=(0.0, 1.0))
    >>> print(line.alphas, line.values)
    [0. 0.25 0.5 0.75 1. ] [2. 1.125 0.5 0.125 0. ]

  References:
    Goodfellow, Vinyals & Saxe, `Qualitatively characterizing neural network optimization problems
    <https://arxiv.org/abs/1412.6544>`_, ICLR 2015.
  """
  if num < 2:
    raise ValueError(f"num must be at least 2 grid points, got {num}.")
  alphas = jnp.linspace(span[0], span[1], num)
  diff = optax.tree.sub(params_b, params_a)
  values = _grid_map(lambda a: loss_fn(optax.tree.add_scale(params_a, a, diff)), alphas, batch_size)
  return Landscape1D(alphas, values)


def filter_normalized_direction(key: jax.Array, params: chex.ArrayTree, *, ignore_1d: bool = True) -> chex.ArrayTree:
  r"""A Gaussian direction rescaled filter by filter to the norms of ``params`` (Li et al. 2018, section 4).

  For every array with ≥ 2 dimensions each slice along the *last* axis (a Dense unit or a conv filter in flax's
  ``(..., in, out)`` kernel layout) is rescaled to :math:`d_j \leftarrow d_j \|\theta_j\| / \|d_j\|`, which
  removes the scale invariance of ReLU networks from the plot. Vectors (biases, normalisation scales) are zeroed
  when ``ignore_1d`` (the paper's choice), else normalised as a whole.

  Args:
    key: PRNG key of the Gaussian draw.
    params: the parameters whose filter norms the direction takes.
    ignore_1d: zero the direction on vectors (biases, normalisation scales).

  Returns:
    A direction, a pytree like ``params``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> params = {"kernel": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "bias": jnp.ones(2)}
    >>> d = ox.filter_normalized_direction(jax.random.PRNGKey(0), params)
    >>> print(jnp.linalg.norm(d["kernel"], axis=0), d["bias"])  # each unit's norm is its weights' norm
    [5. 1.0] [0. 0.]

  References:
    Li et al., `Visualizing the Loss Landscape of Neural Nets <https://arxiv.org/abs/1712.09913>`_, NeurIPS 2018;
    code: `tomgoldstein/loss-landscape <https://github.com/tomgoldstein/loss-landscape>`_.
  """

  def normalize(d, p):
    if p.ndim <= 1:
      if ignore_1d:
        return jnp.zeros_like(p)
      return d * jnp.linalg.norm(p) / jnp.maximum(jnp.linalg.norm(d), 1e-12)
    axes = tuple(range(p.ndim - 1))
    p_norm = jnp.sqrt(jnp.sum(p * p, axis=axes, keepdims=True))
    d_norm = jnp.sqrt(jnp.sum(d * d, axis=axes, keepdims=True))
    return d * p_norm / jnp.maximum(d_norm, 1e-12)

  return jax.tree.map(normalize, optax.tree.random_like(key, params), params)


def loss_surface(
    loss_fn: LandscapeFn,
    params: chex.ArrayTree,
    key: jax.Array | None = None,
    *,
    directions: tuple[chex.ArrayTree, chex.ArrayTree] | None = None,
    num: int = 21,
    span: float = 1.0,
    batch_size: int | None = None,
) -> Landscape2D:
  r"""Loss on the plane :math:`\theta + \alpha\delta + \beta\eta`, :math:`\alpha, \beta \in [-\text{span}, \text{span}]`.

  Args:
    loss_fn: ``params -> scalar`` (or dict of scalars).
    params: centre of the slice (usually trained parameters).
    key: PRNG key for two :func:`filter_normalized_direction` directions (ignored when ``directions`` is given).
    directions: the directions :math:`(\delta, \eta)` to use instead, e.g. the same ones for two optimizers' solutions.
    num: grid points per axis (``num**2`` evaluations).
    span: half-width of the grid in units of the directions.
    batch_size: grid points evaluated at once (default: all ``num**2``, one ``vmap``).

  Returns:
    A :class:`Landscape2D`.

  Raises:
    ValueError: if ``num < 2``, ``batch_size < 1``, or neither ``key`` nor ``directions`` is given.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> loss = lambda p: jnp.sum(p ** 2)
    >>> surface = ox.loss_surface(loss, jnp.zeros(2), directions=(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])),
    ...                           num=3, span=1.0)
    >>> print(surface.values)
    [[2. 1. 2.]
     [1. 0. 1.]
     [2. 1. 2.]]

  References:
    Li et al., `Visualizing the Loss Landscape of Neural Nets <https://arxiv.org/abs/1712.09913>`_, NeurIPS 2018;
    code: `tomgoldstein/loss-landscape <https://github.com/tomgoldstein/loss-landscape>`_.
  """
  if num < 2:
    raise ValueError(f"num must be at least 2 grid points per axis, got {num}.")
  if directions is None:
    if key is None:
      raise ValueError("loss_surface needs a PRNG key to draw directions, or directions=(delta, eta).")
    k1, k2 = jax.random.split(key)
    directions = (filter_normalized_direction(k1, params), filter_normalized_direction(k2, params))
  delta, eta = directions
  alphas = betas = jnp.linspace(-span, span, num)
  grid = jnp.stack(jnp.meshgrid(alphas, betas, indexing="ij"), axis=-1).reshape(-1, 2)

  def at(ab):
    return loss_fn(optax.tree.add_scale(optax.tree.add_scale(params, ab[0], delta), ab[1], eta))

  values = jax.tree.map(lambda v: v.reshape(num, num), _grid_map(at, grid, batch_size))
  return Landscape2D(alphas, betas, values)


def plot_landscape(
    landscape: Landscape1D | Landscape2D,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    log_scale: bool = False,
    levels: int = 30,
) -> pathlib.Path:
  """Writes ``landscape`` as a PNG (one panel per value when ``loss_fn`` returned a dict, ``"loss"`` first).

  1-D: value against α (ticks at 0 and 1 mark the two end points). 2-D: filled contours with the centre marked.
  Uses matplotlib's Agg canvas directly (no pyplot state, no display needed).

  Args:
    landscape: a :class:`Landscape1D` or :class:`Landscape2D`.
    path: the PNG file to write (its folder is created).
    title: the figure title.
    log_scale: plot the values on a log scale.
    levels: the number of contour levels of a 2-D plot.

  Returns:
    The path of the PNG file.

  Examples:
    >>> import pathlib
    >>> import tempfile
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> line = ox.loss_interpolation(lambda p: jnp.sum(p ** 2), jnp.zeros(2), jnp.ones(2), num=5)
    >>> path = ox.plot_landscape(line, pathlib.Path(tempfile.mkdtemp()) / "line.png", title="interpolation")
    >>> print(path.name, path.stat().st_size > 0)
    line.png True
  """
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  values = landscape.values if isinstance(landscape.values, dict) else {"loss": landscape.values}
  values = {k: values[k] for k in sorted(values, key=lambda k: k != "loss")}  # the loss panel first
  fig = Figure(figsize=(4.2 * len(values), 3.6), layout="constrained")
  FigureCanvasAgg(fig)
  for i, (name, v) in enumerate(values.items()):
    ax = fig.add_subplot(1, len(values), i + 1)
    v = np.asarray(v)
    if isinstance(landscape, Landscape1D):
      ax.plot(np.asarray(landscape.alphas), v)
      ax.axvline(0.0, color="grey", lw=0.5)
      ax.axvline(1.0, color="grey", lw=0.5)
      ax.set_xlabel("α  (0: params_a, 1: params_b)")
      ax.set_ylabel(name)
      if log_scale:
        ax.set_yscale("log")
    else:
      shown = np.log10(np.maximum(v, 1e-12)) if log_scale else v
      a, b = np.meshgrid(np.asarray(landscape.alphas), np.asarray(landscape.betas), indexing="ij")
      filled = ax.contourf(a, b, shown, levels=levels, cmap="viridis")
      ax.contour(a, b, shown, levels=levels, colors="k", linewidths=0.3)
      ax.plot([0.0], [0.0], marker="*", color="red")
      fig.colorbar(filled, ax=ax, label=f"log10 {name}" if log_scale else name)
      ax.set_xlabel("α (direction δ)")
      ax.set_ylabel("β (direction η)")
      ax.set_aspect("equal")
  if title:
    fig.suptitle(title)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=110)
  return path
