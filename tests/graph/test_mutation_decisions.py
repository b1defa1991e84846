"""Each decision of one NOS mutation (``optix_evo.graph.mutation``; the authors' ``OptimizerChrom.mutate`` and
``DecaySchedule.mutate``, OUStudent/NeuralOptimizerSearch ``NeuralOptimizerSearch.py``): which node, which kind,
which new op, input, slot and decay, and how often, with binomial and χ² tests at p < 1e-4 on fixed seeds (so the
tests are deterministic and only a wrong probability or a wrong set fails them)."""

import dataclasses
from unittest import mock

import numpy as np
import pytest

import optix_evo.graph as G
from optix_evo.graph import mutation
from optix_evo.graph.decays import decay_in_range
from optix_evo.graph.genome import BINARY, UNARY, pack_decay, to_numpy
from optix_evo.graph.mutation import _mutate_once, mutate_decay, mutate_decay_once
from tests.graph.test_sampling_frequencies import _binomial, _uniform

SPEC = G.DEFAULT_SPEC
N_OP, H = SPEC.num_operands, SPEC.num_hidden
ROOT = H
N_D = len(SPEC.decay_operands)
NOS = G.NOS_SPEC


def _doc(nodes, space="extended"):
  return {"format": "optix_evo.genome/2", "space": space, "momentum": "none", "flip": False, "schedule": "constant",
          "nodes": nodes}


# h0 = tanh(g), h1 = id(v_hat), h2 = add([a1]·h0, h1), root = mul(h2, [decay]·1), h3 and h4 dead. The root's decay
# reads its hidden decay node: root = mul(hidden, a1), hidden = add(a2, a3).
PARENT_DOC = _doc({
    "h0": {"op": "tanh", "inputs": ["g"]}, "h1": {"op": "id", "inputs": ["v_hat"]},
    "h2": {"op": "add", "inputs": ["h0", "h1"], "decays": {"0": {"root": {"op": "id", "inputs": ["a1"]}}}},
    "root": {"op": "mul", "inputs": ["h2", "1"], "decays": {"1": {
        "hidden": {"op": "add", "inputs": ["a2", "a3"]}, "root": {"op": "mul", "inputs": ["hidden", "a1"]}}}}})
TANH, ID, H2, DEAD = 0, 1, 2, (3, 4)
ONE = SPEC.index("operands", "1")


@pytest.fixture(scope="module")
def parent():
  g = to_numpy(G.from_json(PARENT_DOC))
  assert g.kind.tolist() == [UNARY, UNARY, BINARY, UNARY, UNARY, BINARY]
  assert g.inputs[H2].tolist() == [N_OP + TANH, N_OP + ID] and g.inputs[ROOT].tolist() == [N_OP + H2, ONE]
  assert g.unary[TANH] == SPEC.index("unary", "tanh") and g.unary[ID] == 0
  return g


def _runs(parent, what, n, spec=SPEC, seed=0):
  """``n`` children of ``parent``, each one mutation of kind ``what`` (None: drawn), with the kinds returned. The
  parent's live nodes are computed once (each draw starts from a copy of the parent, so they are the same)."""
  rng = np.random.default_rng(seed)
  real = mutation.active_nodes
  live = real(parent, spec)
  out = []
  with mock.patch.object(mutation, "active_nodes", lambda g, s=SPEC: live if s is spec else real(g, s)):
    for _ in range(n):
      child = to_numpy(parent)
      out.append((child, _mutate_once(rng, child, spec, what=what)))
  return out


NODE_FIELDS = ("kind", "unary", "binary", "inputs", *G.genome.DECAY_FIELDS)


def _changed_node(parent, child):
  changed = np.zeros(H + 1, bool)
  for f in NODE_FIELDS:
    changed |= (getattr(parent, f) != getattr(child, f)).reshape(H + 1, -1).any(axis=1)
  nodes = np.flatnonzero(changed)
  assert len(nodes) == 1, nodes
  return int(nodes[0])


# ---- the kind and the node -------------------------------------------------------------------------------------------
def test_the_kind_is_drawn_with_mutation_probs(parent):
  kinds = [what for _, what in _runs(parent, None, 1500)]
  counts = np.bincount(kinds, minlength=6)
  from scipy import stats  # pylint: disable=import-outside-toplevel
  assert stats.chisquare(counts, 1500 * np.asarray(SPEC.mutation_probs)).pvalue > 1e-4, counts


