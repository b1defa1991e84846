"""The search's phases as pure steps on an immutable :class:`~optix_evo.search.state.SearchState`: a generation of
the strategy (:func:`generation_step`), one progressive-elimination stage (:func:`elimination_step`) and one task of
the tuned final comparison (:func:`comparison_step`). Each takes the state and a :class:`Scorer` (what trains the
candidates) and returns the new state and the records to log; files, signals and checkpoints belong to the loop that
calls them (:class:`~optix_evo.search.driver.Search`), as learned_optimization keeps its learner apart from its outer
training loop. A fake :class:`Scorer` with planted scores runs them without training (``tests/search``).

Fitness is maximised. With a task family (``SearchConfig.family``) a candidate's fitness is the mean over the search
tasks of its normalised score (:func:`normalised_score`); a candidate rejected on any of them scores
:data:`~optix_evo.search.results_types.WORST`.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
  (``NeuralOptimizerSearch.py``: ``evolve`` re-scores each particle on the evolution surrogate before mutating it and
  retries a mutant only when its fitness function returns ``None``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np

from optix_evo.search import ga
from optix_evo.search.config import SearchConfig, _task_name
from optix_evo.search.protocol import Protocol as TrainingProtocol
from optix_evo.search.protocol import Scores
from optix_evo.search.results_types import WORST
from optix_evo.search.state import SearchState
from optix_evo.search.statistics import holm_bonferroni, paired_difference, paired_p_value, spearman_interval, verdict
from optix_evo.search.strategies import Strategy

REFERENCE = "adam"
"""The known optimizer each task's score is normalised against (``SearchConfig.normalise="adam"``)."""
MIN_GAIN = 0.25
"""The normalisation divides by at least this fraction of the possible gain over chance, ``1 - chance``: where the
reference barely learns a task (a short surrogate), a small lead over it would otherwise dominate the family's
mean."""


class Scorer(Protocol):
  """What trains candidates for the phases (the driver's is one compiled :class:`~optix_evo.search.Evaluator` per
  task).

  * ``score(task, genomes, protocol, *, seed, extra=()) -> Scores``: :func:`~optix_evo.search.score` of the
    search-space ``genomes`` followed by the known optimizers named in ``extra`` (rows ``n ..``);
  * ``tune(task, genomes, *, seed, zoo=None, **kwargs) -> Scores``: :func:`~optix_evo.search.tune` of
    evaluation-space genomes, the rows of ``zoo`` (row → zoo optimizer name: a zoo baseline) training that optimizer
    with the same seeds and learning rates instead;
  * ``chance(task) -> float``: the accuracy of a trivial predictor.
  """

  def score(self, task: str, genomes: Any, protocol: TrainingProtocol, *, seed: int,
            extra: tuple[str, ...] = ()) -> Scores: ...

  def tune(self, task: str, genomes: Any, *, seed: int, zoo: dict[int, str] | None = None,
           **kwargs: Any) -> Scores: ...

  def chance(self, task: str) -> float: ...


def normalised_score(accuracy: Any, reference: float, chance: float) -> np.ndarray:
  """``(accuracy - chance) / max(reference - chance, MIN_GAIN · (1 - chance))``: 1 at the reference optimizer's score
  on the task, 0 at chance, so that tasks of different difficulty weigh the same in a family's mean (the floor keeps a
  task where the reference barely learns from dominating it). Rejected entries (``<= WORST``) stay :data:`WORST`.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.normalised_score([0.55, 0.9, -1.0], reference=0.9, chance=0.1))
    [ 0.5625  1.     -1.    ]
  """
  a = np.asarray(accuracy, np.float64)
  return np.where(a <= WORST, WORST, (a - chance) / max(reference - chance, MIN_GAIN * (1 - chance)))


