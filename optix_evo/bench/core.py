"""The benchmark driver: presets of studies, the (study × row × task) loop with a progress bar, and the results folder.

A :class:`Study` is a set of optimizer rows × tasks trained over one hyperparameter grid and a number of seeds.
The main study is called ``"lr"`` (a learning-rate grid, as multipliers of each row's reference learning rate); the
sensitivity studies ``"b1b2"`` (Adam's β1 × β2) and ``"lrwd"`` (AdamW's learning rate × weight decay) give heatmaps.
"""

from __future__ import annotations

import dataclasses
import io
import json
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optix_evo.diagnostics.variability import plot_seed_variability
from optix_evo.bench import report
from optix_evo.bench.rows import check_buildable, parse_row
from optix_evo.bench.runner import CellResult, Grid, run_cell
from optix_evo.runs.folder import atomic_write_bytes, atomic_write_text
from optix_evo.tasks import Task, get_task, load_task_hook
from optix_evo.optimizers.registry import OPTIMIZERS

LR_GRID_5 = (0.1, 0.316, 1.0, 3.16, 10.0)
# The seeds' systems (full preset): NOS optimizers as the authors train them (Morgan & Hougen 2024; Opt9 and Opt10,
# the Nesterov family that led their search log, and Opt4, which carries learning-rate family 1), the three ALDVI
# rules on Adam, and LookSAM on Adam.
SEED_SYSTEMS = ("genome:known:nos_opt4@learning_rate=0.05", "genome:known:nos_opt9@learning_rate=0.05",
                "genome:known:nos_opt10@learning_rate=0.05", "aldvi:adam@rule=paper", "aldvi:adam@rule=trend",
                "aldvi:adam@rule=phased", "looksam:adam")
# The paper's schedule transfer: the base warmup / hold / cosine schedule and the nine evolved schedules on Adam and
# SGD with momentum.
SCHEDULE_ROWS = tuple(f"schedule:{s}:{opt}" for opt in ("adam", "momentum")
                      for s in ("warmup_hold_cosine", *(f"nos_lr{k}" for k in range(9))))


@dataclasses.dataclass(frozen=True)
class Study:
  """Rows × tasks over one grid (``axes``: name → values) and ``seeds`` seeds (0 .. seeds-1).

  Attributes:
    name: the study's name (``"lr"`` is the main study of the tables and plots; ``"b1b2"`` and ``"lrwd"`` give
      heatmaps).
    rows: optimizer row specs (:func:`parse_row`).
    tasks: task names (:data:`optix_evo.tasks.TASKS`).
    axes: the grid: hyperparameter name → values (``lr`` multiplies each row's reference learning rate).
    seeds: seeds per grid point.

  Examples:
    >>> import optix_evo.bench
    >>> study = optix_evo.bench.Study("lr", ("adam", "sam:adam"), ("iris_mlp",), {"lr": (0.3, 1.0, 3.0)}, seeds=2)
    >>> print(study.name, study.rows, study.seeds)
    lr ('adam', 'sam:adam') 2
  """

  name: str
  rows: tuple[str, ...]
  tasks: tuple[str, ...]
  axes: Mapping[str, tuple[float, ...]]
  seeds: int


@dataclasses.dataclass(frozen=True)
class BenchConfig:
  """A full benchmark: its studies and the overrides that apply to every task (``None`` = the task's default).

  Attributes:
    studies: the :class:`Study` list.
    steps: training steps of every task (``None``: each task's default).
    batch_size: batch size of every task (``None``: each task's default).
    curve_points: points of each stored training-loss curve.
    data_dir: folder with local data files (CIFAR-10).

  Examples:
    >>> import optix_evo.bench
    >>> study = optix_evo.bench.Study("lr", ("adam",), ("iris_mlp",), {"lr": (1.0,)}, seeds=1)
    >>> config = optix_evo.bench.BenchConfig((study,), steps=50)
    >>> print(len(config.studies), config.steps, config.curve_points)
    1 50 50
  """

  studies: tuple[Study, ...]
  steps: int | None = None
  batch_size: int | None = None
  curve_points: int = 50
  data_dir: str | None = None


