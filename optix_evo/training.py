"""Training loops shared by the CLI, the benchmarks, the search and the tests.

Every loop runs its steps inside one ``jax.lax.scan`` (dispatching one step at a time from Python costs several times
the update itself on small models: JAX's `asynchronous dispatch <https://docs.jax.dev/en/latest/async_dispatch.html>`_
cannot hide a Python loop's per-step overhead), is pure in its inputs, and can therefore be wrapped in
``jax.jit`` and ``jax.vmap`` — over seeds, over hyperparameters (build the optimizer inside the vmapped function), or
over genomes of evolved optimizers.

Each step hands the optimizer the extra keyword arguments that the library's transformations understand, so any
zoo optimizer, SAM variant, ALDVI schedule or evolved genome trains with the same loop:

* ``grad_fn(params) -> grads``: the gradient on the *same batch* (SAM's ascent step),
* ``value=`` (optax's name, read by e.g. ``optax.contrib.reduce_on_plateau``), the same again as ``loss=``, and
  ``accuracy=``: the batch's scalar loss and accuracy (ALDVI; accuracy is omitted for regression).

Transformations that do not use them ignore them (``optax.with_extra_args_support``). An ``optax.MultiSteps``
optimizer (the object, or its ``gradient_transformation()``) gets them too and hands them to the optimizer it wraps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optix_evo.data import Dataset
from optix_evo.optimizers._validation import with_extra_args_support

# (params, x, y) -> (scalar loss, metrics dict of scalars)
LossFn = Callable[[chex.ArrayTree, jax.Array, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


def classification_loss(apply_fn: Callable[[chex.ArrayTree, jax.Array], jax.Array]) -> LossFn:
  """Mean softmax cross-entropy of ``apply_fn(params, x)`` logits against integer labels, with accuracy.

  Args:
    apply_fn: ``(params, x) -> logits`` (e.g. a flax module's ``apply``).

  Returns:
    A loss function ``(params, x, y) -> (loss, {"accuracy": accuracy})`` for :func:`fit` and :func:`evaluate`.

  Examples:
    >>> import jax.numpy as jnp
    >>> from optix_evo import training
    >>> loss_fn = training.classification_loss(lambda p, x: x @ p)
    >>> loss, metrics = loss_fn(jnp.eye(2), jnp.array([[2.0, 0.0], [0.0, 2.0]]), jnp.array([0, 0]))
    >>> print(loss, metrics["accuracy"])
    1.1269 0.5
  """

  def loss_fn(params, x, y):
    logits = apply_fn(params, x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == y)
    return loss, {"accuracy": accuracy}

  return loss_fn


def regression_loss(apply_fn: Callable[[chex.ArrayTree, jax.Array], jax.Array]) -> LossFn:
  """Mean squared error of ``apply_fn(params, x)`` against real targets (predictions are squeezed to ``y``).

  Args:
    apply_fn: ``(params, x) -> predictions``.

  Returns:
    A loss function ``(params, x, y) -> (loss, {})`` for :func:`fit` and :func:`evaluate`.

  Examples:
    >>> import jax.numpy as jnp
    >>> from optix_evo import training
    >>> loss_fn = training.regression_loss(lambda p, x: x @ p)
    >>> print(loss_fn(jnp.ones((2, 1)), jnp.array([[1.0, 1.0], [0.0, 1.0]]), jnp.array([2.0, 0.0])))
    (Array(0.5, dtype=float32), {})
  """

  def loss_fn(params, x, y):
    pred = apply_fn(params, x).reshape(y.shape)
    return jnp.mean((pred - y) ** 2), {}

  return loss_fn


class FitResult(NamedTuple):
  """What :func:`fit` returns: the final parameters and optimizer state, and per-step training metrics.

  Attributes:
    params: the trained parameters.
    opt_state: the final optimizer state (continue with ``fit(..., opt_state=result.opt_state)``).
    loss: ``[steps]`` the training loss of each step's batch.
    metrics: each metric of the loss function, ``[steps]``.

  Examples:
    See :func:`fit`.
  """

  params: chex.ArrayTree
  opt_state: optax.OptState
  loss: jax.Array  # [steps] training loss of each step's batch
  metrics: dict[str, jax.Array]  # each [steps]


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Number of full batches in one pass over ``num_examples`` (the last, partial batch is dropped).

  Args:
    num_examples: the number of training examples.
    batch_size: examples per batch.

  Returns:
    ``num_examples // batch_size``.

  Raises:
    ValueError: if ``batch_size`` is not positive or larger than ``num_examples``.

  Examples:
    >>> from optix_evo import training
    >>> print(training.steps_per_epoch(1000, 128))
    7
  """
  if batch_size <= 0:
    raise ValueError(f"batch_size must be positive, got {batch_size}.")
  if batch_size > num_examples:
    raise ValueError(f"batch_size={batch_size} is larger than the {num_examples} training examples.")
  return num_examples // batch_size


PRECOMPUTED_INDICES = 1 << 22
"""Up to this many batch indices per run (16 MiB of int32), :func:`fit` draws every epoch's permutation up front."""


def _epoch_permutation(key: jax.Array, epoch: jax.Array, num_examples: int) -> jax.Array:
  return jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)


