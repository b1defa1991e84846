"""Tables and plots of a benchmark run: CSV, markdown (mean ± sample std over seeds, ranks, best hyperparameters) and
PNG figures. Every standard deviation is the sample one (``ddof=1``, :data:`STD`), named in each table."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from optix_evo.bench.runner import CellResult
from optix_evo.diagnostics.variability import seed_variability, seed_variability_table
from optix_evo.runs.folder import atomic_write_figure, atomic_write_text


def _score(cell: CellResult, values: np.ndarray) -> np.ndarray:
  """Higher is better: accuracy as is, loss negated; non-finite values score −inf (diverged runs rank last)."""
  scores = values if cell.metric == "accuracy" else -values
  return np.where(np.isfinite(scores), scores, -np.inf)


def best_index(cell: CellResult) -> int:
  """The grid point with the best mean validation score over seeds (diverged seeds count as −inf)."""
  return int(np.argmax(_score(cell, cell.valid).mean(axis=1)))


STD = "sample std over seeds (n − 1)"
"""The one standard deviation of every bench table (and of the seed-variability table): the sample standard deviation,
``ddof=1`` (0 for a single seed)."""


def sample_std(values: np.ndarray) -> float:
  """:data:`STD`: the sample standard deviation of ``values`` (``ddof=1``; 0 for a single value)."""
  values = np.asarray(values, dtype=float)
  return float(np.std(values, ddof=1)) if values.size > 1 else 0.0


def _sample_std_along(values: np.ndarray, axis: int) -> np.ndarray:
  """:data:`STD` along ``axis`` ignoring NaNs (0 where fewer than two values are finite)."""
  values = np.asarray(values, dtype=float)
  count = np.sum(np.isfinite(values), axis=axis)
  with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
    warnings.simplefilter("ignore", RuntimeWarning)  # slices with fewer than two finite values: 0 below
    std = np.nanstd(values, axis=axis, ddof=1)
  return np.where(count > 1, std, 0.0)


def best_test(cell: CellResult) -> tuple[float, float]:
  """Test metric (mean, :data:`STD`) at the best-validation grid point."""
  values = cell.test[best_index(cell)]
  return float(np.mean(values)), sample_std(values)


def seed_results(cells: Sequence[CellResult]) -> dict[str, np.ndarray]:
  """The seed study: ``"task / optimizer"`` → test metric of every seed at the best-validation grid point."""
  return {f"{c.task} / {c.row}": c.test[best_index(c)] for c in cells}


@contextlib.contextmanager
def _atomic_csv(path: Path):
  """A text buffer written to ``path`` atomically when the block ends (:func:`optix_evo.runs.folder.atomic_write_text`)."""
  buffer = io.StringIO(newline="")
  yield buffer
  atomic_write_text(path, buffer.getvalue())


def _format_point(point: dict[str, float]) -> str:
  return ", ".join(f"{k}={v:.3g}" for k, v in point.items())


def write_csv(cells: Sequence[tuple[str, CellResult]], path: Path) -> None:
  """One line per (study, task, optimizer, grid point, seed)."""
  axes = sorted({name for _, cell in cells for name in cell.grid.axes})
  with _atomic_csv(path) as f:
    writer = csv.writer(f)
    writer.writerow(["study", "task", "family", "optimizer", *axes, "seed", "metric", "valid", "test", "final_train_loss"])
    for study, cell in cells:
      for g, point in enumerate(cell.grid.points):
        for s, seed in enumerate(cell.seeds):
          writer.writerow([study, cell.task, cell.family, cell.row, *(point.get(a, "") for a in axes), seed, cell.metric,
                           f"{cell.valid[g, s]:.6g}", f"{cell.test[g, s]:.6g}", f"{cell.final_loss[g, s]:.6g}"])


def write_timings(cells: Sequence[tuple[str, CellResult]], path: Path) -> None:
  with _atomic_csv(path) as f:
    writer = csv.writer(f)
    writer.writerow(["study", "task", "optimizer", "grid_points", "seeds", "compiles", "compile_s", "run_s"])
    for study, c in cells:
      writer.writerow([study, c.task, c.row, c.grid.size, len(c.seeds), c.compiles, f"{c.compile_s:.3f}", f"{c.run_s:.3f}"])


def ranks(cells: Sequence[CellResult]) -> dict[str, dict[str, float]]:
  """Task → optimizer → rank (1 = best test metric at its best-validation point; ties share the mean rank)."""
  by_task: dict[str, dict[str, float]] = defaultdict(dict)
  for cell in cells:
    mean, _ = best_test(cell)
    by_task[cell.task][cell.row] = mean if cell.metric == "accuracy" else -mean
  out = {}
  for task, scores in by_task.items():
    names = list(scores)
    values = np.array([scores[n] if math.isfinite(scores[n]) else -np.inf for n in names])
    out[task] = {n: 1.0 + float(np.sum(values > v)) + 0.5 * float(np.sum(values == v) - 1) for n, v in zip(names, values)}
  return out


def family_ranks(cells: Sequence[CellResult]) -> dict[str, dict[str, float]]:
  """Family → optimizer → mean rank over the family's tasks (plus an ``all`` family over every task)."""
  family_of = {c.task: c.family for c in cells}
  task_ranks = ranks(cells)
  grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
  for task, per_row in task_ranks.items():
    for row, r in per_row.items():
      grouped[family_of[task]][row].append(r)
      grouped["all"][row].append(r)
  return {fam: {row: float(np.mean(v)) for row, v in rows.items()} for fam, rows in grouped.items()}


