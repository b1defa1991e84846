"""The search, step by step: generations of the GA over a surrogate → progressive elimination → a tuned final
comparison against baselines and known optimizers → the hall of fame.

:class:`Search` holds the state and does one step per call (:meth:`Search.generation`, :meth:`Search.eliminate`,
:meth:`Search.compare`), so each can be run and tested on its own; :func:`run` does all of them and writes the
results folder. After every generation and every stage the state is checkpointed atomically to ``OUT/checkpoint.npz``
(plain data, :mod:`optix_evo.search.checkpoint`); ``Search(config, out_dir, resume=True)`` continues from it and,
because every random draw is derived from ``config.seed`` and the step's index, ends with the same results as an
uninterrupted run. Ctrl-C stops at the next safe point (after the current evaluation), writes the checkpoint and
raises :class:`SearchInterrupted`. In a multi-process run (``jax.distributed``) only process 0 reads and writes
``out_dir``; the others receive its state.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from optix_evo import graph
from optix_evo.compilation import CompileLog
from optix_evo.errors import InputError
from optix_evo.graph.fingerprint import distinct_behaviour
from optix_evo.search import ga
from optix_evo.search.checkpoint import broadcast_from_process_zero, load_checkpoint, save_checkpoint
from optix_evo.search.config import BASELINES, SearchConfig
from optix_evo.search.evaluate import WORST, Evaluator
from optix_evo.search.protocol import Scores, score, tune
from optix_evo.search.statistics import paired_difference, spearman_interval, verdict
from optix_evo.tasks import Task, resolve_task

CHECKPOINT = "checkpoint.npz"
HISTORY = "history.jsonl"
STATE_FORMAT = "optix_evo.search_state/1"


def stored_config(out_dir: str) -> SearchConfig:
  """The configuration of the search checkpointed in ``out_dir`` (for ``--resume``)."""
  path = os.path.join(out_dir, CHECKPOINT)
  if not os.path.exists(path):
    raise InputError(f"--resume: no checkpoint {CHECKPOINT} in {out_dir}; start a new search instead.")
  state = load_checkpoint(path)
  if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
    raise InputError(f"{path} is not a search state of this version of optix_evo.")
  return SearchConfig.from_dict(state["config"], what=f"the configuration in {path}")


class SearchInterrupted(KeyboardInterrupt):
  """Ctrl-C during a search: the state was checkpointed at a safe point (the message says where).

  A ``KeyboardInterrupt``; continue with ``run(config, out_dir, resume=True)`` or ``optix-evo search --resume``.
  """


class SearchResult(NamedTuple):
  """What :func:`run` returns (also written to the results folder).

  Attributes:
    hall_of_fame: best first: rank, fingerprint, equation, genome (a :func:`~optix_evo.graph.to_json` document),
      surrogate and per-stage fitness, chosen learning rate.
    generations: per generation: best, median, rejected, candidates, seconds.
    rank_correlation: Spearman's rho of the surrogate against the first stage (``estimate``, ``low``, ``high``,
      ``n``), or ``None``.
    final: the tuned comparison: participants, per-task scores, paired differences, verdicts.
    timing: wall seconds of the whole run (resumes added up), compile and trace seconds, ...
    out_dir: the results folder, or ``None``.
    data_fingerprint: SHA-256 of every task's data (search, pool and held-out tasks), so that a reproduction can
      tell whether it trained on the same data.

  Examples:
    >>> import optix_evo as ox
    >>> result = ox.search.SearchResult([], [], None, {}, {}, None)  # what run() returns, here empty
    >>> print(result.hall_of_fame, ox.search.verdict_sentences(result))
    [] []
  """

  hall_of_fame: list[dict[str, Any]]  # best first: genome, equation, surrogate and per-stage fitness
  generations: list[dict[str, Any]]  # per generation: best, median, rejected, candidates, seconds
  rank_correlation: dict[str, float] | None  # Spearman surrogate vs first stage: estimate, low, high, n
  final: dict[str, Any]  # the tuned comparison: participants, per-task scores, paired differences, verdicts
  timing: dict[str, float]  # wall seconds of the whole run (resumes added up), compile and trace seconds, ...
  out_dir: str | None
  data_fingerprint: str | None = None


def _fresh_state(config: SearchConfig, strategy: ga.ParticleGA) -> dict[str, Any]:
  return {"format": STATE_FORMAT, "config": config.to_dict(), "phase": "search",
          "ga": strategy.init(jax.random.PRNGKey(config.seed), config.ga_params()).to_dict(), "archive": [],
          "generations": [], "stages": [], "rank_correlation": None, "final": None, "history_lines": 0,
          "timing": {"wall_s": 0.0, "programs": 0, "compiled": 0, "cache_hits": 0, "compile_s": 0.0, "trace_s": 0.0,
                     "lower_s": 0.0, "cache_load_s": 0.0, "sessions": 0}}


class _Interrupts:
  """While active, Ctrl-C (SIGINT) only sets a flag that the search checks at its safe points; a second Ctrl-C
  interrupts at once."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def _handler(self, signum, frame):
    del frame
    self.requested = True
    signal.signal(signum, self._previous or signal.default_int_handler)

  @contextlib.contextmanager
  def active(self) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
      yield
      return
    self._previous = signal.signal(signal.SIGINT, self._handler)
    try:
      yield
    finally:
      signal.signal(signal.SIGINT, self._previous)


