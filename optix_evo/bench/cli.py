"""``optix-evo bench``: optimizer × task × seeds × hyperparameter grid, one compiled program per (optimizer, task).

Tasks are built-in names or your own ``MODULE:FUNCTION`` (a function ``make_task()``, ``make_task(seed)`` or
``make_task(seed, data_dir)`` returning an ``optix_evo.tasks.Task``; classification or regression). Settings are given
as flags or as ``--set KEY=VALUE`` (the flag's name with underscores, e.g. ``--set seeds=3``). Rows, tasks, the number
of steps and the memory the vmapped seeds × grid need are all checked before the results folder is opened or anything
compiled.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

from optix_evo.bench import core
from optix_evo.bench.rows import ROW_KINDS
from optix_evo.cli import apply_set, positive_int
from optix_evo.errors import InputError
from optix_evo.runs.folder import add_out_argument, open_run_folder
from optix_evo.runs.limits import MAX_STEPS, check_memory, check_steps, parameter_count
from optix_evo.tasks import TASKS

_SETTINGS = ("preset", "optimizers", "tasks", "lr_grid", "seeds", "steps", "batch_size", "data_dir", "main_only",
             "heuristics", "no_plots")


def _floats(text: str) -> tuple[float, ...]:
  """``--lr-grid``: comma-separated finite positive multipliers."""
  try:
    values = tuple(float(v) for v in text.split(",") if v.strip())
  except ValueError:
    raise InputError(f"--lr-grid expects comma-separated numbers, got {text!r}.") from None
  bad = [v for v in values if not (math.isfinite(v) and v > 0)]
  if bad or not values:
    raise InputError(f"--lr-grid expects finite learning-rate multipliers > 0, got {text!r}.")
  return values


def _names(text: str) -> tuple[str, ...]:
  return tuple(n.strip() for n in text.split(",") if n.strip())


def resolve_config(args: argparse.Namespace) -> core.BenchConfig:
  """The preset with the command line's overrides applied to its main (``lr``) study; ``--steps`` applies to all."""
  config = core.preset(args.preset)
  studies = []
  for study in config.studies:
    if study.name == "lr":
      study = dataclasses.replace(
          study,
          rows=_names(args.optimizers) or study.rows,
          tasks=_names(args.tasks) or study.tasks,
          axes={"lr": _floats(args.lr_grid)} if args.lr_grid else study.axes,
      )
    elif args.main_only:
      continue
    studies.append(dataclasses.replace(study, seeds=args.seeds or study.seeds))
  return dataclasses.replace(config, studies=tuple(studies), steps=args.steps or config.steps,
                             batch_size=args.batch_size or config.batch_size, data_dir=args.data_dir)


def check_sizes(plan, *, max_steps: int, available: int | None = None) -> None:
  """Refuses a cell whose training is longer than ``max_steps`` or whose vmapped seeds × grid points cannot fit in
  memory (:mod:`optix_evo.runs.limits`)."""
  for study, grid, _, task in plan:
    check_steps(task.steps, limit=max_steps, what=f"--steps (task {task.name})")
    check_memory(runs=study.seeds * grid.size, parameters=parameter_count(task), available=available,
                 what=f"--seeds {study.seeds} × {grid.size} grid points of study {study.name!r} on {task.name}")


def _cmd_bench(args: argparse.Namespace) -> int:
  from optix_evo.runs.manifest import command_argv, write_manifest  # pylint: disable=import-outside-toplevel

  if args.log_dir:
    from optix_evo import tensorboard  # pylint: disable=import-outside-toplevel

    tensorboard.require()
  apply_set(args, args.parser, _SETTINGS, what="bench")
  config = resolve_config(args)
  plan = core.plan_bench(config)  # rows built and tasks loaded: nothing compiled, nothing written
  check_sizes(plan, max_steps=args.max_steps)
  with open_run_folder(args.out, force=args.force, command="optix-evo bench"):
    results, elapsed, peak = core.timed_bench(config, args.out, title=f"optix-evo bench --preset {args.preset}",
                                              progress=not args.quiet, plots=not args.no_plots, plan=plan)
    if args.heuristics:
      from optix_evo.bench import heuristics  # pylint: disable=import-outside-toplevel
      from optix_evo.runs.folder import atomic_write_text, claim  # pylint: disable=import-outside-toplevel

      baselines = heuristics.compare_at_equal_time(steps=config.steps)
      claim(f"{args.out}/heuristics.csv")
      heuristics.write_csv(baselines, f"{args.out}/heuristics.csv")
      table = heuristics.markdown_table(baselines)
      with open(f"{args.out}/summary.md", encoding="utf-8") as f:
        summary = f.read()
      atomic_write_text(f"{args.out}/summary.md", summary + "\n## Gradient-free baselines at equal wall time "
                        "(compilation excluded)\n\n" + table + "\n")
      print(table)
    write_manifest(args.out, argv=command_argv("bench", args, args.parser), config=core.config_dict(config),
                   seeds={s.name: list(range(s.seeds)) for s in config.studies}, headline=core.headline(results))
  if args.log_dir:
    print(f"TensorBoard events: {tensorboard.bench_events(args.out, args.log_dir)}")
  print(f"{len(results)} cells in {elapsed:.0f} s, peak resident memory {peak:.0f} MiB (when training ended, as in "
        f"summary.md); results in {args.out}/")
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "bench", help="compare optimizers across model families (seeds and hyperparameter grids vmapped)",
      description=__doc__ + f" Row kinds: {', '.join(ROW_KINDS)} (e.g. adam, sam:adam@rho=0.1, genome:hof.json#0).",
  )
  parser.add_argument("--preset", choices=("quick", "full"), default="quick")
  add_out_argument(parser, default="bench_results")
  parser.add_argument("--optimizers", default="", help="comma-separated row specs for the main study")
  parser.add_argument("--tasks", default="",
                      help=f"comma-separated tasks for the main study: {', '.join(TASKS)}, or MODULE:FUNCTION")
  parser.add_argument("--lr-grid", default="", help="comma-separated learning-rate multipliers (× each row's default)")
  parser.add_argument("--seeds", type=positive_int, default=None, help="seeds per study (default: the preset's)")
  parser.add_argument("--steps", type=positive_int, default=None, help="training steps per run (default: each task's)")
  parser.add_argument("--max-steps", type=positive_int, default=MAX_STEPS, metavar="N",
                      help=f"refuse training runs longer than N steps (default: {MAX_STEPS})")
  parser.add_argument("--batch-size", type=positive_int, default=None, help="batch size (default: each task's)")
  parser.add_argument("--data-dir", default=None, metavar="DIR",
                      help="folder with local data files (the CIFAR-10 python batches, for cifar10_cnn)")
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help=f"override a setting ({', '.join(_SETTINGS)}), e.g. --set seeds=3 (repeatable)")
  parser.add_argument("--main-only", action="store_true", help="skip the β1×β2 and LR×weight-decay studies")
  parser.add_argument("--heuristics", action="store_true",
                      help="also train a DNM and a small MLP with PSO / DE / CMA-ES (evosax) at Adam's wall time")
  parser.add_argument("--no-plots", action="store_true")
  parser.add_argument("--quiet", action="store_true", help="no progress bar")
  parser.add_argument("--log-dir", default=None, metavar="DIR",
                      help="also write TensorBoard event files there (needs the tensorboard extra)")
  parser.set_defaults(func=_cmd_bench, parser=parser)
