"""The results folder of a search: the verdicts, the evidence, the optimizers as code, figures and ``run.json``.

:class:`~optix_evo.search.driver.Search` writes ``checkpoint.npz`` and ``history.jsonl`` (one line per evaluated
candidate and stage); :func:`write_results` adds

* ``report.md``: one verdict per task (*beats*, *ties* or *loses* the tuned baseline, from the paired difference's
  95% interval), the surrogate's rank correlation with its interval, the final comparison (found optimizers among
  the baselines and known optimizers, each with the learning rate its tuning chose), settings, timings;
* ``hall_of_fame.json``: the last stage's ranking, genomes by op names;
* ``optimizers/rank_<k>.py`` (``k`` from 1): each hall-of-fame optimizer as standalone optax code;
* ``fitness.png`` (surrogate fitness per generation) and ``final.png`` (test accuracy of every participant);
* ``run.json``: the manifest ``optix-evo reproduce`` re-runs (:mod:`optix_evo.runs.manifest`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from optix_evo import graph
from optix_evo.runs.folder import atomic_write_figure, atomic_write_json, atomic_write_text
from optix_evo.search.config import PRESETS, SearchConfig
from optix_evo.search.results_types import WORST, SearchResult
from optix_evo.search.statistics import Interval, mean_interval

VERDICT_TARGET_RHO = 0.5


def _interval(d: dict[str, Any] | None) -> Interval | None:
  return None if d is None else Interval(d["estimate"], d["low"], d["high"], d["n"])


def best_found_comparisons(result: SearchResult) -> list[dict[str, Any]]:
  """Per task and baseline, the best found optimizer's (hall-of-fame #1) paired difference and verdict."""
  rows = []
  for task, table in result.final.get("tasks", {}).items():
    for c in table["comparisons"]:
      if c["found"] == "found #1":
        rows.append({"task": task, "held_out": table["held_out"], **c})
  return rows


def verdict_sentences(result: SearchResult) -> list[str]:
  """One sentence per task and baseline: *beats* (interval above 0), *ties* (contains 0) or *loses* (below).

  Args:
    result: a finished search's :class:`~optix_evo.search.SearchResult`.

  Returns:
    The sentences (Markdown), about the best found optimizer (hall-of-fame #1).

  Examples:
    >>> import optix_evo as ox
    >>> difference = ox.search.paired_difference([0.91, 0.92, 0.93], [0.90, 0.90, 0.91])
    >>> comparison = {"found": "found #1", "baseline": "adam", "difference": difference._asdict(),
    ...               "verdict": ox.search.verdict(difference)}
    >>> final = {"tasks": {"mnist1d_mlp": {"held_out": False, "comparisons": [comparison]}}}
    >>> result = ox.search.SearchResult([], [], None, final, {}, None)
    >>> print(ox.search.verdict_sentences(result)[0])
    On `mnist1d_mlp` (search task) the best found optimizer **beats** adam (both tuned on the same grid): test
    accuracy difference +0.0167, 95% interval [+0.0023, +0.0310] over 3 paired seeds.
  """
  lines = []
  first = next((p for p in result.final.get("participants", []) if p.get("name") == "found #1"), None)
  subject = "the best found optimizer" + (f" (found #1, `{first['equation'].splitlines()[0]}`)"
                                          if first and first.get("equation") else "")
  for row in best_found_comparisons(result):
    d = _interval(row["difference"])
    where = "held-out task, never seen by the search" if row["held_out"] else "search task"
    lines.append(f"On `{row['task']}` ({where}) {subject} **{row['verdict']}** {row['baseline']} "
                 f"(both tuned on the same grid): test accuracy difference {d.estimate:+.4f}, 95% interval "
                 f"[{d.low:+.4f}, {d.high:+.4f}] over {d.n} paired seeds.")
  return lines


