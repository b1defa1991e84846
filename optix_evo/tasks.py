"""Tasks: a model, its loss and an offline data split — what the search, the bench and ``transfer`` train.

A :class:`Task` is everything a training run needs: ``init(key) -> params``, a loss for
:func:`optix_evo.training.fit`, train / valid / test arrays, which metric scores it, a default budget and,
optionally, a data augmentation applied to every training batch. The built-in tasks are in :data:`TASKS`
(name → :class:`TaskSpec`); :func:`get_task` builds one. Your own flax model and data plug in with
:meth:`Task.from_model`, or from the command line with ``--task my_module:make_task`` (:func:`load_task_hook`), where
``make_task(seed, data_dir) -> Task`` is a function of your own module.

Data (``optix_evo.data``, nothing downloaded): scikit-learn's bundled sets, ``mnist1d`` generated locally
(`Greydanus 2020 <https://arxiv.org/abs/2011.14439>`_), synthetic sequence, graph and time-series sets, and
CIFAR-10 / CIFAR-100 from the python-pickle files the user puts in ``data_dir`` (`Krizhevsky 2009
<https://www.cs.toronto.edu/~kriz/cifar.html>`_), TinyImageNet, Flowers102, Caltech101 and Stanford Cars from their
standard folders (:mod:`optix_evo.data.finetune`).

Models with dropout or batch normalisation's running averages (the NOS paper's ConvNet, EfficientNetV2) carry
:class:`TrainingModes`: trainers keep their model state between steps and evaluate in inference mode
(:meth:`Task.from_stateful_model`); a fine-tuning task starts from pretrained weights (:func:`finetune_task`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from optix_evo import models, training
from optix_evo.data import Dataset, Split, load_dataset
from optix_evo.errors import InputError

Augment = Callable[[jax.Array, jax.Array], jax.Array]
"""``augment(key, x_batch) -> x_batch``: a random transformation of one training batch (pure, jittable)."""

METRICS = ("accuracy", "loss")
"""How a task is scored: ``"accuracy"`` (higher is better) or ``"loss"`` (lower is better, regression)."""

TrainLossFn = Callable[[chex.ArrayTree, chex.ArrayTree, jax.Array, jax.Array, jax.Array],
                       tuple[jax.Array, tuple[dict[str, jax.Array], chex.ArrayTree]]]
"""``(params, model_state, x, y, key) -> (loss, (metrics, new_model_state))``: a training-mode loss."""


class TrainingModes(NamedTuple):
  """How a model that behaves differently in training and at evaluation trains and is evaluated: dropout (a random
  key per step) and batch normalisation with running averages (model state carried from step to step, outside the
  optimizer). Trainers reach it through :meth:`Task.initial_state`, :meth:`Task.training_loss` and
  :meth:`Task.evaluation_loss`.

  Attributes:
    init_state: ``init_state(key) -> model_state`` (e.g. ``{"batch_stats": ...}``).
    train_loss: a :data:`TrainLossFn`: dropout on, batch statistics, the updated running averages returned.
    eval_loss: ``(params, model_state, x, y) -> (loss, metrics)``: no dropout, running averages.
  """

  init_state: Callable[[jax.Array], chex.ArrayTree]
  train_loss: TrainLossFn
  eval_loss: Callable[[chex.ArrayTree, chex.ArrayTree, jax.Array, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


def linen_modes(model: nn.Module, example: jax.Array, variables: Callable[[jax.Array], chex.ArrayTree] | None = None,
                ) -> tuple[Callable[[jax.Array], chex.ArrayTree], training.LossFn, TrainingModes]:
  """``(init, stateless_loss, modes)`` of a classification linen module called as ``model(x, train=...,
  deterministic=...)`` whose non-``params`` collections (``batch_stats``) are its model state.

  Args:
    model: the module.
    example: one input batch (shapes for ``init``).
    variables: ``variables(key) -> {"params": ..., "batch_stats": ...}``, the initial variables (default
      ``model.init``; a fine-tuning task loads its pretrained backbone here).

  Returns:
    ``init(key) -> params``; ``stateless_loss(params, x, y)``, the loss for trainers that carry no model state
    (batch statistics, no dropout); the :class:`TrainingModes`.
  """
  if variables is None:
    variables = lambda key: model.init({"params": key, "dropout": key}, example, train=False)  # noqa: E731
  init = lambda key: variables(key)["params"]  # noqa: E731
  init_state = lambda key: {k: v for k, v in variables(key).items() if k != "params"}  # noqa: E731
  state_shapes = jax.eval_shape(init_state, jax.random.PRNGKey(0))
  collections = list(state_shapes)

  def scored(logits, y):
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, {"accuracy": jnp.mean(jnp.argmax(logits, axis=-1) == y)}

  def train_loss(params, state, x, y, key):
    logits, new_state = model.apply({"params": params, **state}, x, train=True, rngs={"dropout": key},
                                    mutable=collections)
    loss, metrics = scored(logits, y)
    return loss, (metrics, dict(new_state))

  def eval_loss(params, state, x, y):
    return scored(model.apply({"params": params, **state}, x, train=False), y)

  def stateless_loss(params, x, y):
    # Batch normalisation only writes its running averages in training mode, so placeholders suffice.
    placeholder = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), state_shapes)
    logits, _ = model.apply({"params": params, **placeholder}, x, train=True, deterministic=True,
                            mutable=collections)
    return scored(logits, y)

  return init, stateless_loss, TrainingModes(init_state, train_loss, eval_loss)


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
    modes: optional :class:`TrainingModes` (dropout, batch normalisation with running averages); trainers that
      carry model state use them through :meth:`initial_state`, :meth:`training_loss` and :meth:`evaluation_loss`,
      others use ``loss_fn``.

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
  modes: TrainingModes | None = None

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

  def initial_state(self, key: jax.Array) -> chex.ArrayTree:
    """The model state a run starts from (``()`` for a task without :attr:`modes`)."""
    return () if self.modes is None else self.modes.init_state(key)

  def training_loss(self, params: chex.ArrayTree, state: chex.ArrayTree, x: jax.Array, y: jax.Array,
                    key: jax.Array) -> tuple[jax.Array, tuple[dict[str, jax.Array], chex.ArrayTree]]:
    """``(loss, (metrics, new_state))`` of one training batch: dropout drawn from ``key`` and batch statistics that
    update ``state`` for a task with :attr:`modes`, else ``loss_fn`` with ``state`` passed through."""
    if self.modes is None:
      loss, metrics = self.loss_fn(params, x, y)
      return loss, (metrics, state)
    return self.modes.train_loss(params, state, x, y, key)

  def evaluation_loss(self, state: chex.ArrayTree) -> training.LossFn:
    """The loss at evaluation given the model state (no dropout, running averages); ``loss_fn`` without
    :attr:`modes`."""
    if self.modes is None:
      return self.loss_fn
    return lambda params, x, y: self.modes.eval_loss(params, state, x, y)

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


  @classmethod
  def from_stateful_model(cls, name: str, model: nn.Module, split: Split, *, batch_size: int = 64, steps: int = 300,
                          family: str = "custom", vmap: bool = False, augment: Augment | None = None,
                          variables: Callable[[jax.Array], chex.ArrayTree] | None = None) -> Task:
    """A classification task from a linen module with dropout and/or running batch-normalisation averages, called
    as ``model(x, train=..., deterministic=...)`` (:class:`~optix_evo.models.NOSConvNet`,
    :class:`~optix_evo.models.EfficientNetV2`): trained in training mode with its model state carried between
    steps, evaluated in inference mode (:class:`TrainingModes`).

    Args:
      name, split, batch_size, steps, family, vmap, augment: as :meth:`from_model`.
      model: the module.
      variables: ``variables(key) -> {"params": ..., "batch_stats": ...}``, the starting point (default
        ``model.init``; fine-tuning loads pretrained weights here).

    Returns:
      The :class:`Task`, with :attr:`Task.modes` set.

    Raises:
      InputError: for a split without classes.

    Examples:
      >>> import jax
      >>> import optix_evo as ox
      >>> split = ox.data.load_dataset("digits_image", 0)
      >>> model = ox.models.NOSConvNet(base=4, outputs=10, dropout=0.2, running_norm=True)
      >>> task = ox.tasks.Task.from_stateful_model("digits_paper_cnn", model, split, batch_size=32)
      >>> state = jax.eval_shape(task.initial_state, jax.random.PRNGKey(0))
      >>> print(task.modes is not None, sorted(state), sorted(state["batch_stats"]))
      True ['batch_stats'] ['BatchNorm_0', 'BatchNorm_1', 'BatchNorm_2']
    """
    if not split.num_classes or split.graph is not None:
      raise InputError(f"Task {name!r}: from_stateful_model needs an image/feature classification split.")
    init, stateless_loss, modes = linen_modes(model, jnp.asarray(split.train.x[:1]), variables)
    return cls(name, init, stateless_loss, split.train, split.valid, split.test, "accuracy",
               min(batch_size, split.train.num_examples), steps, family, 1.0 / split.num_classes, vmap, augment, modes)


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
    stateful: the model has dropout and/or running batch-normalisation averages (:meth:`Task.from_stateful_model`).
    pretrained: the file (in ``data_dir``) of the backbone's pretrained weights, flax msgpack (fine-tuning,
      :func:`finetune_task`).

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
  stateful: bool = False  # dropout / BatchNorm running averages: Task.from_stateful_model
  pretrained: str | None = None  # backbone weights file in data_dir (fine-tuning)


def _paper_convnet(base: int, split: Split) -> nn.Module:
  return models.NOSConvNet(base=base, outputs=split.num_classes, dropout=0.2, running_norm=True)


def _efficientnet(split: Split, preprocessing: str = "none") -> nn.Module:
  return models.EfficientNetV2(outputs=split.num_classes, preprocessing=preprocessing)


flip_images = functools.partial(augment_images, pad=0, cutout=0)
"""Random horizontal flips only (the fine-tuning tasks' augmentation; ``uint8`` images stay ``uint8``)."""

EFFICIENTNET_WEIGHTS = "efficientnetv2-s.msgpack"
"""The file name (in ``data_dir``) of EfficientNetV2-S's ImageNet weights for the fine-tuning tasks, converted by
``scripts/convert_weights.py``."""

_AUG = {"augment": augment_images, "vmap": False, "needs_files": True, "stateful": True}
_STANDARD = {"valid_size": 5000}
_FINETUNE = {"augment": flip_images, "vmap": False, "needs_files": True, "stateful": True,
             "pretrained": EFFICIENTNET_WEIGHTS}


TASKS: dict[str, TaskSpec] = {
    "digits_mlp": TaskSpec("mlp", "digits", lambda s: models.MLP((64,), s.num_classes), 300, 64),
    "mnist1d_mlp": TaskSpec("mlp", "mnist1d", lambda s: models.MLP((128, 128), s.num_classes), 400, 64),
    "digits_cnn": TaskSpec("cnn", "digits_image", lambda s: models.NOSConvNet(base=8, outputs=s.num_classes), 300, 64,
                           vmap=False),
    # The NOS search-time tasks as the authors' NeuralOptimizerSearch.py runs them (Morgan & Hougen 2024): their
    # ConvNet with Dropout(0.2) and Keras BatchNormalization (running averages at evaluation), validated on images
    # 45000-50000 of the training file. Random pool: width 32, pixels scaled to [0, 1], no augmentation. Evolution:
    # width 48, standardised with the whole training file's statistics, pad-crop, flip and cutout.
    # The paper's ConvNet (Dropout 0.2, BatchNorm running averages) on scikit-learn's 8×8 digits: a shipped-data
    # stand-in for the CIFAR rows that runs on a CPU.
    "digits_paper_cnn": TaskSpec("cnn", "digits_image", lambda s: _paper_convnet(8, s), 300, 64, vmap=False,
                                 stateful=True),
    "cifar10_cnn": TaskSpec("cnn", "cifar10", lambda s: _paper_convnet(32, s), 2000, 128,
                            {"valid_size": 5000, "valid_from": "end", "scaling": "unit"},
                            vmap=False, needs_files=True, stateful=True),
    "cifar10_cnn48_aug": TaskSpec("cnn", "cifar10", lambda s: _paper_convnet(48, s), 4000, 128,
                                  {"valid_size": 5000, "valid_from": "end", "scaling": "standardize_file"},
                                  vmap=False, augment=augment_images, needs_files=True, stateful=True),
    # Transfer rows of the NOS paper. CIFAR-100 and TinyImageNet: the paper's networks for these rows could not be
    # established (neither the abstract nor the authors' code names them); two candidates, trained from scratch with
    # the evolution surrogate's augmentation: the search's ConvNet at width 64 and EfficientNetV2-S.
    "cifar100_cnn": TaskSpec("cnn", "cifar100", lambda s: _paper_convnet(64, s), 8000, 128, _STANDARD, **_AUG),
    "cifar100_effnetv2s": TaskSpec("cnn", "cifar100", _efficientnet, 8000, 128, _STANDARD, **_AUG),
    "tiny_imagenet_cnn": TaskSpec("cnn", "tiny_imagenet", lambda s: _paper_convnet(64, s), 8000, 128, {}, **_AUG),
    "tiny_imagenet_effnetv2s": TaskSpec("cnn", "tiny_imagenet", _efficientnet, 8000, 128, {}, **_AUG),
    # Fine-tuning (the paper: EfficientNetV2-S on Flowers102, Cars196, Caltech101): ImageNet-pretrained backbone
    # (EFFICIENTNET_WEIGHTS in data_dir), a new head, 384×384 uint8 images (Keras' preprocessing), random flips.
    "flowers102_effnetv2s": TaskSpec("cnn", "flowers102", lambda s: _efficientnet(s, "keras"), 2000, 32, **_FINETUNE),
    "caltech101_effnetv2s": TaskSpec("cnn", "caltech101", lambda s: _efficientnet(s, "keras"), 2000, 32, **_FINETUNE),
    "cars196_effnetv2s": TaskSpec("cnn", "stanford_cars", lambda s: _efficientnet(s, "keras"), 2000, 32,
                                  **_FINETUNE),
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
             batch_size: int | None = None, dataset_kwargs: Mapping[str, Any] | None = None) -> Task:
  """The built-in task ``name`` with its data split drawn from ``seed`` (a :class:`Task` is returned as is).

  Args:
    name: a key of :data:`TASKS`, or a :class:`Task`.
    seed: seed of the data split (and of generated data sets).
    data_dir: folder with local data files (CIFAR-10 python pickles); ignored by tasks that need none.
    steps: overrides the task's default training length.
    batch_size: overrides the task's default batch (capped at the training-set size).
    dataset_kwargs: overrides options of the task's data loader (e.g. ``{"valid_size": 5}`` on tiny files).

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
  kwargs = {**spec.dataset_kwargs, **(dataset_kwargs or {})}
  if spec.needs_files:
    kwargs["root"] = data_dir
  try:
    split = load_dataset(spec.dataset, seed, **kwargs)
  except FileNotFoundError as e:
    raise InputError(f"Task {name!r}: {e} With the command line: --data-dir DIR.") from None
  model = spec.model(split)
  kwargs = {"batch_size": batch_size or spec.batch_size, "steps": steps or spec.steps, "family": spec.family,
            "vmap": spec.vmap, "augment": spec.augment}
  if spec.pretrained:
    folder = Path(data_dir or os.environ.get("OPTIX_EVO_DATA") or Path.home() / ".cache" / "optix_evo").expanduser()
    return finetune_task(name, model, split, folder / spec.pretrained, **kwargs)
  build = Task.from_stateful_model if spec.stateful else Task.from_model
  return build(name, model, split, **kwargs)


def finetune_task(name: str, model: nn.Module, split: Split, weights: str | os.PathLike, *, head: str = "predictions",
                  **kwargs: Any) -> Task:
  """A fine-tuning task: ``model``'s backbone starts from the pretrained variables in ``weights`` (flax msgpack,
  :func:`optix_evo.models.save_variables`; ``scripts/convert_weights.py`` converts Keras and torchvision
  checkpoints), its head ``head`` is new; trained with dropout and batch statistics, evaluated with the running
  averages (:meth:`Task.from_stateful_model`).

  Args:
    name: the task's name.
    model: the full model (e.g. :class:`~optix_evo.models.EfficientNetV2` with ``outputs=split.num_classes``).
    split: the data.
    weights: the pretrained backbone's file.
    head: the head's module name (its pretrained entries, if any, are not used).
    **kwargs: as :meth:`Task.from_stateful_model` (``batch_size``, ``steps``, ``augment``, ...).

  Returns:
    The :class:`Task`.

  Raises:
    InputError: missing or malformed weights, or weights of another architecture (the message names the entry).
  """
  example = jnp.asarray(split.train.x[:1])
  variables = models.with_pretrained(model, example, models.load_variables(weights), head=head)
  return Task.from_stateful_model(name, model, split, variables=variables, **kwargs)


TASK_SIGNATURES = ("make_task()", "make_task(seed)", "make_task(seed, data_dir)")
"""The signatures a ``MODULE:FUNCTION`` task function may have (it is called with as many arguments as it takes)."""


def _call_task_function(reference: str, factory, seed: int, data_dir: str | None):
  try:
    signature = inspect.signature(factory)
  except (TypeError, ValueError):  # no signature to read (a builtin): the documented full form
    return factory(seed, data_dir)
  for args in ((seed, data_dir), (seed,), ()):
    try:
      signature.bind(*args)
    except TypeError:
      continue
    return factory(*args)
  raise InputError(f"--task {reference!r}: {reference.partition(':')[2]}{signature} cannot be called as a task "
                   f"function; accepted signatures: {', '.join(TASK_SIGNATURES)} (returning an optix_evo.tasks.Task).")


def load_task_hook(reference: str, *, seed: int = 0, data_dir: str | None = None) -> Task:
  """The task made by ``make_task(seed, data_dir)``, ``make_task(seed)`` or ``make_task()`` where ``reference`` is
  ``"package.module:make_task"`` (the command line's hook for your own model and data: it imports and runs your
  module, as a test runner would). The function gets as many of ``seed`` (the data split's seed) and ``data_dir``
  (``--data-dir``) as it takes.

  Args:
    reference: ``"module:function"``; the module must be importable (on ``PYTHONPATH``).
    seed: passed to the function.
    data_dir: passed to the function.

  Returns:
    The function's :class:`Task`.

  Raises:
    InputError: when the reference is malformed, the module cannot be imported, the function has none of the
      accepted signatures (:data:`TASK_SIGNATURES`), or it does not return a :class:`Task`.

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
  task = _call_task_function(reference, factory, seed, data_dir)
  if not isinstance(task, Task):
    raise InputError(f"--task {reference!r}: {attribute}() returned {type(task).__name__}, not "
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
