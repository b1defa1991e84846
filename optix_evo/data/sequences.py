"""Synthetic long-range sequence tasks: the adding problem and the copy problem."""

from __future__ import annotations

import numpy as np

from optix_evo.data.datasets import Split, split_arrays


def load_adding(seed: int = 0, *, num_examples: int = 2000, length: int = 30, **kwargs) -> Split:
  """The adding problem (Hochreiter & Schmidhuber 1997, section 5.4; the form of Le et al. 2015).

  Each step holds ``(value, marker)``: values are U(0, 1) and exactly two steps, one in each half of the sequence,
  are marked; the target is the sum of the two marked values (regression). Predicting the mean scores an MSE of 1/6.
  ``x`` is ``[N, length, 2]``, ``y`` is ``[N]``.

  Args:
    seed: the seed of the generator and the split.
    num_examples: the number of sequences.
    length: the number of steps per sequence.
    **kwargs: options of :func:`split_arrays`.

  Returns:
    A regression :class:`Split` (``num_classes`` 0).

  Examples:
    >>> import optix_evo as ox
    >>> split = ox.data.load_adding(num_examples=100, length=10)
    >>> x, y = split.train
    >>> print(x.shape[1:], x[0, :, 1].sum(), split.num_classes)  # two marked steps per sequence
    (10, 2) 2.0 0

  References:
    Hochreiter & Schmidhuber, `Long Short-Term Memory <https://doi.org/10.1162/neco.1997.9.8.1735>`_, Neural
    Computation 9, 1997 (experiment 4).

    Le, Jaitly & Hinton, `A Simple Way to Initialize Recurrent Networks of Rectified Linear Units
    <https://arxiv.org/abs/1504.00941>`_, 2015.
  """
  if length < 2:
    raise ValueError(f"length must be at least 2, got {length}.")
  rng = np.random.default_rng(seed)
  values = rng.uniform(size=(num_examples, length)).astype(np.float32)
  half = length // 2
  first = rng.integers(0, half, num_examples)
  second = rng.integers(half, length, num_examples)
  markers = np.zeros_like(values)
  markers[np.arange(num_examples), first] = 1.0
  markers[np.arange(num_examples), second] = 1.0
  x = np.stack([values, markers], axis=-1)
  y = (values * markers).sum(axis=1)
  return split_arrays(x, y, seed=seed, name="adding", num_classes=0, standardize=False, **kwargs)


def load_copy(seed: int = 0, *, num_examples: int = 2000, symbols: int = 8, length: int = 5, delay: int = 5,
              **kwargs) -> Split:
  """The copy (memory) problem (Hochreiter & Schmidhuber 1997; the form of Arjovsky et al. 2016).

  The input is ``length`` random symbols, ``delay`` blanks, a delimiter and ``length - 1`` blanks, one-hot encoded
  over ``symbols + 2`` tokens (``x``: ``[N, 2·length + delay, symbols + 2]``); the targets are the ``length`` symbols,
  to be emitted at the last ``length`` steps (``y``: ``[N, length]`` class indices; chance accuracy 1/``symbols``).

  Args:
    seed: the seed of the generator and the split.
    num_examples: the number of sequences.
    symbols: the number of distinct symbols.
    length: the number of symbols to copy.
    delay: the number of blanks between the symbols and the delimiter.
    **kwargs: options of :func:`split_arrays`.

  Returns:
    A classification :class:`Split` with ``num_classes`` = ``symbols``.

  Examples:
    >>> import optix_evo as ox
    >>> split = ox.data.load_copy(num_examples=100, symbols=4, length=3, delay=2)
    >>> print(split.train.x.shape[1:], split.train.y.shape[1:], split.num_classes)
    (8, 6) (3,) 4

  References:
    Hochreiter & Schmidhuber, `Long Short-Term Memory <https://doi.org/10.1162/neco.1997.9.8.1735>`_, Neural
    Computation 9, 1997.

    Arjovsky, Shah & Bengio, `Unitary Evolution Recurrent Neural Networks <https://arxiv.org/abs/1511.06464>`_,
    ICML 2016.
  """
  if symbols < 2 or length < 1 or delay < 0:
    raise ValueError(f"Need symbols >= 2, length >= 1 and delay >= 0; got {symbols}, {length}, {delay}.")
  rng = np.random.default_rng(seed)
  y = rng.integers(0, symbols, (num_examples, length))
  blank, delimiter = symbols, symbols + 1
  tokens = np.full((num_examples, 2 * length + delay), blank)
  tokens[:, :length] = y
  tokens[:, length + delay] = delimiter
  x = np.eye(symbols + 2, dtype=np.float32)[tokens]
  return split_arrays(x, y, seed=seed, name="copy", num_classes=symbols, standardize=False, **kwargs)
