"""Flax (linen) models: pure ``init``/``apply`` over parameter pytrees, so populations can be vmapped."""

from optix_evo.models.convnet import ConvNet
from optix_evo.models.mlp import MLP

__all__ = ["ConvNet", "MLP"]
