"""The exact faults ``genome_faults`` / ``validate_genome`` report for arrays, one rule at a time: the rule's boundary
on both sides (the last valid index and the first invalid one), the full message, and the population screen
``_quick_ok`` agreeing with the exact per-member check (it passes every well-formed member and stops every faulty
one)."""

import dataclasses

import jax
import numpy as np
import pytest

import optix_evo.graph as G
from optix_evo.errors import InputError
from optix_evo.graph.genome import empty_genome, to_numpy
from optix_evo.graph.validation import _quick_ok, is_concrete

SPEC = G.DEFAULT_SPEC  # 24 operands, 5 hidden nodes: vertices 0..28, h0 is vertex 24
N_OP = SPEC.num_operands
LATER = "a later node: hidden nodes must be numbered in topological order (from_json orders them)"
DECAY = "node root, decay on input 0"


def _edit(changes, name="adamw"):
  """known("adamw") (h0 = id(adam), root = add(h0, 1e-4w); dead h1..h4 are id(g)) with entries replaced."""
  g = to_numpy(G.known(name))
  for (field, index), value in changes.items():
    getattr(g, field)[index] = value
  return g


ROOT_DECAY = {("decay_on", (5, 0)): 1}  # id(a1) on the root's first input (the decay fields are 0 = id, a1)
CASES = [
    # node kinds and ops: the last index of each table is valid, the next is not
    ({("kind", 0): 7}, ["node h0: kind 7 is neither unary (0) nor binary (1)"]),
    ({("kind", 0): -1}, ["node h0: kind -1 is neither unary (0) nor binary (1)"]),
    ({("unary", 0): 26}, []),
    ({("unary", 0): 27}, ["node h0: unary op index 27 is outside 0..26"]),
    ({("unary", 0): -1}, ["node h0: unary op index -1 is outside 0..26"]),
    ({("binary", 5): 9}, []),
    ({("binary", 5): 10}, ["node root: binary op index 10 is outside 0..9"]),
    ({("binary", 5): -1, ("unary", 3): 50}, ["node h3: unary op index 50 is outside 0..26",
                                             "node root: binary op index -1 is outside 0..9"]),
    # inputs: in range; hidden node i reads operands and h0..h(i-1), the root any hidden node
    ({("inputs", (5, 1)): 28}, []),
    ({("inputs", (5, 1)): 29}, ["node root: input 1 is vertex 29, outside 0..28 (24 operands, then h0..h4)"]),
    ({("inputs", (5, 1)): -1}, ["node root: input 1 is vertex -1, outside 0..28 (24 operands, then h0..h4)"]),
    ({("inputs", (0, 0)): N_OP - 1}, []),
    ({("inputs", (0, 0)): N_OP}, ["node h0 reads itself"]),
    ({("inputs", (3, 0)): N_OP + 2}, []),
    ({("inputs", (3, 0)): N_OP + 3}, ["node h3 reads itself"]),
    ({("inputs", (3, 0)): N_OP + 4}, [f"node h3 reads h4, {LATER}"]),
    ({("inputs", (0, 1)): N_OP + 3}, []),  # the second input of a unary node is not read
    ({("kind", 0): 1, ("inputs", (0, 1)): N_OP + 3}, [f"node h0 reads h3, {LATER}"]),
    # cycles: named once, from the first node on them; not searched when a hidden node has no valid kind
    ({("inputs", (0, 0)): N_OP + 1, ("inputs", (1, 0)): N_OP}, ["nodes h0 → h1 → h0 form a cycle"]),
    ({("kind", 0): 1, ("inputs", (0,)): [N_OP + 1, N_OP + 1], ("inputs", (1, 0)): N_OP},
     ["nodes h0 → h1 → h0 form a cycle"]),
    ({("inputs", (0, 0)): N_OP + 1, ("inputs", (1, 0)): N_OP + 2, ("inputs", (2, 0)): N_OP},
     ["nodes h0 → h1 → h2 → h0 form a cycle", "nodes h1 → h2 → h0 → h1 form a cycle"]),
    ({("kind", 1): 1, ("inputs", (0, 0)): N_OP + 1, ("inputs", (1,)): [0, N_OP]},
     ["nodes h0 → h1 → h0 form a cycle"]),
    ({("inputs", (0, 0)): N_OP + 1, ("kind", 1): 5},
     [f"node h0 reads h1, {LATER}", "node h1: kind 5 is neither unary (0) nor binary (1)"]),
    ({("inputs", (0, 0)): N_OP + 1, ("kind", 1): 5, ("inputs", (1, 0)): N_OP},  # no cycle search past a bad kind
     [f"node h0 reads h1, {LATER}", "node h1: kind 5 is neither unary (0) nor binary (1)"]),
    ({("inputs", (1, 0)): N_OP + 2, ("kind", 3): 5},  # an unordered pair without a cycle: h1 reads h2
     [f"node h1 reads h2, {LATER}", "node h3: kind 5 is neither unary (0) nor binary (1)"]),
    ({("inputs", (1, 0)): N_OP + 2}, [f"node h1 reads h2, {LATER}"]),
    ({("inputs", (0, 0)): N_OP + 1, ("inputs", (1, 1)): N_OP},  # h1 is unary: its second input is not read
     [f"node h0 reads h1, {LATER}"]),
    ({("inputs", (0, 0)): N_OP + 1, ("inputs", (1, 0)): N_OP + 5},  # vertex 29 (past h4) is no node to follow
     [f"node h0 reads h1, {LATER}", "node h1: input 0 is vertex 29, outside 0..28 (24 operands, then h0..h4)"]),
    ({("inputs", (0, 0)): N_OP + 1, ("inputs", (1, 0)): N_OP + 2, ("inputs", (2, 0)): N_OP + 1},  # a cycle past h0
     [f"node h0 reads h1, {LATER}", "nodes h1 → h2 → h1 form a cycle"]),
    ({("kind", 0): 7, ("inputs", (5, 1)): 29},  # a node with no valid kind does not stop the check of the others
     ["node h0: kind 7 is neither unary (0) nor binary (1)",
      "node root: input 1 is vertex 29, outside 0..28 (24 operands, then h0..h4)"]),
    # decays: decay_on is a bit; read only on the inputs a node has
    ({("decay_on", (5, 1)): 3}, ["node root: decay_on[1] is 3, not 0 or 1"]),
    ({("decay_on", (5, 1)): -1}, ["node root: decay_on[1] is -1, not 0 or 1"]),
    ({("decay_on", (0, 1)): 3}, []),
    ({("decay_on", (0, 1)): 1, ("decay_kind", (0, 1, 1)): 9}, []),
    ({**ROOT_DECAY, ("decay_unary", (5, 0, 1)): 12}, []),
    ({**ROOT_DECAY, ("decay_unary", (5, 0, 1)): 13}, [f"{DECAY}: root op index 13 is outside 0..12"]),
    ({**ROOT_DECAY, ("decay_unary", (5, 0, 1)): -1}, [f"{DECAY}: root op index -1 is outside 0..12"]),
    ({**ROOT_DECAY, ("decay_kind", (5, 0, 1)): 1, ("decay_inputs", (5, 0, 1, 1)): 1, ("decay_binary", (5, 0, 1)): 6},
     []),
    ({**ROOT_DECAY, ("decay_kind", (5, 0, 1)): 1, ("decay_inputs", (5, 0, 1, 1)): 1, ("decay_binary", (5, 0, 1)): 7},
     [f"{DECAY}: root op index 7 is outside 0..6"]),
    ({**ROOT_DECAY, ("decay_kind", (5, 0, 1)): 2}, [f"{DECAY}: root kind 2 is neither unary nor binary"]),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 0)): 15},
     [f"{DECAY}: root input 0 is 15, outside 0..14 (the decay operands a1..a14 and the decay hidden node)"]),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 0)): -1},
     [f"{DECAY}: root input 0 is -1, outside 0..14 (the decay operands a1..a14 and the decay hidden node)"]),
    ({**ROOT_DECAY, ("decay_kind", (5, 0, 1)): 1, ("decay_inputs", (5, 0, 1)): [3, 15]},
     [f"{DECAY}: root input 1 is 15, outside 0..14 (the decay operands a1..a14 and the decay hidden node)"]),
    # the decay's hidden node is checked only when the root reads it (vertex 14), and reads operands only
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 0)): 14, ("decay_inputs", (5, 0, 0, 0)): 13}, []),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 0)): 14, ("decay_inputs", (5, 0, 0, 0)): 14},
     [f"{DECAY}: hidden input 0 is 14, outside 0..13 (the decay operands)"]),
    ({**ROOT_DECAY, ("decay_kind", (5, 0, 1)): 1, ("decay_inputs", (5, 0, 1)): [2, 14],
      ("decay_kind", (5, 0, 0)): 1, ("decay_inputs", (5, 0, 0)): [1, -3]},
     [f"{DECAY}: hidden input 1 is -3, outside 0..13 (the decay operands)"]),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 0)): 14, ("decay_kind", (5, 0, 0)): 3},
     [f"{DECAY}: hidden kind 3 is neither unary nor binary"]),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 0)): 14, ("decay_unary", (5, 0, 0)): 13},
     [f"{DECAY}: hidden op index 13 is outside 0..12"]),
    # a decay root of no valid kind still reads its first input: the hidden node it names is checked as well
    ({**ROOT_DECAY, ("decay_kind", (5, 0, 1)): 2, ("decay_inputs", (5, 0, 1, 0)): 14, ("decay_kind", (5, 0, 0)): 3},
     [f"{DECAY}: root kind 2 is neither unary nor binary", f"{DECAY}: hidden kind 3 is neither unary nor binary"]),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 1)): 14, ("decay_inputs", (5, 0, 0, 0)): 14}, []),  # unary root
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 0, 0)): 14, ("decay_kind", (5, 0, 0)): 3}, []),  # hidden node unread
    # a unary decay node's second input is not read: any value there is no fault (root, then hidden node; a unary
    # root holding 14 there does not read the hidden node); the flip fault sends the genome past the screen
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 1)): 99, ("flip", ()): 2}, ["flip is 2, not 0 or 1"]),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 0)): 14, ("decay_inputs", (5, 0, 0, 1)): -7, ("flip", ()): 2},
     ["flip is 2, not 0 or 1"]),
    ({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 1)): 14, ("decay_inputs", (5, 0, 0, 0)): 14, ("flip", ()): 2},
     ["flip is 2, not 0 or 1"]),
    # momentum, schedule, flip
    ({("momentum", ()): 3}, []),
    ({("momentum", ()): 4}, ["momentum index 4 is outside 0..3 (none, momentum, nesterov_nos, nesterov)"]),
    ({("momentum", ()): -1}, ["momentum index -1 is outside 0..3 (none, momentum, nesterov_nos, nesterov)"]),
    ({("schedule", ()): 10}, []),
    ({("schedule", ()): 11}, ["schedule index 11 is outside 0..10 (constant, nos_lr0, nos_lr1, nos_lr2, nos_lr3, "
                              "nos_lr4, nos_lr5, nos_lr6, nos_lr7, nos_lr8, nos_lr2_search)"]),
    ({("schedule", ()): -1}, ["schedule index -1 is outside 0..10 (constant, nos_lr0, nos_lr1, nos_lr2, nos_lr3, "
                              "nos_lr4, nos_lr5, nos_lr6, nos_lr7, nos_lr8, nos_lr2_search)"]),
    ({("flip", ()): 1}, []),
    ({("flip", ()): 2}, ["flip is 2, not 0 or 1"]),
    ({("flip", ()): -1}, ["flip is -1, not 0 or 1"]),
]


