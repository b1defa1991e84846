"""The dendritic neuron model (DNM) of Gao et al. (2018)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def _uniform_symmetric(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
  """U(-1, 1), the initial range of the synaptic weights and thresholds in Gao et al. (2018)."""
  return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


class DNM(nn.Module):
  r"""Dendritic neuron model: synaptic layer, multiplicative dendrites, summing membrane, sigmoid soma.

  For input :math:`x \in \mathbb{R}^D` and ``dendrites`` = M branches (Gao et al. 2018, eqs. 1-4):

  * synapses :math:`Y_{ij} = \sigma(k (w_{ij} x_i - \theta_{ij}))`,
  * dendrites :math:`Z_j = \prod_i Y_{ij}`,
  * membrane :math:`V = \sum_j Z_j`,
  * soma :math:`O = \sigma(k_s (V - \theta_s))`.

  One neuron per output; the module returns the soma's pre-activation :math:`k_s (V - \theta_s)` of each neuron
  (``[batch, outputs]``), so :math:`O` is its sigmoid and the logits plug into softmax cross-entropy. Inputs with more
  than one feature axis are flattened. Standardised features keep the dendritic products away from zero.

  Attributes:
    dendrites: branches M per neuron.
    outputs: neurons (classes).
    k: synaptic steepness k.
    k_soma: soma steepness :math:`k_s`.
    theta_soma: soma threshold :math:`\theta_s`.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.DNM(dendrites=3, outputs=2)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 4)))  # shapes only
    >>> print(jax.tree.map(lambda a: a.shape, params)["params"])  # [outputs, dendrites, inputs]
    {'theta': (2, 3, 4), 'w': (2, 3, 4)}
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((5, 4))).shape)
    (5, 2)

  References:
    Gao et al., `Dendritic Neuron Model With Effective Learning Algorithms for Classification, Approximation, and
    Prediction <https://doi.org/10.1109/TNNLS.2018.2846646>`_, IEEE TNNLS 30, 2019.
  """

  dendrites: int = 10
  outputs: int = 2
  k: float = 5.0
  k_soma: float = 5.0
  theta_soma: float = 0.5

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = x.reshape((x.shape[0], -1))
    shape = (self.outputs, self.dendrites, x.shape[-1])
    w = self.param("w", _uniform_symmetric, shape)
    theta = self.param("theta", _uniform_symmetric, shape)
    synapses = nn.sigmoid(self.k * (w[None] * x[:, None, None, :] - theta[None]))  # [B, out, M, D]
    dendrites = jnp.prod(synapses, axis=-1)
    membrane = dendrites.sum(axis=-1)
    return self.k_soma * (membrane - self.theta_soma)
