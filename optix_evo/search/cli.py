"""``optix-evo search`` (neural optimizer search) and ``optix-evo transfer`` (found and known optimizers against
tuned baselines on tasks of your choice).

Your own model and data: ``--task my_module:make_task``, where ``make_task()``, ``make_task(seed)`` or
``make_task(seed, data_dir)`` in your module returns an ``optix_evo.tasks.Task`` (for example
``Task.from_model(name, flax_module, split)``); the module is imported from the current directory or ``PYTHONPATH``.
Search and transfer rank optimizers by test accuracy, so their tasks must be classification tasks (a regression task,
scored by its loss, is refused before anything is compiled; ``optix-evo bench`` trains regression tasks).

Everything is validated before the results folder is created or any program compiled: the settings, every task
(import, signature, type, classification), held-out tasks against the search task, and the sizes (the longest training
run against ``--max-steps``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import os
import time
from typing import Any

from optix_evo.cli import apply_set, nonnegative_int, parse_set, positive_float, positive_int
from optix_evo.errors import InputError
from optix_evo.runs.folder import add_out_argument, check_out_dir, open_run_folder
from optix_evo.runs.limits import MAX_STEPS, check_steps
from optix_evo.search.config import PRESETS, SearchConfig, Stage, baseline_optimizer, preset
from optix_evo.tasks import TASKS

MAX_GENERATIONS = 100_000
"""The most GA generations (``--set steps=``) accepted unless ``--max-steps`` is raised above it."""

_TEXT = ("task", "space", "strategy", "population_loop", "normalise")
_OPTIONAL_TEXT = ("pool_task", "data_dir")
_FLOATS = ("probe_min_accuracy", "best_probe_min_accuracy", "run_min_accuracy")
_FLOAT_TUPLES = ("lr_grid", "final_lr_grid")
_TEXT_TUPLES = ("holdout_tasks", "baselines", "references", "family")
_BOOLS = ("warm_start",)
_OPTIONAL_INTS = ("pool_surrogate_steps", "chunk_size")
_STAGE_INTS = {"steps": False, "seeds": False, "keep": False, "probe_steps": True}  # name -> may be None


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _stages(text: str, value: Any) -> tuple[Stage, ...]:
  """``--set stages=...``: a tuple of dicts with :class:`~optix_evo.search.config.Stage` fields."""
  if not isinstance(value, (list, tuple)) or not value or not all(isinstance(s, dict) for s in value):
    raise InputError(f"--set stages={text!r}: expected a tuple of dicts, e.g. ({{'steps': 300, 'seeds': 2, 'keep': 4}},).")
  stages = []
  for i, s in enumerate(value, 1):
    unknown = sorted(map(str, set(s) - set(_STAGE_INTS)))
    if unknown:
      raise InputError(f"--set stages: stage {i} has unknown field(s) {unknown}; known: {', '.join(_STAGE_INTS)}.")
    if "steps" not in s:
      raise InputError(f"--set stages: stage {i} needs 'steps'.")
    for name, optional in _STAGE_INTS.items():
      if name in s and not (_is_int(s[name]) or (optional and s[name] is None)):
        raise InputError(f"--set stages: stage {i} field {name!r} must be an integer, got {s[name]!r}.")
    stages.append(Stage(**s))
  return tuple(stages)


def _parse_value(name: str, text: str) -> Any:
  if name in _TEXT:
    return text
  if name in _OPTIONAL_TEXT:
    return None if text == "None" else text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
    if name in _TEXT_TUPLES:  # a comma-separated list without quotes
      return tuple(t.strip() for t in text.split(",") if t.strip())
    raise InputError(f"--set {name}={text!r}: not a Python literal (e.g. 8, 0.1, (0.1, 0.01), None).") from None
  if name == "stages":
    return _stages(text, value)
  if name in _FLOAT_TUPLES:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
                             for v in values):
      raise InputError(f"--set {name}={text!r}: expected positive learning rates, e.g. (0.1, 0.01).")
    return tuple(float(v) for v in values)
  if name in _TEXT_TUPLES:
    values = (value,) if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
      raise InputError(f"--set {name}={text!r}: expected names, e.g. ('adam', 'sgd') or adam,sgd.")
    return tuple(values)
  if name in _BOOLS:
    if not isinstance(value, bool):
      raise InputError(f"--set {name}={text!r}: expected True or False.")
    return value
  if name in _FLOATS:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
      raise InputError(f"--set {name}={text!r}: expected an accuracy in [0, 1].")
    return float(value)
  if not (_is_int(value) or (name in _OPTIONAL_INTS and value is None)):
    raise InputError(f"--set {name}={text!r}: expected an integer{' or None' if name in _OPTIONAL_INTS else ''}.")
  return value


def parse_overrides(items: list[str]) -> dict[str, Any]:
  """``["particles=8", "lr_grid=(0.1, 0.01)"]`` → typed overrides of :class:`~optix_evo.search.config.SearchConfig`.

  Raises:
    InputError: for a malformed item, an unknown or repeated setting, or a value of the wrong type.
  """
  fields = [f.name for f in dataclasses.fields(SearchConfig)]
  return {name: _parse_value(name, text) for name, text in parse_set(items, fields, what="search").items()}


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
  overrides = parse_overrides(args.set)
  for name, value in (("seed", args.seed), ("task", args.task), ("data_dir", args.data_dir)):
    if value is not None and name in overrides and overrides[name] != value:
      raise InputError(f"--{name.replace('_', '-')} {value!r} contradicts --set {name}={overrides[name]!r}; give one.")
    if value is not None:
      overrides[name] = value
  return overrides


def resolve_config(args: argparse.Namespace) -> SearchConfig:
  """The run's configuration: the preset with the flags' settings, or with ``--resume`` the checkpoint's (flags may
  repeat a stored setting; one that contradicts it is an error naming both values)."""
  overrides = _flag_overrides(args)
  if not args.resume:
    return preset(args.preset or "quick", **overrides)
  from optix_evo.search.driver import stored_config  # pylint: disable=import-outside-toplevel
  stored = stored_config(args.out)
  wanted = preset(args.preset, **overrides) if args.preset else dataclasses.replace(stored, **overrides)
  diff = stored.differences(wanted)
  if diff:
    raise InputError(f"--resume: {args.out} holds a search with other settings: "
                     + "; ".join(f"{k} is {a!r} in the checkpoint but {b!r} here" for k, a, b in diff)
                     + ". Drop those flags (the checkpoint's settings are used) or start a new --out.")
  return stored


def _set_devices(count: int | None) -> None:
  """Use ``count`` CPU devices (default: one per core) so that populations are spread over all cores; a no-op when
  the user set XLA's device count or JAX already started."""
  import jax  # pylint: disable=import-outside-toplevel
  if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return
  try:
    jax.config.update("jax_num_cpu_devices", count or os.cpu_count() or 1)
  except RuntimeError:  # the backend is already running (e.g. main() called from a program that used JAX)
    pass


