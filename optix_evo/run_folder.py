"""Results folders that cannot lose data, and files written so that a kill at any instant leaves them whole.

Every ``optix-evo`` command that writes a results folder calls :func:`prepare_out_dir` before it writes anything:

* a run into a folder that already holds files (an earlier run's results, or anything else) is refused unless
  the user passes ``--force`` (then files of the same name are replaced, others are left alone);
* ``--resume`` needs the folder's checkpoint, and is refused when there is none (instead of silently starting
  afresh over the old results);
* ``--out`` naming a file, or a folder this process cannot write into, is refused before any work starts.

Files are written with :func:`atomic_write_bytes` (a temporary file in the same folder, synced, then renamed over
the target) and get the ordinary permissions of a new file (``0666`` minus the umask).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
from typing import Any

from optix_evo.errors import InputError

__all__ = ["add_force_argument", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "prepare_out_dir"]


def add_force_argument(parser) -> None:
  """Adds ``--force`` (write into a results folder that already holds files) to an ``argparse`` parser.

  Args:
    parser: an ``argparse.ArgumentParser`` (or subparser).

  Examples:
    >>> import argparse
    >>> from optix_evo.run_folder import add_force_argument
    >>> parser = argparse.ArgumentParser()
    >>> add_force_argument(parser)
    >>> print(parser.parse_args(["--force"]).force, parser.parse_args([]).force)
    True False
  """
  parser.add_argument("--force", action="store_true",
                      help="write into --out even if it already holds files (files of the same name are replaced)")


def _describe(names: list[str]) -> str:
  shown = ", ".join(sorted(names)[:5])
  return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def prepare_out_dir(path: str | os.PathLike, *, force: bool = False, resume: bool = False,
                    checkpoint_name: str | None = None, option: str = "--out") -> pathlib.Path:
  """Checks the results folder ``path`` before a run writes into it, creates it, and returns it.

  Args:
    path: the results folder (``--out``).
    force: write into ``path`` even if it already holds files. A stale checkpoint ``checkpoint_name`` is then
      deleted, so that a later ``--resume`` cannot continue the old run on top of the new one.
    resume: the run continues from ``path/checkpoint_name``, which must exist.
    checkpoint_name: the file name of the command's checkpoint inside ``path`` (``None``: it has none).
    option: the command-line option that named ``path``, for the messages.

  Returns:
    ``path`` as a :class:`pathlib.Path`; the folder exists and is writable.

  Raises:
    InputError: ``path`` is a file; it holds files and neither ``force`` nor ``resume`` is set; ``resume`` without a
      checkpoint; or the folder cannot be created or written into.

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.run_folder import prepare_out_dir
    >>> out = prepare_out_dir(os.path.join(tempfile.mkdtemp(), "run"))  # created
    >>> (out / "report.md").write_text("results")
    7
    >>> prepare_out_dir(out)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: --out ... already holds files (report.md); choose a new folder, or pass --force ...
    >>> print(prepare_out_dir(out, force=True) == out)
    True
  """
  out = pathlib.Path(path)
  if out.exists() and not out.is_dir():
    raise InputError(f"{option} {out} is a file, not a folder; choose a folder for the results.")
  checkpoint = out / checkpoint_name if checkpoint_name else None
  if resume:
    if checkpoint is None:
      raise InputError("this command keeps no checkpoint, so it cannot --resume; run it without --resume.")
    if not checkpoint.is_file():
      raise InputError(f"--resume: {out} holds no checkpoint ({checkpoint_name}), so there is nothing to continue; "
                       f"run without --resume to start afresh (in a new {option} folder).")
  elif out.is_dir():
    try:
      present = os.listdir(out)
    except OSError as e:
      raise InputError(f"cannot read {option} {out}: {e.strerror}.") from None
    if present and not force:
      hint = " or --resume to continue its checkpoint" if checkpoint is not None and checkpoint.is_file() else ""
      raise InputError(f"{option} {out} already holds files ({_describe(present)}); choose a new folder, "
                       f"or pass --force to write into it anyway (files of the same name are replaced){hint}.")
    if force and checkpoint is not None and checkpoint.is_file():
      checkpoint.unlink()
  try:
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write-test-{secrets.token_hex(6)}"
    probe.touch(exist_ok=False)
    probe.unlink()
  except OSError as e:
    raise InputError(f"cannot write into {option} {out}: {e.strerror or e}; choose a folder you can write to.") \
        from None
  return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
  """Writes ``data`` to a temporary file next to ``path``, syncs it, then renames it over ``path``.

  A kill at any instant leaves either the old file or the new one, whole. The file gets the permissions of any new
  file (``0666`` minus the umask), not the ``0600`` of :func:`tempfile.mkstemp`.

  Args:
    path: the file to write (its folder is created if needed).
    data: the contents.

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.run_folder import atomic_write_bytes
    >>> path = os.path.join(tempfile.mkdtemp(), "data.bin")
    >>> atomic_write_bytes(path, b"\\x00\\x01")
    >>> print(open(path, "rb").read())
    b'\\x00\\x01'
  """
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  tmp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}-{os.path.basename(path)}")
  fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  _sync_folder(folder)


def _sync_folder(folder: str) -> None:
  """Makes the rename durable (POSIX: fsync the folder); a no-op where folders cannot be opened."""
  try:
    fd = os.open(folder, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  """:func:`atomic_write_bytes` for UTF-8 text.

  Args:
    path: the file to write.
    text: the contents, written as UTF-8.

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.run_folder import atomic_write_text
    >>> path = os.path.join(tempfile.mkdtemp(), "report.md")
    >>> atomic_write_text(path, "η = 0.1\\n")
    >>> print(open(path, encoding="utf-8").read(), end="")
    η = 0.1
  """
  atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, **dumps_kwargs: Any) -> None:
  """:func:`atomic_write_text` of ``obj`` as indented JSON (``dumps_kwargs`` go to :func:`json.dumps`).

  Args:
    path: the file to write.
    obj: a JSON-serialisable object.
    **dumps_kwargs: arguments of :func:`json.dumps` (``indent`` defaults to 2).

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.run_folder import atomic_write_json
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> atomic_write_json(path, {"seed": 0}, indent=None)
    >>> print(open(path).read(), end="")
    {"seed": 0}
  """
  atomic_write_text(path, json.dumps(obj, **{"indent": 2, **dumps_kwargs}) + "\n")
