"""Search speed per CPU-minute: where an interpreted training step's time goes, and the targets side by side.

    python benchmarks/search_speed.py [--quick] [--device cpu|gpu] [--repeats 3]
        [--sections targets,preset,decomposition,populations] [--out FILE.md]

Everything is measured in one process, side by side (interleaved repeats, the minimum kept), in process CPU seconds
(``time.process_time``: all threads, so a 2-device program is charged both cores; the machine is shared) and wall
seconds. On CPU the process has two devices, the layout of the CLI (``jax_num_cpu_devices=2``); a 1-device figure runs
the same program on a 1-device mesh. With ``--device gpu`` the GPUs present are used (and the evaluator's GPU default,
the ``"vmap"`` loop with ``strategy="select"``, is the one measured as ``vmap/select``).

1. **Targets**: the ratios of the search-speed issue, side by side:
   (a) the interpreted step vs optax.adam (adam genome, MNIST-1D MLP, runs one after another: the evaluator's
   ``"map"`` loop, against the same program with ``optax.adam`` in place of the interpreter), on 2 and 1 devices;
   (b) genomes vs their own exported optax code (:func:`optix_evo.graph.to_python`) in the same layout;
   (c) one quick-preset generation's evaluator time vs the same runs with optax.adam and vs the FLOP bound (XLA's
   FLOP count of the runs' training steps at the rate the plain ``fit`` loop reaches);
   (d) the 102k-parameter MLP trainer (``fit``) and the NOS ConvNet population, vs optax.adam;
   (e) section ``preset``: ``optix-evo search --preset quick`` cold and warm (a fresh process each), each split into
   what the process did outside the search, training, waiting for compilation and the rest (from its ``run.json``),
   and the training floor: the same steps at optax.adam's wall time per step in the same layout.
2. **Decomposition** of one step (MNIST-1D MLP, one device, a scanned ``fit``): the interpreter's strategies, node
   count, in-step decay graphs vs precomputed tables, the divergence flag, the schedule tables, the loop around the
   model (the evaluator's epochs and validation) and the data permutation; then target (d)'s 102k-parameter MLP: the
   flat layout's fixed cost (the one-node sgd genome vs optax.sgd) and the cost of each active node at that size.
3. **Populations** of 1, 8, 24 and 64 random genomes, 1 and 2 devices, ``map/switch`` vs ``vmap/select``, on the
   MNIST-1D MLP, the digits MLP and the NOS ConvNet (``--quick``: the MNIST-1D MLP, sizes 1, 8 and 24, fewer steps).
   On CPU the ``vmap/select`` layouts run a tenth of the steps (both optimizers alike: the ratio is per step).

``--sections`` runs a subset (a full CPU run takes hours on 2 cores: split it, e.g. ``--sections populations --out
benchmarks/results/search_speed_populations.md``); each section is written as soon as it is measured.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

ARGS = None
if __name__ == "__main__":
  _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  _parser.add_argument("--quick", action="store_true", help="smaller sizes (the table records which size ran)")
  _parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
  _parser.add_argument("--repeats", type=int, default=3)
  _parser.add_argument("--sections", default="targets,preset,decomposition,populations",
                       help="comma-separated subset of targets,preset,decomposition,populations (a long run split in "
                       "parts)")
  _parser.add_argument("--out", default=None)
  _parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny sizes: does it run at all
  ARGS = _parser.parse_args()

import jax  # noqa: E402

if ARGS is None or ARGS.device == "cpu":
  jax.config.update("jax_platforms", "cpu")
  jax.config.update("jax_num_cpu_devices", 2)  # the CLI's layout on this machine

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from optix_evo import graph, models  # noqa: E402
from optix_evo.search import ga, preset  # noqa: E402
from optix_evo.search.evaluate import Budget, Evaluator, population_mesh, schedule_tables  # noqa: E402
from optix_evo.search.protocol import seed_keys  # noqa: E402
from optix_evo.tasks import get_task  # noqa: E402
from optix_evo.training import classification_loss, fit  # noqa: E402


def _timed(fns: dict, repeats: int) -> dict:
  """Per function: (min CPU s, min wall s) over interleaved repeats, after one warm-up call each."""
  for fn in fns.values():
    jax.block_until_ready(fn())
  out = {k: [np.inf, np.inf] for k in fns}
  for _ in range(repeats):
    for k, fn in fns.items():
      c, w = time.process_time(), time.perf_counter()
      jax.block_until_ready(fn())
      c, w = time.process_time() - c, time.perf_counter() - w
      out[k] = [min(out[k][0], c), min(out[k][1], w)]
  return out


def _adam(genome, learning_rate, momentum, factors):
  del genome, momentum, factors
  return optax.adam(learning_rate)


def _exported(genome: graph.Genome, spec, peak: float, budget: Budget):
  """make_optimizer: the genome's exported optax code, with the evaluator's base schedule (its own decays and
  schedule computed in the step, as the standalone code does)."""
  ns: dict = {}
  exec(graph.to_python(genome, spec, name="exported"), ns)  # noqa: S102 - our generated code
  base = graph.nos_learning_rate(peak, budget.horizon, budget.warmup, budget.hold)

  def make(g, learning_rate, momentum, factors):
    del g, learning_rate, factors
    return ns["exported"](base, total_steps=budget.horizon, momentum=momentum)
  return make


def _mesh(devices: int):
  return population_mesh(jax.devices()[:devices])


def _random_population(n: int, spec, seed: int = 0) -> graph.Genome:
  return graph.stack([graph.random_genome(seed * 1000 + i, spec) for i in range(n)])


def _ratio_row(label, t, num, den, target=""):
  r = t[num][0] / t[den][0]
  return f"| {label} | {t[num][0]:.2f} | {t[den][0]:.2f} | **{r:.2f}×** | {target} |", r


# -- 1. targets ------------------------------------------------------------------------------------------------------

def targets_a_b(size, repeats, loop):
  task = get_task("mnist1d_mlp")
  steps, n = size["steps"], size["runs"]
  budget, peak = Budget(steps=steps, horizon=steps, warmup=steps // 10, epoch=steps // 4), 1e-3
  keys, lrs = seed_keys(0, n), np.full(n, peak)
  rows, figures = [], {}
  strategy = "switch" if loop == "map" else "select"
  genomes = {name: g for name, g in {"adam": graph.known("adam"), "nos_opt9": graph.known("nos_opt9"),
                                      "random 3": graph.random_genome(3), "random 5": graph.random_genome(5)}.items()
             if name in size["exported"]}
  for devices in sorted({1, min(2, jax.device_count())}, reverse=True):
    fns = {}
    evs = {"adam": Evaluator(task, max_steps=steps, batch=n, mesh=_mesh(devices), population_loop=loop,
                             make_optimizer=_adam)}
    interp = Evaluator(task, max_steps=steps, batch=n, mesh=_mesh(devices), population_loop=loop)
    for name, g in genomes.items():
      if devices == 1 and name != "adam":
        continue
      pop = graph.stack([g] * n)
      fns[f"interp {name}"] = lambda pop=pop: interp(pop, keys, lrs, budget).steps_run
      ev = Evaluator(task, max_steps=steps, batch=n, mesh=_mesh(devices), population_loop=loop,
                     make_optimizer=_exported(g, graph.DEFAULT_SPEC, peak, budget))
      fns[f"exported {name}"] = lambda ev=ev, pop=pop: ev(pop, keys, lrs, budget).steps_run
    fns["optax.adam"] = lambda: evs["adam"](graph.stack([genomes["adam"]] * n), keys, lrs, budget).steps_run
    t = _timed(fns, repeats)
    row, r = _ratio_row(f"(a) adam genome vs optax.adam, {devices} device(s), {loop}/{strategy}", t,
                        "interp adam", "optax.adam", "≤ 1.1×")
    rows.append(row)
    figures[f"a_{devices}dev_{loop}"] = r
    for name in genomes:
      if f"exported {name}" in fns:
        row, r = _ratio_row(f"(b) {name} vs its exported code, {devices} device(s), {loop}/{strategy}", t,
                            f"interp {name}", f"exported {name}", "≤ 1.1×")
        rows.append(row)
        figures[f"b_{name}_{devices}dev_{loop}"] = r
  return rows, figures


def _step_flops(task) -> float:
  """XLA's FLOP count of one training step (forward, backward) of ``task`` at its batch size."""
  params = task.init(jax.random.PRNGKey(0))
  x, y = task.train.x[:task.batch_size], task.train.y[:task.batch_size]
  lowered = jax.jit(lambda p: jax.grad(lambda q: task.loss_fn(q, x, y)[0])(p)).lower(params)
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost.get("flops", 0.0))


