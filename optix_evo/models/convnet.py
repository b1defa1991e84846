"""Small convolutional networks: a generic conv-pool stack and the NOS paper's search-time ConvNet."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


def _check_images(x: jnp.ndarray, name: str) -> None:
  if x.ndim != 4:
    raise ValueError(f"{name} expects NHWC images (4 axes); got an input of shape {x.shape}.")


class ConvNet(nn.Module):
  """``[Conv3x3 → ReLU → MaxPool2]`` per entry of ``features``, then ``Dense(hidden) → ReLU → Dense(outputs)``.

  A LeNet-style network (LeCun et al. 1998) sized by ``features``/``hidden`` so it fits 8×8 digit images; the exact
  NOS search-time network is :class:`NOSConvNet`. Inputs are NHWC.

  Attributes:
    features: the widths of the convolution blocks.
    hidden: the width of the dense layer.
    outputs: the number of logits.

  Raises:
    ValueError: from ``apply``, for inputs that are not NHWC images.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.ConvNet(features=(4,), hidden=8, outputs=10)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 1)))  # shapes only
    >>> print(jax.eval_shape(model.apply, params, jnp.zeros((2, 8, 8, 1))).shape)
    (2, 10)

  References:
    LeCun et al., `Gradient-based learning applied to document recognition <https://doi.org/10.1109/5.726791>`_,
    Proc. IEEE 86, 1998.
  """

  features: Sequence[int] = (16, 32)
  hidden: int = 64
  outputs: int = 10

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    _check_images(x, "ConvNet")
    for width in self.features:
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.hidden)(x))
    return nn.Dense(self.outputs)(x)


class BatchStatNorm(nn.Module):
  r"""Batch normalisation with the statistics of the current batch and a learnt scale and shift (no running averages).

  :math:`y = \gamma (x - \mu_B) / \sqrt{\sigma_B^2 + \epsilon} + \beta` over every axis but the last
  (Ioffe & Szegedy 2015). Keeping no state makes the model a pure function of its parameters, so it trains inside
  :func:`optix_evo.training.fit` and vmaps over populations; evaluation normalises with the evaluated batch.

  Attributes:
    epsilon: the constant :math:`\epsilon` added to the variance.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> x = jnp.array([[1.0, 10.0], [3.0, 30.0]])
    >>> norm = ox.models.BatchStatNorm()
    >>> print(norm.apply(norm.init(jax.random.PRNGKey(0), x), x))  # each feature to mean 0, variance 1
    [[-1.0 -1.0 ]
     [ 1.0  1.0 ]]

  References:
    Ioffe & Szegedy, `Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift
    <https://arxiv.org/abs/1502.03167>`_, ICML 2015.
  """

  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return (x - mean) / jnp.sqrt(var + self.epsilon) * scale + bias


class NOSConvNet(nn.Module):
  """The small ConvNet of the NOS search-time task (Morgan & Hougen 2024).

  ``Conv3x3(base) → BN → swish → Conv3x3(2·base, stride 2) → BN → swish → Conv3x3(4·base, stride 2) → BN → swish →
  GlobalAvgPool → Dropout → Dense(outputs)``, all convolutions ``SAME``-padded. The paper uses ``base`` = 32 (48 during
  evolution) on CIFAR-10.

  Two behaviours, chosen by the task:

  * ``running_norm=True, dropout=0.2`` (the authors' Keras network, their ``ConvNet`` in ``NeuralOptimizerSearch.py``):
    Keras ``BatchNormalization`` (momentum 0.99, epsilon 1e-3) that normalises with the batch and updates running
    averages when ``train=True``, and normalises with the running averages at evaluation (``train=False``); Dropout(0.2)
    before the read-out, active only when training. The running averages live in the ``batch_stats`` collection.
  * the defaults (``running_norm=False, dropout=0``): a pure function of its parameters, so it vmaps over
    populations without model state: :class:`BatchStatNorm` normalises with the evaluated batch's statistics, and no
    dropout.

  Inputs are NHWC.

  Attributes:
    base: the width of the first convolution.
    outputs: the number of logits.
    dropout: the dropout rate before the read-out (0: none).
    running_norm: Keras-style batch normalisation with running averages (else :class:`BatchStatNorm`).

  Raises:
    ValueError: from ``apply``, for inputs that are not NHWC images.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> model = ox.models.NOSConvNet(base=4, outputs=10)
    >>> params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 3)))  # shapes only
    >>> print(jax.eval_shape(model.apply, params, jnp.ones((2, 8, 8, 3))).shape)
    (2, 10)
    >>> paper = ox.models.NOSConvNet(base=4, dropout=0.2, running_norm=True)
    >>> print(sorted(jax.eval_shape(paper.init, jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 3)))))
    ['batch_stats', 'params']

  References:
    Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
    <https://arxiv.org/abs/2404.06679>`_, 2024; code: `OUStudent/NeuralOptimizerSearch
    <https://github.com/OUStudent/NeuralOptimizerSearch>`_ (``ConvNet`` in ``NeuralOptimizerSearch.py``).
  """

  base: int = 32
  outputs: int = 10
  dropout: float = 0.0
  running_norm: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False, deterministic: bool | None = None) -> jnp.ndarray:
    """Logits of the NHWC batch ``x``; ``train``: batch statistics (updating the running averages) and dropout;
    ``deterministic`` (default ``not train``): no dropout."""
    _check_images(x, "NOSConvNet")
    deterministic = (not train) if deterministic is None else deterministic
    for multiple, stride in ((1, 1), (2, 2), (4, 2)):
      x = nn.Conv(multiple * self.base, (3, 3), strides=(stride, stride), padding="SAME")(x)
      if self.running_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3)(x)
      else:
        x = BatchStatNorm()(x)
      x = nn.swish(x)
    x = x.mean(axis=(1, 2))
    if self.dropout:
      x = nn.Dropout(self.dropout, deterministic=deterministic)(x)
    return nn.Dense(self.outputs)(x)
