"""Recurrent sequence models (LSTM, GRU) for sequence regression and classification."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

_CELLS = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell}


class RecurrentNet(nn.Module):
  """A stack of recurrent layers over the time axis, read out from the last time step's hidden state.

  Inputs are ``[batch, time, features]``; ``[batch, time]`` is read as one feature per step (e.g. lagged windows of
  a univariate series). The read-out is ``Dense(outputs)``: 1 for scalar regression, the number of classes for
  classification logits.

  Attributes:
    cell: ``"lstm"`` (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", with a forget gate) or ``"gru"``
      (Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder").
    hidden: hidden width of each layer.
    layers: number of stacked recurrent layers.
    outputs: width of the read-out.
  """

  cell: str = "lstm"
  hidden: int = 32
  layers: int = 1
  outputs: int = 1

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    if self.cell not in _CELLS:
      raise ValueError(f"Unknown recurrent cell {self.cell!r}. Known cells: {', '.join(sorted(_CELLS))}.")
    if x.ndim == 2:
      x = x[..., None]
    if x.ndim != 3:
      raise ValueError(f"{type(self).__name__} expects [batch, time] or [batch, time, features]; got shape {x.shape}.")
    for _ in range(self.layers):
      x = nn.RNN(_CELLS[self.cell](self.hidden))(x)
    return nn.Dense(self.outputs)(x[:, -1])


class LSTM(RecurrentNet):
  """:class:`RecurrentNet` with LSTM cells (Hochreiter & Schmidhuber 1997)."""

  cell: str = "lstm"


class GRU(RecurrentNet):
  """:class:`RecurrentNet` with GRU cells (Cho et al. 2014)."""

  cell: str = "gru"