def _setup_jax(args: argparse.Namespace) -> None:
  import jax  # pylint: disable=import-outside-toplevel

  from optix_evo.compilation import enable_persistent_cache  # pylint: disable=import-outside-toplevel

  if not args.coordinator and (args.num_processes is not None or args.process_id is not None):
    raise InputError("--num-processes and --process-id need --coordinator HOST:PORT (process 0's address).")
  if args.coordinator:  # CPU hosts talk over gloo; GPU/TPU backends bring their own collectives
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)
  else:
    _set_devices(args.devices)
  if not args.no_compile_cache:
    enable_persistent_cache(args.compile_cache)


def check_tasks(references, *, seed: int, data_dir: str | None, what: str = "--task") -> None:
  """Loads every task (import, signature, type) and refuses one that is not scored by accuracy, before anything is
  compiled or written: search and transfer rank optimizers by test accuracy."""
  from optix_evo.tasks import resolve_task  # pylint: disable=import-outside-toplevel

  for reference in references:
    task = resolve_task(reference, seed=seed, data_dir=data_dir)
    if task.metric != "accuracy":
      raise InputError(f"{what} {reference!r} is a regression task (scored by its {task.metric}); search and transfer "
                       "rank optimizers by test accuracy, so they need classification tasks (optix-evo bench trains "
                       "regression tasks).")