def verdict_subject_lines(result: SearchResult, config: SearchConfig) -> list[str]:
  """Which optimizer the verdict is about, and why that one (it need not top the final tables)."""
  if not best_found_comparisons(result):
    return []
  last = config.stages[-1]
  return [f"The verdict is about **found #1**, the first of the hall of fame: the candidate with the best mean "
          f"validation fitness in the last elimination stage ({last.steps} steps × {last.seeds} seeds), chosen "
          "before the final comparison so that the test set does not pick it. The final tables below are sorted by "
          "test accuracy, where another finalist can come first.", ""]


def holm_sentences(result: SearchResult) -> list[str]:
  """The overall line: the best found optimizer against each baseline over the held-out tasks, with p-values
  Holm–Bonferroni corrected over those tasks (paired t-tests over seeds).

  Examples:
    >>> import optix_evo as ox
    >>> holm = [{"found": "found #1", "baseline": "adam", "alpha": 0.05, "tasks": [
    ...     {"task": "wine_dnm", "difference": 0.02, "p_value": 0.01, "holm_p": 0.02, "verdict": "beats"},
    ...     {"task": "iris_mlp", "difference": -0.01, "p_value": 0.3, "holm_p": 0.3, "verdict": "ties"}]}]
    >>> result = ox.search.SearchResult([], [], None, {"holm": holm}, {}, None)
    >>> print(ox.search.results.holm_sentences(result)[0].replace(": ", ":\\n"))
    Over the 2 held-out tasks, Holm–Bonferroni corrected (α = 0.05):
    the best found optimizer beats adam on 1 (wine_dnm), loses on 0, ties on 1 (iris_mlp).
  """
  lines = []
  for row in result.final.get("holm", []):
    tasks = row["tasks"]
    if not tasks:
      continue
    by = {v: [t["task"] for t in tasks if t["verdict"] == v] for v in ("beats", "loses", "ties")}
    part = lambda v: f"{len(by[v])}" + (f" ({', '.join(by[v])})" if by[v] else "")  # noqa: E731
    held_out = f"{len(tasks)} held-out task" + ("s" if len(tasks) != 1 else "")
    lines.append(f"Over the {held_out}, Holm–Bonferroni corrected (α = {row['alpha']:g}): the best found optimizer "
                 f"beats {row['baseline']} on {part('beats')}, loses on {part('loses')}, ties on {part('ties')}.")
  return lines


def _fmt(x: float) -> str:
  return "–" if x is None or not math.isfinite(x) else f"{x:.4f}"


def final_table(result: SearchResult, task: str, lr_grid: tuple[float, ...]) -> list[str]:
  """Markdown rows, best mean test accuracy first: every participant's chosen learning rate (``†`` at an edge of
  ``lr_grid``), validation and test accuracy (mean, 95% interval; a seed without a finite score counts as 0)."""
  table = result.final["tasks"][task]
  edges = (min(lr_grid), max(lr_grid)) if len(lr_grid) > 1 else ()
  lines = ["| optimizer | kind | tuned lr | validation | test accuracy (95% interval) | divergent seeds |",
           "|---|---|---|---|---|---|"]
  # a seed without a finite score counts as 0, as in the paired differences; sorted by the mean shown
  tests = [mean_interval(np.nan_to_num(np.asarray(t, float), nan=0.0)) for t in table["test"]]
  for i in np.argsort([-t.estimate for t in tests], kind="stable"):
    p, test = result.final["participants"][i], tests[i]
    seeds_valid = np.asarray(table["valid"][i], float)  # WORST: a seed with no finite validation epoch
    valid = float(np.mean(np.where(seeds_valid > WORST, seeds_valid, 0.0)))
    name = f"**{p['name']}**" if p["kind"] == "found" else p["name"]
    lr = table["learning_rate"][i]
    lines.append(f"| {name} | {p['kind']} | {lr:g}{'†' if lr in edges else ''} | {_fmt(valid)} | {_fmt(test.estimate)} "
                 f"[{_fmt(test.low)}, {_fmt(test.high)}] | {int(table['diverged'][i])} |")
  return lines