class FamilyScores(NamedTuple):
  """Scores of candidates over the search tasks.

  Attributes:
    fitness: ``[n]`` the fitness (normalised mean, or the raw accuracy of a single task without normalisation).
    rejected: ``[n]`` rejected on some task.
    learning_rate: ``[n]`` the rate chosen on the first task.
    diverged: ``[n]`` diverged on some task.
    valid: ``[n, seeds]`` per-seed fitness (normalised mean over tasks per seed).
    per_task: task name → ``{"accuracy": [n], "reference": float | None, "normalised": [n]}``.
    runs: training runs spent (the references' included).
  """

  fitness: np.ndarray
  rejected: np.ndarray
  learning_rate: np.ndarray
  diverged: np.ndarray
  valid: np.ndarray
  per_task: dict[str, dict[str, Any]]
  runs: int


def family_scores(scorer: Scorer, tasks: Sequence[str], genomes: Any, protocol: TrainingProtocol, *, seed: int,
                  normalise: str) -> FamilyScores:
  """Scores ``genomes`` on every task of ``tasks`` (the same seed on each) and combines them: with
  ``normalise="adam"`` each task's accuracy is normalised against Adam trained in the same call
  (:func:`normalised_score`) and the fitness is their mean; with ``"none"`` the mean raw accuracy."""
  n = jax.tree.leaves(genomes)[0].shape[0]
  extra = (REFERENCE,) if normalise == "adam" else ()
  per_task, runs = {}, 0
  parts, valid_parts, rejected, diverged, lr = [], [], np.zeros(n, bool), np.zeros(n, bool), None
  for task in tasks:
    s = scorer.score(task, genomes, protocol, seed=seed, extra=extra)
    runs += s.runs
    accuracy = np.asarray(s.fitness, np.float64)[:n]
    per_seed = np.asarray(s.valid, np.float64)[:n]
    if extra:
      reference, chance = float(s.fitness[n]), scorer.chance(task)
      value, per_seed = normalised_score(accuracy, reference, chance), normalised_score(per_seed, reference, chance)
    else:
      reference, value = None, accuracy
    per_task[task] = {"accuracy": accuracy.tolist(), "reference": reference, "normalised": value.tolist()}
    parts.append(value)
    valid_parts.append(per_seed)
    rejected |= np.asarray(s.rejected[:n], bool)
    diverged |= np.asarray(s.diverged[:n], bool)
    lr = np.asarray(s.learning_rate[:n]) if lr is None else lr
  fitness = np.where(rejected, WORST, np.mean(parts, axis=0))
  valid = np.mean(valid_parts, axis=0)
  return FamilyScores(fitness, rejected, lr, diverged, valid, per_task, runs)


def retry_slots(scores: FamilyScores) -> list[int]:
  """The members to replace by a new mutant: those the protocol rejected (NOS ``REDO``: only when the fitness function
  returns ``None``, i.e. the probe stage rejected it; a full run stopped by the accuracy callback keeps its best
  validation accuracy and is not retried: that is the protocol's call, :func:`~optix_evo.search.score`)."""
  return [int(i) for i in np.flatnonzero(scores.rejected)]


def _tasks_label(tasks: Sequence[str]) -> str:
  return "+".join(tasks)


def evolution_tasks(config: SearchConfig) -> tuple[str, ...]:
  """Names of the tasks the evolution (and elimination) fitness is measured on."""
  return tuple(_task_name(t) for t in config.search_tasks)


def generation_tasks(config: SearchConfig, generation: int) -> tuple[str, ...]:
  """The tasks of ``generation``'s surrogate: the pool task for the random pool (when set), else the search tasks."""
  if generation == 0 and config.pool_task is not None:
    return (_task_name(config.pool_task),)
  return evolution_tasks(config)


def rescores_particles(config: SearchConfig) -> bool:
  """Whether the particles are re-scored on the evolution surrogate before their first mutation (NOS ``evolve``,
  L1668–1683): whenever the pool's surrogate differs from evolution's (other tasks or another protocol), for every
  strategy that keeps members (the particle GA's particles, regularized evolution's population)."""
  return (generation_tasks(config, 0) != evolution_tasks(config)
          or config.surrogate(pool=True) != config.surrogate(pool=False))


