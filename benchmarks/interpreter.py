"""Genome interpreter figures (issue 6): step cost vs optax, one compilation for a population, fuzzing.

1. Train step of ``interpret(known("adam"))`` (genome passed as a traced argument, i.e. the program that serves every
   genome) vs ``optax.adam`` on a ~100k-parameter MLP (digits, 64-256-320-10), steps inside ``lax.scan``
   (``optix_evo.training.fit``): one run, and 64 runs vmapped (over seeds for optax, over 64 genomes for the
   interpreter); both op-selection strategies (``lax.switch`` and compute-all + ``select_n``).
2. 64 different random genomes, 200 steps of a small MLP (64-32-10): one ``jit(vmap)`` compilation with each
   strategy (``switch``: the members' update graphs run one after another inside each step, each computing only its
   own ops; ``select``: every op computed for every member), and the population trained candidate after candidate in
   one program with ``lax.map`` (``switch``), vs 64 runs of a pre-compiled ``optax.adam`` trainer, vs ``jax.vmap``
   of ``optax.adam`` over 64 seeds (what vmapping alone costs on this CPU), and vs compiling each genome separately
   (each genome's standalone ``to_python`` code jitted on its own).
3. Fuzzing: N random and mutated genomes through ``check_integrity`` and a vmapped interpreter probe that compares
   the divergence flag with the actual finiteness of every update.

Variants are timed interleaved; each time is the minimum over repeats (least disturbed run on a shared machine).

    python benchmarks/interpreter.py [--repeats 5] [--fuzz 10000] [--out benchmarks/results/interpreter.md]
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

import optix_evo.graph as G
from optix_evo.data import load_dataset
from optix_evo.models.mlp import MLP
from optix_evo.training import classification_loss, fit


def _timed(fn, *args):
  start = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - start


def _best(variants: dict, repeats: int) -> dict:
  for fn, args in variants.values():  # compile and warm up
    jax.block_until_ready(fn(*args))
  times = {k: [] for k in variants}
  for _ in range(repeats):
    for k, (fn, args) in variants.items():
      times[k].append(_timed(fn, *args))
  return {k: float(np.min(v)) for k, v in times.items()}


def step_cost(split, repeats: int, steps: int, pop_steps: int, batch: int) -> tuple[list[str], dict]:
  model = MLP(hidden=(256, 320), outputs=split.num_classes)
  params = model.init(jax.random.key(0), split.train.x[:1])
  n_params = sum(p.size for p in jax.tree.leaves(params))
  loss_fn = classification_loss(model.apply)
  adam_genome = G.known("adam")
  pop = G.stack([adam_genome] * 64)
  keys = jax.random.split(jax.random.key(1), 64)

  def train(opt, key, n):
    return fit(loss_fn, params, opt, split.train, key, steps=n, batch_size=batch).params

  variants = {
      ("single", "optax"): (jax.jit(lambda k: train(optax.adam(1e-3), k, steps)), (keys[0],)),
      ("vmap64", "optax"): (jax.jit(jax.vmap(lambda k: train(optax.adam(1e-3), k, pop_steps))), (keys,)),
  }
  for strategy in G.interpreter.STRATEGIES:
    variants[("single", strategy)] = (
        jax.jit(lambda g, k, s=strategy: train(G.interpret(g, 1e-3, strategy=s), k, steps)), (adam_genome, keys[0]))
    variants[("vmap64", strategy)] = (
        jax.jit(jax.vmap(lambda g, k, s=strategy: train(G.interpret(g, 1e-3, strategy=s), k, pop_steps))), (pop, keys))
  best = _best(variants, repeats)
  lines = [
      f"### 1. Train step, ~100k-parameter MLP (64-256-320-10, {n_params} parameters), digits, batch {batch}",
      "",
      f"Single run: {steps} scanned steps; vmapped: 64 runs × {pop_steps} scanned steps. Genome passed as a traced "
      "argument (the one program that serves every genome).",
      "",
      "| run | optax.adam step (µs) | interpret(known('adam')), switch | interpret, select (compute all) |",
      "|---|---|---|---|",
  ]
  for mode, n in (("single", steps), ("vmap64", pop_steps)):
    base = best[(mode, "optax")]
    lines.append(f"| {mode} | {1e6 * base / n:.0f} | {best[(mode, 'switch')] / base:.2f}× | {best[(mode, 'select')] / base:.2f}× |")
  return lines, best


def population(split, repeats: int, steps: int, batch: int, separate: int) -> list[str]:
  model = MLP(hidden=(32,), outputs=split.num_classes)
  params = model.init(jax.random.key(0), split.train.x[:1])
  loss_fn = classification_loss(model.apply)
  genomes = [G.random_genome(5000 + i) for i in range(64)]
  pop = G.stack(genomes)
  keys = jax.random.split(jax.random.key(2), 64)

  def train(opt, key):
    return fit(loss_fn, params, opt, split.train, key, steps=steps, batch_size=batch).loss[-1]

  def train_genome(g, key, strategy):
    return train(G.interpret(g, 1e-2, total_steps=steps, strategy=strategy), key)

  def compile_time(fn, *args):
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return time.perf_counter() - start, compiled

  vmapped = jax.jit(jax.vmap(lambda g, k: train_genome(g, k, "switch")))
  selected = jax.jit(jax.vmap(lambda g, k: train_genome(g, k, "select")))
  mapped = jax.jit(lambda p, k: jax.lax.map(lambda a: train_genome(*a, "switch"), (p, k)))
  adam = jax.jit(lambda k: train(optax.adam(1e-2), k))
  adam_vmap = jax.jit(jax.vmap(lambda k: train(optax.adam(1e-2), k)))
  t_vmap_compile, vmapped_c = compile_time(vmapped, pop, keys)
  t_select_compile, selected_c = compile_time(selected, pop, keys)
  t_map_compile, mapped_c = compile_time(mapped, pop, keys)
  t_adam_compile, adam_c = compile_time(adam, keys[0])
  _, adam_vmap_c = compile_time(adam_vmap, keys)
  jax.block_until_ready(vmapped(pop, keys))
  compiles = vmapped._cache_size()
  other = G.stack([G.random_genome(9000 + i) for i in range(64)])
  jax.block_until_ready(vmapped(other, keys))  # a different population: no new compilation
  assert vmapped._cache_size() == compiles == 1, "the vmapped population must compile exactly once"

  def adam_loop(keys):
    return [adam_c(k) for k in keys]

  best = _best({"vmap": (vmapped_c, (pop, keys)), "select": (selected_c, (pop, keys)), "map": (mapped_c, (pop, keys)),
                "adam64": (adam_loop, (keys,)), "adam_vmap": (adam_vmap_c, (keys,))}, repeats)
  # compiling each genome on its own: its standalone code (only its ops), jitted separately
  sep_compile, sep_run = [], []
  for g, k in zip(genomes[:separate], keys):
    ns: dict = {}
    exec(G.to_python(g), ns)  # noqa: S102 - our generated code
    fn = jax.jit(lambda key, opt=ns["evolved"](1e-2, total_steps=steps): train(opt, key))
    t, compiled = compile_time(fn, k)
    sep_compile.append(t)
    sep_run.append(min(_timed(compiled, k) for _ in range(2)))
  separate_total = 64 * (np.mean(sep_compile) + np.mean(sep_run))
  n_params = sum(p.size for p in jax.tree.leaves(params))
  return [
      f"### 2. 64 random genomes, {steps} steps, MLP 64-32-10 ({n_params} parameters), batch {batch}",
      "",
      f"Compilations of the vmapped program for two different populations: {compiles} "
      f"(compile {t_vmap_compile:.1f} s; select program {t_select_compile:.1f} s; lax.map program "
      f"{t_map_compile:.1f} s; optax.adam trainer {t_adam_compile:.1f} s).",
      "",
      "| variant | time (s) | vs 64 pre-compiled optax.adam runs |",
      "|---|---|---|",
      f"| 64 × pre-compiled optax.adam (Python loop) | {best['adam64']:.2f} | 1.00× |",
      f"| optax.adam, jit(vmap) over 64 seeds (the cost of vmapping alone) | {best['adam_vmap']:.2f} | "
      f"{best['adam_vmap'] / best['adam64']:.2f}× |",
      f"| interpreter, jit(vmap) over the 64 genomes (switch: members' updates looped), run | {best['vmap']:.2f} | "
      f"{best['vmap'] / best['adam64']:.2f}× |",
      f"| interpreter, jit(vmap) over the 64 genomes (select: every op for every member), run | {best['select']:.2f} | "
      f"{best['select'] / best['adam64']:.2f}× |",
      f"| interpreter, jit(lax.map) over the 64 genomes (switch), run | {best['map']:.2f} | {best['map'] / best['adam64']:.2f}× |",
      f"| interpreter, jit(vmap) (switch), compile + run | {t_vmap_compile + best['vmap']:.2f} | "
      f"{(t_vmap_compile + best['vmap']) / best['adam64']:.2f}× |",
      f"| interpreter, jit(lax.map), compile + run | {t_map_compile + best['map']:.2f} | "
      f"{(t_map_compile + best['map']) / best['adam64']:.2f}× |",
      f"| each genome compiled separately (to_python code; {separate} measured: compile {np.mean(sep_compile):.2f} s + "
      f"run {np.mean(sep_run):.3f} s each, × 64) | {separate_total:.1f} | {separate_total / best['adam64']:.2f}× |",
      "",
      f"Speed-up of one compilation over compiling each genome separately (compile + run): "
      f"**{separate_total / (t_vmap_compile + best['vmap']):.1f}×** (vmap), "
      f"**{separate_total / (t_map_compile + best['map']):.1f}×** (lax.map) for 64 genomes; every further population reuses "
      "the compiled program.",
  ]


def fuzz(n: int, chunk: int = 256) -> list[str]:
  start = time.perf_counter()
  genomes = []
  for i in range(n):
    genomes.append(G.random_genome(100_000 + i) if i % 2 == 0 else G.mutate(200_000 + i, genomes[-1]))
  t_gen = time.perf_counter() - start

  @jax.jit
  def probe(pop, key):
    def one(g):
      w = jax.random.normal(key, (32,))
      opt = G.interpret(g, 0.1, total_steps=10)

      def step(state, grad):
        u, state = opt.update(grad, state, w)
        return state, jnp.all(jnp.isfinite(u))
      state, ok = jax.lax.scan(step, opt.init(w), 10 * jax.random.normal(key, (10, 32)))
      return G.is_finite(state), jnp.all(ok)
    return jax.vmap(one)(pop)

  start = time.perf_counter()
  mismatches = nonfinite = 0
  for s in range(0, n, chunk):
    part = genomes[s:s + chunk]
    part = part + [part[0]] * (chunk - len(part))
    flag, actual = (np.asarray(x)[: min(chunk, n - s)] for x in probe(G.stack(part), jax.random.key(s)))
    mismatches += int(np.sum(flag != actual))
    nonfinite += int(np.sum(~actual))
  t_probe = time.perf_counter() - start
  start = time.perf_counter()
  res = G.check_integrity(G.stack(genomes))
  t_check = time.perf_counter() - start
  counts = {r: int(np.sum(res.reason == i)) for i, r in enumerate(G.REASONS)}
  return [
      f"### 3. Fuzzing: {n} genomes (half random, half mutated)",
      "",
      f"Sampling + mutation {t_gen:.0f} s; vmapped interpreter probe (10 steps, gradients ×10) {t_probe:.0f} s: "
      f"{nonfinite} genomes produced non-finite updates, flag mismatches: **{mismatches}**; "
      f"check_integrity {t_check:.0f} s, no exceptions.",
      "",
      "| reason | " + " | ".join(G.REASONS) + " |",
      "|---|" + "---|" * len(G.REASONS),
      "| genomes | " + " | ".join(str(counts[r]) for r in G.REASONS) + " |",
  ]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--pop-steps", type=int, default=20, help="steps of each vmapped-64 run of the ~100k MLP")
  parser.add_argument("--separate", type=int, default=4, help="genomes compiled separately to estimate that cost")
  parser.add_argument("--fuzz", type=int, default=10_000)
  parser.add_argument("--fuzz-only", action="store_true", help="run only section 3")
  parser.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "interpreter.md"))
  args = parser.parse_args()

  split = load_dataset("digits", seed=0)
  lines = [
      f"{jax.default_backend()} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), "
      f"jax {jax.__version__}; times are minima over {args.repeats} interleaved repeats.",
      "",
  ]
  if not args.fuzz_only:
    step_lines, _ = step_cost(split, args.repeats, args.steps, args.pop_steps, 64)
    lines += step_lines + [""]
    print("\n".join(lines), flush=True)
    lines += population(split, args.repeats, args.steps, 32, args.separate) + [""]
    print("\n".join(lines[-14:]), flush=True)
  if args.fuzz:
    lines += fuzz(args.fuzz) + [""]
  lines += [f"Load average at the end: {os.getloadavg()[0]:.1f}.", "",
            "Command: `python " + " ".join(["benchmarks/interpreter.py", *sys.argv[1:]]) + "`"]
  table = "\n".join(lines)
  print(table)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text("# Genome interpreter figures\n\n" + table + "\n")


if __name__ == "__main__":
  main()
