"""How often ``random_genome`` makes each choice, against the probabilities of its search space (the authors'
``OptimizerChrom.setup`` as ``GenomeSpec`` states them): binomial and χ² tests on 600 genomes (fixed seeds, so the
test is deterministic), each at p < 1e-4 so that only a wrong probability fails it.

Only choices that the cycle rejection of the hidden graph cannot bias are counted: the root's kind and inputs, the
ops of live nodes, the decays of the root's edges, the momentum type and the schedule."""

import numpy as np
import pytest
from scipy import stats

import optix_evo.graph as G

SPEC = G.DEFAULT_SPEC
ROOT = SPEC.num_hidden
N = 600
P_MIN = 1e-4


@pytest.fixture(scope="module")
def genomes():
  return [G.random_genome(seed) for seed in range(N)]


def _binomial(successes, trials, p):
  result = stats.binomtest(int(successes), int(trials), p)
  assert result.pvalue > P_MIN, (successes, trials, p, result.pvalue)


def _uniform(values, categories):
  counts = np.bincount(np.asarray(values), minlength=len(categories))[list(categories)]
  assert counts.sum() == len(values), "a value outside the categories"
  assert stats.chisquare(counts).pvalue > P_MIN, counts


def test_the_root_is_unary_with_root_unary_prob(genomes):
  _binomial(sum(g.kind[ROOT] == G.UNARY for g in genomes), N, SPEC.root_unary_prob)


def _active(genomes, kind):
  return [(g, i) for g in genomes for i in np.flatnonzero(G.active_nodes(g)) if g.kind[i] == kind]


def test_a_unary_node_is_the_identity_with_identity_prob_else_a_uniform_op(genomes):
  """Over the live unary nodes (ops are drawn after the graph, so liveness does not bias them)."""
  ops = [int(g.unary[i]) for g, i in _active(genomes, G.UNARY)]
  assert len(ops) > 700
  _binomial(sum(op == 0 for op in ops), len(ops), SPEC.identity_prob)
  _uniform([op for op in ops if op != 0], range(1, len(SPEC.unary)))


def test_a_binary_root_has_a_uniform_op_and_reads_an_operand_first_with_operand_input_prob(genomes):
  binary = [g for g in genomes if g.kind[ROOT] == G.BINARY]
  _uniform([int(g.binary[i]) for g, i in _active(genomes, G.BINARY)], range(len(SPEC.binary)))
  _binomial(sum(g.inputs[ROOT, 0] < SPEC.num_operands for g in binary), len(binary), SPEC.operand_input_prob)
  assert all(g.inputs[ROOT, 1] >= SPEC.num_operands or g.inputs[ROOT, 0] >= SPEC.num_operands for g in binary)


def test_root_edges_get_a_decay_with_their_probabilities(genomes):
  unary = [g for g in genomes if g.kind[ROOT] == G.UNARY]
  _binomial(sum(g.decay_on[ROOT, 0] for g in unary), len(unary), SPEC.root_unary_decay_prob)
  binary_slots = [g.decay_on[ROOT, s] for g in genomes if g.kind[ROOT] == G.BINARY for s in (0, 1)]
  _binomial(sum(binary_slots), len(binary_slots), SPEC.decay_prob)


def test_decay_nodes_are_unary_with_decay_unary_prob(genomes):
  kinds = [g.decay_kind[ROOT, s, 1] for g in genomes for s in (0, 1) if g.decay_on[ROOT, s]]
  _binomial(sum(k == G.UNARY for k in kinds), len(kinds), SPEC.decay_unary_prob)


def test_momentum_is_uniform_and_a_schedule_is_drawn_with_schedule_prob(genomes):
  _uniform([int(g.momentum) for g in genomes], range(len(SPEC.momentum_types)))
  schedules = [int(g.schedule) for g in genomes]
  _binomial(sum(s != 0 for s in schedules), N, SPEC.schedule_prob)
  drawn = [s for s in schedules if s != 0]
  assert set(drawn) <= set(range(1, len(SPEC.schedules)))
  _uniform(drawn, range(1, len(SPEC.schedules)))
