"""Offline data sets as in-memory arrays, with deterministic splits from a seed.

Every loader returns a :class:`Split` of :class:`Dataset` arrays (features ``x`` as float32, labels ``y`` as int32
class indices for classification or float32 targets for regression). Nothing is downloaded: data come from
packages (scikit-learn's bundled sets, mnist1d) or are generated in code; the one exception, CIFAR-10, is read
from the standard python-pickle files on disk (:mod:`optix_evo.data.cifar10`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
  """Inputs ``x`` (leading axis = examples) and targets ``y``."""

  x: np.ndarray
  y: np.ndarray

  @property
  def num_examples(self) -> int:
    """Number of examples (``len`` is left to the tuple: a ``Dataset`` has two fields)."""
    return int(self.x.shape[0])


class Graph(NamedTuple):
  """A graph shared by all examples of a node-classification task: node features and a dense adjacency matrix."""

  features: np.ndarray  # [nodes, features] float32
  adjacency: np.ndarray  # [nodes, nodes] float32, symmetric 0/1, no self-loops


class Split(NamedTuple):
  """Train / validation / test partition of one data set, plus what a model needs to know about it.

  For node classification (``graph`` set) the examples' ``x`` are int32 node indices into ``graph``.
  """

  train: Dataset
  valid: Dataset
  test: Dataset
  num_classes: int  # 0 for regression targets
  name: str
  graph: Graph | None = None


def split_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    name: str,
    num_classes: int,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
    standardize: bool = True,
) -> Split:
  """Shuffles ``(x, y)`` with ``seed`` and cuts it into train/valid/test.

  Features are standardised with the training split's mean and standard deviation (per feature), so no
  statistics leak from the held-out splits.
  """
  if x.shape[0] != y.shape[0]:
    raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}; they must match.")
  if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
    raise ValueError(
        f"valid_fraction={valid_fraction} and test_fraction={test_fraction} must be in [0, 1) and sum to < 1."
    )
  order = np.random.default_rng(seed).permutation(x.shape[0])
  x, y = x[order], y[order]
  n = x.shape[0]
  n_test = int(round(n * test_fraction))
  n_valid = int(round(n * valid_fraction))
  n_train = n - n_test - n_valid
  x = x.astype(np.float32)
  if standardize:
    mean = x[:n_train].mean(axis=0, keepdims=True)
    std = x[:n_train].std(axis=0, keepdims=True)
    x = (x - mean) / np.where(std > 0, std, 1.0)
  y = y.astype(np.int32 if num_classes else np.float32)
  return Split(
      train=Dataset(x[:n_train], y[:n_train]),
      valid=Dataset(x[n_train : n_train + n_valid], y[n_train : n_train + n_valid]),
      test=Dataset(x[n_train + n_valid :], y[n_train + n_valid :]),
      num_classes=num_classes,
      name=name,
  )


def _sklearn_loader(loader_name: str, *, image_shape: tuple[int, ...] | None = None) -> Callable[..., Split]:
  def load(seed: int = 0, **kwargs) -> Split:
    from sklearn import datasets as sk_datasets  # pylint: disable=import-outside-toplevel

    bunch = getattr(sk_datasets, f"load_{loader_name}")()
    x, y = np.asarray(bunch.data, np.float32), np.asarray(bunch.target)
    split = split_arrays(x, y, seed=seed, name=loader_name, num_classes=int(y.max()) + 1, **kwargs)
    if image_shape is None:
      return split
    reshape = lambda d: Dataset(d.x.reshape((-1, *image_shape)), d.y)
    return split._replace(train=reshape(split.train), valid=reshape(split.valid), test=reshape(split.test))

  load.__doc__ = f"scikit-learn's bundled ``{loader_name}`` data set, split with ``seed``."
  return load


DATASETS: dict[str, Callable[..., Split]] = {
    "digits": _sklearn_loader("digits"),
    "digits_image": _sklearn_loader("digits", image_shape=(8, 8, 1)),
    "breast_cancer": _sklearn_loader("breast_cancer"),
    "wine": _sklearn_loader("wine"),
    "iris": _sklearn_loader("iris"),
}


def load_dataset(name: str, seed: int = 0, **kwargs) -> Split:
  """Loads the data set ``name`` (see :data:`DATASETS`) split deterministically with ``seed``.

  Raises:
    ValueError: for an unknown name; the message lists the known ones.
  """
  try:
    loader = DATASETS[name]
  except KeyError:
    raise ValueError(f"Unknown data set {name!r}. Known data sets: {', '.join(sorted(DATASETS))}.") from None
  return loader(seed=seed, **kwargs)
