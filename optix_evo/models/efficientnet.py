"""EfficientNetV2 (Tan & Le 2021) in flax, laid out as ``keras.applications.EfficientNetV2S`` so that pretrained
weights map layer by layer (Keras ``.h5`` or torchvision ``.pth`` through ``scripts/convert_weights.py``), with a
configurable width, depth and stage list so tests can build a tiny one.

References: Tan & Le, `EfficientNetV2: Smaller Models and Faster Training <https://arxiv.org/abs/2104.00298>`_,
ICML 2021; Keras ``keras/src/applications/efficientnet_v2.py`` and torchvision
``torchvision/models/efficientnet.py`` (the same S architecture).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np


class Stage(NamedTuple):
  """One stage of EfficientNetV2: ``repeats`` blocks of one kind.

  Attributes:
    kernel: the kernel size.
    repeats: the blocks (before the depth coefficient).
    in_filters, out_filters: the widths (before the width coefficient).
    expand: the expansion ratio.
    se: the squeeze-and-excitation ratio (0: none).
    stride: the stride of the stage's first block.
    fused: FusedMBConv (a full convolution in place of expand + depthwise) or MBConv.
  """

  kernel: int
  repeats: int
  in_filters: int
  out_filters: int
  expand: int
  se: float
  stride: int
  fused: bool


V2_S_STAGES = (
    Stage(3, 2, 24, 24, 1, 0.0, 1, True),
    Stage(3, 4, 24, 48, 4, 0.0, 2, True),
    Stage(3, 4, 48, 64, 4, 0.0, 2, True),
    Stage(3, 6, 64, 128, 4, 0.25, 2, False),
    Stage(3, 9, 128, 160, 6, 0.25, 1, False),
    Stage(3, 15, 160, 256, 6, 0.25, 2, False),
)
"""EfficientNetV2-S's stages (Keras ``DEFAULT_BLOCKS_ARGS["efficientnetv2-s"]``; torchvision ``efficientnet_v2_s``)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSING = ("keras", "torchvision", "none")
"""Input scaling of uint8-range pixels: ``"keras"`` ``x / 128 - 1`` (Keras' EfficientNetV2-S with
``include_preprocessing``), ``"torchvision"`` ``(x / 255 - mean) / std`` (ImageNet statistics), ``"none"``."""


def round_filters(filters: float, width: float, divisor: int = 8) -> int:
  """Keras' ``round_filters``: ``filters * width`` rounded to a multiple of ``divisor`` (at least ``divisor``), never
  below 90% of it."""
  filters *= width
  new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
  return int(new + divisor if new < 0.9 * filters else new)


def round_repeats(repeats: int, depth: float) -> int:
  """Keras' ``round_repeats``: ``ceil(depth * repeats)``."""
  return int(math.ceil(depth * repeats))


def _bn(name: str, train: bool, momentum: float) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=1e-3, name=name)


