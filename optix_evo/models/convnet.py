"""Small convolutional network."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class ConvNet(nn.Module):
  """``[Conv3x3 → ReLU → MaxPool2]`` per entry of ``features``, then ``Dense(hidden) → ReLU → Dense(outputs)``.

  The shape of the small ConvNet used as the search-time task of the NOS paper (Morgan & Hougen 2024, §6.1 of
  ``shared/design/nos.md``), scaled by ``features``/``hidden`` so it also fits 8×8 digit images. Inputs are NHWC.
  """

  features: Sequence[int] = (16, 32)
  hidden: int = 64
  outputs: int = 10

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    if x.ndim != 4:
      raise ValueError(f"ConvNet expects NHWC images (4 axes); got an input of shape {x.shape}.")
    for width in self.features:
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.hidden)(x))
    return nn.Dense(self.outputs)(x)