# Draws shared by several checks are made inside one test: mutmut credits a test with the functions it calls, and
# calls made by a shared fixture count for the first test that uses it only.
def test_an_op_mutation_picks_a_uniform_live_node_and_a_uniform_other_op(parent):
  op_changes = [(_changed_node(parent, child), child) for child, _ in _runs(parent, 0, 1600)]
  _uniform([i for i, _ in op_changes], [TANH, ID, H2, ROOT])  # never a dead node (h3, h4)
  _check_a_unary_op_becomes_the_identity_with_identity_prob_else_another_uniform_op(op_changes, parent)
  _check_the_identity_becomes_a_uniform_other_op(op_changes)
  _check_a_binary_op_becomes_another_uniform_binary_op(op_changes, parent)


def _check_a_unary_op_becomes_the_identity_with_identity_prob_else_another_uniform_op(op_changes, parent):
  ops = [int(c.unary[TANH]) for i, c in op_changes if i == TANH]
  _binomial(sum(op == 0 for op in ops), len(ops), SPEC.identity_prob)
  _uniform([op for op in ops if op != 0], [k for k in range(1, len(SPEC.unary)) if k != parent.unary[TANH]])


def _check_the_identity_becomes_a_uniform_other_op(op_changes):
  _uniform([int(c.unary[ID]) for i, c in op_changes if i == ID], range(1, len(SPEC.unary)))


def _check_a_binary_op_becomes_another_uniform_binary_op(op_changes, parent):
  for node in (H2, ROOT):
    _uniform([int(c.binary[node]) for i, c in op_changes if i == node],
             [k for k in range(len(SPEC.binary)) if k != parent.binary[node]])


def test_the_nos_op_mutation_never_draws_the_last_unary_op(parent):
  """``mutation_unary`` (the authors' ops 0..23): MaxValue, the last of the 26, comes only from initialisation."""
  nos_parent = to_numpy(G.from_json(dict(PARENT_DOC, space="nos"), NOS))
  ops = [(int(c.unary[TANH]), int(c.unary[ID])) for c, _ in _runs(nos_parent, 0, 1600, NOS)]
  from_tanh = [a for a, b in ops if a != nos_parent.unary[TANH]]
  from_id = [b for a, b in ops if b != 0]
  assert set(from_id) == set(range(1, NOS.mutation_unary)), sorted(set(from_id))
  assert set(from_tanh) == {0} | set(range(1, NOS.mutation_unary)) - {int(nos_parent.unary[TANH])}
  assert NOS.mutation_unary == len(NOS.unary) - 1 and NOS.unary[-1].name == "maxval"


# ---- connection ------------------------------------------------------------------------------------------------------
def test_a_connection_mutation_rewires_a_uniform_slot_to_a_uniform_vertex_and_the_root_keeps_a_hidden_input(parent):
  rewired = [(_changed_node(parent, child), child) for child, _ in _runs(parent, 1, 2000)]
  _check_a_unary_input_is_rewired_to_a_uniform_vertex_it_does_not_read(rewired, parent)
  _check_a_binary_node_swaps_its_inputs_with_their_decays_20_percent_else_rewires_either_slot(rewired, parent)
  _check_the_root_keeps_a_hidden_input(rewired, parent)


def _check_a_unary_input_is_rewired_to_a_uniform_vertex_it_does_not_read(rewired, parent):
  """Any operand or another hidden node, never the node itself or the root (the library's rules)."""
  for node in (TANH, ID):
    _uniform([int(c.inputs[node, 0]) for i, c in rewired if i == node],
             [v for v in range(N_OP + H) if v not in (N_OP + node, parent.inputs[node, 0])])


def _check_a_binary_node_swaps_its_inputs_with_their_decays_20_percent_else_rewires_either_slot(rewired, parent):
  children = [c for i, c in rewired if i == H2]
  swapped = [c for c in children if c.inputs[H2].tolist() == parent.inputs[H2][::-1].tolist()]
  _binomial(len(swapped), len(children), 0.2)
  for c in swapped:  # the decay moves with its input
    assert pack_decay(c, H2, 1).tolist() == pack_decay(parent, H2, 0).tolist() and not c.decay_on[H2, 0]
  first = [c for c in children if c.inputs[H2, 1] == parent.inputs[H2, 1]]
  second = [c for c in children if c.inputs[H2, 0] == parent.inputs[H2, 0]]
  assert len(first) + len(second) + len(swapped) == len(children)
  _binomial(len(first), len(first) + len(second), 0.5)
  current = set(parent.inputs[H2].tolist())
  for slot, group in ((0, first), (1, second)):
    _uniform([int(c.inputs[H2, slot]) for c in group], [v for v in range(N_OP + H) if v not in current | {N_OP + H2}])
    for c in group:  # the library's rules: the decay stays with the slot
      assert all(pack_decay(c, H2, s).tolist() == pack_decay(parent, H2, s).tolist() for s in (0, 1))


