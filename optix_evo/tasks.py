"""Tasks: a model, its loss and an offline data split — what the search, the bench and ``transfer`` train.

A :class:`Task` is everything a training run needs: ``init(key) -> params``, a loss for
:func:`optix_evo.training.fit`, train / valid / test arrays, which metric scores it, a default budget and,
optionally, a data augmentation applied to every training batch. The built-in tasks are in :data:`TASKS`
(name → :class:`TaskSpec`); :func:`get_task` builds one. Your own flax model and data plug in with
:meth:`Task.from_model`, or from the command line with ``--task my_module:make_task`` (:func:`load_task_hook`), where
``make_task(seed, data_dir) -> Task`` is a function of your own module.

Data (``optix_evo.data``, nothing downloaded): scikit-learn's bundled sets, ``mnist1d`` generated locally
(`Greydanus 2020 <https://arxiv.org/abs/2011.14439>`_), synthetic sequence, graph and time-series sets, and
CIFAR-10 from the python-pickle files the user puts in ``data_dir`` (`Krizhevsky 2009
<https://www.cs.toronto.edu/~kriz/cifar.html>`_).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from optix_evo import models, training
from optix_evo.data import Dataset, Split, load_dataset
from optix_evo.errors import InputError

Augment = Callable[[jax.Array, jax.Array], jax.Array]
"""``augment(key, x_batch) -> x_batch``: a random transformation of one training batch (pure, jittable)."""

METRICS = ("accuracy", "loss")
"""How a task is scored: ``"accuracy"`` (higher is better) or ``"loss"`` (lower is better, regression)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
  """A training problem. Compared by identity (it holds arrays), hashable, immutable.

  Attributes:
    name: short identifier (logs, results, the CLI).
    init: ``init(key) -> params``, fresh model parameters.
    loss_fn: ``(params, x, y) -> (loss, metrics)`` (:func:`optix_evo.training.classification_loss` reports
      ``"accuracy"``).
    train, valid, test: the split (``valid`` selects, ``test`` is only reported).
    metric: ``"accuracy"`` (higher is better) or ``"loss"`` (lower is better, regression).
    batch_size: examples per training step.
    steps: default number of training steps (the bench's budget; the search sets its own).
    family: model family, for the bench's tables (``"mlp"``, ``"cnn"``, ...).
    chance: the metric of a trivial predictor (1 / classes, or the target variance for regression).
    vmap: False for convolutional models: vmapping per-model kernels makes grouped convolutions, slow on XLA:CPU, so
      runners loop over runs instead.
    augment: optional :data:`Augment` applied to every training batch.

  Raises:
    InputError: for an empty name, an unknown metric, an empty part of the split, or a batch larger than the
      training set.

  Examples:
    >>> import jax
    >>> import optix_evo as ox
    >>> task = ox.tasks.get_task("iris_mlp")
    >>> print(task.name, task.metric, task.family, task.batch_size, task.train.x.shape, task.test.x.shape)
    iris_mlp accuracy mlp 16 (106, 4) (22, 4)
    >>> params = jax.eval_shape(task.init, jax.random.PRNGKey(0))  # shapes only: nothing runs
    >>> print(jax.tree.map(lambda a: a.shape, params)["params"]["Dense_0"])
    {'bias': (16,), 'kernel': (4, 16)}
  """

  name: str
  init: Callable[[jax.Array], chex.ArrayTree]
  loss_fn: training.LossFn
  train: Dataset
  valid: Dataset
  test: Dataset
  metric: str = "accuracy"
  batch_size: int = 64
  steps: int = 300
  family: str = "custom"
  chance: float = 0.0
  vmap: bool = True
  augment: Augment | None = None

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise InputError(f"A task needs a non-empty name, got {self.name!r}.")
    if self.metric not in METRICS:
      raise InputError(f"Task {self.name!r}: metric must be one of {METRICS}, got {self.metric!r}.")
    for part in ("train", "valid", "test"):
      data = getattr(self, part)
      if not isinstance(data, Dataset) or data.num_examples < 1 or len(data.y) != data.num_examples:
        raise InputError(f"Task {self.name!r}: {part} must be a non-empty Dataset(x, y) with one target per example.")
    if not 0 < self.batch_size <= self.train.num_examples:
      raise InputError(f"Task {self.name!r}: batch_size={self.batch_size} must be in [1, {self.train.num_examples}] "
                       "(the training examples).")
    if self.steps < 1:
      raise InputError(f"Task {self.name!r}: steps must be positive, got {self.steps}.")

  @classmethod
  def from_model(cls, name: str, model: Any, split: Split, *, batch_size: int = 64, steps: int = 300,
                 family: str = "custom", vmap: bool = True, augment: Augment | None = None) -> Task:
    """A task from a flax module (linen or NNX) and a :class:`~optix_evo.data.Split`.

    An NNX model is given as a function ``rngs -> nnx.Module`` (each seed draws its own parameters) or as an
    ``nnx.Module`` instance (every seed starts from its parameters). Its ``nnx.Param`` variables are the trained
    parameters (an ``nnx.State`` of arrays); its other state (batch statistics, RNG counters) stays as built.

    Classification when ``split.num_classes >= 2`` (softmax cross-entropy, accuracy), regression (mean squared
    error, scored by the test loss) when it is 0. A split with a ``graph`` (node classification) feeds the module
    ``(features, normalised adjacency)`` and scores the nodes whose indices are the examples.

    Args:
      name: the task's name.
      model: a flax linen module, an NNX module or a function ``rngs -> nnx.Module``, mapping a batch of inputs to
        logits (or predictions, regression).
      split: the data (:func:`optix_evo.data.load_dataset` or your own :class:`~optix_evo.data.Split`).
      batch_size: examples per step (capped at the training-set size).
      steps: the default training length.
      family: the model family, for the bench's tables.
      vmap: False for convolutional models (see :attr:`vmap`).
      augment: an optional :data:`Augment`.

    Returns:
      The :class:`Task`. ``ox.search.run(ox.search.preset("quick", task=task), "runs/mine")`` searches on it.

    Examples:
      >>> import optix_evo as ox
      >>> split = ox.data.load_dataset("iris", 0)
      >>> task = ox.tasks.Task.from_model("my_mlp", ox.models.MLP((8,), outputs=3), split, batch_size=16)
      >>> print(task.name, task.metric, round(task.chance, 4), task.batch_size)
      my_mlp accuracy 0.3333 16
    """
    if not isinstance(model, nn.Module):
      model = _NnxModel(model)
    if split.graph is not None:
      features = jnp.asarray(split.graph.features)
      adjacency = jnp.asarray(models.normalize_adjacency(split.graph.adjacency))
      init = lambda key: model.init(key, features, adjacency)  # noqa: E731
      apply = lambda params, nodes: model.apply(params, features, adjacency)[nodes]  # noqa: E731
    else:
      example = jnp.asarray(split.train.x[:1])
      init = lambda key: model.init(key, example)  # noqa: E731
      apply = model.apply
    if split.num_classes:
      loss_fn, metric, chance = training.classification_loss(apply), "accuracy", 1.0 / split.num_classes
    else:
      loss_fn, metric, chance = training.regression_loss(apply), "loss", float(np.var(split.test.y))
    return cls(name, init, loss_fn, split.train, split.valid, split.test, metric,
               min(batch_size, split.train.num_examples), steps, family, chance, vmap, augment)


