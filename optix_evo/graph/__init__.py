"""Evolved optimizers as data (NOS search space, Morgan & Hougen 2024): genomes, one-compile interpreter, renderer.

API summary::

  spec = GenomeSpec()                        # search space: op tables (ops.py), 5 hidden nodes, probabilities
  g = known("adam")                          # Genome: NamedTuple of int32 arrays; population = leading axis
  g = random_genome(key, spec); g = mutate(key, g, spec)      # host-side (NumPy), NOS init / mutation rules
  opt = interpret(g, learning_rate=1e-3, spec=spec, total_steps=T)   # optax.GradientTransformation, traceable in g
  is_finite(opt_state)                       # False once a non-finite update was produced (score it worst)
  res = check_integrity(population, spec)    # res.passed [P], res.reason [P] -> REASONS, res.genomes (flip set)
  render(g), render(g, latex=True), to_python(g)   # equation text / LaTeX; standalone optax code
  to_json(g) / from_json(d)                  # by op names; canonical(g), canonical_hash(g) for duplicates
  stack([...]) / unstack(pop)                # population <-> list of genomes

``total_steps`` (the horizon T of decay functions and LR schedules) is an argument of :func:`interpret`; ``None``
turns decays and schedules off.
"""

from optix_evo.graph.analysis import active_nodes, active_operands
from optix_evo.graph.canonical import canonical, canonical_hash, canonical_string
from optix_evo.graph.decays import decay_factor, decay_values, nos_learning_rate, nos_momentum, schedule_factor
from optix_evo.graph.genome import BINARY, UNARY, Genome, stack, unstack
from optix_evo.graph.integrity import REASONS, IntegrityResult, check_integrity, gradient_operands
from optix_evo.graph.interpreter import GenomeState, interpret, is_finite
from optix_evo.graph.mutation import mutate
from optix_evo.graph.sampling import random_genome
from optix_evo.graph.serialization import from_json, to_json
from optix_evo.graph.spec import DEFAULT_SPEC, GenomeSpec
from optix_evo.graph.known import KNOWN, known
from optix_evo.graph.render import render, to_python

__all__ = [
    "BINARY", "DEFAULT_SPEC", "UNARY", "Genome", "GenomeSpec", "GenomeState", "IntegrityResult", "KNOWN", "REASONS",
    "active_nodes", "active_operands", "canonical", "canonical_hash", "canonical_string", "check_integrity",
    "decay_factor", "decay_values", "from_json", "gradient_operands", "interpret", "is_finite", "known", "mutate",
    "nos_learning_rate", "nos_momentum", "random_genome", "render", "schedule_factor", "stack", "to_json", "to_python", "unstack",
]
