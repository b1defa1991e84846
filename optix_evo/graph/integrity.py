"""The integrity check of NOS (Morgan & Hougen 2024), over a whole population: cheap rejection of degenerate
genomes before any network is trained.

Structural checks run on the host over the genome arrays; the numeric checks run every genome of the population in
one jitted program (a ``lax.map`` over genomes and runs, each genome interpreted with ``strategy="switch"``, which
compiles faster than vectorising every op): (1) probe updates on random gradients must be finite, bounded, non-zero
and must change with the gradient; (2) the paper's descent test: 35 steps on a 5-d quadratic with the warmup-cosine
schedule and the momentum cycle must halve the loss for one of the learning rates {1, ..., 1e-5}, possibly with the
update sign flipped (the returned genomes carry the flip bit that passed).

A space with ``rules="nos"`` (:data:`~optix_evo.graph.NOS_SPEC`) gets the authors' check instead: the structural
checks that their graphs cannot fail (malformed indices) and duplicates, then the descent test alone, with the loss
read before the 35th update as their ``sphere()`` does, and the flip set only when the unflipped update fails.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024 (the integrity check and its quadratic); the authors' code,
  https://github.com/OUStudent/NeuralOptimizerSearch
"""

from __future__ import annotations

import ast
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optix_evo.graph.analysis import active_operands
from optix_evo.graph.canonical import canonical_hash
from optix_evo.graph.decays import nos_learning_rate, nos_momentum
from optix_evo.graph.genome import BINARY, Genome, unstack
from optix_evo.graph.interpreter import interpret
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec

REASONS: tuple[str, ...] = (
    "ok",
    "malformed",  # an index outside its table, or a node reading a later node
    "no_gradient",  # no active operand depends on the gradient
    "duplicate",  # same canonical hash as an earlier genome (in the population or in `seen`)
    "nonfinite",  # a probe update was NaN or inf
    "exploding",  # a probe update exceeded `max_update`
    "zero",  # every probe update was 0
    "constant",  # the probe updates did not change with the gradient
    "no_descent",  # the 5-d quadratic was not halved for any learning rate, with either update sign
)