class EfficientNetV2(nn.Module):
  """EfficientNetV2 with a new classification head; defaults: EfficientNetV2-S.

  ``stem Conv3x3/2 → BN → swish → stages of FusedMBConv / MBConv blocks (with squeeze-and-excitation and stochastic
  depth) → Conv1x1(1280) → BN → swish → GlobalAvgPool → Dropout → Dense(outputs)``. Module names are the Keras
  layer names (``stem_conv``, ``block4a_dwconv2``, ``top_bn``, ...; the head is ``predictions``), so converted
  Keras or torchvision weights load by name. Batch normalisation keeps running averages (``batch_stats``; Keras'
  momentum 0.9, epsilon 1e-3): batch statistics when ``train=True``, running averages otherwise; dropout and
  stochastic depth are active when ``train`` and not ``deterministic``.

  Attributes:
    outputs: the number of classes of the head.
    width, depth: the width and depth coefficients (1, 1 for S).
    stages: the :class:`Stage` list (:data:`V2_S_STAGES`).
    top_filters: the width of the last 1×1 convolution before the width coefficient (1280).
    dropout: dropout before the head (0.2).
    drop_connect: the stochastic-depth rate of the last block (0.2; block ``b`` of ``B`` drops with rate
      ``drop_connect * b / B``).
    bn_momentum: the running averages' momentum (0.9).
    preprocessing: one of :data:`PREPROCESSING` (inputs are pixels in [0, 255] unless ``"none"``).

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> tiny = ox.models.EfficientNetV2(outputs=5, width=0.25, depth=0.1)
    >>> variables = jax.eval_shape(tiny.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))
    >>> print(sorted(variables), jax.eval_shape(tiny.apply, variables, jnp.zeros((2, 32, 32, 3))).shape)
    ['batch_stats', 'params'] (2, 5)
    >>> full = jax.eval_shape(ox.models.EfficientNetV2(outputs=1000).init, jax.random.PRNGKey(0),
    ...                       jnp.zeros((1, 64, 64, 3)))
    >>> count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
    >>> print(count(full["params"]), count(full))  # torchvision's parameter count; Keras' total with BN averages
    21458488 21612360

  References:
    Tan & Le, `EfficientNetV2: Smaller Models and Faster Training <https://arxiv.org/abs/2104.00298>`_, ICML 2021.
  """

  outputs: int = 1000
  width: float = 1.0
  depth: float = 1.0
  stages: Sequence[Stage] = V2_S_STAGES
  top_filters: int = 1280
  dropout: float = 0.2
  drop_connect: float = 0.2
  bn_momentum: float = 0.9
  preprocessing: str = "keras"

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False, deterministic: bool | None = None) -> jnp.ndarray:
    """Logits of the NHWC batch ``x``."""
    if x.ndim != 4:
      raise ValueError(f"EfficientNetV2 expects NHWC images (4 axes); got an input of shape {x.shape}.")
    if self.preprocessing not in PREPROCESSING:
      raise ValueError(f"preprocessing must be one of {PREPROCESSING}, got {self.preprocessing!r}.")
    deterministic = (not train) if deterministic is None else deterministic
    x = x.astype(jnp.float32)
    if self.preprocessing == "keras":
      x = x / 128.0 - 1.0
    elif self.preprocessing == "torchvision":
      x = (x / 255.0 - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)
    m = self.bn_momentum
    x = nn.Conv(round_filters(self.stages[0].in_filters, self.width), (3, 3), strides=(2, 2), padding="SAME",
                use_bias=False, name="stem_conv")(x)
    x = nn.swish(_bn("stem_bn", train, m)(x))
    total = sum(round_repeats(s.repeats, self.depth) for s in self.stages)
    b = 0
    for i, stage in enumerate(self.stages):
      in_f, out_f = round_filters(stage.in_filters, self.width), round_filters(stage.out_filters, self.width)
      for j in range(round_repeats(stage.repeats, self.depth)):
        stride = stage.stride if j == 0 else 1
        block_in = in_f if j == 0 else out_f
        prefix = f"block{i + 1}{chr(j + 97)}_"
        rate = self.drop_connect * b / total
        x = self._block(x, prefix, stage, block_in, out_f, stride, rate, train, deterministic)
        b += 1
    x = nn.Conv(round_filters(self.top_filters, self.width), (1, 1), use_bias=False, name="top_conv")(x)
    x = nn.swish(_bn("top_bn", train, m)(x))
    x = x.mean(axis=(1, 2))
    if self.dropout:
      x = nn.Dropout(self.dropout, deterministic=deterministic, name="top_dropout")(x)
    return nn.Dense(self.outputs, name="predictions")(x)

  def _block(self, inputs, prefix, stage, in_f, out_f, stride, rate, train, deterministic):
    m, k = self.bn_momentum, (stage.kernel, stage.kernel)
    expanded = in_f * stage.expand
    x = inputs
    if stage.fused:
      if stage.expand != 1:
        x = nn.Conv(expanded, k, strides=(stride, stride), padding="SAME", use_bias=False, name=prefix + "expand_conv")(x)
        x = nn.swish(_bn(prefix + "expand_bn", train, m)(x))
      x = nn.Conv(out_f, (1, 1) if stage.expand != 1 else k, strides=(1, 1) if stage.expand != 1 else (stride, stride),
                  padding="SAME", use_bias=False, name=prefix + "project_conv")(x)
      x = _bn(prefix + "project_bn", train, m)(x)
      if stage.expand == 1:
        x = nn.swish(x)
    else:
      if stage.expand != 1:
        x = nn.Conv(expanded, (1, 1), use_bias=False, name=prefix + "expand_conv")(x)
        x = nn.swish(_bn(prefix + "expand_bn", train, m)(x))
      x = nn.Conv(expanded, k, strides=(stride, stride), padding="SAME", feature_group_count=expanded, use_bias=False,
                  name=prefix + "dwconv2")(x)
      x = nn.swish(_bn(prefix + "bn", train, m)(x))
      if 0 < stage.se <= 1:
        squeeze = max(1, int(in_f * stage.se))
        se = x.mean(axis=(1, 2), keepdims=True)
        se = nn.swish(nn.Conv(squeeze, (1, 1), name=prefix + "se_reduce")(se))
        x = x * nn.sigmoid(nn.Conv(expanded, (1, 1), name=prefix + "se_expand")(se))
      x = nn.Conv(out_f, (1, 1), use_bias=False, name=prefix + "project_conv")(x)
      x = _bn(prefix + "project_bn", train, m)(x)
    if stride == 1 and in_f == out_f:
      if rate > 0:  # stochastic depth: the whole residual branch of an example is dropped
        x = nn.Dropout(rate, broadcast_dims=(1, 2, 3), deterministic=deterministic, name=prefix + "drop")(x)
      x = x + inputs
    return x