def _check_the_root_keeps_a_hidden_input(rewired, parent):
  """Rewiring the root's hidden input while its other input is an operand draws a hidden node; rewiring the
  operand input may draw any vertex it does not read."""
  children = [c for i, c in rewired if i == ROOT and c.inputs[ROOT, 1] == ONE and c.inputs[ROOT, 0] != N_OP + H2]
  _uniform([int(c.inputs[ROOT, 0]) for c in children], [N_OP + j for j in range(H) if j != H2])
  children = [c for i, c in rewired if i == ROOT and c.inputs[ROOT, 0] == N_OP + H2 and c.inputs[ROOT, 1] != ONE]
  _uniform([int(c.inputs[ROOT, 1]) for c in children], [v for v in range(N_OP + H) if v not in (N_OP + H2, ONE)])


def test_a_unary_root_is_rewired_to_hidden_nodes_only():
  g = to_numpy(G.from_json(_doc({"h0": {"op": "id", "inputs": ["g"]}, "root": {"op": "tanh", "inputs": ["h0"]}})))
  _uniform([int(c.inputs[ROOT, 0]) for c, _ in _runs(g, 1, 800) if c.inputs[ROOT, 0] != g.inputs[ROOT, 0]],
           range(N_OP + 1, N_OP + H))


# ---- unary <-> binary ------------------------------------------------------------------------------------------------
def test_unary_to_binary_adds_the_new_input_right_or_left_50_50_and_the_old_input_keeps_its_decay():
  g = to_numpy(G.from_json(_doc({"h0": {"op": "tanh", "inputs": ["v_hat"], "decays": {"0": {"root": {
      "op": "id", "inputs": ["a1"]}}}}, "root": {"op": "id", "inputs": ["h0"]}})))
  old, decay = int(g.inputs[0, 0]), pack_decay(g, 0, 0).tolist()
  children = [c for c, _ in _runs(g, 2, 1600) if c.kind[0] == BINARY]
  assert len(children) > 600
  right = [c for c in children if c.inputs[0, 0] == old]
  left = [c for c in children if c.inputs[0, 1] == old]
  assert len(right) + len(left) == len(children)
  _binomial(len(right), len(children), 0.5)
  for slot, group in ((1, right), (0, left)):
    _uniform([int(c.inputs[0, slot]) for c in group], [v for v in range(N_OP + H) if v not in (old, N_OP)])
    for c in group:
      assert pack_decay(c, 0, 1 - slot).tolist() == decay and not c.decay_on[0, slot]


def test_binary_to_unary_keeps_either_input_50_50_with_its_decay_and_the_root_keeps_its_hidden_input(parent):
  children = [(_changed_node(parent, c), c) for c, _ in _runs(parent, 2, 1600)]
  h2 = [c for i, c in children if i == H2]
  first = [c for c in h2 if c.inputs[H2, 0] == parent.inputs[H2, 0]]
  assert all(c.kind[H2] == UNARY and c.inputs[H2, 1] == 0 for c in h2)
  _binomial(len(first), len(h2), 0.5)
  for c in h2:
    kept = 0 if c.inputs[H2, 0] == parent.inputs[H2, 0] else 1
    assert c.inputs[H2, 0] == parent.inputs[H2, kept]
    assert pack_decay(c, H2, 0).tolist() == pack_decay(parent, H2, kept).tolist() and not c.decay_on[H2, 1]
  root = [c for i, c in children if i == ROOT]
  assert len(root) > 300 and all(c.inputs[ROOT].tolist() == [N_OP + H2, 0] and not c.decay_on[ROOT].any()
                                 for c in root)