def check_search(config: SearchConfig, max_steps: int) -> None:
  """Everything about a search's settings that can be refused before its folder is opened (see the module doc)."""
  check_steps(config.max_steps, limit=max_steps, what="the longest training run of these settings has")
  check_steps(config.steps, limit=MAX_GENERATIONS if max_steps <= MAX_STEPS else max_steps,
              what="--set steps= (GA generations)", unit="generations")
  references = [r for r in (config.task, config.pool_task, *config.holdout_tasks) if r is not None]
  check_tasks(references, seed=config.seed, data_dir=config.data_dir)


def _cmd_search(args: argparse.Namespace) -> int:
  import jax  # pylint: disable=import-outside-toplevel
  from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # pylint: disable=import-outside-toplevel

  from optix_evo.runs.manifest import command_argv  # pylint: disable=import-outside-toplevel
  from optix_evo.search.checkpoint import broadcast_from_process_zero  # pylint: disable=import-outside-toplevel
  from optix_evo.search.driver import CHECKPOINT, HISTORY, Search  # pylint: disable=import-outside-toplevel
  from optix_evo.search.results import (  # pylint: disable=import-outside-toplevel
      holm_sentences, timing_sentence, verdict_sentences, write_results,
  )

  if args.out is None:
    raise InputError("--out DIR is required: the results folder (a new or empty one, or one to --resume).")
  if args.log_dir:
    from optix_evo import tensorboard  # pylint: disable=import-outside-toplevel

    tensorboard.require()
  _setup_jax(args)
  main_process = jax.process_index() == 0
  if main_process:  # a folder in use, or one that cannot be written into, is refused first (nothing is written)
    check_out_dir(args.out, force=args.force, resume=args.resume, checkpoint_name=CHECKPOINT)
  config = SearchConfig.from_dict(broadcast_from_process_zero(lambda: resolve_config(args).to_dict()))
  check_search(config, args.max_steps)  # before the folder is opened or anything compiled
  if args.resume and main_process:  # every array of the checkpoint, against the shape and dtype it must have
    from optix_evo.search.checkpoint import check_state_arrays, load_checkpoint  # pylint: disable=import-outside-toplevel

    path = os.path.join(args.out, CHECKPOINT)
    check_state_arrays(load_checkpoint(path), space=config.space, source=path)
  folder = None
  if main_process:
    folder = open_run_folder(args.out, force=args.force, resume=args.resume, checkpoint_name=CHECKPOINT,
                             command="optix-evo search")
    folder.claim(HISTORY)  # the driver appends to it
  argv = command_argv("search", args, args.parser)
  columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
             TextColumn("best {task.fields[best]}"), TimeElapsedColumn()]
  with folder or contextlib.nullcontext(), Progress(*columns, disable=not main_process or args.quiet) as progress:
    bar = progress.add_task("compiling and starting", total=None, best="-")

    def callback(info: dict[str, Any]) -> None:
      labels = {"search": "generation", "elimination": "elimination stage", "final": "final comparison"}
      best = info.get("best")
      progress.update(bar, description=labels[info["phase"]], completed=info["done"], total=info["total"],
                      best=f"{best:.4f}" if best is not None else "-")

    search = Search(config, args.out, resume=args.resume, callback=callback)
    result = search.run()
    if main_process:
      report = write_results(args.out, result, config, argv=argv if not args.resume else None)
  if main_process:
    for line in verdict_sentences(result) + holm_sentences(result):
      print(line.replace("**", ""))
    rc = result.rank_correlation
    if rc:
      print(f"Surrogate vs stage 1 rank correlation (Spearman, {rc['n']} candidates): {rc['estimate']:.3f} "
            f"[{rc['low']:.3f}, {rc['high']:.3f}]")
    for rec in result.hall_of_fame[:3]:
      print(f"  #{rec['rank']}  {rec['equation'].splitlines()[0]}")
    if args.log_dir:
      print(f"TensorBoard events: {tensorboard.search_events(args.out, args.log_dir)}")
    print(f"Results: {report}")
    print(timing_sentence(result.timing).replace("`", ""))
  return 0