def schedule_transfer_table(cells: Sequence[CellResult]) -> list[str]:
  """Markdown lines of the schedule study (rows ``schedule:SCHEDULE:OPTIMIZER``): test metric at the best LR, one
  line per schedule, one column per (optimizer, task); empty without such cells."""
  if not cells:
    return []
  by = {(*c.row.split("@")[0].split(":")[1:3], c.task): c for c in cells}
  schedules = list(dict.fromkeys(k[0] for k in by))
  columns = list(dict.fromkeys((k[1], k[2]) for k in by))
  lines = ["", "## Schedule transfer (test metric at the best learning rate, mean ± sample std over seeds, n − 1)", "",
           "| schedule | " + " | ".join(f"{opt} · {task}" for opt, task in columns) + " |",
           "|---|" + "---|" * len(columns)]
  for sched in schedules:
    values = ["–" if (sched, *col) not in by else "{:.3f} ± {:.3f}".format(*best_test(by[(sched, *col)]))
              for col in columns]
    lines.append(f"| {sched} | " + " | ".join(values) + " |")
  return lines


def markdown_summary(cells: Sequence[tuple[str, CellResult]], *, title: str, notes: Sequence[str] = ()) -> str:
  """The run's markdown report: headline table, mean ranks per family, best hyperparameters, timings."""
  main = [c for s, c in cells if s == "lr"]
  lines = [f"# {title}", "", *notes, ""]
  if main:
    tasks = list(dict.fromkeys(c.task for c in main))
    rows = list(dict.fromkeys(c.row for c in main))
    by = {(c.task, c.row): c for c in main}
    metric_of = {c.task: c.metric for c in main}
    lines += ["## Test metric at the best learning rate (mean ± sample std over seeds, n − 1)", "",
              "Accuracy (↑) for classification, MSE (↓) for regression; the learning rate is chosen on the validation split.",
              "", "| optimizer | " + " | ".join(f"{t} ({'acc' if metric_of[t] == 'accuracy' else 'mse'})" for t in tasks) + " |",
              "|---|" + "---|" * len(tasks)]
    for row in rows:
      cells_md = []
      for t in tasks:
        cell = by.get((t, row))
        cells_md.append("–" if cell is None else "{:.3f} ± {:.3f}".format(*best_test(cell)))
      lines.append(f"| {row} | " + " | ".join(cells_md) + " |")
    lines += ["", "## Seed variability at the best learning rate", "",
              "How much the final test metric moves with the seed alone (initialisation and batch order); mean ± "
              "sample std over seeds (n − 1), of the runs that did not diverge.", "",
              seed_variability_table(seed_variability(seed_results(main)), metric="test metric")]
    fam = family_ranks(main)
    families = [f for f in dict.fromkeys(c.family for c in main)] + ["all"]
    lines += ["", "## Mean rank per task family (1 = best)", "", "| optimizer | " + " | ".join(families) + " |",
              "|---|" + "---|" * len(families)]
    for row in sorted(rows, key=lambda r: fam["all"].get(r, np.inf)):
      lines.append(f"| {row} | " + " | ".join(f"{fam[f][row]:.2f}" if row in fam[f] else "–" for f in families) + " |")
  lines += schedule_transfer_table([c for s, c in cells if s == "schedules"])
  lines += ["", "## Best hyperparameters (by validation score)", "", "| study | task | optimizer | best point | test (mean ± sample std, n − 1) |",
            "|---|---|---|---|---|"]
  for study, c in cells:
    lines.append(f"| {study} | {c.task} | {c.row} | {_format_point(c.grid.points[best_index(c)])} | "
                 "{:.3f} ± {:.3f} |".format(*best_test(c)))
  compile_s = sum(c.compile_s for _, c in cells)
  run_s = sum(c.run_s for _, c in cells)
  lines += ["", "## Cost", "",
            f"{len(cells)} compiled programs ({sum(c.compiles for _, c in cells)} backend compilations observed), "
            f"{sum(c.grid.size * len(c.seeds) for _, c in cells)} training runs; compile {compile_s:.1f} s, run {run_s:.1f} s "
            "(per cell: `timings.csv`)."]
  return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------- plots


