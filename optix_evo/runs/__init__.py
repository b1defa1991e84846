"""Run folders, their manifests and their reproduction: what every ``optix-evo`` command that writes results uses.

* :mod:`optix_evo.runs.folder`: the results folder (one run at a time under an OS lock, ``--force`` that deletes only
  what an earlier run of ours wrote, a failed start that leaves it as it was) and atomic file writes.
* :mod:`optix_evo.runs.manifest`: ``run.json``, enough to re-run a folder (:func:`write_manifest`,
  :func:`read_manifest`, :func:`command_argv`, :func:`fingerprint_arrays`).
* :mod:`optix_evo.runs.reproduction`: ``optix-evo reproduce`` (:func:`reproduce`).
* :mod:`optix_evo.runs.limits`: sizes refused before a run starts (steps, memory).

These are tools for runs, not optimizers: they live in ``ox.runs``, not in the top-level ``ox.`` namespace.
"""

from optix_evo.runs.folder import (
    FolderInUse,
    RunFolder,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    open_run_folder,
    prepare_out_dir,
)
from optix_evo.runs.manifest import command_argv, fingerprint_arrays, read_manifest, write_manifest
from optix_evo.runs.reproduction import ReproduceReport, rebuild_argv, reproduce

__all__ = [
    "FolderInUse",
    "ReproduceReport",
    "RunFolder",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "command_argv",
    "fingerprint_arrays",
    "open_run_folder",
    "prepare_out_dir",
    "read_manifest",
    "rebuild_argv",
    "reproduce",
    "write_manifest",
]