def _plots(out_dir: str, result: SearchResult, config: SearchConfig) -> list[str]:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  figures = []
  gens = [g["generation"] for g in result.generations]
  if gens:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(gens, [g["best"] for g in result.generations], "o-", label="best")
    ax.plot(gens, [g["median"] for g in result.generations], "s--", label="median (not rejected)")
    ylabel = ("fitness (validation accuracy normalised: 1 = Adam, 0 = chance)" if config.normalise == "adam"
              else "fitness (validation accuracy)")
    ax.set(xlabel="generation (0 = random pool)", ylabel=ylabel,
           title=f"Surrogate fitness on {config.task_name} ({config.strategy})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write_figure(fig, os.path.join(out_dir, "fitness.png"), dpi=120)
    plt.close(fig)
    figures.append("fitness.png")
  tasks = list(result.final.get("tasks", {}))
  if tasks:
    participants = result.final["participants"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 0.3 * len(participants) + 1.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
      test = np.nan_to_num(np.asarray(result.final["tasks"][task]["test"], float), nan=0.0)
      stats = [mean_interval(t) for t in test]
      colors = ["tab:red" if p["kind"] == "found" else "tab:blue" if p["kind"] == "baseline" else "tab:gray"
                for p in participants]
      y = np.arange(len(participants))
      ax.errorbar([s.estimate for s in stats], y, xerr=[[s.estimate - s.low for s in stats],
                                                          [s.high - s.estimate for s in stats]], fmt="none",
                  ecolor=colors)
      ax.scatter([s.estimate for s in stats], y, c=colors, zorder=3)
      ax.set_yticks(y, [p["name"] for p in participants], fontsize=7)
      ax.invert_yaxis()
      held = " (held out)" if result.final["tasks"][task]["held_out"] else ""
      ax.set(xlabel="test accuracy (mean, 95% interval)", title=f"{task}{held}")
    fig.tight_layout()
    atomic_write_figure(fig, os.path.join(out_dir, "final.png"), dpi=120)
    plt.close(fig)
    figures.append("final.png")
  return figures


def rank_correlation_lines(result: SearchResult, config: SearchConfig) -> list[str]:
  rc = _interval(result.rank_correlation)
  if rc is None:
    return ["Surrogate rank correlation: not measured (no elimination stage ran)."]
  if not math.isfinite(rc.estimate):  # say why, instead of calling NaN "below the target"
    why = (f"only {rc.n} candidate(s) reached elimination stage 1, and a rank correlation needs at least 2" if rc.n < 2
           else f"the surrogate or the stage-1 scores of the {rc.n} candidates are all equal (for example every one "
                "rejected or diverged), so one of the two rankings has no order")
    return [f"Surrogate vs elimination stage 1, Spearman rank correlation over {rc.n} candidates: **not computable**: "
            f"{why}. It is not compared with the target of {VERDICT_TARGET_RHO}."]
  if not (math.isfinite(rc.low) and math.isfinite(rc.high)):
    status = (f"{'meets' if rc.estimate >= VERDICT_TARGET_RHO else 'is below'} the target of {VERDICT_TARGET_RHO}, "
              "but its interval is not computable (every bootstrap resample had a side without order)")
    return [f"Surrogate vs elimination stage 1, Spearman rank correlation over {rc.n} candidates: **{rc.estimate:.3f}**;"
            f" it {status}."]
  status = ("meets" if rc.estimate >= VERDICT_TARGET_RHO else "is below") + f" the target of {VERDICT_TARGET_RHO}"
  return [f"Surrogate vs elimination stage 1, Spearman rank correlation over {rc.n} candidates: **{rc.estimate:.3f}** "
          f"(bootstrap 95% interval [{rc.low:.3f}, {rc.high:.3f}]); it {status}. Stage 1 trains "
          f"{config.stages[0].steps} steps × {config.stages[0].seeds} seeds against the surrogate's "
          f"{config.surrogate_steps} × 1."]


def _search_lines(result: SearchResult, config: SearchConfig) -> list[str]:
  tasks = ", ".join(f"`{t}`" for t in (config.task_name, *config.family))
  norm = (" (each normalised against Adam trained in the same call: 1 = Adam, 0 = chance; fitness = their mean)"
          if config.normalise == "adam" else "")
  warm = (f"warm start: the first population seeded with {', '.join(result.warm_start)}" if result.warm_start
          else "no warm start (the first population is random)")
  return [f"Strategy `{config.strategy}`; fitness on {tasks}{norm}; {warm}. Found programs are simplified (dead and "
          "redundant nodes removed) before they are compared; the equations are the programs that ran."]


def timing_sentence(timing: Mapping[str, Any]) -> str:
  """Where a search's wall time went: training (per task: seconds, steps, µs per step), waiting for compilation and
  the rest (integrity checks, the strategy, programs compiled in the main thread, files); then the compilation work,
  which overlaps the rest where background threads did it (so it is not a share of the wall time).

  Args:
    timing: :attr:`SearchResult.timing <optix_evo.search.SearchResult>`.

  Returns:
    One line of text.
  """
  wall, training = timing["wall_s"], timing.get("training")
  line = f"Wall time {wall:.1f} s over {int(timing['sessions'])} session(s)"
  if training is not None:
    train = sum(t["train_s"] for t in training.values())
    wait = timing.get("compile_wait_s", 0.0)
    tasks = "; ".join(f"`{task}` {t['train_s']:.1f} s, {int(t['steps']):,} steps, "
                      f"{1e6 * t['train_s'] / max(t['steps'], 1):.0f} µs per step" for task, t in training.items())
    line += (f": training {train:.1f} s ({tasks or 'no runs'}), waiting for compilation {wait:.1f} s, the rest "
             f"{wall - train - wait:.1f} s (integrity checks, the strategy, programs compiled in the main thread, "
             "files)")
  return (f"{line}. Tracing, lowering and compiling took {timing['compile_and_trace_s']:.1f} s "
          f"({int(timing['compiled'])} programs compiled, {int(timing['cache_hits'])} loaded from the persistent "
          "cache), partly in background threads while other work ran.")


def write_report(out_dir: str, result: SearchResult, config: SearchConfig) -> str:
  """``report.md``; returns its path."""
  figures = _plots(out_dir, result, config)
  stage_names = [f"stage {i + 1}" for i in range(len(config.stages))]
  lines = [f"# Neural optimizer search on `{config.task_name}` (seed {config.seed}, {config.strategy})", "",
           "## Verdict", "", *verdict_subject_lines(result, config), *verdict_sentences(result), "",
           *holm_sentences(result), "", *rank_correlation_lines(result, config), "", *_search_lines(result, config), "",
           timing_sentence(result.timing), ""]
  for task in result.final.get("tasks", {}):
    held = " (held out)" if result.final["tasks"][task]["held_out"] else " (search task)"
    lines += [f"## Final comparison on `{task}`{held}", "",
              f"Every optimizer trained {config.final_steps} steps at each peak learning rate of "
              f"{list(config.final_lr_grid)} with {config.final_seeds} seeds (the same seeds for all); the rate with "
              "the best mean validation accuracy is kept, and the test accuracy at each run's best validation epoch is "
              "reported. † The chosen rate is at an edge of the grid: a wider grid might raise that optimizer's "
              "score.", "", *final_table(result, task, tuple(config.final_lr_grid)), ""]
  lines += ["## Hall of fame", "", "| rank | surrogate | " + " | ".join(stage_names) + " | lr | equation |",
            "|---|---|" + "---|" * len(stage_names) + "---|---|"]
  for rec in result.hall_of_fame:
    stages = " | ".join(_fmt(v) for v in rec["stage_fitness"]) + " | –" * (len(stage_names) - len(rec["stage_fitness"]))
    lines.append(f"| {rec['rank']} | {_fmt(rec['surrogate_fitness'])} | {stages} | {rec['learning_rate']:g} | "
                 f"`{rec['equation'].splitlines()[0]}` |")
  for rec in result.hall_of_fame:
    lines += ["", f"### #{rec['rank']} (`optimizers/rank_{rec['rank']:02d}.py`)", "", "```", rec["equation"], "```"]
  lines += ["", "## Generations", "", "| generation | candidates | training runs | best | median | rejected | seconds |",
            "|---|---|---|---|---|---|---|"]
  lines += [f"| {g['generation']} | {g['candidates']} | {g['runs']} | {_fmt(g['best'])} | {_fmt(g['median'])} | "
            f"{g['rejected']} | {g['seconds']:.1f} |" for g in result.generations]
  lines += ["", "## Settings", "", "```", *[f"{k} = {v!r}" for k, v in config.to_dict().items()], "```", "",
            "Every evaluated candidate: `history.jsonl`. Standalone optax code: `optimizers/rank_<k>.py`.", "",
            "## Figures", "", *[f"![{f}]({f})" for f in figures], ""]
  path = os.path.join(out_dir, "report.md")
  atomic_write_text(path, "\n".join(lines))
  return path


def cli_argv(config: SearchConfig, out_dir: str) -> list[str]:
  """Arguments of ``optix-evo`` that re-run ``config``: the closest preset plus one ``--set`` per other setting."""
  base_name = min(PRESETS, key=lambda name: len(PRESETS[name].differences(config)))
  argv = ["search", "--preset", base_name]
  for key, _, value in PRESETS[base_name].differences(config):
    argv += ["--set", f"{key}={value!r}" if not isinstance(value, str) else f"{key}={value}"]
  return argv + ["--out", out_dir]


def write_results(out_dir: str, result: SearchResult, config: SearchConfig, *, argv: list[str] | None = None) -> str:
  """Writes the report, hall of fame, optimizers, figures and ``run.json`` into ``out_dir``; returns the report's
  path. ``argv``: the command line that re-runs the search (default: one built from ``config``).

  Args:
    out_dir: the results folder.
    result: what :func:`~optix_evo.search.run` returned.
    config: the search's settings.
    argv: the command line that re-runs the search.

  Returns:
    The path of ``report.md``.

  Examples:
    :func:`~optix_evo.search.run` calls it (``report=True``); on a result of your own, after a search:

    >>> ox.search.write_results("runs/quick", result, ox.search.preset("quick"))  # doctest: +SKIP
    'runs/quick/report.md'
  """
  from optix_evo.runs import manifest  # pylint: disable=import-outside-toplevel

  space = graph.get_space(config.space)
  os.makedirs(os.path.join(out_dir, "optimizers"), exist_ok=True)
  for rec in result.hall_of_fame:
    code = graph.to_python(graph.from_json(rec["genome"], space), space, name=f"rank_{rec['rank']:02d}")
    atomic_write_text(os.path.join(out_dir, "optimizers", f"rank_{rec['rank']:02d}.py"), code)
  atomic_write_json(os.path.join(out_dir, "hall_of_fame.json"),
                    {"config": config.to_dict(), "hall_of_fame": result.hall_of_fame, "final": result.final})
  report = write_report(out_dir, result, config)
  rc = result.rank_correlation or {}
  headline = {f"rank_correlation{suffix}": rc.get(key, float("nan"))
              for key, suffix in (("estimate", ""), ("low", "_low"), ("high", "_high"))}
  for row in best_found_comparisons(result):
    headline[f"{row['task']}_vs_{row['baseline']}_difference"] = row["difference"]["estimate"]
  manifest.write_manifest(out_dir, argv=argv or cli_argv(config, out_dir), config=config.to_dict(), seeds=config.seed,
                          data_fingerprint=result.data_fingerprint, headline=headline, timing=result.timing)
  return report

