"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the standard "python version" files on disk; nothing is downloaded.

* CIFAR-10: ``cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, each a pickled
  dict with ``b"data"`` (``uint8 [N, 3072]``: 1024 red, then green, then blue values per image, row-major) and
  ``b"labels"``;
* CIFAR-100: ``cifar-100-python/`` with ``train`` and ``test`` (the same layout, labels in ``b"fine_labels"`` (100
  classes) and ``b"coarse_labels"`` (20 superclasses)).

The files are pickles: they are read with :func:`~optix_evo.data.restricted_pickle.load_restricted`, which allows
only the types these files hold, so a crafted file cannot run code. Get them from
https://www.cs.toronto.edu/~kriz/cifar.html (the python versions), extract, and put the folder in
``$OPTIX_EVO_DATA`` or ``~/.cache/optix_evo`` (or pass ``root=``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from optix_evo.data.datasets import Dataset, Split, data_dir, image_split
from optix_evo.data.restricted_pickle import load_restricted
from optix_evo.errors import InputError

CIFAR10_DIRNAME = "cifar-10-batches-py"
CIFAR100_DIRNAME = "cifar-100-python"
_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_FILE = "test_batch"


def cifar10_dir(root: str | os.PathLike | None = None) -> Path:
  """Where the CIFAR-10 batch files are looked for: ``root`` if given, else ``$OPTIX_EVO_DATA``, else
  ``~/.cache/optix_evo``; it may be the ``cifar-10-batches-py`` folder itself or its parent.

  Args:
    root: an explicit location (the folder or its parent).

  Returns:
    The ``cifar-10-batches-py`` folder (it need not exist).

  Examples:
    >>> import pathlib
    >>> import tempfile
    >>> import optix_evo as ox
    >>> print(ox.data.cifar10_dir(tempfile.mkdtemp()).name)
    cifar-10-batches-py
  """
  return data_dir(root, CIFAR10_DIRNAME, _TEST_FILE)


def cifar100_dir(root: str | os.PathLike | None = None) -> Path:
  """Where the CIFAR-100 files are looked for (as :func:`cifar10_dir`, folder ``cifar-100-python``).

  Args:
    root: an explicit location (the folder or its parent).

  Returns:
    The ``cifar-100-python`` folder (it need not exist).

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> print(ox.data.cifar100_dir(tempfile.mkdtemp()).name)
    cifar-100-python
  """
  return data_dir(root, CIFAR100_DIRNAME, "test")


def _check_files(folder: Path, names: tuple[str, ...], dirname: str, url: str) -> None:
  missing = [name for name in names if not (folder / name).exists()]
  if missing:
    raise FileNotFoundError(
        f"{dirname} files {', '.join(missing)} not found in {folder}. Download the python version ({url}), "
        f"extract it, and put the '{dirname}' folder in $OPTIX_EVO_DATA or ~/.cache/optix_evo (or pass root=...).")


def read_batch(path: Path, label_key: bytes = b"labels", num_classes: int = 10) -> Dataset:
  """One CIFAR batch file as NHWC ``uint8`` images and ``int32`` labels, checked (types, shapes, label range).

  Raises:
    InputError: the file is not such a batch (or asks to run code).
  """
  batch = load_restricted(path, "CIFAR batch")
  if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
    keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
    raise InputError(f"{path} is not a CIFAR batch: expected a dict with b'data' and {label_key!r}, got {keys}.")
  data, labels = batch[b"data"], batch[label_key]
  if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
    raise InputError(f"{path}: b'data' must be a uint8 array of shape [N, 3072], got "
                     f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}.")
  try:
    labels = np.asarray(labels, np.int64)
  except (TypeError, ValueError) as e:
    raise InputError(f"{path}: {label_key!r} must be a list of integers ({e}).") from None
  if labels.shape != (data.shape[0],) or (labels.size and (labels.min() < 0 or labels.max() >= num_classes)):
    raise InputError(f"{path}: {label_key!r} must hold {data.shape[0]} labels in [0, {num_classes}).")
  images = data.reshape((-1, 3, 32, 32)).transpose(0, 2, 3, 1)
  return Dataset(images, labels.astype(np.int32))


def _concat(parts: list[Dataset]) -> Dataset:
  return Dataset(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))