def _available(names: Sequence[str]) -> tuple[str, ...]:
  return tuple(n for n in names if n in OPTIMIZERS or ":" in n)


def preset(name: str) -> BenchConfig:
  """``quick`` (a couple of minutes on 2 cores) or ``full`` (every model family, the zoo's main optimizers, a SAM row
  and the seeds' systems (:data:`SEED_SYSTEMS`), 5 seeds, a 5-point learning-rate grid; the schedule transfer study
  (:data:`SCHEDULE_ROWS`); β1×β2 and LR×weight-decay heatmaps).

  Args:
    name: ``"quick"`` or ``"full"``.

  Returns:
    The :class:`BenchConfig`.

  Raises:
    ValueError: for an unknown name.

  Examples:
    >>> import optix_evo.bench
    >>> config = optix_evo.bench.preset("quick")
    >>> print([(study.name, study.rows, study.seeds) for study in config.studies], config.steps)
    [('lr', ('sgd', 'momentum', 'adam'), 2), ('b1b2', ('adam',), 2), ('lrwd', ('adamw',), 2)] 150
  """
  if name == "quick":
    return BenchConfig((
        Study("lr", ("sgd", "momentum", "adam"), ("digits_mlp", "sbm_gcn", "iris_dnm"), {"lr": (0.1, 1.0, 10.0)}, 2),
        Study("b1b2", ("adam",), ("digits_mlp",), {"b1": (0.5, 0.9), "b2": (0.9, 0.999)}, 2),
        Study("lrwd", ("adamw",), ("digits_mlp",), {"lr": (0.3, 3.0), "weight_decay": (1e-4, 1e-1)}, 2),
    ), steps=150)
  if name == "full":
    rows = _available(("sgd", "momentum", "rmsprop", "adam", "adamw", "adabelief", "lion", "sam:adam")) + SEED_SYSTEMS
    tasks = ("digits_mlp", "digits_cnn", "mnist1d_transformer", "copy_transformer", "sbm_gcn", "iris_dnm", "mnist1d_gru",
             "adding_lstm")
    return BenchConfig((
        Study("lr", rows, tasks, {"lr": LR_GRID_5}, 5),
        Study("schedules", SCHEDULE_ROWS, ("digits_cnn", "mnist1d_mlp"), {"lr": (0.316, 1.0, 3.16)}, 3),
        Study("b1b2", ("adam",), ("mnist1d_mlp",), {"b1": (0.0, 0.5, 0.8, 0.9, 0.95), "b2": (0.9, 0.99, 0.999, 0.9999)}, 3),
        Study("lrwd", ("adamw",), ("mnist1d_mlp",), {"lr": LR_GRID_5, "weight_decay": (0.0, 1e-3, 1e-2, 1e-1)}, 3),
    ))
  raise ValueError(f"Unknown preset {name!r}. Known presets: quick, full.")


def peak_memory_mib() -> float:
  """Peak resident memory of this process so far (MiB): the one figure the bench reports (``summary.md`` and the
  command's last line give the same number, taken when training ended)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_task(reference: str, config: BenchConfig) -> Task:
  """A built-in task name or a ``MODULE:FUNCTION`` reference (:func:`optix_evo.tasks.load_task_hook`), with the
  config's ``steps`` and ``batch_size`` overrides (the batch capped at the training-set size)."""
  if ":" not in reference:
    return get_task(reference, steps=config.steps, batch_size=config.batch_size, data_dir=config.data_dir)
  task = load_task_hook(reference, data_dir=config.data_dir)
  batch = min(config.batch_size, task.train.num_examples) if config.batch_size else task.batch_size
  return dataclasses.replace(task, steps=config.steps or task.steps, batch_size=batch)