def _cmd_transfer(args: argparse.Namespace) -> int:
  if args.preset is not None:  # the paper's transfer experiments: commands and GPU hours, nothing trained
    from optix_evo.search.transfer import format_plan, paper_plan  # pylint: disable=import-outside-toplevel
    print(format_plan(paper_plan(data_dir=args.data_dir or "DATA", out=args.out or "runs/transfer",
                                 gpu_tflops=args.gpu_tflops), args.gpu_tflops), end="")
    return 0
  if args.out is None:
    raise InputError("--out DIR is required (or --preset paper to list the paper's commands).")
  import jax  # pylint: disable=import-outside-toplevel

  from optix_evo.compilation import CompileLog  # pylint: disable=import-outside-toplevel
  from optix_evo.runs import manifest  # pylint: disable=import-outside-toplevel
  from optix_evo.search.transfer import format_tables, transfer, write_transfer  # pylint: disable=import-outside-toplevel

  names = lambda text: tuple(t.strip() for t in text.split(",") if t.strip())  # noqa: E731
  apply_set(args, args.parser, _TRANSFER_SETTINGS, what="transfer")
  lr_grid = _lr_grid(args.lr_grid)
  check_steps(args.steps, limit=args.max_steps)
  _setup_jax(args)
  if not names(args.tasks):
    raise InputError("Give at least one task (--tasks).")
  check_tasks(names(args.tasks), seed=args.seed, data_dir=args.data_dir, what="--tasks")
  for name in names(args.baselines):
    baseline_optimizer(name)
  with (open_run_folder(args.out, force=args.force, command="optix-evo transfer") if jax.process_index() == 0
        else contextlib.nullcontext()):
    start = time.perf_counter()
    with CompileLog() as log:
      result = transfer(names(args.tasks), run_dir=args.run_dir, top=args.top, references=names(args.references),
                        baselines=names(args.baselines), seeds=args.seeds, steps=args.steps, lr_grid=lr_grid,
                        data_dir=args.data_dir, seed=args.seed,
                        chunk_size=args.chunk_size)
    timing = {"wall_s": time.perf_counter() - start, **log.summary()}
    result["timing"] = timing
    header = (f"{'Top ' + str(args.top) + ' of `' + args.run_dir + '`, ' if args.run_dir else ''}references "
              f"{list(names(args.references))} vs tuned {list(names(args.baselines))}: {args.steps} steps (warmup "
              f"T/15, hold 2T/15, cosine), {args.seeds} seeds, peak learning rate tuned on {list(lr_grid)}; test "
              f"accuracy. Wall {timing['wall_s']:.1f} s, of which compiling and tracing "
              f"{timing['compile_and_trace_s']:.1f} s.")
    if jax.process_index() == 0:
      write_transfer(args.out, result, header)
      headline = {f"{task}_{c['optimizer']}_vs_{c['baseline']}": c["difference"]["estimate"]
                  for task, table in result["tasks"].items() for c in table["comparisons"]}
      config = {k: v for k, v in vars(args).items() if k not in ("func", "argv", "debug", "parser", "set")}
      manifest.write_manifest(args.out, argv=manifest.command_argv("transfer", args, args.parser), config=config,
                              seeds=args.seed, headline=headline, timing=timing)
  print(format_tables(result))
  print(f"Written: {args.out}/transfer.md, {args.out}/transfer.json")
  return 0


def _lr_grid(text: str) -> tuple[float, ...]:
  try:
    values = tuple(float(v) for v in text.split(",") if v.strip())
  except ValueError:
    raise InputError(f"--lr-grid expects comma-separated learning rates, got {text!r}.") from None
  if not values or not all(0 < v < float("inf") for v in values):
    raise InputError(f"--lr-grid expects finite learning rates > 0, got {text!r}.")
  return values


_TRANSFER_SETTINGS = ("run_dir", "tasks", "top", "references", "baselines", "seeds", "steps", "lr_grid", "seed",
                      "data_dir")