@pytest.mark.parametrize("changes, faults", CASES)
def test_each_rule_reports_exactly_its_fault(changes, faults):
  g = _edit(changes)
  assert G.genome_faults(g) == faults
  if faults:  # the screen stops every faulty member (it may also send a well-formed one to the exact check)
    assert not _quick_ok(G.stack([g]), SPEC)[0]
  if faults:
    with pytest.raises(InputError) as err:
      G.validate_genome(g)
    assert str(err.value) == f"Invalid genome for the 'extended' space: {'; '.join(faults)}."
  else:
    G.validate_genome(g)


def test_the_screen_passes_every_well_formed_genome_of_both_spaces():
  """Random and mutated genomes (binary decay nodes, decays reading their hidden node, every momentum type and
  schedule) and the named ones: the vectorised screen sends none of them to the per-member check."""
  for spec in (SPEC, G.NOS_SPEC):
    genomes = [G.random_genome(seed, spec) for seed in range(80)]
    genomes += [G.mutate(seed, g, spec) for seed, g in enumerate(genomes[:30])]
    genomes += [G.known(name) for name in G.KNOWN] if spec is SPEC else []
    pop = G.stack(genomes)
    assert G.genome_faults(pop, spec) == []
    assert _quick_ok(pop, spec).all()
  decays = pop.decay_kind[pop.decay_on == 1]
  assert (decays == 1).any() and (pop.decay_inputs[pop.decay_on == 1][..., 1, :] == 14).any()


