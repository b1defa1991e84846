"""Search tasks: a flax model plus an offline data split, trained by the candidate optimizers.

A :class:`Task` is all the search needs to score an optimizer: ``init_params(key)``, a loss function for
:func:`optix_evo.training.fit`, and train/valid/test arrays. Built-in tasks live in :data:`TASKS`; users plug in
their own with ``Task(name, model, split, batch_size)`` and pass it to the search config.

Data sources: scikit-learn's bundled digits (``optix_evo.data``), ``mnist1d`` generated locally by the
``mnist1d`` package (Greydanus 2020; no download), and CIFAR-10 from the python-pickle files that the user puts
in ``data_dir`` (Krizhevsky 2009; no download either).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pickle
from collections.abc import Callable

import chex
import flax.linen as nn
import jax
import numpy as np

from optix_evo.data import Dataset, Split, load_dataset, split_arrays
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
    if not 0 < self.batch_size <= len(self.split.train):
      raise ValueError(
          f"Task {self.name!r}: batch_size={self.batch_size} must be in [1, {len(self.split.train)}] (training examples)."
      )

  def init_params(self, key: jax.Array) -> chex.ArrayTree:
    """Fresh model parameters drawn with ``key``."""
    return self.model.init(key, self.split.train.x[:1])

  @property
  def loss_fn(self) -> LossFn:
    """Softmax cross-entropy with accuracy as metric (see :func:`optix_evo.training.classification_loss`)."""
    return classification_loss(self.model.apply)


def _mnist1d_split(seed: int) -> Split:
  """``mnist1d`` (40-sample 1-d signals, 10 classes): 4000 train / 1000 test generated in code; 15% of the
  training part becomes the validation split."""
  x, y, x_test, y_test = _mnist1d_arrays()
  split = split_arrays(x, y, seed=seed, name="mnist1d", num_classes=10, valid_fraction=0.15, test_fraction=0.0,
                       standardize=False)
  return split._replace(test=Dataset(x_test.astype(np.float32), y_test.astype(np.int32)))


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> tuple[np.ndarray, ...]:
  try:
    from mnist1d.data import get_dataset_args, make_dataset  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ValueError("The mnist1d tasks need the `mnist1d` package: pip install mnist1d.") from e
  data = make_dataset(get_dataset_args())  # generated from the package's templates with its fixed seed
  return data["x"], data["y"], data["x_test"], data["y_test"]


def _cifar10_split(seed: int, data_dir: str | None) -> Split:
  """CIFAR-10 from the python-pickle batches (``data_batch_1..5``, ``test_batch``), 45k/5k train/valid as in NOS."""
  if data_dir is None:
    raise ValueError(
        "The cifar10 task reads the CIFAR-10 python version from --data-dir (nothing is downloaded): extract "
        "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and pass --data-dir DIR, where DIR "
        "holds data_batch_1 ... data_batch_5 and test_batch (or the cifar-10-batches-py folder)."
    )
  folder = data_dir
  if not os.path.exists(os.path.join(folder, "data_batch_1")):
    folder = os.path.join(data_dir, "cifar-10-batches-py")
  names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
  missing = [n for n in names if not os.path.exists(os.path.join(folder, n))]
  if missing:
    raise ValueError(
        f"CIFAR-10 files {missing} not found in {data_dir!r} (or its cifar-10-batches-py folder). Put the python "
        "version's data_batch_1 ... data_batch_5 and test_batch there."
    )

  def read(name: str) -> tuple[np.ndarray, np.ndarray]:
    with open(os.path.join(folder, name), "rb") as f:
      batch = pickle.load(f, encoding="bytes")
    x = np.asarray(batch[b"data"], np.float32).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) / 255.0
    return x, np.asarray(batch[b"labels"], np.int32)

  train = [read(n) for n in names[:5]]
  x, y = np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])
  x_test, y_test = read("test_batch")
  mean, std = x[:45000].mean(axis=(0, 1, 2)), x[:45000].std(axis=(0, 1, 2))
  norm = lambda a: ((a - mean) / std).astype(np.float32)
  del seed  # the NOS split is fixed: the first 45k images train, the last 5k validate
  return Split(Dataset(norm(x[:45000]), y[:45000]), Dataset(norm(x[45000:]), y[45000:]), Dataset(norm(x_test), y_test),
               num_classes=10, name="cifar10")


TaskFactory = Callable[..., Task]

TASKS: dict[str, TaskFactory] = {
    "digits_mlp": lambda seed, data_dir: Task("digits_mlp", MLP(hidden=(32,)), load_dataset("digits", seed), 64),
    "digits_convnet": lambda seed, data_dir: Task(
        "digits_convnet", ConvNet(features=(8, 16), hidden=32), load_dataset("digits_image", seed), 64),
    "mnist1d_mlp": lambda seed, data_dir: Task("mnist1d_mlp", MLP(hidden=(64, 64)), _mnist1d_split(seed), 64),
    "cifar10_convnet": lambda seed, data_dir: Task(
        "cifar10_convnet", ConvNet(features=(32, 64, 128), hidden=128), _cifar10_split(seed, data_dir), 128),
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
