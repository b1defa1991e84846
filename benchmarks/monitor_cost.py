"""Cost of ox.monitor: training-step time of a chain with the monitor over the same chain without it.

Trains a 64-128-128-10 MLP on digits inside one ``lax.scan`` (``optix_evo.training.fit``) with several zoo
optimizers, plain and wrapped in ``ox.monitor`` (keeping only the last step, and keeping every step of the run).
Variants are timed interleaved in one process; each variant's time is the minimum over repeats (the least
disturbed run: on a shared machine the median mostly measures the neighbours); the table gives ratios to the plain
chain. Because timings on a shared CPU are noisy, it also gives XLA's static cost analysis of one compiled training
step (forward, backward, optimizer update) with and without the monitor: the ratios of floating-point operations
and of bytes accessed, which do not depend on the load.

    python benchmarks/monitor_cost.py [--steps 300] [--repeats 15] [--out benchmarks/results/monitor_cost.md]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optix_evo as ox
from optix_evo.data import load_dataset
from optix_evo.models.mlp import MLP
from optix_evo.training import classification_loss, fit

OPTIMIZERS = ("sgd", "momentum", "adam", "lion", "adabelief", "swats")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "monitor_cost.md"))
  args = parser.parse_args()

  split = load_dataset("digits", seed=0)
  model = MLP(hidden=(128, 128), outputs=split.num_classes)
  params = model.init(jax.random.key(0), split.train.x[:1])
  loss_fn = classification_loss(model.apply)
  n_params = sum(p.size for p in jax.tree.leaves(params))
  names = [n for n in OPTIMIZERS if n in ox.OPTIMIZERS]

  x, y = jnp.asarray(split.train.x[: args.batch_size]), jnp.asarray(split.train.y[: args.batch_size])

  def step_cost(opt):
    def step(p, state):
      g = jax.grad(lambda q: loss_fn(q, x, y)[0])(p)
      u, state = opt.update(g, state, p)
      return optax.apply_updates(p, u), state

    cost = jax.jit(step).lower(params, opt.init(params)).compile().cost_analysis()
    return np.array([cost["flops"], cost["bytes accessed"]])

  def trainer(opt):
    train = lambda p: fit(loss_fn, p, opt, split.train, jax.random.key(1), steps=args.steps, batch_size=args.batch_size)
    return jax.jit(lambda p: train(p).params)

  variants = {}
  costs = {}
  for name in names:
    costs[name] = step_cost(ox.monitor(ox.get_optimizer(name))) / step_cost(ox.get_optimizer(name))
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
  best = {k: float(np.min(v)) for k, v in times.items()}

  lines = [
      f"MLP 64-128-128-10 ({n_params} parameters) on digits, batch {args.batch_size}, {args.steps} scanned steps, "
      f"minimum of {args.repeats} interleaved repeats; {jax.default_backend()} ({platform.processor() or platform.machine()}, "
      f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end), jax {jax.__version__}.",
      "",
      "| optimizer | plain step (µs) | monitor, last step (time ratio) | monitor, every step kept (time ratio) "
      "| one step: XLA flops ratio | one step: XLA bytes-accessed ratio |",
      "|---|---|---|---|---|---|",
  ]
  for name in names:
    base = best[(name, "plain")]
    lines.append(
        f"| {name} | {1e6 * base / args.steps:.0f} | {best[(name, 'last')] / base:.3f}× | {best[(name, 'all')] / base:.3f}× "
        f"| {costs[name][0]:.3f}× | {costs[name][1]:.3f}× |"
    )
  ratios = [best[(n, v)] / best[(n, "plain")] for n in names for v in ("last", "all")]
  lines += ["", f"Geometric mean time ratio: {np.exp(np.mean(np.log(ratios))):.3f}× (target ≤ 1.10×).", "",
            "Command: `python " + " ".join(["benchmarks/monitor_cost.py", *sys.argv[1:]]) + "`"]
  table = "\n".join(lines)
  print(table)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text("# ox.monitor step cost\n\n" + table + "\n")


if __name__ == "__main__":
  main()