def load_cifar10(
    seed: int = 0, *, root: str | os.PathLike | None = None, valid_size: int = 5000, max_train: int | None = None,
    valid_from: str = "shuffled", scaling: str = "standardize",
) -> Split:
  """CIFAR-10 as NHWC float32 images, standardised per channel with the training split's statistics (by default).

  The five training batches are shuffled with ``seed``; the last ``valid_size`` of them are the validation split and
  the official test batch is the test split. With ``valid_from="end"`` the validation split is the last
  ``valid_size`` images in file order (the NOS authors' fixed indices 45000–50000, ``NeuralOptimizerSearch.py``).
  ``max_train`` keeps only the first that many training examples (quick runs).

  Args:
    seed: the seed of the shuffle.
    root: where the batch files are (see :func:`cifar10_dir`).
    valid_size: the number of training images held out for validation.
    max_train: keep only the first that many training images.
    valid_from: ``"shuffled"`` or ``"end"`` (:data:`optix_evo.data.datasets.VALID_FROM`).
    scaling: ``"standardize"``, ``"standardize_file"`` or ``"unit"`` ([0, 1];
      :data:`optix_evo.data.datasets.SCALINGS`).

  Returns:
    A :class:`Split` of ``[N, 32, 32, 3]`` float32 images and int32 labels, 10 classes.

  Raises:
    FileNotFoundError: when the batch files are missing; the message says where to put them.
    InputError: a file is not a CIFAR batch (or asks to run code).

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> ox.data.load_cifar10(root=tempfile.mkdtemp())
    Traceback (most recent call last):
      ...
    FileNotFoundError: ...

  References:
    Krizhevsky, `Learning Multiple Layers of Features from Tiny Images
    <https://www.cs.toronto.edu/~kriz/learning-features-2009-TR.pdf>`_, 2009; data:
    https://www.cs.toronto.edu/~kriz/cifar.html.
  """
  folder = cifar10_dir(root)
  _check_files(folder, (*_TRAIN_FILES, _TEST_FILE), CIFAR10_DIRNAME,
               "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
  train = _concat([read_batch(folder / name) for name in _TRAIN_FILES])
  return image_split(train, read_batch(folder / _TEST_FILE), seed=seed, valid_size=valid_size, max_train=max_train,
                     num_classes=10, name="cifar10", valid_from=valid_from, scaling=scaling)


def load_cifar100(
    seed: int = 0, *, root: str | os.PathLike | None = None, valid_size: int = 5000, max_train: int | None = None,
    labels: str = "fine", valid_from: str = "shuffled", scaling: str = "standardize",
) -> Split:
  """CIFAR-100 as NHWC float32 images (standardised as :func:`load_cifar10`): the official ``train`` file shuffled
  with ``seed`` (its last ``valid_size`` images: the validation split), the official ``test`` file as the test split.

  Args:
    seed: the seed of the shuffle.
    root: where the files are (see :func:`cifar100_dir`).
    valid_size: the number of training images held out for validation.
    max_train: keep only the first that many training images.
    labels: ``"fine"`` (100 classes, the usual benchmark) or ``"coarse"`` (20 superclasses).
    valid_from, scaling: as :func:`load_cifar10`.

  Returns:
    A :class:`Split` of ``[N, 32, 32, 3]`` float32 images and int32 labels (100 or 20 classes).

  Raises:
    FileNotFoundError: when the files are missing; the message says where to put them.
    InputError: a file is not a CIFAR-100 file (or asks to run code), or ``labels`` is unknown.

  Examples:
    >>> import tempfile
    >>> import optix_evo as ox
    >>> ox.data.load_cifar100(root=tempfile.mkdtemp())
    Traceback (most recent call last):
      ...
    FileNotFoundError: ...

  References:
    Krizhevsky, `Learning Multiple Layers of Features from Tiny Images
    <https://www.cs.toronto.edu/~kriz/learning-features-2009-TR.pdf>`_, 2009; data:
    https://www.cs.toronto.edu/~kriz/cifar.html.
  """
  if labels not in ("fine", "coarse"):
    raise InputError(f"labels must be 'fine' (100 classes) or 'coarse' (20 superclasses), got {labels!r}.")
  folder = cifar100_dir(root)
  _check_files(folder, ("train", "test"), CIFAR100_DIRNAME, "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz")
  key, classes = (b"fine_labels", 100) if labels == "fine" else (b"coarse_labels", 20)
  train, test = (read_batch(folder / name, key, classes) for name in ("train", "test"))
  return image_split(train, test, seed=seed, valid_size=valid_size, max_train=max_train, num_classes=classes,
                     name="cifar100" if labels == "fine" else "cifar100_coarse", valid_from=valid_from, scaling=scaling)
