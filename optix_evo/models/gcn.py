"""Graph convolutional network for node classification (Kipf & Welling 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np


def normalize_adjacency(adjacency: np.ndarray) -> np.ndarray:
  r"""The GCN propagation matrix :math:`\hat A = \tilde D^{-1/2} (A + I) \tilde D^{-1/2}` (Kipf & Welling 2017, eq. 2).

  Args:
    adjacency: a square ``[nodes, nodes]`` adjacency matrix (0/1 or weighted).

  Returns:
    The normalised float32 matrix, self-loops added.

  Raises:
    ValueError: if ``adjacency`` is not square.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> print(ox.models.normalize_adjacency(np.array([[0, 1], [1, 0]])))
    [[0.5 0.5]
     [0.5 0.5]]

  References:
    Kipf & Welling, `Semi-Supervised Classification with Graph Convolutional Networks
    <https://arxiv.org/abs/1609.02907>`_, ICLR 2017.
  """
  adjacency = np.asarray(adjacency, np.float32)
  if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
    raise ValueError(f"adjacency must be a square [nodes, nodes] matrix; got shape {adjacency.shape}.")
  a = adjacency + np.eye(adjacency.shape[0], dtype=np.float32)
  d = 1.0 / np.sqrt(a.sum(axis=1))
  return (a * d[:, None] * d[None, :]).astype(np.float32)


class GCN(nn.Module):
  r"""Graph convolutions :math:`H^{(l+1)} = \mathrm{ReLU}(\hat A H^{(l)} W^{(l)})`, then a linear graph convolution
  to ``outputs`` logits per node (Kipf & Welling 2017, eq. 9, with the hidden widths as a sequence).

  Called as ``GCN(...)(features, adjacency)`` with node features ``[nodes, in]`` and the normalised dense
  adjacency ``[nodes, nodes]`` from :func:`normalize_adjacency`; returns ``[nodes, outputs]``.

  Attributes:
    hidden: the widths of the hidden graph convolutions.
    outputs: the number of logits per node.

  Raises:
    ValueError: from ``apply``, for features that are not ``[nodes, in]`` or an adjacency of another size.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> adjacency = ox.models.normalize_adjacency(np.eye(3)[[1, 2, 0]])  # a directed 3-cycle
    >>> model = ox.models.GCN(hidden=(4,), outputs=2)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.ones((3, 5)), adjacency)  # shapes only
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((3, 5)), adjacency).shape)
    (3, 2)

  References:
    Kipf & Welling, `Semi-Supervised Classification with Graph Convolutional Networks
    <https://arxiv.org/abs/1609.02907>`_, ICLR 2017.
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
