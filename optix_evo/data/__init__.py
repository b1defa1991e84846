"""Offline data sets (generated in code, shipped by packages, or read from disk) with deterministic splits."""

from optix_evo.data.cifar10 import cifar10_dir, load_cifar10
from optix_evo.data.datasets import DATASETS, Dataset, Graph, Split, load_dataset, split_arrays
from optix_evo.data.graphs import load_sbm
from optix_evo.data.mnist1d import load_mnist1d
from optix_evo.data.sequences import load_adding, load_copy
from optix_evo.data.timeseries import (
    WalkForwardSplit, ar2, lagged_windows, load_csv_column, random_walk, regime_switch, sine_mix, synthetic_series,
    walk_forward_splits,
)

DATASETS.update({"mnist1d": load_mnist1d, "adding": load_adding, "copy": load_copy, "sbm": load_sbm, "cifar10": load_cifar10})

__all__ = [
    "DATASETS", "Dataset", "Graph", "Split", "cifar10_dir", "load_adding", "load_cifar10", "load_copy", "load_dataset",
    "load_mnist1d", "load_sbm", "split_arrays",
    # time series (data/timeseries.py)
    "WalkForwardSplit", "ar2", "lagged_windows", "load_csv_column", "random_walk", "regime_switch", "sine_mix",
    "synthetic_series", "walk_forward_splits",
]