def test_field_types_and_shapes():
  g = G.known("adamw")
  assert G.genome_faults((1, 2)) == ["expected a Genome (NamedTuple of int arrays), got tuple"]
  assert G.genome_faults(g._replace(kind=np.asarray(g.kind, np.float32))) == [
      "field 'kind' must hold integers, got float32"]
  assert G.genome_faults(g._replace(flip=np.asarray(g.flip, bool), kind=np.asarray(g.kind, np.uint8))) == []
  assert G.genome_faults(g._replace(kind=np.asarray(g.kind, np.float32), flip=np.asarray(g.flip, float))) == [
      "field 'kind' must hold integers, got float32", "field 'flip' must hold integers, got float64"]
  huge = to_numpy(g)._replace(unary=np.asarray(g.unary, np.int64))
  huge.unary[0] = 2**53 + 1  # named exactly (not rounded through a float)
  assert G.genome_faults(huge) == ["node h0: unary op index 9007199254740993 is outside 0..26"]
  assert G.genome_faults(g._replace(inputs=np.zeros((6, 3), np.int32))) == [
      "field 'inputs' has shape (6, 3), expected (6, 2) (or a leading population axis) for the 'extended' space "
      "with 5 hidden nodes"]
  assert G.genome_faults(g._replace(decay_inputs=np.zeros((6, 2, 2), np.int32)))[0].startswith(
      "field 'decay_inputs' has shape (6, 2, 2), expected (6, 2, 2, 2)")
  nos = G.genome_faults(G.known("nos_opt7"), G.NOS_SPEC)  # the extended space's decay memory has no vertex axis
  assert nos == ["field 'decay_memory' has shape (6, 0, 11), expected (6, 25, 11) (or a leading population axis) "
                 "for the 'nos' space with 5 hidden nodes"]
  pop = G.stack([g, g])
  assert G.genome_faults(pop._replace(momentum=np.zeros(3, np.int32))) == [
      "field 'momentum' has leading shape (3,), other fields (2,)"]
  assert G.genome_faults(pop._replace(kind=np.zeros((3, 6), np.int32))) == [
      "field 'unary' has leading shape (2,), other fields (3,)", "field 'binary' has leading shape (2,), other "
      "fields (3,)"] + [f"field '{f}' has leading shape (2,), other fields (3,)" for f in G.Genome._fields[3:]]


