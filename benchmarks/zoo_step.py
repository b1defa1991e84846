"""Update-step cost of every zoo optimizer on a ~1M-parameter pytree, relative to ``optax.adam``.

Each optimizer runs ``--steps`` update + apply steps inside one jitted ``lax.scan``; the optimizers are timed
round-robin (side by side, in one process) ``--repeats`` times and the median is reported. The gradient of step ``i``
is a fixed random tree scaled by ``1 + 1e-3·i`` (fused into the update, so every optimizer reads fresh values).

    python benchmarks/zoo_step.py                 # prints the table, writes benchmarks/results/zoo_step.md
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import optix_evo as ox  # noqa: E402

SHAPES = {"conv": (3, 3, 64, 128), "dense1": (512, 1024), "dense2": (1024, 384), "bias1": (1024,), "head": (384, 10),
          "bias2": (10,)}  # 1,003,786 parameters

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
  return lambda: jax.block_until_ready(run(params, state))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=50)
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent / "results" / "zoo_step.md"))
  args = parser.parse_args()

  builders = {f"optax.{k}": v for k, v in OPTAX.items()} | {k: v[0] for k, v in CASES.items()}
  runners = {name: make_runner(build(), args.steps, sgd_phase="SGD phase" in name) for name, build in builders.items()}
  times = {name: [] for name in runners}
  for _ in range(args.repeats):
    for name, runner in runners.items():
      start = time.perf_counter()
      runner()
      times[name].append((time.perf_counter() - start) / args.steps)
  median = {name: statistics.median(t) for name, t in times.items()}
  adam = median["optax.adam"]

  n_params = sum(int(jnp.prod(jnp.array(s))) for s in SHAPES.values())
  lines = [
      f"Update + apply step on a {n_params:,}-parameter pytree ({len(SHAPES)} leaves), float32, "
      f"{args.steps} steps per `lax.scan`, median of {args.repeats} round-robin repeats; "
      f"{jax.devices()[0].platform.upper()} ({platform.processor() or platform.machine()}), jax {jax.__version__}, "
      f"optax {optax.__version__}.",
      "",
      "| optimizer | µs / step | × optax.adam | closest optax optimizer | × closest | ≤ 1.3× |",
      "|---|---|---|---|---|---|",
  ]
  for name in OPTAX:
    lines.append(f"| optax.{name} | {median[f'optax.{name}'] * 1e6:.0f} | {median[f'optax.{name}'] / adam:.2f} | | | |")
  for name, (_, closest) in CASES.items():
    ratio = median[name] / median[f"optax.{closest}"]
    lines.append(
        f"| {name} | {median[name] * 1e6:.0f} | {median[name] / adam:.2f} | optax.{closest} | {ratio:.2f} | "
        f"{'yes' if ratio <= 1.3 else '**no**'} |"
    )
  lines += ["", f"Command: `python benchmarks/zoo_step.py --steps {args.steps} --repeats {args.repeats}`"]
  table = "\n".join(lines)
  print(table)
  pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.out).write_text("# Zoo update-step cost\n\n" + table + "\n")


if __name__ == "__main__":
  main()
