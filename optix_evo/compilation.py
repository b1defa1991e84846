"""What compilation costs: XLA compile and tracing time counted from JAX's monitoring events, and JAX's persistent
compilation cache, so that a second run (or ``--resume``, or ``optix-evo reproduce``) loads its programs instead
of compiling them again::

    with CompileLog() as log:
      ...                                   # anything that compiles
    log.summary()  # {"programs": 3, "compiled": 3, "cache_hits": 0, "compile_s": 4.2, "trace_s": 0.6, ...}
    log.names      # Counter({"jit(train)": 1, ...})

See JAX's `persistent compilation cache <https://docs.jax.dev/en/latest/persistent_compilation_cache.html>`_.
"""

from __future__ import annotations

import collections
import logging
import os
import re
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
    if field == "compile_s":  # recorded for every program, also one loaded from the persistent cache
      log.totals["programs"] += 1
    if field == "cache_load_s":
      log.totals["cache_hits"] += 1


class _NameHandler(logging.Handler):
  """Collects the names of the programs JAX compiles (its DEBUG log line for each)."""

  pattern = re.compile(r"Finished XLA compilation of (\S+) in")

  def emit(self, record: logging.LogRecord) -> None:
    match = self.pattern.search(record.getMessage())
    if match:
      for log in _ACTIVE:
        log.names[match.group(1)] += 1


_NAMES = _NameHandler()
_DISPATCH_LOGGER = logging.getLogger("jax._src.dispatch")


class CompileLog:
  """Counts, while active (a context manager), the programs XLA compiled or loaded from the persistent cache, the
  seconds spent tracing, lowering and compiling them, and (in :attr:`names`) how often each program was built.

  Attributes:
    totals: ``programs``, ``cache_hits`` and the seconds ``compile_s``, ``trace_s``, ``lower_s``, ``cache_load_s``.
    names: program name → how many times it was built (a ``collections.Counter``).

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> from optix_evo.compilation import CompileLog
    >>> def triple_plus_one(x):
    ...   return x * 3 + 1
    >>> x = jnp.arange(4.0)
    >>> with CompileLog() as log:
    ...   _ = jax.jit(triple_plus_one)(x)
    ...   _ = jax.jit(triple_plus_one)(x)  # the same program: not compiled again
    >>> t = log.summary()  # one program: compiled, or loaded when a persistent cache already holds it
    >>> print(log.names["jit(triple_plus_one)"], t["programs"], t["compiled"] + t["cache_hits"], t["compile_s"] >= 0)
    1 1 1 True
  """

  def __init__(self):
    global _REGISTERED
    if not _REGISTERED:
      jax.monitoring.register_event_duration_secs_listener(_on_duration)
      _DISPATCH_LOGGER.addHandler(_NAMES)
      _REGISTERED = True
    self.totals = {"programs": 0, "cache_hits": 0, "compile_s": 0.0, "trace_s": 0.0, "lower_s": 0.0,
                   "cache_load_s": 0.0}
    self.names: collections.Counter[str] = collections.Counter()
    self._level = None

  def __enter__(self) -> CompileLog:
    _ACTIVE.append(self)
    if len(_ACTIVE) == 1:  # JAX logs every compilation at DEBUG level; our handler reads it, nothing is printed
      self._level = _DISPATCH_LOGGER.level
      _DISPATCH_LOGGER.setLevel(min(logging.DEBUG, _DISPATCH_LOGGER.level or logging.DEBUG))
    return self

  def __exit__(self, *exc) -> None:
    _ACTIVE.remove(self)
    if self._level is not None:
      _DISPATCH_LOGGER.setLevel(self._level)
      self._level = None

  def reset(self) -> None:
    """Counts and seconds back to zero (and :attr:`names` emptied)."""
    self.totals = {k: 0 * v for k, v in self.totals.items()}
    self.names.clear()

  def summary(self) -> dict[str, float]:
    """Counts and seconds: ``compiled`` programs (``programs`` built, less those loaded from the cache), and
    ``compile_and_trace_s``, what a user waits for before any training step runs (loading from the cache
    included).

    Returns:
      :attr:`totals` plus ``compiled`` and ``compile_and_trace_s``.
    """
    t = dict(self.totals)
    t["compiled"] = t["programs"] - t["cache_hits"]
    t["compile_and_trace_s"] = t["compile_s"] + t["trace_s"] + t["lower_s"]
    return t


def default_cache_dir() -> str:
  """``$XDG_CACHE_HOME/optix_evo/xla`` (``~/.cache/optix_evo/xla`` when unset).

  Returns:
    The folder's absolute path (not created).

  Examples:
    >>> from optix_evo.compilation import default_cache_dir
    >>> print(default_cache_dir().endswith("optix_evo/xla"))
    True
  """
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "optix_evo", "xla")


def enable_persistent_cache(directory: str | None = None) -> str:
  """Turns on JAX's persistent compilation cache in ``directory`` (default :func:`default_cache_dir`) for every
  program that takes more than 0.1 s to compile; returns the folder. Safe to call again (the last folder wins).

  It changes JAX's global configuration (``jax_compilation_cache_dir`` and its thresholds) for the whole process.

  Args:
    directory: the cache folder (created if needed).

  Returns:
    The folder's absolute path.

  Examples:
    Not run as a doctest (it would switch the cache on for the rest of the test session):

    >>> from optix_evo.compilation import enable_persistent_cache
    >>> enable_persistent_cache("/tmp/xla-cache")  # doctest: +SKIP
    '/tmp/xla-cache'
  """
  directory = os.path.abspath(directory or default_cache_dir())
  os.makedirs(directory, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return directory
