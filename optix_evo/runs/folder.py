"""Results folders owned by one run at a time, that a failed start leaves as they were, and files written so that a
kill at any instant leaves them whole.

Every ``optix-evo`` command that writes a results folder validates its settings first, then opens the folder with
:func:`open_run_folder` (or :func:`prepare_out_dir`) before it writes anything:

* **One run at a time.** The run holds an OS lock (``fcntl.flock``) on ``DIR/.optix-evo.lock`` for its whole life. A
  second run into the same folder, with or without ``--force`` or ``--resume``, is refused with one line while the
  first one runs. The kernel drops the lock when its process ends, however it ends, so the lock file a killed run
  leaves behind does not block ``--resume``.
* **A folder holding files** (an earlier run's results, or anything else) is refused unless the user passes
  ``--force``; ``--force`` then deletes the files an earlier run of ours wrote there (they are listed in
  ``DIR/.optix-evo-files``, one path a line, each recorded before the file is created), so no stale result sits among
  the new ones, and never touches a file we did not write.
* ``--resume`` needs the folder's checkpoint, and is refused when there is none.
* ``--out`` naming a file, or a folder this process cannot write into, is refused before any work starts.
* **A failed start leaves the folder as it was:** when the command ends with an error before it wrote its checkpoint
  (commands without one: before it finished), the files it wrote are removed again, and so is the folder if the run
  created it.

Files are written with :func:`atomic_write_bytes` (a temporary file in the same folder, synced, then renamed over
the target) and get the ordinary permissions of a new file (``0666`` minus the umask). A file written by other means
inside an open run folder is recorded with :func:`claim` first.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import pathlib
import secrets
from typing import Any

from optix_evo.errors import InputError

__all__ = ["FolderInUse", "LOCK_NAME", "FILES_NAME", "RunFolder", "add_force_argument", "add_out_argument",
           "atomic_write_bytes", "atomic_write_figure", "atomic_write_json", "atomic_write_text", "check_out_dir",
           "claim", "close_run_folders", "open_run_folder", "prepare_out_dir"]

LOCK_NAME = ".optix-evo.lock"
"""The lock file inside a run folder; the run holds ``fcntl.flock`` on it for its whole life."""
FILES_NAME = ".optix-evo-files"
"""The list of files runs of ours wrote into a run folder (one relative path a line); ``--force`` deletes those."""
_BOOKKEEPING = (LOCK_NAME, FILES_NAME)
_OPEN: list["RunFolder"] = []  # run folders this process holds, innermost last


class FolderInUse(InputError):
  """The run folder is locked by another run (another process, or another open :class:`RunFolder`)."""


def add_out_argument(parser, *, option: str = "--out", default: str | None = None, required: bool | None = None,
                     force: bool = True, what: str = "results folder") -> None:
  """Adds the results-folder option (``--out DIR``; ``reproduce`` names it ``--into``) and ``--force`` to a parser.

  Every command that writes a results folder adds it with this helper, so the option, its help and ``--force`` read
  the same everywhere.

  Args:
    parser: an ``argparse.ArgumentParser`` (or subparser).
    option: the option's name.
    default: its default (``None``: no default).
    required: whether it must be given (default: when there is no default).
    force: also add ``--force``.
    what: what the folder holds, for the help.

  Examples:
    >>> import argparse
    >>> from optix_evo.runs.folder import add_out_argument
    >>> parser = argparse.ArgumentParser()
    >>> add_out_argument(parser, default="bench_results")
    >>> args = parser.parse_args(["--force"])
    >>> print(args.out, args.force)
    bench_results True
  """
  required = default is None if required is None else required
  parser.add_argument(
      option, default=default, required=required, metavar="DIR",
      help=f"{what}, new or empty; it receives run.json, the manifest that `optix-evo reproduce` re-runs; "
           f"one run at a time (a lock){f' (default: {default})' if default else ''}")
  if force:
    add_force_argument(parser, option=option)


def add_force_argument(parser, *, option: str = "--out") -> None:
  """Adds ``--force`` (write into a results folder that already holds files) to an ``argparse`` parser.

  Args:
    parser: an ``argparse.ArgumentParser`` (or subparser).
    option: the results-folder option, for the help.

  Examples:
    >>> import argparse
    >>> from optix_evo.runs.folder import add_force_argument
    >>> parser = argparse.ArgumentParser()
    >>> add_force_argument(parser)
    >>> print(parser.parse_args(["--force"]).force, parser.parse_args([]).force)
    True False
  """
  parser.add_argument("--force", action="store_true",
                      help=f"write into {option} even if it already holds files: what an earlier optix-evo run wrote "
                           "there is deleted first; other files are left alone")


def _describe(names: list[str]) -> str:
  shown = ", ".join(sorted(names)[:5])
  return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _contents(out: pathlib.Path, option: str) -> list[str]:
  try:
    return [n for n in os.listdir(out) if n not in _BOOKKEEPING]
  except OSError as e:
    raise InputError(f"cannot read {option} {out}: {e.strerror}.") from None


def _holder(lock: pathlib.Path) -> str:
  try:
    info = json.loads(lock.read_text(encoding="utf-8") or "{}")
    return f" (process {int(info['pid'])}, {info.get('command', 'optix-evo')})"
  except (OSError, ValueError, KeyError, TypeError):
    return ""


def _in_use(out: pathlib.Path, option: str) -> FolderInUse:
  return FolderInUse(f"{option} {out} is in use by another optix-evo run{_holder(out / LOCK_NAME)}; wait until it "
                     "ends or choose another folder (--force does not take a folder from a running run).")


def _locked_by_other(out: pathlib.Path) -> bool:
  """Whether another run holds ``out``'s lock (checked without creating or changing anything)."""
  if any(f.path == out.resolve() for f in _OPEN):
    return True
  try:
    fd = os.open(out / LOCK_NAME, os.O_RDONLY)
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    return True
  finally:
    os.close(fd)  # closing drops the probe's lock
  return False