# ---- momentum, schedule, decay ---------------------------------------------------------------------------------------
def test_momentum_and_schedule_become_a_uniform_other_value(parent):
  _uniform([int(c.momentum) for c, _ in _runs(parent, 3, 300)], range(1, len(SPEC.momentum_types)))
  _uniform([int(c.schedule) for c, _ in _runs(parent, 5, 600)], range(1, len(SPEC.schedules)))
  nos_parent = to_numpy(G.from_json(dict(PARENT_DOC, space="nos"), NOS))
  assert all(int(c.schedule) == 0 for c, _ in _runs(nos_parent, 5, 20, NOS))  # one schedule: nothing to change


def test_a_decay_mutation_picks_a_uniform_slot_adds_a_missing_decay_else_clears_or_mutates_it_50_50(parent):
  children = [(_changed_node(parent, c), c) for c, _ in _runs(parent, 4, 1000)]
  for node in (H2, ROOT):
    own = [c for i, c in children if i == node]
    with_decay = int(np.flatnonzero(parent.decay_on[node])[0])
    touched = [c for c in own if not np.array_equal(pack_decay(c, node, with_decay),
                                                    pack_decay(parent, node, with_decay))]
    _binomial(len(touched), len(own), 0.5)
    added = [c for c in own if c.decay_on[node, 1 - with_decay]]
    assert len(added) == len(own) - len(touched)
    assert all(decay_in_range(c, node, 1 - with_decay, SPEC) for c in added)
    cleared = [c for c in touched if not c.decay_on[node, with_decay]]
    assert all(not pack_decay(c, node, with_decay).any() for c in cleared)
    _binomial(len(cleared), len(touched), 0.5)


# ---- the decay graph -------------------------------------------------------------------------------------------------
def _decay_runs(g, i, s, n, seed=0, spec=SPEC):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    child = to_numpy(g)
    mutate_decay_once(rng, child, i, s, spec)
    out.append(child)
  return out


def _decay_change(parent, child, i, s):
  """(node, 'op' | 'input' | 'arity') of a decay mutation."""
  for node in (0, 1):
    if parent.decay_kind[i, s, node] != child.decay_kind[i, s, node]:
      return node, "arity"
    if (parent.decay_unary[i, s, node] != child.decay_unary[i, s, node]
        or parent.decay_binary[i, s, node] != child.decay_binary[i, s, node]):
      return node, "op"
    if not np.array_equal(parent.decay_inputs[i, s, node], child.decay_inputs[i, s, node]):
      return node, "input"
  raise AssertionError("the decay did not change")


def test_a_decay_mutation_picks_the_hidden_node_50_50_when_the_root_reads_it_and_changes_op_input_arity(parent):
  """Kinds 0.6 / 0.25 / 0.15 (r >= 0.4; 0.15 <= r < 0.4; r < 0.15): the root's decay here reads its hidden node;
  h2's does not, so its root is always the one mutated."""
  changes = [_decay_change(parent, c, ROOT, 1) for c in _decay_runs(parent, ROOT, 1, 2000)]
  _binomial(sum(node == 0 for node, _ in changes), len(changes), 0.5)
  kinds = [k for _, k in changes]
  for kind, p in (("op", 0.6), ("input", 0.25), ("arity", 0.15)):
    _binomial(kinds.count(kind), len(kinds), p)
  assert {node for node, _ in (_decay_change(parent, c, H2, 0) for c in _decay_runs(parent, H2, 0, 300))} == {1}


def _decay_genome(hidden, root):
  return to_numpy(G.from_json(_doc({"h0": {"op": "id", "inputs": ["g"]}, "root": {
      "op": "id", "inputs": ["h0"], "decays": {"0": {"hidden": hidden, "root": root}}}})))


BINARY_ROOT = _decay_genome({"op": "tanh", "inputs": ["a2"]}, {"op": "add", "inputs": ["hidden", "a3"]})
UNARY_ROOT = _decay_genome({"op": "add", "inputs": ["a4", "a5"]}, {"op": "tanh", "inputs": ["hidden"]})


def _by_kind(g, n, seed=0):
  out = {}
  for c in _decay_runs(g, ROOT, 0, n, seed):
    node, kind = _decay_change(g, c, ROOT, 0)
    out.setdefault((node, kind), []).append(c)
  return out


