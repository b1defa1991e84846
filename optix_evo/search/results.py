"""The results folder of a search: equations, standalone optax code, figures and ``report.md``.

``run`` itself writes ``checkpoint.pkl``, ``history.jsonl`` (one line per evaluated candidate) and
``hall_of_fame.json``; :func:`write_results` adds

* ``optimizers/rank_<k>.py``: each hall-of-fame optimizer as runnable optax code (``optix_evo.graph.to_python``),
* ``fitness.png``: best and median surrogate fitness per generation, with the baseline's,
* ``lr_schedules.png``: learning rate over training of the top candidates (base warmup-cosine schedule at the
  peak rate their probes chose, times any LR multiplier the genome evolved),
* ``report.md``: settings, timings, the baseline comparison, the surrogate's rank correlation and the hall of fame.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from optix_evo.search.checkpoint import atomic_write_text
from optix_evo.search.search import SearchConfig, SearchResult


def _genome(record: dict[str, Any]):
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  return graph.from_json(record["genome"])


def lr_curve(record: dict[str, Any], protocol_steps: int, warmup: int) -> np.ndarray:
  """Learning rate at every step of a surrogate run of the hall-of-fame ``record``."""
  from optix_evo import graph  # pylint: disable=import-outside-toplevel

  from optix_evo.graph.decays import schedule_factor  # pylint: disable=import-outside-toplevel

  t = np.arange(protocol_steps)
  base = np.asarray(graph.nos_learning_rate(record["learning_rate"], protocol_steps, warmup)(t))
  return base * np.asarray(schedule_factor(_genome(record).schedule, t, protocol_steps))


def _plots(out_dir: str, result: SearchResult, config: SearchConfig) -> list[str]:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  gens = [g["generation"] for g in result.generations]
  fig, ax = plt.subplots(figsize=(5.5, 3.5))
  ax.plot(gens, [g["best"] for g in result.generations], "o-", label="best")
  ax.plot(gens, [g["median"] for g in result.generations], "s--", label="median (non-divergent)")
  if "surrogate" in result.baseline:
    ax.axhline(result.baseline["surrogate"], color="gray", ls=":", label=f"{result.baseline['name']} (same protocol)")
  ax.set(xlabel="generation (0 = random pool)", ylabel="validation accuracy", title=f"Surrogate fitness on {config.task}")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, "fitness.png"), dpi=120)
  plt.close(fig)

  protocol = config.surrogate()
  fig, ax = plt.subplots(figsize=(5.5, 3.5))
  for rec in result.hall_of_fame[:5]:
    ax.plot(lr_curve(rec, protocol.steps, protocol.warmup), label=f"#{rec['rank']} (peak {rec['learning_rate']:g})")
  ax.set(xlabel="step", ylabel="learning rate", title="LR schedules of the top candidates (surrogate run)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, "lr_schedules.png"), dpi=120)
  plt.close(fig)
  return ["fitness.png", "lr_schedules.png"]


def beats_baseline(result: SearchResult) -> dict[str, Any]:
  """Best found vs the baseline on the proxy task: surrogate protocol and last elimination stage."""
  base = result.baseline
  best_surrogate = max(g["best"] for g in result.generations)
  top = result.hall_of_fame[0] if result.hall_of_fame else None
  final_best = top["stage_fitness"][-1] if top else float("nan")
  return {
      "baseline": base.get("name"), "best_surrogate": best_surrogate, "baseline_surrogate": base.get("surrogate"),
      "beats_surrogate": best_surrogate > base.get("surrogate", float("inf")),
      "best_final": final_best, "baseline_final": base["stages"][-1] if base.get("stages") else float("nan"),
      "beats_final": bool(base.get("stages")) and final_best > base["stages"][-1],
  }


def verdict(result: SearchResult) -> str:
  """One honest sentence: does the best found optimizer beat the baseline on the proxy task?"""
  b = beats_baseline(result)
  word = lambda yes: "beats" if yes else "does NOT beat"
  return (f"Best found optimizer {word(b['beats_final'])} {b['baseline']} on the final elimination stage "
          f"({b['best_final']:.4f} vs {b['baseline_final']:.4f} validation accuracy, same protocol and seeds); "
          f"on the GA surrogate the best {word(b['beats_surrogate'])} it ({b['best_surrogate']:.4f} vs "
          f"{b['baseline_surrogate']:.4f}).")


def write_results(out_dir: str, result: SearchResult, config: SearchConfig, *, seconds: float | None = None) -> str:
  """Writes the optimizers, figures and ``report.md`` into ``out_dir``; returns the report's path."""
  from optix_evo import graph  # pylint: disable=import-outside-toplevel

  os.makedirs(os.path.join(out_dir, "optimizers"), exist_ok=True)
  for rec in result.hall_of_fame:
    atomic_write_text(os.path.join(out_dir, "optimizers", f"rank_{rec['rank']:02d}.py"), graph.to_python(_genome(rec)))
  figures = _plots(out_dir, result, config)
  stage_names = [f"stage {i + 1}" for i in range(len(config.stages))]
  lines = [
      f"# Neural optimizer search on `{config.task}` (seed {config.seed})", "",
      verdict(result), "",
      "## Settings", "",
      f"- GA: {config.particles} particles, {config.steps} steps x {config.mutants} mutants, random pool of "
      f"{config.pool_factor * config.particles}.",
      f"- Surrogate: {config.surrogate_steps} steps, learning-rate probes of {config.probe_steps} steps over "
      f"{list(config.lr_grid)}; fitness = validation accuracy (divergent: -1).",
      *[f"- Elimination {name}: {s.steps} steps, {s.seeds} seeds, tasks {list(s.tasks or (config.task,))}, keep {s.keep}."
        for name, s in zip(stage_names, config.stages)],
      f"- Surrogate vs {stage_names[0]} Spearman rank correlation: {result.rank_correlation:.3f}"
      " (same candidates; 1 = the cheap surrogate ranks them exactly as the longer evaluation).", "",
  ]
  if seconds is not None:
    lines += [f"Wall time: {seconds:.1f} s.", ""]
  lines += ["## Generations", "", "| generation | candidates | best | median | divergent | seconds |", "|---|---|---|---|---|---|"]
  lines += [f"| {g['generation']} | {g['candidates']} | {g['best']:.4f} | {g['median']:.4f} | {g['diverged']} | {g['seconds']:.1f} |"
            for g in result.generations]
  lines += ["", "## Hall of fame", "",
            "| rank | surrogate | " + " | ".join(stage_names) + " | peak lr | equation |",
            "|---|---|" + "---|" * len(stage_names) + "---|---|"]
  for rec in result.hall_of_fame:
    stages = " | ".join(f"{v:.4f}" for v in rec["stage_fitness"][-len(stage_names):])
    lines.append(f"| {rec['rank']} | {rec['surrogate_fitness']:.4f} | {stages} | {rec['learning_rate']:g} | "
                 f"`{rec['equation'].splitlines()[0]}` |")
  base = result.baseline
  lines.append(f"| {base['name']} (baseline) | {base['surrogate']:.4f} | "
               + " | ".join(f"{v:.4f}" for v in base["stages"]) + f" | {base['learning_rate']:g} | |")
  for rec in result.hall_of_fame:
    lines += ["", f"### #{rec['rank']} (`optimizers/rank_{rec['rank']:02d}.py`)", "", "```", rec["equation"], "```"]
  lines += ["", "Standalone optax code: `optimizers/rank_<k>.py`. Every evaluated candidate: `history.jsonl`.", "",
            "## Figures", "", *[f"![{f}]({f})" for f in figures], ""]
  path = os.path.join(out_dir, "report.md")
  atomic_write_text(path, "\n".join(lines))
  return path
