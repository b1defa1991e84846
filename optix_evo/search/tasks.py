"""Search tasks: a flax model plus an offline data split, trained by the candidate optimizers.

A :class:`Task` is all the search needs to score an optimizer: ``init_params(key)``, a loss function for
:func:`optix_evo.training.fit`, and train/valid/test arrays. Built-in tasks live in :data:`TASKS`; users plug in
their own with ``Task(name, model, split, batch_size)`` and pass it to the search config.

Data (all from ``optix_evo.data``, nothing downloaded): scikit-learn's bundled digits, ``mnist1d`` generated
locally by the ``mnist1d`` package (Greydanus 2020), and CIFAR-10 from the python-pickle files the user puts in
``data_dir`` (Krizhevsky 2009).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import chex
import flax.linen as nn
import jax

from optix_evo.data import Split, load_dataset
from optix_evo.models import MLP, ConvNet
from optix_evo.training import LossFn, classification_loss


@dataclasses.dataclass(frozen=True)
class Task:
  """A classification task for scoring optimizers.

  Attributes:
    name: short identifier (used in logs, results and the CLI).
    model: a flax linen module mapping a batch of inputs to logits.
    split: train / valid / test arrays (``valid`` gives the fitness, ``test`` is never used by the search).
    batch_size: examples per training step.
  """

  name: str
  model: nn.Module
  split: Split
  batch_size: int = 64

  def __post_init__(self):
    if self.split.num_classes < 2:
      raise ValueError(f"Task {self.name!r} needs a classification split (num_classes >= 2), got {self.split.num_classes}.")
    if not 0 < self.batch_size <= self.split.train.num_examples:
      raise ValueError(
          f"Task {self.name!r}: batch_size={self.batch_size} must be in [1, {self.split.train.num_examples}] (training examples)."
      )

  def init_params(self, key: jax.Array) -> chex.ArrayTree:
    """Fresh model parameters drawn with ``key``."""
    return self.model.init(key, self.split.train.x[:1])

  @property
  def loss_fn(self) -> LossFn:
    """Softmax cross-entropy with accuracy as metric (see :func:`optix_evo.training.classification_loss`)."""
    return classification_loss(self.model.apply)


def _cifar10(seed: int, data_dir: str | None) -> Split:
  try:
    return load_dataset("cifar10", seed, root=data_dir)
  except FileNotFoundError as e:  # the CLI reports ValueErrors as configuration errors (exit code 2)
    raise ValueError(f"{e} With the CLI: --data-dir DIR.") from None


TaskFactory = Callable[..., Task]

TASKS: dict[str, TaskFactory] = {
    "digits_mlp": lambda seed, data_dir: Task("digits_mlp", MLP(hidden=(32,)), load_dataset("digits", seed), 64),
    "digits_convnet": lambda seed, data_dir: Task(
        "digits_convnet", ConvNet(features=(8, 16), hidden=32), load_dataset("digits_image", seed), 64),
    "mnist1d_mlp": lambda seed, data_dir: Task("mnist1d_mlp", MLP(hidden=(64, 64)), load_dataset("mnist1d", seed), 64),
    "cifar10_convnet": lambda seed, data_dir: Task(
        "cifar10_convnet", ConvNet(features=(32, 64, 128), hidden=128), _cifar10(seed, data_dir), 128),
}
"""Built-in tasks: name → ``factory(seed, data_dir) -> Task``."""


def get_task(name: str | Task, *, seed: int = 0, data_dir: str | None = None) -> Task:
  """The built-in task ``name`` with its data split drawn from ``seed`` (a :class:`Task` is returned as is).

  Raises:
    ValueError: for an unknown name (the message lists the known ones) or missing CIFAR-10 files.
  """
  if isinstance(name, Task):
    return name
  try:
    factory = TASKS[name]
  except KeyError:
    raise ValueError(f"Unknown task {name!r}. Known tasks: {', '.join(sorted(TASKS))}.") from None
  return factory(seed, data_dir)
