"""Atomic checkpoint files: a run killed at any instant leaves either the previous or the new checkpoint, whole."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
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
