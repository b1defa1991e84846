"""Transfer: found and known optimizers against tuned baselines on tasks of your choice, with the final-run protocol
of the NOS paper (Morgan & Hougen 2024): warmup ``T/15``, hold ``2T/15``, cosine decay; momentum 0.95 → 0.85 →
0.95; every optimizer's peak learning rate tuned on the same grid with the same seeds; test accuracy reported per
seed, with paired differences against every baseline and their 95% intervals.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from optix_evo import graph
from optix_evo.errors import InputError
from optix_evo.run_folder import atomic_write_json, atomic_write_text
from optix_evo.search import ga
from optix_evo.search.config import BASELINES
from optix_evo.search.evaluate import Evaluator
from optix_evo.search.protocol import tune
from optix_evo.search.statistics import mean_interval, paired_difference, verdict
from optix_evo.tasks import resolve_task


def hall_of_fame(run_dir: str, top: int) -> list[dict[str, Any]]:
  """The first ``top`` entries of ``run_dir/hall_of_fame.json`` (genomes by op names, with their space)."""
  path = os.path.join(run_dir, "hall_of_fame.json")
  try:
    with open(path, encoding="utf-8") as f:
      entries = json.load(f)["hall_of_fame"]
  except FileNotFoundError:
    raise InputError(f"{path} not found: give the results folder of `optix-evo search`.") from None
  except (ValueError, KeyError, TypeError) as e:
    raise InputError(f"{path} is not a search's hall of fame ({e}).") from None
  if not isinstance(entries, list) or not entries:
    raise InputError(f"{path} holds an empty hall of fame.")
  return entries[:top]


def transfer(tasks: Sequence[str], *, run_dir: str | None = None, top: int = 3, references: Sequence[str] = (),
             baselines: Sequence[str] = ("adam", "adamw", "sgd"), seeds: int = 5, steps: int = 300,
             lr_grid: Sequence[float] = (1e-1, 1e-2, 1e-3), data_dir: str | None = None, seed: int = 0,
             population_loop: str = "auto") -> dict[str, Any]:
  """Tunes the ``top`` hall-of-fame optimizers of ``run_dir`` (if given), the ``references`` (known genomes) and
  the ``baselines`` on every task with the paper's final-run protocol.

  Returns:
    ``{"participants": [...], "tasks": {task: {"learning_rate", "valid", "test", "comparisons"}}, "settings"}``:
    per task the chosen learning rate and the per-seed validation and test accuracy of every participant, and every
    non-baseline participant's paired test-accuracy difference against every baseline with its verdict.
  """
  if seeds < 2:
    raise InputError(f"--seeds must be at least 2 for intervals over seeds (5 or more recommended), got {seeds}.")
  unknown = [b for b in baselines if b not in BASELINES]
  if unknown or not baselines:
    raise InputError(f"baselines must name some of {', '.join(BASELINES)}, got {list(baselines)}.")
  for name in references:
    if name not in graph.KNOWN:
      raise InputError(f"Unknown reference optimizer {name!r}. Known genomes: {', '.join(graph.KNOWN)}.")
  if not tasks:
    raise InputError("Give at least one task (--tasks).")
  participants, genomes = [], []
  for rec in hall_of_fame(run_dir, top) if run_dir else []:
    space = graph.get_space(rec.get("space", graph.space_of(rec["genome"])))
    genomes.append(graph.convert(graph.from_json(rec["genome"], space), space, graph.DEFAULT_SPEC))
    participants.append({"name": f"found #{rec['rank']}", "kind": "found", "equation": rec["equation"]})
  for name in references:
    genomes.append(graph.known(name))
    participants.append({"name": name, "kind": "reference"})
  for name in baselines:
    genomes.append(graph.known(BASELINES[name]))
    participants.append({"name": name, "kind": "baseline"})
  batch = ga.stack(genomes)
  out = {"participants": participants, "tasks": {},
         "settings": {"steps": steps, "seeds": seeds, "lr_grid": list(lr_grid), "warmup": steps // 15,
                      "hold": 2 * steps // 15, "seed": seed}}
  for t_idx, name in enumerate(tasks):
    task = resolve_task(name, seed=seed, data_dir=data_dir)
    evaluator = Evaluator(task, graph.DEFAULT_SPEC, max_steps=steps, batch=max(jax.device_count() * 8, 16),
                          population_loop=population_loop)
    scores = tune(evaluator, batch, steps=steps, lr_grid=tuple(lr_grid), seeds=seeds, seed=seed * 1000 + t_idx,
                  epoch=max(steps // 10, 1), warmup_steps=steps // 15, hold_steps=2 * steps // 15)
    comparisons = []
    for i, p in enumerate(participants):
      for j, b in enumerate(participants):
        if p["kind"] != "baseline" and b["kind"] == "baseline":
          diff = paired_difference(scores.test[i], scores.test[j])
          comparisons.append({"optimizer": p["name"], "baseline": b["name"], "difference": diff._asdict(),
                              "verdict": verdict(diff)})
    out["tasks"][task.name] = {"learning_rate": scores.learning_rate.tolist(), "valid": scores.valid.tolist(),
                               "test": scores.test.tolist(), "comparisons": comparisons}
  return out


def format_tables(result: dict[str, Any]) -> str:
  """Markdown: per task every participant's tuned learning rate and test accuracy, then the paired differences."""
  lines = []
  for task, table in result["tasks"].items():
    lines += [f"### `{task}`", "", "| optimizer | kind | tuned lr | test accuracy (mean, 95% interval) |",
              "|---|---|---|---|"]
    for i, p in enumerate(result["participants"]):
      ci = mean_interval(np.nan_to_num(np.asarray(table["test"][i], float), nan=0.0))
      lines.append(f"| {p['name']} | {p['kind']} | {table['learning_rate'][i]:g} | {ci.estimate:.4f} "
                   f"[{ci.low:.4f}, {ci.high:.4f}] |")
    lines += ["", "| optimizer | vs | test accuracy difference (95% interval) | verdict |", "|---|---|---|---|"]
    for c in table["comparisons"]:
      d = c["difference"]
      lines.append(f"| {c['optimizer']} | {c['baseline']} | {d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] "
                   f"| {c['verdict']} |")
    lines.append("")
  return "\n".join(lines)


def write_transfer(out_dir: str, result: dict[str, Any], header: str) -> None:
  """``transfer.json`` and ``transfer.md`` in ``out_dir``."""
  atomic_write_json(os.path.join(out_dir, "transfer.json"), result)
  atomic_write_text(os.path.join(out_dir, "transfer.md"), f"# Transfer\n\n{header}\n\n{format_tables(result)}\n")
