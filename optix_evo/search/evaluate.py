"""Training candidate optimizers: ONE compiled program per task, whatever the budget, learning rate or seed.

The program (:class:`Evaluator`) trains a batch of runs; each run is a genome, a PRNG key (network init, batch
order, augmentation) and a peak learning rate. How long and how is *data* (:class:`Budget`: steps, schedule horizon
and warmup, validation period, early-stop rule), so the search's surrogate, its learning-rate probes, every
elimination stage and the final comparison reuse the same compiled program (baselines too: Adam, AdamW and SGD are
genomes of the same space, :func:`optix_evo.graph.known`; a baseline from the zoo, e.g. Prodigy, trains in a program
of its own with the same layout, :func:`zoo_optimizer`).

A run trains with the NOS base schedule (linear warmup to the peak learning rate, an optional hold, cosine decay to 0
at the horizon; momentum 0.95 → 0.85 → 0.95), validates every ``epoch`` steps and keeps the best validation accuracy
reached before any non-finite value (and the test accuracy at that epoch), stops at the first non-finite loss or
update (the run is *divergent*), and optionally stops when an epoch's training accuracy is below a threshold (the
paper's early-stop rules; Morgan & Hougen 2024, `arXiv:2404.06679 <https://arxiv.org/abs/2404.06679>`_, the authors'
code https://github.com/OUStudent/NeuralOptimizerSearch).

Layout: the batch is dealt out to all devices in turn (device ``d`` of ``D`` trains runs ``d, d + D, ...``: a short
last batch is shared evenly) along a ``"pop"`` mesh axis with ``shard_map`` (also across processes after
``jax.distributed.initialize``); each device loops over its share, ``"map"`` (CPU: ``lax.map``, one run after the
other, genomes interpreted with ``strategy="switch"`` so each computes only its own operands and ops; padding runs are
skipped) or ``"vmap"`` (GPU/TPU: vmapped chunks, ``strategy="select"``). Every run trains on its own, so scores do not
depend on how runs are spread over devices.

Why two layouts: on CPU a vmapped batch is no faster per run than runs one after another (a vmapped optax.adam is
itself slower per run), and ``select`` computes all ~37 ops of every node (tens of times a genome's own work), so
``map``/``switch`` wins. On a GPU a single small run leaves the device mostly idle and every ``switch`` is a
synchronising conditional, so ``vmap``/``select`` (the ``"auto"`` choice there, not measured on a GPU yet:
``benchmarks/search_speed.py --device gpu``) is expected to win while the extra elementwise work of the unselected ops
stays below the kernel-launch cost of the model's step, i.e. for the small models of a search.

Around the model the loop does only what is read: learning-rate probes skip the validation and test sets
(``validate=False``), the batch order is drawn on the host (:func:`batch_orders`: XLA:CPU's sort is slow), and the
divergence check reads the parameters once per epoch instead of a pass over every update.

:func:`score` and :func:`tune` are the two protocols built on it: learning rate chosen by short probes then one
full run (the NOS surrogate), or full runs at every learning rate of a grid over several seeds (a tuned comparison).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from optix_evo import graph
from optix_evo.data import Dataset
from optix_evo.errors import InputError
from optix_evo.search.results_types import WORST  # noqa: F401  (re-exported: the evaluator's worst score)
from optix_evo.tasks import Task
from optix_evo.optimizers._validation import with_extra_args_support
from optix_evo.training import evaluate, step_extra_args, steps_per_epoch

POPULATION_LOOPS = ("auto", "map", "vmap")
"""How each device loops over its runs (see the module docstring); ``"auto"``: ``map`` on CPU, else ``vmap``."""


def resolve_population_loop(loop: str, platform: str) -> str:
  """``"map"`` or ``"vmap"`` for ``loop`` on a device ``platform`` (``"cpu"``, ``"gpu"``, ``"tpu"``, ...)."""
  if loop not in POPULATION_LOOPS:
    raise InputError(f"Unknown population_loop {loop!r}. Known loops: {', '.join(POPULATION_LOOPS)} "
                     "(auto = map on CPU, vmap on GPU/TPU).")
  if loop == "auto":
    return "map" if platform == "cpu" else "vmap"
  return loop


class Budget(NamedTuple):
  """How one call trains its runs (all scalars: data of the compiled program, not shapes).

  Attributes:
    steps: training steps of each run.
    horizon: ``T`` of the learning-rate, momentum and decay schedules (a learning-rate probe uses the full run's
      horizon, so it sees only the start of the schedule, as in NOS).
    warmup: linear warmup steps of the learning rate.
    epoch: steps between validations (and early-stop checks); the last, partial epoch is validated too.
    min_accuracy: stop a run when an epoch's mean training accuracy is below this (0: never)...
    check_after: ...from this epoch index on (0-based).
    hold: steps the learning rate holds its peak after the warmup (the paper's final runs: ``2T/15``).

  Examples:
    >>> import optix_evo as ox
    >>> print(ox.search.Budget(steps=100, horizon=100, warmup=10, epoch=25))
    Budget(steps=100, horizon=100, warmup=10, epoch=25, min_accuracy=0.0, check_after=0, hold=0)
  """

  steps: int
  horizon: int
  warmup: int
  epoch: int
  min_accuracy: float = 0.0
  check_after: int = 0
  hold: int = 0

  def validated(self) -> Budget:
    """This budget, checked.

    Raises:
      InputError: when ``steps`` or ``epoch`` is below 1, the horizon does not cover the run, or warmup and hold
        do not end before the horizon.
    """
    if self.steps < 1 or self.epoch < 1:
      raise InputError(f"A training budget needs steps >= 1 and epoch >= 1, got steps={self.steps}, "
                       f"epoch={self.epoch}.")
    if self.horizon < self.steps:
      raise InputError(f"The schedule horizon ({self.horizon}) must cover the run's {self.steps} steps.")
    if self.warmup < 0 or self.hold < 0 or self.warmup + self.hold >= self.horizon:
      raise InputError(f"warmup={self.warmup} and hold={self.hold} must be non-negative and end before the horizon "
                       f"({self.horizon}).")
    return self


class Outcome(NamedTuple):
  """What each run of a call produced (NumPy arrays, one entry per run).

  Attributes:
    best_valid: best validation accuracy over the epochs before any non-finite value (:data:`WORST` if none).
    test: test accuracy at the epoch of the best validation accuracy (NaN if no epoch was finite).
    train_accuracy: mean training accuracy of the last epoch run.
    best_train_accuracy: the best mean training accuracy over the epochs run (Keras' ``np.nanmax(history
      ["accuracy"])``, the NOS probe score); ``None`` from evaluators that do not record it.
    steps_run: the steps each run trained (int).
    diverged: bool, a loss or an update turned non-finite.
    stopped: bool, stopped by the training-accuracy rule.
  """

  best_valid: np.ndarray  # best validation accuracy over the epochs before any non-finite value (WORST if none)
  test: np.ndarray  # test accuracy at the epoch of the best validation accuracy (NaN if no epoch was finite)
  train_accuracy: np.ndarray  # mean training accuracy of the last epoch run
  steps_run: np.ndarray  # int
  diverged: np.ndarray  # bool: a loss or an update turned non-finite
  stopped: np.ndarray  # bool: stopped by the training-accuracy rule
  best_train_accuracy: np.ndarray | None = None  # best mean training accuracy over the epochs run


class Usage(NamedTuple):
  """What an :class:`Evaluator`'s calls cost, split so that training and compilation are timed apart
  (:meth:`Evaluator.take_usage`).

  Attributes:
    train_s: wall seconds of training calls (preparing the batches on the host and running them), compilation
      excluded.
    steps: training steps run, summed over runs.
    runs: runs trained (padding excluded).
    compile_wait_s: wall seconds calls waited for the program's compilation (tracing, compiling or loading it from
      the persistent cache; a compilation started in the background and finished before the call costs nothing here).
  """

  train_s: float = 0.0
  steps: int = 0
  runs: int = 0
  compile_wait_s: float = 0.0


def population_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-d mesh named ``"pop"`` over ``devices`` (default: all devices of all processes).

  Args:
    devices: the devices (default ``jax.devices()``).

  Returns:
    A ``jax.sharding.Mesh`` with the one axis ``"pop"``, along which :class:`Evaluator` splits its runs.

  Examples:
    >>> import jax
    >>> import optix_evo as ox
    >>> mesh = ox.search.population_mesh(jax.devices()[:1])
    >>> print(mesh.axis_names, mesh.devices.shape)
    ('pop',) (1,)
  """
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("pop",))


