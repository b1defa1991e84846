"""How candidates are scored: the NOS surrogate (:func:`score`) and a tuned comparison (:func:`tune`).

Both run on an :class:`~optix_evo.search.evaluate.Evaluator` (one compiled program) and give every candidate the
same seeds, so scores are paired across candidates.

* :func:`score` (NOS, Morgan & Hougen 2024, `arXiv:2404.06679 <https://arxiv.org/abs/2404.06679>`_): the peak learning
  rate of each candidate is chosen by short *probes*, one per value of a grid; then full runs with the chosen rate
  give the fitness, the best validation accuracy. The paper's rejection rules are options: a probe stops when an
  epoch's training accuracy is below ``probe_min_accuracy`` (from ``probe_check_after`` on); a candidate all of whose
  first-round probes (``probe_first``) are below ``probe_first_min_accuracy`` is rejected without the other probes; one
  whose best probe is below ``best_probe_min_accuracy`` is rejected; a full run stops when an epoch falls below
  ``run_min_accuracy``. ``rules`` says how the rest is read: ``"nos"`` as ``fitness_function_evolution`` of the
  authors' ``NeuralOptimizerSearch.py`` (https://github.com/OUStudent/NeuralOptimizerSearch): a probe is scored by its
  best epoch, a divergent probe competes with what it reached before diverging, ties go to the first rate probed, and
  a stopped full run keeps its best validation accuracy (only the probe stage rejects); ``"library"`` (the default)
  more strictly: a probe is scored by its last epoch, a divergent probe never wins, and a stopped full run rejects the
  candidate.
* :func:`tune`: full runs at every learning rate of the grid and every seed; the rate with the best mean validation
  accuracy is chosen, and the test accuracy at that rate is reported per seed. Baselines and found optimizers get
  exactly this, so a comparison between them is like for like.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import NamedTuple

import jax
import numpy as np

from optix_evo.errors import InputError
from optix_evo.search.evaluate import WORST, Budget, Evaluator, Outcome, plain_genome


RULES: tuple[str, ...] = ("library", "nos")
"""How :func:`score` reads probes and stopped runs: ``"library"`` (strict) or ``"nos"`` (the authors' code)."""

NOS_PROBE_FIRST: tuple[float, ...] = (10.0, 1e-2, 1e-5)
"""The rates NOS probes first (``fitness_function_evolution``: all three below 0.25 rejects the candidate)."""


@dataclasses.dataclass(frozen=True)
class Protocol:
  """A training budget and the learning-rate selection of :func:`score` (defaults: no rejection rules).

  Attributes:
    steps: training steps of a full run (also the horizon ``T`` of its schedules).
    lr_grid: peak learning rates the probes choose from (NOS: ``10, 1, 0.1, ..., 1e-5``).
    probe_steps: length of each probe (0, or a one-value grid: no probes).
    epoch: steps between validations and early-stop checks (default: ``steps // 4``).
    warmup_steps: linear warmup (default: ``probe_steps``, else ``steps // 10``; NOS: 800 of 8000).
    hold_steps: steps at the peak learning rate after the warmup (NOS search: 0; its final runs: ``2T/15``).
    seeds: full runs per candidate (fitness: their mean).
    probe_epoch: steps between a probe's checks (default: ``probe_steps // 4``).
    probe_min_accuracy, probe_check_after: a probe stops when an epoch's training accuracy is below this, from
      that epoch index on (NOS: 0.25 from epoch 2).
    best_probe_min_accuracy: reject the candidate when its best probe is below this (NOS: 0.40).
    run_min_accuracy, run_check_after: stop a full run when an epoch's training accuracy falls below this, from
      that epoch index on (NOS: 0.40 from epoch 4); under the ``"library"`` rules a stopped run rejects the candidate.
    probe_first: rates of ``lr_grid`` probed in a first round (NOS: ``10, 1e-2, 1e-5``); the others are probed only
      for candidates this round did not reject.
    probe_first_min_accuracy: reject the candidate when every first-round probe scores below this (NOS: 0.25).
    rules: ``"library"`` or ``"nos"`` (the authors' reading, see the module docstring).

  Raises:
    InputError: for a non-positive ``steps`` or ``seeds``, ``probe_steps`` outside ``[0, steps]``, an empty or
      non-positive ``lr_grid``, or warmup plus hold not shorter than ``steps``.

  Examples:
    >>> import optix_evo as ox
    >>> protocol = ox.search.Protocol(100, lr_grid=(1e-1, 1e-2), probe_steps=20)
    >>> print(protocol.probe_budget())
    Budget(steps=20, horizon=100, warmup=20, epoch=5, min_accuracy=0.0, check_after=0, hold=0)
    >>> print(protocol.run_budget())
    Budget(steps=100, horizon=100, warmup=20, epoch=25, min_accuracy=0.0, check_after=0, hold=0)
  """

  steps: int
  lr_grid: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
  probe_steps: int = 0
  epoch: int | None = None
  warmup_steps: int | None = None
  hold_steps: int = 0
  seeds: int = 1
  probe_epoch: int | None = None
  probe_min_accuracy: float = 0.0
  probe_check_after: int = 0
  best_probe_min_accuracy: float = 0.0
  run_min_accuracy: float = 0.0
  run_check_after: int = 0
  probe_first: tuple[float, ...] = ()
  probe_first_min_accuracy: float = 0.0
  rules: str = "library"

  def __post_init__(self):
    if self.steps < 1:
      raise InputError(f"Protocol steps must be positive, got {self.steps}.")
    if not 0 <= self.probe_steps <= self.steps:
      raise InputError(f"probe_steps={self.probe_steps} must be in [0, steps={self.steps}].")
    if not self.lr_grid or any(not lr > 0 for lr in self.lr_grid):
      raise InputError(f"lr_grid must be a non-empty tuple of positive learning rates, got {self.lr_grid}.")
    if self.seeds < 1:
      raise InputError(f"seeds must be at least 1, got {self.seeds}.")
    if self.rules not in RULES:
      raise InputError(f"rules must be one of {', '.join(RULES)}, got {self.rules!r}.")
    missing = [lr for lr in self.probe_first if lr not in self.lr_grid]
    if missing or len(set(self.probe_first)) != len(self.probe_first):
      raise InputError(f"probe_first must name distinct rates of lr_grid={self.lr_grid}, got {self.probe_first}.")
    for name in ("epoch", "probe_epoch", "warmup_steps"):
      value = getattr(self, name)
      if value is not None and value < (0 if name == "warmup_steps" else 1):
        raise InputError(f"{name} must be {'non-negative' if name == 'warmup_steps' else 'positive'}, got {value}.")
    if self.hold_steps < 0 or self.warmup + self.hold_steps >= self.steps:
      raise InputError(f"warmup_steps={self.warmup} plus hold_steps={self.hold_steps} must be smaller than "
                       f"steps={self.steps}.")

  @property
  def warmup(self) -> int:
    """The warmup steps: ``warmup_steps``, else ``probe_steps`` with probes, else ``steps // 10``."""
    if self.warmup_steps is not None:
      return self.warmup_steps
    return self.probe_steps if self.probes else self.steps // 10

  @property
  def probes(self) -> bool:
    """Whether :func:`score` runs learning-rate probes (``probe_steps > 0`` and more than one rate)."""
    return self.probe_steps > 0 and len(self.lr_grid) > 1

  def run_budget(self) -> Budget:
    """The :class:`~optix_evo.search.Budget` of a full run."""
    return Budget(self.steps, self.steps, self.warmup, self.epoch or max(self.steps // 4, 1), self.run_min_accuracy,
                  self.run_check_after, self.hold_steps)

  def probe_order(self) -> tuple[int, ...]:
    """Indices into ``lr_grid`` in the order the probes run: ``probe_first``, then the rest in grid order (NOS:
    ``10, 1e-2, 1e-5, 1, 1e-1, 1e-3, 1e-4``; under the ``"nos"`` rules, the first of equal probes in this order
    wins, as ``np.argmax`` over the authors' list)."""
    first = [self.lr_grid.index(lr) for lr in self.probe_first]
    return tuple(first + [i for i in range(len(self.lr_grid)) if i not in first])

  def probe_budget(self) -> Budget:
    """The :class:`~optix_evo.search.Budget` of a probe (the full run's horizon: it sees the schedule's start)."""
    return Budget(self.probe_steps, self.steps, self.warmup, self.probe_epoch or max(self.probe_steps // 4, 1),
                  self.probe_min_accuracy, self.probe_check_after, self.hold_steps)


class Scores(NamedTuple):
  """Per-candidate outcome of :func:`score` or :func:`tune` (NumPy arrays, leading axis = candidates).

  Attributes:
    fitness: ``[n]`` what the search ranks by: mean best validation accuracy, :data:`WORST` when rejected.
    learning_rate: ``[n]`` the chosen peak learning rate.
    rejected: ``[n]`` bool: a rule of the protocol rejected the candidate (or it never produced a score).
    diverged: ``[n]`` bool: some run at the chosen rate diverged.
    valid: ``[n, seeds]`` best validation accuracy per seed at the chosen rate.
    test: ``[n, seeds]`` test accuracy per seed at the chosen rate (NaN where divergent).
    grid_valid: :func:`tune` only: ``[n, len(lr_grid)]`` mean validation accuracy at every rate; else ``None``.
    runs: the training runs spent.
    probe_rejected: ``[n]`` bool: the probe stage rejected the candidate (the authors' ``None`` from the fitness
      function, which makes their search re-mutate the slot, ``REDO``); ``None`` from :func:`tune`.
    stopped: ``[n]`` bool: a full run was stopped by ``run_min_accuracy`` (under the ``"nos"`` rules it keeps its
      best validation accuracy and the candidate is not rejected); ``None`` from :func:`tune`.
  """

  fitness: np.ndarray  # [n] what the search ranks by: mean best validation accuracy, WORST when rejected
  learning_rate: np.ndarray  # [n] the chosen peak learning rate
  rejected: np.ndarray  # [n] bool: a rule of the protocol rejected the candidate (or it never produced a score)
  diverged: np.ndarray  # [n] bool: some run at the chosen rate diverged
  valid: np.ndarray  # [n, seeds] best validation accuracy per seed at the chosen rate
  test: np.ndarray  # [n, seeds] test accuracy per seed at the chosen rate (NaN where divergent)
  grid_valid: np.ndarray | None  # tune only: [n, len(lr_grid)] mean validation accuracy at every rate
  runs: int  # training runs spent
  probe_rejected: np.ndarray | None = None  # [n] bool: rejected by the probe stage (the authors' REDO)
  stopped: np.ndarray | None = None  # [n] bool: a full run was stopped by the accuracy rule


def seed_keys(seed: int, count: int) -> np.ndarray:
  """``uint32[count, 2]``: key ``s`` is ``fold_in(PRNGKey(seed), s)``; every candidate trains with these seeds.

  Args:
    seed: the root seed.
    count: the number of keys.

  Returns:
    A NumPy ``uint32`` array of shape ``[count, 2]`` (raw PRNG keys).

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.seed_keys(0, 2))
    [[1797259609 2579123966]
     [ 928981903 3453687069]]
  """
  base = jax.random.PRNGKey(seed)
  return np.stack([np.asarray(jax.random.fold_in(base, s)) for s in range(count)])


def _repeat(genomes, times: int):
  return jax.tree.map(lambda a: np.repeat(np.asarray(a), times, axis=0), genomes)


def probe_choice(probe_accuracy: np.ndarray, probe_diverged: np.ndarray, *, order=None,
                 rules: str = "library") -> tuple[np.ndarray, np.ndarray]:
  """Index of the best probe of each candidate and that probe's score (``-inf`` when no probe has one).

  Arrays are ``[n, grid]``; ``-inf`` or NaN marks a probe that was not run. The first of equal probes in ``order``
  (default: grid order) wins. Under the ``"library"`` rules a divergent probe never wins; under ``"nos"`` it competes
  with the accuracy it reached before diverging (the authors take ``np.nanmax`` of the Keras history, which
  ``TerminateOnNaN`` only cuts short).

  Args:
    probe_accuracy: ``[n, grid]`` probe scores.
    probe_diverged: ``[n, grid]`` bool: the probe's loss or update turned non-finite.
    order: the probe order (indices into the grid) for ties.
    rules: ``"library"`` or ``"nos"``.

  Returns:
    ``(index [n], score [n])``.
  """
  value = np.asarray(probe_accuracy, np.float64)
  bad = ~np.isfinite(value) | (np.asarray(probe_diverged) if rules == "library" else False)
  value = np.where(bad, -np.inf, value)
  order = np.arange(value.shape[1]) if order is None else np.asarray(order)
  pick = np.argmax(value[:, order], axis=1)
  index = order[pick]
  return index, value[np.arange(value.shape[0]), index]


def probe_score(outcome: Outcome, rules: str = "library") -> np.ndarray:
  """What a probe run scores: its last epoch's training accuracy (``"library"``), or its best epoch's (``"nos"``,
  the authors' ``np.nanmax(history.history["accuracy"])`` over the probe's Keras epochs, which are this library's
  evaluation points ``probe_epoch`` steps apart)."""
  if rules == "nos" and outcome.best_train_accuracy is not None:
    return np.asarray(outcome.best_train_accuracy, np.float64)
  return np.asarray(outcome.train_accuracy, np.float64)


def score(evaluator: Evaluator, genomes, protocol: Protocol, *, seed: int) -> Scores:
  """The NOS surrogate: probes choose each candidate's learning rate, then ``protocol.seeds`` full runs score it.

  The probes run in two rounds when ``protocol.probe_first`` is set (the second only for candidates the first did
  not reject); full runs train only the candidates the probes did not reject.

  Args:
    evaluator: the compiled trainer of the task.
    genomes: a population (leading axis ``n``) of ``evaluator.spec``.
    protocol: the budget, grid and rejection rules.
    seed: the root seed of the runs (:func:`seed_keys`; the probes use ``seed + 7919``).

  Returns:
    :class:`Scores`; ``grid_valid`` is ``None``. A rejected candidate has fitness :data:`WORST` and, if the probes
    rejected it, validation accuracy :data:`WORST` and test accuracy NaN.

  Examples:
    Scoring trains networks (one compilation, then the runs), so this example is not run as a doctest; see
    :class:`~optix_evo.search.Evaluator` for the evaluator.

    >>> protocol = ox.search.Protocol(50, probe_steps=10)  # doctest: +SKIP
    >>> scores = ox.search.score(evaluator, population, protocol, seed=0)  # doctest: +SKIP
    >>> print(scores.fitness, scores.learning_rate)  # doctest: +SKIP
  """
  n = jax.tree.leaves(genomes)[0].shape[0]
  grid = np.asarray(protocol.lr_grid, np.float64)
  keys = seed_keys(seed, protocol.seeds)
  runs = 0
  probe_rejected = np.zeros(n, bool)
  if protocol.probes:
    order = np.asarray(protocol.probe_order())
    first, rest = order[:len(protocol.probe_first)], order[len(protocol.probe_first):]
    accuracy = np.full((n, len(grid)), -np.inf)
    diverged = np.zeros((n, len(grid)), bool)
    probe_key = seed_keys(seed + 7919, 1)  # the probes' own seed, the same for all

    def probe(members: np.ndarray, rates: np.ndarray) -> None:
      nonlocal runs
      if not members.size or not rates.size:
        return
      chosen = jax.tree.map(lambda a: np.asarray(a)[members], genomes)
      out = evaluator(_repeat(chosen, len(rates)), np.tile(probe_key, (members.size * len(rates), 1)),
                      np.tile(grid[rates], members.size), protocol.probe_budget(),
                      validate=False)  # a probe's training accuracy and divergence are all that is read
      runs += members.size * len(rates)
      accuracy[np.ix_(members, rates)] = probe_score(out, protocol.rules).reshape(members.size, len(rates))
      diverged[np.ix_(members, rates)] = np.asarray(out.diverged).reshape(members.size, len(rates))

    probe(np.arange(n), first)
    if first.size:
      first_scores = np.where(diverged[:, first] & (protocol.rules == "library"), -np.inf, accuracy[:, first])
      probe_rejected |= np.all(first_scores < protocol.probe_first_min_accuracy, axis=1)
    probe(np.flatnonzero(~probe_rejected), rest)
    index, best_probe = probe_choice(accuracy, diverged, order=order, rules=protocol.rules)
    probe_rejected |= ~(best_probe >= protocol.best_probe_min_accuracy) | ~np.isfinite(best_probe)
  else:
    index = np.zeros(n, int)
  lr = grid[index]
  valid = np.full((n, protocol.seeds), WORST, np.float32)
  test = np.full((n, protocol.seeds), np.nan, np.float32)
  run_diverged = np.zeros((n, protocol.seeds), bool)
  stopped = np.zeros((n, protocol.seeds), bool)
  trained = np.flatnonzero(~probe_rejected)
  if trained.size:
    chosen = jax.tree.map(lambda a: np.asarray(a)[trained], genomes)
    full = evaluator(_repeat(chosen, protocol.seeds), np.tile(keys, (trained.size, 1)),
                     np.repeat(lr[trained], protocol.seeds), protocol.run_budget())
    runs += trained.size * protocol.seeds
    for target, field in ((valid, "best_valid"), (test, "test"), (run_diverged, "diverged"), (stopped, "stopped")):
      target[trained] = np.asarray(getattr(full, field)).reshape(trained.size, protocol.seeds)
  stopped_any = stopped.any(1)
  if protocol.rules == "nos":
    # The authors' fitness is np.nanmax(val_accuracy) whether or not the accuracy rule stopped the run; a run with no
    # finite epoch (Keras would validate the NaN network, about chance) scores 0 here, not a rejection.
    rejected = probe_rejected
    fitness = np.where(rejected, WORST, np.where(valid <= WORST, 0.0, valid).mean(1))
  else:
    rejected = probe_rejected | stopped_any | (valid <= WORST).all(1)
    fitness = np.where(rejected, WORST, valid.mean(1))
  return Scores(fitness, lr, rejected, run_diverged.any(1), valid, test, None, runs, probe_rejected, stopped_any)


def tune(evaluator: Evaluator, genomes, *, steps: int, lr_grid: tuple[float, ...], seeds: int, seed: int,
         epoch: int | None = None, warmup_steps: int | None = None, hold_steps: int = 0,
         zoo: Mapping[int, Evaluator] | None = None) -> Scores:
  """Full runs of every candidate at every rate of ``lr_grid`` and every seed; per candidate the rate with the best
  mean validation accuracy (the first of equal ones), and the per-seed validation and test accuracy at that rate.
  ``warmup_steps`` / ``hold_steps``: the schedule's warmup and hold (the paper's final runs: ``T/15``, ``2T/15``).

  Args:
    evaluator: the compiled trainer of the task.
    genomes: a population (leading axis ``n``) of ``evaluator.spec``.
    zoo: row index → the evaluator that trains that row instead (one with a ``make_optimizer``, e.g.
      :func:`~optix_evo.search.zoo_optimizer`: a zoo baseline), with the same keys, rates and budget as every other
      row, so its scores stay paired with theirs; the row's genome is replaced by
      :func:`~optix_evo.search.evaluate.plain_genome` (the learning rate it receives is the base schedule).
    steps: training steps of every run (also the schedule's horizon).
    lr_grid: the peak learning rates tried.
    seeds: runs per rate (the same seeds for every candidate).
    seed: the root seed (:func:`seed_keys`).
    epoch: steps between validations (default ``steps // 4``).
    warmup_steps: the warmup (default ``steps // 10``).
    hold_steps: the hold at the peak.

  Returns:
    :class:`Scores` with ``grid_valid`` filled.

  Examples:
    Not run as a doctest (it trains ``n · len(lr_grid) · seeds`` networks):

    >>> scores = ox.search.tune(evaluator, population, steps=50, lr_grid=(0.1, 0.01), seeds=3, seed=0)  # doctest: +SKIP
    >>> print(scores.learning_rate, scores.grid_valid.shape)  # doctest: +SKIP
  """
  protocol = Protocol(steps, tuple(lr_grid), epoch=epoch, warmup_steps=warmup_steps, seeds=seeds,
                      hold_steps=hold_steps)
  n, g = jax.tree.leaves(genomes)[0].shape[0], len(lr_grid)
  zoo = dict(zoo or {})
  if any(not 0 <= i < n for i in zoo):
    raise InputError(f"zoo rows {sorted(zoo)} must index the {n} candidates.")
  grid = np.asarray(lr_grid, np.float64)
  keys = seed_keys(seed, seeds)
  groups: dict[int, tuple[Evaluator, list[int]]] = {}  # evaluator id → (evaluator, its rows), genome rows first
  for i in range(n):
    ev = zoo.get(i, evaluator)
    groups.setdefault(id(ev), (ev, []))[1].append(i)
  valid = np.empty((n, g, seeds), np.float32)
  test, diverged = np.empty_like(valid), np.empty((n, g, seeds), bool)
  for ev, rows in groups.values():
    chosen = jax.tree.map(lambda a: np.asarray(a)[rows], genomes)
    if ev is not evaluator:
      chosen = jax.tree.map(lambda a: np.repeat(np.asarray(a)[None], len(rows), 0), plain_genome(ev.spec))
    out = ev(_repeat(chosen, g * seeds), np.tile(keys, (len(rows) * g, 1)),
             np.tile(np.repeat(grid, seeds), len(rows)), protocol.run_budget())
    for target, field in ((valid, "best_valid"), (test, "test"), (diverged, "diverged")):
      target[rows] = np.asarray(getattr(out, field)).reshape(len(rows), g, seeds)
  grid_valid = valid.mean(axis=2)
  index = np.argmax(grid_valid, axis=1)
  pick = lambda a: a[np.arange(n), index]  # noqa: E731
  chosen_valid = pick(valid)
  rejected = (chosen_valid <= WORST).all(1)
  return Scores(np.where(rejected, WORST, chosen_valid.mean(1)), grid[index], rejected, pick(diverged).any(1),
                chosen_valid, pick(test), grid_valid, n * g * seeds)
