"""A small Transformer encoder for sequence classification and sequence-to-sequence labelling."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class EncoderBlock(nn.Module):
  """Pre-norm Transformer encoder block: ``x + MHA(LN(x))`` then ``x + MLP(LN(x))`` (Vaswani et al. 2017).

  Attributes:
    heads: the number of attention heads (must divide the model width).
    mlp_width: the hidden width of the MLP.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> block = ox.models.EncoderBlock(heads=2, mlp_width=8)
    >>> params = jax.eval_shape(block.init, jax.random.PRNGKey(0), jnp.zeros((1, 3, 4)))  # shapes only
    >>> print(jax.eval_shape(block.apply, params, jnp.ones((2, 3, 4))).shape)
    (2, 3, 4)

  References:
    Vaswani et al., `Attention Is All You Need <https://arxiv.org/abs/1706.03762>`_, NeurIPS 2017.

    Xiong et al., `On Layer Normalization in the Transformer Architecture <https://arxiv.org/abs/2002.04745>`_,
    ICML 2020 (the pre-norm form).
  """

  heads: int
  mlp_width: int

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = x + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(x))
    h = nn.gelu(nn.Dense(self.mlp_width)(nn.LayerNorm()(x)))
    return x + nn.Dense(x.shape[-1])(h)


class TransformerClassifier(nn.Module):
  """Transformer encoder (Vaswani et al. 2017, pre-norm as in Xiong et al. 2020) over ``[batch, time, features]``.

  Inputs are embedded by a linear layer plus a learnt position embedding, pass ``layers`` encoder blocks
  (bidirectional attention), and a final LayerNorm. With ``output_length=None`` the sequence is mean-pooled into
  ``[batch, outputs]`` logits (classification, or regression with ``outputs=1``); with ``output_length=L`` the last
  ``L`` positions are read out as ``[batch, L, outputs]`` (per-step labels, e.g. the copy problem).
  A ``[batch, time]`` input is treated as one feature per step; ``patch_size`` > 1 groups that many consecutive steps
  into one token (as ViT's patches, Dosovitskiy et al. 2021), which shortens long 1-D signals.

  Attributes:
    dim: model width.
    heads: attention heads (must divide ``dim``).
    layers: encoder blocks.
    outputs: classes (or 1 for scalar regression).
    output_length: ``None`` to pool, or the number of final positions to label.
    patch_size: consecutive steps per token (must divide the sequence length).

  Raises:
    ValueError: from ``apply``, for inputs that are not ``[batch, time(, features)]``, ``heads`` that do not divide
      ``dim``, or a ``patch_size`` that does not divide the sequence length.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.TransformerClassifier(dim=8, heads=2, layers=1, outputs=3, patch_size=2)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 6)))  # shapes only
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((4, 6))).shape)
    (4, 3)

  References:
    Vaswani et al., `Attention Is All You Need <https://arxiv.org/abs/1706.03762>`_, NeurIPS 2017.

    Xiong et al., `On Layer Normalization in the Transformer Architecture <https://arxiv.org/abs/2002.04745>`_,
    ICML 2020 (the pre-norm form).

    Dosovitskiy et al., `An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale
    <https://arxiv.org/abs/2010.11929>`_, ICLR 2021 (patches).
  """

  dim: int = 32
  heads: int = 4
  layers: int = 2
  outputs: int = 10
  output_length: int | None = None
  patch_size: int = 1

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    if x.ndim == 2:
      x = x[..., None]
    if x.ndim != 3:
      raise ValueError(f"TransformerClassifier expects [batch, time, features]; got an input of shape {x.shape}.")
    if self.dim % self.heads:
      raise ValueError(f"heads={self.heads} must divide dim={self.dim}.")
    if x.shape[1] % self.patch_size:
      raise ValueError(f"patch_size={self.patch_size} must divide the sequence length {x.shape[1]}.")
    x = x.reshape((x.shape[0], x.shape[1] // self.patch_size, self.patch_size * x.shape[2]))
    pos = self.param("position", nn.initializers.normal(0.02), (x.shape[1], self.dim))
    x = nn.Dense(self.dim)(x) + pos
    for _ in range(self.layers):
      x = EncoderBlock(self.heads, 2 * self.dim)(x)
    x = nn.LayerNorm()(x)
    x = x.mean(axis=1) if self.output_length is None else x[:, -self.output_length :]
    return nn.Dense(self.outputs)(x)
