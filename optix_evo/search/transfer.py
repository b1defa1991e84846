"""Transfer of found optimizers to held-out tasks: hall of fame vs Adam, AdamW and SGD over several seeds.

Every optimizer gets the same protocol (base warmup-cosine schedule, peak learning rate chosen by probes on the
training split) and the same seeds; the score is the *test* accuracy, reported as mean with a two-sided 95%
Student-t confidence interval over seeds.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from optix_evo.search.checkpoint import atomic_write_json, atomic_write_text
from optix_evo.search.evaluate import BASELINES, Evaluator, Protocol, optax_builder
from optix_evo.search.search import genome_builder
from optix_evo.search.tasks import get_task


def confidence_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
  """Mean and half-width of the two-sided Student-t interval of ``values`` (half-width NaN for one value)."""
  from scipy import stats  # pylint: disable=import-outside-toplevel

  x = np.asarray(values, np.float64)
  if x.size < 2:
    return float(x.mean()), float("nan")
  return float(x.mean()), float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def transfer(run_dir: str, tasks: Sequence[str], *, seeds: int = 5, steps: int = 300, top: int = 3,
             lr_grid: Sequence[float] = (1e-1, 1e-2, 1e-3), baselines: Sequence[str] = BASELINES,
             data_dir: str | None = None, chunk_size: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
  """Scores the ``top`` hall-of-fame optimizers of ``run_dir`` and ``baselines`` on ``tasks``.

  Returns:
    One row per (task, optimizer): ``task``, ``optimizer``, ``test_accuracy`` (per seed), ``mean``, ``ci95``,
    ``diverged`` (seeds).
  """
  from optix_evo import graph  # pylint: disable=import-outside-toplevel

  if seeds < 2:
    raise ValueError(f"seeds must be at least 2 for a confidence interval (the task asks for >= 5), got {seeds}.")
  path = os.path.join(run_dir, "hall_of_fame.json")
  if not os.path.exists(path):
    raise ValueError(f"{path} not found: run `optix-evo search --out {run_dir}` first.")
  with open(path, encoding="utf-8") as f:
    hall = json.load(f)["hall_of_fame"][:top]
  if not hall:
    raise ValueError(f"{path} holds an empty hall of fame.")
  for name in baselines:
    optax_builder(name)  # validates names early
  genomes = [graph.from_json(rec["genome"]) for rec in hall]
  batch = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *genomes)
  seed_keys = np.stack([np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), s)) for s in range(seeds)])
  protocol = Protocol(steps=steps, probe_steps=max(steps // 5, 1), lr_grid=tuple(lr_grid))
  rows = []
  for task_name in tasks:
    task = get_task(task_name, seed=seed, data_dir=data_dir)
    n = len(genomes)
    ev = Evaluator(task, genome_builder, protocol, batch=n * seeds, chunk_size=chunk_size, split="test")
    scores = ev(jax.tree.map(lambda a: np.repeat(a, seeds, axis=0), batch), np.tile(seed_keys, (n, 1)))
    named = [(f"#{rec['rank']} {rec['equation']}", scores.fitness[i * seeds:(i + 1) * seeds],
              scores.diverged[i * seeds:(i + 1) * seeds]) for i, rec in enumerate(hall)]
    for name in baselines:
      ev = Evaluator(task, optax_builder(name), protocol, batch=seeds, chunk_size=chunk_size, split="test")
      s = ev(np.zeros(seeds), seed_keys)
      named.append((name, s.fitness, s.diverged))
    for name, acc, div in named:
      mean, half = confidence_interval(acc)
      rows.append({"task": task_name, "optimizer": name, "test_accuracy": acc.tolist(), "mean": mean, "ci95": half,
                   "diverged": int(div.sum())})
  return rows


def format_table(rows: list[dict[str, Any]]) -> str:
  """Markdown table of :func:`transfer` rows."""
  lines = ["| task | optimizer | test accuracy (mean ± 95% CI) | divergent seeds |", "|---|---|---|---|"]
  lines += [f"| {r['task']} | `{r['optimizer']}` | {r['mean']:.4f} ± {r['ci95']:.4f} | {r['diverged']} |" for r in rows]
  return "\n".join(lines)


def write_transfer(out_dir: str, rows: list[dict[str, Any]], header: str) -> None:
  """``transfer.json`` and ``transfer.md`` in ``out_dir``."""
  atomic_write_json(os.path.join(out_dir, "transfer.json"), rows)
  atomic_write_text(os.path.join(out_dir, "transfer.md"), f"# Transfer\n\n{header}\n\n{format_table(rows)}\n")
