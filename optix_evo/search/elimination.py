"""Progressive optimizer elimination (NOS §5.3, ``shared/design/nos.md``) and surrogate-vs-full rank correlation.

After the GA, the best distinct candidates of the archive are re-trained in successive *stages*, each costlier than
the last (more steps, more seeds, more tasks); only the best ``keep`` of a stage go on to the next. The paper's stage
budgets were not recoverable, so every stage is a configuration value. Baselines (e.g. Adam as a genome) ride along
in every stage with the same protocol and seeds, but never take a survivor's place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import numpy as np

from optix_evo.search.evaluate import Builder, Evaluator, Protocol
from optix_evo.search.tasks import Task


@dataclasses.dataclass(frozen=True)
class Stage:
  """One elimination stage.

  Attributes:
    steps: training steps of each full run.
    seeds: independent seeds (network init and batch order) per candidate and task; fitness is their mean.
    tasks: task names (empty: the search task).
    keep: survivors that go on to the next stage (the last stage's ranking is the hall of fame).
    probe_steps: learning-rate probe length (``None``: ``steps // 5``).
  """

  steps: int
  seeds: int = 1
  tasks: tuple[str, ...] = ()
  keep: int = 5
  probe_steps: int | None = None

  def __post_init__(self):
    if self.steps < 1 or self.seeds < 1 or self.keep < 1:
      raise ValueError(f"Stage steps, seeds and keep must be positive integers, got {self}.")

  def protocol(self, lr_grid: tuple[float, ...]) -> Protocol:
    probe = self.steps // 5 if self.probe_steps is None else self.probe_steps
    return Protocol(steps=self.steps, probe_steps=probe, lr_grid=lr_grid)


def stage_scores(stage: Stage, candidates, tasks: Sequence[Task], build: Builder, lr_grid: tuple[float, ...], *,
                 seed: int, chunk_size: int | None, mesh=None, population_loop: str = "auto",
                 on_task: Callable[[str], None] | None = None) -> np.ndarray:
  """Fitness ``[candidates, tasks, seeds]`` of a batched genome ``candidates`` in ``stage``.

  Every candidate sees the same seeds (paired comparison): seed ``s`` of stage seed ``seed`` is
  ``fold_in(PRNGKey(seed), s)``.
  """
  n = jax.tree.leaves(candidates)[0].shape[0]
  seed_keys = np.stack([np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), s)) for s in range(stage.seeds)])
  keys = np.tile(seed_keys, (n, 1))  # candidate-major: [c0 s0, c0 s1, ..., c1 s0, ...]
  repeated = jax.tree.map(lambda a: np.repeat(np.asarray(a), stage.seeds, axis=0), candidates)
  out = np.empty((n, len(tasks), stage.seeds))
  for t, task in enumerate(tasks):
    if on_task is not None:
      on_task(task.name)
    evaluator = Evaluator(task, build, stage.protocol(lr_grid), batch=n * stage.seeds, chunk_size=chunk_size, mesh=mesh,
                          population_loop=population_loop)
    out[:, t, :] = evaluator(repeated, keys).fitness.reshape(n, stage.seeds)
  return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
  """Spearman rank correlation of two score lists (average ranks for ties); NaN when either is constant."""
  ra, rb = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
  if ra.size < 2 or np.std(ra) == 0 or np.std(rb) == 0:
    return float("nan")
  return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
  order = np.argsort(x, kind="stable")
  ranks = np.empty(x.size)
  ranks[order] = np.arange(x.size, dtype=np.float64)
  for value in np.unique(x):  # average ranks of ties
    tied = x == value
    ranks[tied] = ranks[tied].mean()
  return ranks
