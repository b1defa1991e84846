"""Search speed: what compilation and training cost, measured side by side in one run.

    python benchmarks/search_speed.py [--repeats 3] [--skip-quick] [--out benchmarks/results/search_speed.md]

1. Trainer: a scanned 200-step ``training.fit`` of a ~100k-parameter MLP (64-256-320-10) on digits with
   ``interpret(known("adam"))`` (the genome a traced argument: the program that serves every genome) vs ``optax.adam``:
   compile seconds (tracing, lowering and XLA) and run time.
2. The search's evaluator program (``optix_evo.search.evaluate.Evaluator``, one per task for every protocol):
   compile seconds for the digits MLP and for the NOS ConvNet on 8×8 digits.
3. 64 random genomes (integrity-checked) trained 200 steps by the evaluator vs 64 pre-compiled ``optax.adam`` runs
   (``lax.map`` over 64 seeds of the same trainer), on both tasks: run time only.
4. One generation of the quick preset (ask: mutation and the integrity check; the surrogate's probes and full runs)
   vs the pre-compiled Adam loop training the same runs (as many probe-length and full-length runs).
5. ``optix-evo search --preset quick`` in a fresh process, twice: with an empty persistent compilation cache (cold)
   and again with the cache the first run filled (warm): wall time and the share of compilation and tracing.

Each timing is the minimum over ``--repeats`` interleaved repeats (the least disturbed run on a shared machine);
ratios are taken within one run. Compile times are wall seconds of ``jit(...).lower(...).compile()``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import jax

jax.config.update("jax_num_cpu_devices", 1)  # sections 1-4 compare programs on one device each

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from optix_evo import graph, models  # noqa: E402
from optix_evo.compilation import CompileLog  # noqa: E402
from optix_evo.search import ga, preset  # noqa: E402
from optix_evo.search.driver import Search  # noqa: E402
from optix_evo.search.evaluate import Budget, Evaluator  # noqa: E402
from optix_evo.search.protocol import score, seed_keys  # noqa: E402
from optix_evo.tasks import Task, get_task  # noqa: E402
from optix_evo.training import classification_loss, evaluate, fit  # noqa: E402


def _best(fns: dict, repeats: int) -> dict:
  for fn in fns.values():
    jax.block_until_ready(fn())
  times = {k: [] for k in fns}
  for _ in range(repeats):
    for k, fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn())
      times[k].append(time.perf_counter() - start)
  return {k: min(v) for k, v in times.items()}


def _compile(fn, *args) -> tuple[float, object]:
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return time.perf_counter() - start, compiled


def trainer(repeats: int) -> tuple[list[str], dict]:
  task = get_task("digits_mlp")
  model = models.MLP(hidden=(256, 320), outputs=10)
  params = model.init(jax.random.key(0), task.train.x[:1])
  loss_fn = classification_loss(model.apply)
  n_params = sum(p.size for p in jax.tree.leaves(params))

  def train(opt, key):
    return fit(loss_fn, params, opt, task.train, key, steps=200, batch_size=64).params

  key, genome = jax.random.key(1), graph.known("adam")
  c_optax, optax_prog = _compile(lambda k: train(optax.adam(1e-3), k), key)
  c_genome, genome_prog = _compile(lambda g, k: train(graph.interpret(g, 1e-3), k), genome, key)
  t = _best({"optax": lambda: optax_prog(key), "genome": lambda: genome_prog(genome, key)}, repeats)
  lines = [f"### 1. Trainer: 200 scanned steps, MLP 64-256-320-10 ({n_params} parameters), digits, batch 64", "",
           "| optimizer | compile s | run s (200 steps) |", "|---|---|---|",
           f"| optax.adam | {c_optax:.2f} | {t['optax']:.3f} |",
           f"| interpret(known('adam')), genome traced | {c_genome:.2f} | {t['genome']:.3f} |",
           f"| ratio | **{c_genome / c_optax:.2f}×** (target ≤ 3×) | **{t['genome'] / t['optax']:.2f}×** (target ≤ 1.2×) |",
           ""]
  return lines, {"trainer_compile_ratio": c_genome / c_optax, "trainer_run_ratio": t["genome"] / t["optax"]}


def _random_population(n: int, spec, seed: int = 0) -> graph.Genome:
  strategy = ga.ParticleGA(ga.graph_ops(spec))
  params = ga.GAParams(particles=n, steps=1, mutants=1, pool_factor=1)
  population, _ = strategy.ask(jax.random.PRNGKey(seed), strategy.init(jax.random.PRNGKey(seed), params), params)
  return population


def _adam_runs(task: Task, steps: int):
  """A jitted program: ``lax.map`` over seeds of one optax.adam run of ``steps`` steps plus a validation."""
  def one(key):
    init_key, data_key = jax.random.split(key)
    result = fit(task.loss_fn, task.init(init_key), optax.adam(1e-2), task.train, data_key, steps=steps,
                 batch_size=task.batch_size)
    return evaluate(task.loss_fn, result.params, task.valid)["accuracy"]
  return jax.jit(lambda keys: jax.lax.map(one, keys))


def population(repeats: int) -> tuple[list[str], dict]:
  tasks = {"digits_mlp": get_task("digits_mlp"), "digits_cnn (the NOS ConvNet, width 8, on 8×8 digits)": get_task("digits_cnn")}
  pop = _random_population(64, graph.DEFAULT_SPEC)
  keys = seed_keys(0, 64)
  budget = Budget(steps=200, horizon=200, warmup=20, epoch=200)
  lines = ["### 2-3. The evaluator program, and 64 random genomes vs 64 pre-compiled optax.adam runs (200 steps)", "",
           f"{jax.device_count()} device(s). Run times exclude compilation.", "",
           "| task | evaluator compile s | adam program compile s | 64 genomes s | 64 adam runs s | ratio |",
           "|---|---|---|---|---|---|"]
  figures = {}
  for name, task in tasks.items():
    ev = Evaluator(task, max_steps=200, batch=64)
    with CompileLog() as log:
      ev(pop, keys, np.full(64, 1e-2), budget)  # compiles
    ev_compile = log.totals["compile_s"] + log.totals["trace_s"] + log.totals["lower_s"]
    adam = _adam_runs(task, 200)
    start = time.perf_counter()
    adam_c = adam.lower(jnp.asarray(keys)).compile()
    adam_compile = time.perf_counter() - start
    t = _best({"genomes": lambda: ev(pop, keys, np.full(64, 1e-2), budget).best_valid,
               "adam": lambda: adam_c(jnp.asarray(keys))}, repeats)
    ratio = t["genomes"] / t["adam"]
    figures[name] = {"evaluator_compile_s": ev_compile, "population_ratio": ratio}
    lines.append(f"| {name} | {ev_compile:.1f} | {adam_compile:.1f} | {t['genomes']:.2f} | {t['adam']:.2f} | "
                 f"**{ratio:.2f}×** (target ≤ 1.3×) |")
  return lines + [""], figures


def generation(repeats: int) -> tuple[list[str], dict]:
  config = preset("quick")
  search = Search(config)
  strategy, params, protocol = search.strategy, config.ga_params(), config.surrogate(pool=False)
  state = search.ga_state
  pop0, state = strategy.ask(jax.random.PRNGKey(0), state, params)
  state, _ = strategy.tell(jax.random.PRNGKey(0), pop0, np.arange(len(ga.unstack(pop0)), dtype=float), state, params)
  evaluator = search.evaluator(config.task)

  def one_generation():
    population, _ = strategy.ask(jax.random.PRNGKey(1), state, params)
    return score(evaluator, population, protocol, seed=1).fitness

  n = params.particles * params.mutants
  task = search.task(config.task)
  probes, full = _adam_runs(task, protocol.probe_steps), _adam_runs(task, protocol.steps)
  probe_keys, full_keys = jnp.asarray(seed_keys(2, n * len(protocol.lr_grid))), jnp.asarray(seed_keys(3, n))

  def adam_loop():
    return probes(probe_keys), full(full_keys)

  t = _best({"generation": one_generation, "adam": adam_loop}, repeats)
  ratio = t["adam"] / t["generation"]
  lines = ["### 4. One generation of the quick preset vs the pre-compiled Adam loop", "",
           f"{n} mutants: ask (mutation, integrity check) and the surrogate ({len(protocol.lr_grid)} probes of "
           f"{protocol.probe_steps} steps, a full run of {protocol.steps} steps each) vs optax.adam training the same "
           "runs in two pre-compiled programs.", "",
           "| generation s | adam loop s | speed vs the adam loop |", "|---|---|---|",
           f"| {t['generation']:.2f} | {t['adam']:.2f} | **{ratio:.2f}×** (target ≥ 0.8×) |", ""]
  return lines, {"generation_vs_adam": ratio}


def quick_preset() -> tuple[list[str], dict]:
  cache = tempfile.mkdtemp(prefix="optix_evo_cache_")
  rows, figures = [], {}
  for label in ("cold", "warm"):
    out = tempfile.mkdtemp(prefix=f"quick_{label}_")
    cmd = [sys.executable, "-m", "optix_evo.cli", "search", "--preset", "quick", "--quiet", "--force", "--out", out,
           "--compile-cache", cache]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    process_s = time.perf_counter() - start
    timing = json.load(open(os.path.join(out, "run.json")))["timing"]
    share = timing["compile_and_trace_s"] / timing["wall_s"]
    figures[label] = {"process_s": process_s, **timing}
    rows.append(f"| {label} | {process_s:.1f} | {timing['wall_s']:.1f} | {timing['compile_and_trace_s']:.1f} "
                f"({100 * share:.0f}%) | {int(timing['compiled'])} | {int(timing['cache_hits'])} |")
  warm_vs_cold = figures["warm"]["process_s"] / figures["cold"]["process_s"]
  lines = ["### 5. `optix-evo search --preset quick`, a fresh process, cold then warm compilation cache", "",
           "| cache | process wall s | search wall s | compiling and tracing s | programs compiled | loaded from the "
           "cache |", "|---|---|---|---|---|---|", *rows, "",
           f"Warm run: **{100 * warm_vs_cold:.0f}%** of the cold one (target ≤ 40%); cold: **{figures['cold']['process_s']:.0f} s**"
           f" end to end (target ≤ 60 s) with **{100 * figures['cold']['compile_and_trace_s'] / figures['cold']['wall_s']:.0f}%**"
           " compiling and tracing (target ≤ 30%).", ""]
  return lines, {"quick": figures, "warm_vs_cold": warm_vs_cold}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--skip-quick", action="store_true", help="leave out section 5 (two quick searches)")
  parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "search_speed.md"))
  args = parser.parse_args()
  load = os.getloadavg()[0]
  lines = ["# Search speed", "",
           f"{platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}; load average {load:.1f} at the "
           f"start. Command: `python benchmarks/search_speed.py --repeats {args.repeats}`.", ""]
  figures = {}
  for section in (trainer, population, generation):
    part, numbers = section(args.repeats)
    lines += part
    figures.update(numbers)
  if not args.skip_quick:
    part, numbers = quick_preset()
    lines += part
    figures.update(numbers)
  lines.append(f"Load average at the end: {os.getloadavg()[0]:.1f}.")
  text = "\n".join(lines) + "\n"
  print(text)
  with open(args.out, "w", encoding="utf-8") as f:
    f.write(text)
  with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as f:
    json.dump(figures, f, indent=2)


if __name__ == "__main__":
  main()
