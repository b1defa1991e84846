"""``run(config)``: the whole neural optimizer search — GA over a surrogate, then progressive elimination.

One generation = ``ask`` (integrity-checked, de-duplicated genomes) → one jitted, sharded evaluation
(:class:`~optix_evo.search.evaluate.Evaluator`) → ``tell``. After every generation and every elimination stage the
search state is checkpointed atomically to ``OUT/checkpoint.pkl``; ``run(config, out_dir, resume=True)`` continues
from it and, because every random draw is derived from ``config.seed`` and the generation index, ends with the same
hall of fame as an uninterrupted run. In a multi-process run (``jax.distributed``) only process 0 reads and writes
``out_dir``; the others receive its state. Every candidate trains on its own, so the hall of fame does not depend on
how the population is spread over processes and devices (bit-identical on CPU: ``tests/search/test_search.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from optix_evo.search import ga
from optix_evo.search.checkpoint import (atomic_write_json, broadcast_from_process_zero, fill_defaults, load_checkpoint,
                                        save_checkpoint)
from optix_evo.search.elimination import Stage, spearman, stage_scores
from optix_evo.search.evaluate import WORST, Evaluator, Protocol, resolve_population_loop
from optix_evo.search.tasks import TASKS, get_task

CHECKPOINT = "checkpoint.pkl"
HISTORY = "history.jsonl"
PAPER_LR_GRID = (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  """Every setting of a search (defaults: the paper's run, see :data:`PRESETS`).

  Attributes:
    task: search (proxy) task name, see :data:`optix_evo.search.tasks.TASKS`.
    seed: root seed; same seed → same result.
    particles, steps, mutants, pool_factor: particle GA (``n, K, M`` and the ``10 n`` random pool).
    surrogate_steps: training steps of the surrogate evaluation used by the GA.
    probe_steps: length of each learning-rate probe of the surrogate.
    lr_grid: peak learning rates the probes choose from.
    chunk_size: with the ``vmap`` loop, candidates trained at once per device (memory bound; ``None``: all of a
      device's share).
    population_loop: how each device loops over its candidates: ``"auto"`` (``"map"`` on CPU: one candidate after
      the other, only the ops a genome uses are computed; ``"vmap"`` on GPU/TPU), ``"map"`` or ``"vmap"``.
    elimination_candidates: distinct best archive members entering progressive elimination.
    stages: the elimination stages (the last one's ranking is the hall of fame).
    baseline: known genome evaluated with the same protocol in the GA and every stage (``optix_evo.graph.known``).
    data_dir: folder with local data files (CIFAR-10).
  """

  task: str = "cifar10_convnet"
  seed: int = 0
  particles: int = 50
  steps: int = 5
  mutants: int = 7
  pool_factor: int = 10
  surrogate_steps: int = 8000
  probe_steps: int = 800
  lr_grid: tuple[float, ...] = PAPER_LR_GRID
  chunk_size: int | None = None
  population_loop: str = "auto"
  elimination_candidates: int = 20
  stages: tuple[Stage, ...] = (Stage(16000, seeds=2, keep=10), Stage(16000, seeds=3, tasks=("cifar10_convnet", "mnist1d_mlp"), keep=10))
  baseline: str = "adam"
  data_dir: str | None = None

  def __post_init__(self):
    if self.task not in TASKS:
      raise ValueError(f"Unknown task {self.task!r}. Known tasks: {', '.join(sorted(TASKS))}.")
    for stage in self.stages:
      for name in stage.tasks:
        if name not in TASKS:
          raise ValueError(f"Unknown task {name!r} in an elimination stage. Known tasks: {', '.join(sorted(TASKS))}.")
    if not self.stages:
      raise ValueError("stages must hold at least one elimination stage.")
    if self.elimination_candidates < 1:
      raise ValueError(f"elimination_candidates must be positive, got {self.elimination_candidates}.")
    if self.chunk_size is not None and self.chunk_size < 1:
      raise ValueError(f"chunk_size must be positive or None, got {self.chunk_size}.")
    resolve_population_loop(self.population_loop, "cpu")
    self.ga_params()
    self.surrogate()

  def ga_params(self) -> ga.GAParams:
    return ga.GAParams(self.particles, self.steps, self.mutants, self.pool_factor)

  def surrogate(self) -> Protocol:
    return Protocol(self.surrogate_steps, self.probe_steps, tuple(self.lr_grid))

  def to_dict(self) -> dict[str, Any]:
    out = dataclasses.asdict(self)
    out["lr_grid"] = list(self.lr_grid)
    return out

  @classmethod
  def from_dict(cls, d: dict[str, Any], *, what: str = "the stored configuration") -> SearchConfig:
    """The config of :meth:`to_dict`'s ``d``, also from an older version: settings ``d`` lacks take their defaults
    (e.g. ``population_loop``, added later); an unknown setting, or a missing one without a default, is a
    ``ValueError`` naming it (``what`` says where ``d`` came from)."""
    d = fill_defaults(cls, d, what=what)
    d["lr_grid"] = tuple(d["lr_grid"])
    stages = []
    for i, s in enumerate(d["stages"]):
      s = fill_defaults(Stage, s if isinstance(s, dict) else dataclasses.asdict(s), what=f"{what} (stage {i + 1})")
      stages.append(Stage(**{**s, "tasks": tuple(s["tasks"])}))
    d["stages"] = tuple(stages)
    return cls(**d)


PRESETS: dict[str, SearchConfig] = {
    # Minutes on 2 CPU cores: a digits MLP proxy, a small GA and two short elimination stages.
    "quick": SearchConfig(
        task="digits_mlp", particles=6, steps=3, mutants=4, pool_factor=3, surrogate_steps=150, probe_steps=30,
        lr_grid=(1e-1, 1e-2, 1e-3), elimination_candidates=8,
        stages=(Stage(300, seeds=2, keep=4), Stage(300, seeds=2, tasks=("digits_mlp", "mnist1d_mlp"), keep=3)),
    ),
    # The paper's run (n=50, K=5, M=7, pool 500, 8000-step surrogate with 800-step LR probes over 10..1e-5) on
    # CIFAR-10 with a small ConvNet, for a GPU. The elimination stages are our choice (not recoverable from the paper).
    "paper": SearchConfig(),
}


def preset(name: str, **overrides: Any) -> SearchConfig:
  """The preset ``name`` with fields replaced by ``overrides`` (validated)."""
  if name not in PRESETS:
    raise ValueError(f"Unknown preset {name!r}. Known presets: {', '.join(sorted(PRESETS))}.")
  fields = {f.name for f in dataclasses.fields(SearchConfig)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise ValueError(f"Unknown search setting(s) {unknown}. Known settings: {', '.join(sorted(fields))}.")
  return dataclasses.replace(PRESETS[name], **overrides)


class SearchResult(NamedTuple):
  """What :func:`run` returns (also written to the results folder)."""

  hall_of_fame: list[dict[str, Any]]  # best first: genome, equation, surrogate and per-stage fitness
  generations: list[dict[str, Any]]  # per GA generation: best, median, candidates, seconds
  baseline: dict[str, Any]  # the baseline's surrogate and per-stage fitness
  rank_correlation: float  # Spearman: surrogate fitness vs first elimination stage, same candidates
  out_dir: str | None


def _graph():
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  return graph


def genome_builder(genome, schedule, protocol: Protocol):
  """:data:`optix_evo.search.evaluate.Builder` for genomes: the graph interpreter with the NOS base LR schedule and
  momentum schedule (0.95 → 0.85 over the warmup, back to 0.95 at the end; nos.md §3.1), with the interpreter
  strategy the evaluator's population loop asks for (``protocol.strategy``)."""
  graph = _graph()
  return graph.interpret(genome, learning_rate=schedule, total_steps=protocol.steps,
                         momentum=graph.nos_momentum(protocol.steps, protocol.warmup), strategy=protocol.strategy)


def _fresh_state(config: SearchConfig) -> dict[str, Any]:
  return {
      "config": config.to_dict(), "ga": ga.init(config.ga_params()), "archive": [], "generations": [],
      "history_lines": 0, "baseline": {}, "stages": [], "rank_correlation": None, "phase": "ga",
  }


class _Run:
  """Mutable bookkeeping of one search run (state dict, files, progress)."""

  def __init__(self, config: SearchConfig, out_dir: str | None, resume: bool, callback):
    self.config, self.out_dir, self.callback = config, out_dir, callback
    # Multi-process runs: only process 0 touches the results folder (the hosts need not share a filesystem); the
    # others get its state (fresh or resumed) or its refusal, so every process runs the same evaluations.
    self.writer = out_dir is not None and jax.process_index() == 0
    self.start = time.time()
    self.state = broadcast_from_process_zero(lambda: self._open(resume))

  def _open(self, resume: bool) -> dict[str, Any]:
    """The state to start from (the checkpoint's with ``resume``, else a fresh one); truncates ``history.jsonl``."""
    config, out_dir = self.config, self.out_dir
    ckpt = os.path.join(out_dir, CHECKPOINT) if out_dir else None
    if resume and ckpt and os.path.exists(ckpt):
      state = load_checkpoint(ckpt)
      stored = SearchConfig.from_dict(state["config"], what=f"--resume: the configuration in {ckpt}")
      if stored != config:
        changed = [f.name for f in dataclasses.fields(config) if getattr(stored, f.name) != getattr(config, f.name)]
        raise ValueError(f"--resume: the checkpoint in {out_dir} was written with a different configuration "
                         f"(settings {changed} differ); resume with the same settings, or use a fresh --out folder.")
      state["config"] = config.to_dict()  # an older checkpoint's config gains the settings added since
      self._truncate_history(state["history_lines"])
      return state
    if ckpt and os.path.exists(ckpt) and not resume:
      raise ValueError(f"{out_dir} already holds a search checkpoint; pass --resume to continue it or use a new --out.")
    self._truncate_history(0)
    return _fresh_state(config)

  def _truncate_history(self, lines: int) -> None:
    if not self.writer:
      return
    os.makedirs(self.out_dir, exist_ok=True)
    path = os.path.join(self.out_dir, HISTORY)
    kept = []
    if os.path.exists(path):
      with open(path, encoding="utf-8") as f:
        kept = f.readlines()[:lines]
    with open(path, "w", encoding="utf-8") as f:
      f.writelines(kept)

  def log(self, records: list[dict[str, Any]]) -> None:
    self.state["history_lines"] += len(records)
    if self.writer:
      with open(os.path.join(self.out_dir, HISTORY), "a", encoding="utf-8") as f:
        for r in records:
          f.write(json.dumps(r) + "\n")
        f.flush()
        os.fsync(f.fileno())

  def checkpoint(self) -> None:
    if self.writer:
      save_checkpoint(os.path.join(self.out_dir, CHECKPOINT), self.state)

  def event(self, **info) -> None:
    if self.callback is not None:
      self.callback(info)


def _record(graph, genome, fp: str, **fields) -> dict[str, Any]:
  return {**fields, "fingerprint": fp, "equation": graph.render(genome), "genome": graph.to_json(genome)}


def total_candidates(config: SearchConfig) -> int:
  """Candidate trainings of a whole run (GA and elimination, baselines included), for progress bars."""
  p = config.ga_params()
  total = p.pool_factor * p.particles + 1 + p.steps * p.particles * p.mutants
  alive = config.elimination_candidates
  for stage in config.stages:
    total += (alive + 1) * stage.seeds * max(len(stage.tasks), 1)
    alive = min(alive, stage.keep)
  return total


def run(config: SearchConfig, out_dir: str | None = None, *, resume: bool = False,
        callback: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
  """Runs (or, with ``resume``, continues) the search described by ``config``.

  Args:
    config: the search settings (see :data:`PRESETS`).
    out_dir: results folder (checkpoint, ``history.jsonl``; the report files are written by
      :func:`optix_evo.search.results.write_results`); ``None`` keeps everything in memory.
    resume: continue from ``out_dir``'s checkpoint when there is one.
    callback: called with a dict after every generation / stage (``phase``, ``done``, ``total``, ``best``, ...).

  Returns:
    A :class:`SearchResult`.
  """
  graph = _graph()
  r = _Run(config, out_dir, resume, callback)
  st = r.state
  params = config.ga_params()
  ops = ga.graph_ops()
  ga_key, eval_key = jax.random.split(jax.random.PRNGKey(config.seed))
  task = get_task(config.task, seed=config.seed, data_dir=config.data_dir)
  baseline = graph.known(config.baseline)
  baseline_fp = graph.canonical_hash(baseline)
  done_candidates = sum(g["candidates"] for g in st["generations"]) + sum(s["evaluations"] for s in st["stages"])
  r.event(phase="start", done=done_candidates, total=total_candidates(config), generation=st["ga"].generation,
          best=max((g["best"] for g in st["generations"]), default=None))

  if st["phase"] == "ga":
    evaluator = Evaluator(task, genome_builder, config.surrogate(), batch=params.particles * params.mutants,
                          chunk_size=config.chunk_size, population_loop=config.population_loop)
    while not ga.done(st["ga"], params):
      gen = st["ga"].generation
      t0 = time.time()
      population, parents, fps = ga.ask(ga_key, st["ga"], params, ops)
      n = len(fps)
      if gen == 0:  # the baseline is scored with the pool: same program, same seed
        population = ga.stack(ga.unstack(population) + [baseline])
      key = np.asarray(jax.random.fold_in(eval_key, gen))
      scores = evaluator(population, np.tile(key, (n + (gen == 0), 1)))
      seconds = time.time() - t0
      members = ga.unstack(population)
      records = []
      for i in range(n):
        rec = _record(graph, members[i], fps[i], stage="surrogate", generation=gen, task=task.name,
                      particle=int(parents[i]), fitness=float(scores.fitness[i]),
                      learning_rate=float(scores.learning_rate[i]), diverged=bool(scores.diverged[i]),
                      time=seconds / n)
        records.append(rec)
        st["archive"].append({**rec, "genome_arrays": members[i]})
      if gen == 0:
        st["baseline"] = {"name": config.baseline, "surrogate": float(scores.fitness[n]),
                          "learning_rate": float(scores.learning_rate[n]), "stages": []}
        records.append(_record(graph, baseline, baseline_fp, stage="surrogate", generation=0, task=task.name,
                               particle=-1, baseline=config.baseline, fitness=float(scores.fitness[n]),
                               learning_rate=float(scores.learning_rate[n]), diverged=bool(scores.diverged[n]),
                               time=seconds / n))
      r.log(records)
      fit = scores.fitness[:n]
      st["ga"] = ga.tell(ga.stack(members[:n]), fit, fps, st["ga"], params)
      ok = fit[fit > WORST]
      st["generations"].append({
          "generation": gen, "candidates": n + (gen == 0), "best": float(fit.max()),
          "median": float(np.median(ok)) if ok.size else WORST, "diverged": int(np.sum(scores.diverged[:n])),
          "seconds": seconds,
      })
      r.checkpoint()
      done_candidates += n + (gen == 0)
      r.event(phase="ga", generation=gen, done=done_candidates, total=total_candidates(config),
              best=max(g["best"] for g in st["generations"]), candidates=n + (gen == 0), seconds=seconds)
    st["phase"] = "elimination"
    r.checkpoint()

  if st["phase"] == "elimination":
    # Distinct, non-divergent archive members by surrogate fitness (first occurrence wins ties: deterministic).
    best_first = sorted(range(len(st["archive"])), key=lambda i: -st["archive"][i]["fitness"])
    alive, seen = [], set()
    for i in best_first:
      rec = st["archive"][i]
      if rec["diverged"] or rec["fingerprint"] in seen:
        continue
      seen.add(rec["fingerprint"])
      alive.append(i)
      if len(alive) == config.elimination_candidates:
        break
    for s_idx, stage in enumerate(config.stages):
      if s_idx < len(st["stages"]):
        alive = st["stages"][s_idx]["survivors"]
        continue
      t0 = time.time()
      tasks = [get_task(name, seed=config.seed, data_dir=config.data_dir) for name in (stage.tasks or (config.task,))]
      genomes = ga.stack([st["archive"][i]["genome_arrays"] for i in alive] + [baseline])
      scores = stage_scores(stage, genomes, tasks, genome_builder, tuple(config.lr_grid),
                            seed=config.seed * 1000 + s_idx + 1, chunk_size=config.chunk_size,
                            population_loop=config.population_loop,
                            on_task=lambda name, s=s_idx: r.event(phase="stage", stage=s, task=name, done=done_candidates,
                                                                   total=total_candidates(config)))
      mean = scores.mean(axis=(1, 2))
      order = np.argsort(-mean[:-1], kind="stable")
      survivors = [alive[i] for i in order[: stage.keep]]
      seconds = time.time() - t0
      records = []
      for j, i in enumerate(alive):
        rec = st["archive"][i]
        records.append({k: v for k, v in rec.items() if k not in ("genome_arrays", "generation", "particle", "time",
                                                                    "learning_rate", "diverged")}
                       | {"stage": f"elimination-{s_idx + 1}", "task": [t.name for t in tasks],
                          "fitness": float(mean[j]), "per_task_seed": scores[j].tolist(),
                          "time": seconds / len(mean)})
        rec.setdefault("stages", []).append(float(mean[j]))
      st["baseline"]["stages"].append(float(mean[-1]))
      records.append(_record(graph, baseline, baseline_fp, stage=f"elimination-{s_idx + 1}", baseline=config.baseline,
                             task=[t.name for t in tasks], fitness=float(mean[-1]), per_task_seed=scores[-1].tolist(),
                             time=seconds / len(mean)))
      r.log(records)
      if s_idx == 0:
        st["rank_correlation"] = spearman([st["archive"][i]["fitness"] for i in alive], mean[:-1])
      evaluations = len(mean) * stage.seeds * len(tasks)
      st["stages"].append({"stage": s_idx + 1, "survivors": survivors, "evaluations": evaluations, "seconds": seconds,
                           "candidates": len(alive), "best": float(mean[:-1].max()), "baseline": float(mean[-1])})
      alive = survivors
      r.checkpoint()
      done_candidates += evaluations
      r.event(phase="stage", stage=s_idx, done=done_candidates, total=total_candidates(config),
              best=float(mean[:-1].max()), seconds=seconds)
    st["phase"] = "done"
    r.checkpoint()

  hall = []
  for rank, i in enumerate(st["stages"][-1]["survivors"], start=1):
    rec = st["archive"][i]
    hall.append({"rank": rank, "fingerprint": rec["fingerprint"], "equation": rec["equation"],
                 "surrogate_fitness": rec["fitness"], "learning_rate": rec["learning_rate"],
                 "stage_fitness": rec["stages"], "generation": rec["generation"], "genome": rec["genome"]})
  result = SearchResult(hall, st["generations"], st["baseline"], st["rank_correlation"], out_dir)
  if r.writer:
    atomic_write_json(os.path.join(out_dir, "hall_of_fame.json"), {"config": config.to_dict(), "hall_of_fame": hall,
                                                                    "baseline": st["baseline"]})
  return result

