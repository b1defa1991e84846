"""Cost and benefit of the SAM family on a small CNN: wall time per step relative to the base optimizer, and test
accuracy on digits with noisy training labels.

    python benchmarks/sam_cost.py                       # writes benchmarks/results/sam_cost.md
    python benchmarks/sam_cost.py --steps 100 --gen-steps 300 --reps 2   # quick look

Part 1 (cost): ``optix_evo.models.ConvNet`` on ``digits_image`` (default widths 8/16 and 32: on the 2-core CPU the
default 16/32/64 net is ~12× slower per step, so the 8/16 net keeps the run within minutes; ``--features 16 32
--hidden 64`` measures the default), each optimizer trained for ``--steps`` steps inside
one ``lax.scan`` (:func:`optix_evo.training.fit`, compiled once beforehand); the runs of all optimizers are
interleaved ``--reps`` times in one process and the median time per step is reported as a ratio to the base.
Part 2 (benefit): ``--noise`` of the training labels replaced by a different random class, three seeds (label noise,
initialisation and batch order) trained in one ``jax.vmap``; test accuracy of the final parameters (mean ± std) and
the wall time of the vmapped run, also as a ratio to the base. Sharpness of the final parameters, per seed on the
training loss with that seed's noisy labels (all training examples, or the first ``--sharpness-examples``):
:func:`optix_evo.diagnostics.sharpness_summary` — top Hessian eigenvalue (``--power-iters`` steps of power iteration)
and Hutchinson's Hessian trace (``--trace-samples`` probes), mean ± std over seeds (not timed).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optix_evo import training  # noqa: E402
from optix_evo.data import Dataset, load_dataset  # noqa: E402
from optix_evo.diagnostics import sharpness_summary  # noqa: E402
from optix_evo.models import ConvNet  # noqa: E402
from optix_evo.sam_family import asam, looksam, sam  # noqa: E402


def optimizers(lr: float) -> dict[str, tuple[optax.GradientTransformation, str]]:
  base = lambda: optax.sgd(lr, momentum=0.9)
  return {
      "base": (base(), "SGD, momentum 0.9"),
      "sam": (sam(base(), rho=0.05), "rho=0.05"),
      "asam": (asam(base(), rho=0.5, eta=0.01), "rho=0.5, eta=0.01"),
      "looksam": (looksam(base(), rho=0.05, k=5, alpha=0.7), "rho=0.05, k=5, alpha=0.7"),
      "sam every 5": (looksam(base(), rho=0.05, k=5, alpha=0.0), "looksam alpha=0: SAM step every 5th step"),
  }


def noisy_labels(y: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
  """Replaces ``fraction`` of the labels by a different class drawn uniformly."""
  rng = np.random.default_rng(seed)
  flip = rng.random(y.shape[0]) < fraction
  shift = rng.integers(1, num_classes, size=y.shape[0])
  return np.where(flip, (y + shift) % num_classes, y).astype(y.dtype)


def compiled(fn, *args):
  """``fn`` compiled ahead of time for ``args`` (so timed runs exclude compilation)."""
  return jax.jit(fn).lower(*args).compile()


def timed(fn, *args) -> tuple[float, float, object]:
  """Wall time and CPU time of this process (all threads) for one call of ``fn``, and its result."""
  start, start_cpu = time.perf_counter(), time.process_time()
  out = jax.block_until_ready(fn(*args))
  return time.perf_counter() - start, time.process_time() - start_cpu, out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--steps", type=int, default=300, help="steps per timed run (part 1)")
  parser.add_argument("--reps", type=int, default=5, help="interleaved timed runs per optimizer (part 1)")
  parser.add_argument("--gen-steps", type=int, default=1500, help="training steps per seed (part 2)")
  parser.add_argument("--noise", type=float, default=0.2, help="fraction of training labels replaced (part 2)")
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--lr", type=float, default=0.05)
  parser.add_argument("--features", type=int, nargs="+", default=[8, 16], help="ConvNet conv widths")
  parser.add_argument("--hidden", type=int, default=32, help="ConvNet dense width")
  parser.add_argument("--sharpness-examples", type=int, default=0,
                      help="training examples in the sharpness loss (first N of the training set; 0 = all)")
  parser.add_argument("--power-iters", type=int, default=20, help="power-iteration steps for the top eigenvalue")
  parser.add_argument("--trace-samples", type=int, default=32, help="Hutchinson probes for the Hessian trace")
  parser.add_argument("--out", type=pathlib.Path, default=ROOT / "benchmarks" / "results" / "sam_cost.md")
  args = parser.parse_args()

  load_before = os.getloadavg()[0]
  split = load_dataset("digits_image", seed=0)
  model = ConvNet(features=tuple(args.features), hidden=args.hidden)
  loss_fn = training.classification_loss(model.apply)
  x0 = split.train.x[:1]
  opts = optimizers(args.lr)

  # Part 1: time per step, one seed, interleaved repetitions.
  trainers = {}
  for name, (opt, _) in opts.items():
    def train(key, opt=opt):
      params = model.init(key, x0)
      return training.fit(loss_fn, params, opt, split.train, key, steps=args.steps, batch_size=args.batch_size).params

    trainers[name] = compiled(train, jax.random.key(0))
  times = {name: [] for name in opts}
  for rep in range(args.reps):
    for name, fn in trainers.items():
      times[name].append(timed(fn, jax.random.key(rep + 1))[:2])
  per_step = {name: statistics.median(wall for wall, _ in t) / args.steps for name, t in times.items()}
  cpu_per_step = {name: statistics.median(cpu for _, cpu in t) / args.steps for name, t in times.items()}

  # Part 2: generalisation under label noise, three seeds vmapped.
  seeds = [0, 1, 2]
  y_noisy = jnp.asarray(np.stack([noisy_labels(split.train.y, args.noise, split.num_classes, 100 + s) for s in seeds]))
  x_train = jnp.asarray(split.train.x)
  n_sharp = args.sharpness_examples or x_train.shape[0]
  if not 0 < n_sharp <= x_train.shape[0]:
    raise ValueError(f"--sharpness-examples must be in 1..{x_train.shape[0]} (0 = all), got {args.sharpness_examples}.")

  def sharpness(params, y, key):
    x_s, y_s = x_train[:n_sharp], y[:n_sharp]
    return sharpness_summary(lambda p: loss_fn(p, x_s, y_s)[0], params, key,
                             iters=args.power_iters, samples=args.trace_samples)

  sharpness_fn = jax.jit(jax.vmap(sharpness))
  sharp_keys = jax.random.split(jax.random.key(1000), len(seeds))
  accuracy, gen_time, sharp = {}, {}, {}
  for name, (opt, _) in opts.items():
    def train_eval(seed, y, opt=opt):
      key = jax.random.key(seed)
      params = model.init(key, x0)
      result = training.fit(loss_fn, params, opt, Dataset(x_train, y), key, steps=args.gen_steps, batch_size=args.batch_size)
      return training.evaluate(loss_fn, result.params, split.test)["accuracy"], result.params

    fn = compiled(jax.vmap(train_eval), jnp.asarray(seeds), y_noisy)
    gen_time[name], _, (acc, final_params) = timed(fn, jnp.asarray(seeds), y_noisy)
    accuracy[name] = np.asarray(acc)
    sharp[name] = {k: np.asarray(v) for k, v in sharpness_fn(final_params, y_noisy, sharp_keys).items()}

  grads_per_step = {"base": 1.0, "sam": 2.0, "asam": 2.0, "looksam": 1.2, "sam every 5": 1.2}
  command = "python " + " ".join(["benchmarks/sam_cost.py", *sys.argv[1:]])
  lines = [
      "# SAM family: cost per step and accuracy under label noise",
      "",
      *([f"**Reduced run** (fewer steps/repetitions than the defaults, --steps {parser.get_default('steps')} --reps "
         f"{parser.get_default('reps')} --gen-steps {parser.get_default('gen_steps')}): a quick look, not converged.", ""]
        if any(getattr(args, k) < parser.get_default(k) for k in ("steps", "reps", "gen_steps")) else []),
      f"Command: `{command}`  ",
      f"Machine: {platform.machine()}, {jax.devices()[0].platform.upper()} ({jax.device_count()} device(s)), "
      f"jax {jax.__version__}, optax {optax.__version__}. ConvNet(features={tuple(args.features)}, hidden={args.hidden}) on digits_image "
      f"({split.train.num_examples} train / {split.test.num_examples} test), batch {args.batch_size}, SGD lr {args.lr} momentum 0.9.",
      "",
      f"Cost: median of {args.reps} interleaved runs of {args.steps} scanned steps (one seed). "
      f"Accuracy: {args.gen_steps} steps, {int(args.noise * 100)}% of training labels flipped, seeds {seeds} "
      "vmapped (noise, init, batch order); test accuracy of the final parameters, mean ± std over seeds; the "
      "vmapped run is timed once (no repetitions).",
      f"Sharpness: `sharpness_summary` of the final parameters on the noisy training loss of each seed "
      f"({n_sharp} training examples), top Hessian eigenvalue λ_max ({args.power_iters} power iterations) and "
      f"Hutchinson trace tr H ({args.trace_samples} probes); training loss and sharpness as mean ± std over seeds.",
      f"System load average (1 min) at start / end: {load_before:.1f} / {os.getloadavg()[0]:.1f} on "
      f"{os.cpu_count()} cores. On a shared, overloaded machine wall time is noisy; the CPU time of this process "
      "(all threads) is the steadier measure of the work done.",
      "",
      "| optimizer | settings | gradients / step | wall / step (ms) | wall ratio to base | CPU-time ratio to base "
      "| vmapped 3-seed run, wall ratio | test accuracy | train loss (noisy) | λ_max | tr H |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for name, (_, settings) in opts.items():
    acc, sh = accuracy[name], sharp[name]
    pm = lambda v, fmt: f"{v.mean():{fmt}} ± {v.std():{fmt}}"
    lines.append(
        f"| {name} | {settings} | {grads_per_step[name]:.1f} | {per_step[name] * 1e3:.3f} | "
        f"{per_step[name] / per_step['base']:.2f}× | {cpu_per_step[name] / cpu_per_step['base']:.2f}× | "
        f"{gen_time[name] / gen_time['base']:.2f}× | "
        f"{pm(acc, '.4f')} | {pm(sh['loss'], '.3f')} | {pm(sh['hessian_top_eigenvalue'], '.2f')} | "
        f"{pm(sh['hessian_trace'], '.1f')} |"
    )
  text = "\n".join(lines) + "\n"
  print(text)
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(text)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
