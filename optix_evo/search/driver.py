"""The search loop: generations of a strategy over a surrogate → progressive elimination → a tuned final comparison
against baselines and known optimizers → the hall of fame.

The phases are pure steps on an immutable :class:`~optix_evo.search.state.SearchState`
(:mod:`optix_evo.search.phases`); :class:`Search` is the loop around them that owns the files, Ctrl-C and the
checkpoints, and trains candidates for the steps (one compiled :class:`~optix_evo.search.Evaluator` per task). It does
one step per call (:meth:`Search.generation`, :meth:`Search.eliminate`, :meth:`Search.compare`); :func:`run` does all
of them and writes the results folder. After every generation and every stage the state is checkpointed atomically to
``OUT/checkpoint.npz`` (plain data, :mod:`optix_evo.search.checkpoint`); ``Search(config, out_dir, resume=True)``
continues from it and, because every random draw is derived from ``config.seed`` and the step's index, ends with the
same results as an uninterrupted run. Ctrl-C stops at the next safe point (after the current evaluation), writes the
checkpoint and raises :class:`SearchInterrupted`. In a multi-process run (``jax.distributed``) only process 0 reads
and writes ``out_dir``; the others receive its state.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import numpy as np

from optix_evo import graph
from optix_evo.compilation import CompileLog
from optix_evo.errors import InputError
from optix_evo.search import ga, phases
from optix_evo.search.checkpoint import (
    broadcast_from_process_zero, check_state_arrays, load_checkpoint, save_checkpoint,
)
from optix_evo.search.config import BASELINES, WARM_START, SearchConfig, baseline_optimizer
from optix_evo.search.config import _task_name as task_name
from optix_evo.search.evaluate import Evaluator, plain_genome, zoo_optimizer
from optix_evo.search.phases import select_survivors
from optix_evo.search.protocol import Protocol, Scores, score, tune
from optix_evo.search.results_types import WORST, SearchResult
from optix_evo.search.state import STATE_FORMAT, SearchState
from optix_evo.search.strategies import make_strategy
from optix_evo.tasks import Task, resolve_task

__all__ = ["CHECKPOINT", "HISTORY", "Search", "SearchInterrupted", "SearchResult", "WORST", "run", "select_survivors",
           "stored_config"]

CHECKPOINT = "checkpoint.npz"
HISTORY = "history.jsonl"


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
    self.params = config.ga_params()
    self.space = graph.get_space(config.space)
    self.eval_spec = graph.DEFAULT_SPEC  # evaluation space: a superset of every space (baselines and references)
    self.warm_names, warm = self._warm_start()
    self.strategy = make_strategy(config.strategy, ga.graph_ops(self.space), warm)
    self.interrupts = _Interrupts()
    self.log = CompileLog()
    self._session_start, self._session_cpu = time.perf_counter(), time.process_time()
    self._evaluators: dict[str, Evaluator] = {}
    self._zoo_evaluators: dict[tuple[str, str], Evaluator] = {}
    self._tasks: dict[str, Task] = {}
    self.state: SearchState = SearchState.from_dict(broadcast_from_process_zero(lambda: self._open(resume)))

  def _warm_start(self) -> tuple[tuple[str, ...], tuple[graph.Genome, ...]]:
    """The known optimizers of :data:`WARM_START` that the search space can express (``warm_start`` on)."""
    if not self.config.warm_start:
      return (), ()
    names, genomes = [], []
    for name in WARM_START:
      try:
        genomes.append(graph.known(name, self.space))
      except (InputError, ValueError, KeyError):
        continue  # not expressible in this space (e.g. Adam's operand in "nos")
      names.append(name)
    return tuple(names), tuple(genomes)

  # -- state and files ----------------------------------------------------------------------------------------------

  def _open(self, resume: bool) -> dict[str, Any]:
    path = os.path.join(self.out_dir, CHECKPOINT) if self.out_dir else None
    if not resume:
      state = SearchState.fresh(self.config.to_dict(), self.strategy.init(jax.random.PRNGKey(self.config.seed),
                                                                          self.params).to_dict(), self.warm_names)
      self._truncate_history(0)
      return state.to_dict()
    if path is None or not os.path.exists(path):
      raise InputError(f"--resume: no checkpoint {CHECKPOINT} in {self.out_dir}; start a new search instead.")
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
      raise InputError(f"{path} is not a search state of this version of optix_evo (format "
                       f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}).")
    stored = SearchConfig.from_dict(state["config"], what=f"the configuration in {path}")
    check_state_arrays(state, space=stored.space, source=path)  # reshaped or retyped arrays: one line, not a crash
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

  def _advance(self, state: SearchState, records: list[dict[str, Any]]) -> None:
    """Takes the phase's new state, appends its records to ``history.jsonl`` and checkpoints."""
    self.state = dataclasses.replace(state, history_lines=state.history_lines + len(records))
    if self.writer and records:
      with open(os.path.join(self.out_dir, HISTORY), "a", encoding="utf-8") as f:
        for r in records:
          f.write(json.dumps(r) + "\n")
        f.flush()
        os.fsync(f.fileno())
    self.checkpoint()

  def _account_time(self) -> None:
    """Adds this session's wall, CPU and compile time since the last call to the state's totals, and each
    evaluator's training time, steps and runs (per task) and its wait for compilation."""
    now, cpu = time.perf_counter(), time.process_time()
    timing = dict(self.state.timing)
    timing["wall_s"] += now - self._session_start
    timing["cpu_s"] = timing.get("cpu_s", 0.0) + cpu - self._session_cpu
    self._session_start, self._session_cpu = now, cpu
    for k, v in self.log.summary().items():
      if k in timing:
        timing[k] += v
    self.log.reset()
    training = {task: dict(t) for task, t in timing["training"].items()}
    for task, evaluator in [*self._evaluators.items(), *((t, e) for (t, _), e in self._zoo_evaluators.items())]:
      usage = evaluator.take_usage()
      timing["compile_wait_s"] += usage.compile_wait_s
      if usage.runs:
        t = training.setdefault(task, {"train_s": 0.0, "steps": 0, "runs": 0})
        t["train_s"] += usage.train_s
        t["steps"] += usage.steps
        t["runs"] += usage.runs
    timing["training"] = training
    self.state = dataclasses.replace(self.state, timing=timing)

  def checkpoint(self) -> None:
    """Writes the state (atomically) and stops here if Ctrl-C was pressed."""
    self._account_time()
    if self.writer:
      save_checkpoint(os.path.join(self.out_dir, CHECKPOINT), self.state.to_dict())
    if self.interrupts.requested:
      where = f"; the search is checkpointed in {self.out_dir}, continue it with --resume" if self.writer else ""
      raise SearchInterrupted(f"stopped after {self.state.phase} step{where}")

  def _event(self, **info) -> None:
    if self.callback is not None:
      self.callback(info)

  @contextlib.contextmanager
  def _running(self) -> Iterator[None]:
    with self.interrupts.active(), self.log:
      try:
        yield
      finally:  # stopped, failed or done: no background compilation outlives the run
        for evaluator in self._evaluators.values():
          evaluator.wait_compiling()

  # -- evaluation: the Scorer of the phases -------------------------------------------------------------------------

  def task(self, reference: str | Task) -> Task:
    name = reference.name if isinstance(reference, Task) else reference
    if name not in self._tasks:
      known = {task_name(t): t for t in (self.config.task, self.config.pool_task) if t is not None}
      self._tasks[name] = resolve_task(known.get(name, reference), seed=self.config.seed,
                                       data_dir=self.config.data_dir)
    return self._tasks[name]

  def evaluator(self, reference: str | Task, optimizer: str | None = None) -> Evaluator:
    """The one compiled program of a task (created on first use, reused by every protocol); with ``optimizer`` (a
    zoo baseline), the task's program that trains that zoo optimizer (:func:`~optix_evo.search.zoo_optimizer`)."""
    task = self.task(reference)
    cache, key = (self._evaluators, task.name) if optimizer is None else (self._zoo_evaluators, (task.name, optimizer))
    if key not in cache:
      cache[key] = Evaluator(task, self.eval_spec, max_steps=self.config.max_steps,
                             batch=max(jax.device_count() * 8, 16), chunk_size=self.config.chunk_size,
                             population_loop=self.config.population_loop,
                             make_optimizer=None if optimizer is None else zoo_optimizer(optimizer))
    return cache[key]

  def pending_tasks(self) -> list[str]:
    """The tasks the steps not done yet train on, in order of first use: the pool task (before the random pool),
    the search tasks, then the held-out ones (in the final comparison, the tasks not compared yet)."""
    config, state = self.config, self.state
    if state.phase == "done":
      return []
    if state.phase == "final":
      done = (state.final or {}).get("tasks", {})
      return [t for t, _ in phases.final_tasks(config) if t not in done]
    first = phases.generation_tasks(config, 0) if state.phase == "search" and not state.generations else ()
    return list(dict.fromkeys([*first, *(t for t, _ in phases.final_tasks(config))]))

  def start_compiling(self) -> list[str]:
    """Starts compiling the programs of :meth:`pending_tasks` at once, each in a background thread
    (:meth:`~optix_evo.search.Evaluator.start_compiling`), when there are several: their compilations overlap where
    cores are free. Returns the tasks started. Not across processes (``jax.distributed``): a program's warm-up run
    in a background thread would interleave its collectives with the main thread's in a different order on each
    process."""
    tasks = self.pending_tasks()
    if len(tasks) < 2 or jax.process_count() > 1:
      return []
    return [t for t in tasks if self.evaluator(t).start_compiling() is not None]

  def to_eval_space(self, genomes) -> graph.Genome:
    """Genomes of the search space as genomes of the evaluation space."""
    if self.space == self.eval_spec:
      return genomes
    return ga.stack([graph.convert(g, self.space, self.eval_spec) for g in ga.unstack(genomes)])

  def score(self, task: str, genomes, protocol: Protocol, *, seed: int, extra: tuple[str, ...] = ()) -> Scores:
    """:func:`~optix_evo.search.score` of search-space ``genomes`` and then the known optimizers ``extra``."""
    population = self.to_eval_space(genomes)
    if extra:
      population = ga.stack(ga.unstack(population) + [graph.known(name, self.eval_spec) for name in extra])
    return score(self.evaluator(task), population, protocol, seed=seed)

  def tune(self, task: str, genomes, *, seed: int, zoo: Mapping[int, str] | None = None, **kwargs) -> Scores:
    """:func:`~optix_evo.search.tune` of evaluation-space ``genomes``; the rows of ``zoo`` (row → zoo optimizer)
    train that optimizer instead, paired with the others."""
    return tune(self.evaluator(task), genomes, seed=seed, **kwargs,
                zoo={i: self.evaluator(task, name) for i, name in (zoo or {}).items()})

  def chance(self, task: str) -> float:
    return float(self.task(task).chance)

  def describe(self, genome, **fields) -> dict[str, Any]:
    """The archive record of ``genome``: the simplified program (:func:`optix_evo.graph.simplify`: the equation is
    the optimizer that ran), its canonical fingerprint, equation and live node count."""
    simple = graph.simplify(genome, self.space)
    return {**fields, "fingerprint": graph.canonical_hash(simple, self.space),
            "equation": graph.render(simple, self.space), "nodes": int(graph.active_nodes(simple, self.space).sum()),
            "genome": graph.to_json(simple, self.space)}

  def genome(self, record: dict[str, Any]) -> graph.Genome:
    return graph.from_json(record["genome"], self.space)

  # -- step 1: generations ------------------------------------------------------------------------------------------

  @property
  def ga_state(self) -> ga.GAState:
    return ga.GAState.from_dict(self.state.strategy, graph.Genome)

  def generation(self) -> dict[str, Any]:
    """One generation (:func:`~optix_evo.search.phases.generation_step`), logged and checkpointed. Returns its
    summary."""
    state, records = phases.generation_step(self.state, self.config, self.strategy, self, self.describe)
    self._advance(state, records)
    self._event(phase="search", generation=state.generations[-1]["generation"], best=state.best,
                done=self.done_generations, total=self.params.steps + 1)
    return state.generations[-1]

  @property
  def done_generations(self) -> int:
    return len(self.state.generations)

  # -- step 2: progressive elimination ------------------------------------------------------------------------------

  def elimination_candidates(self) -> list[int]:
    """Archive indices of the best distinct candidates by surrogate fitness on the evolution tasks, distinct in
    canonical form and in behaviour (:func:`~optix_evo.search.phases.elimination_candidates`)."""
    return phases.elimination_candidates(self.state, self.config, self.genome)

  def eliminate(self) -> list[dict[str, Any]]:
    """Runs the elimination stages not run yet (:func:`~optix_evo.search.phases.elimination_step`), each logged and
    checkpointed. Returns the stages."""
    while self.state.phase == "elimination":
      state, records = phases.elimination_step(self.state, self.config, self, self.genome)
      self._advance(state, records)
      stage = state.stages[-1]
      self._event(phase="elimination", stage=stage["stage"] - 1, best=float(max(stage["fitness"])),
                  done=len(state.stages), total=len(self.config.stages))
    return list(self.state.stages)

  # -- step 3: the tuned final comparison ---------------------------------------------------------------------------

  def participants(self) -> list[dict[str, Any]]:
    """The final comparison's optimizers: the top finalists of the last stage, the baselines and the references."""
    archive = self.state.archive
    out = [{"name": f"found #{rank}", "kind": "found", "archive": i, "equation": archive[i]["equation"]}
           for rank, i in enumerate(self.state.stages[-1]["survivors"][: self.config.finalists], start=1)]
    for name in self.config.baselines:
      zoo = baseline_optimizer(name)
      out.append({"name": name, "kind": "baseline", **({"known": BASELINES[name]} if zoo is None else {"zoo": zoo})})
    out += [{"name": name, "kind": "reference", "known": name} for name in self.config.references]
    return out

  def _participant_genomes(self, participants: list[dict[str, Any]]) -> graph.Genome:
    """The participants' genomes in the evaluation space (a zoo baseline's row: :func:`plain_genome`)."""
    genomes = []
    for p in participants:
      if p["kind"] == "found":
        genomes.append(graph.convert(self.genome(self.state.archive[p["archive"]]), self.space, self.eval_spec))
      elif "zoo" in p:
        genomes.append(plain_genome(self.eval_spec))
      else:
        genomes.append(graph.known(p["known"], self.eval_spec))
    return ga.stack(genomes)

  def compare(self) -> dict[str, Any]:
    """The final comparison (:func:`~optix_evo.search.phases.comparison_step`, one task per step): every participant
    tuned on ``final_lr_grid`` with ``final_seeds`` seeds on the search tasks and every held-out task, with the
    paper's final-run schedule (warmup ``T/15``, hold ``2T/15``, cosine); the best found optimizer against each
    baseline as paired differences of test accuracy with 95% intervals, a verdict per task, and the Holm–Bonferroni
    line over the held-out tasks."""
    participants = (self.state.final or {}).get("participants") or self.participants()
    genomes = self._participant_genomes(participants)
    total = len(phases.final_tasks(self.config))
    while self.state.phase == "final":
      state = phases.comparison_step(self.state, self.config, self, participants, genomes)
      self._advance(state, [])
      self._event(phase="final", task=list(state.final["tasks"])[-1], done=len(state.final["tasks"]), total=total)
    return self.state.final

  # -- result -------------------------------------------------------------------------------------------------------

  def result(self) -> SearchResult:
    archive, stages = self.state.archive, self.state.stages
    hall = []
    for rank, i in enumerate(stages[-1]["survivors"] if stages else [], start=1):
      rec = archive[i]
      per_stage = [s["fitness"][s["candidates"].index(i)] for s in stages if i in s["candidates"]]
      hall.append({"rank": rank, "fingerprint": rec["fingerprint"], "equation": rec["equation"],
                   "surrogate_fitness": rec["fitness"], "learning_rate": stages[-1]["learning_rate"][
                       stages[-1]["candidates"].index(i)], "stage_fitness": per_stage,
                   "generation": rec["generation"], "space": self.config.space, "genome": rec["genome"]})
    timing = dict(self.state.timing)
    timing["compile_and_trace_s"] = sum(timing[k] for k in ("compile_s", "trace_s", "lower_s"))
    return SearchResult(hall, list(self.state.generations), self.state.rank_correlation, self.state.final or {},
                        timing, self.out_dir, self.data_fingerprint(), tuple(self.state.warm_start))

  def data_fingerprint(self) -> str:
    """SHA-256 of the data of every task the search trains on (search, pool and held-out tasks, by name)."""
    from optix_evo.runs.manifest import fingerprint_arrays  # pylint: disable=import-outside-toplevel
    config = self.config
    references = [*config.search_tasks, *([config.pool_task] if config.pool_task is not None else []),
                  *config.holdout_tasks]
    tasks = sorted({t.name: t for t in map(self.task, references)}.items())
    return fingerprint_arrays(*(a for _, t in tasks for part in (t.train, t.valid, t.test) for a in (part.x, part.y)))

  def run(self) -> SearchResult:
    """Every step not done yet, then the result.

    Returns:
      The :class:`SearchResult` (the results files are written by :func:`run`, not here).
    """
    with self._running():
      self.state = dataclasses.replace(self.state, timing={**self.state.timing,
                                                           "sessions": self.state.timing["sessions"] + 1})
      self.start_compiling()
      while self.state.phase == "search":
        self.generation()
      if self.state.phase == "elimination":
        self.eliminate()
      if self.state.phase == "final":
        self.compare()
      self._account_time()
    return self.result()


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
