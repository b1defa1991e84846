"""Run manifests: a ``run.json`` in every results folder, enough to re-run it and check its headline numbers.

Convention for every ``optix-evo`` command that writes results (search, transfer, bench, aldvi, ...):

1. It takes ``--out DIR`` (:data:`OUT_OPTION`; add it with :func:`optix_evo.runs.folder.add_out_argument`), writes
   everything into ``DIR``, and nothing that changes its numbers depends on anything but its arguments, the package
   versions and the data.
2. When it finishes it calls :func:`write_manifest` with ``argv`` = the arguments that re-run it, *relative to
   ``optix-evo``* and including ``--out DIR``, built by :func:`command_argv` from the parsed arguments (e.g.
   ``["search", "--preset=quick", "--out=runs/q"]``), the full resolved ``config`` (every hyperparameter, also
   the defaults), the ``seeds``, ``data_fingerprint=fingerprint_arrays(x_train, y_train, ...)`` and the
   ``headline`` figures (name → number) that a reproduction must match, e.g. ``{"best_test_accuracy": 0.93}``.
   Write the manifest again (same call) whenever the headline improves, so an interrupted run still has one.

``optix-evo reproduce RUN_DIR`` (:mod:`optix_evo.runs.reproduction`) re-runs it into a fresh folder and compares the
headline figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from optix_evo.errors import InputError
from optix_evo.runs.folder import atomic_write_json

__all__ = ["MANIFEST_NAME", "OUT_OPTION", "command_argv", "environment", "fingerprint_arrays", "git_state",
           "read_manifest", "with_out", "write_manifest"]

MANIFEST_NAME = "run.json"
OUT_OPTION = "--out"
_PACKAGES = ("jax", "jaxlib", "optax", "flax", "numpy")
def fingerprint_arrays(*arrays: Any) -> str:
  """SHA-256 of the arrays' dtypes, shapes and bytes, in order: ``"sha256:<hex>"``. Equal data ⇒ equal hash.

  Args:
    *arrays: array-likes (NumPy or JAX arrays, lists), hashed in order.

  Returns:
    ``"sha256:"`` followed by the hex digest.

  Examples:
    >>> import numpy as np
    >>> from optix_evo import runs
    >>> a = runs.fingerprint_arrays(np.arange(3), np.ones(2))
    >>> print(a[:15], a == runs.fingerprint_arrays(np.arange(3), np.ones(2)), a == runs.fingerprint_arrays(np.arange(3)))
    sha256:7b9e1661 True False
  """
  digest = hashlib.sha256()
  for a in arrays:
    a = np.ascontiguousarray(np.asarray(a))
    digest.update(f"{a.dtype.str}{a.shape};".encode())
    digest.update(a.tobytes())
  return "sha256:" + digest.hexdigest()


def _version(name: str) -> str | None:
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return None


def environment() -> dict[str, Any]:
  """Package versions, Python, platform and the JAX backend (devices, x64) of this process."""
  import optix_evo  # deferred: this module is imported while ``optix_evo`` itself initialises

  devices = jax.devices()
  return {
      "versions": {
          "optix_evo": optix_evo.__version__, **{p: _version(p) for p in _PACKAGES}, "python": platform.python_version()
      },
      "platform": platform.platform(),
      "jax_backend": jax.default_backend(),
      "device_count": len(devices),
      "device_kind": devices[0].device_kind,
      "x64": bool(jax.config.jax_enable_x64),
  }


def git_state(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
  """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``path`` (default: this package), else None."""
  cwd = pathlib.Path(path) if path is not None else pathlib.Path(__file__).resolve().parent
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    if commit.returncode != 0:
      return None
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=10
    )
  except (OSError, subprocess.TimeoutExpired):
    return None
  return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def _jsonable(obj: Any) -> Any:
  """``json.dump`` fallback: numpy/jax scalars and arrays, paths, NamedTuples, dataclasses, sets."""
  if isinstance(obj, (np.generic, np.ndarray, jax.Array)):
    return np.asarray(obj).tolist()
  if isinstance(obj, os.PathLike):
    return os.fspath(obj)
  if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
    return dataclasses.asdict(obj)
  if isinstance(obj, (set, frozenset)):
    return sorted(obj)
  raise TypeError(
      f"Cannot record a {type(obj).__name__} in run.json; pass JSON-ready config values (numbers, strings, lists, dicts)."
  )


def _out_index(argv: Sequence[str]) -> int:
  """Position of the ``--out`` value in ``argv`` (``--out DIR`` or ``--out=DIR``)."""
  for i, a in enumerate(argv):
    if a == OUT_OPTION and i + 1 < len(argv):
      return i + 1
    if a.startswith(OUT_OPTION + "="):
      return i
  raise ValueError(
      f"argv {list(argv)} has no '{OUT_OPTION} DIR' option; every results-writing command takes one so that "
      "`optix-evo reproduce` can re-run it into a fresh folder (see optix_evo.runs.manifest)."
  )


def with_out(argv: Sequence[str], out_dir: str | os.PathLike) -> list[str]:
  """``argv`` with its ``--out`` value replaced by ``out_dir``."""
  argv = list(argv)
  i = _out_index(argv)
  argv[i] = f"{OUT_OPTION}={os.fspath(out_dir)}" if argv[i].startswith(OUT_OPTION + "=") else os.fspath(out_dir)
  return argv


def write_manifest(
    run_dir: str | os.PathLike,
    *,
    argv: Sequence[str],
    config: Mapping[str, Any],
    seeds: Any,
    data_fingerprint: str | None = None,
    headline: Mapping[str, float] | None = None,
    timing: Mapping[str, Any] | None = None,
) -> pathlib.Path:
  """Writes ``run_dir/run.json`` (atomically, creating ``run_dir``) and returns its path.

  Args:
    run_dir: the results folder.
    argv: CLI arguments after ``optix-evo`` that re-run this run; must contain ``--out DIR``.
    config: the full resolved configuration (JSON-ready values; numpy/jax scalars and arrays are converted).
    seeds: every seed the run used (an int, a list, or a dict name → seed).
    data_fingerprint: :func:`fingerprint_arrays` of the data the run trained and evaluated on.
    headline: name → number, the figures that :func:`reproduce` compares.
    timing: name → seconds or counts of what the run paid for (wall time, compilation and tracing, training), as
      :class:`optix_evo.compilation.CompileLog` reports it.

  Returns:
    The path of the manifest.

  Raises:
    ValueError: if ``argv`` is not a list of strings, has no ``--out``, or a headline figure is not a scalar number.

  Examples:
    >>> import pathlib
    >>> import tempfile
    >>> from optix_evo import runs
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> path = runs.write_manifest(run, argv=["zoo", "--task", "digits", "--out", str(run)], config={"steps": 100},
    ...                            seeds=[0, 1], headline={"test_accuracy": 0.93})
    >>> print(path.name, runs.read_manifest(run)["headline"])
    run.json {'test_accuracy': 0.93}
  """
  if isinstance(argv, str) or not all(isinstance(a, str) for a in argv):
    raise ValueError(f"argv must be a list of strings (the arguments after `optix-evo`), got {argv!r}.")
  _out_index(argv)
  headline = dict(headline or {})
  for name, value in headline.items():
    if not isinstance(value, (int, float, np.number, np.ndarray, jax.Array)) or np.ndim(value) != 0:
      raise ValueError(f"headline[{name!r}] must be a scalar number, got {value!r}.")
  manifest = {
      "argv": list(argv),
      "config": dict(config),
      "seeds": seeds,
      "data_fingerprint": data_fingerprint,
      "headline": {k: float(v) for k, v in headline.items()},
      "timing": dict(timing or {}),
      "environment": environment(),
      "git": git_state(),
      "cwd": os.getcwd(),
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }
  path = pathlib.Path(run_dir) / MANIFEST_NAME
  atomic_write_json(path, manifest, default=_jsonable)
  return path


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Any]:
  """The manifest of ``run_dir`` (the folder, or the ``run.json`` path itself) as a dict.

  Args:
    run_dir: a results folder, or the path of its ``run.json``.

  Returns:
    The manifest: ``argv``, ``config``, ``seeds``, ``data_fingerprint``, ``headline``, ``timing``, ``environment``,
    ``git``, ``cwd`` and ``created``.

  Raises:
    InputError: when there is no manifest, or it is not a JSON object with an ``argv`` list of strings and a
      ``headline`` of numbers.

  Examples:
    >>> import tempfile
    >>> from optix_evo import runs
    >>> runs.read_manifest(tempfile.mkdtemp())
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: No run.json at ...; only folders written by an optix-evo command have one.
  """
  path = pathlib.Path(run_dir)
  if path.is_dir():
    path = path / MANIFEST_NAME
  if not path.is_file():
    raise InputError(f"No {MANIFEST_NAME} at {path}; only folders written by an optix-evo command have one.")
  try:
    manifest = json.loads(path.read_text(encoding="utf-8"))
  except (OSError, ValueError, RecursionError) as e:
    raise InputError(f"cannot read {path}: {e}") from None
  if not isinstance(manifest, dict):
    raise InputError(f"{path} is not a run manifest (a JSON object).")
  argv, headline = manifest.get("argv"), manifest.get("headline", {})
  if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
    raise InputError(f"{path}: 'argv' must be a non-empty list of strings.")
  if not isinstance(headline, dict) or not all(
      isinstance(v, (int, float)) and not isinstance(v, bool) for v in headline.values()):
    raise InputError(f"{path}: 'headline' must map names to numbers.")
  if not isinstance(manifest.get("environment", {}), dict):
    raise InputError(f"{path}: 'environment' must be a JSON object.")
  return manifest


def command_argv(command: str, args: argparse.Namespace, parser: argparse.ArgumentParser, *,
                 skip: Iterable[str] = ()) -> list[str]:
  """The arguments after ``optix-evo`` that re-run ``command`` with the parsed ``args``: every option of ``parser``
  whose value differs from its default, spelled ``--name=value`` (flags as ``--name``, repeatable options once per
  value, a list-valued option comma-separated), in the parser's order, ``--out`` last. The one argv builder of every command's manifest.

  Options that never belong in a manifest (``--force``, ``--resume``, ``--debug``, ``--help``, ``--version``, the
  multi-process and compile-cache options) and the ``skip`` ones are left out.

  Args:
    command: the sub-command's name (``argv[0]``).
    args: the parsed arguments.
    parser: the sub-command's parser.
    skip: further option names to leave out.

  Returns:
    The argument list, e.g. ``["bench", "--preset=quick", "--seeds=2", "--out=runs/b"]``.

  Examples:
    >>> import argparse
    >>> from optix_evo.runs.manifest import command_argv
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--seeds", type=int, default=None)
    >>> _ = parser.add_argument("--set", action="append", default=[])
    >>> _ = parser.add_argument("--quiet", action="store_true")
    >>> _ = parser.add_argument("--out")
    >>> print(command_argv("bench", parser.parse_args(["--set", "a=1", "--seeds", "2", "--out", "r", "--quiet"]), parser))
    ['bench', '--seeds=2', '--set=a=1', '--out=r']
  """
  skip = set(skip) | set(_NOT_RECORDED)
  argv = [command]
  for action in parser._actions:  # pylint: disable=protected-access
    names = [o for o in action.option_strings if o.startswith("--")]
    if not names or names[0] in skip or action.dest in ("help", "version", "quiet") or not hasattr(args, action.dest):
      continue
    value = getattr(args, action.dest)
    if value == action.default or value is None:
      continue
    if action.nargs == 0:
      argv.append(names[0])
    elif isinstance(action, argparse._AppendAction):  # pylint: disable=protected-access
      argv += [f"{names[0]}={v}" for v in value]
    elif isinstance(value, (list, tuple)):  # a comma-separated option, parsed into a list
      argv.append(f"{names[0]}={','.join(map(str, value))}")
    else:
      argv.append(f"{names[0]}={os.fspath(value) if isinstance(value, os.PathLike) else value}")
  out = [a for a in argv if a.startswith(OUT_OPTION + "=")]
  return [a for a in argv if a not in out] + out


_NOT_RECORDED = ("--force", "--resume", "--debug", "--coordinator", "--num-processes", "--process-id", "--devices",
                 "--compile-cache", "--no-compile-cache", "--log-dir")