class Search:
  """One search run: its configuration, state, evaluators and results folder.

  Args:
    config: the settings (:mod:`optix_evo.search.config`).
    out_dir: results folder (checkpoint, ``history.jsonl``); ``None`` keeps everything in memory.
    resume: continue from ``out_dir``'s checkpoint (it must exist; its settings are used, and ``config`` must not
      contradict them).
    callback: called with a dict after every step (``phase``, ``done``, ``total``, ``best``, ...).

  Raises:
    InputError: for ``resume`` without a checkpoint, or a ``config`` that contradicts the checkpointed one.

  Examples:
    A search trains networks (the ``quick`` preset: a minute or two on 2 CPU cores), so this example is not run as a
    doctest; ``tests/search`` runs tiny searches step by step.

    >>> import optix_evo as ox
    >>> search = ox.search.Search(ox.search.preset("quick"), "runs/quick")  # doctest: +SKIP
    >>> search.generation()["best"]  # one GA generation, checkpointed  # doctest: +SKIP
    >>> result = search.run()  # the remaining generations, elimination and the final comparison  # doctest: +SKIP
  """

  def __init__(self, config: SearchConfig, out_dir: str | None = None, *, resume: bool = False,
               callback: Callable[[dict[str, Any]], None] | None = None):
    self.config, self.out_dir, self.callback = config, out_dir, callback
    self.writer = out_dir is not None and jax.process_index() == 0
    self.strategy = ga.STRATEGIES[config.strategy](ga.graph_ops(graph.get_space(config.space)))
    self.params = config.ga_params()
    self.space = graph.get_space(config.space)
    self.eval_spec = graph.DEFAULT_SPEC  # evaluation space: a superset of every space (baselines and references)
    self.interrupts = _Interrupts()
    self.log = CompileLog()
    self._session_start = time.perf_counter()
    self._evaluators: dict[str, Evaluator] = {}
    self._tasks: dict[str, Task] = {}
    self.state = broadcast_from_process_zero(lambda: self._open(resume))

  # -- state and files ----------------------------------------------------------------------------------------------

  def _open(self, resume: bool) -> dict[str, Any]:
    path = os.path.join(self.out_dir, CHECKPOINT) if self.out_dir else None
    if not resume:
      state = _fresh_state(self.config, self.strategy)
      self._truncate_history(0)
      return state
    if path is None or not os.path.exists(path):
      raise InputError(f"--resume: no checkpoint {CHECKPOINT} in {self.out_dir}; start a new search instead.")
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
      raise InputError(f"{path} is not a search state of this version of optix_evo (format "
                       f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}).")
    stored = SearchConfig.from_dict(state["config"], what=f"the configuration in {path}")
    diff = stored.differences(self.config)
    if diff:
      raise InputError(f"--resume: the checkpoint in {self.out_dir} was written with other settings: "
                       + "; ".join(f"{k} is {a!r} there, {b!r} here" for k, a, b in diff)
                       + ". Resume without them (the checkpoint's settings are used) or start a new --out.")
    self._truncate_history(state["history_lines"])
    return state

  def _truncate_history(self, lines: int) -> None:
    if not self.writer:
      return
    path = os.path.join(self.out_dir, HISTORY)
    kept = []
    if lines and os.path.exists(path):
      with open(path, encoding="utf-8") as f:
        kept = f.readlines()[:lines]
    os.makedirs(self.out_dir, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
      f.writelines(kept)

  def _log(self, records: list[dict[str, Any]]) -> None:
    self.state["history_lines"] += len(records)
    if self.writer:
      with open(os.path.join(self.out_dir, HISTORY), "a", encoding="utf-8") as f:
        for r in records:
          f.write(json.dumps(r) + "\n")
        f.flush()
        os.fsync(f.fileno())

  def _account_time(self) -> None:
    """Adds this session's wall and compile time since the last call to the state's totals."""
    now = time.perf_counter()
    timing = self.state["timing"]
    timing["wall_s"] += now - self._session_start
    self._session_start = now
    for k, v in self.log.summary().items():
      if k in timing:
        timing[k] += v
    self.log.reset()

  def checkpoint(self) -> None:
    """Writes the state (atomically) and stops here if Ctrl-C was pressed."""
    self._account_time()
    if self.writer:
      save_checkpoint(os.path.join(self.out_dir, CHECKPOINT), self.state)
    if self.interrupts.requested:
      where = f"; the search is checkpointed in {self.out_dir}, continue it with --resume" if self.writer else ""
      raise SearchInterrupted(f"stopped after {self.state['phase']} step{where}")

  def _event(self, **info) -> None:
    if self.callback is not None:
      self.callback(info)

  @contextlib.contextmanager
  def _running(self) -> Iterator[None]:
    with self.interrupts.active(), self.log:
      yield

  # -- evaluation ---------------------------------------------------------------------------------------------------

  def task(self, reference: str | Task) -> Task:
    name = reference.name if isinstance(reference, Task) else reference
    if name not in self._tasks:
      self._tasks[name] = resolve_task(reference, seed=self.config.seed, data_dir=self.config.data_dir)
    return self._tasks[name]

  def evaluator(self, reference: str | Task) -> Evaluator:
    """The one compiled program of a task (created on first use, reused by every protocol)."""
    task = self.task(reference)
    if task.name not in self._evaluators:
      self._evaluators[task.name] = Evaluator(task, self.eval_spec, max_steps=self.config.max_steps,
                                              batch=max(jax.device_count() * 8, 16),
                                              chunk_size=self.config.chunk_size,
                                              population_loop=self.config.population_loop)
    return self._evaluators[task.name]

  def to_eval_space(self, genomes) -> graph.Genome:
    """Genomes of the search space as genomes of the evaluation space."""
    if self.space == self.eval_spec:
      return genomes
    return ga.stack([graph.convert(g, self.space, self.eval_spec) for g in ga.unstack(genomes)])

  def _record(self, genome, **fields) -> dict[str, Any]:
    return {**fields, "fingerprint": graph.canonical_hash(genome, self.space),
            "equation": graph.render(genome, self.space), "genome": graph.to_json(genome, self.space)}

  def genome(self, record: dict[str, Any]) -> graph.Genome:
    return graph.from_json(record["genome"], self.space)

  # -- step 1: generations ------------------------------------------------------------------------------------------

  @property
  def ga_state(self) -> ga.GAState:
    return ga.GAState.from_dict(self.state["ga"], graph.Genome)

  def generation(self) -> dict[str, Any]:
    """Asks the GA for a generation, scores it with the surrogate (replacing rejected mutants up to
    ``mutant_tries`` times), tells the GA, archives every candidate and checkpoints. Returns the generation's
    summary."""
    config, params = self.config, self.params
    state = self.ga_state
    gen = state.generation
    key = jax.random.PRNGKey(config.seed)
    start = time.perf_counter()
    pool = gen == 0
    task = config.pool_task if pool and config.pool_task is not None else config.task
    protocol = config.surrogate(pool=pool)
    population, state = self.strategy.ask(key, state, params)
    parents = self.strategy.parents(state, params)
    scores = score(self.evaluator(task), self.to_eval_space(population), protocol, seed=config.seed * 1000 + gen)
    members, fitness = ga.unstack(population), scores.fitness.copy()
    attempts = np.ones(len(members), int)
    runs = scores.runs
    # NOS: a mutant whose training was rejected is replaced by a new one, up to mutant_tries times in all.
    for attempt in range(1, config.mutant_tries if not pool else 1):
      retry = [i for i in range(len(members)) if scores.rejected[i]]
      if not retry:
        break
      replacements, state = self.strategy.retry(key, state, params, retry)
      again = score(self.evaluator(task), self.to_eval_space(replacements), protocol,
                    seed=config.seed * 1000 + gen)
      runs += again.runs
      for j, i in enumerate(retry):
        members[i] = ga.unstack(replacements)[j]
        attempts[i] += 1
        for field in ("fitness", "learning_rate", "rejected", "diverged"):
          getattr(scores, field)[i] = getattr(again, field)[j]
      fitness = scores.fitness.copy()
    population = ga.stack(members)
    records = []
    for i, member in enumerate(members):
      rec = self._record(member, stage="surrogate", generation=gen, task=self.task(task).name,
                         particle=int(parents[i]), fitness=float(fitness[i]),
                         learning_rate=float(scores.learning_rate[i]), rejected=bool(scores.rejected[i]),
                         diverged=bool(scores.diverged[i]), attempts=int(attempts[i]))
      records.append(rec)
      self.state["archive"].append(rec)
    self._log(records)
    state, metrics = self.strategy.tell(key, population, fitness, state, params)
    summary = {"generation": gen, "candidates": len(members), "runs": runs, **metrics,
               "seconds": time.perf_counter() - start}
    self.state["ga"] = state.to_dict()
    self.state["generations"].append(summary)
    if self.strategy.done(state, params):
      self.state["phase"] = "elimination"
    self.checkpoint()
    self._event(phase="search", generation=gen, best=max(g["best"] for g in self.state["generations"]),
                done=self.done_generations, total=params.steps + 1)
    return summary

  @property
  def done_generations(self) -> int:
    return len(self.state["generations"])

  # -- step 2: progressive elimination ------------------------------------------------------------------------------

  def elimination_candidates(self) -> list[int]:
    """Archive indices of the best distinct candidates by surrogate fitness (rejected ones excluded; the first
    occurrence wins ties), distinct in canonical form and in behaviour (:mod:`optix_evo.graph.fingerprint`)."""
    archive = self.state["archive"]
    order = sorted(range(len(archive)), key=lambda i: -archive[i]["fitness"])
    order = [i for i in order if not archive[i]["rejected"] and archive[i]["fitness"] > WORST]
    order = [order[j] for j in distinct_behaviour([self.genome(archive[i]) for i in order], self.space)]
    chosen, seen = [], set()
    for i in order:
      rec = archive[i]
      if rec["rejected"] or rec["fitness"] <= WORST or rec["fingerprint"] in seen:
        continue
      seen.add(rec["fingerprint"])
      chosen.append(i)
      if len(chosen) == self.config.elimination_candidates:
        break
    return chosen

  def eliminate(self) -> list[dict[str, Any]]:
    """Runs the elimination stages not run yet (each: score the survivors at the stage's budget, keep the best
    ``keep``); after the first, the surrogate's rank correlation with it. Returns the stages."""
    config = self.config
    alive = self.state["stages"][-1]["survivors"] if self.state["stages"] else self.elimination_candidates()
    if not alive:
      raise InputError("No candidate survived the surrogate (every one was rejected or diverged): lower the "
                       "rejection thresholds or widen lr_grid.")
    archive = self.state["archive"]
    for s_idx in range(len(self.state["stages"]), len(config.stages)):
      stage = config.stages[s_idx]
      start = time.perf_counter()
      genomes = ga.stack([self.genome(archive[i]) for i in alive])
      scores = score(self.evaluator(config.task), self.to_eval_space(genomes), config.stage_protocol(stage),
                     seed=config.seed * 1000 + 100 + s_idx)
      survivors = select_survivors(alive, scores.fitness, stage.keep)
      records = [{k: v for k, v in archive[i].items() if k not in ("generation", "particle", "attempts")}
                 | {"stage": f"elimination-{s_idx + 1}", "fitness": float(scores.fitness[j]),
                    "learning_rate": float(scores.learning_rate[j]), "rejected": bool(scores.rejected[j]),
                    "per_seed": scores.valid[j].tolist()} for j, i in enumerate(alive)]
      self._log(records)
      if s_idx == 0:
        surrogate = [archive[i]["fitness"] for i in alive]
        self.state["rank_correlation"] = spearman_interval(surrogate, scores.fitness, seed=config.seed)._asdict()
      self.state["stages"].append({"stage": s_idx + 1, "candidates": list(alive), "fitness": scores.fitness.tolist(),
                                   "learning_rate": scores.learning_rate.tolist(), "survivors": survivors,
                                   "runs": scores.runs, "seconds": time.perf_counter() - start})
      alive = survivors
      if s_idx == len(config.stages) - 1:
        self.state["phase"] = "final"
      self.checkpoint()
      self._event(phase="elimination", stage=s_idx, best=float(scores.fitness.max()), done=s_idx + 1,
                  total=len(config.stages))
    return self.state["stages"]

  # -- step 3: the tuned final comparison ---------------------------------------------------------------------------

  def participants(self) -> list[dict[str, Any]]:
    """The final comparison's optimizers: the top finalists of the last stage, the baselines and the references."""
    archive = self.state["archive"]
    out = [{"name": f"found #{rank}", "kind": "found", "archive": i, "equation": archive[i]["equation"]}
           for rank, i in enumerate(self.state["stages"][-1]["survivors"][: self.config.finalists], start=1)]
    out += [{"name": name, "kind": "baseline", "known": BASELINES[name]} for name in self.config.baselines]
    out += [{"name": name, "kind": "reference", "known": name} for name in self.config.references]
    return out

  def _participant_genomes(self, participants: list[dict[str, Any]]) -> graph.Genome:
    genomes = []
    for p in participants:
      if p["kind"] == "found":
        genomes.append(graph.convert(self.genome(self.state["archive"][p["archive"]]), self.space, self.eval_spec))
      else:
        genomes.append(graph.known(p["known"], self.eval_spec))
    return ga.stack(genomes)

  def compare(self) -> dict[str, Any]:
    """The final comparison: every participant tuned on ``final_lr_grid`` with ``final_seeds`` seeds on the search
    task and every held-out task, with the paper's final-run schedule (warmup ``T/15``, hold ``2T/15``, cosine); the best found optimizer against each baseline as paired differences of test
    accuracy with 95% intervals, and a verdict per task."""
    config = self.config
    participants = self.participants()
    final = self.state["final"] or {"participants": participants, "tasks": {}}
    genomes = self._participant_genomes(participants)
    for t_idx, reference in enumerate((config.task, *config.holdout_tasks)):
      task = self.task(reference)
      if task.name in final["tasks"]:
        continue
      start = time.perf_counter()
      scores = tune(self.evaluator(task), genomes, steps=config.final_steps, lr_grid=tuple(config.final_lr_grid),
                    seeds=config.final_seeds, seed=config.seed * 1000 + 500 + t_idx,
                    epoch=max(config.final_steps // config.epochs, 1), warmup_steps=config.final_steps // 15,
                    hold_steps=2 * config.final_steps // 15)
      final["tasks"][task.name] = {"held_out": t_idx > 0, **_tuned_table(scores),
                                   "comparisons": _comparisons(participants, scores), "runs": scores.runs,
                                   "seconds": time.perf_counter() - start}
      self.state["final"] = final
      self.checkpoint()
      self._event(phase="final", task=task.name, done=t_idx + 1, total=1 + len(config.holdout_tasks))
    self.state["phase"] = "done"
    self.checkpoint()
    return final

  # -- result -------------------------------------------------------------------------------------------------------

  def result(self) -> SearchResult:
    archive, stages = self.state["archive"], self.state["stages"]
    hall = []
    for rank, i in enumerate(stages[-1]["survivors"] if stages else [], start=1):
      rec = archive[i]
      per_stage = [s["fitness"][s["candidates"].index(i)] for s in stages if i in s["candidates"]]
      hall.append({"rank": rank, "fingerprint": rec["fingerprint"], "equation": rec["equation"],
                   "surrogate_fitness": rec["fitness"], "learning_rate": stages[-1]["learning_rate"][
                       stages[-1]["candidates"].index(i)], "stage_fitness": per_stage,
                   "generation": rec["generation"], "space": self.config.space, "genome": rec["genome"]})
    timing = dict(self.state["timing"])
    timing["compile_and_trace_s"] = sum(timing[k] for k in ("compile_s", "trace_s", "lower_s"))
    return SearchResult(hall, self.state["generations"], self.state["rank_correlation"], self.state["final"] or {},
                        timing, self.out_dir, self.data_fingerprint())

  def data_fingerprint(self) -> str:
    """SHA-256 of the data of every task the search trains on (search, pool and held-out tasks, by name)."""
    from optix_evo.diagnostics.manifest import fingerprint_arrays  # pylint: disable=import-outside-toplevel
    config = self.config
    references = [config.task, *([config.pool_task] if config.pool_task is not None else []), *config.holdout_tasks]
    tasks = sorted({t.name: t for t in map(self.task, references)}.items())
    return fingerprint_arrays(*(a for _, t in tasks for part in (t.train, t.valid, t.test) for a in (part.x, part.y)))

  def run(self) -> SearchResult:
    """Every step not done yet, then the result.

    Returns:
      The :class:`SearchResult` (the results files are written by :func:`run`, not here).
    """
    with self._running():
      self.state["timing"]["sessions"] += 1
      while self.state["phase"] == "search":
        self.generation()
      if self.state["phase"] == "elimination":
        self.eliminate()
      if self.state["phase"] == "final":
        self.compare()
      self._account_time()
    return self.result()


def select_survivors(candidates: list[int], fitness: np.ndarray, keep: int) -> list[int]:
  """The ``keep`` candidates with the highest fitness, best first (the earlier one wins ties); rejected ones (fitness
  at or below WORST) never survive.

  Args:
    candidates: archive indices of the candidates.
    fitness: their fitness, in the same order.
    keep: how many survive at most.

  Returns:
    The surviving candidates, best first.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.select_survivors([10, 11, 12, 13], [0.5, -1.0, 0.7, 0.5], keep=2))
    [12, 10]
  """
  order = np.argsort(-np.asarray(fitness, np.float64), kind="stable")
  return [candidates[j] for j in order if fitness[j] > WORST][:keep]


def _tuned_table(scores: Scores) -> dict[str, Any]:
  return {"learning_rate": scores.learning_rate.tolist(), "valid": scores.valid.tolist(), "test": scores.test.tolist(),
          "grid_valid": scores.grid_valid.tolist(), "diverged": scores.diverged.tolist()}


def _comparisons(participants: list[dict[str, Any]], scores: Scores) -> list[dict[str, Any]]:
  """Every found optimizer against every baseline: the paired test-accuracy difference over seeds and its verdict."""
  out = []
  for i, p in enumerate(participants):
    if p["kind"] != "found":
      continue
    for j, b in enumerate(participants):
      if b["kind"] != "baseline":
        continue
      diff = paired_difference(scores.test[i], scores.test[j])
      out.append({"found": p["name"], "baseline": b["name"], "difference": diff._asdict(), "verdict": verdict(diff)})
  return out


def run(config: SearchConfig, out_dir: str | None = None, *, resume: bool = False,
        callback: Callable[[dict[str, Any]], None] | None = None, report: bool = True) -> SearchResult:
  """Runs (or, with ``resume``, continues) the search described by ``config``.

  Args:
    config: the search settings (:data:`~optix_evo.search.config.PRESETS`, :func:`~optix_evo.search.config.preset`).
    out_dir: results folder; with ``report`` it receives what the command line writes (``report.md``,
      ``optimizers/``, ``run.json``, figures, ``hall_of_fame.json``, ``history.jsonl``, the checkpoint). ``None``
      keeps everything in memory.
    resume: continue from ``out_dir``'s checkpoint.
    callback: called with a dict after every step (``phase``, ``done``, ``total``, ...).
    report: write the results files into ``out_dir``.

  Returns:
    A :class:`SearchResult`.

  Raises:
    InputError: for an invalid configuration, a results folder that cannot be used, or ``resume`` without a
      checkpoint.
    SearchInterrupted: on Ctrl-C, after checkpointing.

  Examples:
    The quick preset takes a minute or two on 2 CPU cores, so this example is not run as a doctest (the same as
    ``optix-evo search --preset quick --out runs/quick``):

    >>> import optix_evo as ox
    >>> result = ox.search.run(ox.search.preset("quick"), "runs/quick")  # doctest: +SKIP
    >>> print("\\n".join(ox.search.verdict_sentences(result)))  # doctest: +SKIP
  """
  search = Search(config, out_dir, resume=resume, callback=callback)
  result = search.run()
  if report and search.writer:
    from optix_evo.search.results import write_results  # pylint: disable=import-outside-toplevel
    write_results(out_dir, result, config)
  return result
