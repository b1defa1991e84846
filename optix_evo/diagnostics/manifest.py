"""Run manifests: a ``run.json`` in every results folder, enough to re-run it and check its headline numbers.

Convention for every ``optix-evo`` command that writes results (search, bench, aldvi, ...):

1. It takes ``--out DIR`` (:data:`OUT_OPTION`; add it with :func:`add_out_argument`), writes everything into
   ``DIR``, and nothing that changes its numbers depends on anything but its arguments, the package versions
   and the data.
2. When it finishes it calls :func:`write_manifest` with ``argv`` = the arguments that re-run it, *relative to
   ``optix-evo``* and including ``--out DIR`` (e.g. ``["search", "--preset", "quick", "--out", "runs/q"]``;
   ``args.argv`` when the top-level CLI provides it), the full resolved ``config`` (every hyperparameter, also
   the defaults), the ``seeds``, ``data_fingerprint=fingerprint_arrays(x_train, y_train, ...)`` and the
   ``headline`` figures (name → number) that a reproduction must match, e.g. ``{"best_test_accuracy": 0.93}``.
   Write the manifest again (same call) whenever the headline improves, so an interrupted run still has one.

``optix-evo reproduce RUN_DIR`` (:func:`reproduce`) reads ``RUN_DIR/run.json``, rebuilds the command from its
validated ``argv`` (:func:`rebuild_argv`: a known results-writing command and only its own options, each once,
spelled out in full; no ``--resume``/``--force``/multi-process options; every file or folder it reads inside
``RUN_DIR`` unless allowed), runs it with ``--out`` pointing to a fresh folder, reads the new folder's manifest and
compares the headline figures. A run.json received from someone else therefore chooses neither the command nor
where it writes, nor which files outside its folder the run reads.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from optix_evo.errors import InputError
from optix_evo.run_folder import atomic_write_json, prepare_out_dir

MANIFEST_NAME = "run.json"
OUT_OPTION = "--out"
_PACKAGES = ("jax", "jaxlib", "optax", "flax", "numpy")
# Options a reproduction never carries over from a recorded command, and why.
NOT_REPRODUCED = {
    "--resume": "a reproduction always starts afresh",
    "--force": "a reproduction writes into its own fresh folder (give `reproduce --force` to reuse --into)",
    "--coordinator": "multi-process runs are reproduced by re-running the command on every host",
    "--num-processes": "multi-process runs are reproduced by re-running the command on every host",
    "--process-id": "multi-process runs are reproduced by re-running the command on every host",
    "--help": "it only prints help",
    "--version": "it only prints the version",
}
# Options whose value is a file or folder the run reads (besides any option whose metavar is DIR, FILE or PATH).
PATH_OPTIONS = ("--csv", "--data-dir")


def add_out_argument(parser, *, default: str | None = None) -> None:
  """Adds the conventional ``--out DIR`` option (results folder) to an ``argparse`` sub-command parser."""
  parser.add_argument(
      OUT_OPTION, default=default, required=default is None, metavar="DIR",
      help="results folder; it receives run.json, the manifest that `optix-evo reproduce` re-runs"
      + (f" (default: {default})" if default else ""),
  )


def fingerprint_arrays(*arrays: Any) -> str:
  """SHA-256 of the arrays' dtypes, shapes and bytes, in order: ``"sha256:<hex>"``. Equal data ⇒ equal hash.

  Args:
    *arrays: array-likes (NumPy or JAX arrays, lists), hashed in order.

  Returns:
    ``"sha256:"`` followed by the hex digest.

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> a = ox.fingerprint_arrays(np.arange(3), np.ones(2))
    >>> print(a[:15], a == ox.fingerprint_arrays(np.arange(3), np.ones(2)), a == ox.fingerprint_arrays(np.arange(3)))
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
      "`optix-evo reproduce` can re-run it into a fresh folder (see optix_evo.diagnostics.manifest)."
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
    timing: Mapping[str, float] | None = None,
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
    >>> import optix_evo as ox
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> path = ox.write_manifest(run, argv=["zoo", "--task", "digits", "--out", str(run)], config={"steps": 100},
    ...                          seeds=[0, 1], headline={"test_accuracy": 0.93})
    >>> print(path.name, ox.read_manifest(run)["headline"])
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
    >>> import optix_evo as ox
    >>> ox.read_manifest(tempfile.mkdtemp())
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


