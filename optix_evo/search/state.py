"""The search's state as a typed, immutable value (:class:`SearchState`), like :class:`~optix_evo.search.ga.GAState`:
the phases (:mod:`optix_evo.search.phases`) take one and return a new one; the driver's loop checkpoints it as plain
data (:meth:`SearchState.to_dict`)."""

from __future__ import annotations

import dataclasses
from typing import Any

STATE_FORMAT = "optix_evo.search_state/2"  # /2: the SearchState layout, genomes with decay_memory
PHASES = ("search", "elimination", "final", "done")
"""The phases in order: generations of the strategy, progressive elimination, the tuned final comparison, done."""


def _timing() -> dict[str, Any]:
  return {"wall_s": 0.0, "cpu_s": 0.0, "programs": 0, "compiled": 0, "cache_hits": 0, "compile_s": 0.0, "trace_s": 0.0,
          "lower_s": 0.0, "cache_load_s": 0.0, "sessions": 0, "compile_wait_s": 0.0, "training": {}}


@dataclasses.dataclass(frozen=True)
class SearchState:
  """Where a search stands. Immutable: every phase returns a new state (``dataclasses.replace``); the records it
  holds are plain data and are never changed in place.

  Attributes:
    config: the search's settings (:meth:`SearchConfig.to_dict`).
    phase: one of :data:`PHASES`.
    strategy: the strategy's :class:`~optix_evo.search.ga.GAState` as plain data.
    archive: every evaluated candidate, in order (surrogate records; the simplified genome, its fitness, ...).
    generations: one summary per generation.
    stages: one record per elimination stage run.
    rank_correlation: Spearman's rho of the surrogate against stage 1 with its interval, once measured.
    final: the tuned final comparison so far (per task), or ``None``.
    history_lines: lines of ``history.jsonl`` that belong to this state (a resume truncates the file to them).
    timing: wall and CPU seconds (all sessions), compile and trace seconds, the seconds calls waited for
      compilation (``compile_wait_s``), and per task the training seconds, steps and runs (``training``).
    warm_start: the known optimizers seeded into the first population (empty: no warm start).
    format: the checkpoint format.

  Examples:
    >>> import optix_evo as ox
    >>> state = ox.search.SearchState.fresh(ox.search.preset("quick").to_dict(), {"generation": 0})
    >>> print(state.phase, state.archive, ox.search.SearchState.from_dict(state.to_dict()) == state)
    search () True
  """

  config: dict[str, Any]
  phase: str
  strategy: dict[str, Any]
  archive: tuple[dict[str, Any], ...] = ()
  generations: tuple[dict[str, Any], ...] = ()
  stages: tuple[dict[str, Any], ...] = ()
  rank_correlation: dict[str, float] | None = None
  final: dict[str, Any] | None = None
  history_lines: int = 0
  timing: dict[str, Any] = dataclasses.field(default_factory=_timing)
  warm_start: tuple[str, ...] = ()
  format: str = STATE_FORMAT

  def __post_init__(self):
    if self.phase not in PHASES:
      raise ValueError(f"Unknown search phase {self.phase!r}; one of {PHASES}.")

  @classmethod
  def fresh(cls, config: dict[str, Any], strategy: dict[str, Any], warm_start: tuple[str, ...] = ()) -> SearchState:
    """The state before the first generation."""
    return cls(config, "search", strategy, warm_start=tuple(warm_start))

  def to_dict(self) -> dict[str, Any]:
    """Plain data for a checkpoint (tuples as lists); :meth:`from_dict` inverts it."""
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    for name in ("archive", "generations", "stages", "warm_start"):
      out[name] = list(out[name])
    out["timing"] = {**self.timing, "training": {t: dict(v) for t, v in self.timing["training"].items()}}
    return out

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> SearchState:
    """The state of :meth:`to_dict`'s ``d`` (fields it lacks, from an older checkpoint, take their defaults)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    kw = {k: v for k, v in d.items() if k in fields}
    for name in ("archive", "generations", "stages", "warm_start"):
      if name in kw:
        kw[name] = tuple(kw[name])
    kw["timing"] = {**_timing(), **dict(kw.get("timing", {}))}
    return cls(**kw)

  @property
  def best(self) -> float:
    """The best surrogate fitness so far (``-inf`` before the first generation)."""
    return max((g["best"] for g in self.generations), default=float("-inf"))
