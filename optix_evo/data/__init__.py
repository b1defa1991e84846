"""Offline data sets (generated in code, shipped by packages, or read from disk) with deterministic splits."""

import importlib.util

from optix_evo.data.cifar10 import cifar10_dir, load_cifar10
from optix_evo.data.datasets import DATASETS, Dataset, Graph, Split, load_dataset, split_arrays
from optix_evo.data.graphs import load_sbm
from optix_evo.data.mnist1d import load_mnist1d
from optix_evo.data.sequences import load_adding, load_copy

DATASETS.update({"mnist1d": load_mnist1d, "adding": load_adding, "copy": load_copy, "sbm": load_sbm, "cifar10": load_cifar10})

__all__ = [
    "DATASETS", "Dataset", "Graph", "Split", "cifar10_dir", "load_adding", "load_cifar10", "load_copy", "load_dataset",
    "load_mnist1d", "load_sbm", "split_arrays",
]

# Time-series tasks live in data/timeseries.py (written separately); re-export the names in its
# ``__all__`` whenever that module is present.
if importlib.util.find_spec("optix_evo.data.timeseries") is not None:
  from optix_evo.data import timeseries as _timeseries

  globals().update({name: getattr(_timeseries, name) for name in getattr(_timeseries, "__all__", ())})
  __all__ += list(getattr(_timeseries, "__all__", ()))