def test_the_decay_hidden_node_is_found_by_the_spaces_own_decay_operand_count():
  """With 10 decay operands the hidden decay node is vertex 10 (not 14): a root reading it is mutated 50/50 with
  its hidden node."""
  ten = dataclasses.replace(SPEC, decay_operands=SPEC.decay_operands[:10])
  g = to_numpy(G.from_json(_doc({"h0": {"op": "id", "inputs": ["g"]}, "root": {"op": "id", "inputs": ["h0"], "decays": {
      "0": {"hidden": {"op": "tanh", "inputs": ["a2"]}, "root": {"op": "tanh", "inputs": ["hidden"]}}}}}), ten))
  assert g.decay_inputs[ROOT, 0, 1, 0] == 10
  nodes = [_decay_change(g, c, ROOT, 0)[0] for c in _decay_runs(g, ROOT, 0, 300, spec=ten)]
  _binomial(nodes.count(0), len(nodes), 0.5)


def _check_decay_ops(g, changes):
  """A decay op becomes another uniform op of its node's table."""
  for node in (0, 1):
    field, table = (("decay_unary", SPEC.decay_unary) if g.decay_kind[ROOT, 0, node] == UNARY
                    else ("decay_binary", SPEC.decay_binary))
    ops = [int(getattr(c, field)[ROOT, 0, node]) for c in changes[(node, "op")]]
    _uniform(ops, [k for k in range(len(table)) if k != getattr(g, field)[ROOT, 0, node]])


def test_a_unary_decay_root_reading_a_binary_hidden_node_changes_op_input_and_arity_as_the_authors():
  """Root tanh(hidden), hidden add(a4, a5): other ops uniform; the root rewired to any operand (it reads the hidden
  node); the hidden node swaps its inputs 20 %, else rewires either slot 50/50 to an operand it does not read (never
  itself); unary -> binary adds the new input left or right 50/50, binary -> unary keeps the first or second."""
  changes = _by_kind(UNARY_ROOT, 2400)
  _check_decay_ops(UNARY_ROOT, changes)
  _uniform([int(c.decay_inputs[ROOT, 0, 1, 0]) for c in changes[(1, "input")]], range(N_D))
  hidden = [c.decay_inputs[ROOT, 0, 0].tolist() for c in changes[(0, "input")]]
  swapped = [ins for ins in hidden if ins == [4, 3]]  # a5, a4 (0-based 4, 3): the inputs swapped
  _binomial(len(swapped), len(hidden), 0.2)
  first = [ins[0] for ins in hidden if ins[1] == 4 and ins != [4, 3]]
  second = [ins[1] for ins in hidden if ins[0] == 3]
  assert len(first) + len(second) + len(swapped) == len(hidden)
  _binomial(len(first), len(first) + len(second), 0.5)
  for values in (first, second):  # never the hidden node itself (N_D), never a vertex it reads
    _uniform(values, [v for v in range(N_D) if v not in (3, 4)])
  added = changes[(1, "arity")]  # root tanh(hidden) -> binary
  right = [c.decay_inputs[ROOT, 0, 1].tolist() for c in added if c.decay_inputs[ROOT, 0, 1, 0] == N_D]
  left = [c.decay_inputs[ROOT, 0, 1].tolist() for c in added if c.decay_inputs[ROOT, 0, 1, 1] == N_D]
  assert len(right) + len(left) == len(added)
  _binomial(len(right), len(added), 0.5)
  _uniform([r[1] for r in right] + [lf[0] for lf in left], range(N_D))
  kept = [c.decay_inputs[ROOT, 0, 0].tolist() for c in changes[(0, "arity")]]  # hidden add(a4, a5) -> unary
  assert {tuple(k) for k in kept} == {(3, 0), (4, 0)}
  _binomial(sum(k == [3, 0] for k in kept), len(kept), 0.5)


def test_a_binary_decay_root_reading_a_unary_hidden_node_changes_its_ops_and_rewires_the_hidden_node():
  changes = _by_kind(BINARY_ROOT, 1500)
  _check_decay_ops(BINARY_ROOT, changes)
  _uniform([int(c.decay_inputs[ROOT, 0, 0, 0]) for c in changes[(0, "input")]], [v for v in range(N_D) if v != 1])


def test_a_decay_root_that_reads_an_operand_may_be_rewired_to_the_hidden_node():
  g = _decay_genome({"op": "tanh", "inputs": ["a2"]}, {"op": "tanh", "inputs": ["a7"]})  # hidden node unread
  inputs = [int(c.decay_inputs[ROOT, 0, 1, 0]) for c in _by_kind(g, 1200)[(1, "input")]]
  _uniform(inputs, [v for v in range(N_D + 1) if v != 6])


