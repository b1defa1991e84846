"""Decisions of `optix_evo.graph.analysis`: which nodes and operands are live (reach the root), whether a decay root
reads its hidden node, and the topological relabelling. Checked against an independent depth-first walk from the
root on random ordered genomes and on planted ones. NumPy only: no compilation."""

import dataclasses

import numpy as np
import pytest

from optix_evo.graph.analysis import active_nodes, active_operands, decay_hidden_used, topological_order
from optix_evo.graph.genome import BINARY, UNARY, Genome, empty_genome, pack_decay
from optix_evo.graph.spec import EXTENDED_SPEC, NOS_SPEC

SPECS = [NOS_SPEC, dataclasses.replace(EXTENDED_SPEC, num_hidden=3)]


def _random_ordered(rng, spec):
  """Any kinds, every input an operand or an EARLIER hidden node (the root may read any hidden node); the unused
  second input of a unary node holds a random vertex too (it must not count)."""
  g = empty_genome(spec)
  n_op = spec.num_operands
  for i in range(spec.num_nodes):
    g.kind[i] = rng.integers(2)
    g.inputs[i] = rng.integers(n_op + i, size=2)
  return g


def _walk(g, spec):
  """Live nodes and operands by a depth-first walk from the root (the reference)."""
  n_op, nodes, operands = spec.num_operands, set(), set()

  def visit(i):
    nodes.add(i)
    for s in range(2 if g.kind[i] == BINARY else 1):
      v = int(g.inputs[i, s])
      if v < n_op:
        operands.add(v)
      elif v - n_op not in nodes:
        visit(v - n_op)

  visit(spec.num_hidden)
  return nodes, operands


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.name}{s.num_hidden}")
def test_live_nodes_and_operands_are_those_a_walk_from_the_root_reaches(spec):
  rng = np.random.default_rng(0)
  genomes = [_random_ordered(rng, spec) for _ in range(400)]
  for g in genomes:
    nodes, operands = _walk(g, spec)
    assert set(np.flatnonzero(active_nodes(g, spec))) == nodes
    assert set(np.flatnonzero(active_operands(g, spec))) == operands
  # a population with two leading axes: the same masks, member by member
  pop = Genome(*(np.asarray(x).reshape((4, 3) + np.shape(x)[1:]) for x in
                 (np.stack([np.asarray(getattr(g, f)) for g in genomes[:12]]) for f in Genome._fields)))
  nodes, operands = active_nodes(pop, spec), active_operands(pop, spec)
  assert nodes.shape == (4, 3, spec.num_nodes) and operands.shape == (4, 3, spec.num_operands)
  for k, g in enumerate(genomes[:12]):
    np.testing.assert_array_equal(nodes[k // 3, k % 3], active_nodes(g, spec))
    np.testing.assert_array_equal(operands[k // 3, k % 3], active_operands(g, spec))


def _chain(spec, root_kind):
  """h0 = g (operand 0), h1 = unary(h0), ..., root reads h_{last} and (slot 1) h0; every hidden node's unused
  second slot reads operand 5."""
  g = empty_genome(spec)
  n_op, h = spec.num_operands, spec.num_hidden
  g.kind[:h] = UNARY
  g.inputs[0] = [0, 5]
  for i in range(1, h):
    g.inputs[i] = [n_op + i - 1, 5]
  g.kind[h] = root_kind
  g.inputs[h] = [n_op + h - 1, n_op]
  return g


def test_the_second_input_counts_only_for_a_binary_node():
  spec = NOS_SPEC
  n_op = spec.num_operands
  g = empty_genome(spec)
  g.kind[:] = UNARY
  g.inputs[5] = [n_op + 4, n_op + 3]  # unary root: slot 1 holds h3, unread
  g.inputs[4] = [1, n_op + 2]          # unary h4: slot 1 holds h2, unread
  assert active_nodes(g, spec).tolist() == [False, False, False, False, True, True]
  assert np.flatnonzero(active_operands(g, spec)).tolist() == [1]
  g.kind[4] = BINARY  # now h4 reads h2 too, which reads operand 0
  assert active_nodes(g, spec).tolist() == [False, False, True, False, True, True]
  assert np.flatnonzero(active_operands(g, spec)).tolist() == [0, 1]
  g.kind[5] = BINARY  # and the root reads h3
  assert active_nodes(g, spec).tolist() == [False, False, True, True, True, True]


def test_the_root_is_live_even_when_it_reads_only_operands_and_the_first_operand_counts():
  spec = NOS_SPEC
  g = empty_genome(spec)  # every node unary on operand 0
  assert active_nodes(g, spec).tolist() == [False] * 5 + [True]
  assert np.flatnonzero(active_operands(g, spec)).tolist() == [0]
  g.kind[5], g.inputs[5] = BINARY, [spec.num_operands - 1, 0]  # the last operand and the first
  assert np.flatnonzero(active_operands(g, spec)).tolist() == [0, spec.num_operands - 1]


def test_a_chain_through_every_hidden_node_is_live_to_its_end():
  for spec in SPECS:
    g = _chain(spec, UNARY)
    assert active_nodes(g, spec).all()
    assert np.flatnonzero(active_operands(g, spec)).tolist() == [0]  # operand 5 sits only in unused slots


@pytest.mark.parametrize("kind, inputs, used", [
    (UNARY, [14, 0], True), (UNARY, [0, 14], False), (UNARY, [13, 13], False),
    (BINARY, [3, 14], True), (BINARY, [14, 2], True), (BINARY, [13, 0], False),
])
def test_a_decay_root_reads_its_hidden_node_through_its_used_inputs_only(kind, inputs, used):
  spec = NOS_SPEC  # 14 decay operands: vertex 14 is the decay hidden node
  assert len(spec.decay_operands) == 14
  g = empty_genome(spec)
  g.decay_kind[2, 1, 1] = kind
  g.decay_inputs[2, 1, 1] = inputs
  g.decay_inputs[2, 1, 0] = [14, 14]  # the hidden decay node's own inputs do not matter
  assert decay_hidden_used(g, 2, 1, spec) is used or decay_hidden_used(g, 2, 1, spec) == used
  assert decay_hidden_used(g, 2, 0, spec) == False  # noqa: E712  (another edge)


def _unordered(spec):
  """root = binary(h0, h2); h0 = exp(h3); h2 = binary(h1, h4); h1 = g; h3 = g^2; h4 = v_hat (operands 0, 1, 3).

  Kahn's order taking the lowest ready index each time: h1 (ready: 1, 3, 4), h3 (ready: 3, 4), h0 (ready: 0, 4: h3
  is placed), h4, h2: order = [1, 3, 0, 4, 2]. (h0's unused second slot holds h2: no edge.)"""
  n_op = spec.num_operands
  g = empty_genome(spec)
  g.kind[:] = [UNARY, UNARY, BINARY, UNARY, UNARY, BINARY]
  g.unary[:] = [3, 1, 0, 2, 4, 0]
  g.binary[:] = [0, 0, 7, 0, 0, 5]
  g.inputs[:] = [[n_op + 3, n_op + 2], [0, 0], [n_op + 1, n_op + 4], [1, 0], [3, 0], [n_op + 0, n_op + 2]]
  g.decay_on[0, 0] = 1
  g.decay_unary[0, 0] = [1, 2]
  g.momentum[()] = 1
  return g


def test_topological_order_relabels_the_hidden_nodes_lowest_ready_first():
  spec = NOS_SPEC
  n_op = spec.num_operands
  g = _unordered(spec)
  t = topological_order(g, spec)
  order = [1, 3, 0, 4, 2]
  new = {old: k for k, old in enumerate(order)}
  np.testing.assert_array_equal(t.kind, g.kind[order + [5]])
  np.testing.assert_array_equal(t.unary, g.unary[order + [5]])
  np.testing.assert_array_equal(t.binary, g.binary[order + [5]])
  np.testing.assert_array_equal(t.decay_on, g.decay_on[order + [5]])
  np.testing.assert_array_equal(t.decay_unary, g.decay_unary[order + [5]])
  expected_inputs = np.array([[0, 0], [1, 0], [n_op + new[3], n_op + new[2]], [3, 0], [n_op + new[1], n_op + new[4]],
                              [n_op + new[0], n_op + new[2]]])
  np.testing.assert_array_equal(t.inputs, expected_inputs)
  assert int(t.momentum) == 1 and int(t.flip) == 0 and int(t.schedule) == 0
  # ordered now: every hidden node reads operands or earlier nodes, and the order is a fixed point
  assert all(t.inputs[i, s] < n_op + i for i in range(5) for s in range(1 + int(t.kind[i])))
  assert topological_order(t, spec) is t
  # every node of the unordered genome reaches the root, and does so in the ordered one
  assert _walk(g, spec)[0] == set(range(6)) and active_nodes(t, spec).all()


def test_an_ordered_genome_is_returned_as_is_and_a_cycle_gives_none():
  spec = NOS_SPEC
  g = _chain(spec, BINARY)
  assert topological_order(g, spec) is g
  n_op = spec.num_operands
  g.inputs[0] = [n_op + 1, 5]  # h0 reads h1, h1 reads h0
  assert topological_order(g, spec) is None
  g.inputs[0] = [n_op + 0, 5]  # h0 reads itself
  assert topological_order(g, spec) is None
  g = _chain(spec, BINARY)
  g.kind[0], g.inputs[0] = BINARY, [0, n_op + 4]  # h0's second input closes a 5-cycle
  assert topological_order(g, spec) is None
  g.kind[0] = UNARY  # the same vertex in a unary node's unused slot is no edge
  assert topological_order(g, spec) is g


def test_remembered_decays_follow_their_source_nodes_when_relabelled():
  spec = NOS_SPEC  # "nos" rules: decays remembered per (node, source vertex)
  n_op = spec.num_operands
  g = _unordered(spec)
  assert g.decay_memory.shape == (6, n_op + 5, 11)
  # node-by-vertex marks: operand columns keep their place, hidden columns move with their node
  g.decay_memory[:, :, 0] = np.arange(6)[:, None] * 100 + np.arange(n_op + 5)[None, :]
  t = topological_order(g, spec)
  order = [1, 3, 0, 4, 2]
  rows = g.decay_memory[order + [5]]
  for new, old in enumerate(order):
    np.testing.assert_array_equal(t.decay_memory[:, n_op + new], rows[:, n_op + old])
  np.testing.assert_array_equal(t.decay_memory[:, :n_op], rows[:, :n_op])
  np.testing.assert_array_equal(pack_decay(t, 2, 0), pack_decay(g, 0, 0))


def test_topological_order_in_a_space_without_decay_memory():
  spec = EXTENDED_SPEC  # "library" rules: decay_memory has no vertex axis
  g = _unordered(spec)
  assert g.decay_memory.shape == (6, 0, 11)
  t = topological_order(g, spec)
  assert t.decay_memory.shape == (6, 0, 11)
  np.testing.assert_array_equal(t.kind, g.kind[[1, 3, 0, 4, 2, 5]])