QUADRATIC_X0 = (1.1, 0.9, 1.1, 0.9, 1.0)
QUADRATIC_B = (0.5, 1.5, -0.3, -1.2, 0.75)
DESCENT_LRS = (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


class IntegrityResult(NamedTuple):
  """What :func:`check_integrity` found, one entry per genome.

  Attributes:
    passed: bool, ``[P]`` (``[]`` for a single genome).
    reason: int32 indices into :data:`REASONS` (0, ``"ok"``, where passed); the first failed check.
    genomes: the input with the flip bit that passed the descent test (unchanged where the genome failed).

  Examples:
    >>> import numpy as np
    >>> import optix_evo as ox
    >>> result = ox.graph.IntegrityResult(np.array([True, False]), np.array([0, 3]), None)
    >>> print(result.reason_names())
    ['ok', 'duplicate']
  """

  passed: np.ndarray
  reason: np.ndarray
  genomes: Genome

  def reason_names(self) -> list[str]:
    """The names (:data:`REASONS`) of :attr:`reason`, one per genome."""
    return [REASONS[int(r)] for r in np.ravel(self.reason)]


def _names(expr: str) -> set[str]:
  return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def gradient_operands(spec: GenomeSpec = DEFAULT_SPEC) -> np.ndarray:
  """Mask of the operands whose value depends on the gradient (they read ``g`` or a moment buffer).

  A genome none of whose active operands is in this mask cannot react to the loss: the check rejects it as
  ``"no_gradient"``.

  Args:
    spec: the search space.

  Returns:
    A bool NumPy array of shape ``[spec.num_operands]``.

  Examples:
    >>> import optix_evo as ox
    >>> mask = ox.graph.gradient_operands(ox.graph.NOS_SPEC)
    >>> print(int(mask.sum()), "of", mask.size, "operands read the gradient")
    16 of 20 operands read the gradient
  """
  bufs = {b.name for b in spec.buffers} | {f"{b.name}_prev" for b in spec.buffers}
  return np.array([bool(_names(o.expr) & ({"g"} | bufs)) for o in spec.operands])


def _malformed(g: Genome, spec: GenomeSpec) -> np.ndarray:
  n_op, h = spec.num_operands, spec.num_hidden
  kind, inputs = np.asarray(g.kind), np.asarray(g.inputs)
  limit = n_op + np.minimum(np.arange(spec.num_nodes), h)  # node i reads vertices < limit[i]
  used = np.stack([np.ones_like(kind, bool), kind == BINARY], -1)
  bad = np.any(used & ((inputs < 0) | (inputs >= limit[:, None])), axis=(-1, -2))
  bad |= np.any((kind < 0) | (kind > 1), -1)
  for field, size in (("unary", len(spec.unary)), ("binary", len(spec.binary))):
    x = np.asarray(getattr(g, field))
    bad |= np.any((x < 0) | (x >= size), -1)
  for field, size in (("decay_unary", len(spec.decay_unary)), ("decay_binary", len(spec.decay_binary)),
                      ("decay_inputs", len(spec.decay_operands) + 1)):
    x = np.asarray(getattr(g, field)).reshape(kind.shape[0], -1)
    bad |= np.any((x < 0) | (x >= size), -1)
  for field, size in (("momentum", len(spec.momentum_types)), ("schedule", len(spec.schedules)), ("flip", 2)):
    x = np.asarray(getattr(g, field))
    bad |= (x < 0) | (x >= size)
  return bad


@functools.cache
def _numeric_fn(spec: GenomeSpec, steps: int, warmup: int):
  """Jitted ``(population, count, key) -> (finite, max|u|, max|u1-u2|, quadratic losses after the last update
  [P, flip, lr], quadratic losses before the last update [P, flip, lr])`` for the first ``count`` genomes of the
  (padded) population; the entries after them are zeros.

  Every run (two random-gradient probes at learning rate 1, and the descent test for each flip and learning rate)
  is the same 5-d program, mapped over runs, in a loop over the first ``count`` genomes (a traced bound: one
  compilation for every count, and padding costs nothing), so the interpreter is compiled once.
  """
  x0, b = jnp.asarray(QUADRATIC_X0), jnp.asarray(QUADRATIC_B)
  lrs = jnp.asarray(DESCENT_LRS)
  n_lr = len(DESCENT_LRS)

  def run(genome, flip, peak, noise):  # noise: [steps, 5] probe gradients, or NaN for the quadratic
    opt = interpret(genome._replace(flip=flip), nos_learning_rate(peak, steps, warmup), spec=spec,
                    total_steps=steps, momentum=nos_momentum(steps, warmup), strategy="switch")
    probe = jnp.all(jnp.isfinite(noise))

    def step(carry, g_noise):
      x, state = carry
      g = jnp.where(probe, g_noise, 2 * (x - b))
      u, state = opt.update(g, state, x)
      return (jnp.where(probe, x, x + u), state), (u, jnp.sum((x - b) ** 2))

    (x, state), (us, before) = jax.lax.scan(step, (x0, opt.init(x0)), noise)
    finite = lambda v: jnp.where(jnp.isfinite(v), v, jnp.inf)  # noqa: E731
    return finite(jnp.sum((x - b) ** 2)), finite(before[-1]), us, state.finite

  def numeric(pop, count, key):
    probes = jax.random.normal(key, (2, steps, 5))
    flips = jnp.concatenate([jnp.zeros(n_lr + 2, jnp.int32), jnp.ones(n_lr, jnp.int32)])
    peaks = jnp.concatenate([lrs, jnp.ones(2), lrs])
    noise = jnp.concatenate([jnp.full((n_lr, steps, 5), jnp.nan), probes, jnp.full((n_lr, steps, 5), jnp.nan)])

    def per_genome(genome):
      flip = jnp.where(flips == 1, 1 - genome.flip, genome.flip)
      loss, before, us, finite = jax.lax.map(lambda a: run(genome, *a), (flip, peaks, noise))
      probe_us, probe_finite = us[n_lr:n_lr + 2], finite[n_lr:n_lr + 2]
      ok = jnp.all(probe_finite) & jnp.all(jnp.isfinite(probe_us))
      losses = jnp.stack([loss[:n_lr], loss[n_lr + 2:]])  # [as is / flipped, lr]
      losses_before = jnp.stack([before[:n_lr], before[n_lr + 2:]])
      return ok, jnp.max(jnp.abs(probe_us)), jnp.max(jnp.abs(probe_us[0] - probe_us[1])), losses, losses_before

    size = pop.kind.shape[0]
    out = (jnp.zeros(size, bool), jnp.zeros(size), jnp.zeros(size), jnp.zeros((size, 2, n_lr)),
           jnp.zeros((size, 2, n_lr)))

    def body(i, out):
      values = per_genome(jax.tree.map(lambda x: x[i], pop))
      return jax.tree.map(lambda o, v: o.at[i].set(v), out, values)

    return jax.lax.fori_loop(0, count, body, out)

  return jax.jit(numeric)


def numeric_checks(genomes: Genome, todo: np.ndarray, spec: GenomeSpec, key: jax.Array, steps: int = 35,
                   warmup: int = 6, chunk_size: int = 64) -> tuple[np.ndarray, ...]:
  """``(finite, max|u|, max|u1-u2|, losses [P, flip, lr], losses before the last update [P, flip, lr])``: the
  numeric checks of the genomes ``todo`` (indices into the population ``genomes``), in chunks of ``chunk_size``
  padded to one shape (one compiled program per space, ``steps`` and ``warmup``, shared with
  :func:`~optix_evo.graph.fingerprint.behaviour_fingerprints`); the others get values that fail no check."""
  size, n_lr = genomes.kind.shape[0], len(DESCENT_LRS)
  finite, biggest, change = np.ones(size, bool), np.ones(size, np.float32), np.ones(size, np.float32)
  losses, losses_before = np.zeros((size, 2, n_lr), np.float32), np.zeros((size, 2, n_lr), np.float32)
  numeric = _numeric_fn(spec, steps, warmup)
  for start in range(0, len(todo), chunk_size):
    rows = todo[start:start + chunk_size]
    padded = np.concatenate([rows, np.repeat(rows[:1], chunk_size - len(rows))])
    out = numeric(Genome(*(jnp.asarray(np.asarray(x)[padded]) for x in genomes)), len(rows), key)
    for full, part in zip((finite, biggest, change, losses, losses_before), out):
      full[rows] = np.asarray(part)[:len(rows)]
  return finite, biggest, change, losses, losses_before


def check_integrity(
    genomes: Genome,
    spec: GenomeSpec = DEFAULT_SPEC,
    *,
    seen: set[str] | frozenset[str] = frozenset(),
    key: jax.Array | int = 0,
    max_update: float = 1e6,
    descent: bool = True,
    steps: int = 35,
    warmup: int = 6,
    descent_loss: float = 3.5,
    chunk_size: int = 64,
) -> IntegrityResult:
  """Checks a genome or a population (leading axis) and says why each one is rejected.

  Args:
    genomes: one :class:`Genome` or a population.
    spec: the search space.
    seen: canonical hashes already evaluated (e.g. a particle's history): genomes with these hashes are duplicates.
    key: PRNG key (or seed) of the probe gradients.
    max_update: bound on the probe updates (random unit gradients, peak learning rate 1).
    descent: apply the paper's descent test (Morgan & Hougen 2024, `arXiv:2404.06679
      <https://arxiv.org/abs/2404.06679>`_; the integrity check of ``NeuralOptimizerSearch.py``,
      https://github.com/OUStudent/NeuralOptimizerSearch): the loss must fall below ``descent_loss`` (initial
      loss 7.15) for some learning rate, with the update as is or flipped.
    steps: the length of every probe / descent run (NOS: 35, warmup-cosine schedule).
    warmup: the warmup steps of those runs (NOS: 6).
    descent_loss: the loss the quadratic must fall below (about half of its initial 7.15).
    chunk_size: genomes per call (padded to this size: one compilation for all sizes; the padding does not run).

  Returns:
    :class:`IntegrityResult`; arrays have one entry per genome (shape ``[]`` for a single genome).

  Examples:
    The numeric checks compile one program (about ten seconds on a CPU), so this example is not run as a doctest;
    ``tests/graph`` runs it.

    >>> import optix_evo as ox
    >>> g = ox.graph
    >>> result = g.check_integrity(g.stack([g.known("sgd"), g.known("adam"), g.known("sgd")]))  # doctest: +SKIP
    >>> print(result.passed, result.reason_names())  # doctest: +SKIP
    [ True  True False] ['ok', 'ok', 'duplicate']
  """
  single = np.ndim(genomes.kind) == 1
  pop = Genome(*(np.asarray(x, np.int32)[None] if single else np.asarray(x, np.int32) for x in genomes))
  size = pop.kind.shape[0]
  reason = np.zeros(size, np.int32)

  def mark(mask, name):
    reason[(reason == 0) & mask] = REASONS.index(name)

  malformed = _malformed(pop, spec)
  mark(malformed, "malformed")
  safe = Genome(*(np.where(malformed.reshape((-1,) + (1,) * (np.ndim(x) - 1)), 0, x) for x in pop))
  if spec.rules != "nos":
    mark(~np.any(active_operands(safe, spec) & gradient_operands(spec), -1), "no_gradient")
  hashes = [canonical_hash(g, spec) if not bad else "" for g, bad in zip(unstack(safe), malformed)]
  known = set(seen)
  for i, h in enumerate(hashes):
    if h in known:
      mark(np.arange(size) == i, "duplicate")
    known.add(h)

  key = jax.random.PRNGKey(key) if isinstance(key, int) else key
  finite, biggest, change, losses, losses_before = numeric_checks(safe, np.flatnonzero(reason == 0), spec, key,
                                                                  steps, warmup, chunk_size)
  flip = np.asarray(safe.flip).copy()
  if spec.rules == "nos":
    # The authors' degenerate_opt_detection: the descent test alone (a non-finite loss fails it), the loss read when
    # the 35th gradient is taken, i.e. before the 35th update (sphere(), L1389-1396); unflipped first, and a passing
    # unflipped run leaves the inherited flip as it is (check_integrity only ever sets flip).
    if descent:
      ok = (losses_before < descent_loss).any(-1)  # [P, as is / flipped]
      unflipped = np.where(flip == 0, ok[:, 0], ok[:, 1])
      flipped = np.where(flip == 0, ok[:, 1], ok[:, 0])
      mark(~unflipped & ~flipped, "no_descent")
      flip = np.where(~unflipped & flipped & (reason == 0), 1, flip)
  else:
    mark(~finite, "nonfinite")
    mark(biggest > max_update, "exploding")
    mark(biggest == 0, "zero")
    mark(change == 0, "constant")
    if descent:
      ok = losses < descent_loss  # [P, as is / flipped, lr]
      as_is, flipped = ok[:, 0].any(-1), ok[:, 1].any(-1)
      mark(~as_is & ~flipped, "no_descent")
      flip = np.where(~as_is & flipped & (reason == 0), 1 - flip, flip)
  out = pop._replace(flip=flip.astype(np.int32))
  passed = reason == 0
  if single:
    return IntegrityResult(passed[0], reason[0], Genome(*(x[0] for x in out)))
  return IntegrityResult(passed, reason, out)