class _NnxModel:
  """A flax NNX model seen through linen's ``init(key, *inputs)`` / ``apply(params, *inputs)``: the parameters are
  the model's ``nnx.Param`` state, pure arrays; the rest of its state is kept as built."""

  def __init__(self, model: Any):
    from flax import nnx  # pylint: disable=import-outside-toplevel

    self._nnx = nnx
    if isinstance(model, nnx.Module):
      self._factory, template = None, model
    elif callable(model):
      self._factory, template = model, model(nnx.Rngs(0))
      if not isinstance(template, nnx.Module):
        raise InputError(f"from_model: the function returned {type(template).__name__}, not an nnx.Module.")
    else:
      raise InputError(f"from_model takes a flax linen module, an nnx.Module or a function rngs -> nnx.Module, "
                       f"got {type(model).__name__}.")
    self._graphdef, params, self._rest = nnx.split(template, nnx.Param, ...)
    self._params = nnx.as_pure(params)

  def init(self, key: jax.Array, *inputs: Any) -> Any:
    del inputs
    if self._factory is None:
      return self._params
    return self._nnx.as_pure(self._nnx.state(self._factory(self._nnx.Rngs(key)), self._nnx.Param))

  def apply(self, params: Any, *inputs: Any) -> jax.Array:
    return self._nnx.merge(self._graphdef, params, self._rest)(*inputs)