def _tree_all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


@functools.partial(jax.jit, static_argnames=("length", "spec"))
def schedule_tables(genomes: graph.Genome, peak_lr: jax.Array, budget: Budget, *, length: int,
                    spec: graph.GenomeSpec) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Per run and step ``t < length``: the genome's edge decay factors ``[n, length, N, 2]``, the learning rate
  (base schedule times the genome's schedule multiplier) ``[n, length]`` and the momentum coefficient
  ``[n, length]``. Computed once per call, outside the training program (one small program for every task), so the
  training step only reads them."""

  def one(genome, lr):
    t = jnp.arange(length)
    factors, multiplier = jax.vmap(lambda c: graph.step_factors(genome, c, budget.horizon, spec))(t)
    base = graph.nos_learning_rate(lr, budget.horizon, budget.warmup, budget.hold)(t)
    momentum = graph.nos_momentum(budget.horizon, budget.warmup, budget.hold)(t)
    return factors.astype(jnp.float32), (base * multiplier).astype(jnp.float32), momentum.astype(jnp.float32)

  return jax.vmap(one)(genomes, peak_lr)


def batch_orders(keys: np.ndarray, num_examples: int, batch_size: int, steps: int, max_steps: int) -> np.ndarray:
  """Per run the order of the training examples in each pass over them: ``int32 [n, passes, num_examples]``, a
  fresh permutation per pass, drawn on the host (NumPy's PCG64 seeded with the run's key words) for the passes that
  ``steps`` steps reach (``passes`` covers ``max_steps``; later rows are zero and never read). XLA:CPU sorts slowly:
  ``jax.random.permutation`` of 3500 examples costs about 25 training steps of the MNIST-1D MLP, NumPy's a few µs.

  Examples:
    >>> import numpy as np
    >>> from optix_evo.search.evaluate import batch_orders
    >>> orders = batch_orders(np.array([[0, 1]], np.uint32), 6, 2, steps=4, max_steps=9)
    >>> print(orders.shape, sorted(orders[0, 0].tolist()) == sorted(orders[0, 1].tolist()) == list(range(6)))
    (1, 3, 6) True
    >>> print(orders[0, 2].tolist())  # a pass that 4 steps do not reach
    [0, 0, 0, 0, 0, 0]
  """
  per_pass = steps_per_epoch(num_examples, batch_size)
  passes, used = -(-max_steps // per_pass), -(-steps // per_pass)
  out = np.zeros((len(keys), passes, num_examples), np.int32)
  base = np.arange(num_examples, dtype=np.int32)
  for i, key in enumerate(np.asarray(keys, np.uint32)):
    rng = np.random.default_rng([int(key[0]), int(key[1]), 0xDA7A])
    out[i, :used] = rng.permuted(np.broadcast_to(base, (used, num_examples)), axis=1)
  return out


class LearningRate(NamedTuple):
  """The learning rate a ``make_optimizer`` receives (see :func:`train_run`): ``learning_rate(t)`` is step ``t``'s
  rate, read from the run's row of :func:`schedule_tables`; :attr:`peak` is the largest (the run's peak rate).

  Examples:
    >>> import jax.numpy as jnp
    >>> from optix_evo.search.evaluate import LearningRate
    >>> lr = LearningRate(jnp.array([0.0, 0.05, 0.1, 0.02]))
    >>> print(lr(1), lr.peak)
    0.05 0.1
  """

  table: jax.Array

  def __call__(self, t):
    return self.table[t]

  @property
  def peak(self) -> jax.Array:
    return jnp.max(self.table)


def zoo_optimizer(name: str) -> Callable[..., optax.GradientTransformationExtraArgs]:
  """``make_optimizer`` of :class:`Evaluator` (see :func:`train_run`) for the zoo optimizer ``name``: built by
  :func:`optix_evo.get_optimizer` as ``optix-evo zoo`` and ``bench`` rows build it (its registered defaults) at the
  run's peak learning rate, its update scaled by the run's schedule over that peak (warmup, hold, cosine decay), as a
  genome's update is. For an optimizer whose step is linear in its learning rate this is the same as passing the
  schedule as its ``learning_rate``; it also serves those that take a float only (``rprop``, ``sm3``), set bounds
  against it (``adabound``), or divide by the warmup's first rate of 0 (``prodigy``, ``dadapt_adamw``: their
  step-size estimates run at the peak rate). Its own momentum; the genome's decays are unused.

  Args:
    name: a name of :data:`optix_evo.OPTIMIZERS`.

  Returns:
    ``make_optimizer(genome, learning_rate, momentum, factors)`` (``learning_rate``: a :class:`LearningRate`); the
    runs carry :func:`plain_genome`, whose learning rate is the base schedule.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optix_evo as ox
    >>> from optix_evo.search.evaluate import LearningRate
    >>> opt = ox.search.zoo_optimizer("sgd")(None, LearningRate(jnp.array([0.0, 0.2, 0.1])), None, None)
    >>> params, state = {"w": jnp.ones(2)}, opt.init({"w": jnp.ones(2)})
    >>> for t in range(3):
    ...   updates, state = opt.update({"w": jnp.ones(2)}, state, params)
    ...   print(float(updates["w"][0]))  # SGD at the peak rate 0.2, scaled by 0, 1, 0.5
    -0.0
    -0.2
    -0.1
  """
  from optix_evo.optimizers import get_optimizer  # pylint: disable=import-outside-toplevel

  def make(genome, learning_rate: LearningRate, momentum, factors):
    del genome, momentum, factors
    peak = learning_rate.peak
    return optax.chain(get_optimizer(name, learning_rate=peak),
                       optax.scale_by_schedule(lambda t: learning_rate(t) / peak))

  return make


def plain_genome(spec: graph.GenomeSpec = graph.DEFAULT_SPEC) -> graph.Genome:
  """The genome that runs trained by a ``make_optimizer`` carry (:func:`zoo_optimizer`): Adam's (SGD's in a space
  without Adam's operand, ``"nos"``), whose schedule multiplier is 1 and which has no decays, so that the learning
  rate a run hands its optimizer is the base schedule (a ``make_optimizer`` reads nothing else of the genome)."""
  return graph.known("adam" if any(e.name == "adam" for e in spec.operands) else "sgd", spec)


def train_run(task: Task, spec: graph.GenomeSpec, strategy: str, genome: graph.Genome, key: jax.Array,
              tables: tuple[jax.Array, jax.Array, jax.Array], budget: Budget,
              data: dict[str, jax.Array], *, validate: bool | jax.Array = True,
              order: jax.Array | None = None, make_optimizer: Callable | None = None) -> tuple[jax.Array, ...]:
  """One run (pure; mapped or vmapped over a batch by :class:`Evaluator`): the fields of :class:`Outcome`.
  ``tables``: the run's rows of :func:`schedule_tables`. ``validate`` (may be traced): evaluate the validation and
  test sets at each epoch (``False``, for runs whose caller reads only the training accuracy and the divergence flag:
  ``best_valid`` stays :data:`WORST` and ``test`` NaN). ``order``: the run's rows of :func:`batch_orders` (``None``:
  a ``jax.random.permutation`` per pass, drawn in the program). ``make_optimizer(genome, learning_rate, momentum,
  factors)`` (step → value functions; ``learning_rate`` a :class:`LearningRate`, which also knows its peak): the
  run's optimizer instead of the interpreted genome (a reference, e.g. ``optax.adam`` or :func:`zoo_optimizer`,
  trained in the same program layout). Every optimizer's ``update`` receives the extra arguments of
  :func:`optix_evo.training.step_extra_args` (``value=`` for Polyak steps, ``grad_fn`` for Sophia, ...)."""
  init_key, data_key, augment_key = jax.random.split(key, 3)
  params = task.init(init_key)
  model_state = task.initial_state(init_key)  # BatchNorm running averages (Task.modes); () for most tasks
  factors, learning_rate, momentum = tables
  if make_optimizer is None:
    optimizer = graph.interpret(genome, lambda c: learning_rate[c], spec=spec, momentum=lambda c: momentum[c],
                                step_factors=lambda c: (factors[c], 1.0), strategy=strategy, check_finite=False)
  else:
    optimizer = make_optimizer(genome, LearningRate(learning_rate), lambda c: momentum[c], lambda c: factors[c])
  optimizer = with_extra_args_support(optimizer)
  state = optimizer.init(params)
  n_train, batch = task.train.num_examples, task.batch_size
  per_data_epoch = steps_per_epoch(n_train, batch)
  n_epochs = (budget.steps + budget.epoch - 1) // budget.epoch

  def train_step(t, carry):
    params, state, model_state, perm, accuracy, finite = carry
    if order is None:
      perm = jax.lax.cond(t % per_data_epoch == 0,  # a fresh permutation of the training set per pass over it
                          lambda: jax.random.permutation(jax.random.fold_in(data_key, t // per_data_epoch), n_train),
                          lambda: perm)
      idx = jax.lax.dynamic_slice_in_dim(perm, (t % per_data_epoch) * batch, batch)
    else:
      idx = jax.lax.dynamic_slice(order, (t // per_data_epoch, (t % per_data_epoch) * batch), (1, batch))[0]
    xb, yb = data["train_x"][idx], data["train_y"][idx]
    step_key = jax.random.fold_in(augment_key, t)
    if task.augment is not None:
      xb = task.augment(step_key, xb)
    loss_key = jax.random.fold_in(step_key, 1)
    (loss, (metrics, new_model_state)), grads = jax.value_and_grad(task.training_loss, has_aux=True)(
        params, model_state, xb, yb, loss_key)
    extra = step_extra_args(lambda p: task.training_loss(p, model_state, xb, yb, loss_key)[0], loss, metrics)
    model_state = new_model_state
    updates, state = optimizer.update(grads, state, params, **extra)
    params = optax.apply_updates(params, updates)
    return params, state, model_state, perm, accuracy + metrics["accuracy"], finite & jnp.isfinite(loss)

  def epoch(carry):
    e, params, state, model_state, perm, best, test, _, best_train, steps_run, finite, _ = carry
    length = jnp.minimum(budget.epoch, budget.steps - e * budget.epoch)
    params, state, model_state, perm, accuracy, finite = jax.lax.fori_loop(
        e * budget.epoch, e * budget.epoch + length, train_step,
        (params, state, model_state, perm, jnp.float32(0), finite))
    finite = finite & _tree_all_finite(params)  # a non-finite update leaves non-finite parameters for good
    eval_loss = task.evaluation_loss(model_state)  # inference mode: no dropout, running averages
    valid = jax.lax.cond(validate, lambda: evaluate(eval_loss, params, task_data(data, "valid"),
                                                    chunk_size=512)["accuracy"].astype(jnp.float32),
                         lambda: jnp.float32(jnp.nan))
    improved = finite & jnp.isfinite(valid) & (valid > best)
    best = jnp.where(improved, valid, best).astype(jnp.float32)
    test = jax.lax.cond(improved, lambda: evaluate(eval_loss, params, task_data(data, "test"),
                                                   chunk_size=512)["accuracy"].astype(jnp.float32), lambda: test)
    train_accuracy = (accuracy / length).astype(jnp.float32)
    stopped = (e >= budget.check_after) & (train_accuracy < budget.min_accuracy)
    best_train = jnp.maximum(best_train, train_accuracy)
    return (e + 1, params, state, model_state, perm, best, test, train_accuracy, best_train, steps_run + length, finite,
            stopped)

  def go_on(carry):
    e, *_, finite, stopped = carry
    return (e < n_epochs) & finite & ~stopped

  perm = jnp.arange(n_train) if order is None else jnp.zeros([], jnp.int32)  # (unused with ``order``)
  carry = (jnp.zeros([], jnp.int32), params, state, model_state, perm, jnp.float32(WORST), jnp.float32(jnp.nan),
           jnp.float32(0), jnp.float32(0), jnp.zeros([], jnp.int32), jnp.asarray(True), jnp.asarray(False))
  _, _, _, _, _, best, test, train_accuracy, best_train, steps_run, finite, stopped = jax.lax.while_loop(
      go_on, epoch, carry)
  return best, test, train_accuracy, steps_run, ~finite, stopped, best_train


def task_data(data: dict[str, jax.Array], part: str) -> Dataset:
  """The ``part`` ("train", "valid", "test") arrays of the program's data argument."""
  return Dataset(data[f"{part}_x"], data[f"{part}_y"])


