"""Trains one optimizer row on one task for every (grid point, seed) in ONE compiled program.

The program is ``jit(vmap_grid(vmap_seeds(train_one)))``: hyperparameters are traced values (the optimizer is built
inside the vmapped function), so the number of compilations per (row, task) is one whatever the grid size. It is
lowered and compiled ahead of time, which separates compile time from run time. Tasks with ``vmap=False``
(convolutions: vmapped per-model kernels become grouped convolutions, slow on XLA:CPU) run the grid × seeds points
one after another with ``lax.map`` inside the same single program.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optix_evo import training
from optix_evo.bench.rows import Row, Schedule
from optix_evo.tasks import Task

_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class Grid(NamedTuple):
  """A hyperparameter grid: the cartesian product of ``axes`` (name → values), flattened to ``size`` points.

  Attributes:
    axes: hyperparameter name → values.

  Examples:
    >>> import optix_evo.bench
    >>> grid = optix_evo.bench.Grid({"lr": (0.1, 1.0), "b1": (0.9,)})
    >>> print(grid.size, grid.points)
    2 [{'lr': 0.1, 'b1': 0.9}, {'lr': 1.0, 'b1': 0.9}]
    >>> print(grid.arrays()["lr"])
    [0.1 1. ]
  """

  axes: dict[str, tuple[float, ...]]

  @property
  def points(self) -> list[dict[str, float]]:
    """Every grid point as a dict, the last axis varying fastest."""
    names = list(self.axes)
    return [dict(zip(names, values)) for values in itertools.product(*self.axes.values())]

  @property
  def size(self) -> int:
    """The number of grid points."""
    return len(self.points)

  def arrays(self) -> dict[str, jax.Array]:
    """Each axis as a ``[size]`` float32 array (the vmapped input)."""
    points = self.points
    return {name: jnp.asarray([p[name] for p in points], jnp.float32) for name in self.axes}


class CellResult(NamedTuple):
  """Everything measured for one (row, task): arrays are ``[grid, seed, ...]``.

  Attributes:
    row: the row's label.
    task: the task's name.
    family: the task's model family.
    metric: ``"accuracy"`` or ``"loss"``.
    grid: the :class:`Grid`.
    seeds: the seeds.
    valid: ``[G, S]`` validation metric.
    test: ``[G, S]`` test metric.
    final_loss: ``[G, S]`` mean training loss over the last 10% of steps.
    curves: ``[G, S, P]`` training loss averaged over ``P`` equal windows.
    compile_s: seconds compiling the cell's program.
    run_s: seconds running it.
    compiles: backend compilations observed while compiling and running it (1 when the grid shared one program).
  """

  row: str
  task: str
  family: str
  metric: str
  grid: Grid
  seeds: tuple[int, ...]
  valid: np.ndarray  # [G, S] validation metric
  test: np.ndarray  # [G, S] test metric
  final_loss: np.ndarray  # [G, S] mean training loss over the last 10% of steps
  curves: np.ndarray  # [G, S, P] training loss averaged over P equal windows
  compile_s: float
  run_s: float
  compiles: int  # backend compilations observed while compiling and running the cell's program


class _CompileCounter:
  """Counts XLA backend compilations (jax.monitoring events) while active."""

  def __init__(self):
    self.count = 0
    self.active = False
    jax.monitoring.register_event_duration_secs_listener(self._listen)

  def _listen(self, event: str, duration: float, **kwargs) -> None:
    del duration, kwargs
    if self.active and event == _BACKEND_COMPILE_EVENT:
      self.count += 1


_COUNTER: _CompileCounter | None = None


def _counter() -> _CompileCounter:
  global _COUNTER
  if _COUNTER is None:
    _COUNTER = _CompileCounter()
  return _COUNTER


def make_train_fn(row: Row, problem: Task, *, curve_points: int):
  """``(hyperparameters, key) -> (valid, test, final_loss, curve)`` for one grid point and one seed."""
  steps, batch = problem.steps, problem.batch_size
  schedule = Schedule(training.steps_per_epoch(problem.train.num_examples, batch), steps)
  points = max(1, min(curve_points, steps))
  window = steps // points
  tail = max(1, steps // 10)

  def train_one(hp: Mapping[str, jax.Array], key: jax.Array):
    init_key, data_key = jax.random.split(key)
    params = problem.init(init_key)
    result = training.fit(problem.loss_fn, params, row.build(hp, schedule), problem.train, data_key,
                          steps=steps, batch_size=batch)
    valid = training.evaluate(problem.loss_fn, result.params, problem.valid)
    test = training.evaluate(problem.loss_fn, result.params, problem.test)
    curve = result.loss[: points * window].reshape(points, window).mean(axis=1)
    return valid[problem.metric], test[problem.metric], result.loss[-tail:].mean(), curve

  return train_one


def run_cell(row: Row, problem: Task, grid: Grid, seeds: Sequence[int], *, curve_points: int = 50) -> CellResult:
  """Trains ``row`` on ``problem`` for every grid point × seed, vmapped, in one compiled program.

  Args:
    row: the optimizer row (:func:`parse_row`).
    problem: the task (:func:`optix_evo.tasks.get_task`).
    grid: the hyperparameter grid.
    seeds: the seeds (network init and batch order).
    curve_points: points of the stored training-loss curves.

  Returns:
    A :class:`CellResult`.

  Raises:
    ValueError: when ``seeds`` is empty.

  Examples:
    It compiles and trains (seconds for a small MLP), so this example is not run as a doctest:

    >>> import optix_evo as ox
    >>> import optix_evo.bench
    >>> task = ox.tasks.get_task("iris_mlp", steps=50)
    >>> grid = optix_evo.bench.Grid({"lr": (0.3, 1.0, 3.0)})
    >>> cell = optix_evo.bench.run_cell(optix_evo.bench.parse_row("adam"), task, grid, seeds=[0, 1])  # doctest: +SKIP
    >>> print(cell.test.shape, cell.compiles)  # doctest: +SKIP
    (3, 2) 1
  """
  if not seeds:
    raise ValueError("Need at least one seed.")
  train_one = make_train_fn(row, problem, curve_points=curve_points)
  hp = grid.arrays()
  keys = jax.vmap(jax.random.key)(jnp.asarray(list(seeds), jnp.uint32))
  if problem.vmap:
    program = jax.jit(jax.vmap(jax.vmap(train_one, in_axes=(None, 0)), in_axes=(0, None)))
  else:
    program = jax.jit(lambda hp, keys: jax.tree.map(
        lambda v: v.reshape((grid.size, len(seeds), *v.shape[1:])),
        jax.lax.map(lambda a: train_one(*a), (jax.tree.map(lambda v: jnp.repeat(v, len(seeds)), hp),
                                              jnp.tile(keys, grid.size)))))
  counter = _counter()
  counter.count, counter.active = 0, True
  try:
    start = time.perf_counter()
    compiled = program.lower(hp, keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    valid, test, final_loss, curves = jax.block_until_ready(compiled(hp, keys))
    run_s = time.perf_counter() - start
  finally:
    counter.active = False
  return CellResult(row.label, problem.name, problem.family, problem.metric, grid, tuple(seeds), np.asarray(valid),
                    np.asarray(test), np.asarray(final_loss), np.asarray(curves), compile_s, run_s, counter.count)
