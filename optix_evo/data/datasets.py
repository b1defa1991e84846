"""Offline data sets as in-memory arrays, with deterministic splits from a seed.

Every loader returns a :class:`Split` of :class:`Dataset` arrays (features ``x`` as float32, labels ``y`` as int32
class indices for classification or float32 targets for regression). Nothing is downloaded: data come from
packages (scikit-learn's bundled sets, mnist1d) or are generated in code; the image sets (CIFAR-10, CIFAR-100,
TinyImageNet) are read from their standard files on disk (:mod:`optix_evo.data.cifar`,
:mod:`optix_evo.data.tiny_imagenet`), found by :func:`data_dir`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from optix_evo.errors import InputError


class Dataset(NamedTuple):
  """Inputs ``x`` (leading axis = examples) and targets ``y``.

  Attributes:
    x: the inputs, ``[examples, ...]`` (float32, or int32 node indices for node classification).
    y: the targets: int32 class indices, or float32 regression targets.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> data = ox.data.Dataset(np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1]))
    >>> print(data.x.shape, data.y)
    (4, 3) [0 1 0 1]
  """

  x: np.ndarray
  y: np.ndarray

  @property
  def num_examples(self) -> int:
    """Number of examples (``len`` is left to the tuple: a ``Dataset`` has two fields)."""
    return int(self.x.shape[0])


class Graph(NamedTuple):
  """A graph shared by all examples of a node-classification task: node features and a dense adjacency matrix.

  Attributes:
    features: ``[nodes, features]`` float32 node features.
    adjacency: ``[nodes, nodes]`` float32, symmetric 0/1, no self-loops.

  Examples:
    >>> import optix_evo as ox
    >>> split = ox.data.load_sbm(nodes=40, communities=2)
    >>> print(split.graph.features.shape, split.graph.adjacency.shape, split.train.x[:3].dtype)
    (40, 16) (40, 40) int32
  """

  features: np.ndarray  # [nodes, features] float32
  adjacency: np.ndarray  # [nodes, nodes] float32, symmetric 0/1, no self-loops


class Split(NamedTuple):
  """Train / validation / test partition of one data set, plus what a model needs to know about it.

  For node classification (``graph`` set) the examples' ``x`` are int32 node indices into ``graph``.

  Attributes:
    train: the training examples.
    valid: the validation examples (for tuning and early stopping).
    test: the held-out examples.
    num_classes: the number of classes (0 for regression targets).
    name: the data set's name.
    graph: the shared graph of node classification, else ``None``.

  Examples:
    >>> import optix_evo as ox
    >>> split = ox.data.load_dataset("iris", seed=0)
    >>> print(split.name, split.num_classes, split.train.x.shape, split.valid.x.shape, split.test.x.shape)
    iris 3 (106, 4) (22, 4) (22, 4)
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

  Args:
    x: the inputs, ``[examples, ...]``.
    y: the targets, ``[examples, ...]``.
    seed: the seed of the shuffle.
    name: the data set's name (for :attr:`Split.name`).
    num_classes: the number of classes (0 for regression).
    valid_fraction: the fraction of examples in the validation split.
    test_fraction: the fraction of examples in the test split.
    standardize: standardise the features with the training statistics.

  Returns:
    A :class:`Split` with float32 ``x``.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> x, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    >>> split = ox.data.split_arrays(x, y, seed=0, name="toy", num_classes=2, valid_fraction=0.2, test_fraction=0.2)
    >>> print(len(split.train.y), len(split.valid.y), len(split.test.y), abs(split.train.x.mean(axis=0)).max() < 1e-6)
    6 2 2 True
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


def data_dir(root: str | os.PathLike | None, dirname: str, marker: str) -> Path:
  """Where a data set's folder ``dirname`` is looked for: ``root`` if given, else ``$OPTIX_EVO_DATA``, else
  ``~/.cache/optix_evo``; the path may be the folder itself (it holds ``marker``, or has that name) or its parent.

  Args:
    root: an explicit location (``None``: ``$OPTIX_EVO_DATA``, else ``~/.cache/optix_evo``).
    dirname: the data set's folder name as distributed (``"cifar-10-batches-py"``, ...).
    marker: a file that only that folder holds.

  Returns:
    The folder that should hold the data set's files (it need not exist).

  Examples:
    >>> import pathlib
    >>> import tempfile
    >>> import optix_evo as ox
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> print(ox.data.data_dir(root, "cifar-10-batches-py", "batches.meta").relative_to(root))
    cifar-10-batches-py
  """
  base = Path(root or os.environ.get("OPTIX_EVO_DATA") or Path.home() / ".cache" / "optix_evo").expanduser()
  return base if (base / marker).exists() or base.name == dirname else base / dirname


