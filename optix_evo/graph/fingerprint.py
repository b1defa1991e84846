"""Behavioural fingerprints: two genomes that update the same way on a fixed set of probe gradient sequences are the
same optimizer for the search's purposes, even when their graphs (and canonical hashes) differ.

The fingerprint is what the integrity check (:mod:`optix_evo.graph.integrity`) already computes for every genome, with
a fixed probe key: the largest probe update and update change on two fixed random gradient sequences, and the final
loss of the 5-d quadratic after 35 steps at each of six learning rates, as is and sign-flipped. These fourteen numbers,
rounded to ``digits`` significant digits, are hashed. The program is the integrity check's own (same shapes), so it
costs no extra compilation in a search.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024 (the integrity check's probes and quadratic).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import jax
import numpy as np

from optix_evo.graph.genome import Genome
from optix_evo.graph.integrity import numeric_checks
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec

__all__ = ["PROBE_KEY", "behaviour_fingerprints", "distinct_behaviour"]

PROBE_KEY = 0
"""Seed of the fixed probe gradient sequences."""


def _round(values: np.ndarray, digits: int) -> np.ndarray:
  values = np.asarray(values, np.float64)
  finite = np.isfinite(values)
  safe = np.where(finite & (values != 0), np.abs(values), 1.0)
  scale = 10.0 ** (digits - 1 - np.floor(np.log10(safe)))
  return np.where(finite, np.round(values * scale) / scale, values)


def behaviour_fingerprints(genomes: Sequence[Genome], spec: GenomeSpec = DEFAULT_SPEC, *, digits: int = 6) -> list[str]:
  """The behavioural fingerprint of each genome: a short hex digest of its updates on the fixed probes.

  Args:
    genomes: well-formed genomes of ``spec`` (e.g. candidates that passed the integrity check).
    spec: their search space.
    digits: significant digits kept before hashing (float noise below them does not split one behaviour in two).

  Returns:
    One 16-hex-digit string per genome; equal strings mean equal behaviour on the probes.

  Examples:
    The probes run the integrity check's compiled program (about ten seconds to compile on a CPU), so this example is
    not run as a doctest; ``tests/graph/test_fingerprint.py`` runs it.

    >>> import optix_evo as ox
    >>> from optix_evo.graph.fingerprint import behaviour_fingerprints
    >>> a, b = behaviour_fingerprints([ox.graph.known("adam"), ox.graph.known("sgd")])  # doctest: +SKIP
    >>> print(a != b)  # doctest: +SKIP
    True
  """
  if not genomes:
    return []
  pop = Genome(*(np.stack([np.asarray(getattr(g, f), np.int32) for g in genomes]) for f in Genome._fields))
  _, biggest, change, losses, _ = numeric_checks(pop, np.arange(len(genomes)), spec, jax.random.PRNGKey(PROBE_KEY))
  out = []
  for i in range(len(genomes)):
    numbers = _round(np.concatenate([[biggest[i], change[i]], np.ravel(losses[i])]), digits)
    out.append(hashlib.sha256(numbers.tobytes()).hexdigest()[:16])
  return out


def distinct_behaviour(genomes: Sequence[Genome], spec: GenomeSpec = DEFAULT_SPEC) -> list[int]:
  """Indices of the first genome of each behaviour (:func:`behaviour_fingerprints`), in order: the later genomes
  that behave like an earlier one are dropped."""
  seen, keep = set(), []
  for i, fp in enumerate(behaviour_fingerprints(genomes, spec)):
    if fp not in seen:
      seen.add(fp)
      keep.append(i)
  return keep
