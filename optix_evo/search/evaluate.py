"""Scoring a whole generation of candidate optimizers as ONE jitted, sharded program.

Protocol (NOS, Morgan & Hougen 2024, §5.2 of ``shared/design/nos.md``): each candidate trains a fresh network with
the warmup → cosine base schedule; its peak learning rate is chosen from a grid by short *probe* runs (one per grid
value, scored by the probe's final training accuracy), then a full run with the chosen rate gives the fitness, the
validation accuracy. A candidate whose loss, parameters or validation score turn non-finite is *divergent* and scored
:data:`WORST`; mapping or vmapping keeps every candidate's arithmetic separate, so a divergent member never touches
the others.

Program layout: the population is padded to a fixed ``batch`` (so successive generations reuse one compilation),
split over all devices along a ``"pop"`` mesh axis with ``shard_map`` (also across processes after
``jax.distributed.initialize``). Each device then loops over its share (the *population loop*):

* ``"map"`` (``"auto"`` on CPU): ``lax.map`` trains one candidate after the other and genomes are interpreted with
  ``strategy="switch"``, so each candidate computes only the ops it uses (the fastest layout on CPU, see
  ``benchmarks/results/interpreter.md`` and ``search_throughput.md``);
* ``"vmap"`` (``"auto"`` on GPU/TPU, which are launch-bound): ``chunk_size`` candidates at a time are vmapped
  (``lax.map`` over vmapped chunks bounds memory) and interpreted with ``strategy="select"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from optix_evo.graph import GenomeState, is_finite, nos_learning_rate
from optix_evo.search.tasks import Task
from optix_evo.training import evaluate, fit

WORST = -1.0
"""Fitness of divergent candidates (validation accuracy is always >= 0)."""

# build(candidate, learning_rate_schedule, protocol) -> optimizer; ``candidate`` is one member of the population
# pytree (a genome, or a dummy for fixed baselines).
Builder = Callable[[Any, optax.Schedule, "Protocol"], optax.GradientTransformation]

POPULATION_LOOPS = ("auto", "map", "vmap")
"""How each device loops over its candidates (see the module docstring); ``"auto"``: ``map`` on CPU, else ``vmap``."""


def resolve_population_loop(loop: str, platform: str) -> str:
  """``"map"`` or ``"vmap"`` for ``loop`` on a device ``platform`` (``"cpu"``, ``"gpu"``, ``"tpu"``, ...)."""
  if loop not in POPULATION_LOOPS:
    raise ValueError(f"Unknown population_loop {loop!r}. Known loops: {', '.join(POPULATION_LOOPS)} "
                     "(auto = map on CPU, vmap on GPU/TPU).")
  if loop == "auto":
    return "map" if platform == "cpu" else "vmap"
  return loop


@dataclasses.dataclass(frozen=True)
class Protocol:
  """How long and how a candidate is trained (one surrogate / elimination stage).

  Attributes:
    steps: training steps of the full run (the schedule's total ``T``).
    probe_steps: steps of each learning-rate probe (0: no probes, use ``lr_grid[0]``).
    lr_grid: peak learning rates tried by the probes (NOS: ``10, 1, ..., 1e-5``).
    warmup_steps: linear warmup of the base schedule (NOS: 800 of 8000; default = ``probe_steps``).
    eval_chunk: validation examples per chunk in the final evaluation (memory bound; ``None`` = all at once).
    strategy: how genome builders interpret a traced genome (``optix_evo.graph.interpret``): ``"switch"`` or
      ``"select"``; :class:`Evaluator` sets it to match its population loop.
  """

  steps: int
  probe_steps: int = 0
  lr_grid: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
  warmup_steps: int | None = None
  eval_chunk: int | None = 512
  strategy: str = "switch"

  def __post_init__(self):
    if self.steps <= 0:
      raise ValueError(f"steps must be positive, got {self.steps}.")
    if not 0 <= self.probe_steps <= self.steps:
      raise ValueError(f"probe_steps={self.probe_steps} must be in [0, steps={self.steps}].")
    if not self.lr_grid or any(not lr > 0 for lr in self.lr_grid):
      raise ValueError(f"lr_grid must be a non-empty tuple of positive learning rates, got {self.lr_grid}.")
    if self.warmup_steps is not None and not 0 <= self.warmup_steps < self.steps:
      raise ValueError(f"warmup_steps={self.warmup_steps} must be in [0, steps={self.steps}).")
    if self.strategy not in ("switch", "select"):
      raise ValueError(f"strategy must be 'switch' or 'select', got {self.strategy!r}.")

  @property
  def warmup(self) -> int:
    return self.probe_steps if self.warmup_steps is None else self.warmup_steps


class Scores(NamedTuple):
  """Per-candidate outcome of one evaluation (arrays with the population's leading axis)."""

  fitness: np.ndarray  # validation accuracy, WORST when divergent
  learning_rate: np.ndarray  # peak learning rate picked by the probes
  diverged: np.ndarray  # bool


def _all_finite(tree: chex.ArrayTree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def candidate_score(task: Task, build: Builder, protocol: Protocol, candidate: Any, key: jax.Array, data: dict):
  """Fitness, index of the chosen learning rate in the grid and divergence flag of ONE candidate (pure; mapped or
  vmapped over the population by :class:`Evaluator`)."""
  init_key, data_key, probe_key = jax.random.split(key, 3)
  params0 = task.init_params(init_key)
  train = type(task.split.train)(data["train_x"], data["train_y"])
  valid = type(task.split.valid)(data["valid_x"], data["valid_y"])
  grid = jnp.asarray(protocol.lr_grid, jnp.float32)

  def run(peak_lr, steps, batch_key):
    optimizer = build(candidate, nos_learning_rate(peak_lr, protocol.steps, protocol.warmup), protocol)
    return fit(task.loss_fn, params0, optimizer, train, batch_key, steps=steps, batch_size=task.batch_size)

  if protocol.probe_steps and len(protocol.lr_grid) > 1:
    def probe(peak_lr):
      res = run(peak_lr, protocol.probe_steps, probe_key)
      tail = max(protocol.probe_steps // 4, 1)
      acc = jnp.mean(res.metrics["accuracy"][-tail:])
      ok = _all_finite(res.loss) & _all_finite(res.params) & jnp.isfinite(acc)
      return jnp.where(ok, acc, -jnp.inf)

    lr_index = jnp.argmax(jax.vmap(probe)(grid))
  else:
    lr_index = jnp.asarray(0)
  res = run(grid[lr_index], protocol.steps, data_key)
  val = evaluate(task.loss_fn, res.params, valid, chunk_size=protocol.eval_chunk)["accuracy"]
  ok = _all_finite(res.loss) & _all_finite(res.params) & jnp.isfinite(val) & _state_finite(res.opt_state)
  return jnp.where(ok, val, WORST), lr_index, ~ok


def _state_finite(opt_state: Any) -> jax.Array:
  """The genome interpreter's non-finite flag when the state holds one (``optix_evo.graph.is_finite``), else True."""
  has_genome = any(isinstance(s, GenomeState) for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, GenomeState)))
  return is_finite(opt_state) if has_genome else jnp.asarray(True)


def population_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-d mesh named ``"pop"`` over ``devices`` (default: all devices of all processes)."""
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("pop",))


class Evaluator:
  """Scores populations of up to ``batch`` candidates with one compiled program.

  Args:
    task: what to train.
    build: ``build(candidate, schedule, protocol) -> optimizer``.
    protocol: training budget and learning-rate selection (its ``strategy`` is replaced to match ``population_loop``).
    batch: fixed number of candidates per call (smaller populations are padded; larger ones are split into calls).
    chunk_size: with the ``"vmap"`` loop, candidates trained at once on each device (``None``: the device's whole
      share); the ``"map"`` loop trains one at a time.
    mesh: the ``"pop"`` mesh (default :func:`population_mesh`).
    split: the split that gives the fitness: ``"valid"`` (search) or ``"test"`` (held-out transfer scores).
    population_loop: ``"auto"`` (``"map"`` on CPU, ``"vmap"`` on GPU/TPU), ``"map"`` or ``"vmap"``.
  """

  def __init__(self, task: Task, build: Builder, protocol: Protocol, *, batch: int, chunk_size: int | None = None,
               mesh: Mesh | None = None, split: str = "valid", population_loop: str = "auto"):
    if split not in ("valid", "test"):
      raise ValueError(f"split must be 'valid' or 'test', got {split!r}.")
    if batch <= 0:
      raise ValueError(f"batch must be positive, got {batch}.")
    if chunk_size is not None and chunk_size <= 0:
      raise ValueError(f"chunk_size must be positive or None, got {chunk_size}.")
    self.mesh = mesh or population_mesh()
    self.loop = resolve_population_loop(population_loop, self.mesh.devices.flat[0].platform)
    protocol = dataclasses.replace(protocol, strategy="switch" if self.loop == "map" else "select")
    self.task, self.protocol = task, protocol
    devices = self.mesh.devices.size
    per_device = math.ceil(batch / devices)
    self.chunk = 1 if self.loop == "map" else min(chunk_size or per_device, per_device)
    per_device = math.ceil(per_device / self.chunk) * self.chunk
    self.batch = per_device * devices
    n_chunks = per_device // self.chunk
    held_out = getattr(task.split, split)
    self._data = {"train_x": task.split.train.x, "train_y": task.split.train.y, "valid_x": held_out.x,
                  "valid_y": held_out.y}
    self._global_data = None
    replicated, sharded = NamedSharding(self.mesh, P()), NamedSharding(self.mesh, P("pop"))
    score = lambda cand, key, data: candidate_score(task, build, protocol, cand, key, data)

    def per_device_fn(cands, keys, data):
      if self.loop == "map":
        return jax.lax.map(lambda ck: score(ck[0], ck[1], data), (cands, keys))
      chunked = jax.tree.map(lambda a: a.reshape((n_chunks, self.chunk, *a.shape[1:])), (cands, keys))
      out = jax.lax.map(lambda ck: jax.vmap(score, in_axes=(0, 0, None))(ck[0], ck[1], data), chunked)
      return jax.tree.map(lambda a: a.reshape((-1, *a.shape[2:])), out)

    sharded_fn = jax.shard_map(per_device_fn, mesh=self.mesh, in_specs=(P("pop"), P("pop"), P()), out_specs=P("pop"),
                               check_vma=False)
    self._fn = jax.jit(sharded_fn, out_shardings=replicated)
    self._sharded, self._replicated = sharded, replicated

  def _put(self, host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

  def __call__(self, candidates: Any, keys: np.ndarray) -> Scores:
    """Scores ``candidates`` (a pytree with leading axis ``n``) with per-candidate PRNG ``keys`` (``uint32[n, 2]``)."""
    keys = np.asarray(keys)
    n = keys.shape[0]
    if jax.tree.leaves(candidates)[0].shape[0] != n:
      raise ValueError("candidates and keys must have the same leading size.")
    if self._global_data is None:
      self._global_data = {k: self._put(v, self._replicated) for k, v in self._data.items()}
    outs = []
    for start in range(0, n, self.batch):
      stop = min(start + self.batch, n)
      pad = lambda a: np.concatenate([a[start:stop], np.repeat(a[start:start + 1], self.batch - (stop - start), 0)])
      cands = jax.tree.map(lambda a: self._put(pad(np.asarray(a)), self._sharded), candidates)
      out = self._fn(cands, self._put(pad(keys), self._sharded), self._global_data)
      outs.append([np.asarray(o)[: stop - start] for o in out])
    fitness, lr_index, diverged = (np.concatenate(parts) for parts in zip(*outs))
    return Scores(fitness.astype(np.float64), np.asarray(self.protocol.lr_grid, np.float64)[lr_index], diverged.astype(bool))


BASELINES = ("adam", "adamw", "sgd")
"""optax optimizers the search and ``transfer`` compare against (SGD uses momentum 0.9)."""


def optax_builder(name: str) -> Builder:
  """A :data:`Builder` for a fixed optax baseline (the candidate is ignored), trained with the same protocol."""
  if name not in BASELINES:
    raise ValueError(f"Unknown baseline {name!r}. Known baselines: {', '.join(BASELINES)}.")
  hparams = {"momentum": 0.9} if name == "sgd" else {}

  def build(candidate, schedule, protocol):
    del candidate, protocol
    return getattr(optax, name)(schedule, **hparams)

  return build