VALID_FROM = ("shuffled", "end")
"""Where an image set's validation split comes from: ``"shuffled"`` (the last images after a shuffle with the seed)
or ``"end"`` (the last images of the training file, in file order, no shuffle: the NOS authors' indices 45000–50000
of CIFAR-10)."""

SCALINGS = ("standardize", "standardize_file", "unit")
"""How image pixels become float32: ``"standardize"`` (per channel, the training split's mean and std),
``"standardize_file"`` (per channel, the statistics of the whole training file, validation images included, as the
NOS authors' evolution surrogate) or ``"unit"`` (``pixel / 255``, in [0, 1]: the authors' random-pool surrogate)."""


def image_split(train: Dataset, test: Dataset, *, seed: int, valid_size: int, max_train: int | None, num_classes: int,
                name: str, valid_from: str = "shuffled", scaling: str = "standardize") -> Split:
  """Cuts the ``uint8`` NHWC training images into training and validation splits and scales every split to float32.

  ``valid_from="shuffled"``: the images are shuffled with ``seed`` and the last ``valid_size`` are the validation
  split; ``"end"``: the last ``valid_size`` images of the file, in file order, and the rest in file order (the seed
  is not used). ``max_train`` keeps only the first that many of the training images. ``scaling``: one of
  :data:`SCALINGS`. ``test`` is the official held-out set.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> from optix_evo.data.datasets import image_split
    >>> images = ox.data.Dataset(np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * 25, np.arange(10))
    >>> split = image_split(images, images, seed=0, valid_size=3, max_train=None, num_classes=10, name="toy",
    ...                     valid_from="end", scaling="unit")
    >>> print(split.valid.y, split.train.y, float(split.train.x.max()))  # the file's last 3 images validate
    [7 8 9] [0 1 2 3 4 5 6] 0.5882353
  """
  n = train.num_examples
  if not 0 <= valid_size < n:
    raise InputError(f"valid_size={valid_size} must be in [0, {n}) for the {n} training images of {name}.")
  if max_train is not None and max_train < 1:
    raise InputError(f"max_train must be None or >= 1, got {max_train}.")
  if valid_from not in VALID_FROM:
    raise InputError(f"valid_from must be one of {VALID_FROM}, got {valid_from!r}.")
  if scaling not in SCALINGS:
    raise InputError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
  order = np.random.default_rng(seed).permutation(n) if valid_from == "shuffled" else np.arange(n)
  x, y = train.x[order], train.y[order]
  n_train = n - valid_size
  train_x, train_y = x[:n_train][:max_train], y[:n_train][:max_train]
  if scaling == "unit":
    mean, std = np.zeros(x.shape[-1], np.float32), np.ones(x.shape[-1], np.float32)
  else:
    scaled = (train_x if scaling == "standardize" else train.x).astype(np.float32) / 255.0
    mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
    std = np.where(std > 0, std, 1.0)
  norm = lambda images: ((images.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)  # noqa: E731
  return Split(
      train=Dataset(norm(train_x), train_y.astype(np.int32)),
      valid=Dataset(norm(x[n_train:]), y[n_train:].astype(np.int32)),
      test=Dataset(norm(test.x), test.y.astype(np.int32)),
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


#: The data sets by name: loaders ``(seed=0, **options) -> Split`` (the package adds ``mnist1d``, ``adding``,
#: ``copy``, ``sbm``, ``cifar10``, ``cifar100`` and ``tiny_imagenet`` to the scikit-learn sets listed here).
DATASETS: dict[str, Callable[..., Split]] = {
    "digits": _sklearn_loader("digits"),
    "digits_image": _sklearn_loader("digits", image_shape=(8, 8, 1)),
    "breast_cancer": _sklearn_loader("breast_cancer"),
    "wine": _sklearn_loader("wine"),
    "iris": _sklearn_loader("iris"),
}


def load_dataset(name: str, seed: int = 0, **kwargs) -> Split:
  """Loads the data set ``name`` (see :data:`DATASETS`) split deterministically with ``seed``.

  Args:
    name: a key of :data:`DATASETS` (``"digits"``, ``"iris"``, ``"mnist1d"``, ``"cifar10"``, ...).
    seed: the seed of the split.
    **kwargs: options of that loader (``num_examples=``, ``root=``, ...).

  Returns:
    A :class:`Split`.

  Raises:
    ValueError: for an unknown name; the message lists the known ones.

  Examples:
    >>> import optix_evo as ox
    >>> split = ox.data.load_dataset("digits", seed=0)
    >>> print(split.train.x.shape, split.num_classes)
    (1257, 64) 10
    >>> ox.data.load_dataset("mnist")
    Traceback (most recent call last):
      ...
    ValueError: Unknown data set 'mnist'. Known data sets: ...
  """
  try:
    loader = DATASETS[name]
  except KeyError:
    raise ValueError(f"Unknown data set {name!r}. Known data sets: {', '.join(sorted(DATASETS))}.") from None
  return loader(seed=seed, **kwargs)
