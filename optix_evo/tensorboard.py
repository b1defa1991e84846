"""TensorBoard event files from a search, a bench run or ``ox.monitor`` telemetry.

The results folders stay the record (``history.jsonl``, ``results.csv``, ``report.md``); these functions turn them
into event files that ``tensorboard --logdir DIR`` opens. The writer is tensorboardX's ``SummaryWriter`` (the
``tensorboard`` extra: ``pip install -e ".[tensorboard]"``), imported only when a function here is called.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from optix_evo.errors import InputError


def require() -> None:
  """Raises :class:`~optix_evo.errors.InputError` unless the writer (tensorboardX) is installed: what a command
  with ``--log-dir`` checks before it starts."""
  try:
    import tensorboardX  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    raise InputError("--log-dir needs tensorboardX: pip install 'optix_evo[tensorboard]' (or pip install "
                     "tensorboardX).") from None


def _writer(log_dir: str | Path) -> Any:
  require()
  from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel

  return SummaryWriter(logdir=str(log_dir), flush_secs=1)


def _finite(values: list[float]) -> list[float]:
  return [v for v in values if v is not None and math.isfinite(v)]


def write_monitor(writer: Any, history: Mapping[str, Any], *, prefix: str = "monitor", first_step: int = 0) -> int:
  """Writes ``ox.monitor_history(state)`` (name → per-step values) as scalars ``{prefix}/{name}``.

  A leading axis beyond the steps (vmapped runs) is written as one series per run, ``{prefix}/{name}/run{i}``.
  Returns the number of scalars written.
  """
  count = 0
  for name, values in history.items():
    values = np.asarray(values, dtype=np.float64)
    series = values[None] if values.ndim == 1 else values.reshape(-1, values.shape[-1])
    for r, row in enumerate(series):
      tag = f"{prefix}/{name}" if values.ndim == 1 else f"{prefix}/{name}/run{r}"
      for t, v in enumerate(row):
        if math.isfinite(v):
          writer.add_scalar(tag, float(v), first_step + t)
          count += 1
  return count


def monitor_events(history: Mapping[str, Any], log_dir: str | Path, *, prefix: str = "monitor") -> Path:
  """Writes ``ox.monitor`` telemetry (``ox.monitor_history(state)``) to event files in ``log_dir``.

  Examples:
    >>> import os, tempfile
    >>> import numpy as np
    >>> import optix_evo.tensorboard as oxtb
    >>> log_dir = oxtb.monitor_events({"total/update_norm": np.array([1.0, 0.5])}, tempfile.mkdtemp())
    >>> print([name.startswith("events.out.tfevents") for name in os.listdir(log_dir)])
    [True]
  """
  writer = _writer(log_dir)
  try:
    write_monitor(writer, history, prefix=prefix)
  finally:
    writer.close()
  return Path(log_dir)


def search_events(run_dir: str | Path, log_dir: str | Path) -> Path:
  """Writes a search's results folder to event files in ``log_dir``.

  * ``search/fitness/{best,mean,worst}`` and a histogram ``search/fitness`` per generation (step = generation) from
    the surrogate rows of ``history.jsonl`` (rejected candidates left out), and ``search/rejected`` (their share);
  * ``elimination/best_fitness`` per stage (step = stage number);
  * ``headline/<figure>`` from ``run.json`` (the verdicts' differences, the rank correlation);
  * the final tables: ``report.md`` as the text ``report``.
  """
  run_dir = Path(run_dir)
  history = run_dir / "history.jsonl"
  if not history.is_file():
    raise InputError(f"{run_dir} holds no history.jsonl: not a search results folder.")
  generations: dict[int, list[dict]] = defaultdict(list)
  stages: dict[int, list[float]] = defaultdict(list)
  with open(history, encoding="utf-8") as f:
    for line in f:
      if not line.strip():
        continue
      rec = json.loads(line)
      if rec.get("stage") == "surrogate":
        generations[int(rec["generation"])].append(rec)
      elif str(rec.get("stage", "")).startswith("elimination-"):
        stages[int(rec["stage"].split("-")[1])].append(float(rec["fitness"]))
  writer = _writer(log_dir)
  try:
    for gen, recs in sorted(generations.items()):
      fitness = _finite([float(r["fitness"]) for r in recs if not r.get("rejected")])
      writer.add_scalar("search/rejected", sum(bool(r.get("rejected")) for r in recs) / len(recs), gen)
      if fitness:
        writer.add_scalar("search/fitness/best", max(fitness), gen)
        writer.add_scalar("search/fitness/mean", float(np.mean(fitness)), gen)
        writer.add_scalar("search/fitness/worst", min(fitness), gen)
        writer.add_histogram("search/fitness", np.asarray(fitness), gen)
    for stage, fitness in sorted(stages.items()):
      fitness = _finite(fitness)
      if fitness:
        writer.add_scalar("elimination/best_fitness", max(fitness), stage)
    run_json = run_dir / "run.json"
    if run_json.is_file():
      for name, value in json.loads(run_json.read_text()).get("headline", {}).items():
        if isinstance(value, (int, float)) and math.isfinite(value):
          writer.add_scalar(f"headline/{name}", float(value), 0)
    report = run_dir / "report.md"
    if report.is_file():
      writer.add_text("report", report.read_text(encoding="utf-8"), 0)
  finally:
    writer.close()
  return Path(log_dir)


def bench_events(out_dir: str | Path, log_dir: str | Path) -> Path:
  """Writes a bench results folder to event files in ``log_dir``.

  * ``bench/<study>/<task>/<optimizer>/test`` and ``.../valid``: the mean over seeds at each grid point (step = the grid
    point's index in ``results.csv``);
  * ``curves/<key>``: the training-loss curves of ``curves.npz``, mean over seeds, per grid point (``/grid<g>``);
  * the final tables: ``summary.md`` as the text ``summary``.
  """
  out_dir = Path(out_dir)
  results = out_dir / "results.csv"
  if not results.is_file():
    raise InputError(f"{out_dir} holds no results.csv: not a bench results folder.")
  cells: dict[tuple[str, str, str], dict[tuple, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
  with open(results, newline="") as f:
    reader = csv.DictReader(f)
    axes = [c for c in reader.fieldnames or [] if c not in
            ("study", "task", "family", "optimizer", "seed", "metric", "valid", "test", "final_train_loss")]
    for row in reader:
      point = tuple(row[a] for a in axes)
      cells[row["study"], row["task"], row["optimizer"]][point].append((float(row["valid"]), float(row["test"])))
  writer = _writer(log_dir)
  try:
    for (study, task, optimizer), points in cells.items():
      prefix = f"bench/{study}/{task}/{optimizer}"
      for g, values in enumerate(points.values()):
        valid, test = (_finite(list(v)) for v in zip(*values))
        if valid:
          writer.add_scalar(f"{prefix}/valid", float(np.mean(valid)), g)
        if test:
          writer.add_scalar(f"{prefix}/test", float(np.mean(test)), g)
    curves = out_dir / "curves.npz"
    if curves.is_file():
      with np.load(curves) as data:
        for key in data.files:
          array = np.asarray(data[key], dtype=np.float64)
          array = array.reshape(-1, *array.shape[-2:]) if array.ndim >= 2 else array[None, None]
          for g, per_seed in enumerate(array):
            for t, v in enumerate(np.nanmean(per_seed, axis=0)):
              if math.isfinite(v):
                writer.add_scalar(f"curves/{key}/grid{g}", float(v), t)
    summary = out_dir / "summary.md"
    if summary.is_file():
      writer.add_text("summary", summary.read_text(encoding="utf-8"), 0)
  finally:
    writer.close()
  return Path(log_dir)
