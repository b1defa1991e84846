"""Evolution vs random search: does the particle GA find better optimizers than drawing as many random genomes?

For every search seed, the same :class:`~optix_evo.search.SearchConfig` runs twice, once with ``strategy="ga"`` (the
NOS particle GA) and once with ``strategy="random"`` (as many fresh random genomes per generation, through the same
integrity check); everything after the generations (surrogate, progressive elimination, the tuned final comparison
on the search task and the held-out task) is the same code with the same seeds. Compared per strategy:

* the best final fitness: the last elimination stage's fitness (mean best validation accuracy over the stage's
  seeds, search task) of hall-of-fame #1;
* per final-comparison task (the held-out one above all): the test accuracy of ``found #1`` (mean over the final
  seeds, at the learning rate its tuning chose) and its paired difference vs the tuned baseline (Adam).

Each strategy's mean comes with a Student-t 95% interval over search seeds; GA − random is a paired difference over
search seeds (:func:`optix_evo.search.statistics.paired_difference`): with the same seed both strategies score the
same generation-0 random pool (the same genomes, the same training seeds) and use the same elimination and
final-comparison seeds, so the seed's share of the variation cancels in the difference.

    nice -n 10 python benchmarks/search_ablation.py --preset quick --seeds 0 1 2 --out benchmarks/results

writes ``search_ablation.md`` (table), ``search_ablation.png`` (plot) and ``search_ablation.json`` (every run's
numbers, and its settings) into ``--out``; ``--from-json FILE`` rebuilds the table and plot from such a file without
searching, ``--resume`` skips the runs the JSON already holds with the same settings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python benchmarks/search_ablation.py` from a checkout
  sys.path.insert(0, ROOT)

from optix_evo.search.statistics import Interval, mean_interval, paired_difference, verdict  # noqa: E402

STRATEGIES = ("ga", "random")
FORMAT = "optix_evo.search_ablation/1"
FOUND = "found #1"


# -- bookkeeping: one search → one record, records → table rows (pure functions) ------------------------------------

def run_record(result: Any, *, strategy: str, seed: int, baseline: str = "adam") -> dict[str, Any]:
  """The numbers of one search that the ablation compares (plain data).

  Args:
    result: a :class:`~optix_evo.search.SearchResult` (only its ``hall_of_fame``, ``generations``,
      ``rank_correlation``, ``final`` and ``timing`` are read).
    strategy, seed: the search's ``SearchConfig.strategy`` and ``seed``.
    baseline: the baseline the found optimizer is compared with in the final comparison.
  """
  if not result.hall_of_fame:
    raise ValueError(f"The {strategy} search with seed {seed} has an empty hall of fame (no elimination stage ran).")
  best = result.hall_of_fame[0]
  if best["rank"] != 1:
    raise ValueError(f"hall_of_fame[0] has rank {best['rank']}, expected 1 (best first).")
  names = [p["name"] for p in result.final["participants"]]
  for name in (FOUND, baseline):
    if name not in names:
      raise ValueError(f"The final comparison of the {strategy} search (seed {seed}) has no participant {name!r}; "
                       f"it has {names}.")
  i, j = names.index(FOUND), names.index(baseline)
  tasks = {}
  for task, table in result.final["tasks"].items():
    found = [c for c in table["comparisons"] if c["found"] == FOUND and c["baseline"] == baseline]
    if len(found) != 1:
      raise ValueError(f"Task {task!r}: expected one comparison of {FOUND!r} vs {baseline!r}, found {len(found)}.")
    diff = found[0]["difference"]
    tasks[task] = {"held_out": bool(table["held_out"]),
                   "found_test": _mean_test(table["test"][i]), "baseline_test": _mean_test(table["test"][j]),
                   "found_lr": float(table["learning_rate"][i]), "baseline_lr": float(table["learning_rate"][j]),
                   "difference": float(diff["estimate"]), "difference_low": float(diff["low"]),
                   "difference_high": float(diff["high"]), "final_seeds": int(diff["n"]),
                   "verdict": found[0]["verdict"]}
  rc = result.rank_correlation or {}
  timing = result.timing
  return {"strategy": strategy, "seed": int(seed), "baseline": baseline,
          "best_final_fitness": float(best["stage_fitness"][-1]), "stages": len(best["stage_fitness"]),
          "best_surrogate": max(float(g["best"]) for g in result.generations),
          "generations": [{"best": float(g["best"]), "median": float(g["median"])} for g in result.generations],
          "rank_correlation": float(rc.get("estimate", float("nan"))),
          "equation": best["equation"], "tasks": tasks,
          "wall_s": float(timing["wall_s"]), "compile_s": float(timing["compile_and_trace_s"]),
          "compilations": int(timing["compilations"]), "cache_hits": int(timing["cache_hits"])}


def _mean_test(per_seed: Sequence[float]) -> float:
  """Mean test accuracy over the final seeds, a divergent (NaN) seed counted as 0 as the search's report does."""
  return float(np.mean(np.nan_to_num(np.asarray(per_seed, np.float64), nan=0.0)))


