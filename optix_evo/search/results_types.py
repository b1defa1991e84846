"""What a search returns, in a leaf module (no imports from the rest of the package): :class:`SearchResult` and
the :data:`WORST` score, so that the driver, the results folder and the evaluator share them without an import
cycle."""

from __future__ import annotations

from typing import Any, NamedTuple

WORST = -1.0
"""Score of a run that never produced a finite validation accuracy, or of a rejected candidate (accuracies and
normalised fitness of a trained candidate are above it). Fitness is maximised."""


class SearchResult(NamedTuple):
  """What :func:`~optix_evo.search.run` returns (also written to the results folder).

  Attributes:
    hall_of_fame: best first: rank, fingerprint, equation, genome (a :func:`~optix_evo.graph.to_json` document of the
      simplified program), surrogate and per-stage fitness, chosen learning rate.
    generations: per generation: best, median, rejected, candidates, seconds, CPU seconds.
    rank_correlation: Spearman's rho of the surrogate against the first stage (``estimate``, ``low``, ``high``,
      ``n``), or ``None``.
    final: the tuned comparison: participants, per-task scores, paired differences, verdicts, and the Holm–Bonferroni
      line over the held-out tasks (``"holm"``).
    timing: wall seconds of the whole run (resumes added up), CPU seconds, compile and trace seconds, the seconds
      calls waited for compilation, and per task the training seconds, steps and runs (``training``).
    out_dir: the results folder, or ``None``.
    data_fingerprint: SHA-256 of every task's data (search, pool and held-out tasks), so that a reproduction can
      tell whether it trained on the same data.
    warm_start: the known optimizers seeded into the first population (empty: none).

  Examples:
    >>> import optix_evo as ox
    >>> result = ox.search.SearchResult([], [], None, {}, {}, None)  # what run() returns, here empty
    >>> print(result.hall_of_fame, ox.search.verdict_sentences(result), result.warm_start)
    [] [] ()
  """

  hall_of_fame: list[dict[str, Any]]
  generations: list[dict[str, Any]]
  rank_correlation: dict[str, float] | None
  final: dict[str, Any]
  timing: dict[str, Any]
  out_dir: str | None
  data_fingerprint: str | None = None
  warm_start: tuple[str, ...] = ()
