"""Every setting of a search, with the presets ``quick`` (a couple of minutes on 2 CPU cores) and ``paper`` (the NOS
protocol of Morgan & Hougen 2024, for a GPU).

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
"""

from __future__ import annotations

import dataclasses
from typing import Any

from optix_evo.errors import InputError
from optix_evo.search import ga
from optix_evo.search.strategies import STRATEGIES
from optix_evo.search.checkpoint import fill_defaults
from optix_evo.search.evaluate import resolve_population_loop
from optix_evo.search.protocol import NOS_PROBE_FIRST, Protocol
from optix_evo.tasks import TASKS, Task

PAPER_LR_GRID = (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
BASELINES = {"adam": "adam", "adamw": "adamw", "sgd": "momentum"}
"""Genome baselines of the final comparison → the known genome that is that optimizer (``optix_evo.graph.known``):
Adam, AdamW (weight decay 1e-4) and SGD with momentum, trained with the same schedules and tuning as the found
optimizers. Every other optimizer of the zoo can be a baseline too (:func:`baseline_optimizer`)."""
ZOO_PREFIX = "zoo:"
"""``zoo:NAME`` names the zoo's optimizer ``NAME`` as a baseline where a genome baseline has the same name
(``zoo:adam``: the zoo's Adam, trained as optax's code, not as a genome)."""


def baseline_optimizer(name: str) -> str | None:
  """The zoo optimizer (a name of :data:`optix_evo.OPTIMIZERS`) that the baseline ``name`` trains, or ``None`` for a
  genome baseline of :data:`BASELINES` (interpreted, as the found optimizers are). A zoo baseline trains with its
  registered defaults at each peak learning rate of the grid (for learning-rate-free methods such as Prodigy, a
  multiplier of their own estimate: put 1.0 in the grid), its update scaled by the same schedule, with the same
  seeds and data orders as the found optimizers (:func:`optix_evo.search.zoo_optimizer`).

  Raises:
    InputError: for a name that is neither, in one line listing the valid names.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.baseline_optimizer("adam"), ox.search.baseline_optimizer("zoo:adam"),
    ...       ox.search.baseline_optimizer("prodigy"))
    None adam prodigy
  """
  from optix_evo.optimizers import OPTIMIZERS  # pylint: disable=import-outside-toplevel
  if isinstance(name, str) and name in BASELINES:
    return None
  zoo = name[len(ZOO_PREFIX):] if isinstance(name, str) and name.startswith(ZOO_PREFIX) else name
  if isinstance(zoo, str) and zoo in OPTIMIZERS:
    return zoo
  raise InputError(f"Unknown baseline {name!r}. Baselines: the genomes {', '.join(BASELINES)}, or an optimizer of "
                   f"the zoo ({ZOO_PREFIX}NAME for the zoo's own {', '.join(n for n in BASELINES if n in OPTIMIZERS)}"
                   f"): {', '.join(sorted(OPTIMIZERS))}.")
NOS_OPTIMIZERS = tuple(f"nos_opt{i}" for i in range(1, 11))
"""The authors' final optimizers ``nos_opt1`` .. ``nos_opt10`` (:func:`optix_evo.graph.known`)."""
WARM_START = ("adam", "rmsprop", "lion", *NOS_OPTIMIZERS)
"""Known optimizers a warm start seeds into the first population (those the search space can express)."""
NORMALISATIONS = ("none", "adam")
"""How a task's score enters a family fitness (``SearchConfig.normalise``)."""


@dataclasses.dataclass(frozen=True)
class Stage:
  """One progressive-elimination stage: the candidates are re-scored with the surrogate protocol at a larger budget
  and only the best ``keep`` go on.

  Attributes:
    steps: training steps of each full run.
    seeds: full runs per candidate (network init and batch order; the same seeds for every candidate).
    keep: survivors that go on to the next stage (the last stage's ranking is the hall of fame).
    probe_steps: learning-rate probe length (``None``: ``steps // 5``).

  Raises:
    InputError: for a non-positive ``steps``, ``seeds`` or ``keep``, or ``probe_steps`` outside ``[0, steps]``.

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.Stage(400, seeds=2, keep=8))
    Stage(steps=400, seeds=2, keep=8, probe_steps=None)
  """

  steps: int
  seeds: int = 1
  keep: int = 5
  probe_steps: int | None = None

  def __post_init__(self):
    for name in ("steps", "seeds", "keep"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"Stage {name} must be a positive integer, got {value!r}.")
    if self.probe_steps is not None and not 0 <= self.probe_steps <= self.steps:
      raise InputError(f"Stage probe_steps must be in [0, steps={self.steps}] or None, got {self.probe_steps}.")


def _task_name(task: str | Task) -> str:
  return task.name if isinstance(task, Task) else task


def _check_task(task: Any, what: str) -> None:
  if isinstance(task, Task):
    return
  if not isinstance(task, str) or not (task in TASKS or ":" in task):
    raise InputError(f"Unknown {what} {task!r}. Known tasks: {', '.join(sorted(TASKS))}; or MODULE:FUNCTION for "
                     "your own (optix_evo.tasks.load_task_hook), or an optix_evo.tasks.Task from Python.")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  """Every setting of a search (defaults: the paper's run, see :data:`PRESETS`).

  Attributes:
    task: the evolution surrogate's task: a name of :data:`optix_evo.tasks.TASKS`, ``MODULE:FUNCTION`` (your own,
      :func:`optix_evo.tasks.load_task_hook`) or a :class:`~optix_evo.tasks.Task`.
    pool_task: the random pool's surrogate task (NOS: a narrower ConvNet without augmentation); ``None``: ``task``.
    space: the genome search space (``optix_evo.graph`` spaces; ``"nos"`` is the paper's).
    family: further search tasks: with them the fitness is the mean over ``task`` and ``family`` of each task's
      normalised score (see ``normalise``), so what is found is not tuned to one model.
    normalise: ``"adam"``: each task's score becomes ``(acc - chance) / (acc_adam - chance)``, Adam scored in the same
      call with the same protocol and seeds (1 = Adam, 0 = chance); ``"none"``: raw accuracy.
    strategy: ``"ga"`` (the NOS particle GA), ``"regularized"`` (regularized evolution, tournament selection with
      aging) or ``"random"`` (as many random genomes, the control); all ask as many genomes per generation.
    tournament: regularized evolution's tournament size.
    warm_start: seed the first population with known optimizers (:data:`WARM_START`, those the space can express).
    seed: root seed; the same seed gives the same result.
    particles, steps, mutants, pool_factor: the particle GA (``n, K, M`` and the ``pool_factor · n`` random pool).
    surrogate_steps, pool_surrogate_steps: full-run steps of the evolution and pool surrogates (``None``: the same).
    epochs: validations per surrogate run (NOS: 40; the fitness is the best validation accuracy).
    probe_steps: length of each learning-rate probe of the surrogates.
    lr_grid: peak learning rates the probes choose from.
    probe_min_accuracy, probe_check_after, best_probe_min_accuracy, run_min_accuracy, run_check_after: the
      paper's rejection rules (0: off), see :class:`optix_evo.search.protocol.Protocol`.
    mutant_tries: training attempts per mutant slot: a rejected mutant is replaced by a new one up to this many
      times (NOS: 4); a slot whose last attempt is rejected scores -1.
    elimination_candidates: distinct best archive members entering progressive elimination (the surrogate's rank
      correlation with the first stage is measured over them).
    stages: the elimination stages.
    finalists: survivors of the last stage that enter the final comparison.
    final_steps, final_seeds, final_lr_grid: the final comparison, a tuned one (:func:`optix_evo.search.protocol.tune`):
      every finalist, baseline and reference trained at every learning rate of the grid with every seed.
    holdout_tasks: tasks the search never saw, added to the final comparison (the search task is always in it).
    baselines: baseline optimizers of the final comparison: genomes (keys of :data:`BASELINES`) or optimizers of
      the zoo (:data:`optix_evo.OPTIMIZERS`, ``zoo:NAME`` for the zoo's own ``adam``, ``adamw``, ``sgd``), see
      :func:`baseline_optimizer`.
    references: known optimizers placed in the final comparison (``optix_evo.graph.KNOWN`` names).
    population_loop, chunk_size: how each device loops over its runs (see :class:`~optix_evo.search.evaluate.Evaluator`).
    data_dir: folder with local data files (CIFAR-10).

  Raises:
    InputError: naming the first invalid setting (unknown task, space, strategy, baseline or reference, a
      non-positive count, ...).

  Examples:
    >>> import optix_evo as ox
    >>> config = ox.search.preset("quick", particles=8)
    >>> print(config.task_name, config.space, config.particles, config.max_steps)
    mnist1d_mlp extended 8 400
    >>> print(config.differences(ox.search.PRESETS["quick"]))
    [('particles', 8, 6)]
    >>> print(ox.search.SearchConfig.from_dict(config.to_dict()) == config)
    True
  """

  task: str | Task = "cifar10_cnn48_aug"
  pool_task: str | Task | None = "cifar10_cnn"
  space: str = "nos"
  family: tuple[str, ...] = ()
  normalise: str = "none"
  strategy: str = "ga"
  tournament: int = 5
  warm_start: bool = False
  seed: int = 0
  particles: int = 50
  steps: int = 5
  mutants: int = 7
  pool_factor: int = 10
  surrogate_steps: int = 16000
  pool_surrogate_steps: int | None = 8000
  epochs: int = 40
  probe_steps: int = 800
  lr_grid: tuple[float, ...] = PAPER_LR_GRID
  probe_min_accuracy: float = 0.25
  probe_check_after: int = 2
  best_probe_min_accuracy: float = 0.40
  run_min_accuracy: float = 0.40
  run_check_after: int = 4
  mutant_tries: int = 4
  elimination_candidates: int = 24
  stages: tuple[Stage, ...] = (Stage(16000, seeds=2, keep=10), Stage(32000, seeds=3, keep=5))
  finalists: int = 3
  final_steps: int = 32000
  final_seeds: int = 5
  final_lr_grid: tuple[float, ...] = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
  holdout_tasks: tuple[str, ...] = ("mnist1d_mlp",)
  baselines: tuple[str, ...] = ("adam", "adamw", "sgd")
  references: tuple[str, ...] = NOS_OPTIMIZERS
  population_loop: str = "auto"
  chunk_size: int | None = None
  data_dir: str | None = None

  def __post_init__(self):
    _check_task(self.task, "task")
    if self.pool_task is not None:
      _check_task(self.pool_task, "pool_task")
    for name in self.holdout_tasks:
      _check_task(name, "held-out task")
      if name == _task_name(self.task):
        raise InputError(f"holdout_tasks must not include the search task {name!r}: the search saw it.")
    if self.strategy not in STRATEGIES:
      raise InputError(f"Unknown strategy {self.strategy!r}. Known: {', '.join(STRATEGIES)}.")
    for name in self.family:
      _check_task(name, "family task")
      if name == _task_name(self.task) or name in self.holdout_tasks:
        raise InputError(f"family task {name!r} is the search task or a held-out task; name each task once.")
    if self.normalise not in NORMALISATIONS:
      raise InputError(f"Unknown normalise {self.normalise!r}. Known: {', '.join(NORMALISATIONS)}.")
    if not isinstance(self.warm_start, bool):
      raise InputError(f"warm_start must be true or false, got {self.warm_start!r}.")
    if not self.baselines:
      raise InputError(f"baselines must name at least one optimizer (e.g. {', '.join(BASELINES)}), got none.")
    for name in self.baselines:
      baseline_optimizer(name)
    if len(set(self.baselines)) != len(self.baselines):
      raise InputError(f"baselines name an optimizer twice: {list(self.baselines)}.")
    if not self.stages:
      raise InputError("stages must hold at least one elimination stage.")
    for name in ("elimination_candidates", "finalists", "final_steps", "final_seeds", "mutant_tries", "epochs",
                 "surrogate_steps"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}.")
    if self.final_seeds < 2:
      raise InputError(f"final_seeds must be at least 2 for intervals over seeds, got {self.final_seeds}.")
    if self.chunk_size is not None and self.chunk_size < 1:
      raise InputError(f"chunk_size must be positive or None, got {self.chunk_size}.")
    if not self.final_lr_grid or any(not lr > 0 for lr in self.final_lr_grid):
      raise InputError(f"final_lr_grid must hold positive learning rates, got {self.final_lr_grid}.")
    resolve_population_loop(self.population_loop, "cpu")
    self.ga_params()
    self.surrogate(pool=True)
    self.surrogate(pool=False)
    from optix_evo import graph  # pylint: disable=import-outside-toplevel
    graph.get_space(self.space)
    for name in self.references:
      if name not in graph.KNOWN:
        raise InputError(f"Unknown reference optimizer {name!r}. Known genomes: {', '.join(graph.KNOWN)}.")

  def ga_params(self) -> ga.GAParams:
    return ga.GAParams(self.particles, self.steps, self.mutants, self.pool_factor, tournament=self.tournament)

  def surrogate(self, *, pool: bool) -> Protocol:
    """The surrogate protocol of the random pool (``pool=True``) or of evolution."""
    steps = (self.pool_surrogate_steps or self.surrogate_steps) if pool else self.surrogate_steps
    from optix_evo import graph  # pylint: disable=import-outside-toplevel
    nos = graph.get_space(self.space).rules == "nos"  # the authors' rules: two probe rounds, best epochs, ...
    return Protocol(steps, tuple(self.lr_grid), probe_steps=self.probe_steps, epoch=max(steps // self.epochs, 1),
                    probe_epoch=max(self.probe_steps // 4, 1),
                    probe_min_accuracy=self.probe_min_accuracy, probe_check_after=self.probe_check_after,
                    best_probe_min_accuracy=self.best_probe_min_accuracy, run_min_accuracy=self.run_min_accuracy,
                    run_check_after=self.run_check_after,
                    probe_first=tuple(lr for lr in NOS_PROBE_FIRST if nos and lr in self.lr_grid),
                    probe_first_min_accuracy=self.probe_min_accuracy if nos else 0.0,
                    rules="nos" if nos else "library")

  def stage_protocol(self, stage: Stage) -> Protocol:
    probe = stage.steps // 5 if stage.probe_steps is None else stage.probe_steps
    return dataclasses.replace(self.surrogate(pool=False), steps=stage.steps, probe_steps=probe, seeds=stage.seeds,
                               epoch=max(stage.steps // self.epochs, 1), probe_epoch=max(probe // 4, 1))

  @property
  def max_steps(self) -> int:
    """The longest training run of the search (its evaluators' schedule tables cover this many steps)."""
    return max(self.surrogate_steps, self.pool_surrogate_steps or 0, self.final_steps, *(s.steps for s in self.stages))

  @property
  def task_name(self) -> str:
    return _task_name(self.task)

  @property
  def search_tasks(self) -> tuple[str | Task, ...]:
    """The tasks the fitness is measured on: ``task`` and the ``family``."""
    return (self.task, *self.family)

  def to_dict(self) -> dict[str, Any]:
    """Plain data (a custom :class:`~optix_evo.tasks.Task` is recorded by its name)."""
    out = dataclasses.asdict(self)
    out["task"] = self.task_name
    out["pool_task"] = None if self.pool_task is None else _task_name(self.pool_task)
    for name in ("lr_grid", "final_lr_grid", "holdout_tasks", "baselines", "references", "family"):
      out[name] = list(getattr(self, name))
    out["stages"] = [dataclasses.asdict(s) for s in self.stages]
    return out

  @classmethod
  def from_dict(cls, d: dict[str, Any], *, what: str = "the stored configuration") -> SearchConfig:
    """The config of :meth:`to_dict`'s ``d``; settings ``d`` lacks take their defaults, an unknown one is an
    :class:`~optix_evo.errors.InputError` naming it (``what`` says where ``d`` came from)."""
    d = fill_defaults(cls, dict(d), what=what)
    for name in ("lr_grid", "final_lr_grid"):
      d[name] = tuple(float(v) for v in d[name])
    for name in ("holdout_tasks", "baselines", "references", "family"):
      d[name] = tuple(d[name])
    d["stages"] = tuple(Stage(**fill_defaults(Stage, dict(s), what=f"{what} (stage {i + 1})"))
                        for i, s in enumerate(d["stages"]))
    return cls(**d)

  def differences(self, other: SearchConfig) -> list[tuple[str, Any, Any]]:
    """``(setting, self's value, other's value)`` for every setting that differs (tasks compared by name)."""
    a, b = self.to_dict(), other.to_dict()
    return [(k, a[k], b[k]) for k in a if a[k] != b[k]]


PRESETS: dict[str, SearchConfig] = {
    # A minute on 2 CPU cores: MNIST-1D MLPs (a proxy that does not saturate), a small GA, two elimination stages, and
    # a final comparison on MNIST-1D and on digits (never seen by the search), 5 seeds, tuned learning rates.
    "quick": SearchConfig(
        task="mnist1d_mlp", pool_task=None, space="extended", particles=6, steps=3, mutants=4, pool_factor=4,
        surrogate_steps=200, pool_surrogate_steps=None, epochs=4, probe_steps=40, lr_grid=(1e-1, 1e-2, 1e-3),
        probe_min_accuracy=0.0, probe_check_after=0, best_probe_min_accuracy=0.0, run_min_accuracy=0.0,
        run_check_after=0, mutant_tries=1, elimination_candidates=24,
        stages=(Stage(400, seeds=2, keep=8), Stage(400, seeds=3, keep=3)), finalists=3, final_steps=400,
        final_seeds=5, final_lr_grid=(1.0, 1e-1, 1e-2, 1e-3), holdout_tasks=("digits_mlp",), baselines=("adam",),
        references=("nos_opt1", "nos_opt9", "nos_opt10"),
    ),
    # The real search for a CPU (≤ 30 min cold on 2 cores): fitness over a family of three model families
    # (MNIST-1D MLP, digits ConvNet, MNIST-1D GRU), each task normalised against Adam trained in the same call; held out: four other
    # settings (wine with a dendritic neuron model, graphs with a GCN, a sequence-copy transformer, iris with an MLP);
    # final comparison with 10 seeds per task and a Holm–Bonferroni line over the held-out tasks.
    "cpu": SearchConfig(
        task="mnist1d_mlp", pool_task=None, family=("digits_cnn", "mnist1d_gru"), normalise="adam", space="extended",
        strategy="ga", particles=8, steps=5, mutants=4, pool_factor=4, surrogate_steps=100,
        pool_surrogate_steps=None, epochs=4, probe_steps=20, lr_grid=(1e-1, 1e-2, 1e-3), probe_min_accuracy=0.0,
        probe_check_after=0, best_probe_min_accuracy=0.0, run_min_accuracy=0.0, run_check_after=0, mutant_tries=1,
        elimination_candidates=12, stages=(Stage(200, seeds=2, keep=6), Stage(200, seeds=3, keep=2)), finalists=2,
        final_steps=200, final_seeds=10, final_lr_grid=(1e-1, 1e-2, 1e-3),
        holdout_tasks=("wine_dnm", "sbm_gcn", "copy_transformer", "iris_mlp"), baselines=("adam",),
        references=("lion",),
    ),
    # The paper's run (n=50, K=5, M=7, pool 500; pool surrogate: width-32 ConvNet, 8000 steps; evolution surrogate:
    # width-48 ConvNet with augmentation, 16000 steps; 800-step probes over 10 .. 1e-5; the rejection thresholds;
    # mutant retry) on CIFAR-10, for a GPU. The elimination stages and the final comparison are our choice (the
    # paper's were not published).
    "paper": SearchConfig(),
}
"""The named configurations: ``"quick"`` (a minute or two on 2 CPU cores), ``"cpu"`` (a real search over a task family
with held-out tasks, ≤ 30 min on 2 CPU cores) and ``"paper"`` (the NOS run, for a GPU)."""


def preset(name: str, **overrides: Any) -> SearchConfig:
  """The preset ``name`` with fields replaced by ``overrides`` (validated), e.g.
  ``preset("quick", task=my_task, particles=8)``.

  Args:
    name: a key of :data:`PRESETS` (``"quick"``: MNIST-1D MLPs on a CPU; ``"cpu"``: a task family and held-out tasks
      on a CPU; ``"paper"``: the NOS protocol on CIFAR-10).
    **overrides: :class:`SearchConfig` fields to replace.

  Returns:
    The :class:`SearchConfig`.

  Raises:
    InputError: for an unknown preset or setting, or an invalid value.

  Examples:
    >>> import optix_evo as ox
    >>> config = ox.search.preset("paper")
    >>> print(config.task_name, config.particles, config.steps, config.mutants, config.lr_grid)
    cifar10_cnn48_aug 50 5 7 (10.0, 1.0, 0.1, 0.01, 0.001, 0.0001, 1e-05)
  """
  if name not in PRESETS:
    raise InputError(f"Unknown preset {name!r}. Known presets: {', '.join(sorted(PRESETS))}.")
  fields = {f.name for f in dataclasses.fields(SearchConfig)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise InputError(f"Unknown search setting(s) {unknown}. Known settings: {', '.join(sorted(fields))}.")
  return dataclasses.replace(PRESETS[name], **overrides)
