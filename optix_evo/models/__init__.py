"""Flax (linen) models: pure ``init``/``apply`` over parameter pytrees, so populations can be vmapped."""

from optix_evo.models.convnet import BatchStatNorm, ConvNet, NOSConvNet
from optix_evo.models.dnm import DNM
from optix_evo.models.gcn import GCN, normalize_adjacency
from optix_evo.models.mlp import MLP
from optix_evo.models.recurrent import GRU, LSTM, RecurrentNet
from optix_evo.models.transformer import EncoderBlock, TransformerClassifier

__all__ = [
    "BatchStatNorm", "ConvNet", "DNM", "EncoderBlock", "GCN", "GRU", "LSTM", "MLP", "NOSConvNet", "RecurrentNet",
    "TransformerClassifier", "normalize_adjacency",
]