class Evaluator:
  """Trains batches of runs on ``task`` with one compiled program.

  Args:
    task: what to train (a classification task: the score is accuracy).
    spec: the genome space of the candidates (known optimizers and baselines must be in it too).
    max_steps: the longest run any call trains (the schedule tables of a call cover this many steps).
    batch: runs per call of the program, rounded up to a multiple of the devices (a call with more runs is split,
      one with fewer is padded; padding runs are skipped with the ``"map"`` loop). The runs of a batch are dealt out
      to the devices in turn, so a short batch is shared evenly.
    chunk_size: with the ``"vmap"`` loop, runs trained at once on each device (``None``: the device's whole share).
    mesh: the ``"pop"`` mesh (default :func:`population_mesh`).
    population_loop: ``"auto"`` (``"map"`` on CPU, ``"vmap"`` on GPU/TPU), ``"map"`` or ``"vmap"``.
    compiler_options: XLA options for the program (``jax.jit(..., compiler_options=...)``).
    make_optimizer: the runs' optimizer instead of the interpreted genome (see :func:`train_run`; benchmarks train
      a reference such as ``optax.adam`` in the same layout).

  Raises:
    InputError: for a task not scored by accuracy, or a non-positive ``batch``, ``max_steps`` or ``chunk_size``.

  Examples:
    Building an evaluator compiles nothing; its first call compiles the training program (tens of seconds on a
    CPU), so only the construction runs here. ``tests/search`` trains with it.

    >>> import optix_evo as ox
    >>> task = ox.tasks.get_task("iris_mlp")
    >>> evaluator = ox.search.Evaluator(task, max_steps=50, batch=4, population_loop="map")
    >>> print(evaluator.batch >= 4, evaluator.loop, evaluator.compiled_programs)  # batch: a multiple of the devices
    True map 0
    >>> population = ox.graph.stack([ox.graph.known("adam"), ox.graph.known("sgd")])
    >>> keys = ox.search.seed_keys(0, 2)
    >>> outcome = evaluator(population, keys, [1e-2, 1e-1], ox.search.Budget(50, 50, 5, 10))  # doctest: +SKIP
    >>> print(outcome.best_valid.shape)  # doctest: +SKIP
    (2,)
  """

  def __init__(self, task: Task, spec: graph.GenomeSpec = graph.DEFAULT_SPEC, *, max_steps: int, batch: int = 16,
               chunk_size: int | None = None, mesh: Mesh | None = None, population_loop: str = "auto",
               compiler_options: dict[str, Any] | None = None, make_optimizer: Callable | None = None):
    if task.metric != "accuracy":
      raise InputError(f"Task {task.name!r} is scored by {task.metric}; the search needs a classification task.")
    if batch <= 0 or max_steps <= 0:
      raise InputError(f"batch and max_steps must be positive, got {batch} and {max_steps}.")
    self.max_steps = max_steps
    if chunk_size is not None and chunk_size <= 0:
      raise InputError(f"chunk_size must be positive or None, got {chunk_size}.")
    self.task, self.spec = task, spec
    self.mesh = mesh or population_mesh()
    self.loop = resolve_population_loop(population_loop, self.mesh.devices.flat[0].platform)
    strategy = "switch" if self.loop == "map" else "select"
    devices = self.mesh.devices.size
    per_device = math.ceil(batch / devices)
    self.chunk = 1 if self.loop == "map" else min(chunk_size or per_device, per_device)
    per_device = math.ceil(per_device / self.chunk) * self.chunk
    self.batch = per_device * devices
    n_chunks = per_device // self.chunk
    # the program's rows, device by device, are the call's runs dealt out in turn (device d: runs d, d + D, ...), so
    # a short last batch, or a batch sorted by cost (runs at a diverging learning rate stop early), is shared evenly
    self._dealt = np.arange(self.batch).reshape(per_device, devices).T.ravel()
    self._undealt = np.argsort(self._dealt)
    self._host_data = {f"{part}_{field}": np.asarray(getattr(getattr(task, part), field))
                       for part in ("train", "valid", "test") for field in ("x", "y")}
    self._data = None
    self._compiling: threading.Thread | None = None
    self._compile_error: BaseException | None = None
    self._lock = threading.Lock()
    self._usage = Usage()

    def run(genome, key, tables, order, budget, validate, data):
      return train_run(task, spec, strategy, genome, key, tables, budget, data, validate=validate, order=order,
                       make_optimizer=make_optimizer)

    skipped = (jnp.float32(WORST), jnp.float32(jnp.nan), jnp.float32(0), jnp.int32(0), jnp.bool_(False),
               jnp.bool_(False), jnp.float32(0))

    def per_device_fn(genomes, keys, tables, orders, active, budget, validate, data):
      if self.loop == "map":  # padding runs (active False) cost nothing
        return jax.lax.map(lambda a: jax.lax.cond(a[4], lambda: run(*a[:4], budget, validate, data), lambda: skipped),
                           (genomes, keys, tables, orders, active))
      chunked = jax.tree.map(lambda a: a.reshape((n_chunks, self.chunk, *a.shape[1:])),
                             (genomes, keys, tables, orders))
      out = jax.lax.map(lambda c: jax.vmap(run, in_axes=(0, 0, 0, 0, None, None, None))(*c, budget, validate, data),
                        chunked)
      return jax.tree.map(lambda a: a.reshape((-1, *a.shape[2:])), out)

    sharded = jax.shard_map(per_device_fn, mesh=self.mesh, in_specs=(P("pop"),) * 5 + (P(), P(), P()),
                            out_specs=P("pop"), check_vma=False)
    self._replicated = NamedSharding(self.mesh, P())
    self._sharded = NamedSharding(self.mesh, P("pop"))
    self._fn = jax.jit(sharded, out_shardings=self._replicated, compiler_options=compiler_options)

  def start_compiling(self) -> threading.Thread | None:
    """Compiles the program in a background thread (one step of one run), so that the programs of several tasks
    compile at the same time where cores are free (XLA compiles a program on one thread: two tasks' programs
    compiled in two threads take about the time of the longer one). The next call waits for it and raises the
    error the compilation raised, if any. A second call starts nothing.

    Returns:
      The thread (started), or ``None`` when the program was compiled or is compiling already.
    """
    with self._lock:
      if self._compiling is not None or self.compiled_programs:
        return None

      def warm():
        try:
          genomes = graph.stack([graph.random_genome(0, self.spec)])
          self._call(genomes, *self._checked(genomes, np.zeros((1, 2), np.uint32), [1e-3],
                                             Budget(steps=1, horizon=2, warmup=0, epoch=1)), validate=False)
        except BaseException as e:  # pylint: disable=broad-exception-caught
          self._compile_error = e  # raised by the next call, in the caller's thread

      self._compiling = threading.Thread(target=warm, name=f"compile {self.task.name}", daemon=True)
      self._compiling.start()
      return self._compiling

  def wait_compiling(self) -> None:
    """Waits for the compilation :meth:`start_compiling` started, if any (its error is kept for the next call). A
    search calls it before it returns or stops, so that no compiling thread outlives it: XLA aborts a process that
    exits while one of its threads compiles."""
    if self._compiling is not None:
      self._compiling.join()

  def _put(self, host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

  def __call__(self, genomes: graph.Genome, keys: np.ndarray, learning_rates: np.ndarray, budget: Budget, *,
               validate: bool = True) -> Outcome:
    """Trains run ``i`` = (``genomes[i]``, ``keys[i]``, ``learning_rates[i]``) for every ``i`` under ``budget``.

    The arguments are checked first; the first call then compiles the program (or waits for
    :meth:`start_compiling`'s compilation), apart from the training, so :meth:`take_usage` times each.

    Args:
      genomes: a batched genome (leading axis ``n``).
      keys: ``uint32[n, 2]`` PRNG keys (network init, batch order: :func:`batch_orders`, augmentation).
      learning_rates: ``[n]`` peak learning rates.
      budget: how long and how (the same for every run of the call).
      validate: evaluate the validation and test sets (``False`` for calls that read only ``train_accuracy``,
        ``diverged``, ``stopped`` and ``steps_run``, e.g. learning-rate probes: their ``best_valid`` is
        :data:`WORST` and ``test`` NaN). Data of the program, like the budget: no new compilation.

    Returns:
      An :class:`Outcome` with one entry per run.

    Raises:
      InputError: for an invalid budget, a run longer than ``max_steps``, or arguments of different lengths.
    """
    budget, keys, lrs = self._checked(genomes, keys, learning_rates, budget)
    start = time.perf_counter()
    if self._compiling is None and not self.compiled_programs:
      self.start_compiling()
    if self._compiling is not None:
      self.wait_compiling()
      error, self._compile_error = self._compile_error, None
      if error is not None:
        raise error
    compiled = time.perf_counter()
    out = self._call(genomes, budget, keys, lrs, validate=validate)
    u = self._usage
    self._usage = Usage(u.train_s + time.perf_counter() - compiled, u.steps + int(np.sum(out.steps_run)),
                        u.runs + keys.shape[0], u.compile_wait_s + compiled - start)
    return out

  def take_usage(self) -> Usage:
    """What the calls since the last :meth:`take_usage` (or since this evaluator was built) cost; the counts start
    again from zero.

    Returns:
      A :class:`Usage`.
    """
    usage, self._usage = self._usage, Usage()
    return usage

  def _checked(self, genomes, keys, learning_rates, budget: Budget) -> tuple[Budget, np.ndarray, np.ndarray]:
    budget = budget.validated()
    if budget.steps > self.max_steps:
      raise InputError(f"A run of {budget.steps} steps is longer than this evaluator's max_steps={self.max_steps}.")
    keys, lrs = np.asarray(keys, np.uint32), np.asarray(learning_rates, np.float32)
    n = keys.shape[0]
    if lrs.shape != (n,) or jax.tree.leaves(genomes)[0].shape[0] != n:
      raise InputError("genomes, keys and learning_rates must have the same leading size.")
    return budget, keys, lrs

  def _call(self, genomes, budget: Budget, keys: np.ndarray, lrs: np.ndarray, *, validate: bool) -> Outcome:
    """The runs, their arguments as :meth:`_checked` returns them."""
    n = keys.shape[0]
    if self._data is None:
      self._data = {k: self._put(v, self._replicated) for k, v in self._host_data.items()}
    scalars = Budget(*(np.asarray(v, np.float32 if f == "min_accuracy" else np.int32)
                       for f, v in zip(Budget._fields, budget)))
    outs = []
    for start in range(0, n, self.batch):
      stop = min(start + self.batch, n)

      def pad(a):  # the runs start..stop, padded to a batch, dealt out to the devices
        a = np.asarray(a)[start:stop]
        return np.concatenate([a, np.repeat(a[:1], self.batch - (stop - start), 0)])[self._dealt]

      active = (np.arange(self.batch) < stop - start)[self._dealt]
      chunk = jax.tree.map(pad, genomes)
      tables = schedule_tables(chunk, pad(lrs), scalars, length=self.max_steps, spec=self.spec)
      orders = batch_orders(pad(keys), self.task.train.num_examples, self.task.batch_size, budget.steps,
                            self.max_steps)
      out = self._fn(jax.tree.map(lambda a: self._put(a, self._sharded), chunk), self._put(pad(keys), self._sharded),
                     jax.tree.map(lambda a: self._put(np.asarray(a), self._sharded), tables),
                     self._put(orders, self._sharded), self._put(active, self._sharded), scalars,
                     np.asarray(bool(validate)), self._data)
      outs.append([np.asarray(o)[self._undealt][: stop - start] for o in out])
    return Outcome(*(np.concatenate(parts) for parts in zip(*outs)))

  @property
  def compiled_programs(self) -> int:
    """Programs compiled so far (one per distinct call signature: 1 when every call reused it)."""
    return self._fn._cache_size()