def check_out_dir(path: str | os.PathLike, *, force: bool = False, resume: bool = False,
                  checkpoint_name: str | None = None, option: str = "--out", _locked: bool = False) -> pathlib.Path:
  """Checks, without creating or writing anything, that a run may write into the results folder ``path``.

  Args:
    path: the results folder.
    force: the run may write into a folder that holds files.
    resume: the run continues from ``path/checkpoint_name``, which must exist.
    checkpoint_name: the command's checkpoint file name inside ``path`` (``None``: it has none).
    option: the command-line option that named ``path``, for the messages.

  Returns:
    ``path`` as a :class:`pathlib.Path`.

  Raises:
    FolderInUse: another run holds the folder.
    InputError: ``path`` is a file; it holds files and neither ``force`` nor ``resume`` is set; ``resume`` without a
      checkpoint.

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.runs.folder import check_out_dir
    >>> out = check_out_dir(os.path.join(tempfile.mkdtemp(), "run"))
    >>> print(out.exists())  # nothing is created
    False
  """
  out = pathlib.Path(path)
  if out.exists() and not out.is_dir():
    raise InputError(f"{option} {out} is a file, not a folder; choose a folder for the results.")
  if not _locked and out.is_dir() and _locked_by_other(out):
    raise _in_use(out, option)
  checkpoint = out / checkpoint_name if checkpoint_name else None
  if resume:
    if checkpoint is None:
      raise InputError("this command keeps no checkpoint, so it cannot --resume; run it without --resume.")
    if not checkpoint.is_file():
      raise InputError(f"--resume: {out} holds no checkpoint ({checkpoint_name}), so there is nothing to continue; "
                       f"run without --resume to start afresh (in a new {option} folder).")
  elif out.is_dir() and not force:
    present = _contents(out, option)
    if present:
      hint = " or --resume to continue its checkpoint" if checkpoint is not None and checkpoint.is_file() else ""
      raise InputError(f"{option} {out} already holds files ({_describe(present)}); choose a new folder, or pass "
                       f"--force to write into it anyway (what an earlier optix-evo run wrote there is deleted; "
                       f"other files are left alone){hint}.")
  return out