def test_library_decay_mutation_redraws_until_valid_and_further_than_1e_4_then_keeps_the_parent(monkeypatch, parent):
  """The authors' test of ``DecaySchedule.mutate``: a variant within L2 distance 1e-4 of the parent's values (on
  ``decay_check_steps`` points) is rejected; after 100 rejected draws the parent's decay stays."""
  calls = []
  distances = iter([0.0, 1e-4, 1.0001e-4])
  real_values = mutation.decay_values

  def values(g, i, s, spec):
    out = np.zeros_like(real_values(g, i, s, spec))
    if calls:  # the variants: at these distances from the parent's (zeros)
      out[0] = next(distances)
    return out

  monkeypatch.setattr(mutation, "mutate_decay_once", lambda *args: calls.append(args))
  monkeypatch.setattr(mutation, "decay_values", values)
  g = to_numpy(parent)
  mutate_decay(np.random.default_rng(0), g, H2, 0, SPEC)
  assert len(calls) == 3  # 0 and exactly 1e-4 rejected, 1.0001e-4 accepted
  calls.clear()
  monkeypatch.setattr(mutation, "decay_in_range", lambda *args: False)

  def vandalise(rng, g, i, s, spec):  # every draw starts from the parent's decay
    calls.append(pack_decay(g, i, s).tolist() == pack_decay(parent, i, s).tolist())
    g.decay_on[i, s] = 1
    for f in ("decay_kind", "decay_unary", "decay_binary", "decay_inputs"):
      getattr(g, f)[i, s] += 1

  monkeypatch.setattr(mutation, "mutate_decay_once", vandalise)
  distances = iter([1.0] * 200)
  mutate_decay(np.random.default_rng(0), g, H2, 0, SPEC)
  assert calls == [True] * 100
  assert all(np.array_equal(getattr(g, f), getattr(parent, f)) for f in G.genome.DECAY_FIELDS)


def test_mutate_gives_up_after_1000_draws_with_the_reason(monkeypatch):
  calls = []
  monkeypatch.setattr(mutation, "_mutate_once", lambda *args: calls.append(1))  # every draw closes a cycle
  with pytest.raises(ValueError) as err:
    G.mutate(0, G.known("adam"))
  assert str(err.value) == "mutate: no valid mutation found in 1000 attempts (is the spec too small?)."
  assert len(calls) == 1000


def test_nos_rules_mutate_the_decay_once_the_library_redraws(monkeypatch, parent):
  calls = []
  monkeypatch.setattr(mutation, "mutate_decay_once", lambda *args: calls.append(args))
  mutate_decay(np.random.default_rng(0), to_numpy(parent), ROOT, 1, dataclasses.replace(SPEC, rules="nos"))
  assert len(calls) == 1


def test_mutate_redraws_until_the_child_is_acyclic_and_another_optimizer_in_the_parents_own_space(monkeypatch):
  """Draws closing a cycle (reported, or found by the topological sort) and draws that leave the canonical hash as
  it was are redrawn from the parent; the child is the parent, canonical in its own space, with the one change."""
  parent = to_numpy(G.canonical(to_numpy(G.known("nos_opt7", NOS)), NOS))
  draws = []

  def fake(rng, g, spec, what=None):
    draws.append(spec)
    if len(draws) == 1:
      return None  # the draw closed a cycle
    if len(draws) == 2:  # h0 (which the root reads) and h1 read each other: a cycle only the topological sort sees
      g.kind[1], g.inputs[0, 0], g.inputs[1, 0] = UNARY, NOS.num_operands + 1, NOS.num_operands
      return 1
    if len(draws) == 3:
      return 0  # no change: the same canonical hash
    g.momentum[()] = 2
    return 3

  monkeypatch.setattr(mutation, "_mutate_once", fake)
  child = G.mutate(0, G.known("nos_opt7", NOS), NOS)
  assert draws == [NOS] * 4
  assert int(child.momentum) == 2
  for f in G.Genome._fields:
    if f != "momentum":
      assert np.array_equal(getattr(child, f), getattr(parent, f)), f


