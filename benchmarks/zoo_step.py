"""Update-step cost of every zoo optimizer on a ~1M-parameter pytree, relative to ``optax.adam``.

Each optimizer runs ``--steps`` update + apply steps inside one jitted ``lax.scan``; the optimizers are timed
round-robin (side by side, in one process) ``--repeats`` times and the median is reported. The gradient of step ``i``
is a fixed random tree scaled by ``1 + 1e-3·i`` (fused into the update, so every optimizer reads fresh values).

    python benchmarks/zoo_step.py                 # prints the table, writes benchmarks/results/zoo_step.md
    python benchmarks/zoo_step.py --model mlp102k --only swats,adadecay --hlo --append   # a realistic model

``--model mlp102k``: the leaves of the 64-256-320-10 MLP (102,090 parameters) of the search-speed trainer. ``--hlo``
counts, in each optimized program, the fusions (kernels: passes over the data) and the reductions: on XLA:CPU a
tree-wide reduction (SWATS' p'p and p'g, AdaDecay's sums) is never fused with the elementwise update that produces
its input, so each costs its own pass.
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import re
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import optix_evo as ox  # noqa: E402

MODELS = {
    "1m": {"conv": (3, 3, 64, 128), "dense1": (512, 1024), "dense2": (1024, 384), "bias1": (1024,), "head": (384, 10),
           "bias2": (10,)},  # 996,106 parameters
    "mlp102k": {"w1": (64, 256), "b1": (256,), "w2": (256, 320), "b2": (320,), "w3": (320, 10), "b3": (10,)},
}
SHAPES = MODELS["1m"]

# name -> (ours, closest optax optimizer the target refers to, or None for pure re-exports)
LR = 1e-3
CASES = {
    "swats": (lambda: ox.swats(LR), "adam"),
    "swats (SGD phase)": (lambda: ox.swats(LR), "momentum"),  # state set to the SGD phase, see make_runner
    "adabound": (lambda: ox.adabound(LR), "adam"),
    "amsbound": (lambda: ox.amsbound(LR), "amsgrad"),
    "powersign": (lambda: ox.powersign(LR), "lion"),
    "addsign": (lambda: ox.addsign(LR), "lion"),
    "powersign-ld": (lambda: ox.powersign(LR, sign_decay_fn=ox.linear_sign_decay(1000)), "lion"),
    "adan (corrected)": (lambda: ox.adan(LR, weight_decay=1e-2), "adan"),
    "sgd + layerwise decay (adadecay)": (
        lambda: optax.chain(ox.add_layerwise_decayed_weights(1e-4, "adadecay"), optax.sgd(LR, 0.9)), "sgd + decay"),
    "sgd + layerwise decay (awd)": (
        lambda: optax.chain(ox.add_layerwise_decayed_weights(1e-4, "awd"), optax.sgd(LR, 0.9)), "sgd + decay"),
    "adagrad (torch eps)": (lambda: ox.adagrad(LR, 0.0, 1e-10, eps_in_sqrt=False), "adagrad"),
    "radam (torch eps)": (lambda: ox.radam(LR, eps_after_bias_correction=False), "radam"),
    "ox.adam (checked re-export)": (lambda: ox.adam(LR), "adam"),
}
OPTAX = {
    "adam": lambda: optax.adam(LR),
    "amsgrad": lambda: optax.amsgrad(LR),
    "momentum": lambda: optax.sgd(learning_rate=LR, momentum=0.9),
    "lion": lambda: optax.lion(LR),
    "adan": lambda: optax.adan(learning_rate=LR, weight_decay=1e-2),
    "sgd + decay": lambda: optax.chain(optax.add_decayed_weights(1e-4), optax.sgd(LR, 0.9)),
    "adagrad": lambda: optax.adagrad(LR),
    "radam": lambda: optax.radam(LR),
}


def in_sgd_phase(state):
  """``state`` with every SWATS state in it switched to the SGD phase (the switch itself is data dependent)."""
  switched = lambda s: s._replace(switch_step=jnp.ones([], jnp.int32), sgd_rate=jnp.ones([]) * LR, switch_lr=jnp.ones([]) * LR)  # noqa: E731
  return jax.tree.map(lambda s: switched(s) if isinstance(s, ox.ScaleBySwatsState) else s, state,
                      is_leaf=lambda s: isinstance(s, ox.ScaleBySwatsState))


def make_runner(optimizer: optax.GradientTransformation, steps: int, sgd_phase: bool = False):
  keys = jax.random.split(jax.random.key(0), len(SHAPES))
  params = {k: 0.1 * jax.random.normal(key, s) for key, (k, s) in zip(keys, SHAPES.items())}
  grads = jax.tree.map(lambda p: 0.01 * jnp.cos(p * 37.0), params)

  @jax.jit
  def run(params, state):
    def step(carry, i):
      p, s = carry
      g = jax.tree.map(lambda x: x * (1.0 + 1e-3 * i), grads)
      u, s = optimizer.update(g, s, p)
      return (optax.apply_updates(p, u), s), None

    return jax.lax.scan(step, (params, state), jnp.arange(steps, dtype=jnp.float32))[0]

  state = in_sgd_phase(optimizer.init(params)) if sgd_phase else optimizer.init(params)
  if sgd_phase:
    assert bool(ox.swats_in_sgd_phase(run(params, state)[1]))
  jax.block_until_ready(run(params, state))  # compile
  runner = lambda: jax.block_until_ready(run(params, state))  # noqa: E731
  runner.hlo = lambda: run.lower(params, state).compile().as_text()
  return runner


def hlo_counts(text: str) -> str:
  """Fusions by kind and reduce instructions of an optimized HLO module."""
  kinds = re.findall(r"fusion\(.*kind=(\w+)", text)
  by_kind = ", ".join(f"{kinds.count(k)} {k}" for k in sorted(set(kinds)))
  reduces = len(re.findall(r" reduce\(", text))
  return f"{len(kinds)} fusions ({by_kind}), {reduces} reduce"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent / "results" / "zoo_step.md"))
  parser.add_argument("--model", choices=sorted(MODELS), default="1m")
  parser.add_argument("--only", default=None, help="comma-separated substrings of the optimizers to run")
  parser.add_argument("--hlo", action="store_true", help="add each program's fusion and reduction counts")
  parser.add_argument("--append", action="store_true", help="append the table to --out as a section")
  args = parser.parse_args()
  global SHAPES
  SHAPES = MODELS[args.model]

  cases = {k: v for k, v in CASES.items() if args.only is None or any(o in k for o in args.only.split(","))}
  refs = {"adam"} | {closest for _, closest in cases.values()}
  builders = {f"optax.{k}": v for k, v in OPTAX.items() if k in refs} | {k: v[0] for k, v in cases.items()}
  runners = {name: make_runner(build(), args.steps, sgd_phase="SGD phase" in name) for name, build in builders.items()}
  times = {name: [] for name in runners}
  for _ in range(args.repeats):
    for name, runner in runners.items():
      start = time.process_time()  # process CPU time (all threads): less disturbed by other processes than wall time
      runner()
      times[name].append((time.process_time() - start) / args.steps)
  median = {name: statistics.median(t) for name, t in times.items()}
  adam = median["optax.adam"]

  n_params = sum(int(np.prod(s)) for s in SHAPES.values())
  lines = [
      f"Update + apply step on a {n_params:,}-parameter pytree ({len(SHAPES)} leaves), float32, "
      f"{args.steps} steps per `lax.scan`, median of {args.repeats} round-robin repeats of process CPU time; "
      f"{jax.devices()[0].platform.upper()} ({platform.processor() or platform.machine()}), jax {jax.__version__}, "
      f"optax {optax.__version__}.",
      "",
      "| optimizer | µs / step | × optax.adam | closest optax optimizer | × closest | ≤ 1.3× |"
      + (" optimized HLO |" if args.hlo else ""),
      "|---|---|---|---|---|---|" + ("---|" if args.hlo else ""),
  ]
  hlo = (lambda name: f" {hlo_counts(runners[name].hlo())} |") if args.hlo else (lambda name: "")
  for name in OPTAX:
    if f"optax.{name}" in median:
      lines.append(f"| optax.{name} | {median[f'optax.{name}'] * 1e6:.0f} | {median[f'optax.{name}'] / adam:.2f} "
                   f"| | | |{hlo(f'optax.{name}')}")
  for name, (_, closest) in cases.items():
    ratio = median[name] / median[f"optax.{closest}"]
    lines.append(
        f"| {name} | {median[name] * 1e6:.0f} | {median[name] / adam:.2f} | optax.{closest} | {ratio:.2f} | "
        f"{'yes' if ratio <= 1.3 else '**no**'} |{hlo(name)}"
    )
  command = f"python benchmarks/zoo_step.py --steps {args.steps} --repeats {args.repeats}" + (
      f" --model {args.model}" if args.model != "1m" else "") + (f" --only {args.only}" if args.only else "") + (
      " --hlo" if args.hlo else "") + (" --append" if args.append else "")
  lines += ["", f"Command: `{command}`"]
  table = "\n".join(lines)
  print(table)
  pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  if args.append:
    with open(args.out, "a", encoding="utf-8") as f:
      f.write(f"\n## {args.model}\n\n" + table + "\n")
  else:
    pathlib.Path(args.out).write_text("# Zoo update-step cost\n\n" + table + "\n")


if __name__ == "__main__":
  main()
