"""CIFAR-10 (Krizhevsky 2009) from the standard python-pickle batch files on disk; nothing is downloaded."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from optix_evo.data.datasets import Dataset, Split

CIFAR10_DIRNAME = "cifar-10-batches-py"
_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_FILE = "test_batch"


def cifar10_dir(root: str | os.PathLike | None = None) -> Path:
  """Where the batch files are looked for: ``root`` if given, else ``$OPTIX_EVO_DATA``, else ``~/.cache/optix_evo``.

  The folder may be the ``cifar-10-batches-py`` folder itself or its parent.
  """
  base = Path(root or os.environ.get("OPTIX_EVO_DATA") or Path.home() / ".cache" / "optix_evo").expanduser()
  return base if (base / _TEST_FILE).exists() or base.name == CIFAR10_DIRNAME else base / CIFAR10_DIRNAME


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
  with open(path, "rb") as f:
    batch = pickle.load(f, encoding="bytes")
  data = np.asarray(batch[b"data"], np.uint8).reshape((-1, 3, 32, 32)).transpose(0, 2, 3, 1)
  return data, np.asarray(batch[b"labels"], np.int32)


def load_cifar10(
    seed: int = 0, *, root: str | os.PathLike | None = None, valid_size: int = 5000, max_train: int | None = None
) -> Split:
  """CIFAR-10 as NHWC float32 images, standardised per channel with the training split's statistics.

  The five training batches are shuffled with ``seed``; the last ``valid_size`` of them are the validation split
  (as in the NOS search task, the authors' ``NeuralOptimizerSearch.py``) and the official test batch is the test split. ``max_train`` keeps only
  the first that many training examples (quick runs).

  Raises:
    FileNotFoundError: when the batch files are missing; the message says where to put them.
  """
  folder = cifar10_dir(root)
  missing = [name for name in (*_TRAIN_FILES, _TEST_FILE) if not (folder / name).exists()]
  if missing:
    raise FileNotFoundError(
        f"CIFAR-10 files {', '.join(missing)} not found in {folder}. Download the python version "
        "(https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), extract it, and put the "
        f"'{CIFAR10_DIRNAME}' folder in $OPTIX_EVO_DATA or ~/.cache/optix_evo (or pass root=...)."
    )
  parts = [_read_batch(folder / name) for name in _TRAIN_FILES]
  x = np.concatenate([p[0] for p in parts])
  y = np.concatenate([p[1] for p in parts])
  if not 0 <= valid_size < x.shape[0]:
    raise ValueError(f"valid_size={valid_size} must be in [0, {x.shape[0]}).")
  order = np.random.default_rng(seed).permutation(x.shape[0])
  x, y = x[order], y[order]
  n_train = x.shape[0] - valid_size
  train_x, train_y = x[:n_train][:max_train], y[:n_train][:max_train]
  test_x, test_y = _read_batch(folder / _TEST_FILE)
  scaled = train_x.astype(np.float32) / 255.0
  mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
  norm = lambda images: ((images.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
  return Split(
      train=Dataset(norm(train_x), train_y),
      valid=Dataset(norm(x[n_train:]), y[n_train:]),
      test=Dataset(norm(test_x), test_y),
      num_classes=10,
      name="cifar10",
  )