def _batch_of(perm: jax.Array, step: jax.Array, per_epoch: int, batch_size: int) -> jax.Array:
  return jax.lax.dynamic_slice_in_dim(perm, (step % per_epoch) * batch_size, batch_size)


def batch_indices(key: jax.Array, step: jax.Array, num_examples: int, batch_size: int) -> jax.Array:
  """Indices of the batch for ``step``: each epoch is a fresh permutation drawn from ``fold_in(key, epoch)``.

  Args:
    key: PRNG key of the batch order.
    step: the step index (may be traced).
    num_examples: the number of training examples.
    batch_size: examples per batch.

  Returns:
    ``[batch_size]`` int32 indices into the training arrays.

  Raises:
    ValueError: as :func:`steps_per_epoch`.

  Examples:
    >>> import jax
    >>> import numpy as np
    >>> from optix_evo import training
    >>> key = jax.random.PRNGKey(0)
    >>> epoch = np.concatenate([training.batch_indices(key, s, 6, 2) for s in range(3)])
    >>> print(sorted(epoch.tolist()))  # one epoch visits every example once
    [0, 1, 2, 3, 4, 5]
  """
  per_epoch = steps_per_epoch(num_examples, batch_size)
  return _batch_of(_epoch_permutation(key, step // per_epoch, num_examples), step, per_epoch, batch_size)


def step_extra_args(batch_loss: Callable[[chex.ArrayTree], jax.Array], loss: jax.Array,
                    metrics: dict[str, jax.Array]) -> dict[str, Any]:
  """The extra keyword arguments a training step hands its optimizer (see the module docstring): ``grad_fn`` (the
  gradient of ``batch_loss``, the loss on the step's batch), ``value`` and ``loss`` (the batch's loss) and, when
  ``metrics`` has it, ``accuracy``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from optix_evo import training
    >>> extra = training.step_extra_args(lambda p: jnp.sum(p ** 2), jnp.float32(2.0), {"accuracy": 0.5})
    >>> print(sorted(extra), extra["grad_fn"](jnp.ones(2)))
    ['accuracy', 'grad_fn', 'loss', 'value'] [2. 2.]
  """
  extra: dict[str, Any] = {"grad_fn": jax.grad(batch_loss), "value": loss, "loss": loss}
  if "accuracy" in metrics:
    extra["accuracy"] = metrics["accuracy"]
  return extra


def fit(
    loss_fn: LossFn,
    params: chex.ArrayTree,
    optimizer: optax.GradientTransformation,
    data: Dataset,
    key: jax.Array,
    *,
    steps: int,
    batch_size: int,
    opt_state: optax.OptState | None = None,
    first_step: int | jax.Array = 0,
) -> FitResult:
  """Trains ``params`` for ``steps`` minibatch steps inside one ``lax.scan``.

  Args:
    loss_fn: ``(params, x, y) -> (loss, metrics)``, e.g. :func:`classification_loss`.
    params: initial parameters.
    optimizer: any optax transformation, or an ``optax.MultiSteps``; it receives ``grad_fn``, ``value`` (= ``loss``)
      and ``accuracy`` as extra arguments.
    data: training arrays (kept on device; batches are gathered by index).
    key: PRNG key for the batch order.
    steps: number of updates.
    batch_size: examples per update.
    opt_state: optimizer state to continue from (default: ``optimizer.init(params)``).
    first_step: index of the first step, so a continued run keeps walking the same batch sequence.

  Returns:
    A :class:`FitResult`. Non-finite losses are not hidden: they show up in ``FitResult.loss``.

  Raises:
    ValueError: as :func:`steps_per_epoch` for a bad ``batch_size``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optix_evo as ox
    >>> from optix_evo import training
    >>> x = jax.random.normal(jax.random.PRNGKey(0), (64, 3))
    >>> data = ox.data.Dataset(x, x @ jnp.array([1.0, -2.0, 0.5]))
    >>> loss_fn = training.regression_loss(lambda p, x: x @ p)
    >>> result = training.fit(loss_fn, jnp.zeros(3), optax.sgd(learning_rate=0.1), data, jax.random.PRNGKey(1),
    ...                       steps=100, batch_size=16)
    >>> print(result.loss.shape, result.loss[0] > 1.0, result.loss[-1] < 1e-4, result.params.round(2))
    (100,) True True [ 1. -2. 0.5]
  """
  optimizer = with_extra_args_support(optimizer)
  if opt_state is None:
    opt_state = optimizer.init(params)
  x, y = jnp.asarray(data.x), jnp.asarray(data.y)
  num_examples = x.shape[0]

  # The epochs' permutations are drawn once, before the scan, when they fit in PRECOMPUTED_INDICES (a sort per step
  # is most of a small model's step, and under vmap a batched sort is slower still); the batches are the same.
  per_epoch = steps_per_epoch(num_examples, batch_size)
  n_epochs = steps // per_epoch + 2  # epochs that steps [first_step, first_step + steps) can touch
  if n_epochs * num_examples <= PRECOMPUTED_INDICES:
    first_epoch = jnp.asarray(first_step) // per_epoch
    perms = jax.vmap(lambda e: _epoch_permutation(key, e, num_examples))(first_epoch + jnp.arange(n_epochs))

    def indices(step):
      return _batch_of(perms[step // per_epoch - first_epoch], step, per_epoch, batch_size)
  else:
    def indices(step):
      return batch_indices(key, step, num_examples, batch_size)

  def step_fn(carry, step):
    params, opt_state = carry
    idx = indices(step)
    xb, yb = x[idx], y[idx]
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, xb, yb)

    extra = step_extra_args(lambda q: loss_fn(q, xb, yb)[0], loss, metrics)
    updates, opt_state = optimizer.update(grads, opt_state, params, **extra)
    params = optax.apply_updates(params, updates)
    return (params, opt_state), (loss, metrics)

  (params, opt_state), (losses, metrics) = jax.lax.scan(
      step_fn, (params, opt_state), first_step + jnp.arange(steps)
  )
  return FitResult(params, opt_state, losses, metrics)


def evaluate(loss_fn: LossFn, params: chex.ArrayTree, data: Dataset, *, chunk_size: int | None = None) -> dict[str, jax.Array]:
  """Loss and metrics of ``params`` on all of ``data``.

  With ``chunk_size`` the examples are processed in chunks of that many (bounded memory; a remainder that does not
  fill a chunk is evaluated separately), and the chunk results are averaged with their example counts as weights.

  Args:
    loss_fn: ``(params, x, y) -> (loss, metrics)``.
    params: the parameters to evaluate.
    data: the examples.
    chunk_size: examples per chunk (default: all at once).

  Returns:
    ``{"loss": ..., **metrics}``, the means over all examples.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> from optix_evo import training
    >>> loss_fn = training.classification_loss(lambda p, x: x @ p)
    >>> data = ox.data.Dataset(jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), jnp.array([0, 0, 0]))
    >>> print(training.evaluate(loss_fn, jnp.eye(2), data, chunk_size=2)["accuracy"])  # 2 of 3 right
    0.6667
  """
  x, y = jnp.asarray(data.x), jnp.asarray(data.y)
  n = x.shape[0]
  if chunk_size is None or chunk_size >= n:
    loss, metrics = loss_fn(params, x, y)
    return {"loss": loss, **metrics}
  full = (n // chunk_size) * chunk_size

  def chunk_metrics(xy):
    loss, metrics = loss_fn(params, *xy)
    return {"loss": loss, **metrics}

  chunked = jax.lax.map(
      chunk_metrics, (x[:full].reshape((-1, chunk_size, *x.shape[1:])), y[:full].reshape((-1, chunk_size, *y.shape[1:])))
  )
  total = jax.tree.map(lambda v: jnp.sum(v) * chunk_size, chunked)
  if full < n:
    rest = chunk_metrics((x[full:], y[full:]))
    total = jax.tree.map(lambda t, r: t + r * (n - full), total, rest)
  return jax.tree.map(lambda t: t / n, total)
