"""The canonical form of genomes with decay graphs: the exact strings, what the hash ignores and what it keeps, and which
fields ``canonical`` clears (and which it must keep)."""

import dataclasses
import hashlib

import numpy as np
import pytest

import optix_evo.graph as G

SPEC = G.DEFAULT_SPEC
ROOT = SPEC.num_hidden  # the output node
N_D = len(SPEC.decay_operands)  # decay input N_D is the decay graph's hidden node
DU = {op.name: k for k, op in enumerate(SPEC.decay_unary)}
DB = {op.name: k for k, op in enumerate(SPEC.decay_binary)}
U = {op.name: k for k, op in enumerate(SPEC.unary)}
B = {op.name: k for k, op in enumerate(SPEC.binary)}
OP = {op.name: k for k, op in enumerate(SPEC.operands)}


def _base():
  """root = id(h0) with h0 = sub(g, v_hat): a writable genome whose edges get decays below."""
  g = G.canonical(G.known("adam"))
  g.kind[:] = G.UNARY
  g.unary[:] = U["id"]
  g.kind[0], g.binary[0], g.inputs[0] = G.BINARY, B["sub"], (OP["g"], OP["v_hat"])
  g.kind[ROOT], g.unary[ROOT], g.inputs[ROOT] = G.UNARY, U["id"], (SPEC.num_operands + 0, 0)
  return g


def _decay(g, i, s, root, hidden=None):
  """Puts a decay on edge (i, s): ``root`` = (kind, op, inputs) of decay node 1, ``hidden`` of decay node 0."""
  g.decay_on[i, s] = 1
  for node, spec in ((1, root), (0, hidden)):
    if spec is None:
      continue
    kind, op, inputs = spec
    g.decay_kind[i, s, node] = kind
    (g.decay_unary if kind == G.UNARY else g.decay_binary)[i, s, node] = op
    g.decay_inputs[i, s, node] = inputs
  return g


def test_a_decay_is_written_before_its_edge_with_its_hidden_node_inlined():
  g = _decay(_base(), 0, 1, (G.BINARY, DB["sub"], (2, N_D)), (G.UNARY, DU["sigmoid"], (1, 0)))
  assert G.canonical_string(g) == "none|constant|sub(g,[sub(a3,sigmoid(a2))]v_hat)"


def test_identity_decay_nodes_are_skipped_and_commutative_decay_arguments_sorted():
  g = _decay(_base(), 0, 1, (G.BINARY, DB["add"], (N_D, 2)), (G.UNARY, DU["id"], (1, 0)))
  assert G.canonical_string(g) == "none|constant|sub(g,[add(a2,a3)]v_hat)"
  swapped = _decay(_base(), 0, 1, (G.BINARY, DB["add"], (2, N_D)), (G.UNARY, DU["id"], (1, 0)))
  assert G.canonical_hash(swapped) == G.canonical_hash(g)


def test_a_commutative_node_sorts_a_decayed_argument_like_any_other():
  g = _decay(_base(), 0, 1, (G.UNARY, DU["tanh"], (6, 0)))
  g.binary[0] = B["mul"]
  assert G.canonical_string(g) == "none|constant|mul([tanh(a7)]v_hat,g)"
  g.inputs[0] = (OP["v_hat"], OP["g"])
  g.decay_on[0, 0], g.decay_on[0, 1] = g.decay_on[0, 1], 0
  for field in ("decay_kind", "decay_unary", "decay_inputs"):
    getattr(g, field)[0, 0] = getattr(g, field)[0, 1]
  assert G.canonical_string(g) == "none|constant|mul([tanh(a7)]v_hat,g)"


def test_non_commutative_decay_arguments_keep_their_order():
  a = _decay(_base(), 0, 1, (G.BINARY, DB["div"], (2, 4)))
  b = _decay(_base(), 0, 1, (G.BINARY, DB["div"], (4, 2)))
  assert G.canonical_string(a).endswith("sub(g,[div(a3,a5)]v_hat)")
  assert G.canonical_string(b).endswith("sub(g,[div(a5,a3)]v_hat)")
  assert G.canonical_hash(a) != G.canonical_hash(b)


