"""Flax (linen) models: pure ``init``/``apply`` over parameter pytrees, so populations can be vmapped."""

from optix_evo.models.convnet import BatchStatNorm, ConvNet, NOSConvNet
from optix_evo.models.dnm import DNM
from optix_evo.models.efficientnet import V2_S_STAGES, EfficientNetV2, Stage
from optix_evo.models.gcn import GCN, normalize_adjacency
from optix_evo.models.mlp import MLP
from optix_evo.models.pretrained import load_variables, save_variables, with_pretrained
from optix_evo.models.recurrent import GRU, LSTM, RecurrentNet
from optix_evo.models.transformer import EncoderBlock, TransformerClassifier

__all__ = [
    "BatchStatNorm", "ConvNet", "DNM", "EfficientNetV2", "EncoderBlock", "GCN", "GRU", "LSTM", "MLP", "NOSConvNet",
    "RecurrentNet", "Stage", "TransformerClassifier", "V2_S_STAGES", "load_variables", "normalize_adjacency",
    "save_variables", "with_pretrained",
]
