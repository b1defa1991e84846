"""Evolved optimizers as data (NOS search space, Morgan & Hougen 2024): genomes, one-compile interpreter, renderer.

API summary::

  spec = get_space("nos")                    # the paper's search space; "extended" (DEFAULT_SPEC) adds to it
  g = known("adam")                          # Genome: NamedTuple of int32 arrays; population = leading axis
  interpret(known("nos_opt9"), **known_defaults("nos_opt9", 1e-2, T))   # the authors' Opt9, schedules included
  g = random_genome(key, spec); g = mutate(key, g, spec)      # host-side (NumPy), NOS init / mutation rules
  opt = interpret(g, learning_rate=1e-3, spec=spec, total_steps=T)   # optax.GradientTransformation, traceable in g
  is_finite(opt_state)                       # False once a non-finite update was produced (score it worst)
  res = check_integrity(population, spec)    # res.passed [P], res.reason [P] -> REASONS, res.genomes (flip set)
  render(g), render(g, latex=True), to_python(g)   # equation text / LaTeX; standalone optax code
  to_json(g, spec) / from_json(d)            # by op names, the space recorded; canonical(g), canonical_hash(g)
  convert(g, from_spec, to_spec)             # the same optimizer in another space (by names)
  validate_genome(g, spec)                   # InputError naming each fault (interpret checks concrete genomes)
  stack([...]) / unstack(pop)                # population <-> list of genomes

``total_steps`` (the horizon T of decay functions and LR schedules) is an argument of :func:`interpret`; ``None``
turns decays and schedules off.

References:
  Morgan & Hougen, `Neural Optimizer Equation, Decay Function, and Learning Rate Schedule Joint Evolution
  <https://arxiv.org/abs/2404.06679>`_, 2024; the authors' code: https://github.com/OUStudent/NeuralOptimizerSearch
"""

from optix_evo.graph.analysis import active_nodes, active_operands
from optix_evo.graph.canonical import canonical, canonical_hash, canonical_string
from optix_evo.graph.decays import (
    decay_factor, decay_values, nos_learning_rate, nos_momentum, schedule_factor, schedule_value, step_factors,
)
from optix_evo.graph.genome import BINARY, UNARY, Genome, stack, unstack
from optix_evo.graph.integrity import REASONS, IntegrityResult, check_integrity, gradient_operands
from optix_evo.graph.interpreter import GenomeState, interpret, is_finite
from optix_evo.graph.mutation import mutate
from optix_evo.graph.sampling import random_genome
from optix_evo.graph.simplify import simplify
from optix_evo.graph.serialization import convert, from_json, space_of, to_json
from optix_evo.graph.spec import DEFAULT_SPEC, EXTENDED_SPEC, NOS_SPEC, SPACES, GenomeSpec, get_space
from optix_evo.graph.validation import genome_faults, validate_genome
from optix_evo.graph.known import KNOWN, VARIANTS, known, known_defaults
from optix_evo.graph.render import render, to_python

__all__ = [
    "BINARY", "DEFAULT_SPEC", "EXTENDED_SPEC", "NOS_SPEC", "SPACES", "UNARY", "VARIANTS", "Genome", "GenomeSpec",
    "GenomeState", "IntegrityResult", "KNOWN", "REASONS", "active_nodes", "active_operands", "canonical",
    "canonical_hash", "canonical_string", "check_integrity", "convert", "decay_factor", "decay_values", "from_json",
    "genome_faults", "get_space", "gradient_operands", "interpret", "is_finite", "known", "known_defaults", "mutate",
    "nos_learning_rate", "nos_momentum", "random_genome", "render", "schedule_factor", "simplify", "step_factors",
    "schedule_value",
    "space_of", "stack", "to_json", "to_python", "unstack", "validate_genome",
]
