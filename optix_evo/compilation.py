"""What compilation costs: XLA compile and tracing time counted from JAX's monitoring events, and JAX's persistent
compilation cache, so that a second run (or ``--resume``, or ``optix-evo reproduce``) loads its programs instead
of compiling them again.

    with CompileLog() as log:
      ...                                   # anything that compiles
    log.summary()  # {"compilations": 3, "compile_s": 4.2, "trace_s": 0.6, "cache_hits": 0, ...}
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax

_EVENTS = {
    "/jax/core/compile/backend_compile_duration": "compile_s",
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    "/jax/compilation_cache/cache_retrieval_time_sec": "cache_load_s",
}
_ACTIVE: list[CompileLog] = []
_REGISTERED = False


def _on_duration(event: str, duration: float, **kwargs: Any) -> None:
  del kwargs
  field = _EVENTS.get(event)
  if field is None:
    return
  for log in _ACTIVE:
    log.totals[field] += duration
    if field == "compile_s":
      log.totals["compilations"] += 1
    if field == "cache_load_s":
      log.totals["cache_hits"] += 1


class CompileLog:
  """Counts, while active (a context manager, re-entrant), the programs XLA compiled and the seconds spent
  tracing, lowering and compiling them, plus the programs loaded from the persistent cache."""

  def __init__(self):
    global _REGISTERED
    if not _REGISTERED:
      jax.monitoring.register_event_duration_secs_listener(_on_duration)
      _REGISTERED = True
    self.totals = {"compilations": 0, "cache_hits": 0, "compile_s": 0.0, "trace_s": 0.0, "lower_s": 0.0,
                   "cache_load_s": 0.0}
    self._start = None
    self.wall_s = 0.0

  def __enter__(self) -> CompileLog:
    _ACTIVE.append(self)
    self._start = time.perf_counter()
    return self

  def __exit__(self, *exc) -> None:
    _ACTIVE.remove(self)
    self.wall_s += time.perf_counter() - self._start

  def summary(self) -> dict[str, float]:
    """Counts and seconds; ``compile_and_trace_s`` is what a user waits for before any training step runs."""
    t = dict(self.totals)
    t["compile_and_trace_s"] = t["compile_s"] + t["trace_s"] + t["lower_s"] + t["cache_load_s"]
    return t


def default_cache_dir() -> str:
  """``$XDG_CACHE_HOME/optix_evo/xla`` (``~/.cache/optix_evo/xla`` when unset)."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "optix_evo", "xla")


def enable_persistent_cache(directory: str | None = None) -> str:
  """Turns on JAX's persistent compilation cache in ``directory`` (default :func:`default_cache_dir`) for every
  program that takes more than 0.1 s to compile; returns the folder. Safe to call again (the last folder wins)."""
  directory = os.path.abspath(directory or default_cache_dir())
  os.makedirs(directory, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return directory
