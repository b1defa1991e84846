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

  Raises:
    ValueError: from ``apply``, for an unknown cell or inputs that are not ``[batch, time(, features)]``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.RecurrentNet(cell="gru", hidden=4, layers=2, outputs=1)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 6)))  # shapes only
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((3, 6))).shape)  # 3 series of 6 steps, one feature each
    (3, 1)

  References:
    Hochreiter & Schmidhuber, `Long Short-Term Memory <https://doi.org/10.1162/neco.1997.9.8.1735>`_, Neural
    Computation 9, 1997.

    Cho et al., `Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation
    <https://arxiv.org/abs/1406.1078>`_, EMNLP 2014.
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
  """:class:`RecurrentNet` with LSTM cells (Hochreiter & Schmidhuber 1997).

  Attributes:
    cell: ``"lstm"``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.LSTM(hidden=4, outputs=2)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 5, 3)))  # shapes only
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((2, 5, 3))).shape)
    (2, 2)

  References:
    Hochreiter & Schmidhuber, `Long Short-Term Memory <https://doi.org/10.1162/neco.1997.9.8.1735>`_, Neural
    Computation 9, 1997.
  """

  cell: str = "lstm"


class GRU(RecurrentNet):
  """:class:`RecurrentNet` with GRU cells (Cho et al. 2014).

  Attributes:
    cell: ``"gru"``.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.GRU(hidden=4, outputs=1)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 5)))  # shapes only
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((2, 5))).shape)
    (2, 1)

  References:
    Cho et al., `Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation
    <https://arxiv.org/abs/1406.1078>`_, EMNLP 2014.
  """

  cell: str = "gru"