class HeadlineCheck(NamedTuple):
  """One row of a reproduction report: the recorded and reproduced figure and whether they agree."""

  name: str
  recorded: float | None
  reproduced: float | None
  match: bool


class ReproduceReport(NamedTuple):
  """Result of :func:`reproduce`."""

  out_dir: pathlib.Path
  exit_code: int  # of the re-run command
  checks: list[HeadlineCheck]
  environment_changes: dict[str, tuple[Any, Any]]  # key → (recorded, now), for versions/backend that differ

  @property
  def ok(self) -> bool:
    return self.exit_code == 0 and bool(self.checks) and all(c.match for c in self.checks)

  def to_markdown(self) -> str:
    lines = ["| figure | recorded | reproduced | match |", "|---|---|---|---|"]
    fmt = lambda v: "missing" if v is None else f"{v:.6g}"
    lines += [f"| {c.name} | {fmt(c.recorded)} | {fmt(c.reproduced)} | {'yes' if c.match else 'NO'} |" for c in self.checks]
    if not self.checks:
      lines.append("| (no headline figures recorded) | | | NO |")
    for key, (old, new) in self.environment_changes.items():
      lines.append(f"\nnote: {key} was {old}, is now {new}")
    return "\n".join(lines)


def compare_headlines(
    recorded: Mapping[str, float], reproduced: Mapping[str, float], *, rtol: float, atol: float
) -> list[HeadlineCheck]:
  """Checks every recorded figure against the reproduced one: ``|new - old| <= atol + rtol·|old|`` (NaN = NaN)."""
  checks = []
  for name, old in recorded.items():
    new = reproduced.get(name)
    match = new is not None and bool(np.isclose(new, old, rtol=rtol, atol=atol, equal_nan=True))
    checks.append(HeadlineCheck(name, old, new, match))
  return checks


def _environment_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
  def flat(env):
    versions = {f"{k} version": v for k, v in env.get("versions", {}).items()}
    return {**versions, **{k: v for k, v in env.items() if k != "versions"}}

  old, new = flat(old), flat(new)
  return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if k != "platform" and old.get(k) != new.get(k)}


def _fresh_folder(run_dir: pathlib.Path) -> pathlib.Path:
  for i in range(1, 10_000):
    candidate = run_dir.with_name(f"{run_dir.name}.reproduce{i}")
    if not candidate.exists():
      return candidate
  raise InputError(f"Too many reproductions next to {run_dir}; pass an explicit output folder (--into).")


def _is_inside(path: str, folder: pathlib.Path) -> bool:
  resolved = pathlib.Path(os.path.expanduser(path)).resolve()  # relative to the current folder, as the re-run reads it
  return resolved == folder or folder in resolved.parents


def _read_paths(option: str, value: str, action: Any) -> list[str]:
  """The files or folders the run reads through ``option value``."""
  if option in PATH_OPTIONS or (action.metavar in ("DIR", "FILE", "PATH") and option != OUT_OPTION):
    return [value]
  if option == "--set" and value.partition("=")[0].strip() == "data_dir":
    return [value.partition("=")[2].strip()]
  if option == "--optimizers":  # bench rows: genome:PATH[#i][@k=v]
    heads = (spec.strip().split("@")[0] for spec in value.split(","))
    return [name.partition("#")[0] for kind, _, name in (h.partition(":") for h in heads)
            if kind == "genome" and not name.startswith("known:")]
  return []