def plan_bench(config: BenchConfig) -> list[tuple[Study, Grid, Any, Task]]:
  """Validates every study (rows parsed and built, tasks loaded) and returns the cells to train, in order:
  ``(study, grid, row, task)``. Nothing is compiled.

  Raises:
    ValueError: for a study without seeds or grid points.
    InputError: for an unknown or malformed row or task.
  """
  plan = []
  for study in config.studies:
    grid = Grid({k: tuple(float(v) for v in vals) for k, vals in study.axes.items()})
    if study.seeds < 1 or grid.size < 1:
      raise ValueError(f"Study {study.name!r} needs at least one seed and one grid point.")
    rows = [parse_row(spec) for spec in study.rows]
    for row in rows:
      check_buildable(row, grid.arrays())
    problems = [load_task(t, config) for t in study.tasks]
    plan += [(study, grid, row, problem) for problem in problems for row in rows]
  return plan


def run_bench(
    config: BenchConfig,
    *,
    progress: bool = True,
    on_cell: Callable[[str, CellResult], None] | None = None,
    plan: Sequence[tuple[Study, Grid, Any, Task]] | None = None,
) -> list[tuple[str, CellResult]]:
  """Runs every (study, row, task) cell; each cell is one compiled program over grid × seeds.

  Rows and tasks are validated (parsed, built, loaded) before any training starts, so a typo fails in seconds.
  ``progress`` shows a progress bar; one line per finished cell is logged either way.

  Args:
    config: the benchmark.
    progress: show a progress bar.
    on_cell: called with ``(study name, cell)`` after every cell (:func:`timed_bench` writes partial tables).
    plan: :func:`plan_bench`'s cells, when the caller validated them already.

  Returns:
    ``(study name, CellResult)`` per cell, in order.

  Raises:
    ValueError: for a study without seeds or grid points.
    InputError: for an unknown row or task (before any training).

  Examples:
    Training takes a while (the ``quick`` preset: a couple of minutes on 2 cores; ``optix-evo bench --preset
    quick``), so this example is not run as a doctest:

    >>> import optix_evo.bench
    >>> study = optix_evo.bench.Study("lr", ("adam",), ("iris_mlp",), {"lr": (1.0,)}, seeds=1)
    >>> config = optix_evo.bench.BenchConfig((study,), steps=50)
    >>> results = optix_evo.bench.run_bench(config, progress=False)  # doctest: +SKIP
    >>> print([(study, cell.row, cell.task, cell.test.shape) for study, cell in results])  # doctest: +SKIP
    [('lr', 'adam', 'iris_mlp', (1, 1))]
  """
  plan = plan_bench(config) if plan is None else plan
  results = []
  from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # pylint: disable=import-outside-toplevel

  with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(), disable=not progress) as bar:
    job = bar.add_task("bench", total=len(plan))
    for study, grid, row, problem in plan:
      bar.update(job, description=f"{study.name}: {row.label} on {problem.name}")
      cell = run_cell(row, problem, grid, range(study.seeds), curve_points=config.curve_points)
      results.append((study.name, cell))
      bar.console.print(f"{study.name}: {row.label} on {problem.name}: {grid.size}×{study.seeds} runs, compile "
                      f"{cell.compile_s:.1f} s, run {cell.run_s:.1f} s, best test {problem.metric} "
                      f"{report.best_test(cell)[0]:.3f}")
      if on_cell is not None:
        on_cell(study.name, cell)
      bar.advance(job)
  return results