def _safe_relative(name: str) -> bool:
  parts = pathlib.PurePosixPath(name).parts
  return bool(parts) and not name.startswith("/") and ".." not in parts and parts[0] not in _BOOKKEEPING


def _read_files_list(out: pathlib.Path) -> list[str]:
  try:
    lines = (out / FILES_NAME).read_text(encoding="utf-8").splitlines()
  except (OSError, UnicodeDecodeError):
    return []
  return list(dict.fromkeys(n for n in lines if n and _safe_relative(n)))


def _remove_files(out: pathlib.Path, names: list[str]) -> None:
  """Deletes ``out/name`` for each name (never following a link out of ``out``), then folders they leave empty."""
  root = out.resolve()
  folders = set()
  for name in names:
    target = out / name
    parent = target.parent.resolve()
    if parent != root and root not in parent.parents:  # a linked folder pointing elsewhere: not ours to clean
      continue
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
      if target.is_symlink() or target.is_file():
        target.unlink()
    for folder in target.parents:
      if folder == out:
        break
      folders.add(folder)
  for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
    with contextlib.suppress(OSError):
      folder.rmdir()  # only when empty


class RunFolder:
  """A results folder held by this run: the lock, the list of files we write, and the clean-up of a failed start.

  Open it with :func:`open_run_folder`; use it as a context manager (or call :meth:`close`). While it is open, every
  :func:`atomic_write_bytes` into the folder is recorded in ``DIR/.optix-evo-files`` before the file is created.

  Attributes:
    path: the folder.
    checkpoint_name: the command's checkpoint file name, or ``None``.
    created: whether this run created the folder.
  """

  def __init__(self, path: pathlib.Path, fd: int, *, created: bool, created_lock: bool, checkpoint_name: str | None):
    self.path, self._fd, self.created, self.checkpoint_name = path, fd, created, checkpoint_name
    self._created_lock = created_lock
    self._recorded = set(_read_files_list(path))
    self.written: list[str] = []  # files this run wrote, in order
    self.created_files: list[str] = []  # those of them that did not exist before this run

  def __fspath__(self) -> str:
    return os.fspath(self.path)

  def __enter__(self) -> "RunFolder":
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    self.close(failed=exc_type is not None)

  @property
  def is_open(self) -> bool:
    return self._fd is not None

  def claim(self, name: str | os.PathLike) -> None:
    """Records ``name`` (a path inside the folder, or relative to it) as written by us, before it is written."""
    rel = pathlib.PurePath(os.path.relpath(_real(self.path / name), self.path)).as_posix()
    if rel in self.written or not _safe_relative(rel):
      return
    self.written.append(rel)
    if not os.path.lexists(self.path / rel):
      self.created_files.append(rel)
    if rel in self._recorded:
      return
    with open(self.path / FILES_NAME, "a", encoding="utf-8") as f:
      f.write(rel + "\n")
      f.flush()
      os.fsync(f.fileno())
    self._recorded.add(rel)

  def close(self, *, failed: bool = False) -> None:
    """Releases the lock. ``failed``: the command ended with an error; unless the folder holds a checkpoint to
    ``--resume``, the files this run created are removed, and the folder too when this run created it and nothing
    else is left in it."""
    if self._fd is None:
      return
    try:
      resumable = self.checkpoint_name is not None and (self.path / self.checkpoint_name).is_file()
      if failed and not resumable:
        _remove_files(self.path, self.created_files)
        kept = [n for n in _read_files_list(self.path) if n not in self.created_files]
        if kept:
          atomic_write_text(self.path / FILES_NAME, "".join(n + "\n" for n in kept))
        else:
          with contextlib.suppress(FileNotFoundError):
            (self.path / FILES_NAME).unlink()
        if self._created_lock and not kept:
          with contextlib.suppress(OSError):
            (self.path / LOCK_NAME).unlink()  # we hold the lock; a run that opened this file retries (see _lock)
        if self.created and not _contents(self.path, "--out"):
          with contextlib.suppress(OSError):
            self.path.rmdir()
    finally:
      os.close(self._fd)
      self._fd = None
      if self in _OPEN:
        _OPEN.remove(self)


