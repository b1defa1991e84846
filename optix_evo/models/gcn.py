"""Graph convolutional network for node classification (Kipf & Welling 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np


def normalize_adjacency(adjacency: np.ndarray) -> np.ndarray:
  """The GCN propagation matrix :math:`\\hat A = \\tilde D^{-1/2} (A + I) \\tilde D^{-1/2}` (Kipf & Welling 2017, eq. 2)."""
  adjacency = np.asarray(adjacency, np.float32)
  if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
    raise ValueError(f"adjacency must be a square [nodes, nodes] matrix; got shape {adjacency.shape}.")
  a = adjacency + np.eye(adjacency.shape[0], dtype=np.float32)
  d = 1.0 / np.sqrt(a.sum(axis=1))
  return (a * d[:, None] * d[None, :]).astype(np.float32)


class GCN(nn.Module):
  """Graph convolutions :math:`H^{(l+1)} = \\mathrm{ReLU}(\\hat A H^{(l)} W^{(l)})`, then a linear graph convolution
  to ``outputs`` logits per node (Kipf & Welling 2017, "Semi-supervised classification with graph convolutional
  networks", eq. 9, with the hidden widths as a sequence).

  Called as ``GCN(...)(features, adjacency)`` with node features ``[nodes, in]`` and the normalised dense
  adjacency ``[nodes, nodes]`` from :func:`normalize_adjacency`; returns ``[nodes, outputs]``.
  """

  hidden: Sequence[int] = (16,)
  outputs: int = 2

  @nn.compact
  def __call__(self, features: jnp.ndarray, adjacency: jnp.ndarray) -> jnp.ndarray:
    if features.ndim != 2 or adjacency.shape != (features.shape[0], features.shape[0]):
      raise ValueError(
          f"GCN expects features [nodes, in] and adjacency [nodes, nodes]; got {features.shape} and {adjacency.shape}."
      )
    h = features
    for width in self.hidden:
      h = nn.relu(adjacency @ nn.Dense(width)(h))
    return adjacency @ nn.Dense(self.outputs)(h)