def test_population_faults_name_the_member():
  good, bad = G.known("adamw"), _edit({("binary", 5): 14})
  assert G.genome_faults(G.stack([good, bad, good])) == ["member 1: node root: binary op index 14 is outside 0..9"]
  other = _edit({("flip", ()): 3})
  assert G.genome_faults(G.stack([bad, good, other])) == ["member 0: node root: binary op index 14 is outside 0..9",
                                                           "member 2: flip is 3, not 0 or 1"]
  pop = G.stack([good, good, bad, good])
  grid = G.Genome(*(np.asarray(x).reshape((2, 2, *np.shape(x)[1:])) for x in pop))
  assert G.genome_faults(grid) == ["member (1, 0): node root: binary op index 14 is outside 0..9"]
  with pytest.raises(InputError, match=r"^Invalid genome for the 'extended' space: member \(1, 0\): node root"):
    G.validate_genome(grid)


def test_the_message_lists_the_first_8_faults_and_counts_the_rest():
  g = _edit({("unary", ...): 99, ("binary", ...): 99})  # 12 faults
  faults = G.genome_faults(g)
  assert len(faults) == 12
  with pytest.raises(InputError) as err:
    G.validate_genome(g)
  assert str(err.value) == f"Invalid genome for the 'extended' space: {'; '.join(faults[:8])}; ... and 4 more."
  nine = _edit({("unary", ...): 99, ("binary", ((0, 1, 2),)): 99})
  assert "; ... and 1 more." in str(pytest.raises(InputError, G.validate_genome, nine).value)
  eight = _edit({("unary", ...): 99, ("binary", ((0, 1),)): 99})
  assert "more" not in str(pytest.raises(InputError, G.validate_genome, eight).value)