def write_results(
    results: Sequence[tuple[str, CellResult]], out: str | Path, *, title: str, notes: Sequence[str] = (), plots: bool = True
) -> list[Path]:
  """Writes ``results.csv``, ``timings.csv``, ``summary.md`` (with the seed study), ``curves.npz`` and the plots.

  Args:
    results: what :func:`run_bench` returned.
    out: the results folder (created if needed).
    title: the title of ``summary.md``.
    notes: lines added to the summary.
    plots: also draw the figures (loss curves, LR sensitivity, ranking, seed variability, heatmaps).

  Returns:
    The paths written.

  Examples:
    After :func:`run_bench` (not run as a doctest):

    >>> optix_evo.bench.write_results(results, "runs/bench", title="my bench")  # doctest: +SKIP
  """
  out = Path(out)
  out.mkdir(parents=True, exist_ok=True)
  written = [out / "results.csv", out / "timings.csv", out / "summary.md", out / "curves.npz"]
  report.write_csv(results, written[0])
  report.write_timings(results, written[1])
  atomic_write_text(written[2], report.markdown_summary(results, title=title, notes=notes))
  curves = io.BytesIO()
  np.savez_compressed(curves, **{f"{s}/{c.task}/{c.row}": c.curves for s, c in results})
  atomic_write_bytes(written[3], curves.getvalue())
  if not plots:
    return written
  main = [c for s, c in results if s == "lr"]
  if main:
    written += [out / "loss_curves.png", out / "lr_sensitivity.png", out / "ranking.png", out / "seed_variability.png"]
    report.plot_loss_curves(main, written[-4])
    report.plot_lr_sensitivity(main, written[-3])
    report.plot_ranking(main, written[-2])
    plot_seed_variability(report.seed_results(main), written[-1], metric="test metric at the best LR")
  for study, x_axis, y_axis, name in (("b1b2", "b1", "b2", "heatmap_b1_b2"), ("lrwd", "lr", "weight_decay", "heatmap_lr_wd")):
    for cell in (c for s, c in results if s == study):
      written.append(out / f"{name}_{cell.task}_{cell.row}.png".replace(":", "-"))
      report.plot_heatmap(cell, x_axis, y_axis, written[-1])
  return written


def config_dict(config: BenchConfig) -> dict[str, Any]:
  """JSON-ready form of ``config`` (for the run manifest)."""
  return json.loads(json.dumps(dataclasses.asdict(config)))


def headline(results: Sequence[tuple[str, CellResult]]) -> dict[str, float]:
  """``test/<task>/<optimizer>`` → test metric at the best learning rate, for the main study (the manifest's figures)."""
  return {f"test/{c.task}/{c.row}": report.best_test(c)[0] for s, c in results if s == "lr"}


def timed_bench(config: BenchConfig, out: str | Path, *, title: str, progress: bool = True, plots: bool = True,
                plan: Sequence[tuple[Study, Grid, Any, Task]] | None = None):
  """:func:`run_bench` + :func:`write_results`, noting the wall time and peak memory in the summary.

  The tables are rewritten after every cell, so an interrupted run leaves the finished cells.

  Args:
    config: the benchmark.
    out: the results folder.
    title: the title of ``summary.md``.
    progress: show a progress bar.
    plots: draw the figures at the end.
    plan: :func:`plan_bench`'s cells, when the caller validated them already.

  Returns:
    ``(results, wall seconds, peak resident memory in MiB when training ended)``: the figures of ``summary.md``.

  Examples:
    What ``optix-evo bench --preset quick --out runs/bench`` does (minutes; not run as a doctest):

    >>> results, seconds = optix_evo.bench.timed_bench(optix_evo.bench.preset("quick"), "runs/bench",
    ...                                                title="quick")  # doctest: +SKIP
  """
  start, cpu_start = time.perf_counter(), time.process_time()
  done: list[tuple[str, CellResult]] = []

  def checkpoint(study: str, cell: CellResult) -> None:  # tables after every cell, so an interrupted run leaves them
    done.append((study, cell))
    write_results(done, out, title=f"{title} (partial: {len(done)} cells)", plots=False)

  results = run_bench(config, progress=progress, on_cell=checkpoint, plan=plan)
  elapsed, cpu, peak = time.perf_counter() - start, time.process_time() - cpu_start, peak_memory_mib()
  notes = [f"Wall time {elapsed:.0f} s for training (compile + run; CPU time of this process {cpu:.0f} s), "
           f"peak resident memory {peak:.0f} MiB (of the whole process, when training ended)."]
  write_results(results, out, title=title, notes=notes, plots=plots)
  return results, elapsed, peak
