"""Multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """A fully connected network: ``Dense → activation`` per hidden layer, then a linear read-out.

  Inputs with more than one feature axis are flattened. Rumelhart, Hinton & Williams (1986).

  Attributes:
    hidden: widths of the hidden layers.
    outputs: width of the read-out (number of classes, or 1 for scalar regression).
    activation: hidden non-linearity.
  """

  hidden: Sequence[int] = (64,)
  outputs: int = 10
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = x.reshape((x.shape[0], -1))
    act = getattr(nn, self.activation)
    for width in self.hidden:
      x = act(nn.Dense(width)(x))
    return nn.Dense(self.outputs)(x)
