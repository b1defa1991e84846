"""``optix-evo search`` (neural optimizer search) and ``optix-evo transfer`` (found optimizers vs baselines)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import time

from optix_evo.errors import InputError
from optix_evo.search.elimination import Stage
from optix_evo.search.search import PRESETS, SearchConfig, SearchResult, preset, run, total_candidates
from optix_evo.search.tasks import TASKS


_TEXT_SETTINGS = ("task", "baseline", "data_dir", "population_loop")
_STAGE_INTS = {"steps": False, "seeds": False, "keep": False, "probe_steps": True}  # name -> may be None


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _stages(text: str, value) -> tuple[Stage, ...]:
  """``--set stages=...``: a tuple of dicts with :class:`Stage` fields."""
  if not isinstance(value, (list, tuple)) or not all(isinstance(s, dict) for s in value):
    raise InputError(f"--set stages={text!r}: expected a tuple of dicts, e.g. "
                     "({'steps': 300, 'seeds': 2, 'keep': 4},).")
  stages = []
  for i, s in enumerate(value, 1):
    unknown = sorted(map(str, set(s) - {*_STAGE_INTS, "tasks"}))
    if unknown:
      raise InputError(f"--set stages: stage {i} has unknown field(s) {unknown}; known: steps, seeds, tasks, keep, "
                       "probe_steps.")
    if "steps" not in s:
      raise InputError(f"--set stages: stage {i} needs 'steps'.")
    for name, optional in _STAGE_INTS.items():
      if name in s and not (_is_int(s[name]) or (optional and s[name] is None)):
        raise InputError(f"--set stages: stage {i} field {name!r} must be an integer, got {s[name]!r}.")
    tasks = s.get("tasks", ())
    if isinstance(tasks, str) or not isinstance(tasks, (list, tuple)) or not all(isinstance(t, str) for t in tasks):
      raise InputError(f"--set stages: stage {i} field 'tasks' must be a tuple of task names, got {tasks!r}.")
    try:
      stages.append(Stage(**{**s, "tasks": tuple(tasks)}))
    except ValueError as e:
      raise InputError(f"--set stages: stage {i}: {e}") from None
  return tuple(stages)


def _lr_grid(text: str, value) -> tuple[float, ...]:
  """``--set lr_grid=...``: one positive number or a tuple of them."""
  values = value if isinstance(value, (list, tuple)) else [value]
  if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
                           for v in values):
    raise InputError(f"--set lr_grid={text!r}: expected positive learning rates, e.g. (0.1, 0.01).")
  return tuple(float(v) for v in values)


def parse_overrides(items: list[str]) -> dict:
  """``["particles=8", "lr_grid=(0.1, 0.01)"]`` → typed overrides of :class:`SearchConfig` fields.

  Raises:
    InputError: for a malformed item, an unknown or repeated setting, or a value of the wrong type.
  """
  fields = {f.name for f in dataclasses.fields(SearchConfig)}
  out = {}
  for item in items:
    name, sep, text = item.partition("=")
    if not sep:
      raise InputError(f"--set expects KEY=VALUE, got {item!r}.")
    if name not in fields:
      raise InputError(f"Unknown search setting {name!r}. Known settings: {', '.join(sorted(fields))}.")
    if name in out:
      raise InputError(f"--set {name}= is given twice; give each setting once.")
    if name in _TEXT_SETTINGS:
      out[name] = text
      continue
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
      raise InputError(f"--set {name}={text!r}: not a Python literal (e.g. 8, 0.1, (0.1, 0.01), None).") from None
    if name == "stages":
      value = _stages(text, value)
    elif name == "lr_grid":
      value = _lr_grid(text, value)
    elif not (_is_int(value) or (name == "chunk_size" and value is None)):
      raise InputError(f"--set {name}={text!r}: expected an integer.")
    out[name] = value
  return out


def _argv(args: argparse.Namespace) -> list[str]:
  argv = ["search", "--preset", args.preset, "--seed", str(args.seed)]
  if args.task:
    argv += ["--task", args.task]
  for item in args.set:
    argv += ["--set", item]
  if args.data_dir:
    argv += ["--data-dir", args.data_dir]
  return argv + ["--out", args.out]


def _search(args: argparse.Namespace) -> int:
  import jax  # pylint: disable=import-outside-toplevel
  from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # pylint: disable=import-outside-toplevel

  from optix_evo.search.results import verdict, write_results  # pylint: disable=import-outside-toplevel

  if not args.coordinator and (args.num_processes is not None or args.process_id is not None):
    raise ValueError("--num-processes and --process-id need --coordinator HOST:PORT (process 0's address).")
  if args.coordinator:  # CPU hosts talk over gloo; GPU/TPU backends bring their own collectives
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)
  overrides = parse_overrides(args.set)
  for name, value in (("seed", args.seed), ("task", args.task), ("data_dir", args.data_dir)):
    if value is not None and name in overrides and overrides[name] != value:
      raise InputError(f"--{name.replace('_', '-')} {value!r} contradicts --set {name}={overrides[name]!r}; give one.")
    if value is not None:
      overrides[name] = value
  config = preset(args.preset, **overrides)
  args.seed = config.seed
  out = args.out or os.path.join("runs", f"search-{args.preset}-seed{args.seed}")
  args.out = out
  main_process = jax.process_index() == 0
  start = time.time()
  columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} candidates"),
             TextColumn("best {task.fields[best]}"), TextColumn("{task.fields[rate]} cand/s"), TimeElapsedColumn(),
             TextColumn("ETA"), TimeRemainingColumn()]
  with Progress(*columns, disable=not main_process or args.quiet) as progress:
    bar = progress.add_task("starting", total=total_candidates(config), best="-", rate="-")
    session = {"done0": None}

    def callback(info):
      if session["done0"] is None:
        session["done0"] = info["done"]
      elapsed = max(time.time() - start, 1e-9)
      rate = (info["done"] - session["done0"]) / elapsed
      if info["phase"] == "ga":
        desc = f"generation {info['generation'] + 1}/{config.steps + 1}"
      elif info["phase"] == "stage":
        desc = f"elimination stage {info['stage'] + 1}/{len(config.stages)}" + (f" {info['task']}" if "task" in info else "")
      else:
        desc = "compiling"
      best = info.get("best")
      progress.update(bar, completed=info.get("done", progress.tasks[0].completed), description=desc,
                      best=f"{best:.4f}" if best is not None else "-", rate=f"{rate:.2f}")

    result: SearchResult = run(config, out, resume=args.resume, callback=callback)
  seconds = time.time() - start
  if main_process:
    report = write_results(out, result, config, seconds=seconds)
    print(verdict(result))
    print(f"Rank correlation surrogate vs stage 1 (Spearman): {result.rank_correlation:.3f}")
    for rec in result.hall_of_fame[:3]:
      print(f"  #{rec['rank']}  {rec['stage_fitness'][-1]:.4f}  {rec['equation']}")
    print(f"Results: {out}/ (report: {report}); {seconds:.1f} s")
    _manifest(args, config, result)
  return 0


def _manifest(args: argparse.Namespace, config: SearchConfig, result: SearchResult) -> None:
  from optix_evo.diagnostics import manifest  # pylint: disable=import-outside-toplevel
  from optix_evo.search.results import beats_baseline  # pylint: disable=import-outside-toplevel
  from optix_evo.search.tasks import get_task  # pylint: disable=import-outside-toplevel

  split = get_task(config.task, seed=config.seed, data_dir=config.data_dir).split
  b = beats_baseline(result)
  manifest.write_manifest(
      args.out, argv=_argv(args), config=config.to_dict(), seeds=config.seed,
      data_fingerprint=manifest.fingerprint_arrays(split.train.x, split.train.y, split.valid.x, split.valid.y),
      headline={"best_surrogate_fitness": b["best_surrogate"], "best_final_fitness": b["best_final"],
                "baseline_final_fitness": b["baseline_final"]},
  )


def _transfer(args: argparse.Namespace) -> int:
  from optix_evo.search.transfer import format_table, transfer, write_transfer  # pylint: disable=import-outside-toplevel

  tasks = [t for t in args.tasks.split(",") if t]
  rows = transfer(args.run_dir, tasks, seeds=args.seeds, steps=args.steps, top=args.top,
                  lr_grid=tuple(float(v) for v in args.lr_grid.split(",")), data_dir=args.data_dir)
  out = args.out or args.run_dir
  header = (f"Top {args.top} of `{args.run_dir}` vs adam/adamw/sgd on {tasks}: {args.steps} steps, {args.seeds} seeds, "
            f"peak LR chosen from {args.lr_grid} by probes; test accuracy.")
  write_transfer(out, rows, header)
  print(format_table(rows))
  print(f"Written: {out}/transfer.md, {out}/transfer.json")
  return 0


def register(subparsers) -> None:
  p = subparsers.add_parser("search", help="neural optimizer search (particle GA + progressive elimination)")
  p.add_argument("--preset", default="quick", help=f"settings preset: {', '.join(sorted(PRESETS))} (default: quick)")
  p.add_argument("--task", default=None, help=f"proxy task: {', '.join(sorted(TASKS))}")
  p.add_argument("--seed", type=int, default=None, help="root seed (default: the preset's, 0)")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="override a setting, e.g. --set particles=8 --set lr_grid='(0.1, 0.01)' (repeatable)")
  p.add_argument("--out", default=None, metavar="DIR", help="results folder (default: runs/search-<preset>-seed<seed>)")
  p.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
  p.add_argument("--data-dir", default=None, help="folder with local data files (CIFAR-10 python pickles)")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                 help="multi-host: jax.distributed coordinator address, a free port on process 0's host (every process "
                      "runs the same command with its own --process-id; only process 0 writes --out)")
  p.add_argument("--num-processes", type=int, default=None, help="multi-host: number of processes")
  p.add_argument("--process-id", type=int, default=None, help="multi-host: this process's index, 0 .. N-1")
  p.set_defaults(func=_search)

  t = subparsers.add_parser("transfer", help="hall-of-fame optimizers vs adam/adamw/sgd on held-out tasks")
  t.add_argument("run_dir", help="results folder of a search")
  t.add_argument("--tasks", default="digits_convnet,mnist1d_mlp", help="comma-separated task names")
  t.add_argument("--seeds", type=int, default=5)
  t.add_argument("--steps", type=int, default=300)
  t.add_argument("--top", type=int, default=3, help="hall-of-fame members to evaluate")
  t.add_argument("--lr-grid", default="0.1,0.01,0.001", help="peak learning rates the probes choose from")
  t.add_argument("--data-dir", default=None)
  t.add_argument("--out", default=None, help="where transfer.md/json go (default: the run folder)")
  t.set_defaults(func=_transfer)