def test_library_decay_validity_is_read_on_the_spaces_own_check_points(monkeypatch):
  """a1 - a2 = 1 - 2t/T lies in [0, 1] at the 2 points t/T = 0, 1/2 of a space with ``decay_check_steps=2``, not at
  the 100 of the default space: the same variant is kept in the one and redrawn (then the parent kept) in the other."""
  two = dataclasses.replace(SPEC, decay_check_steps=2)
  calls = []

  def a1_minus_a2(rng, g, i, s, spec):
    calls.append(spec)
    g.decay_kind[i, s, 1], g.decay_binary[i, s, 1] = BINARY, SPEC.index("decay_binary", "sub")
    g.decay_inputs[i, s, 1] = [0, 1]

  monkeypatch.setattr(mutation, "mutate_decay_once", a1_minus_a2)
  g = _decay_genome({"op": "tanh", "inputs": ["a2"]}, {"op": "id", "inputs": ["a1"]})
  kept = to_numpy(g)
  mutate_decay(np.random.default_rng(0), kept, ROOT, 0, two)
  assert calls == [two] and kept.decay_kind[ROOT, 0, 1] == BINARY
  redrawn = to_numpy(g)
  mutate_decay(np.random.default_rng(0), redrawn, ROOT, 0, SPEC)
  assert len(calls) == 101 and redrawn.decay_kind[ROOT, 0, 1] == UNARY


def test_a_nos_rewiring_or_switch_changes_one_node_and_remembers_the_decay_it_drops():
  """Under the "nos" rules a decay dropped with its input goes to ``decay_memory[node, source]``; the decays of
  the other nodes stay as they were (every edge here has one)."""
  decay = lambda op: {"root": {"op": op, "inputs": ["a1"]}}  # noqa: E731
  doc = _doc({"h0": {"op": "tanh", "inputs": ["g"], "decays": {"0": decay("id")}},
              "h1": {"op": "id", "inputs": ["v_hat"], "decays": {"0": decay("tanh")}},
              "h2": {"op": "add", "inputs": ["h0", "h1"], "decays": {"0": decay("sigmoid"), "1": decay("erf")}},
              "root": {"op": "mul", "inputs": ["h2", "1"], "decays": {"0": decay("atan"), "1": decay("dsoft")}}},
             space="nos")
  parent = to_numpy(G.from_json(doc, NOS))
  assert parent.decay_on[[0, 1, 2, 2, 5, 5], [0, 0, 0, 1, 0, 1]].all()
  drops = 0
  for what in (1, 2):
    for child, kind in _runs(parent, what, 300, NOS):
      if kind is None:  # the draw closed a cycle
        continue
      i = _changed_node(parent, child)
      for s in range(2):
        source = int(parent.inputs[i, s])
        if parent.decay_on[i, s] and source not in child.inputs[i, :2 if child.kind[i] == BINARY else 1]:
          drops += 1
          assert child.decay_memory[i, source].tolist() == pack_decay(parent, i, s).tolist()
  assert drops > 100


def test_a_new_input_is_drawn_over_every_vertex_the_node_does_not_read_and_under_nos_rules_may_close_a_cycle():
  """The authors' draw is over every vertex the node does not read: for a hidden node that includes itself and the
  root, for the root itself (each a cycle, :data:`CYCLE`); ``hidden_only`` (the root keeping a hidden input) draws
  other hidden nodes only; the library's rules never draw a cycle."""
  rng = np.random.default_rng(0)
  n_op, h = NOS.num_operands, NOS.num_hidden
  for node, exclude, cycles in ((h, {n_op, n_op + 1}, 1), (2, {0}, 2)):
    draws = [mutation._random_input(rng, NOS, node, exclude, False) for _ in range(3000)]
    valid = [v for v in range(n_op + h) if v not in exclude and v != n_op + node]
    _binomial(draws.count(mutation.CYCLE), len(draws), cycles / (len(valid) + cycles))
    _uniform([d for d in draws if d != mutation.CYCLE], valid)
    library = [mutation._random_input(rng, SPEC, node, exclude, False) for _ in range(300)]
    assert set(library) == {v for v in range(N_OP + H) if v not in exclude and v != N_OP + node}
  assert {mutation._random_input(rng, NOS, h, {n_op}, True) for _ in range(300)} == set(range(n_op + 1, n_op + h))
  assert mutation._random_input(rng, NOS, h, set(range(n_op, n_op + h)), True) is None  # nothing left to read