def rebuild_argv(argv: Sequence[str], run_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                 allow_outside_paths: bool = False, force: bool = False, parser: Any = None) -> list[str]:
  """The command that reproduces a recorded ``argv`` into ``out_dir``, rebuilt from its validated options.

  ``argv[0]`` must be an ``optix-evo`` command that writes a results folder (it takes ``--out``); every other entry
  an option of that command spelled out in full (``--name value`` or ``--name=value``; no abbreviations, short
  options or positional arguments), each given once (except repeatable ones such as ``--set``), none of
  :data:`NOT_REPRODUCED`; exactly one ``--out``, whose value is replaced by ``out_dir``. Files and folders the run
  reads (:data:`PATH_OPTIONS`, ``--set data_dir=``, ``genome:`` rows) must lie inside ``run_dir`` unless
  ``allow_outside_paths``. Options are re-emitted as ``--name=value``, so a value cannot turn into an option.

  Args:
    argv: the recorded arguments after ``optix-evo``.
    run_dir: the folder the manifest came from.
    out_dir: where the reproduction writes.
    allow_outside_paths: accept files and folders outside ``run_dir``.
    force: add the command's ``--force`` (``out_dir`` may hold files).
    parser: the ``optix-evo`` argument parser (default: :func:`optix_evo.cli.build_parser`).

  Raises:
    InputError: naming the first entry of ``argv`` that is refused, and why.
  """
  import argparse  # pylint: disable=import-outside-toplevel

  if parser is None:
    from optix_evo.cli import build_parser  # pylint: disable=import-outside-toplevel  (the CLI imports everything)
    parser = build_parser()
  where = f"{pathlib.Path(run_dir) / MANIFEST_NAME}"
  subparsers = argparse._SubParsersAction  # pylint: disable=protected-access
  commands = next(a for a in parser._actions if isinstance(a, subparsers)).choices  # pylint: disable=protected-access
  if not argv or argv[0] not in commands or argv[0] == "reproduce":
    raise InputError(f"{where}: {str(argv[:1])[:60]} is not an optix-evo command that writes a results folder.")
  command = commands[argv[0]]
  options = {o: a for a in command._actions for o in a.option_strings}  # pylint: disable=protected-access
  if OUT_OPTION not in options:
    raise InputError(f"{where}: `optix-evo {argv[0]}` writes no results folder, so there is nothing to reproduce.")
  folder = pathlib.Path(run_dir).resolve()
  rebuilt, seen, has_out, i = [argv[0]], set(), False, 1
  while i < len(argv):
    token = argv[i]
    name, eq, inline = token.partition("=")
    action = options.get(name) if name.startswith("--") else None
    if action is None:
      raise InputError(f"{where}: {token[:60]!r} is not an option of `optix-evo {argv[0]}` (options are spelled out "
                       "in full; there are no positional arguments); refusing to run it.")
    if name in NOT_REPRODUCED:
      raise InputError(f"{where}: the recorded command has {name}, which reproduce refuses: {NOT_REPRODUCED[name]}.")
    if action.dest in seen and not isinstance(action, argparse._AppendAction):  # pylint: disable=protected-access
      raise InputError(f"{where}: {name} is given more than once; refusing an ambiguous command.")
    seen.add(action.dest)
    if action.nargs == 0:
      if eq:
        raise InputError(f"{where}: {name} takes no value, got {token[:60]!r}.")
      value = None
    elif action.nargs is None:
      if not eq and i + 1 >= len(argv):
        raise InputError(f"{where}: {name} has no value.")
      value = inline if eq else argv[i + 1]
      i += 0 if eq else 1
    else:
      raise InputError(f"{where}: option {name} cannot be reproduced.")
    i += 1
    if name == OUT_OPTION:
      has_out = True
      continue
    outside = [p for p in _read_paths(name, value or "", action) if not _is_inside(p, folder)]
    if outside and not allow_outside_paths:
      raise InputError(f"{where}: {name} reads {outside[0]!r}, outside {run_dir}; pass --allow-outside-paths if you "
                       "trust this run.json and that file.")
    rebuilt.append(name if value is None else f"{name}={value}")
  if not has_out:
    raise InputError(f"{where}: the recorded command has no {OUT_OPTION}, so it cannot be re-run into a new folder.")
  if force and "--force" in options:
    rebuilt.append("--force")
  return rebuilt + [f"{OUT_OPTION}={os.fspath(out_dir)}"]


