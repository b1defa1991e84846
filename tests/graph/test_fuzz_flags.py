"""The interpreter's divergence flag on the fuzz of random and mutated genomes (README: "10,000 random and mutated
genomes: no exceptions, 0 divergence-flag mismatches"): the flag must be False exactly for the genomes whose updates
went non-finite. The full size runs in the slow suite; a small fuzz in the default suite."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optix_evo.graph as G

STEPS = 10


def _genomes(n: int) -> list:
  """Half random genomes, half mutants of the previous one (the benchmark's seeds)."""
  out = []
  for i in range(n):
    out.append(G.random_genome(100_000 + i) if i % 2 == 0 else G.mutate(200_000 + i, out[-1]))
  return out


@jax.jit
def _flag_and_truth(population, key):
  """Per genome: the interpreter's flag after STEPS steps on large random gradients, and whether every update was
  finite."""

  def member(genome):
    w = jax.random.normal(key, (32,))
    opt = G.interpret(genome, 0.1, total_steps=STEPS)

    def step(state, grad):
      updates, state = opt.update(grad, state, w)
      return state, jnp.all(jnp.isfinite(updates))

    state, finite = jax.lax.scan(step, opt.init(w), 10 * jax.random.normal(key, (STEPS, 32)))
    return G.is_finite(state), jnp.all(finite)

  return jax.vmap(member)(population)


def _fuzz(n: int, chunk: int, integrity: bool = True) -> tuple[int, int]:
  """(flag mismatches, genomes with non-finite updates) over n genomes, in chunks of one compiled shape; with
  ``integrity`` the whole population also goes through ``check_integrity`` (no exceptions)."""
  genomes = _genomes(n)
  mismatches = nonfinite = 0
  for start in range(0, n, chunk):
    part = genomes[start:start + chunk]
    size = len(part)
    flag, truth = (np.asarray(x)[:size] for x in _flag_and_truth(G.stack(part + part[:1] * (chunk - size)),
                                                                  jax.random.key(start)))
    mismatches += int(np.sum(flag != truth))
    nonfinite += int(np.sum(~truth))
  if integrity:
    assert G.check_integrity(G.stack(genomes)).passed.shape == (n,)
  return mismatches, nonfinite


def test_fuzz_flags_small():
  mismatches, _ = _fuzz(64, 64, integrity=False)  # test_integrity.py's small fuzz covers check_integrity
  assert mismatches == 0


@pytest.mark.slow
def test_fuzz_flags_10k():
  mismatches, nonfinite = _fuzz(10_000, 256)
  assert mismatches == 0
  assert nonfinite > 100  # the fuzz does reach diverging genomes (283 of 10,000 when this was written)
