"""Search throughput: candidate-training-steps/s of one generation of NEW genomes (one sharded program).

The generation runs with the evaluator's default population loop (``"auto"``: ``lax.map`` + the interpreter's
``switch`` strategy on CPU) and, on 1 device, also with ``"vmap"`` + ``select`` (the GPU layout). Compared side by side, on the same task (digits MLP 64-32-10, batch 64) and budget (STEPS steps, fixed LR, final
validation pass):

* the same number of pre-compiled ``optax.adam`` runs, one jitted training scan per candidate in a Python loop
  (target: generation >= 0.8x of it: no recompilation, little interpreter overhead);
* a PyTorch loop that trains one candidate at a time with ``torch.optim.Adam``, eager steps (how the paper's
  code trains; target >= 5x on CPU). Torch's Adam is the cheapest possible candidate for that loop;
* the generation sharded over 1, 2, 4, 8 fake CPU devices (each in a subprocess, ``XLA_FLAGS`` set before jax
  is imported), and the compiled program's temporary memory per candidate.

Usage: ``python benchmarks/search_throughput.py [--population 32] [--steps 200] [--out benchmarks/results/search_throughput.md]``
(``--gpu``: only the generation vs the jitted loop, on the default backend, for an accelerator).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_populations(path: str, population: int) -> None:
  """Three generations of random genomes that pass the integrity check (the search's generation 0), saved to
  ``path`` (npz): ``first`` (compiles), ``second`` (timed: new genomes), ``double`` (2x size, memory)."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from optix_evo.search import ga  # pylint: disable=import-outside-toplevel

  params = ga.GAParams(particles=4 * population, steps=1, mutants=1, pool_factor=1)
  pop, _, _ = ga.ask(jax.random.PRNGKey(0), ga.init(params), params, ga.graph_ops())
  parts = {"first": slice(0, population), "second": slice(population, 2 * population),
           "double": slice(2 * population, 4 * population)}
  np.savez(path, **{f"{name}.{field}": np.asarray(getattr(pop, field))[sl] for name, sl in parts.items()
                    for field in pop._fields})


def _load(path: str, name: str):
  import numpy as np  # pylint: disable=import-outside-toplevel

  from optix_evo.graph import Genome  # pylint: disable=import-outside-toplevel

  data = np.load(path)
  return Genome(*(data[f"{name}.{field}"] for field in Genome._fields))


def worker(path: str, population: int, steps: int, loop: bool, population_loop: str = "auto") -> dict:
  """Runs in a fresh process: the generation throughput on all visible devices; with ``loop`` also the adam loop
  and the memory per candidate."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from optix_evo.search import Evaluator, Protocol, genome_builder, get_task, population_mesh  # pylint: disable=import-outside-toplevel
  from optix_evo.search.evaluate import optax_builder  # pylint: disable=import-outside-toplevel

  task = get_task("digits_mlp")
  protocol = Protocol(steps=steps, probe_steps=0, lr_grid=(1e-2,))
  keys = np.stack([np.asarray(jax.random.PRNGKey(i)) for i in range(population)])
  first, second = _load(path, "first"), _load(path, "second")  # the timed generation is new
  ev = Evaluator(task, genome_builder, protocol, batch=population, population_loop=population_loop)
  t0 = time.perf_counter()
  ev(first, keys)
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(3):
    t0 = time.perf_counter()
    ev(second, keys)
    times.append(time.perf_counter() - t0)
  out = {"devices": jax.device_count(), "population_loop": ev.loop, "backend": jax.default_backend(),
         "device_kind": jax.devices()[0].device_kind, "compile_and_first_s": compile_s,
         "generation_s": float(np.median(times)), "recompiled": ev._fn._cache_size() != 1}
  out["generation_steps_per_s"] = population * steps / out["generation_s"]
  if loop:
    # Temporary memory of the compiled program per candidate (difference between two population sizes).
    mems = []
    for name, size in (("second", population), ("double", 2 * population)):
      e = Evaluator(task, genome_builder, protocol, batch=size, population_loop=population_loop)
      cands = jax.tree.map(lambda a, e=e: e._put(np.asarray(a), e._sharded), _load(path, name))
      data = {k: e._put(v, e._replicated) for k, v in e._data.items()}
      compiled = e._fn.lower(cands, e._put(np.tile(keys[:1], (size, 1)), e._sharded), data).compile()
      mems.append(compiled.memory_analysis().temp_size_in_bytes)
    out["temp_bytes_per_candidate"] = (mems[1] - mems[0]) / population
    one = Evaluator(task, optax_builder("adam"), protocol, batch=1, mesh=population_mesh(jax.devices()[:1]))
    one(np.zeros(1), keys[:1])
    times = []
    for _ in range(3):
      t0 = time.perf_counter()
      for i in range(population):
        one(np.zeros(1), keys[i:i + 1])
      times.append(time.perf_counter() - t0)
    out["adam_loop_s"] = float(np.median(times))
    out["adam_loop_steps_per_s"] = population * steps / out["adam_loop_s"]
  return out


def torch_loop(population: int, steps: int) -> float:
  """Seconds to train ``population`` candidates one at a time with eager PyTorch (Adam, same MLP and batches)."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel

  from optix_evo.search import get_task  # pylint: disable=import-outside-toplevel

  torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use, not the host's
  split = get_task("digits_mlp").split
  x, y = torch.tensor(split.train.x), torch.tensor(split.train.y, dtype=torch.long)
  xv, yv = torch.tensor(split.valid.x), torch.tensor(split.valid.y, dtype=torch.long)
  t0 = time.perf_counter()
  for c in range(population):
    torch.manual_seed(c)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(c)
    for _ in range(steps):
      idx = torch.from_numpy(rng.integers(0, x.shape[0], 64))
      loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
      opt.zero_grad()
      loss.backward()
      opt.step()
    with torch.no_grad():
      (model(xv).argmax(-1) == yv).float().mean().item()
  return time.perf_counter() - t0


def _spawn(path: str, devices: int, population: int, steps: int, loop: bool, population_loop: str = "auto") -> dict:
  env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "PYTHONPATH": ROOT,
         "JAX_PLATFORMS": "cpu"}
  cmd = [sys.executable, __file__, "--worker", path, "--population", str(population), "--steps", str(steps),
         "--population-loop", population_loop]
  if loop:
    cmd.append("--loop")
  out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--population", type=int, default=32)
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--devices", default="1,2,4,8")
  parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "search_throughput.md"))
  parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--population-loop", default="auto", help=argparse.SUPPRESS)
  parser.add_argument("--gpu", action="store_true", help="generation vs jitted adam loop on the default backend only")
  args = parser.parse_args()
  sys.path.insert(0, ROOT)
  if args.worker:
    print(json.dumps(worker(args.worker, args.population, args.steps, loop=args.loop,
                            population_loop=args.population_loop)))
    return
  path = os.path.join(tempfile.mkdtemp(), "populations.npz")
  make_populations(path, args.population)
  if args.gpu:
    for population_loop in ("vmap", "map"):
      result = worker(path, args.population, args.steps, loop=True, population_loop=population_loop)
      result["ratio_vs_loop"] = result["generation_steps_per_s"] / result["adam_loop_steps_per_s"]
      print(json.dumps(result))
    return

  command = " ".join(["python", "benchmarks/search_throughput.py", *sys.argv[1:]])
  counts = [int(d) for d in args.devices.split(",")]
  runs = {d: _spawn(path, d, args.population, args.steps, loop=(d == 1)) for d in counts}
  vmapped = _spawn(path, 1, args.population, args.steps, loop=False, population_loop="vmap")
  torch_s = torch_loop(args.population, args.steps)
  base = runs[1]
  torch_rate = args.population * args.steps / torch_s
  lines = [
      "# Search throughput", "",
      f"Command: `{command}` ({len(os.sched_getaffinity(0))} CPU cores; {args.population} candidates x {args.steps} steps, digits MLP "
      "64-32-10, batch 64; median of 3). Throughput = candidate-training-steps/s.", "",
      "| what | steps/s | ratio |", "|---|---|---|",
      f"| generation of new genomes, 1 device, default loop on CPU (lax.map + switch) | {base['generation_steps_per_s']:.0f} | 1.00 |",
      f"| generation of new genomes, 1 device, vmap + select (the GPU layout) | {vmapped['generation_steps_per_s']:.0f} | "
      f"{vmapped['generation_steps_per_s'] / base['generation_steps_per_s']:.2f}x of the default; "
      f"{vmapped['generation_steps_per_s'] / base['adam_loop_steps_per_s']:.2f}x of the adam loop |",
      f"| pre-compiled optax.adam, jitted scan per candidate, Python loop | {base['adam_loop_steps_per_s']:.0f} | "
      f"generation / loop = **{base['generation_steps_per_s'] / base['adam_loop_steps_per_s']:.2f}x** (target >= 0.8x) |",
      f"| PyTorch eager loop, one candidate at a time (torch Adam) | {torch_rate:.0f} | "
      f"generation / torch = **{base['generation_steps_per_s'] / torch_rate:.2f}x** (target >= 5x) |", "",
      "| fake CPU devices (default loop) | steps/s | speed-up vs 1 | compile + first generation (s) | recompiled for the new generation |",
      "|---|---|---|---|---|",
  ]
  for d in counts:
    r = runs[d]
    lines.append(f"| {d} | {r['generation_steps_per_s']:.0f} | {r['generation_steps_per_s'] / base['generation_steps_per_s']:.2f}x "
                 f"| {r['compile_and_first_s']:.1f} | {r['recompiled']} |")
  lines += ["", f"Temporary memory of the compiled generation program per candidate: "
            f"{base['temp_bytes_per_candidate'] / 1024:.0f} KiB (difference between {args.population} and "
            f"{2 * args.population} candidates, XLA memory analysis, 1 device, default loop).",
            f"Compile + first generation, 1 device: {base['compile_and_first_s']:.1f} s (default loop), "
            f"{vmapped['compile_and_first_s']:.1f} s (vmap + select).", ""]
  text = "\n".join(lines)
  print(text)
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out, "w", encoding="utf-8") as f:
    f.write(text)


if __name__ == "__main__":
  main()