def augment_images(key: jax.Array, x: jax.Array, *, pad: int = 4, flip: bool = True, cutout: int = 8) -> jax.Array:
  """Random crop after reflect-padding by ``pad``, random horizontal flip and one ``cutout × cutout`` zeroed square
  per image, on an NHWC batch (DeVries & Taylor 2017, "Improved Regularization of CNNs with Cutout"); the
  augmentation of the NOS evolution surrogate (Morgan & Hougen 2024).

  References: DeVries & Taylor, `Improved Regularization of Convolutional Neural Networks with Cutout
  <https://arxiv.org/abs/1708.04552>`_, 2017; Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and
  Learning Rate Schedule Joint Evolution <https://arxiv.org/abs/2404.06679>`_, 2024.

  Args:
    key: PRNG key.
    x: ``[N, H, W, C]`` images.
    pad: reflect-padding before the random crop (0: no crop).
    flip: random horizontal flips.
    cutout: the side of the zeroed square (0: none).

  Returns:
    The augmented batch, the shape of ``x``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> x = ox.tasks.augment_images(jax.random.PRNGKey(0), jnp.ones((2, 8, 8, 3)), pad=2, cutout=4)
    >>> print(x.shape, float(x.min()), float(x.max()))  # ones, with a 4×4 square cut out (clipped at edges)
    (2, 8, 8, 3) 0.0 1.0
  """
  n, h, w, _ = x.shape
  k_crop, k_flip, k_cut = jax.random.split(key, 3)
  if pad:
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    offsets = jax.random.randint(k_crop, (n, 2), 0, 2 * pad + 1)
    x = jax.vmap(lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (h, w, img.shape[-1])))(padded, offsets)
  if flip:
    x = jnp.where(jax.random.bernoulli(k_flip, 0.5, (n, 1, 1, 1)), x[:, :, ::-1], x)
  if cutout:
    centres = jax.random.randint(k_cut, (n, 2), 0, jnp.asarray([h, w]))
    rows, cols = jnp.arange(h)[None, :, None], jnp.arange(w)[None, None, :]
    inside = ((jnp.abs(rows - centres[:, 0, None, None]) <= cutout // 2 - 1 + cutout % 2)
              & (jnp.abs(cols - centres[:, 1, None, None]) <= cutout // 2 - 1 + cutout % 2))
    x = jnp.where(inside[..., None], 0.0, x)
  return x


class TaskSpec(NamedTuple):
  """How to build a built-in task: the data set, the model (given the split), the family and the budget.

  Attributes:
    family: the model family (``"mlp"``, ``"cnn"``, ``"transformer"``, ``"gnn"``, ``"rnn"``, ``"dnm"``).
    dataset: the :func:`optix_evo.data.load_dataset` name.
    model: ``model(split) -> flax module``.
    steps: the default training length.
    batch_size: the default batch size.
    dataset_kwargs: extra arguments of the loader.
    vmap: False for convolutions (see :attr:`Task.vmap`).
    augment: an optional :data:`Augment`.
    needs_files: the data is read from ``data_dir`` (CIFAR-10).

  Examples:
    >>> import optix_evo as ox
    >>> spec = ox.tasks.TASKS["mnist1d_mlp"]
    >>> print(spec.family, spec.dataset, spec.steps, spec.batch_size, spec.needs_files)
    mlp mnist1d 400 64 False
  """

  family: str
  dataset: str
  model: Callable[[Split], nn.Module]
  steps: int
  batch_size: int
  dataset_kwargs: Mapping[str, Any] = {}
  vmap: bool = True  # False for convolutions (see Task.vmap)
  augment: Augment | None = None
  needs_files: bool = False  # read from data_dir (CIFAR-10)


TASKS: dict[str, TaskSpec] = {
    "digits_mlp": TaskSpec("mlp", "digits", lambda s: models.MLP((64,), s.num_classes), 300, 64),
    "mnist1d_mlp": TaskSpec("mlp", "mnist1d", lambda s: models.MLP((128, 128), s.num_classes), 400, 64),
    "digits_cnn": TaskSpec("cnn", "digits_image", lambda s: models.NOSConvNet(base=8, outputs=s.num_classes), 300, 64,
                           vmap=False),
    # The NOS search-time ConvNet (Morgan & Hougen 2024): width 32 without augmentation for the random pool, width 48
    # with pad-crop, flip and cutout during evolution. Both read CIFAR-10 standardised per channel (the paper scales
    # the pool's inputs to [0, 1]).
    "cifar10_cnn": TaskSpec("cnn", "cifar10", lambda s: models.NOSConvNet(base=32, outputs=s.num_classes), 2000, 128,
                            vmap=False, needs_files=True),
    "cifar10_cnn48_aug": TaskSpec("cnn", "cifar10", lambda s: models.NOSConvNet(base=48, outputs=s.num_classes), 4000,
                                  128, vmap=False, augment=augment_images, needs_files=True),
    "mnist1d_transformer": TaskSpec(
        "transformer", "mnist1d",
        lambda s: models.TransformerClassifier(dim=32, heads=4, layers=2, outputs=s.num_classes, patch_size=4), 300, 64),
    "copy_transformer": TaskSpec(
        "transformer", "copy",
        lambda s: models.TransformerClassifier(dim=16, heads=2, layers=1, outputs=s.num_classes,
                                               output_length=s.train.y.shape[1]),
        200, 64),
    "sbm_gcn": TaskSpec("gnn", "sbm", lambda s: models.GCN((16,), s.num_classes), 200, 64),
    "wine_dnm": TaskSpec("dnm", "wine", lambda s: models.DNM(dendrites=10, outputs=s.num_classes), 300, 32),
    "iris_dnm": TaskSpec("dnm", "iris", lambda s: models.DNM(dendrites=5, outputs=s.num_classes), 300, 16),
    "iris_mlp": TaskSpec("mlp", "iris", lambda s: models.MLP((16,), s.num_classes), 300, 16),
    "mnist1d_gru": TaskSpec("rnn", "mnist1d", lambda s: models.GRU(hidden=32, outputs=s.num_classes), 300, 64),
    "adding_lstm": TaskSpec("rnn", "adding", lambda s: models.LSTM(hidden=32, outputs=1), 300, 64),
}
"""Built-in tasks, name → :class:`TaskSpec`."""


def get_task(name: str | Task, *, seed: int = 0, data_dir: str | None = None, steps: int | None = None,
             batch_size: int | None = None) -> Task:
  """The built-in task ``name`` with its data split drawn from ``seed`` (a :class:`Task` is returned as is).

  Args:
    name: a key of :data:`TASKS`, or a :class:`Task`.
    seed: seed of the data split (and of generated data sets).
    data_dir: folder with local data files (CIFAR-10 python pickles); ignored by tasks that need none.
    steps: overrides the task's default training length.
    batch_size: overrides the task's default batch (capped at the training-set size).

  Returns:
    The :class:`Task`.

  Raises:
    InputError: for an unknown name (the message lists the known ones), or missing data files.

  Examples:
    >>> import optix_evo as ox
    >>> task = ox.tasks.get_task("iris_mlp", steps=50)
    >>> print(task.name, task.steps, task.batch_size, round(task.chance, 4))
    iris_mlp 50 16 0.3333
  """
  if isinstance(name, Task):
    return name
  try:
    spec = TASKS[name]
  except (KeyError, TypeError):
    raise InputError(f"Unknown task {name!r}. Known tasks: {', '.join(sorted(TASKS))}; or pass "
                     "--task MODULE:FUNCTION for your own.") from None
  kwargs = dict(spec.dataset_kwargs)
  if spec.needs_files:
    kwargs["root"] = data_dir
  try:
    split = load_dataset(spec.dataset, seed, **kwargs)
  except FileNotFoundError as e:
    raise InputError(f"Task {name!r}: {e} With the command line: --data-dir DIR.") from None
  return Task.from_model(name, spec.model(split), split, batch_size=batch_size or spec.batch_size,
                         steps=steps or spec.steps, family=spec.family, vmap=spec.vmap, augment=spec.augment)


def load_task_hook(reference: str, *, seed: int = 0, data_dir: str | None = None) -> Task:
  """The task made by ``make_task(seed, data_dir)`` where ``reference`` is ``"package.module:make_task"`` (the
  command line's hook for your own model and data: it imports and runs your module, as a test runner would).

  Args:
    reference: ``"module:function"``; the module must be importable (on ``PYTHONPATH``).
    seed: passed to the function.
    data_dir: passed to the function.

  Returns:
    The function's :class:`Task`.

  Raises:
    InputError: when the reference is malformed, the module cannot be imported, or the function does not return a
      :class:`Task`.

  Examples:
    >>> import os
    >>> import sys
    >>> import tempfile
    >>> import optix_evo as ox
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "my_tasks.py"), "w") as f:
    ...   _ = f.write("import optix_evo as ox\\n"
    ...               "def make_task(seed, data_dir):\\n"
    ...               "  return ox.tasks.get_task('iris_mlp', seed=seed, steps=20)\\n")
    >>> sys.path.insert(0, folder)
    >>> print(ox.tasks.load_task_hook("my_tasks:make_task").steps)
    20
    >>> ox.tasks.load_task_hook("my_tasks")
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: --task 'my_tasks': expected a built-in name or MODULE:FUNCTION (e.g. ...).
    >>> sys.path.remove(folder)
    >>> del sys.modules["my_tasks"]
  """
  module_name, sep, attribute = reference.partition(":")
  if not sep or not module_name or not attribute.isidentifier():
    raise InputError(f"--task {reference!r}: expected a built-in name or MODULE:FUNCTION (e.g. my_tasks:make_task).")
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    raise InputError(f"--task {reference!r}: cannot import {module_name!r} ({e}); is it on PYTHONPATH?") from None
  factory = getattr(module, attribute, None)
  if not callable(factory):
    raise InputError(f"--task {reference!r}: {module_name} has no function {attribute!r}.")
  task = factory(seed, data_dir)
  if not isinstance(task, Task):
    raise InputError(f"--task {reference!r}: {attribute}(seed, data_dir) returned {type(task).__name__}, not "
                     "optix_evo.tasks.Task.")
  return task


def resolve_task(reference: str | Task, *, seed: int = 0, data_dir: str | None = None) -> Task:
  """A :class:`Task` from a built-in name, a ``MODULE:FUNCTION`` hook or a task.

  Args:
    reference: a key of :data:`TASKS`, ``"module:function"`` (:func:`load_task_hook`) or a :class:`Task`.
    seed: the data split's seed.
    data_dir: folder with local data files.

  Returns:
    The :class:`Task`.

  Raises:
    InputError: as :func:`get_task` and :func:`load_task_hook`.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.tasks.resolve_task("iris_mlp").name)
    iris_mlp
  """
  if isinstance(reference, str) and ":" in reference:
    return load_task_hook(reference, seed=seed, data_dir=data_dir)
  return get_task(reference, seed=seed, data_dir=data_dir)
