"""Atomic checkpoint files: a run killed at any instant leaves either the previous or the new checkpoint, whole.

Also :func:`fill_defaults`, which lets a checkpoint written before a setting existed be read back (the new setting
takes its default), and :func:`broadcast_from_process_zero`, which hands process 0's view of the results folder to
the other processes of a multi-host run (only process 0 reads or writes that folder).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from typing import Any


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes ``data`` to a temporary file in the same folder, syncs it, then renames it over ``path``."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
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


def atomic_write_text(path: str, text: str) -> None:
  """:func:`atomic_write_bytes` for UTF-8 text."""
  atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj: Any) -> None:
  """:func:`atomic_write_text` of ``obj`` as indented JSON."""
  atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_checkpoint(path: str, state: Any) -> None:
  """Pickles ``state`` (host arrays and plain Python values) atomically to ``path``."""
  atomic_write_bytes(path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def load_checkpoint(path: str) -> Any:
  """The state saved by :func:`save_checkpoint` (only load files your own runs wrote: pickle runs code)."""
  with open(path, "rb") as f:
    return pickle.load(f)


def fill_defaults(cls: type, stored: dict[str, Any], *, what: str = "the stored configuration") -> dict[str, Any]:
  """``stored`` (the ``dataclasses.asdict`` of an older ``cls``) with every field it lacks set to its default.

  Raises:
    ValueError: naming the field, when ``stored`` has a field ``cls`` does not know, or lacks one without a default.
  """
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(stored) - set(fields))
  if unknown:
    raise ValueError(f"{what} has setting(s) {unknown} that {cls.__name__} does not know (written by another version "
                     f"of optix_evo?). Known settings: {', '.join(fields)}.")
  out = dict(stored)
  for name, field in fields.items():
    if name in out:
      continue
    if field.default is not dataclasses.MISSING:
      out[name] = field.default
    elif field.default_factory is not dataclasses.MISSING:
      out[name] = field.default_factory()
    else:
      raise ValueError(f"{what} lacks the {cls.__name__} setting {name!r}, which has no default; it cannot be read.")
  return out


def broadcast_from_process_zero(make: Callable[[], Any]) -> Any:
  """``make()`` evaluated on process 0 only, its (picklable) result handed to every process.

  A ``ValueError`` raised by ``make`` on process 0 is raised, with the same message, on every process, so that all
  of them stop together instead of the others waiting forever in the next collective. With one process this is
  just ``make()``.
  """
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

  if jax.process_count() == 1:
    return make()
  payload = b""
  if jax.process_index() == 0:
    try:
      payload = pickle.dumps(("ok", make()), protocol=pickle.HIGHEST_PROTOCOL)
    except ValueError as e:
      payload = pickle.dumps(("error", str(e)), protocol=pickle.HIGHEST_PROTOCOL)
  size = int(multihost_utils.broadcast_one_to_all(np.int32(len(payload))))
  host = np.frombuffer(payload, np.uint8) if jax.process_index() == 0 else np.zeros(size, np.uint8)
  kind, value = pickle.loads(np.asarray(multihost_utils.broadcast_one_to_all(host)).tobytes())
  if kind == "error":
    raise ValueError(value)
  return value