def test_a_decay_on_the_first_input_and_on_a_unary_node():
  g = _decay(_base(), 0, 0, (G.UNARY, DU["tanh"], (6, 0)))
  assert G.canonical_string(g) == "none|constant|sub([tanh(a7)]g,v_hat)"
  g = _decay(_base(), ROOT, 0, (G.UNARY, DU["id"], (0, 0)))
  assert G.canonical_string(g) == "none|constant|[a1]sub(g,v_hat)"


def test_decay_fields_of_an_edge_without_decay_are_ignored_and_cleared():
  plain = _base()
  junk = _decay(_base(), 0, 1, (G.BINARY, DB["div"], (2, N_D)), (G.UNARY, DU["erf"], (3, 5)))
  junk.decay_on[0, 1] = 0
  assert G.canonical_string(junk) == G.canonical_string(plain) == "none|constant|sub(g,v_hat)"
  for field in ("decay_on", "decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
    np.testing.assert_array_equal(getattr(G.canonical(junk), field), getattr(plain, field), err_msg=field)


def test_canonical_clears_an_unused_decay_hidden_node_and_the_unused_half_of_each_decay_node():
  g = _decay(_base(), 0, 1, (G.UNARY, DU["sqrt"], (3, 7)), (G.BINARY, DB["max"], (1, 2)))
  g.decay_binary[0, 1, 1] = DB["min"]  # unused: node 1 is unary
  c = G.canonical(g)
  assert G.canonical_string(c) == G.canonical_string(g) == "none|constant|sub(g,[sqrt(a4)]v_hat)"
  assert c.decay_kind[0, 1, 0] == 0 and c.decay_binary[0, 1, 0] == 0 and c.decay_unary[0, 1, 0] == 0
  np.testing.assert_array_equal(c.decay_inputs[0, 1], [[0, 0], [3, 0]])  # the hidden node and input 2 of node 1
  assert c.decay_binary[0, 1, 1] == 0 and c.decay_unary[0, 1, 1] == DU["sqrt"] and c.decay_on[0, 1] == 1


def test_canonical_keeps_a_used_decay_hidden_node_and_clears_its_unused_half():
  g = _decay(_base(), 0, 1, (G.BINARY, DB["mul"], (N_D, 4)), (G.UNARY, DU["erf"], (3, 9)))
  g.decay_binary[0, 1, 0] = DB["sub"]  # unused: the hidden node is unary
  g.decay_unary[0, 1, 1] = DU["tanh"]  # unused: node 1 is binary
  c = G.canonical(g)
  assert G.canonical_string(c) == G.canonical_string(g) == "none|constant|sub(g,[mul(a5,erf(a4))]v_hat)"
  assert c.decay_kind[0, 1, 0] == G.UNARY and c.decay_unary[0, 1, 0] == DU["erf"]
  assert c.decay_binary[0, 1, 0] == 0 and c.decay_unary[0, 1, 1] == 0 and c.decay_binary[0, 1, 1] == DB["mul"]
  np.testing.assert_array_equal(c.decay_inputs[0, 1], [[3, 0], [N_D, 4]])


def test_canonical_clears_dead_nodes_and_the_second_slot_of_unary_nodes():
  g = _base()
  g.kind[3], g.binary[3], g.unary[3], g.inputs[3] = G.BINARY, B["pow"], U["exp"], (2, 5)  # h3 is dead
  _decay(g, 3, 0, (G.UNARY, DU["erf"], (1, 0)))
  g.inputs[ROOT, 1] = 4  # the root is unary: its second input is unused
  _decay(g, ROOT, 1, (G.UNARY, DU["erf"], (1, 0)))
  g.binary[ROOT] = B["clip"]
  g.unary[0] = U["exp"]  # h0 is binary: its unary op is unused
  c = G.canonical(g)
  assert G.canonical_string(c) == G.canonical_string(g) == "none|constant|sub(g,v_hat)"
  assert c.kind[3] == c.binary[3] == c.unary[3] == 0 and c.inputs[3].tolist() == [0, 0] and not c.decay_on[3].any()
  assert c.inputs[ROOT, 1] == 0 and c.decay_on[ROOT, 1] == 0 and c.binary[ROOT] == 0 and c.unary[0] == 0
  assert c.inputs[0].tolist() == [OP["g"], OP["v_hat"]] and c.binary[0] == B["sub"]


def test_momentum_flip_and_schedule_are_part_of_the_string():
  g = _base()._replace(momentum=np.int32(1), flip=np.int32(1), schedule=np.int32(1))
  assert G.canonical_string(g) == (f"{SPEC.momentum_types[1].name}|flip|{SPEC.schedules[1].name}|sub(g,v_hat)")


@pytest.mark.parametrize("seed", range(60))
def test_canonical_is_idempotent_and_keeps_the_string_of_random_genomes(seed):
  g = G.mutate(1000 + seed, G.random_genome(seed))
  c = G.canonical(g)
  assert G.canonical_string(c) == G.canonical_string(g)
  assert all(np.array_equal(x, y) for x, y in zip(G.canonical(c), c))


@pytest.mark.parametrize("space", [G.DEFAULT_SPEC, G.NOS_SPEC, G.EXTENDED_SPEC])
def test_the_hash_is_16_hex_digits_of_sha1_of_the_string_in_the_genomes_own_space(space):
  g = G.random_genome(3, space)
  assert G.canonical_hash(g, space) == hashlib.sha1(G.canonical_string(g, space).encode()).hexdigest()[:16]
  others = [s for s in (G.DEFAULT_SPEC, G.NOS_SPEC, G.EXTENDED_SPEC) if s is not space]
  names_differ = [s for s in others if _string_or_none(g, s) != G.canonical_string(g, space)]
  assert names_differ and all(_hash_or_none(g, s) != G.canonical_hash(g, space) for s in names_differ)


def _string_or_none(g, space):
  try:
    return G.canonical_string(g, space)
  except (IndexError, KeyError):  # an index outside the other space's tables
    return None


def _hash_or_none(g, space):
  try:
    return G.canonical_hash(g, space)
  except (IndexError, KeyError):
    return None


@pytest.mark.parametrize("space", [G.NOS_SPEC, G.EXTENDED_SPEC])
def test_canonical_reads_liveness_in_the_genomes_own_space(space):
  """Dead nodes are found with the space's own operand count: live nodes are kept whole, dead ones cleared."""
  for seed in range(20):
    g = G.mutate(seed, G.random_genome(seed, space), space)
    c, live = G.canonical(g, space), G.active_nodes(g, space)
    assert G.canonical_string(c, space) == G.canonical_string(g, space)
    for i in range(space.num_nodes):
      if live[i]:
        assert c.kind[i] == g.kind[i] and (c.inputs[i, 0] == g.inputs[i, 0]), (seed, i)
      else:
        assert c.kind[i] == 0 and not c.inputs[i].any() and not c.decay_on[i].any(), (seed, i)


def test_canonical_finds_the_decay_hidden_node_by_the_spaces_own_decay_operand_count():
  spec = dataclasses.replace(SPEC, decay_operands=SPEC.decay_operands[:10])  # a custom space: hidden node is 10
  g = _decay(_base(), 0, 1, (G.BINARY, DB["mul"], (10, 4)), (G.UNARY, DU["erf"], (3, 0)))
  c = G.canonical(g, spec)
  assert G.canonical_string(c, spec) == G.canonical_string(g, spec) == "none|constant|sub(g,[mul(a5,erf(a4))]v_hat)"
  assert c.decay_kind[0, 1, 0] == G.UNARY and c.decay_unary[0, 1, 0] == DU["erf"]