HEAD = "predictions"
"""The name of the classification head (replaced when fine-tuning)."""


def _torch_conv(w: np.ndarray) -> np.ndarray:
  """torch ``[out, in/groups, kh, kw]`` → flax ``[kh, kw, in/groups, out]``."""
  return np.transpose(w, (2, 3, 1, 0))


def _torch_bn(state: Mapping[str, np.ndarray], key: str) -> tuple[dict, dict]:
  params = {"scale": state[f"{key}.weight"], "bias": state[f"{key}.bias"]}
  return params, {"mean": state[f"{key}.running_mean"], "var": state[f"{key}.running_var"]}


def from_torchvision(state: Mapping[str, np.ndarray], model: EfficientNetV2) -> dict[str, dict]:
  """Flax variables ``{"params", "batch_stats"}`` of ``model``'s backbone (no head) from a torchvision
  ``efficientnet_v2_s`` state dict (names ``features.S.J.block.K...``; arrays as NumPy).

  Raises:
    KeyError: naming the first torchvision entry the model expects and ``state`` lacks.
  """
  params, stats = {}, {}

  def conv(name, key, bias=False):
    params[name] = {"kernel": _torch_conv(np.asarray(state[f"{key}.weight"]))}
    if bias:
      params[name]["bias"] = np.asarray(state[f"{key}.bias"])

  def bn(name, key):
    params[name], stats[name] = _torch_bn(state, key)

  conv("stem_conv", "features.0.0")
  bn("stem_bn", "features.0.1")
  for i, stage in enumerate(model.stages):
    for j in range(round_repeats(stage.repeats, model.depth)):
      prefix, base = f"block{i + 1}{chr(j + 97)}_", f"features.{i + 1}.{j}.block"
      if stage.fused:
        if stage.expand != 1:
          conv(prefix + "expand_conv", f"{base}.0.0")
          bn(prefix + "expand_bn", f"{base}.0.1")
          conv(prefix + "project_conv", f"{base}.1.0")
          bn(prefix + "project_bn", f"{base}.1.1")
        else:
          conv(prefix + "project_conv", f"{base}.0.0")
          bn(prefix + "project_bn", f"{base}.0.1")
      else:
        k = 0
        if stage.expand != 1:
          conv(prefix + "expand_conv", f"{base}.0.0")
          bn(prefix + "expand_bn", f"{base}.0.1")
          k = 1
        conv(prefix + "dwconv2", f"{base}.{k}.0")
        bn(prefix + "bn", f"{base}.{k}.1")
        conv(prefix + "se_reduce", f"{base}.{k + 1}.fc1", bias=True)
        conv(prefix + "se_expand", f"{base}.{k + 1}.fc2", bias=True)
        conv(prefix + "project_conv", f"{base}.{k + 2}.0")
        bn(prefix + "project_bn", f"{base}.{k + 2}.1")
  last = len(model.stages) + 1
  conv("top_conv", f"features.{last}.0")
  bn("top_bn", f"features.{last}.1")
  return {"params": params, "batch_stats": stats}


def from_keras(weights: Mapping[str, np.ndarray]) -> dict[str, dict]:
  """Flax variables of the backbone from Keras weights named ``"layer/variable"`` (``"block4a_dwconv2/
  depthwise_kernel"``, ``"stem_bn/moving_mean"``, ...; the ``:0`` suffix optional). The Keras head
  (``predictions``) and layers without weights are skipped.
  """
  params, stats = {}, {}
  rename = {"kernel": ("params", "kernel"), "depthwise_kernel": ("params", "kernel"), "bias": ("params", "bias"),
            "gamma": ("params", "scale"), "beta": ("params", "bias"), "moving_mean": ("batch_stats", "mean"),
            "moving_variance": ("batch_stats", "var")}
  for full, value in weights.items():
    layer, _, var = full.removesuffix(":0").rpartition("/")
    layer = layer.rpartition("/")[2] or layer
    if layer == HEAD or var not in rename:
      continue
    collection, name = rename[var]
    value = np.asarray(value)
    if var == "depthwise_kernel":  # Keras [kh, kw, C, 1] → flax grouped [kh, kw, 1, C]
      value = np.transpose(value, (0, 1, 3, 2))
    (params if collection == "params" else stats).setdefault(layer, {})[name] = value
  return {"params": params, "batch_stats": stats}