def test_traced_genomes_are_refused_by_name_and_concrete_ones_read():
  g = G.known("adamw")
  seen = []

  def check(genome):
    seen.append(is_concrete(genome))
    with pytest.raises(InputError) as err:
      G.validate_genome(genome)
    seen.append(str(err.value))
    return genome.kind

  jax.make_jaxpr(check)(g)
  assert seen == [False, "validate_genome needs concrete arrays, not traced ones: validate before jit/vmap."]
  assert is_concrete(g) and is_concrete(to_numpy(g))
  traced_one = []
  jax.make_jaxpr(lambda k: traced_one.append(is_concrete(g._replace(kind=k))) or k)(g.kind)
  assert traced_one == [False]


def test_a_space_with_more_hidden_nodes_moves_every_limit():
  spec = dataclasses.replace(SPEC, name="wide", num_hidden=6)
  g = to_numpy(empty_genome(spec))
  g.inputs[6, 0] = N_OP + 5  # the root reads h5
  assert G.genome_faults(g, spec) == []
  g.inputs[6, 0] = N_OP + 6
  assert G.genome_faults(g, spec) == ["node root: input 0 is vertex 30, outside 0..29 (24 operands, then h0..h5)"]


def test_validate_genome_checks_against_the_space_it_is_given():
  g = _edit({("unary", 0): 26})  # the default space's last unary op
  G.validate_genome(g)
  narrow = dataclasses.replace(SPEC, name="narrow", unary=SPEC.unary[:26])
  with pytest.raises(InputError) as err:
    G.validate_genome(g, narrow)
  assert str(err.value) == "Invalid genome for the 'narrow' space: node h0: unary op index 26 is outside 0..25."


def test_the_screen_stops_only_the_faulty_members_of_a_population():
  """One faulty member among well-formed ones: the screen's mask is False for it alone (a screen that stops the
  whole population still gives the right faults, only slowly: this pins the member-by-member screen)."""
  good = to_numpy(G.known("adamw"))
  binary_decays = dict(ROOT_DECAY)  # a binary decay root add(a1, hidden) over a binary hidden node add(a1, a2)
  binary_decays.update({("decay_kind", (5, 0, 1)): 1, ("decay_binary", (5, 0, 1)): 0,
                        ("decay_inputs", (5, 0, 1)): [0, 14], ("decay_kind", (5, 0, 0)): 1,
                        ("decay_binary", (5, 0, 0)): 0, ("decay_inputs", (5, 0, 0)): [0, 1]})
  wellformed = _edit(binary_decays)
  assert G.genome_faults(wellformed) == []
  # a unary decay root holding 14 in its unread second slot does not read the (here malformed) hidden decay node
  unread_hidden = _edit({**ROOT_DECAY, ("decay_inputs", (5, 0, 1, 1)): 14, ("decay_kind", (5, 0, 0)): 3})
  assert G.genome_faults(unread_hidden) == []
  # nor does a decay graph on an edge whose decay is off (its root reads the malformed hidden node)
  off_edge = _edit({("decay_inputs", (5, 0, 1, 0)): 14, ("decay_kind", (5, 0, 0)): 3})
  assert G.genome_faults(off_edge) == []
  faults = [{("inputs", (5, 1)): N_OP + 5}, {("decay_on", (5, 1)): 2},
            {**binary_decays, ("decay_binary", (5, 0, 0)): 7}, {**binary_decays, ("decay_inputs", (5, 0, 0)): [0, 14]},
            {("kind", 2): 2}, {("unary", 0): 27}, {("binary", 5): -1},
            # the root's second edge: a unary decay root reading the malformed hidden node (the first edge has none)
            {("decay_on", (5, 1)): 1, ("decay_inputs", (5, 1, 1, 0)): 14, ("decay_kind", (5, 1, 0)): 3}]
  for fault in faults:
    bad = _edit(fault)
    assert G.genome_faults(bad) != []
    pop = G.stack([good, wellformed, bad, unread_hidden, off_edge])
    assert _quick_ok(pop, SPEC).tolist() == [True, True, False, True, True]


@pytest.mark.parametrize("thing", [42, None, 1.5])
def test_something_that_is_not_a_tuple_is_refused_by_name(thing):
  with pytest.raises(InputError) as err:
    G.validate_genome(thing)
  assert str(err.value) == (f"Invalid genome for the 'extended' space: expected a Genome (NamedTuple of int arrays), "
                            f"got {type(thing).__name__}.")
