"""Multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
  """A fully connected network: ``Dense → activation`` per hidden layer, then a linear read-out.

  Inputs with more than one feature axis are flattened.

  Attributes:
    hidden: widths of the hidden layers.
    outputs: width of the read-out (number of classes, or 1 for scalar regression).
    activation: hidden non-linearity.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.MLP(hidden=(8,), outputs=3)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 4)))  # shapes only
    >>> print(jax.tree.map(lambda a: a.shape, params)["params"]["Dense_0"])
    {'bias': (8,), 'kernel': (4, 8)}
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((2, 2, 2))).shape)  # inputs are flattened
    (2, 3)

  References:
    Rumelhart, Hinton & Williams, `Learning representations by back-propagating errors
    <https://doi.org/10.1038/323533a0>`_, Nature 323, 1986.
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
