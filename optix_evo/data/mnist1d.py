"""MNIST-1D (Greydanus 2020): ten classes of 40-sample 1-D signals, generated locally by the ``mnist1d`` package.

Generating 5000 signals takes a few CPU seconds, so the arrays are kept in a cache folder (:func:`data_cache_dir`)
as a plain ``.npz`` (read without pickle) named for the package version, the number of signals and the seed; a
cached file that cannot be read, or holds arrays of the wrong shape or type, is generated again.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import tempfile

import numpy as np

from optix_evo.compilation import default_cache_dir
from optix_evo.data.datasets import Split, split_arrays

LENGTH = 40  # samples per signal


def data_cache_dir() -> str | None:
  """The folder of generated data sets: ``$OPTIX_EVO_DATA_CACHE``, or ``$XDG_CACHE_HOME/optix_evo/data``
  (``~/.cache/optix_evo/data`` when unset); ``None`` when ``OPTIX_EVO_DATA_CACHE`` is ``off`` (no file is read or
  written).

  Examples:
    >>> import os
    >>> from optix_evo.data.mnist1d import data_cache_dir
    >>> folder = data_cache_dir()
    >>> print(folder is None or os.path.isabs(folder))
    True
  """
  folder = os.environ.get("OPTIX_EVO_DATA_CACHE")
  if folder == "off":
    return None
  if folder:
    return os.path.abspath(folder)
  return os.path.join(os.path.dirname(default_cache_dir()), "data")  # beside the compilation cache


def _read_cached(path: str, num_samples: int) -> tuple[np.ndarray, np.ndarray] | None:
  try:
    with np.load(path, allow_pickle=False) as f:
      x, y = f["x"], f["y"]
  except (OSError, ValueError, KeyError, EOFError):
    return None
  ok = (x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (num_samples, LENGTH)
        and y.shape == (num_samples,))
  return (x, y) if ok else None


def _write_cached(path: str, x: np.ndarray, y: np.ndarray) -> None:
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
      np.savez(f, x=x, y=y)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
  except OSError:  # a read-only or full disk: the arrays were generated, the cache is only a speed-up
    pass


@functools.lru_cache(maxsize=4)
def _generate(num_samples: int, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
  folder = data_cache_dir()
  path = None
  if folder is not None:
    version = importlib.metadata.version("mnist1d")
    path = os.path.join(folder, f"mnist1d-{version}-{num_samples}-{data_seed}.npz")
    cached = _read_cached(path, num_samples)
    if cached is not None:
      return cached
  x, y = _make(num_samples, data_seed)
  if path is not None:
    _write_cached(path, x, y)
  return x, y


def _make(num_samples: int, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
  from mnist1d.data import get_dataset_args, make_dataset  # pylint: disable=import-outside-toplevel

  args = get_dataset_args()
  args.num_samples, args.seed = num_samples, data_seed
  state = np.random.get_state()  # make_dataset seeds numpy's global generator; leave it as we found it
  try:
    data = make_dataset(args)
  finally:
    np.random.set_state(state)
  x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
  y = np.concatenate([data["y"], data["y_test"]]).astype(np.int32)
  return x, y


def load_mnist1d(seed: int = 0, *, num_samples: int = 5000, data_seed: int = 42, **kwargs) -> Split:
  """MNIST-1D generated with the package's reference settings (``data_seed`` 42 gives the published set).

  ``x`` is ``[N, 40]`` (a sequence model reads it as 40 steps of one feature); the examples are split with ``seed``.
  The generated signals are kept in :func:`data_cache_dir` (``OPTIX_EVO_DATA_CACHE=off`` turns that off).

  Args:
    seed: the seed of the split.
    num_samples: the number of signals generated.
    data_seed: the seed of the generator (42: the published set).
    **kwargs: options of :func:`split_arrays` (``valid_fraction``, ...).

  Returns:
    A :class:`Split` of ``[N, 40]`` float32 signals and int32 labels, 10 classes.

  Examples:
    >>> import optix_evo as ox
    >>> split = ox.data.load_mnist1d(num_samples=200)
    >>> print(split.train.x.shape[1], split.num_classes)
    40 10

  References:
    Greydanus, `Scaling down Deep Learning <https://arxiv.org/abs/2011.14439>`_, 2020; code:
    `greydanus/mnist1d <https://github.com/greydanus/mnist1d>`_.
  """
  x, y = _generate(num_samples, data_seed)
  return split_arrays(x, y, seed=seed, name="mnist1d", num_classes=10, **kwargs)