def _subplots(n: int, width: float = 3.6, height: float = 2.8):
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  cols = min(n, 4)
  rows = math.ceil(n / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
  for ax in axes.flat[n:]:
    ax.set_visible(False)
  return fig, list(axes.flat)


def _save(fig, path: Path) -> None:
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  fig.tight_layout()
  atomic_write_figure(fig, path, dpi=110)
  plt.close(fig)


def plot_loss_curves(cells: Sequence[CellResult], path: Path) -> None:
  """Training-loss curves at each optimizer's best grid point: mean over seeds with a ±1 std band."""
  tasks = list(dict.fromkeys(c.task for c in cells))
  fig, axes = _subplots(len(tasks))
  for ax, task in zip(axes, tasks):
    for c in (c for c in cells if c.task == task):
      curves = c.curves[best_index(c)]
      mean, std = np.nanmean(curves, axis=0), _sample_std_along(curves, axis=0)
      x = np.linspace(0, 1, mean.shape[0])
      ax.plot(x, mean, label=c.row, lw=1.2)
      ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set_yscale("log")
    ax.set_title(task, fontsize=9)
    ax.set_xlabel("fraction of training", fontsize=8)
  axes[0].set_ylabel("training loss")
  axes[0].legend(fontsize=7)
  _save(fig, path)


def plot_lr_sensitivity(cells: Sequence[CellResult], path: Path) -> None:
  """Test metric against the learning-rate multiplier (× each optimizer's reference LR), mean ± std over seeds."""
  cells = [c for c in cells if "lr" in c.grid.axes and len(c.grid.axes) == 1]
  tasks = list(dict.fromkeys(c.task for c in cells))
  fig, axes = _subplots(len(tasks))
  for ax, task in zip(axes, tasks):
    for c in (c for c in cells if c.task == task):
      lrs = np.array([p["lr"] for p in c.grid.points])
      ax.errorbar(lrs, np.nanmean(c.test, axis=1), yerr=_sample_std_along(c.test, axis=1), label=c.row, marker="o", ms=3,
                  capsize=2, lw=1)
    ax.set_xscale("log")
    ax.set_title(task, fontsize=9)
    ax.set_xlabel("LR multiplier", fontsize=8)
    ax.set_ylabel("test " + ("accuracy" if c.metric == "accuracy" else "MSE"), fontsize=8)
  if tasks:
    axes[0].legend(fontsize=7)
  _save(fig, path)


def plot_heatmap(cell: CellResult, x_axis: str, y_axis: str, path: Path) -> None:
  """Mean test metric over seeds on a two-axis grid (e.g. β1×β2 or LR×weight decay)."""
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  xs, ys = cell.grid.axes[x_axis], cell.grid.axes[y_axis]
  table = np.full((len(ys), len(xs)), np.nan)
  for g, p in enumerate(cell.grid.points):
    table[ys.index(p[y_axis]), xs.index(p[x_axis])] = np.nanmean(cell.test[g])
  fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(xs), 0.8 + 0.6 * len(ys)))
  im = ax.imshow(table, origin="lower", cmap="viridis" if cell.metric == "accuracy" else "viridis_r", aspect="auto")
  for (i, j), v in np.ndenumerate(table):
    ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="w")
  ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
  ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
  ax.set_xlabel(x_axis)
  ax.set_ylabel(y_axis)
  ax.set_title(f"{cell.row} on {cell.task}: test {cell.metric}", fontsize=9)
  fig.colorbar(im, ax=ax)
  _save(fig, path)


def plot_ranking(cells: Sequence[CellResult], path: Path) -> None:
  """Mean rank of each optimizer per task family (lower is better), as a heat table."""
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  fam = family_ranks(cells)
  families = list(fam)
  rows = sorted(fam["all"], key=fam["all"].get)
  table = np.array([[fam[f].get(r, np.nan) for f in families] for r in rows])
  fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(families), 0.8 + 0.35 * len(rows)))
  im = ax.imshow(table, cmap="RdYlGn_r", aspect="auto")
  for (i, j), v in np.ndenumerate(table):
    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
  ax.set_xticks(range(len(families)), families)
  ax.set_yticks(range(len(rows)), rows)
  ax.set_title("mean rank per task family (1 = best)", fontsize=9)
  fig.colorbar(im, ax=ax)
  _save(fig, path)