def surrogate_label(config: SearchConfig, generation: int) -> str:
  """The ``task`` of a generation's archive records: its tasks, marked when the pool's surrogate differs from
  evolution's on the same tasks (elimination ranks records of the evolution surrogate only)."""
  label = _tasks_label(generation_tasks(config, generation))
  if generation == 0 and rescores_particles(config) and label == _tasks_label(evolution_tasks(config)):
    label += " (pool surrogate)"
  return label


Describe = Callable[..., dict[str, Any]]


def generation_step(state: SearchState, config: SearchConfig, strategy: Strategy, scorer: Scorer,
                    describe: Describe) -> tuple[SearchState, list[dict[str, Any]]]:
  """One generation: (before the first mutation, re-scoring the particles on the evolution surrogate when the pool
  used another task), ask, score (replacing members the protocol rejected up to ``mutant_tries`` times), tell.
  Under the ``"nos"`` rules a member of the random pool the protocol rejected ranks with fitness 0, not
  :data:`~optix_evo.search.results_types.WORST` (NOS ``NeuralOptimizerSearch.py`` L1504–1509: a failed pool member
  scores 0 and is not retried), so it can still become a particle when fewer than ``particles`` succeed; its record
  says ``rejected``.

  Args:
    state: the search state (phase ``"search"``).
    config: the settings.
    strategy: the :class:`~optix_evo.search.strategies.Strategy`.
    scorer: what trains the candidates.
    describe: ``describe(genome, **fields) -> record``: the archive record of a genome (simplified program,
      fingerprint, equation).

  Returns:
    The new state (archive, generations, strategy state, phase) and the new archive records.
  """
  params = config.ga_params()
  gs = ga.GAState.from_dict(state.strategy, _genome_type(state.strategy))
  gen = gs.generation
  key = jax.random.PRNGKey(config.seed)
  wall, cpu = time.perf_counter(), time.process_time()
  pool = gen == 0
  tasks = generation_tasks(config, gen)
  protocol = config.surrogate(pool=pool)
  label = surrogate_label(config, gen)
  seed = config.seed * 1000 + gen
  records, runs = [], 0
  if gen == 1 and rescores_particles(config) and gs.particles is not None:
    again = family_scores(scorer, tasks, gs.particles, protocol, seed=seed + 499, normalise=config.normalise)
    runs += again.runs
    for i, member in enumerate(ga.unstack(gs.particles)):
      records.append(describe(member, stage="surrogate", generation=gen, task=label, particle=i,
                              role="particle", fitness=float(again.fitness[i]),
                              learning_rate=float(again.learning_rate[i]), rejected=bool(again.rejected[i]),
                              diverged=bool(again.diverged[i]), attempts=1, per_task=again.per_task and {
                                  t: v["normalised"][i] for t, v in again.per_task.items()}))
    gs = dataclasses.replace(gs, fitness=again.fitness)
  population, gs = strategy.ask(key, gs, params)
  parents = strategy.parents(gs, params)
  scores = family_scores(scorer, tasks, population, protocol, seed=seed, normalise=config.normalise)
  runs += scores.runs
  members = ga.unstack(population)
  fitness, lr = scores.fitness.copy(), scores.learning_rate.copy()
  rejected, diverged = scores.rejected.copy(), scores.diverged.copy()
  per_task = {t: list(v["normalised"]) for t, v in scores.per_task.items()}
  attempts = np.ones(len(members), int)
  for _ in range(1, config.mutant_tries if not pool else 1):
    retry = [i for i in range(len(members)) if rejected[i]]
    if not retry:
      break
    replacements, gs = strategy.retry(key, gs, params, retry)
    again = family_scores(scorer, tasks, replacements, protocol, seed=seed, normalise=config.normalise)
    runs += again.runs
    for j, i in enumerate(retry):
      members[i] = ga.unstack(replacements)[j]
      attempts[i] += 1
      fitness[i], lr[i], rejected[i], diverged[i] = (again.fitness[j], again.learning_rate[j], again.rejected[j],
                                                     again.diverged[j])
      for t in per_task:
        per_task[t][i] = again.per_task[t]["normalised"][j]
  population = ga.stack(members)
  if pool and protocol.rules == "nos":  # NOS L1504–1509: a pool member the probes rejected ranks at 0 (no retry)
    fitness = np.where(rejected, 0.0, fitness)
  for i, member in enumerate(members):
    records.append(describe(member, stage="surrogate", generation=gen, task=label,
                            particle=int(parents[i]), role="candidate", fitness=float(fitness[i]),
                            learning_rate=float(lr[i]), rejected=bool(rejected[i]), diverged=bool(diverged[i]),
                            attempts=int(attempts[i]), per_task={t: v[i] for t, v in per_task.items()}))
  gs, metrics = strategy.tell(key, population, fitness, gs, params)
  summary = {"generation": gen, "candidates": len(members), "runs": runs, **metrics,
             "references": {t: v["reference"] for t, v in scores.per_task.items()},
             "seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
  # The strategy's metrics read rejection from fitness <= WORST, but a normalised fitness of a trained candidate can
  # fall below WORST (a task with chance above MIN_GAIN / (1 + MIN_GAIN), trained below chance), and the NOS pool
  # rules score a rejected member 0: the protocol's flags say which were rejected.
  trained = fitness[~rejected]
  summary["rejected"] = int(rejected.sum())
  summary["median"] = float(np.median(trained)) if trained.size else WORST
  phase = "elimination" if strategy.done(gs, params) else "search"
  warm = state.warm_start
  if pool and warm:  # the known optimizers that entered the pool (one failing the integrity check was replaced)
    seeds = getattr(strategy, "warm_start", ())
    warm = tuple(name for i, (name, g) in enumerate(zip(warm, seeds))
                 if i < len(members) and records[i]["fingerprint"] == describe(g)["fingerprint"])
    summary["warm_start"] = list(warm)
  state = dataclasses.replace(state, strategy=gs.to_dict(), archive=state.archive + tuple(records),
                              generations=state.generations + (summary,), phase=phase, warm_start=warm)
  return state, records


def _genome_type(strategy_state: dict[str, Any]) -> type:
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  del strategy_state
  return graph.Genome


def elimination_candidates(state: SearchState, config: SearchConfig,
                           genome_of: Callable[[dict[str, Any]], Any] | None = None) -> list[int]:
  """Archive indices of the best distinct candidates by surrogate fitness on the evolution tasks: rejected ones
  excluded (by the protocol's flag: a trained candidate normalised below WORST is still a candidate), and records of
  the random pool scored on another task (the pool surrogate) never mixed in (NOS ranks the evolution archive); the
  first occurrence wins ties. Distinct means another canonical form and, given
  ``genome_of`` (record -> genome), another behaviour (:func:`optix_evo.graph.fingerprint.behaviour_fingerprints`:
  two programs that update alike on the fixed probes count once)."""
  from optix_evo import graph  # pylint: disable=import-outside-toplevel
  from optix_evo.graph.fingerprint import distinct_behaviour  # pylint: disable=import-outside-toplevel

  label = _tasks_label(evolution_tasks(config))
  archive = state.archive
  order = sorted(range(len(archive)), key=lambda i: -archive[i]["fitness"])
  chosen, seen = [], set()
  for i in order:
    rec = archive[i]
    if rec.get("task", label) != label or rec["rejected"] or rec["fingerprint"] in seen:
      continue
    seen.add(rec["fingerprint"])
    chosen.append(i)
  if genome_of is not None:  # one batched pass over the probes for all of them
    keep = distinct_behaviour([genome_of(archive[i]) for i in chosen], graph.get_space(config.space))
    chosen = [chosen[j] for j in keep]
  return chosen[:config.elimination_candidates]


def select_survivors(candidates: list[int], fitness: np.ndarray, keep: int,
                     rejected: np.ndarray | None = None) -> list[int]:
  """The ``keep`` candidates with the highest fitness, best first (the earlier one wins ties); rejected ones never
  survive. A trained candidate whose normalised fitness fell below WORST is no rejection: it survives when there is
  room, so pass the protocol's ``rejected`` flags where fitness is normalised.

  Args:
    candidates: archive indices of the candidates.
    fitness: their fitness, in the same order.
    keep: how many survive at most.
    rejected: which candidates the protocol rejected (default: those with fitness at or below WORST).

  Returns:
    The surviving candidates, best first.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.select_survivors([10, 11, 12, 13], [0.5, -1.0, 0.7, 0.5], keep=2))
    [12, 10]
  """
  fitness = np.asarray(fitness, np.float64)
  out = fitness <= WORST if rejected is None else np.asarray(rejected, bool)
  order = np.argsort(-fitness, kind="stable")
  return [candidates[j] for j in order if not out[j]][:keep]


def elimination_step(state: SearchState, config: SearchConfig, scorer: Scorer,
                     genome_of: Callable[[dict[str, Any]], Any]) -> tuple[SearchState, list[dict[str, Any]]]:
  """The next elimination stage: the survivors so far (or :func:`elimination_candidates`) scored at the stage's
  budget on the evolution tasks, the best ``keep`` go on; after stage 1 the surrogate's rank correlation with it.

  Raises:
    InputError: when no candidate survived the surrogate.
  """
  from optix_evo.errors import InputError  # pylint: disable=import-outside-toplevel
  s_idx = len(state.stages)
  alive = state.stages[-1]["survivors"] if state.stages else elimination_candidates(state, config, genome_of)
  if not alive:
    raise InputError("No candidate survived the surrogate (every one was rejected or diverged): lower the "
                     "rejection thresholds or widen lr_grid.")
  stage = config.stages[s_idx]
  start, cpu = time.perf_counter(), time.process_time()
  archive = state.archive
  genomes = ga.stack([genome_of(archive[i]) for i in alive])
  scores = family_scores(scorer, evolution_tasks(config), genomes, config.stage_protocol(stage),
                         seed=config.seed * 1000 + 100 + s_idx, normalise=config.normalise)
  survivors = select_survivors(alive, scores.fitness, stage.keep, scores.rejected)
  drop = ("generation", "particle", "attempts", "role", "per_task")
  records = [{k: v for k, v in archive[i].items() if k not in drop}
             | {"stage": f"elimination-{s_idx + 1}", "fitness": float(scores.fitness[j]),
                "learning_rate": float(scores.learning_rate[j]), "rejected": bool(scores.rejected[j]),
                "per_seed": scores.valid[j].tolist()} for j, i in enumerate(alive)]
  rank_correlation = state.rank_correlation
  if s_idx == 0:
    surrogate = [archive[i]["fitness"] for i in alive]
    rank_correlation = spearman_interval(surrogate, scores.fitness, seed=config.seed)._asdict()
  record = {"stage": s_idx + 1, "candidates": list(alive), "fitness": scores.fitness.tolist(),
            "learning_rate": scores.learning_rate.tolist(), "survivors": survivors, "runs": scores.runs,
            "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
  phase = "final" if s_idx == len(config.stages) - 1 else "elimination"
  return dataclasses.replace(state, stages=state.stages + (record,), rank_correlation=rank_correlation,
                             phase=phase), records


def final_tasks(config: SearchConfig) -> list[tuple[str, bool]]:
  """``(task, held_out)`` of the final comparison: the search tasks, then the held-out ones."""
  return [(t, False) for t in evolution_tasks(config)] + [(t, True) for t in config.holdout_tasks]


def comparison_step(state: SearchState, config: SearchConfig, scorer: Scorer, participants: list[dict[str, Any]],
                    genomes: Any) -> SearchState:
  """The tuned comparison on the next task not compared yet (every participant tuned on ``final_lr_grid`` with
  ``final_seeds`` seeds, the paper's final-run schedule; a participant with a ``"zoo"`` entry, a zoo baseline, trains
  that zoo optimizer on the same seeds); after the last task the Holm–Bonferroni line over the held-out tasks, and
  the phase ``"done"``."""
  final = dict(state.final or {"participants": participants, "tasks": {}})
  final["tasks"] = dict(final["tasks"])
  todo = [(i, t, held) for i, (t, held) in enumerate(final_tasks(config)) if t not in final["tasks"]]
  if todo:
    t_idx, task, held = todo[0]
    start, cpu = time.perf_counter(), time.process_time()
    scores = scorer.tune(task, genomes, steps=config.final_steps, lr_grid=tuple(config.final_lr_grid),
                         seeds=config.final_seeds, seed=config.seed * 1000 + 500 + t_idx,
                         epoch=max(config.final_steps // config.epochs, 1), warmup_steps=config.final_steps // 15,
                         hold_steps=2 * config.final_steps // 15,
                         zoo={i: p["zoo"] for i, p in enumerate(participants) if "zoo" in p})
    final["tasks"][task] = {"held_out": held, **tuned_table(scores), "comparisons": comparisons(participants, scores),
                            "runs": scores.runs, "seconds": time.perf_counter() - start,
                            "cpu_seconds": time.process_time() - cpu}
  if len(todo) <= 1:
    final["holm"] = holm_summary(final)
    return dataclasses.replace(state, final=final, phase="done")
  return dataclasses.replace(state, final=final)


def tuned_table(scores: Scores) -> dict[str, Any]:
  return {"learning_rate": scores.learning_rate.tolist(), "valid": scores.valid.tolist(), "test": scores.test.tolist(),
          "grid_valid": scores.grid_valid.tolist(), "diverged": scores.diverged.tolist()}


def comparisons(participants: list[dict[str, Any]], scores: Scores) -> list[dict[str, Any]]:
  """Every found optimizer against every baseline: the paired test-accuracy difference ``found - baseline`` over
  seeds (the same seeds for both), its two-sided paired-t p-value and its verdict."""
  out = []
  for i, p in enumerate(participants):
    if p["kind"] != "found":
      continue
    for j, b in enumerate(participants):
      if b["kind"] != "baseline":
        continue
      diff = paired_difference(scores.test[i], scores.test[j])
      out.append({"found": p["name"], "baseline": b["name"], "difference": diff._asdict(), "verdict": verdict(diff),
                  "p_value": paired_p_value(scores.test[i], scores.test[j])})
  return out


def holm_summary(final: dict[str, Any], *, found: str = "found #1", alpha: float = 0.05) -> list[dict[str, Any]]:
  """Per baseline, the best found optimizer against it over the held-out tasks with Holm–Bonferroni adjusted
  p-values: the tasks it beats (adjusted p < ``alpha``, difference > 0), loses, and ties."""
  out = []
  held = [(t, table) for t, table in final["tasks"].items() if table["held_out"]]
  baselines = sorted({c["baseline"] for _, table in held for c in table["comparisons"]})
  for baseline in baselines:
    rows = [(t, c) for t, table in held for c in table["comparisons"] if c["found"] == found and
            c["baseline"] == baseline]
    adjusted = holm_bonferroni([c.get("p_value", float("nan")) for _, c in rows])
    tasks = []
    for (t, c), p in zip(rows, adjusted):
      d = c["difference"]["estimate"]
      call = "beats" if p < alpha and d > 0 else "loses" if p < alpha and d < 0 else "ties"
      tasks.append({"task": t, "difference": d, "p_value": c.get("p_value"), "holm_p": float(p), "verdict": call})
    out.append({"found": found, "baseline": baseline, "alpha": alpha, "tasks": tasks})
  return out
