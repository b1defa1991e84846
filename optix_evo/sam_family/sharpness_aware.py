"""Sharpness-aware minimisation (SAM) and adaptive SAM (ASAM) as composable optax transformations.

SAM (Foret et al. 2021, arXiv:2010.01412) minimises ``max_{‖ε‖₂ ≤ ρ} L(w + ε)``. Its first-order step takes the
gradient ``g = ∇L(w)``, moves to the ascent point ``w + ε̂`` with

.. math::

  \\hat\\epsilon = \\rho \\, \\frac{T_w^2 g}{\\lVert T_w g \\rVert_2 + \\text{eps}},

evaluates ``g_SAM = ∇L(w + ε̂)`` on the *same batch* and hands ``g_SAM`` to a base optimizer together with the
*unperturbed* parameters ``w``. ``T_w`` is the identity for SAM, ``diag(|w|)`` for the adaptive form of davda54/sam
(``adaptive=True``) and ``diag(|w| + η)`` for ASAM (Kwon et al. 2021, arXiv:2102.11600). The norm is one global L2
norm over the whole parameter tree, as in the references.

The second gradient comes from a ``grad_fn(params) -> grads`` extra argument of ``update`` (a closure over the
current batch); :func:`optix_evo.training.fit` passes it to every optimizer. Any other extra arguments (``loss=``,
``accuracy=``, ...) are handed on to the base optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.optimizers._validation import check_non_negative, check_positive, with_extra_args_support

# params -> a tree (same structure) of the per-leaf factors T_w (arrays, or the scalar 1.0 for leaves left alone)
ScaleFn = Callable[[chex.ArrayTree], chex.ArrayTree]
Mask = chex.ArrayTree | Callable[[chex.ArrayTree], chex.ArrayTree]


class SharpnessAwareState(NamedTuple):
  """State of :func:`sam` and :func:`asam`: only the base optimizer's state (SAM itself keeps nothing between steps).

  (Not :class:`optax.contrib.SAMState`, the state of optax's own SAM, which keeps its inner steps' state too.)

  Attributes:
    base_state: the state of the base optimizer.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> state = ox.sam(optax.sgd(learning_rate=0.1)).init(jnp.zeros(2))
    >>> print(type(state).__name__, type(state.base_state).__name__)
    SharpnessAwareState tuple
  """

  base_state: optax.OptState


def require_grad_fn(name: str, params: chex.ArrayTree | None, grad_fn: Callable | None) -> None:
  """Raises a ``ValueError`` that shows the intended call when ``params`` or ``grad_fn`` is missing."""
  if params is None:
    raise ValueError(
        f"ox.{name} needs params: it evaluates the gradient a second time at perturbed parameters. Call it as "
        "`updates, state = opt.update(grads, state, params, grad_fn=lambda p: jax.grad(loss_fn)(p, batch))`."
    )
  if grad_fn is None:
    raise ValueError(
        f"ox.{name} got no grad_fn: it evaluates the gradient a second time at perturbed parameters, on the same "
        "batch. Call it as `updates, state = opt.update(grads, state, params, "
        "grad_fn=lambda p: jax.grad(loss_fn)(p, batch))`. optix_evo.training.fit passes grad_fn, but a wrapper "
        "around this optimizer that is a plain optax.GradientTransformation drops extra keyword arguments "
        "(e.g. optax.MultiSteps(...).gradient_transformation() inside optax.chain): give fit the MultiSteps object, "
        "or wrap it as optax.GradientTransformationExtraArgs(ms.init, ms.update)."
    )


def call_grad_fn(grad_fn: Callable, params: chex.ArrayTree, like: chex.ArrayTree) -> chex.ArrayTree:
  """``grad_fn(params)``, checked to return a tree with the structure of the gradients ``like``."""
  grads = grad_fn(params)
  if jax.tree.structure(grads) != jax.tree.structure(like):
    raise ValueError(
        "grad_fn must return gradients with the structure of params: got "
        f"{jax.tree.structure(grads)}, expected {jax.tree.structure(like)}."
    )
  return grads


def ascent_perturbation(
    grads: chex.ArrayTree, params: chex.ArrayTree, rho: chex.Numeric, eps: chex.Numeric, scale_fn: ScaleFn | None
) -> chex.ArrayTree:
  """``ε̂ = ρ T² g / (‖T g‖₂ + eps)`` with ``T = scale_fn(params)`` (identity when ``scale_fn`` is None).

  The norm is global over the tree. A zero gradient gives ``ε̂ = 0`` (no NaN) thanks to ``eps``.
  """
  if scale_fn is None:
    scaled, direction = grads, grads
  else:
    t = scale_fn(params)
    scaled = jax.tree.map(lambda s, g: s * g, t, grads)
    direction = jax.tree.map(lambda s, g: s * g, t, scaled)
  factor = rho / (optax.tree.norm(scaled) + eps)
  return jax.tree.map(lambda d: (factor * d).astype(d.dtype), direction)


def asam_scale(eta: chex.Numeric, mask: Mask | None) -> ScaleFn:
  """The ASAM normalisation ``T_w = |w| + eta`` on the leaves selected by ``mask`` (all when None), 1 elsewhere."""

  def scale_fn(params):
    if mask is None:
      return jax.tree.map(lambda w: jnp.abs(w) + eta, params)
    leaf_mask = mask(params) if callable(mask) else mask
    try:
      return jax.tree.map(lambda m, w: jnp.abs(w) + eta if m else 1.0, leaf_mask, params)
    except ValueError as e:
      raise ValueError(
          f"asam mask must be a tree of Python bools with the structure of params (or a callable returning one): {e}"
      ) from None

  return scale_fn


def sharpness_aware(
    base: optax.GradientTransformation, rho: chex.Numeric, eps: chex.Numeric, scale_fn: ScaleFn | None, name: str
) -> optax.GradientTransformationExtraArgs:
  """The SAM step with the normalisation ``scale_fn`` (see :func:`ascent_perturbation`); shared by sam and asam."""
  check_non_negative("rho", rho)
  check_positive("eps", eps)  # a zero gradient gives 0/0 otherwise
  base = with_extra_args_support(base)

  def init_fn(params):
    return SharpnessAwareState(base_state=base.init(params))

  def update_fn(updates, state, params=None, *, grad_fn=None, **extra_args):
    require_grad_fn(name, params, grad_fn)
    perturbation = ascent_perturbation(updates, params, rho, eps, scale_fn)
    sam_grads = call_grad_fn(grad_fn, optax.tree.add(params, perturbation), updates)
    updates, base_state = base.update(sam_grads, state.base_state, params, **extra_args)
    return updates, SharpnessAwareState(base_state=base_state)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def sam(
    base: optax.GradientTransformation, rho: chex.Numeric = 0.05, *, adaptive: bool = False, eps: chex.Numeric = 1e-12
) -> optax.GradientTransformationExtraArgs:
  r"""Sharpness-aware minimisation around any base optimizer.

  ``update(grads, state, params, *, grad_fn, **extra)`` computes the ascent point
  ``w + ε̂`` with :math:`\hat\epsilon = \rho\, g / (\lVert g\rVert_2 + \text{eps})` (global norm over the tree;
  with ``adaptive=True``: :math:`\rho\, |w|^2 g / (\lVert |w| g\rVert_2 + \text{eps})`), calls ``grad_fn`` **once**
  there and hands that gradient to ``base`` with the **unperturbed** ``params`` (so weight decay or any
  parameter-dependent term of ``base`` sees ``w``, as in davda54/sam, which restores ``w`` before
  ``base_optimizer.step()``). A zero gradient gives a zero perturbation, not NaN.

  Cost: two gradient evaluations per step (the caller's ``grads`` and one ``grad_fn`` call), about 2× the base.

  Composition:

  * ``base`` is any optax or zoo transformation, including a chain; other extra arguments (``loss=``, ...) are
    passed on to it.
  * inside ``optax.chain`` extra arguments reach every link. Links *before* ``sam`` transform only the gradient
    that sets the ascent direction; the descent gradient comes from ``grad_fn``. Put processing that must act on
    the descent gradient (e.g. clipping) inside ``base``. Links *after* ``sam`` (``add_decayed_weights``,
    ``scale_by_learning_rate``) act on ``base``'s output as usual, e.g.
    ``optax.chain(optax.clip_by_global_norm(1.0), ox.sam(optax.scale_by_adam(), 0.05),
    optax.add_decayed_weights(weight_decay=5e-4), optax.scale_by_learning_rate(learning_rate=1e-3))``.
  * under ``jax.vmap`` over hyperparameters build the optimizer inside the vmapped function (``rho`` may be traced).

  Models with batch statistics or dropout: ``grad_fn`` must evaluate the *same* function of the parameters on the
  *same* batch. Close over the batch statistics of the first pass (discard the statistics the second pass would
  write, like davda54's ``bypass_bn``) and over the same dropout key (the same sub-network; fold in a new key if you
  want fresh masks as a second torch forward pass would draw). With flax linen::

    def loss_fn(p, stats, x, y, key):
      logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True,
                                rngs={"dropout": key}, mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new["batch_stats"]

    def train_step(params, stats, opt_state, x, y, key):
      (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y, key)
      grad_fn = lambda p: jax.grad(lambda q: loss_fn(q, stats, x, y, key)[0])(p)
      updates, opt_state = opt.update(grads, opt_state, params, grad_fn=grad_fn)
      return optax.apply_updates(params, updates), new_stats, opt_state

  Args:
    base: the optimizer that takes the sharpness-aware gradient.
    rho: radius of the neighbourhood (paper default 0.05; the adaptive form needs ~10× larger values).
    adaptive: the scale-invariant form of davda54/sam (``T_w = |w|``); see :func:`asam` for ``|w| + eta``.
    eps: added to the norm (davda54's ``1e-12``); must be > 0 (a zero gradient would give 0/0).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs` whose state is a :class:`SharpnessAwareState`; ``update`` needs
    params and ``grad_fn=``.

  Raises:
    ValueError: for a negative ``rho`` or ``eps <= 0``, or (from ``update``) missing params or ``grad_fn``, or a
      ``grad_fn`` whose gradients do not have the structure of the params.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> loss = lambda p: jnp.sum(p ** 2)
    >>> opt = ox.sam(optax.sgd(learning_rate=0.1), rho=0.05)
    >>> params = jnp.array([3.0, -4.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(jax.grad(loss)(params), state, params, grad_fn=jax.grad(loss))
    >>> print(updates)  # -0.1 * grad at w + 0.05 * g / |g| = [3.03, -4.04]
    [-0.606 0.808]

  References:
    Foret et al., `Sharpness-Aware Minimization for Efficiently Improving Generalization
    <https://arxiv.org/abs/2010.01412>`_, ICLR 2021; code: `davda54/sam <https://github.com/davda54/sam>`_.
  """
  scale_fn = asam_scale(0.0, None) if adaptive else None
  return sharpness_aware(base, rho, eps, scale_fn, "sam")


def asam(
    base: optax.GradientTransformation,
    rho: chex.Numeric = 0.5,
    eta: chex.Numeric = 0.01,
    mask: Mask | None = None,
    *,
    eps: chex.Numeric = 1e-12,
) -> optax.GradientTransformationExtraArgs:
  r"""Adaptive SAM: the SAM step of :func:`sam` with the element-wise normalisation :math:`T_w = |w| + \eta`.

  :math:`\hat\epsilon = \rho\, T_w^2 g / (\lVert T_w g\rVert_2 + \text{eps})`, gradient at ``w + ε̂`` handed to
  ``base`` with the unperturbed ``w``. ``eta > 0`` lets zero weights be perturbed too; ``asam(base, rho, eta=0.0)``
  equals ``sam(base, rho, adaptive=True)``.

  Args:
    base: the optimizer that takes the sharpness-aware gradient.
    rho: radius (paper/official default 0.5 on CIFAR-10, about 10× SAM's).
    eta: offset of ``T_w`` (official default 0.01).
    mask: which leaves get ``T_w`` (the others use ``T = 1``): a tree of Python bools with the structure of
      ``params``, or a callable ``params -> tree of bools``; None = every leaf. The official code (SamsungLabs/ASAM)
      normalises parameters whose name contains ``"weight"``; for flax modules
      ``lambda p: jax.tree_util.tree_map_with_path(lambda path, _: "kernel" in jax.tree_util.keystr(path), p)``
      selects conv/dense kernels.
    eps: added to the norm (SamsungLabs/ASAM uses 1e-16, davda54/sam 1e-12).

  Returns:
    An :class:`optax.GradientTransformationExtraArgs` whose state is a :class:`SharpnessAwareState`; call ``update`` with
    ``grad_fn`` exactly as for :func:`sam`.

  Raises:
    ValueError: for a negative ``rho`` or ``eta``, ``eps <= 0``, a mask that is not a tree of bools like the params,
      or (from ``update``) missing params or ``grad_fn``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> loss = lambda p: jnp.sum((p - 1.0) ** 2)
    >>> opt = ox.asam(optax.sgd(learning_rate=0.1), rho=0.5, eta=0.0)
    >>> params = jnp.array([3.0, 0.0])
    >>> state = opt.init(params)
    >>> updates, state = opt.update(jax.grad(loss)(params), state, params, grad_fn=jax.grad(loss))
    >>> print(updates)  # eta = 0: the zero weight is not perturbed; -0.1 * (the gradient at [4.5, 0.0])
    [-0.7 0.2]

  References:
    Kwon et al., `ASAM: Adaptive Sharpness-Aware Minimization for Scale-Invariant Learning of Deep Neural Networks
    <https://arxiv.org/abs/2102.11600>`_, ICML 2021; code: `SamsungLabs/ASAM <https://github.com/SamsungLabs/ASAM>`_.
  """
  check_non_negative("eta", eta)
  return sharpness_aware(base, rho, eps, asam_scale(eta, mask), "asam")
