"""Gradient-free baselines (PSO, differential evolution, CMA-ES via ``evosax``) against a gradient optimizer at equal
wall time, on the dendritic neuron model and a small MLP — the comparison the review discusses for DNMs.

The network's parameters are flattened into one vector; the fitness of a candidate is its full-batch training loss.
Generations run in jitted chunks of ``lax.scan`` until the gradient optimizer's training time is used up (compilation
excluded on both sides). Needs the optional ``evosax`` package (``pip install "optix-evo[heuristics]"``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from optix_evo import training
from optix_evo.bench.rows import parse_row
from optix_evo.bench.runner import Grid, run_cell
from optix_evo.tasks import Task, get_task

METHODS = ("pso", "de", "cma_es")


class BaselineResult(NamedTuple):
  task: str
  method: str  # a gradient-free method, or the gradient row's label
  test: float  # test metric of the final (best) parameters
  iterations: int  # generations, or training steps
  seconds: float  # wall time spent training, compilation excluded


def _algorithm(method: str, population_size: int, solution: jax.Array):
  try:
    from evosax import algorithms  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ValueError('Gradient-free baselines need evosax: pip install "optix-evo[heuristics]" (or evosax).') from e
  classes = {"pso": algorithms.PSO, "de": algorithms.DifferentialEvolution, "cma_es": algorithms.CMA_ES}
  if method not in classes:
    raise ValueError(f"Unknown gradient-free method {method!r}. Known methods: {', '.join(METHODS)}.")
  return classes[method](population_size=population_size, solution=solution)


def gradient_free(problem: Task, method: str, *, seconds: float, population_size: int = 32, seed: int = 0,
                  chunk: int = 5) -> BaselineResult:
  """Minimises the training loss of ``problem`` with ``method`` for about ``seconds`` of wall time."""
  key = jax.random.key(seed)
  flat0, unravel = ravel_pytree(problem.init(key))
  x, y = jnp.asarray(problem.train.x), jnp.asarray(problem.train.y)

  def fitness(flat):
    loss = problem.loss_fn(unravel(flat), x, y)[0]
    return jnp.where(jnp.isfinite(loss), loss, jnp.inf)

  es = _algorithm(method, population_size, flat0)
  params = es.default_params
  init_key, run_key = jax.random.split(key)
  if method == "cma_es":
    state = es.init(init_key, flat0, params)
  else:
    population = jax.vmap(lambda k: ravel_pytree(problem.init(k))[0])(jax.random.split(init_key, population_size))
    state = es.init(init_key, population, jax.vmap(fitness)(population), params)

  def generation(state, k):
    ask_key, tell_key = jax.random.split(k)
    population, state = es.ask(ask_key, state, params)
    state, _ = es.tell(tell_key, population, jax.vmap(fitness)(population), state, params)
    return state, None

  run_chunk = jax.jit(lambda state, k: jax.lax.scan(generation, state, jax.random.split(k, chunk))[0]).lower(
      state, run_key).compile()
  generations, elapsed = 0, 0.0
  while elapsed < seconds:
    run_key, k = jax.random.split(run_key)
    start = time.perf_counter()
    state = jax.block_until_ready(run_chunk(state, k))
    elapsed += time.perf_counter() - start
    generations += chunk
  test = training.evaluate(problem.loss_fn, unravel(state.best_solution), problem.test)[problem.metric]
  return BaselineResult(problem.name, method, float(test), generations, elapsed)


def compare_at_equal_time(tasks: Sequence[str] = ("iris_dnm", "iris_mlp"), *, gradient_row: str = "adam@learning_rate=0.01",
                          methods: Sequence[str] = METHODS, steps: int | None = None, population_size: int = 32,
                          seed: int = 0) -> list[BaselineResult]:
  """For each task: the gradient row's training time (one seed, compilation excluded) is every method's budget."""
  results = []
  row = parse_row(gradient_row)
  for name in tasks:
    problem = get_task(name, steps=steps)
    cell = run_cell(row, problem, Grid({"lr": (1.0,)}), [seed], curve_points=1)
    results.append(BaselineResult(name, row.label, float(cell.test[0, 0]), problem.steps, cell.run_s))
    for method in methods:
      results.append(gradient_free(problem, method, seconds=cell.run_s, population_size=population_size, seed=seed))
  return results


def markdown_table(results: Sequence[BaselineResult]) -> str:
  lines = ["| task | method | test metric | steps / generations | seconds |", "|---|---|---|---|---|"]
  lines += [f"| {r.task} | {r.method} | {r.test:.3f} | {r.iterations} | {r.seconds:.2f} |" for r in results]
  return "\n".join(lines)


def write_csv(results: Sequence[BaselineResult], path) -> None:
  np.savetxt(path, np.array([list(map(str, r)) for r in results]), fmt="%s", delimiter=",",
             header=",".join(BaselineResult._fields), comments="")
