"""Cost of ox.monitor: training-step time of a chain with the monitor over the same chain without it.

Trains a 64-128-128-10 MLP on digits inside one ``lax.scan`` (``optix_evo.training.fit``) with several zoo
optimizers, plain and wrapped in ``ox.monitor`` (keeping only the last step, and keeping every step of the run).
Variants are timed interleaved in one process, median over repeats; the table gives ratios to the plain chain.

    python benchmarks/monitor_cost.py [--steps 500] [--repeats 7] [--out benchmarks/results/monitor_cost.md]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import sys
import time

import jax
import numpy as np

import optix_evo as ox
from optix_evo.data import load_dataset
from optix_evo.models.mlp import MLP
from optix_evo.training import classification_loss, fit

OPTIMIZERS = ("sgd", "momentum", "adam", "lion", "adabelief", "swats")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=500)
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "monitor_cost.md"))
  args = parser.parse_args()

  split = load_dataset("digits", seed=0)
  model = MLP(hidden=(128, 128), outputs=split.num_classes)
  params = model.init(jax.random.key(0), split.train.x[:1])
  loss_fn = classification_loss(model.apply)
  n_params = sum(p.size for p in jax.tree.leaves(params))
  names = [n for n in OPTIMIZERS if n in ox.OPTIMIZERS]

  def trainer(opt):
    return jax.jit(lambda p: fit(loss_fn, p, opt, split.train, jax.random.key(1), steps=args.steps, batch_size=args.batch_size).params)

  variants = {}
  for name in names:
    variants[(name, "plain")] = trainer(ox.get_optimizer(name))
    variants[(name, "last")] = trainer(ox.monitor(ox.get_optimizer(name)))
    variants[(name, "all")] = trainer(ox.monitor(ox.get_optimizer(name), history=args.steps))
  for run in variants.values():  # compile and warm up
    jax.block_until_ready(run(params))
  times = {k: [] for k in variants}
  for _ in range(args.repeats):
    for k, run in variants.items():  # interleaved, so load changes hit every variant alike
      start = time.perf_counter()
      jax.block_until_ready(run(params))
      times[k].append(time.perf_counter() - start)
  med = {k: float(np.median(v)) for k, v in times.items()}

  lines = [
      f"MLP 64-128-128-10 ({n_params} parameters) on digits, batch {args.batch_size}, {args.steps} scanned steps, "
      f"median of {args.repeats} interleaved repeats; {jax.default_backend()} ({platform.processor() or platform.machine()}), "
      f"jax {jax.__version__}.",
      "",
      "| optimizer | plain step (µs) | monitor, last step (ratio) | monitor, every step kept (ratio) |",
      "|---|---|---|---|",
  ]
  for name in names:
    base = med[(name, "plain")]
    lines.append(
        f"| {name} | {1e6 * base / args.steps:.0f} | {med[(name, 'last')] / base:.3f}× | {med[(name, 'all')] / base:.3f}× |"
    )
  ratios = [med[(n, v)] / med[(n, "plain")] for n in names for v in ("last", "all")]
  lines += ["", f"Geometric mean ratio: {np.exp(np.mean(np.log(ratios))):.3f}× (target ≤ 1.10×).", "",
            "Command: `python " + " ".join(["benchmarks/monitor_cost.py", *sys.argv[1:]]) + "`"]
  table = "\n".join(lines)
  print(table)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text("# ox.monitor step cost\n\n" + table + "\n")


if __name__ == "__main__":
  main()