def test_a_space_with_one_momentum_type_or_schedule_keeps_it_and_with_two_always_switches(parent):
  for field, table in (("momentum", "momentum_types"), ("schedule", "schedules")):
    what = 3 if field == "momentum" else 5
    entries = getattr(SPEC, table)
    one, two = (dataclasses.replace(SPEC, **{table: entries[:n]}) for n in (1, 2))
    assert {int(getattr(c, field)) for c, _ in _runs(parent, what, 20, one)} == {0}
    assert {int(getattr(c, field)) for c, _ in _runs(parent, what, 20, two)} == {1}


def test_the_root_adds_or_rewires_to_any_vertex_while_another_input_is_hidden_and_keeps_a_hidden_input():
  """A unary root (its input is hidden) turning binary may add any vertex; a binary root reading h0 (vertex
  ``num_operands``, the first hidden node) and an operand rewires the operand to any vertex, the hidden input to
  another hidden node, and turning unary keeps h0."""
  unary = to_numpy(G.from_json(_doc({"h0": {"op": "id", "inputs": ["g"]}, "root": {"op": "tanh", "inputs": ["h0"]}})))
  added = [int(c.inputs[ROOT, 1 - list(c.inputs[ROOT]).index(N_OP)]) for c, _ in _runs(unary, 2, 1200)
           if c.kind[ROOT] == BINARY]
  _uniform(added, [v for v in range(N_OP + H) if v != N_OP])  # anything but h0 itself, operands included
  binary = to_numpy(G.from_json(_doc({"h0": {"op": "id", "inputs": ["g"]}, "root": {"op": "mul", "inputs": ["h0", "1"]}})))
  assert binary.inputs[ROOT].tolist() == [N_OP, ONE]
  rewired = [c.inputs[ROOT].tolist() for c, _ in _runs(binary, 1, 1500) if c.inputs[ROOT].tolist() != [N_OP, ONE]]
  _uniform([b for a, b in rewired if a == N_OP], [v for v in range(N_OP + H) if v not in (N_OP, ONE)])
  _uniform([a for a, b in rewired if b == ONE], range(N_OP + 1, N_OP + H))
  switched = [c.inputs[ROOT].tolist() for c, _ in _runs(binary, 2, 300) if c.kind[ROOT] == UNARY]
  assert len(switched) > 100 and all(ins == [N_OP, 0] for ins in switched)


def test_a_swap_moves_each_decay_with_its_input_and_a_decay_mutation_leaves_the_other_slots_decay():
  rich = {"hidden": {"op": "tanh", "inputs": ["a5"]}, "root": {"op": "mul", "inputs": ["hidden", "a3"]}}
  plain = {"root": {"op": "erf", "inputs": ["a2"]}}
  g = to_numpy(G.from_json(_doc({"h0": {"op": "id", "inputs": ["g"]},
                                 "root": {"op": "max", "inputs": ["h0", "1"], "decays": {"0": rich, "1": plain}}})))
  slots = [pack_decay(g, ROOT, s).tolist() for s in (0, 1)]
  assert all(part.any() for part in np.split(np.asarray(slots[0]), [1, 3, 5, 7]))  # every field non-zero: one
  # left unswapped would show
  swapped = [c for c, _ in _runs(g, 1, 600) if c.inputs[ROOT].tolist() == [ONE, N_OP]]
  assert len(swapped) > 20
  assert all([pack_decay(c, ROOT, s).tolist() for s in (1, 0)] == slots for c in swapped)
  for c, _ in _runs(g, 4, 300):  # one slot's decay cleared or mutated, the other's as it was
    changed = [pack_decay(c, ROOT, s).tolist() != slots[s] for s in (0, 1)]
    assert sum(changed) <= 1, changed


def test_the_first_unary_op_after_the_identity_also_becomes_the_identity_or_another_op():
  g = to_numpy(G.from_json(_doc({"h0": {"op": SPEC.unary[1].name, "inputs": ["g"]},
                                 "root": {"op": "id", "inputs": ["h0"]}})))
  ops = [int(c.unary[0]) for c, _ in _runs(g, 0, 1000) if c.unary[0] != g.unary[0] or c.unary[ROOT] == 0]
  _binomial(ops.count(0), len(ops), SPEC.identity_prob)
  _uniform([op for op in ops if op != 0], range(2, len(SPEC.unary)))