class Metric(NamedTuple):
  """One row of the table: a label and how to read its value from a record."""

  label: str
  value: Callable[[dict[str, Any]], float]


def task_names(records: Sequence[dict[str, Any]]) -> list[str]:
  """The final comparison's tasks, search task first then the held-out ones (every record must have the same)."""
  if not records:
    raise ValueError("No search records.")
  first = records[0]["tasks"]
  for r in records:
    if {t: v["held_out"] for t, v in r["tasks"].items()} != {t: v["held_out"] for t, v in first.items()}:
      raise ValueError(f"The {r['strategy']} search with seed {r['seed']} has final tasks {sorted(r['tasks'])}, "
                       f"others {sorted(first)}: the runs are not comparable.")
  return sorted(first, key=lambda t: first[t]["held_out"])  # stable: the search's order otherwise


def metrics(records: Sequence[dict[str, Any]]) -> list[Metric]:
  """The table's rows: best final fitness, then per task (held-out ones first) found #1's test accuracy and its
  difference vs the baseline, then the surrogate's best and its rank correlation with stage 1."""
  baseline = records[0]["baseline"] if records else "adam"
  ordered = sorted(task_names(records), key=lambda t: not records[0]["tasks"][t]["held_out"])
  rows = [Metric("best final fitness (hall-of-fame #1, last elimination stage, validation)",
                 lambda r: r["best_final_fitness"])]
  for t in ordered:
    where = "held out" if records[0]["tasks"][t]["held_out"] else "search task"
    rows.append(Metric(f"`{t}` ({where}): found #1 test accuracy", lambda r, t=t: r["tasks"][t]["found_test"]))
    rows.append(Metric(f"`{t}` ({where}): found #1 − {baseline}, test accuracy",
                       lambda r, t=t: r["tasks"][t]["difference"]))
  rows.append(Metric("best surrogate fitness (any generation)", lambda r: r["best_surrogate"]))
  rows.append(Metric("surrogate vs stage 1, Spearman", lambda r: r["rank_correlation"]))
  return rows


def paired(records: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], float],
           strategies: tuple[str, str] = STRATEGIES) -> tuple[list[int], np.ndarray, np.ndarray]:
  """``(seeds, a, b)``: the value of every search seed under ``strategies[0]`` and ``strategies[1]``, matched by
  seed (sorted). Every seed must have exactly one record per strategy."""
  by_key: dict[tuple[str, int], dict[str, Any]] = {}
  for r in records:
    key = (r["strategy"], r["seed"])
    if r["strategy"] not in strategies:
      raise ValueError(f"Unknown strategy {r['strategy']!r} in the records; expected {strategies}.")
    if key in by_key:
      raise ValueError(f"Two records for strategy {key[0]!r} and seed {key[1]}.")
    by_key[key] = r
  seeds = sorted({seed for _, seed in by_key})
  missing = [f"{s} seed {seed}" for seed in seeds for s in strategies if (s, seed) not in by_key]
  if missing:
    raise ValueError(f"Unpaired records: no run for {', '.join(missing)}.")
  a = np.array([value(by_key[(strategies[0], seed)]) for seed in seeds], np.float64)
  b = np.array([value(by_key[(strategies[1], seed)]) for seed in seeds], np.float64)
  return seeds, a, b


class Row(NamedTuple):
  """A row of the table: each strategy's mean with its t interval, GA − random (paired by seed) and its verdict."""

  label: str
  ga: Interval
  random: Interval
  difference: Interval
  verdict: str
  seeds: tuple[int, ...]