def reproduce(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    force: bool = False,
    allow_outside_paths: bool = False,
    main: Callable[[Sequence[str]], int] | None = None,
) -> ReproduceReport:
  """Re-runs the command recorded in ``run_dir/run.json`` into ``out_dir`` and compares the headline figures.

  The command is rebuilt by :func:`rebuild_argv` (which refuses anything but a plain results-writing command with
  its own options, and files outside ``run_dir`` unless ``allow_outside_paths``); it always writes into ``out_dir``.

  Args:
    run_dir: a results folder holding a manifest.
    out_dir: where the re-run writes (default: a fresh sibling ``<run_dir>.reproduce<i>``); new or empty unless
      ``force``.
    rtol: relative tolerance of each figure, as in ``numpy.isclose``.
    atol: absolute tolerance of each figure.
    force: write into ``out_dir`` even if it holds files (passed on as the command's ``--force``).
    allow_outside_paths: let the recorded command read files and folders outside ``run_dir``.
    main: the CLI entry point, ``argv -> exit code`` (default: ``optix_evo.cli.main``, run in this process).

  Returns:
    A :class:`ReproduceReport`; ``report.ok`` when the command succeeded and every figure matched.

  Raises:
    InputError: for a missing or malformed manifest, a refused command (see :func:`rebuild_argv`), or an ``out_dir``
      that holds files (without ``force``).

  Examples:
    >>> import pathlib
    >>> import tempfile
    >>> import optix_evo as ox
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> _ = ox.write_manifest(run, argv=["bench", "--preset", "quick", "--out", str(run)], config={}, seeds=[0],
    ...                       headline={"test_accuracy": 0.93})
    >>> def main(argv):  # stands in for optix_evo.cli.main, which would train again
    ...   print(argv[:3])
    ...   out = argv[-1].split("=", 1)[1]
    ...   ox.write_manifest(out, argv=argv, config={}, seeds=[0], headline={"test_accuracy": 0.93})
    ...   return 0
    >>> report = ox.reproduce(run, main=main)
    ['bench', '--preset=quick', '--out=...run.reproduce1']
    >>> print(report.ok)
    True
    >>> print(report.to_markdown())
    | figure | recorded | reproduced | match |
    |---|---|---|---|
    | test_accuracy | 0.93 | 0.93 | yes |
  """
  if not (rtol >= 0 and atol >= 0):
    raise InputError(f"rtol and atol must be non-negative, got rtol={rtol}, atol={atol}.")
  run_dir = pathlib.Path(run_dir)
  recorded = read_manifest(run_dir)
  if run_dir.is_file():
    run_dir = run_dir.parent
  out_dir = pathlib.Path(out_dir) if out_dir is not None else _fresh_folder(run_dir)
  if main is None:
    from optix_evo.cli import main  # deferred: the CLI imports every feature package
  argv = rebuild_argv(recorded["argv"], run_dir, out_dir, allow_outside_paths=allow_outside_paths, force=force)
  prepare_out_dir(out_dir, force=force, option="--into")
  exit_code = int(main(argv) or 0)
  new = read_manifest(out_dir) if (out_dir / MANIFEST_NAME).exists() else {"headline": {}, "environment": environment()}
  checks = compare_headlines(recorded.get("headline", {}), new.get("headline", {}), rtol=rtol, atol=atol)
  return ReproduceReport(out_dir, exit_code, checks, _environment_changes(recorded.get("environment", {}), new["environment"]))