def target_c(size, repeats):
  """One quick-preset generation's evaluator calls (the probes and the full runs) vs optax.adam in the same layout
  vs the FLOP bound."""
  config = preset("quick")
  task = get_task(config.task, seed=config.seed)
  protocol = config.surrogate(pool=False)
  n = config.particles * config.mutants
  pop = _random_population(n, graph.DEFAULT_SPEC, seed=7)
  grid = np.asarray(protocol.lr_grid)
  calls = [(protocol.probe_budget(), len(grid), False), (protocol.run_budget(), protocol.seeds, True)]
  interp = Evaluator(task, max_steps=config.max_steps, batch=max(jax.device_count() * 8, 16))
  adam = Evaluator(task, max_steps=config.max_steps, batch=max(jax.device_count() * 8, 16), make_optimizer=_adam)
  steps_run = []

  def generation(ev, record=False):
    out = []
    for budget, reps, validate in calls:
      genomes = graph.stack([g for g in ga.unstack(pop) for _ in range(reps)])
      o = ev(genomes, seed_keys(1, n * reps), np.resize(grid, n * reps), budget, validate=validate)
      out.append(o.steps_run)
      if record:
        steps_run.append((int(o.steps_run.sum()), budget.steps, reps * n, validate))
    return out

  generation(interp, record=True)
  t = _timed({"generation": lambda: generation(interp), "adam": lambda: generation(adam)}, repeats)
  # the bound: the steps the interpreted runs trained, at the FLOP rate of a plain fit with optax.adam
  flops = _step_flops(task)
  params = task.init(jax.random.PRNGKey(0))
  fit_steps = 400
  prog = jax.jit(lambda k: fit(task.loss_fn, params, optax.adam(1e-3), task.train, k, steps=fit_steps,
                               batch_size=task.batch_size).params)
  fit_t = _timed({"fit": lambda: prog(jax.random.PRNGKey(1))}, repeats)["fit"]
  rate = flops * fit_steps / fit_t[0]  # FLOP per CPU second
  total_steps = sum(s for s, *_ in steps_run)
  eval_examples = sum(((s // max(b // 4, 1)) + 1) * (task.valid.num_examples + task.test.num_examples) * v
                      for s, b, _, v in steps_run)  # upper bound on the validation forward passes
  bound = (total_steps * flops + eval_examples * flops / task.batch_size / 3) / rate
  rows = [f"| (c) one quick generation ({n} mutants: {len(grid)} probes of {protocol.probe_steps} steps, "
          f"{protocol.seeds} run(s) of {protocol.steps}) vs optax.adam, same layout | {t['generation'][0]:.2f} | "
          f"{t['adam'][0]:.2f} | **{t['generation'][0] / t['adam'][0]:.2f}×** | |",
          f"| (c) the same vs its FLOP bound ({total_steps} steps × {flops / 1e6:.2f} MFLOP at the fit loop's "
          f"{rate / 1e9:.1f} GFLOP per CPU s) | {t['generation'][0]:.2f} | {bound:.2f} | "
          f"**{t['generation'][0] / bound:.2f}×** | ≤ 1.5× |"]
  return rows, {"c_vs_adam": t["generation"][0] / t["adam"][0], "c_vs_bound": t["generation"][0] / bound,
                "c_rate_gflop_per_cpu_s": rate / 1e9}


def _mlp_102k(steps: int):
  """``(train(optimizer, key) -> params, number of parameters)``: the 102k-parameter MLP on the digits, scanned fit."""
  task = get_task("digits_mlp")
  model = models.MLP(hidden=(256, 320), outputs=10)
  params = model.init(jax.random.key(0), task.train.x[:1])
  loss_fn = classification_loss(model.apply)

  def train(opt, key):
    return fit(loss_fn, params, opt, task.train, key, steps=steps, batch_size=64).params

  return train, sum(p.size for p in jax.tree.leaves(params))


def target_d(size, repeats):
  steps = size["steps"]
  train, n_params = _mlp_102k(steps)

  key, genome = jax.random.key(1), graph.known("adam")
  optax_prog = jax.jit(lambda k: train(optax.adam(1e-3), k))
  genome_prog = jax.jit(lambda g, k: train(graph.interpret(g, 1e-3), k))
  t = _timed({"genome": lambda: genome_prog(genome, key), "optax": lambda: optax_prog(key)}, repeats)
  rows, figures = [], {}
  row, r = _ratio_row(f"(d) {n_params}-parameter MLP trainer, {steps} scanned fit steps, 1 device", t, "genome",
                      "optax", "≤ 1.1×")
  rows.append(row)
  figures["d_mlp102k"] = r
  cnn = get_task("digits_cnn")
  cnn_steps, n = size["cnn_steps"], size["cnn_runs"]
  budget = Budget(steps=cnn_steps, horizon=cnn_steps, warmup=cnn_steps // 10, epoch=cnn_steps)
  pop, keys, lrs = _random_population(n, graph.DEFAULT_SPEC, 3), seed_keys(0, n), np.full(n, 1e-3)
  interp = Evaluator(cnn, max_steps=cnn_steps, batch=n)
  adam = Evaluator(cnn, max_steps=cnn_steps, batch=n, make_optimizer=_adam)
  t = _timed({"genomes": lambda: interp(pop, keys, lrs, budget).steps_run,
              "adam": lambda: adam(pop, keys, lrs, budget).steps_run}, repeats)
  ran = int(interp(pop, keys, lrs, budget).steps_run.sum())
  row, r = _ratio_row(f"(d) NOS ConvNet (width 8, 8×8 digits), {n} random genomes × {cnn_steps} steps "
                      f"({ran} steps ran; divergent runs stop early) vs optax.adam, {jax.device_count()} devices",
                      t, "genomes", "adam", "≤ 1.0×")
  rows.append(row)
  figures["d_convnet_population"] = r
  return rows, figures


def _training_cell(training: dict) -> str:
  total = sum(t["train_s"] for t in training.values())
  per_task = [f"{task} {t['train_s']:.1f} s, {1e6 * t['train_s'] / max(t['steps'], 1):.0f} µs/step"
              for task, t in training.items()]
  return f"{total:.1f} ({'; '.join(per_task)})"


def quick_preset(repeats):
  """(e) ``optix-evo search --preset quick``, cold then warm (a fresh process each, one new persistent cache), each
  decomposed from its ``run.json``; and the training floor: the warm run's steps per task at the wall time per step of
  optax.adam in the same evaluator layout (16 runs of the final comparison's length, measured here)."""
  cache = tempfile.mkdtemp(prefix="optix_evo_cache_")
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  imports = []
  for _ in range(max(repeats, 2)):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import optix_evo.cli"], check=True, env=env, cwd=ROOT)
    imports.append(time.perf_counter() - start)
  rows, figures = [], {"import_s": min(imports)}
  for label in ("cold", "warm"):
    out = tempfile.mkdtemp(prefix=f"quick_{label}_")
    cmd = [sys.executable, "-m", "optix_evo.cli", "search", "--preset", "quick", "--quiet", "--force", "--out", out,
           "--compile-cache", cache]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
      t = json.load(f)["timing"]
    train = sum(v["train_s"] for v in t["training"].values())
    rest = t["wall_s"] - train - t["compile_wait_s"]
    figures[label] = {"process_wall_s": wall, "process_cpu_s": cpu, **t}
    rows.append(f"| {label} cache | **{wall:.1f}** | {cpu:.1f} | {wall - t['wall_s']:.1f} | "
                f"{_training_cell(t['training'])} | {t['compile_wait_s']:.1f} | {rest:.1f} | "
                f"{t['compile_and_trace_s']:.1f} ({int(t['compiled'])} compiled, {int(t['cache_hits'])} from the "
                "cache) | "
                f"{'≤ 40' if label == 'cold' else '≤ 25'} |")
  config = preset("quick")
  floor, floor_cells = 0.0, []
  for task_name, used in figures["warm"]["training"].items():
    task = get_task(task_name, seed=config.seed)
    ev = Evaluator(task, max_steps=config.max_steps, batch=max(jax.device_count() * 8, 16), make_optimizer=_adam)
    n, steps = 16, config.final_steps
    budget = Budget(steps=steps, horizon=steps, warmup=steps // 15, epoch=max(steps // config.epochs, 1))
    call = lambda ev=ev, n=n, budget=budget: ev(graph.stack([graph.known("adam")] * n), seed_keys(0, n),  # noqa: E731
                                                np.full(n, 1e-3), budget).steps_run
    per_step = _timed({"adam": call}, repeats)["adam"][1] / (n * steps)  # the minimum wall time
    floor += used["steps"] * per_step
    floor_cells.append(f"{task_name} {used['steps'] * per_step:.1f} s, {1e6 * per_step:.0f} µs/step")
  figures["training_floor_s"] = floor
  rows.append(f"| floor: the warm run's {sum(v['steps'] for v in figures['warm']['training'].values()):,} steps at "
              f"optax.adam's wall time per step, same layout; import alone | {figures['import_s'] + floor:.1f} | | "
              f"{figures['import_s']:.1f} (import) | {floor:.1f} ({'; '.join(floor_cells)}) | 0 | 0 | | |")
  return rows, {"quick_preset": figures}


# -- 2. decomposition ------------------------------------------------------------------------------------------------

def _chain(k: int) -> graph.Genome:
  """u = neg(neg(...neg(adam))): k active nodes, each a pass of the cheapest op that computes (an identity node
  computes nothing: its row is its input's)."""
  nodes, prev = {}, "adam"
  for i in range(k - 1):
    nodes[f"h{i}"] = {"op": "neg", "inputs": [prev]}
    prev = f"h{i}"
  nodes["root"] = {"op": "neg", "inputs": [prev]}
  return graph.from_json({"format": "optix_evo.genome/1", "momentum": "none", "flip": False, "schedule": "constant",
                          "nodes": nodes})


def decomposition(size, repeats):
  task = get_task("mnist1d_mlp")
  params = task.init(jax.random.PRNGKey(0))
  steps = size["steps"]
  n_train = task.train.num_examples
  lr_table = jnp.full([steps], 1e-3)
  factors_table = jnp.ones([steps, graph.DEFAULT_SPEC.num_nodes, 2])

  def train(make):
    return jax.jit(lambda g, k: fit(task.loss_fn, params, make(g), task.train, k, steps=steps,
                                    batch_size=task.batch_size).params)

  @functools.cache  # the genome is an argument: one compiled program per configuration, shared by every genome
  def interp(strategy="switch", tables=True, check_finite=True, decays=False):
    def make(g):
      if decays:
        return graph.interpret(g, 1e-3, total_steps=steps, strategy=strategy, check_finite=check_finite)
      if tables:
        return graph.interpret(g, lambda c: lr_table[c], step_factors=lambda c: (factors_table[c], 1.0),
                               strategy=strategy, check_finite=check_finite)
      return graph.interpret(g, 1e-3, strategy=strategy, check_finite=check_finite)
    return train(make)

  progs = {
      "optax.adam": (train(lambda g: optax.adam(1e-3)), graph.known("adam")),
      "adam genome, switch, tables (the evaluator's)": (interp(), graph.known("adam")),
      "… without the divergence flag (check_finite=False, the evaluator's)": (interp(check_finite=False),
                                                                             graph.known("adam")),
      "… select (every operand and op computed)": (interp("select"), graph.known("adam")),
      "… decay graphs computed in the step (total_steps)": (interp(tables=False, decays=True), graph.known("adam")),

      "nos_opt9 (decayed edge, exp∘arctan), switch": (interp(), graph.known("nos_opt9")),
      "nos_opt9, select": (interp("select"), graph.known("nos_opt9")),
  }
  for k in (1, 6):
    progs[f"chain of {k} active node(s), switch"] = (interp(), _chain(k))
  key = jax.random.PRNGKey(1)
  t = _timed({k: (lambda p=p, g=g: p(g, key)) for k, (p, g) in progs.items()}, repeats)
  base = t["optax.adam"][0]
  rows = [f"| {k} | {1e6 * v[0] / steps:.0f} | {v[0] / base:.2f}× |" for k, v in t.items()]
  per_node = (t["chain of 6 active node(s), switch"][0] - t["chain of 1 active node(s), switch"][0]) / 5 / steps
  # around the model: the data permutation, the schedule tables, the evaluator's loop (epochs, validation)
  perm = jax.jit(lambda k: jax.random.permutation(k, n_train))
  per_pass = n_train // task.batch_size
  genomes16 = graph.stack([graph.known("adam")] * 16)
  scalars = Budget(*(np.asarray(v, np.float32 if f == "min_accuracy" else np.int32)
                     for f, v in zip(Budget._fields, Budget(steps, steps, steps // 10, steps // 4))))
  tables = lambda: schedule_tables(genomes16, jnp.full(16, 1e-3), scalars, length=steps, spec=graph.DEFAULT_SPEC)  # noqa: E731
  from optix_evo.search.evaluate import batch_orders  # noqa: PLC0415
  host_orders = lambda: batch_orders(seed_keys(0, 16), n_train, task.batch_size, steps, steps)  # noqa: E731
  ev = Evaluator(task, max_steps=steps, batch=1, mesh=_mesh(1), make_optimizer=_adam)
  one = (graph.stack([graph.known("adam")]), seed_keys(0, 1), [1e-3])
  validated = Budget(steps, steps, steps // 10, steps // 4)
  t2 = _timed({"perm": lambda: perm(key), "tables": tables, "orders": host_orders,
               "loop": lambda: ev(*one, validated).steps_run,
               "loop, no validation": lambda: ev(*one, validated, validate=False).steps_run}, repeats)
  rows += [f"| data permutation in the program (jax.random.permutation of {n_train}), per step of its pass | "
           f"{1e6 * t2['perm'][0] / per_pass:.0f} | {t2['perm'][0] / per_pass / (base / steps):.2f}× |",
           f"| data orders drawn on the host (NumPy, the evaluator's), 16 runs, per step | "
           f"{1e6 * t2['orders'][0] / (16 * steps):.1f} | {t2['orders'][0] / (16 * steps) / (base / steps):.3f}× |",
           f"| schedule tables (one program per call, 16 runs), per step | {1e6 * t2['tables'][0] / (16 * steps):.1f} | "
           f"{t2['tables'][0] / (16 * steps) / (base / steps):.3f}× |",
           f"| the evaluator's loop with optax.adam, 1 run (epochs, 4 validations, test on improvement) | "
           f"{1e6 * t2['loop'][0] / steps:.0f} | {t2['loop'][0] / base:.2f}× |",
           f"| … without validation (validate=False, the probes) | {1e6 * t2['loop, no validation'][0] / steps:.0f} | "
           f"{t2['loop, no validation'][0] / base:.2f}× |",
           f"| each active node (chain of 6 − chain of 1, per node) | {1e6 * per_node:.1f} | "
           f"{per_node / (base / steps):.2f}× |"]
  return rows, {"decomposition_us": {k: 1e6 * v[0] / steps for k, v in t.items()}}


def decomposition_d(size, repeats):
  """Target (d)'s 102k-parameter MLP step decomposed: the fixed cost of the flat layout (one node: the sgd genome vs
  optax.sgd), the cost of each active node, the divergence flag."""
  steps = size["steps"]
  train, n_params = _mlp_102k(steps)
  key = jax.random.key(1)
  # one program for every genome without the divergence flag (the genome is an argument)
  unflagged = jax.jit(lambda g, k: train(graph.interpret(g, 1e-3, check_finite=False), k))
  progs = {
      "optax.adam": (jax.jit(lambda g, k: train(optax.adam(1e-3), k)), graph.known("adam")),
      "adam genome (as in (d))": (jax.jit(lambda g, k: train(graph.interpret(g, 1e-3), k)), graph.known("adam")),
      "… without the divergence flag (check_finite=False)": (unflagged, graph.known("adam")),
      "optax.sgd": (jax.jit(lambda g, k: train(optax.sgd(1e-3), k)), graph.known("sgd")),
      "sgd genome, one node (check_finite=False)": (unflagged, graph.known("sgd")),
  }
  for k in (1, 6):
    progs[f"chain of {k} active node(s) (check_finite=False)"] = (unflagged, _chain(k))
  t = _timed({k: (lambda p=p, g=g: p(g, key)) for k, (p, g) in progs.items()}, repeats)
  base = t["optax.adam"][0]
  rows = [f"| {k} | {1e6 * v[0] / steps:.0f} | {v[0] / base:.2f}× |" for k, v in t.items()]
  per_node = (t["chain of 6 active node(s) (check_finite=False)"][0]
              - t["chain of 1 active node(s) (check_finite=False)"][0]) / 5 / steps
  layout = (t["sgd genome, one node (check_finite=False)"][0] - t["optax.sgd"][0]) / steps
  rows += [f"| each active node (chain of 6 − chain of 1, per node) | {1e6 * per_node:.1f} | "
           f"{per_node / (base / steps):.2f}× |",
           f"| the flat layout and one node (sgd genome − optax.sgd) | {1e6 * layout:.1f} | "
           f"{layout / (base / steps):.2f}× |"]
  return rows, {"decomposition_d_us": {k: 1e6 * v[0] / steps for k, v in t.items()}, "d_params": n_params}


# -- 3. populations --------------------------------------------------------------------------------------------------

def populations(size, repeats, progress):
  """``progress(rows, figures)`` after each task and layout (a long run interrupted keeps what it measured). On CPU
  the ``vmap/select`` layouts run a tenth of the steps (every op of every node computed: tens of times a genome's
  work); the ratio is per step, both optimizers running the same steps."""
  rows, figures = [], {}
  layouts = sorted(size["layouts"], key=lambda layout: (-layout[0], layout[1]))  # the CLI's layout (2 devices) first
  for devices, loop in layouts:
    if devices > jax.device_count():
      continue
    for name in size["pop_tasks"]:
      task = get_task(name)
      steps = size["cnn_pop_steps"] if "cnn" in name else size["steps"]
      if loop == "vmap" and jax.default_backend() == "cpu":
        steps = max(steps // 10, 4)
      budget = Budget(steps=steps, horizon=steps, warmup=steps // 10, epoch=steps)
      batch = max(devices * 8, 16)
      interp = Evaluator(task, max_steps=steps, batch=batch, mesh=_mesh(devices), population_loop=loop)
      adam = Evaluator(task, max_steps=steps, batch=batch, mesh=_mesh(devices), population_loop=loop,
                       make_optimizer=_adam)
      fns = {}
      for n in size["sizes"]:
        pop, keys, lrs = _random_population(n, graph.DEFAULT_SPEC, 11), seed_keys(0, n), np.full(n, 1e-3)
        fns[f"interp {n}"] = lambda pop=pop, keys=keys, lrs=lrs: interp(pop, keys, lrs, budget).steps_run
        fns[f"adam {n}"] = lambda pop=pop, keys=keys, lrs=lrs: adam(pop, keys, lrs, budget).steps_run
      t = _timed(fns, repeats)
      for n in size["sizes"]:
        ran = int(interp(_random_population(n, graph.DEFAULT_SPEC, 11), seed_keys(0, n), np.full(n, 1e-3),
                         budget).steps_run.sum())
        r = t[f"interp {n}"][0] / t[f"adam {n}"][0]
        figures[f"{name}_{devices}dev_{loop}_{n}"] = r
        rows.append(f"| {name} | {n} | {devices} | {loop}/{'switch' if loop == 'map' else 'select'} | "
                    f"{t[f'interp {n}'][0]:.2f} | {t[f'adam {n}'][0]:.2f} | {r:.2f}× | {ran} / {n * steps} |")
      progress(rows, figures)
  return rows, figures


SIZES = {
    "quick": {"steps": 200, "runs": 8, "cnn_steps": 40, "cnn_runs": 8, "cnn_pop_steps": 40, "sizes": (1, 8, 24),
              "pop_tasks": ("mnist1d_mlp",), "exported": ("adam", "random 3"),
              "layouts": ((1, "map"), (2, "map"), (2, "vmap"))},
    "smoke": {"steps": 20, "runs": 2, "cnn_steps": 4, "cnn_runs": 2, "cnn_pop_steps": 4, "sizes": (1, 3),
              "pop_tasks": ("digits_mlp",),
              "exported": ("adam",), "layouts": ((2, "map"),)},
    "full": {"steps": 400, "runs": 16, "cnn_steps": 200, "cnn_runs": 64, "cnn_pop_steps": 40, "sizes": (1, 8, 24, 64),
             "pop_tasks": ("mnist1d_mlp", "digits_mlp", "digits_cnn"),
             "exported": ("adam", "nos_opt9", "random 3", "random 5"),
             "layouts": ((1, "map"), (1, "vmap"), (2, "map"), (2, "vmap"))},
}


def main() -> None:
  args = ARGS
  size_name = "smoke" if args.smoke else "quick" if args.quick else "full"
  size = SIZES[size_name]
  load = os.getloadavg()[0]
  sections = [s.strip() for s in args.sections.split(",") if s.strip()]
  unknown = sorted(set(sections) - {"targets", "preset", "decomposition", "populations"})
  if unknown or not sections:
    print(f"search_speed.py: error: --sections takes targets, preset, decomposition, populations (got "
          f"{args.sections!r})",
          file=sys.stderr)
    sys.exit(2)
  command = "python benchmarks/search_speed.py" + (" --quick" if args.quick else "") + \
      (f" --device {args.device}" if args.device != "cpu" else "") + f" --repeats {args.repeats}" + \
      (f" --sections {','.join(sections)}" if len(sections) < 4 else "") + (f" --out {args.out}" if args.out else "")
  devices = jax.devices()
  lines = ["# Search speed per CPU-minute", "",
           f"{platform.machine()}, {os.cpu_count()} cores, {len(devices)} {devices[0].platform} device(s), jax "
           f"{jax.__version__}; size **{size_name}** ({json.dumps(size)}); load average {load:.1f} at the start. "
           f"Command: `{command}`. CPU s: process CPU seconds (all threads), the minimum of {args.repeats} "
           "interleaved repeats.", ""]
  figures = {"size": size_name}
  start = time.perf_counter()
  out = args.out or os.path.join(ROOT, "benchmarks", "results",
                                 "search_speed.md" if args.device == "cpu" else "search_speed_gpu.md")

  def write(final=False):  # after every section: a long run interrupted keeps what it measured
    text = "\n".join(lines + ([] if final else ["", "(run in progress)"])) + "\n"
    with open(out, "w", encoding="utf-8") as f:
      f.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w", encoding="utf-8") as f:
      json.dump(figures, f, indent=2)
    return text

  if "targets" in sections:
    lines += ["## 1. Targets, side by side", "", "| figure | CPU s | reference CPU s | ratio | target |",
              "|---|---|---|---|---|"]
    for fn in (lambda: targets_a_b(size, args.repeats, "map"), lambda: target_c(size, args.repeats),
               lambda: target_d(size, args.repeats)):
      rows, numbers = fn()
      lines += rows
      figures.update(numbers)
      write()
    lines += ["", "swats and adadecay vs the closest optax: `benchmarks/results/zoo_step.md`.", ""]
  if "preset" in sections:
    lines += ["## 1e. The quick preset, decomposed", "",
              "`optix-evo search --preset quick`, a fresh process each, cold then warm persistent cache, idle machine "
              "wanted. Seconds of wall time. *Outside the search*: the process's wall time less the search's (import, "
              "task checks, report files). *Training*: the evaluators' calls, compilation excluded. *The rest*: the "
              "search's wall time less training and waiting (integrity checks, the strategy, programs compiled in "
              "the main thread). *Compile work* overlaps the rest where background threads did it.", "",
              "| run | process wall | process CPU | outside the search | training (per task) | waiting for "
              "compilation | the rest | compile work | target |", "|---|---|---|---|---|---|---|---|---|"]
    rows, numbers = quick_preset(args.repeats)
    lines += rows + [""]
    figures.update(numbers)
    write()
  if "decomposition" in sections:
    lines += ["## 2. One step decomposed (MNIST-1D MLP, 1 device, scanned fit)", "",
              "| what | µs per step | × optax.adam's step |", "|---|---|---|"]
    rows, numbers = decomposition(size, args.repeats)
    lines += rows
    figures.update(numbers)
    write()
    lines += ["", "### 2b. Target (d)'s 102k-parameter MLP step decomposed (1 device, scanned fit)", "",
              "| what | µs per step | × optax.adam's step |", "|---|---|---|"]
    rows, numbers = decomposition_d(size, args.repeats)
    lines += rows
    figures.update(numbers)
    write()
  if "populations" in sections:
    lines += ["", "## 3. Populations of random genomes vs optax.adam in the same layout", "",
              "Batch of the evaluator: max(8 × devices, 16) runs per call (the search's). `map/switch`: runs one "
              "after another on each device, one branch per op (the CPU default); `vmap/select`: runs vmapped, every "
              "op computed and selected (the GPU/TPU default; on CPU a tenth of the steps).", "",
              "| task | runs | devices | loop/strategy | genomes CPU s | optax.adam CPU s | ratio | steps ran |",
              "|---|---|---|---|---|---|---|---|"]
    header = len(lines)

    def progress(rows, numbers):
      lines[header:] = rows
      figures.update(numbers)
      write()

    populations(size, args.repeats, progress)
  lines += ["", f"Total {time.perf_counter() - start:.0f} s; load average at the end: {os.getloadavg()[0]:.1f}."]
  print(write(final=True))


if __name__ == "__main__":
  main()