def _add_jax_arguments(p: argparse.ArgumentParser) -> None:
  p.add_argument("--devices", type=positive_int, default=None,
                 help="CPU devices the runs are spread over (default: one per core)")
  p.add_argument("--compile-cache", default=None, metavar="DIR",
                 help="JAX's persistent compilation cache (default: ~/.cache/optix_evo/xla); a second run loads its "
                      "programs from it instead of compiling them")
  p.add_argument("--no-compile-cache", action="store_true", help="compile every program afresh")
  p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                 help="multi-host: jax.distributed coordinator address, a free port on process 0's host (every process "
                      "runs the same command with its own --process-id; only process 0 writes --out)")
  p.add_argument("--num-processes", type=positive_int, default=None, help="multi-host: number of processes")
  p.add_argument("--process-id", type=nonnegative_int, default=None, help="multi-host: this process's index, 0 .. N-1")
  p.add_argument("--max-steps", type=positive_int, default=MAX_STEPS, metavar="N",
                 help=f"refuse training runs longer than N steps (default: {MAX_STEPS})")


def register(subparsers) -> None:
  p = subparsers.add_parser("search", help="neural optimizer search (particle GA, elimination, tuned comparison)")
  p.add_argument("--preset", default=None, help=f"settings preset: {', '.join(sorted(PRESETS))} (default: quick)")
  p.add_argument("--task", default=None,
                 help=f"search task: {', '.join(sorted(TASKS))}, or MODULE:FUNCTION, a function make_task(), "
                      "make_task(seed) or make_task(seed, data_dir) returning an optix_evo.tasks.Task "
                      "(classification: the search ranks by accuracy)")
  p.add_argument("--seed", type=nonnegative_int, default=None, help="root seed (default: the preset's, 0)")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="override a setting, e.g. --set particles=8 --set lr_grid='(0.1, 0.01)' (repeatable)")
  add_out_argument(p, required=False)
  p.add_argument("--resume", action="store_true",
                 help="continue the search checkpointed in --out, with its settings")
  p.add_argument("--data-dir", default=None, metavar="DIR", help="folder with local data files (CIFAR-10 pickles)")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  p.add_argument("--log-dir", default=None, metavar="DIR",
                 help="also write TensorBoard event files there (needs the tensorboard extra)")
  _add_jax_arguments(p)
  p.set_defaults(func=_cmd_search, parser=p)

  t = subparsers.add_parser("transfer", help="found and known optimizers vs tuned baselines, the paper's final runs")
  t.add_argument("--run-dir", default=None, metavar="DIR", help="results folder of a search whose hall of fame to include")
  t.add_argument("--tasks", default="digits_mlp,mnist1d_mlp",
                 help="comma-separated classification tasks: built-in names or MODULE:FUNCTION")
  t.add_argument("--top", type=positive_int, default=3, help="hall-of-fame members to evaluate")
  t.add_argument("--references", default="", help="known optimizers to include, e.g. nos_opt1,nos_opt9")
  t.add_argument("--baselines", default="adam,adamw,sgd",
                 help="tuned baselines: adam, adamw, sgd (genomes) or zoo optimizers (prodigy, muon, zoo:adam, ...)")
  t.add_argument("--seeds", type=positive_int, default=5)
  t.add_argument("--steps", type=positive_int, default=300)
  t.add_argument("--lr-grid", default="0.1,0.01,0.001", help="peak learning rates every optimizer is tuned on")
  t.add_argument("--seed", type=nonnegative_int, default=0)
  t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help=f"override a setting ({', '.join(_TRANSFER_SETTINGS)}), e.g. --set seeds=3 (repeatable)")
  t.add_argument("--data-dir", default=None, metavar="DIR")
  add_out_argument(t, required=False)
  t.add_argument("--chunk-size", type=positive_int, default=None,
                 help="runs trained at once per GPU/TPU (1 for EfficientNetV2-S; default: all of a device's share)")
  t.add_argument("--preset", choices=("paper",), default=None,
                 help="paper: print the commands of the NOS paper's transfer tables with estimated GPU hours "
                      "(trains nothing)")
  t.add_argument("--gpu-tflops", type=positive_float, default=100.0,
                 help="with --preset: the sustained TFLOP/s the GPU-hour estimate assumes (default 100)")
  _add_jax_arguments(t)
  t.set_defaults(func=_cmd_transfer, parser=t)
