"""MNIST-1D (Greydanus 2020): ten classes of 40-sample 1-D signals, generated locally by the ``mnist1d`` package."""

from __future__ import annotations

import functools

import numpy as np

from optix_evo.data.datasets import Split, split_arrays


@functools.lru_cache(maxsize=4)
def _generate(num_samples: int, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
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