def table_rows(records: Sequence[dict[str, Any]]) -> list[Row]:
  """One :class:`Row` per :func:`metrics` entry (95% intervals over search seeds)."""
  rows = []
  for m in metrics(records):
    seeds, ga_values, random_values = paired(records, m.value)
    diff = paired_difference(ga_values, random_values)
    rows.append(Row(m.label, mean_interval(ga_values), mean_interval(random_values), diff, verdict(diff),
                    tuple(seeds)))
  return rows


def pairing_mismatches(records: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
  """What must be the same for both strategies of a seed, and the seeds where it is not: the generation-0 random
  pool's best surrogate fitness, and the tuned baseline's test accuracy on every final task (the same runs)."""
  checks = {"generation-0 pool (best surrogate fitness)": lambda r: r["generations"][0]["best"]}
  for t in task_names(records):
    checks[f"{records[0]['baseline']} on `{t}` (test accuracy)"] = lambda r, t=t: r["tasks"][t]["baseline_test"]
  out = {}
  for what, value in checks.items():
    seeds, ga_values, random_values = paired(records, value)
    out[what] = [s for s, a, b in zip(seeds, ga_values, random_values) if a != b]
  return out


# -- the report ----------------------------------------------------------------------------------------------------

def _num(x: float, signed: bool = False) -> str:
  return "–" if not math.isfinite(x) else (f"{x:+.4f}" if signed else f"{x:.4f}")


def _ci(iv: Interval, signed: bool = False) -> str:
  return f"{_num(iv.estimate, signed)} [{_num(iv.low, signed)}, {_num(iv.high, signed)}]"


def findings(rows: Sequence[Row]) -> list[str]:
  """One sentence per compared quantity: GA − random with its interval and what it supports."""
  words = {"beats": "the GA is better", "loses": "random search is better",
           "ties": "no difference is resolved (the interval contains 0)"}
  return [f"{row.label}: GA − random {_ci(row.difference, True)} over {row.difference.n} paired search seeds; "
          f"{words[row.verdict]}." for row in rows]


def _task_cells(t: dict[str, Any]) -> str:
  diff = Interval(t["difference"], t["difference_low"], t["difference_high"], t["final_seeds"])
  return f"{_num(t['found_test'])} ({t['found_lr']:g}) | {_ci(diff, True)} {t['verdict']}"


def markdown(records: Sequence[dict[str, Any]], *, command: str, settings: dict[str, Any] | None = None) -> str:
  """The ablation's ``search_ablation.md``."""
  rows = table_rows(records)
  seeds = rows[0].seeds
  tasks = task_names(records)
  baseline = records[0]["baseline"]
  lines = ["# Evolution vs random search", "",
           "The same search, `strategy=\"ga\"` (the particle GA) vs `strategy=\"random\"` (as many fresh random "
           "genomes per generation, through the same integrity check), then the same surrogate, progressive "
           f"elimination and tuned final comparison; search seeds {list(seeds)}. Produced by:", "",
           "```", command, "```", "",
           "## Finding", "", *[f"- {s}" for s in findings(rows[:1 + 2 * len(tasks)])], "",
           "## Table", "",
           "Mean over search seeds with its 95% Student-t interval per strategy; GA − random is the mean of the "
           "per-seed differences with its 95% Student-t interval (a paired interval: with one seed both strategies "
           "score the same generation-0 random pool with the same training seeds, and use the same elimination and "
           f"final-comparison seeds, so the runs of a seed are paired). With {len(seeds)} seeds the t quantile is "
           "large; an interval containing 0 means the difference is not resolved, not that there is none. The "
           "baseline's tuned runs are the same for both strategies of a seed, so GA − random of `found #1 − "
           f"{baseline}` equals that of found #1's test accuracy; each strategy's column places it against "
           f"{baseline}.", "",
           "| quantity | GA | random | GA − random | GA vs random |", "|---|---|---|---|---|"]
  lines += [f"| {r.label} | {_ci(r.ga)} | {_ci(r.random)} | {_ci(r.difference, True)} | {r.verdict} |" for r in rows]
  lines += ["", "The pairing, checked: the same for both strategies of every seed?", ""]
  lines += [f"- {what}: " + ("yes." if not bad else f"**no**, for seeds {bad} (the pairing does not hold there).")
            for what, bad in pairing_mismatches(records).items()]
  if any(r["cache_hits"] for r in records):
    lines += ["", "Runs after the first load compiled programs from JAX's persistent cache (cache hits below), so "
              "their wall times are mostly training; the first run's includes the compilation."]
  head = " | ".join(f"`{t}` found #1 test (lr) | vs {baseline}" for t in tasks)
  lines += ["", "## Every run", "",
            f"Test accuracy: mean over the final comparison's seeds; vs {baseline}: paired difference over those seeds "
            "with its 95% interval and verdict.", "",
            f"| strategy | seed | best final fitness | best surrogate | Spearman | {head} | wall s | compile s "
            "(programs / cache hits) |", "|---|---|---|---|---|" + "---|---|" * len(tasks) + "---|---|"]
  for r in sorted(records, key=lambda r: (r["seed"], STRATEGIES.index(r["strategy"]))):
    cells = " | ".join(_task_cells(r["tasks"][t]) for t in tasks)
    lines.append(f"| {r['strategy']} | {r['seed']} | {_num(r['best_final_fitness'])} | {_num(r['best_surrogate'])} | "
                 f"{_num(r['rank_correlation'])} | {cells} | {r['wall_s']:.0f} | {r['compile_s']:.0f} "
                 f"({r['compilations']} / {r['cache_hits']}) |")
  lines += ["", "## Hall-of-fame #1 of every run", ""]
  for r in sorted(records, key=lambda r: (r["seed"], STRATEGIES.index(r["strategy"]))):
    lines += [f"{r['strategy']}, seed {r['seed']}:", "", "```", r["equation"], "```", ""]
  if settings:
    lines += ["## Settings (strategy and seed vary)", "", "```", *[f"{k} = {v!r}" for k, v in settings.items()
                                                                   if k not in ("strategy", "seed")], "```", "",
              "Plot: `search_ablation.png`; every number: `search_ablation.json`.", ""]
  return "\n".join(lines)


def plot(records: Sequence[dict[str, Any]], path: str) -> str:
  """``path`` (png): surrogate best per generation per run, and per compared quantity the runs of each seed joined
  across the strategies with each strategy's mean and 95% interval."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  colors = {"ga": "tab:red", "random": "tab:blue"}
  rows = metrics(records)[:3]  # best final fitness, then the (first) held-out task's test accuracy and difference
  fig, axes = plt.subplots(1, 1 + len(rows), figsize=(4.2 * (1 + len(rows)), 3.8))
  ax = axes[0]
  for r in sorted(records, key=lambda r: (r["strategy"], r["seed"])):
    best = [g["best"] for g in r["generations"]]
    ax.plot(range(len(best)), best, "o-", color=colors[r["strategy"]], alpha=0.7,
            label=r["strategy"] if r["seed"] == min(x["seed"] for x in records) else None)
  ax.set(xlabel="generation (0 = random pool)", ylabel="best surrogate fitness", title="Surrogate, per run")
  ax.xaxis.get_major_locator().set_params(integer=True)
  ax.legend(fontsize=8)
  for ax, m in zip(axes[1:], rows):
    seeds, ga_values, random_values = paired(records, m.value)
    for seed, a, b in zip(seeds, ga_values, random_values):
      ax.plot([0, 1], [a, b], "-", color="0.6", lw=1)
      ax.annotate(str(seed), (1.04, b), fontsize=7, va="center")
    for x, (s, v) in enumerate(zip(STRATEGIES, (ga_values, random_values))):
      iv = mean_interval(v)
      ax.scatter([x] * len(v), v, color=colors[s], zorder=3, s=18)
      if math.isfinite(iv.low):
        ax.errorbar([x - 0.12], [iv.estimate], yerr=[[iv.estimate - iv.low], [iv.high - iv.estimate]], fmt="D",
                    color=colors[s], capsize=4)
    if "−" in m.label:
      ax.axhline(0.0, color="0.3", lw=0.8, ls=":")
    ax.set_xticks([0, 1], list(STRATEGIES))
    ax.set_xlim(-0.4, 1.3)
    ax.set_title(m.label.replace("`", "").replace(" (hall-of-fame #1, last elimination stage, validation)", ""),
                 fontsize=8)
  fig.suptitle("Evolution vs random search (lines join the runs of one seed; diamonds: mean, 95% t interval)",
               fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def write(out_dir: str, records: Sequence[dict[str, Any]], *, command: str,
          settings: dict[str, Any] | None = None) -> list[str]:
  """Writes ``search_ablation.md`` and ``.png`` into ``out_dir``; returns their paths."""
  from optix_evo.run_folder import atomic_write_text  # pylint: disable=import-outside-toplevel

  os.makedirs(out_dir, exist_ok=True)
  md = os.path.join(out_dir, "search_ablation.md")
  atomic_write_text(md, markdown(records, command=command, settings=settings))
  return [md, plot(records, os.path.join(out_dir, "search_ablation.png"))]


# -- running the searches -----------------------------------------------------------------------------------------

def command_line(argv: Sequence[str]) -> str:
  """The command that re-runs this script with ``argv`` (with the ``nice`` level it runs at)."""
  niceness = os.nice(0)
  prefix = f"nice -n {niceness} " if niceness > 0 else ""
  return prefix + "python benchmarks/search_ablation.py " + shlex.join(argv)


def _load(path: str) -> dict[str, Any]:
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  if data.get("format") != FORMAT:
    raise ValueError(f"{path} is not a search-ablation file ({FORMAT}).")
  return data


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--preset", default="quick", help="search preset (optix_evo.search.PRESETS)")
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="search seeds (at least 3 for intervals)")
  p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                 help="a search setting, as for `optix-evo search --set` (the same for both strategies)")
  p.add_argument("--baseline", default="adam", help="the final comparison's baseline to compare found #1 with")
  p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"), help="folder for the table and plot")
  p.add_argument("--resume", action="store_true", help="skip runs that OUT/search_ablation.json holds already")
  p.add_argument("--from-json", metavar="FILE", help="only rebuild the table and plot from FILE")
  p.add_argument("--compile-cache", metavar="DIR", help="JAX's persistent compilation cache (default: the CLI's)")
  p.add_argument("--no-compile-cache", action="store_true", help="compile every program afresh")
  args = p.parse_args(argv)
  if len(args.seeds) != len(set(args.seeds)):
    p.error(f"--seeds has duplicates: {args.seeds}")

  if args.from_json:
    data = _load(args.from_json)
    for path in write(args.out, data["records"], command=data["command"], settings=data.get("settings")):
      print(f"wrote {path}")
    return 0

  import jax  # pylint: disable=import-outside-toplevel

  from optix_evo.compilation import enable_persistent_cache  # pylint: disable=import-outside-toplevel
  from optix_evo.run_folder import atomic_write_json  # pylint: disable=import-outside-toplevel
  from optix_evo.search import preset, run  # pylint: disable=import-outside-toplevel
  from optix_evo.search.cli import parse_overrides  # pylint: disable=import-outside-toplevel

  jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)  # as `optix-evo search` does
  if not args.no_compile_cache:
    enable_persistent_cache(args.compile_cache)
  overrides = parse_overrides(args.overrides)
  command = command_line(argv)
  json_path = os.path.join(args.out, "search_ablation.json")
  done: list[dict[str, Any]] = []
  if args.resume and os.path.exists(json_path):
    done = _load(json_path)["records"]
  records = []
  os.makedirs(args.out, exist_ok=True)
  for seed in args.seeds:
    for strategy in STRATEGIES:
      config = preset(args.preset, strategy=strategy, seed=seed, **overrides)
      previous = [r for r in done if r["config"] == config.to_dict()]
      if previous:
        records.append(previous[0])
        print(f"{strategy} seed {seed}: from {json_path}", flush=True)
        continue
      start = time.perf_counter()
      result = run(config, None, report=False)
      record = run_record(result, strategy=strategy, seed=seed, baseline=args.baseline) | {"config": config.to_dict()}
      records.append(record)
      print(f"{strategy} seed {seed}: best final fitness {record['best_final_fitness']:.4f}, "
            f"{time.perf_counter() - start:.0f} s", flush=True)
      settings = preset(args.preset, **overrides).to_dict()
      atomic_write_json(json_path, {"format": FORMAT, "command": command, "settings": settings, "records": records})
  for path in write(args.out, records, command=command, settings=preset(args.preset, **overrides).to_dict()):
    print(f"wrote {path}")
  print("\n".join(findings(table_rows(records))))
  print(f"command: {command}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
