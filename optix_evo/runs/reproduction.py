"""``optix-evo reproduce RUN_DIR``: re-run a recorded results folder and check its headline figures.

:func:`reproduce` reads ``RUN_DIR/run.json`` (:mod:`optix_evo.runs.manifest`), rebuilds the command from its validated
``argv`` (:func:`rebuild_argv`: a known results-writing command and only its own options, each once, spelled out in
full; no ``--resume``/``--force``/multi-process options; every file or folder it reads inside ``RUN_DIR`` unless
allowed; no ``MODULE:FUNCTION`` task, whose module would be imported and run, unless allowed), runs it with ``--out``
pointing to a fresh folder, reads the new folder's manifest and compares the headline figures. A run.json received
from someone else therefore chooses neither the command nor where it writes, nor which files outside its folder the
run reads, nor any code that runs.
"""

from __future__ import annotations

import argparse
import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from optix_evo.errors import InputError
from optix_evo.runs.folder import check_out_dir
from optix_evo.runs.manifest import MANIFEST_NAME, OUT_OPTION, environment, read_manifest

__all__ = ["ALLOW_IMPORTS_FLAG", "HeadlineCheck", "NOT_REPRODUCED", "PATH_OPTIONS", "ReproduceReport",
           "compare_headlines", "rebuild_argv", "reproduce"]

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
ALLOW_IMPORTS_FLAG = "--allow-imports"
"""The ``reproduce`` flag that lets a recorded command import the module of a ``MODULE:FUNCTION`` task."""
# Options (and --set settings) whose value names tasks, which may be MODULE:FUNCTION references to code.
_TASK_OPTIONS = ("--task", "--tasks")
_TASK_SETTINGS = ("task", "tasks", "pool_task", "holdout_tasks")


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


def _imported_modules(option: str, value: str) -> list[str]:
  """The ``MODULE:FUNCTION`` task references in ``option value`` (code the run would import and run)."""
  if option == "--set":
    name, _, value = value.partition("=")
    if name.strip() not in _TASK_SETTINGS:
      return []
  elif option not in _TASK_OPTIONS:
    return []
  names = value.replace("(", " ").replace(")", " ").replace("[", " ").replace("]", " ").replace("'", " ")
  names = names.replace('"', " ").replace(",", " ").split()
  return [n for n in names if ":" in n]


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
                 allow_outside_paths: bool = False, allow_imports: bool = False, force: bool = False,
                 parser: Any = None) -> list[str]:
  """The command that reproduces a recorded ``argv`` into ``out_dir``, rebuilt from its validated options.

  ``argv[0]`` must be an ``optix-evo`` command that writes a results folder (it takes ``--out``); every other entry
  an option of that command spelled out in full (``--name value`` or ``--name=value``; no abbreviations, short
  options or positional arguments), each given once (except repeatable ones such as ``--set``), none of
  :data:`NOT_REPRODUCED`; exactly one ``--out``, whose value is replaced by ``out_dir``. Files and folders the run
  reads (:data:`PATH_OPTIONS`, ``--set data_dir=``, ``genome:`` rows) must lie inside ``run_dir`` unless
  ``allow_outside_paths``. A ``MODULE:FUNCTION`` task (``--task``, ``--tasks``, ``--set task=`` ...) would import and
  run that module: refused unless ``allow_imports``. Options are re-emitted as ``--name=value``, so a value cannot
  turn into an option.

  Args:
    argv: the recorded arguments after ``optix-evo``.
    run_dir: the folder the manifest came from.
    out_dir: where the reproduction writes.
    allow_outside_paths: accept files and folders outside ``run_dir``.
    allow_imports: accept ``MODULE:FUNCTION`` tasks (their module is imported).
    force: add the command's ``--force`` (``out_dir`` may hold files).
    parser: the ``optix-evo`` argument parser (default: :func:`optix_evo.cli.build_parser`).

  Raises:
    InputError: naming the first entry of ``argv`` that is refused, and why.
  """
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
    modules = _imported_modules(name, value or "")
    if modules and not allow_imports:
      raise InputError(f"{where}: {name} names the task {modules[0][:80]!r}, whose module would be imported and run; "
                       f"pass {ALLOW_IMPORTS_FLAG} if you trust this run.json and that code.")
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
    allow_imports: bool = False,
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
    allow_imports: let the recorded command import the module of a ``MODULE:FUNCTION`` task.
    main: the CLI entry point, ``argv -> exit code`` (default: ``optix_evo.cli.main``, run in this process).

  Returns:
    A :class:`ReproduceReport`; ``report.ok`` when the command succeeded and every figure matched.

  Raises:
    InputError: for a missing or malformed manifest, a refused command (see :func:`rebuild_argv`), or an ``out_dir``
      that holds files (without ``force``).

  Examples:
    >>> import pathlib
    >>> import tempfile
    >>> from optix_evo import runs
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> _ = runs.write_manifest(run, argv=["bench", "--preset", "quick", "--out", str(run)], config={}, seeds=[0],
    ...                         headline={"test_accuracy": 0.93})
    >>> def main(argv):  # stands in for optix_evo.cli.main, which would train again
    ...   print(argv[:3])
    ...   out = argv[-1].split("=", 1)[1]
    ...   runs.write_manifest(out, argv=argv, config={}, seeds=[0], headline={"test_accuracy": 0.93})
    ...   return 0
    >>> report = runs.reproduce(run, main=main)
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
  argv = rebuild_argv(recorded["argv"], run_dir, out_dir, allow_outside_paths=allow_outside_paths,
                      allow_imports=allow_imports, force=force)
  check_out_dir(out_dir, force=force, option="--into")  # the command itself opens (and locks) it
  exit_code = int(main(argv) or 0)
  new = read_manifest(out_dir) if (out_dir / MANIFEST_NAME).exists() else {"headline": {}, "environment": environment()}
  checks = compare_headlines(recorded.get("headline", {}), new.get("headline", {}), rtol=rtol, atol=atol)
  return ReproduceReport(out_dir, exit_code, checks, _environment_changes(recorded.get("environment", {}), new["environment"]))
