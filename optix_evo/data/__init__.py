"""Offline data sets (generated in code, shipped by packages, or read from disk) with deterministic splits."""

from optix_evo.data.cifar import cifar10_dir, cifar100_dir, load_cifar10, load_cifar100
from optix_evo.data.datasets import DATASETS, Dataset, Graph, Split, data_dir, load_dataset, split_arrays
from optix_evo.data.finetune import load_caltech101, load_flowers102, load_stanford_cars
from optix_evo.data.restricted_pickle import load_restricted
from optix_evo.data.tiny_imagenet import load_tiny_imagenet, tiny_imagenet_dir
from optix_evo.data.graphs import load_sbm
from optix_evo.data.mnist1d import load_mnist1d
from optix_evo.data.sequences import load_adding, load_copy
from optix_evo.data.timeseries import (
    WalkForwardSplit, ar2, lagged_windows, load_csv_column, random_walk, regime_switch, sine_mix, synthetic_series,
    walk_forward_splits,
)

DATASETS.update({"mnist1d": load_mnist1d, "adding": load_adding, "copy": load_copy, "sbm": load_sbm,
                 "cifar10": load_cifar10, "cifar100": load_cifar100, "tiny_imagenet": load_tiny_imagenet,
                 "flowers102": load_flowers102, "caltech101": load_caltech101, "stanford_cars": load_stanford_cars})

__all__ = [
    "DATASETS", "Dataset", "Graph", "Split", "cifar100_dir", "cifar10_dir", "data_dir", "load_adding",
    "load_caltech101", "load_cifar10", "load_cifar100", "load_copy", "load_dataset", "load_flowers102", "load_mnist1d", "load_restricted",
    "load_sbm", "load_stanford_cars", "load_tiny_imagenet",
    "split_arrays", "tiny_imagenet_dir",
    # time series (data/timeseries.py)
    "WalkForwardSplit", "ar2", "lagged_windows", "load_csv_column", "random_walk", "regime_switch", "sine_mix",
    "synthetic_series", "walk_forward_splits",
]
