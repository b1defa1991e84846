"""Which search strategy earns its cost? The NOS particle GA, regularized evolution and random search (and a warm start
for one of them) at the same budget, paired by search seed, with anytime curves.

Every arm runs the generations of the same :class:`~optix_evo.search.SearchConfig` (by default the ``cpu`` preset:
fitness over a task family, normalised per task against Adam) with its ``strategy`` and ``warm_start``; all arms ask
as many candidates per generation and score them with the same protocol and training seeds, so they spend the same
training steps; the CPU time of every generation is measured as process CPU time (the machine may be shared). With one
search seed every arm scores the same generation-0 random pool (warm arms: the same pool with known optimizers in its
first slots), so arms pair by seed.

After every generation the arm's *incumbent* (its best candidate so far by search fitness: what the search would
return) is scored on the held-out tasks it never saw: the mean over those tasks of the accuracy normalised against
Adam trained in the same call (1 = Adam, 0 = chance; :func:`optix_evo.search.normalised_score`), with fixed seeds, the
same for every incumbent. That gives an anytime curve per run: best normalised held-out fitness against CPU-minutes.

    nice -n 10 python benchmarks/search_ablation.py --preset cpu --seeds 0 1 2 --out benchmarks/results

writes ``search_ablation.md`` (table), ``search_ablation.png`` (anytime curves with 95% bands over seeds) and
``search_ablation.json`` (every curve and setting) into ``--out``; each run is checkpointed after every generation
under ``OUT/search_ablation_runs/`` and ``--resume`` continues from there (and from the JSON's held-out scores);
``--from-json FILE`` rebuilds the table and plot without searching. ``--set KEY=VALUE`` changes a search setting for
every arm (a reduced budget, e.g. ``--set steps=3``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python benchmarks/search_ablation.py` from a checkout
  sys.path.insert(0, ROOT)

from optix_evo.search.statistics import Interval, mean_interval, paired_difference, verdict  # noqa: E402

COLD = ("ga", "regularized", "random")
FORMAT = "optix_evo.search_ablation/2"
HELD_OUT_SEED = 777


def arm_name(strategy: str, warm: bool) -> str:
  return f"{strategy}+warm" if warm else strategy


# -- pure bookkeeping: archive → anytime curve → bands and paired differences --------------------------------------

def incumbents(generations: Sequence[dict[str, Any]], archive: Sequence[dict[str, Any]],
               label: str) -> list[dict[str, Any]]:
  """Per generation: the cumulative CPU minutes of the search so far, the candidates evaluated, and the incumbent (the
  archive record with the best search fitness among those of the evolution tasks ``label`` evaluated so far; the
  earliest on ties)."""
  out, cpu, best, count = [], 0.0, None, 0
  by_generation: dict[int, list[dict[str, Any]]] = {}
  for rec in archive:
    by_generation.setdefault(rec["generation"], []).append(rec)
  for g in generations:
    cpu += g["cpu_seconds"] / 60
    for rec in by_generation.get(g["generation"], []):
      count += 1
      if rec.get("task") == label and not rec["rejected"] and (best is None or rec["fitness"] > best["fitness"]):
        best = rec
    out.append({"generation": g["generation"], "cpu_min": cpu, "candidates": count,
                "fingerprint": None if best is None else best["fingerprint"],
                "search_fitness": None if best is None else best["fitness"]})
  return out


def on_grid(curve: Sequence[dict[str, Any]], grid: Sequence[float], key: str = "held_out") -> np.ndarray:
  """The step function of ``curve`` (its value from each point's ``cpu_min`` on) read at ``grid``; NaN before the
  curve's first point."""
  t = np.array([p["cpu_min"] for p in curve])
  v = np.array([np.nan if p[key] is None else p[key] for p in curve], np.float64)
  idx = np.searchsorted(t, np.asarray(grid, np.float64), side="right") - 1
  return np.where(idx >= 0, v[np.clip(idx, 0, None)], np.nan)


def grid_for(records: Sequence[dict[str, Any]], points: int = 60) -> np.ndarray:
  """CPU-minute grid from the first generation's end to the shortest run's end (every run covers it)."""
  end = min(r["curve"][-1]["cpu_min"] for r in records)
  start = max(r["curve"][0]["cpu_min"] for r in records)
  return np.linspace(min(start, end), end, points)


def by_arm(records: Sequence[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
  """Records by arm and seed; a duplicate (arm, seed) is an error."""
  out: dict[str, dict[int, dict[str, Any]]] = {}
  for r in records:
    arm = out.setdefault(r["arm"], {})
    if r["seed"] in arm:
      raise ValueError(f"Two records for arm {r['arm']!r} and seed {r['seed']}.")
    arm[r["seed"]] = r
  return out


def band(records: Sequence[dict[str, Any]], arm: str, grid: Sequence[float]) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
  """Mean and 95% Student-t interval over the arm's seeds of its curves at ``grid``."""
  curves = np.array([on_grid(r["curve"], grid) for r in by_arm(records)[arm].values()])
  stats = [mean_interval(c[np.isfinite(c)]) for c in curves.T]
  return tuple(np.array([getattr(s, f) for s in stats]) for f in ("estimate", "low", "high"))


class Row(NamedTuple):
  """A compared quantity: each arm's mean with its interval, the paired difference ``a − b`` over seeds and its
  verdict."""

  label: str
  a: str
  b: str
  a_value: Interval
  b_value: Interval
  difference: Interval
  verdict: str
  seeds: tuple[int, ...]


def paired_row(records: Sequence[dict[str, Any]], a: str, b: str, value, label: str) -> Row | None:
  """``a − b`` of ``value(record)`` over the seeds both arms ran with a finite value (None if fewer than two)."""
  arms = by_arm(records)
  if a not in arms or b not in arms:
    return None
  seeds = [s for s in sorted(set(arms[a]) & set(arms[b]))
           if math.isfinite(value(arms[a][s])) and math.isfinite(value(arms[b][s]))]
  if len(seeds) < 2:
    return None
  va = np.array([value(arms[a][s]) for s in seeds], np.float64)
  vb = np.array([value(arms[b][s]) for s in seeds], np.float64)
  diff = paired_difference(va, vb)
  return Row(label, a, b, mean_interval(va), mean_interval(vb), diff, verdict(diff), tuple(seeds))


def final_value(record: dict[str, Any]) -> float:
  """The held-out fitness of the run's last incumbent (its whole budget)."""
  return float(record["curve"][-1]["held_out"])


def comparisons(records: Sequence[dict[str, Any]], warm_arm: str | None) -> list[Row]:
  """Evolution vs random (at the end of the budget and at the CPU time every run reached), GA vs regularized, and the
  warm start against the same strategy cold."""
  grid = grid_for(records)
  at = float(grid[-1])
  rows = []
  for a, b in (("regularized", "random"), ("ga", "random"), ("regularized", "ga")):
    rows.append(paired_row(records, a, b, final_value, f"held-out fitness after the whole budget: {a} − {b}"))
    rows.append(paired_row(records, a, b, lambda r: float(on_grid(r["curve"], [at])[0]),
                           f"held-out fitness at {at:.1f} CPU-min (every run got there): {a} − {b}"))
    rows.append(paired_row(records, a, b, lambda r: float(r["curve"][-1]["search_fitness"]),
                           f"search fitness of the incumbent: {a} − {b}"))
  if warm_arm is not None:
    cold = warm_arm.replace("+warm", "")
    rows.append(paired_row(records, warm_arm, cold, final_value, f"held-out fitness: {warm_arm} − {cold}"))
    rows.append(paired_row(records, warm_arm, cold, lambda r: float(r["curve"][-1]["search_fitness"]),
                           f"search fitness of the incumbent: {warm_arm} − {cold}"))
  return [r for r in rows if r is not None]


def pairing_mismatches(records: Sequence[dict[str, Any]]) -> list[str]:
  """Seeds where the cold arms' generation-0 pools differ (they must be the same genomes)."""
  out = []
  arms = by_arm(records)
  for seed in sorted({r["seed"] for r in records}):
    pools = {arm: runs[seed]["pool"] for arm, runs in arms.items() if seed in runs and "+warm" not in arm}
    if len({tuple(p) for p in pools.values()}) > 1:
      out.append(f"seed {seed}")
  return out


def curve_shape(records: Sequence[dict[str, Any]], arm: str) -> str:
  """``"rising"`` when, paired over the arm's seeds, the held-out fitness over the last third of the CPU-time grid is
  above that over the middle third (95% interval of the mean per-seed difference above 0), else ``"flat"``."""
  grid = grid_for(records)
  third = max(len(grid) // 3, 1)
  gains = []
  for r in by_arm(records)[arm].values():
    c = on_grid(r["curve"], grid)
    gains.append(np.nanmean(c[-third:]) - np.nanmean(c[third:2 * third]))
  return "rising" if verdict(mean_interval(gains)) == "beats" else "flat"


# -- the report ----------------------------------------------------------------------------------------------------

def _num(x: float, signed: bool = False) -> str:
  return "–" if x is None or not math.isfinite(x) else (f"{x:+.3f}" if signed else f"{x:.3f}")


def _ci(iv: Interval, signed: bool = False) -> str:
  return f"{_num(iv.estimate, signed)} [{_num(iv.low, signed)}, {_num(iv.high, signed)}]"


def markdown(data: dict[str, Any]) -> str:
  """``search_ablation.md`` of the JSON document ``data``."""
  records, settings = data["records"], data["settings"]
  arms = by_arm(records)
  rows = comparisons(records, data.get("warm_arm"))
  seeds = sorted({r["seed"] for r in records})
  words = {"beats": "the first is better", "loses": "the second is better", "ties": "not resolved (contains 0)"}
  held = ", ".join(f"`{t}`" for t in settings["holdout_tasks"])
  family = ", ".join(f"`{t}`" for t in [settings["task"], *settings["family"]])
  norm = ("each normalised against Adam trained in the same call, then averaged" if settings["normalise"] == "adam"
          else "raw validation accuracy, averaged")
  lines = ["# Search strategies at equal budget: particle GA, regularized evolution, random search", "",
           f"Fitness during the search: {family} ({norm}). "
           f"Held out (never seen by any search): {held}; the held-out fitness of an incumbent is the mean over them "
           "of its accuracy normalised against Adam trained with the same seeds (1 = Adam, 0 = chance; a "
           f"{data['held_out_protocol']}). Search seeds {seeds}. Produced by:", "", "```", data["command"], "```", "",
           "## Finding", ""]
  lines += [f"- {r.label}: {_ci(r.difference, True)} over {r.difference.n} paired search seeds; {words[r.verdict]}."
            for r in rows]
  lines += ["", "Shape of the anytime curves (mean held-out fitness over the last third of the CPU time against the "
            "middle third): " + "; ".join(f"{arm}: {curve_shape(records, arm)}" for arm in arms) + ".", ""]
  lines += ["## Table", "", "Per arm, mean over search seeds with its 95% Student-t interval; CPU minutes are process "
            "CPU time of the generations (training and the strategy's own work; not the held-out scoring).", "",
            "| arm | seeds | candidates | CPU-min | search fitness (incumbent) | held-out fitness (incumbent) |",
            "|---|---|---|---|---|---|"]
  for arm, runs in arms.items():
    rs = list(runs.values())
    lines.append(f"| {arm} | {len(rs)} | {rs[0]['curve'][-1]['candidates']} | "
                 f"{_ci(mean_interval([r['curve'][-1]['cpu_min'] for r in rs]))} | "
                 f"{_ci(mean_interval([r['curve'][-1]['search_fitness'] for r in rs]))} | "
                 f"{_ci(mean_interval([final_value(r) for r in rs]))} |")
  lines += ["", "| comparison (a − b, paired by seed) | a | b | a − b | verdict |", "|---|---|---|---|---|"]
  lines += [f"| {r.label} | {_ci(r.a_value)} | {_ci(r.b_value)} | {_ci(r.difference, True)} | {r.verdict} |"
            for r in rows]
  bad = pairing_mismatches(records)
  lines += ["", "Pairing checked: the cold arms of every seed scored the same generation-0 pool: "
            + ("yes." if not bad else f"**no** for {', '.join(bad)}.")]
  if data.get("warm_arm"):
    lines += [f"Warm start ({data['warm_arm']}): the first population seeded with "
              f"{', '.join(next(iter(arms[data['warm_arm']].values()))['warm_start'])} (the others random)."]
  lines += ["", "## Incumbents at the end of every run", "", "| arm | seed | search fitness | held-out fitness | "
            "equation |", "|---|---|---|---|---|"]
  for arm, runs in arms.items():
    for seed, r in sorted(runs.items()):
      eq = r["equation"].splitlines()[0] if r.get("equation") else ""
      lines.append(f"| {arm} | {seed} | {_num(r['curve'][-1]['search_fitness'])} | {_num(final_value(r))} | "
                   f"`{eq}` |")
  lines += ["", "## Settings (strategy, warm_start and seed vary)", "", "```",
            *[f"{k} = {v!r}" for k, v in settings.items() if k not in ("strategy", "seed", "warm_start")], "```", "",
            "Plot: `search_ablation.png`; every curve: `search_ablation.json`.", ""]
  return "\n".join(lines)


def plot(data: dict[str, Any], path: str) -> str:
  """Anytime curves: per arm the mean best held-out fitness against CPU-minutes with its 95% band over seeds (thin
  lines: the runs), and the incumbent's search fitness."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  records = data["records"]
  colors = {"ga": "tab:red", "regularized": "tab:green", "random": "tab:blue"}
  grid = grid_for(records)
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for ax, key, title in ((axes[0], "held_out", "held-out fitness of the incumbent (1 = Adam)"),
                         (axes[1], "search_fitness", "search fitness of the incumbent (family, 1 = Adam)")):
    for arm, runs in by_arm(records).items():
      color = colors[arm.replace("+warm", "")]
      style = "--" if "+warm" in arm else "-"
      curves = np.array([on_grid(r["curve"], grid, key) for r in runs.values()])
      for c in curves:
        ax.plot(grid, c, style, color=color, alpha=0.25, lw=0.8)
      stats = [mean_interval(c[np.isfinite(c)]) for c in curves.T]
      mean = np.array([s.estimate for s in stats])
      ax.plot(grid, mean, style, color=color, lw=2, label=f"{arm} ({len(runs)} seeds)")
      low, high = np.array([s.low for s in stats]), np.array([s.high for s in stats])
      ax.fill_between(grid, low, high, color=color, alpha=0.12)
    ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
    ax.set(xlabel="search CPU-minutes (process time)", title=title)
    ax.legend(fontsize=8)
  fig.suptitle("Anytime curves: mean over search seeds, 95% t band; thin lines: single runs", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def write(out_dir: str, data: dict[str, Any]) -> list[str]:
  """Writes ``search_ablation.md`` and ``.png`` into ``out_dir``; returns their paths."""
  from optix_evo.runs.folder import atomic_write_text  # pylint: disable=import-outside-toplevel

  os.makedirs(out_dir, exist_ok=True)
  md = os.path.join(out_dir, "search_ablation.md")
  atomic_write_text(md, markdown(data))
  return [md, plot(data, os.path.join(out_dir, "search_ablation.png"))]


# -- running the arms -----------------------------------------------------------------------------------------------

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


class Runner:
  """Runs the arms' generations with evaluators shared by the arms of a seed and compiled before any generation is
  timed, and scores incumbents on the held-out tasks (cached by seed and fingerprint: the same optimizer gets the same
  held-out score in every arm of a seed)."""

  def __init__(self, base, run_dir: str, cache: dict[str, float]):
    from optix_evo.search.phases import family_scores  # pylint: disable=import-outside-toplevel
    self.base, self.run_dir, self.cache = base, run_dir, cache
    self.family_scores = family_scores
    self.evaluators: dict[str, Any] = {}
    self.protocol = base.stage_protocol(base.stages[0])

  def search(self, config, resume: bool):
    from optix_evo.search import Search  # pylint: disable=import-outside-toplevel
    out = os.path.join(self.run_dir, f"{arm_name(config.strategy, config.warm_start)}-seed{config.seed}")
    resume = resume and os.path.exists(os.path.join(out, "checkpoint.npz"))
    search = Search(config, out, resume=resume)
    # shared by the arms of a seed (the tasks' data splits depend on the seed): compiled once per seed
    search._evaluators = self.evaluators.setdefault(config.seed, {})  # pylint: disable=protected-access
    return search

  def warm_up(self, search) -> None:
    """Compiles every task's program before any generation is timed."""
    from optix_evo import graph  # pylint: disable=import-outside-toplevel
    from optix_evo.search.phases import evolution_tasks  # pylint: disable=import-outside-toplevel
    adam = graph.stack([graph.known("adam", search.space)])
    for task in (*evolution_tasks(search.config), *search.config.holdout_tasks):
      search.score(task, adam, search.config.surrogate(pool=False), seed=0)

  def held_out(self, search, record: dict[str, Any]) -> float:
    key = f"{search.config.seed}:{record['fingerprint']}"
    if key not in self.cache:
      from optix_evo import graph  # pylint: disable=import-outside-toplevel
      genome = graph.stack([search.genome(record)])
      s = self.family_scores(search, search.config.holdout_tasks, genome, self.protocol, seed=HELD_OUT_SEED,
                             normalise="adam")
      self.cache[key] = float(s.fitness[0])
    return self.cache[key]

  def run(self, config, *, resume: bool, log) -> dict[str, Any]:
    from optix_evo.search.phases import _tasks_label, evolution_tasks  # pylint: disable=import-outside-toplevel
    fresh = config.seed not in self.evaluators
    search = self.search(config, resume)
    if fresh:
      self.warm_up(search)
    with search._running():  # pylint: disable=protected-access
      while search.state.phase == "search":
        summary = search.generation()
        log(f"  {arm_name(config.strategy, config.warm_start)} seed {config.seed} generation "
            f"{summary['generation']}: best {summary['best']:.3f}, {summary['cpu_seconds']:.0f} CPU-s")
    archive = search.state.archive
    curve = incumbents(search.state.generations, archive, _tasks_label(evolution_tasks(config)))
    by_fp = {}
    for rec in archive:
      by_fp.setdefault(rec["fingerprint"], rec)
    for point in curve:
      point["held_out"] = None if point["fingerprint"] is None else self.held_out(search, by_fp[point["fingerprint"]])
    last = by_fp.get(curve[-1]["fingerprint"], {})
    return {"arm": arm_name(config.strategy, config.warm_start), "strategy": config.strategy,
            "warm": config.warm_start, "seed": config.seed, "curve": curve, "config": config.to_dict(),
            "pool": [r["fingerprint"] for r in archive if r["generation"] == 0][len(search.state.warm_start):],
            "warm_start": list(search.state.warm_start), "equation": last.get("equation", "")}


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--preset", default="cpu", help="search preset (optix_evo.search.PRESETS)")
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="search seeds (at least 3 for intervals)")
  p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                 help="a search setting, as for `optix-evo search --set` (the same for every arm)")
  p.add_argument("--warm", default="auto", help="the strategy also run with a warm start: one of "
                 f"{', '.join(COLD)}, 'auto' (the cold arm with the best mean held-out fitness) or 'none'")
  p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"), help="folder for the table and plot")
  p.add_argument("--resume", action="store_true", help="continue: finished runs from OUT/search_ablation.json, "
                 "unfinished ones from their checkpoints")
  p.add_argument("--from-json", metavar="FILE", help="only rebuild the table and plot from FILE")
  p.add_argument("--compile-cache", metavar="DIR", help="JAX's persistent compilation cache (default: the CLI's)")
  p.add_argument("--no-compile-cache", action="store_true", help="compile every program afresh")
  args = p.parse_args(argv)
  if len(args.seeds) != len(set(args.seeds)):
    p.error(f"--seeds has duplicates: {args.seeds}")
  if args.warm not in (*COLD, "auto", "none"):
    p.error(f"--warm must be one of {', '.join(COLD)}, auto, none; got {args.warm!r}")

  if args.from_json:
    data = _load(args.from_json)
    for path in write(args.out, data):
      print(f"wrote {path}")
    return 0

  import jax  # pylint: disable=import-outside-toplevel

  from optix_evo.compilation import enable_persistent_cache  # pylint: disable=import-outside-toplevel
  from optix_evo.runs.folder import atomic_write_json  # pylint: disable=import-outside-toplevel
  from optix_evo.search import preset  # pylint: disable=import-outside-toplevel
  from optix_evo.search.cli import parse_overrides  # pylint: disable=import-outside-toplevel

  jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)  # as `optix-evo search` does
  if not args.no_compile_cache:
    enable_persistent_cache(args.compile_cache)
  overrides = parse_overrides(args.overrides)
  base = preset(args.preset, **overrides)
  command = command_line(argv)
  json_path = os.path.join(args.out, "search_ablation.json")
  previous = _load(json_path) if args.resume and os.path.exists(json_path) else {"records": [], "held_out_cache": {}}
  runner = Runner(base, os.path.join(args.out, "search_ablation_runs"), dict(previous.get("held_out_cache", {})))
  data = {"format": FORMAT, "command": command, "settings": base.to_dict(), "records": [], "warm_arm": None,
          "held_out_protocol": f"{runner.protocol.steps}-step run at the learning rate its probes chose, "
                               f"{runner.protocol.seeds} seeds", "held_out_cache": runner.cache}
  os.makedirs(args.out, exist_ok=True)
  log = lambda s: print(s, flush=True)  # noqa: E731

  def arm(strategy: str, warm: bool, seed: int) -> None:
    config = preset(args.preset, strategy=strategy, warm_start=warm, seed=seed, **overrides)
    done = [r for r in previous["records"] if r["config"] == config.to_dict()]
    if done:
      data["records"].append(done[0])
      log(f"{arm_name(strategy, warm)} seed {seed}: from {json_path}")
    else:
      start = time.process_time()
      record = runner.run(config, resume=args.resume, log=log)
      data["records"].append(record)
      log(f"{record['arm']} seed {seed}: held-out fitness {final_value(record):.3f}, search fitness "
          f"{record['curve'][-1]['search_fitness']:.3f}, {record['curve'][-1]['cpu_min']:.1f} search CPU-min "
          f"({(time.process_time() - start) / 60:.1f} CPU-min with the held-out scoring)")
    atomic_write_json(json_path, data)

  for seed in args.seeds:
    for strategy in COLD:
      arm(strategy, False, seed)
  warm = args.warm
  if warm == "auto":
    arms = by_arm(data["records"])
    warm = max(COLD, key=lambda a: np.mean([final_value(r) for r in arms[a].values()]))
  if warm != "none":
    data["warm_arm"] = arm_name(warm, True)
    for seed in args.seeds:
      arm(warm, True, seed)
  for path in write(args.out, data):
    print(f"wrote {path}")
  print(f"command: {command}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