def _lock(out: pathlib.Path, option: str, command: str) -> tuple[int, bool]:
  """Takes ``out/.optix-evo.lock`` (created if needed) with a non-blocking exclusive ``flock``; returns its fd and
  whether this call created the file."""
  for _ in range(10):
    created = True
    try:
      try:
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
      except FileExistsError:
        created, fd = False, os.open(out / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
      continue  # removed between the two opens: try again
    except OSError as e:
      raise InputError(f"cannot write into {option} {out}: {e.strerror or e}; choose a folder you can write to.") \
          from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(fd)
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise _in_use(out, option) from None
      raise
    try:  # a run that failed at its start may have removed the file we opened: then lock the new one
      same = os.fstat(fd).st_ino == os.stat(out / LOCK_NAME).st_ino
    except FileNotFoundError:
      same = False
    if same:
      os.ftruncate(fd, 0)
      os.write(fd, json.dumps({"pid": os.getpid(), "command": command}).encode())
      return fd, created
    os.close(fd)
  raise _in_use(out, option)


def open_run_folder(path: str | os.PathLike, *, force: bool = False, resume: bool = False,
                    checkpoint_name: str | None = None, option: str = "--out",
                    command: str = "optix-evo") -> RunFolder:
  """Checks the results folder ``path`` (:func:`check_out_dir`), creates it, locks it for this run and returns it.

  Call it after the run's settings and tasks are validated and before anything is written. With ``force``, the files
  an earlier run of ours wrote into ``path`` are deleted (files we did not write are left alone).

  Args:
    path: the results folder (``--out``).
    force: write into ``path`` even if it already holds files.
    resume: the run continues from ``path/checkpoint_name``, which must exist.
    checkpoint_name: the file name of the command's checkpoint inside ``path`` (``None``: it has none).
    option: the command-line option that named ``path``, for the messages.
    command: what runs, recorded in the lock file for the message a second run gets.

  Returns:
    The open :class:`RunFolder` (a context manager; closing it releases the lock).

  Raises:
    FolderInUse: another run holds the folder (whatever ``force`` says).
    InputError: as :func:`check_out_dir`, or the folder cannot be created or written into.

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.runs.folder import atomic_write_text, open_run_folder
    >>> path = os.path.join(tempfile.mkdtemp(), "run")
    >>> run = open_run_folder(path)
    >>> atomic_write_text(os.path.join(path, "report.md"), "results")  # recorded as ours
    >>> open_run_folder(path, force=True)
    Traceback (most recent call last):
      ...
    optix_evo.runs.folder.FolderInUse: --out ... is in use by another optix-evo run (process ...); wait until it ...
    >>> run.close()
    >>> open_run_folder(path)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: --out ... already holds files (report.md); choose a new folder, or pass --force ...
    >>> with open_run_folder(path, force=True) as run:  # deletes the earlier report.md, which we wrote
    ...   print(sorted(os.listdir(path)))
    ['.optix-evo.lock']
  """
  out = check_out_dir(path, force=force, resume=resume, checkpoint_name=checkpoint_name, option=option)
  created = False
  try:
    if not out.is_dir():
      out.parent.mkdir(parents=True, exist_ok=True)
      try:
        out.mkdir()
        created = True
      except FileExistsError:  # another run created it just now: the lock decides
        pass
  except OSError as e:
    blocking = next((p for p in out.parents if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
      raise InputError(f"cannot write into {option} {out}: {blocking} is a file, not a folder.") from None
    raise InputError(f"cannot write into {option} {out}: {e.strerror or e}; choose a folder you can write to.") \
        from None
  try:
    fd, created_lock = _lock(out, option, command)
  except BaseException:
    if created:
      with contextlib.suppress(OSError):
        out.rmdir()
    raise
  folder = RunFolder(out.resolve(), fd, created=created, created_lock=created_lock, checkpoint_name=checkpoint_name)
  try:  # under the lock, check again: another run may have written here between the check and the lock
    check_out_dir(out, force=force, resume=resume, checkpoint_name=checkpoint_name, option=option, _locked=True)
    if force and not resume:
      ours = _read_files_list(folder.path)
      _remove_files(folder.path, ours)
      with contextlib.suppress(FileNotFoundError):
        (folder.path / FILES_NAME).unlink()
      folder._recorded = set()  # pylint: disable=protected-access
      if checkpoint_name is not None and (folder.path / checkpoint_name).is_file():
        (folder.path / checkpoint_name).unlink()  # a stale checkpoint must not be resumed on top of the new run
  except BaseException:
    folder.close(failed=True)
    raise
  _OPEN.append(folder)
  return folder


def prepare_out_dir(path: str | os.PathLike, *, force: bool = False, resume: bool = False,
                    checkpoint_name: str | None = None, option: str = "--out") -> pathlib.Path:
  """:func:`open_run_folder`, kept open until :func:`close_run_folders` (the command line calls it when the command
  ends) or the process ends; returns the folder's path.

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.runs.folder import close_run_folders, prepare_out_dir
    >>> out = prepare_out_dir(os.path.join(tempfile.mkdtemp(), "run"))  # created and locked
    >>> (out / "report.md").write_text("results")
    7
    >>> close_run_folders()  # unlocked
    >>> prepare_out_dir(out)
    Traceback (most recent call last):
      ...
    optix_evo.errors.InputError: --out ... already holds files (report.md); choose a new folder, or pass --force ...
  """
  open_run_folder(path, force=force, resume=resume, checkpoint_name=checkpoint_name, option=option)
  return pathlib.Path(path)


def close_run_folders(*, failed: bool = False, keep: int = 0) -> None:
  """Closes the run folders this process holds (innermost first; the ``keep`` opened first stay open); see
  :meth:`RunFolder.close`."""
  for folder in reversed(list(_OPEN[keep:])):
    folder.close(failed=failed)


def open_count() -> int:
  """How many run folders this process holds (for :func:`close_run_folders`'s ``keep``)."""
  return len(_OPEN)


def _real(path: str | os.PathLike) -> str:
  """``path`` with its folder's links resolved (the file itself may not exist yet, nor be resolved)."""
  path = os.path.abspath(path)
  return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def claim(path: str | os.PathLike) -> None:
  """Records ``path`` as written by us in the open run folder that holds it (a no-op outside run folders). Call it
  before writing a file by other means than :func:`atomic_write_bytes` (which calls it)."""
  if not _OPEN:
    return
  target = _real(path)
  for folder in reversed(_OPEN):
    root = os.fspath(folder.path)
    if target.startswith(root + os.sep):
      folder.claim(target)
      return


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
  """Writes ``data`` to a temporary file next to ``path``, syncs it, then renames it over ``path``.

  A kill at any instant leaves either the old file or the new one, whole. Inside an open run folder, the file is
  recorded as ours (:func:`claim`) before it is created. The file gets the permissions of any new
  file (``0666`` minus the umask), not the ``0600`` of :func:`tempfile.mkstemp`.

  Args:
    path: the file to write (its folder is created if needed).
    data: the contents.

  Examples:
    >>> import os
    >>> import tempfile
    >>> from optix_evo.runs.folder import atomic_write_bytes
    >>> path = os.path.join(tempfile.mkdtemp(), "data.bin")
    >>> atomic_write_bytes(path, b"\\x00\\x01")
    >>> print(open(path, "rb").read())
    b'\\x00\\x01'
  """
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  claim(path)
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
    >>> from optix_evo.runs.folder import atomic_write_text
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
    >>> from optix_evo.runs.folder import atomic_write_json
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> atomic_write_json(path, {"seed": 0}, indent=None)
    >>> print(open(path).read(), end="")
    {"seed": 0}
  """
  atomic_write_text(path, json.dumps(obj, **{"indent": 2, **dumps_kwargs}) + "\n")


def atomic_write_figure(fig: Any, path: str | os.PathLike, **savefig_kwargs: Any) -> None:
  """:func:`atomic_write_bytes` of a matplotlib figure (``savefig_kwargs`` go to ``fig.savefig``; the format follows
  the file name)."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format=pathlib.Path(path).suffix.lstrip(".") or "png", **savefig_kwargs)
  atomic_write_bytes(path, buffer.getvalue())
