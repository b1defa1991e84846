"""Benchmark tasks: one model family on one offline data set, with its training budget.

A :class:`Problem` is everything the runner needs: ``init(key) -> params``, a loss for
:func:`optix_evo.training.fit`, the splits, and which metric scores it. Built-in tasks are in :data:`TASKS`
(name → :class:`TaskSpec`); :func:`build_task` turns a name into a :class:`Problem`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from optix_evo import models, training
from optix_evo.data import Dataset, Split, load_dataset


class Problem(NamedTuple):
  """A built task. ``metric`` is ``"accuracy"`` (higher is better) or ``"loss"`` (test MSE, lower is better)."""

  name: str
  family: str
  loss_fn: training.LossFn
  init: Callable[[jax.Array], chex.ArrayTree]
  train: Dataset
  valid: Dataset
  test: Dataset
  metric: str
  chance: float  # the metric of a trivial predictor: 1 / classes, or the target variance for regression
  steps: int
  batch_size: int
  vmap: bool  # False: the runner loops over grid × seeds inside its one program (lax.map) instead of vmapping


class TaskSpec(NamedTuple):
  """How to build a task: the data set, the model (given the split), the family it represents, and its budget."""

  family: str
  dataset: str
  model: Callable[[Split], nn.Module]
  steps: int
  batch_size: int
  dataset_kwargs: Mapping[str, Any] = {}
  # Vmapping a convolution over per-model kernels makes a grouped convolution, which XLA:CPU runs far slower than
  # the models one after another: convolutional tasks set vmap=False.
  vmap: bool = True


def _graph_apply(model: nn.Module, split: Split) -> tuple[Callable, Callable]:
  features, adjacency = jnp.asarray(split.graph.features), jnp.asarray(models.normalize_adjacency(split.graph.adjacency))
  init = lambda key: model.init(key, features, adjacency)
  apply = lambda params, nodes: model.apply(params, features, adjacency)[nodes]
  return init, apply


def build_task(name: str, *, steps: int | None = None, batch_size: int | None = None, data_seed: int = 0,
               data_dir: str | None = None) -> Problem:
  """Loads the data of task ``name`` (split with ``data_seed``) and builds its model and loss.

  ``steps`` / ``batch_size`` override the task's defaults (the batch is capped at the training-set size);
  ``data_dir`` is the folder of local data files (CIFAR-10; the other data sets ship with their packages).

  Raises:
    ValueError: for an unknown name (the message lists the known ones).
  """
  try:
    spec = TASKS[name]
  except KeyError:
    raise ValueError(f"Unknown bench task {name!r}. Known tasks: {', '.join(sorted(TASKS))}.") from None
  kwargs = dict(spec.dataset_kwargs)
  if data_dir is not None and spec.dataset in _LOCAL_FILES:
    kwargs["root"] = data_dir
  split = load_dataset(spec.dataset, seed=data_seed, **kwargs)
  model = spec.model(split)
  if split.graph is not None:
    init, apply = _graph_apply(model, split)
  else:
    example = jnp.asarray(split.train.x[:1])
    init = lambda key: model.init(key, example)
    apply = model.apply
  if split.num_classes:
    loss_fn, metric, chance = training.classification_loss(apply), "accuracy", 1.0 / split.num_classes
  else:
    loss_fn, metric, chance = training.regression_loss(apply), "loss", float(split.test.y.var())
  batch = min(batch_size or spec.batch_size, split.train.num_examples)
  return Problem(name, spec.family, loss_fn, init, split.train, split.valid, split.test, metric, chance,
                 steps or spec.steps, batch, spec.vmap)


_LOCAL_FILES = ("cifar10",)  # data sets read from files on disk (``root=``)

TASKS: dict[str, TaskSpec] = {
    "digits_mlp": TaskSpec("mlp", "digits", lambda s: models.MLP((64,), s.num_classes), 300, 64),
    "mnist1d_mlp": TaskSpec("mlp", "mnist1d", lambda s: models.MLP((128, 128), s.num_classes), 400, 64),
    "digits_cnn": TaskSpec("cnn", "digits_image", lambda s: models.NOSConvNet(base=8, outputs=s.num_classes), 300, 64,
                           vmap=False),
    "cifar10_cnn": TaskSpec("cnn", "cifar10", lambda s: models.NOSConvNet(base=32, outputs=s.num_classes), 2000, 128,
                            vmap=False),
    "mnist1d_transformer": TaskSpec(
        "transformer", "mnist1d", lambda s: models.TransformerClassifier(dim=32, heads=4, layers=2, outputs=s.num_classes, patch_size=4),
        300, 64),
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
