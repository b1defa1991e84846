"""Offline data sets (generated in code or shipped by packages) with deterministic splits."""

from optix_evo.data.datasets import DATASETS, Dataset, Split, load_dataset, split_arrays

__all__ = ["DATASETS", "Dataset", "Split", "load_dataset", "split_arrays"]
