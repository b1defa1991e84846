"""Train one small model with several zoo optimizers and tabulate the results (``optix-evo zoo``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optix_evo import training
from optix_evo.errors import InputError
from optix_evo.data import load_dataset
from optix_evo.models import MLP
from optix_evo.optimizers.registry import OPTIMIZERS, get_optimizer


class ComparisonRow(NamedTuple):
  optimizer: str
  test_accuracy_mean: float
  test_accuracy_std: float
  final_train_loss_mean: float
  seconds: float


def compare_zoo(
    names: Sequence[str] | None = None,
    *,
    task: str = "digits",
    seeds: int = 3,
    steps: int = 300,
    batch_size: int = 64,
    hidden: Sequence[int] = (64,),
) -> list[ComparisonRow]:
  """Trains an MLP on ``task`` with each optimizer (registered defaults) over ``seeds`` seeds.

  Seeds are vmapped: one compiled program per optimizer. Returns one row per optimizer, best accuracy first.
  """
  names = list(names) if names is not None else sorted(OPTIMIZERS)
  for name in names:
    if name not in OPTIMIZERS:
      raise InputError(f"Unknown optimizer {name!r}. Known optimizers: {', '.join(sorted(OPTIMIZERS))}.")
  if seeds < 1 or steps < 1:
    raise InputError(f"seeds and steps must be at least 1 (got seeds={seeds}, steps={steps}).")
  split = load_dataset(task, seed=0)
  if not split.num_classes:
    raise InputError(f"Task {task!r} is a regression task; `optix-evo zoo` compares classifiers.")
  model = MLP(hidden=tuple(hidden), outputs=split.num_classes)
  loss_fn = training.classification_loss(model.apply)
  rows = []
  for name in names:
    optimizer = get_optimizer(name)

    def run(key):
      init_key, data_key = jax.random.split(key)
      params = model.init(init_key, jnp.asarray(split.train.x[:1]))
      result = training.fit(loss_fn, params, optimizer, split.train, data_key, steps=steps, batch_size=batch_size)
      return training.evaluate(loss_fn, result.params, split.test)["accuracy"], result.loss[-1]

    start = time.perf_counter()
    accuracy, final_loss = jax.block_until_ready(jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), seeds)))
    elapsed = time.perf_counter() - start
    accuracy, final_loss = np.asarray(accuracy), np.asarray(final_loss)
    rows.append(ComparisonRow(name, float(accuracy.mean()), float(accuracy.std()), float(np.nanmean(final_loss)), elapsed))
  return sorted(rows, key=lambda r: -np.nan_to_num(r.test_accuracy_mean, nan=-1.0))


def format_table(rows: Sequence[ComparisonRow]) -> str:
  """Markdown table of :func:`compare_zoo` rows."""
  lines = ["| optimizer | test accuracy (mean ± std) | final train loss | seconds (compile + run) |", "|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r.optimizer} | {r.test_accuracy_mean:.3f} ± {r.test_accuracy_std:.3f} | {r.final_train_loss_mean:.4f} | {r.seconds:.1f} |"
    )
  return "\n".join(lines)
