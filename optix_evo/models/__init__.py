"""Flax (linen) models: pure ``init``/``apply`` over parameter pytrees, so populations can be vmapped."""

import importlib.util

from optix_evo.models.convnet import BatchStatNorm, ConvNet, NOSConvNet
from optix_evo.models.dnm import DNM
from optix_evo.models.gcn import GCN, normalize_adjacency
from optix_evo.models.mlp import MLP
from optix_evo.models.transformer import EncoderBlock, TransformerClassifier

__all__ = ["BatchStatNorm", "ConvNet", "DNM", "EncoderBlock", "GCN", "MLP", "NOSConvNet", "TransformerClassifier", "normalize_adjacency"]

# LSTM/GRU live in models/recurrent.py (written separately); re-export the names in its
# ``__all__`` whenever that module is present.
if importlib.util.find_spec("optix_evo.models.recurrent") is not None:
  from optix_evo.models import recurrent as _recurrent

  globals().update({name: getattr(_recurrent, name) for name in getattr(_recurrent, "__all__", ())})
  __all__ += list(getattr(_recurrent, "__all__", ()))
