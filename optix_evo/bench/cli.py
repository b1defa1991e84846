"""``optix-evo bench``: optimizer × task × seeds × hyperparameter grid, one compiled program per (optimizer, task)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math

from optix_evo.bench import core
from optix_evo.bench.rows import ROW_KINDS
from optix_evo.tasks import TASKS
from optix_evo.cli import positive_int
from optix_evo.errors import InputError
from optix_evo.run_folder import add_force_argument, prepare_out_dir


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


def _argv(args: argparse.Namespace) -> list[str]:
  argv = ["bench", "--preset", args.preset, "--out", args.out]
  for flag, value in (("--optimizers", args.optimizers), ("--tasks", args.tasks), ("--lr-grid", args.lr_grid),
                      ("--seeds", args.seeds), ("--steps", args.steps), ("--batch-size", args.batch_size),
                      ("--data-dir", args.data_dir)):
    if value:
      argv += [flag, str(value)]
  flags = (("--main-only", args.main_only), ("--heuristics", args.heuristics), ("--no-plots", args.no_plots))
  return argv + [flag for flag, on in flags if on]


def _run(args: argparse.Namespace) -> int:
  if args.log_dir:
    from optix_evo import tensorboard  # pylint: disable=import-outside-toplevel

    tensorboard.require()
  config = resolve_config(args)
  prepare_out_dir(args.out, force=args.force)
  results, elapsed = core.timed_bench(config, args.out, title=f"optix-evo bench --preset {args.preset}",
                                      progress=not args.quiet, plots=not args.no_plots)
  if args.heuristics:
    from optix_evo.bench import heuristics  # pylint: disable=import-outside-toplevel

    baselines = heuristics.compare_at_equal_time(steps=config.steps)
    heuristics.write_csv(baselines, f"{args.out}/heuristics.csv")
    table = heuristics.markdown_table(baselines)
    with open(f"{args.out}/summary.md", "a") as f:
      f.write("\n## Gradient-free baselines at equal wall time (compilation excluded)\n\n" + table + "\n")
    print(table)
  if importlib.util.find_spec("optix_evo.diagnostics.manifest") is not None:
    from optix_evo.diagnostics.manifest import write_manifest  # pylint: disable=import-outside-toplevel

    write_manifest(args.out, argv=_argv(args), config=core.config_dict(config),
                   seeds={s.name: list(range(s.seeds)) for s in config.studies}, headline=core.headline(results))
  if args.log_dir:
    print(f"TensorBoard events: {tensorboard.bench_events(args.out, args.log_dir)}")
  print(f"{len(results)} cells in {elapsed:.0f} s, peak memory {core.peak_memory_mib():.0f} MiB; results in {args.out}/")
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      "bench", help="compare optimizers across model families (seeds and hyperparameter grids vmapped)",
      description=__doc__ + f" Row kinds: {', '.join(ROW_KINDS)} (e.g. adam, sam:adam@rho=0.1, genome:hof.json#0).",
  )
  parser.add_argument("--preset", choices=("quick", "full"), default="quick")
  parser.add_argument("--out", default="bench_results", metavar="DIR",
                      help="results folder, new or empty (default: bench_results)")
  add_force_argument(parser)
  parser.add_argument("--optimizers", default="", help="comma-separated row specs for the main study")
  parser.add_argument("--tasks", default="", help=f"comma-separated tasks for the main study; known: {', '.join(TASKS)}")
  parser.add_argument("--lr-grid", default="", help="comma-separated learning-rate multipliers (× each row's default)")
  parser.add_argument("--seeds", type=positive_int, default=None, help="seeds per study (default: the preset's)")
  parser.add_argument("--steps", type=positive_int, default=None, help="training steps per run (default: each task's)")
  parser.add_argument("--batch-size", type=positive_int, default=None, help="batch size (default: each task's)")
  parser.add_argument("--data-dir", default=None, metavar="DIR",
                      help="folder with local data files (the CIFAR-10 python batches, for cifar10_cnn)")
  parser.add_argument("--main-only", action="store_true", help="skip the β1×β2 and LR×weight-decay studies")
  parser.add_argument("--heuristics", action="store_true",
                      help="also train a DNM and a small MLP with PSO / DE / CMA-ES (evosax) at Adam's wall time")
  parser.add_argument("--no-plots", action="store_true")
  parser.add_argument("--quiet", action="store_true", help="no progress bar")
  parser.add_argument("--log-dir", default=None, metavar="DIR",
                      help="also write TensorBoard event files there (needs the tensorboard extra)")
  parser.set_defaults(func=_run)
