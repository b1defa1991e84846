"""Compile time vs run time, and one vmapped (seeds × grid) program vs a Python loop, for `optix-evo bench` cells.

    python benchmarks/bench_compile.py [--task digits_mlp] [--seeds 5] [--out benchmarks/results/bench_compile.md]

For one (optimizer, task) cell of 5 seeds × a 5-point LR grid it measures, side by side in one process:
  * vmapped: one program over grid × seeds (what the bench does): 1 compilation;
  * loop, traced LR: one program for one (LR, seed), compiled once and called grid × seeds times;
  * loop, constant LR: the LR baked in as a Python float, so every grid point compiles its own program.
Wall times on a shared machine vary; ratios within one run are what to read. CPU time of the process is also given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from optix_evo.bench.core import LR_GRID_5  # noqa: E402
from optix_evo.bench.rows import parse_row  # noqa: E402
from optix_evo.bench.runner import Grid, make_train_fn, run_cell  # noqa: E402
from optix_evo.tasks import get_task  # noqa: E402


def _timed(fn):
  wall, cpu = time.perf_counter(), time.process_time()
  out = jax.block_until_ready(fn())
  return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--task", default="digits_mlp")
  parser.add_argument("--row", default="adam")
  parser.add_argument("--seeds", type=int, default=5)
  parser.add_argument("--out", default="benchmarks/results/bench_compile.md")
  args = parser.parse_args()
  problem = get_task(args.task)
  row = parse_row(args.row)
  grid = Grid({"lr": LR_GRID_5})
  seeds = list(range(args.seeds))
  keys = [jax.random.key(s) for s in seeds]

  vm, wall_v, cpu_v = _timed(lambda: run_cell(row, problem, grid, seeds))
  one = jax.jit(make_train_fn(row, problem, curve_points=50))
  lrs = grid.arrays()["lr"]
  points = [(lr, k) for lr in lrs for k in keys]
  _, first_s, cpu_first = _timed(lambda: one({"lr": points[0][0]}, points[0][1])[1])  # compile + one run
  _, rest_s, cpu_rest = _timed(lambda: [one({"lr": lr}, k)[1] for lr, k in points[1:]])
  loop_run_s = rest_s * len(points) / max(len(points) - 1, 1)

  def loop_constant():
    out = []
    for lr in LR_GRID_5:
      fixed = row._replace(build=lambda hp, schedule, lr=lr: row.build({"lr": lr}, schedule))
      program = jax.jit(make_train_fn(fixed, problem, curve_points=50))
      out += [program({}, k)[1] for k in keys]
    return out

  _, wall_c, cpu_c = _timed(loop_constant)
  runs = grid.size * len(seeds)
  wall_t = first_s + rest_s
  lines = [
      f"Cell: `{args.row}` on `{args.task}` ({problem.steps} steps, batch {problem.batch_size}), {grid.size} LRs × "
      f"{len(seeds)} seeds = {runs} training runs. Command: `python benchmarks/bench_compile.py --task {args.task}`.",
      "",
      "| variant | compilations | compile s | run s (all runs) | total wall s | CPU s | total vs vmapped |",
      "|---|---|---|---|---|---|---|",
      f"| vmapped seeds × grid, one program (bench) | {vm.compiles} | {vm.compile_s:.1f} | {vm.run_s:.2f} | {wall_v:.1f} | "
      f"{cpu_v:.1f} | 1.00 |",
      f"| loop, LR traced (one program reused) | 1 | ≈{first_s - loop_run_s / runs:.1f} | {loop_run_s:.2f} | {wall_t:.1f} | "
      f"{cpu_first + cpu_rest:.1f} | {wall_t / wall_v:.2f} |",
      f"| loop, LR constant (one program per LR) | {grid.size} | – | – | {wall_c:.1f} | {cpu_c:.1f} | {wall_c / wall_v:.2f} |",
      "",
      f"Run time, vmapped vs loop: {loop_run_s / max(vm.run_s, 1e-9):.2f}× faster vmapped; compile / run ratio of the "
      f"vmapped cell: {vm.compile_s / max(vm.run_s, 1e-9):.1f}×.",
  ]
  text = "\n".join(lines)
  print(text)
  with open(args.out, "w") as f:
    f.write(text + "\n")


if __name__ == "__main__":
  main()
