"""Genome validation at the door: arrays (validate_genome, interpret, to_json) and JSON documents (from_json), one
message per fault naming the node, plus a hypothesis fuzz of genome JSON (works or raises InputError)."""

import copy
import json

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import optix_evo.graph as G
from optix_evo.errors import InputError
from optix_evo.graph.genome import to_numpy

SPEC = G.DEFAULT_SPEC
N_OP = SPEC.num_operands


def _broken(changes):
  """known("adamw") (h0 = id(adam), root = add(h0, 1e-4w)) with some entries replaced: {(field, index): value}."""
  g = to_numpy(G.known("adamw"))
  for (field, index), value in changes.items():
    getattr(g, field)[index] = value
  return g


@pytest.mark.parametrize("changes, message", [
    ({("binary", 5): 14}, "node root: binary op index 14 is outside 0..9"),
    ({("unary", 0): -1}, "node h0: unary op index -1 is outside 0..26"),
    ({("kind", 0): 7}, "node h0: kind 7 is neither unary (0) nor binary (1)"),
    ({("inputs", (5, 1)): 40}, "node root: input 1 is vertex 40, outside 0..28"),
    ({("inputs", (0, 0)): N_OP}, "node h0 reads itself"),
    ({("inputs", (0, 0)): N_OP + 3}, "node h0 reads h3, a later node"),
    ({("inputs", (0, 0)): N_OP + 1, ("kind", 1): 0, ("inputs", (1, 0)): N_OP}, "nodes h0 → h1 → h0 form a cycle"),
    ({("decay_on", (5, 0)): 1, ("decay_unary", (5, 0, 1)): 99}, "node root, decay on input 0: root op index 99"),
    ({("decay_on", (5, 1)): 1, ("decay_inputs", (5, 1, 1, 0)): 15}, "node root, decay on input 1: root input 0 is 15"),
    ({("decay_on", (5, 1)): 3}, "node root: decay_on[1] is 3"),
    ({("momentum", ()): 4}, "momentum index 4 is outside 0..3"),
    ({("schedule", ()): 11}, "schedule index 11 is outside 0..10"),
    ({("flip", ()): 2}, "flip is 2, not 0 or 1"),
])
def test_array_faults_name_the_node(changes, message):
  g = _broken(changes)
  faults = G.genome_faults(g)
  assert any(message in f for f in faults), faults
  with pytest.raises(InputError, match="Invalid genome"):
    G.validate_genome(g)
  with pytest.raises(InputError):
    G.interpret(g, 1e-3)  # concrete genomes are checked before anything is built
  with pytest.raises(InputError):
    G.to_json(g)  # never writes a file that from_json refuses


def test_shapes_types_and_populations():
  g = G.known("adam")
  assert G.genome_faults(g) == [] and G.genome_faults(G.stack([g, g])) == []
  assert "shape (6, 3)" in G.genome_faults(g._replace(inputs=np.zeros((6, 3), np.int32)))[0]
  assert "integers, got float32" in G.genome_faults(g._replace(kind=g.kind.astype(np.float32)))[0]
  assert "expected (7,)" in G.genome_faults(g, G.GenomeSpec(num_hidden=6))[0]
  pop = G.stack([g, _broken({("binary", 5): 14}), g])
  assert G.genome_faults(pop) == ["member 1: node root: binary op index 14 is outside 0..9"]
  assert "a Genome" in G.genome_faults((1, 2))[0]
  bad_dead = _broken({("unary", 3): 50})  # a dead node's fields are still indices into the tables
  assert G.genome_faults(bad_dead) == ["node h3: unary op index 50 is outside 0..26"]


def test_interpret_accepts_traced_genomes():
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  params = {"w": jnp.ones(3)}
  step = jax.jit(lambda g: G.interpret(g, 0.1).update(params, G.interpret(g, 0.1).init(params), params)[0])
  np.testing.assert_allclose(step(G.known("sgd"))["w"], -0.1 * np.ones(3), rtol=1e-6)
  with pytest.raises(InputError, match="concrete"):
    jax.jit(lambda g: G.validate_genome(g))(G.known("sgd"))


def _doc(name="adamw"):
  return G.to_json(G.known(name))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["nodes"].pop("root"), "the genome has no 'root' node"),
    (lambda d: d.update(nodes={}), "no 'root' node"),
    (lambda d: d.update(nodes=[1, 2]), "'nodes' must be an object"),
    (lambda d: d.pop("nodes"), "'nodes' must be an object"),
    (lambda d: d["nodes"]["h0"].update(inputs=["g", "adam"]), "node h0: op 'id' is unary but has 2 inputs"),
    (lambda d: d["nodes"]["root"].update(inputs=["h0"]), "node root: op 'add' is binary but has 1 input"),
    (lambda d: d["nodes"]["root"].update(inputs=["h0", "g", "g"]), "node root has 3 inputs"),
    (lambda d: d["nodes"].update(h7={"op": "id", "inputs": ["g"]}), "node label 'h7' is out of range"),
    (lambda d: d["nodes"].update(x={"op": "id", "inputs": ["g"]}), "unknown node label 'x'"),
    (lambda d: d.pop("momentum"), "the genome has no 'momentum'"),
    (lambda d: d.update(momentum="heavy"), "unknown momentum type 'heavy'"),
    (lambda d: d.update(format="optix_evo.genome/9"), "format 'optix_evo.genome/9'"),
    (lambda d: d.update(space="paper"), "Unknown genome space 'paper'"),
    (lambda d: d["nodes"]["root"].update(inputs=["h3", "g"]), "node root: input 'h3' is not defined"),
    (lambda d: d["nodes"]["root"].update(inputs=["root", "g"]), "'root' cannot be an input"),
    (lambda d: d["nodes"]["h0"].update(inputs=["h0"]), "node h0 reads itself"),
    (lambda d: d["nodes"]["h0"].update(inputs=["banana"]), "node h0: unknown input 'banana'"),
    (lambda d: d["nodes"]["h0"].update(op="teleport"), "node h0: unknown op 'teleport'"),
    (lambda d: d["nodes"]["h0"].update(op=3), "node h0: 'op' must be an op name"),
    (lambda d: d["nodes"]["h0"].update(inputs="g"), "node h0: 'inputs' must be a list"),
    (lambda d: d["nodes"]["h0"].update(colour="red"), "node h0: unknown field 'colour'"),
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
    (lambda d: d.update(flip="yes"), "'flip' must be true or false"),
    (lambda d: d.update(schedule="warp"), "unknown schedule 'warp'"),
    (lambda d: d["nodes"].update(h0={"op": "id", "inputs": ["h1"]}, h1={"op": "exp", "inputs": ["h0"]}),
     "nodes h0 → h1 → h0 form a cycle"),
    (lambda d: d["nodes"]["h0"].update(decays={"1": {"root": {"op": "id", "inputs": ["a1"]}}}),
     "node h0: decay on input slot '1', but the node has 1 input"),
    (lambda d: d["nodes"]["h0"].update(decays={"0": {"hidden": {"op": "id", "inputs": ["a1"]}}}),
     "node h0, input 0: a decay must be an object with a 'root' node"),
    (lambda d: d["nodes"]["h0"].update(decays={"0": {"root": {"op": "id", "inputs": ["hidden"]}}}),
     "the decay root reads 'hidden' but no 'hidden' decay node is given"),
    (lambda d: d["nodes"]["h0"].update(decays={"0": {"root": {"op": "add", "inputs": ["a1"]}}}),
     "node h0, input 0, decay root: op 'add' is binary but has 1 input"),
    (lambda d: d["nodes"]["h0"].update(decays={"0": {"root": {"op": "id", "inputs": ["a99"]}}}),
     "unknown decay operand 'a99'"),
    (lambda d: d["nodes"]["h0"].update(decays=[]), "node h0: 'decays' must be an object"),
])
def test_json_faults_name_the_node(edit, message):
  doc = _doc()
  edit(doc)
  with pytest.raises(InputError) as info:
    G.from_json(doc)
  assert message in str(info.value), str(info.value)
  assert "\n" not in str(info.value)


def test_json_reports_every_fault_at_once():
  doc = _doc()
  doc["nodes"]["h0"]["op"] = "teleport"
  doc["nodes"]["root"]["inputs"] = ["h0", "zzz"]
  doc.pop("momentum")
  message = str(pytest.raises(InputError, G.from_json, doc).value)
  for part in ("node h0: unknown op 'teleport'", "node root: unknown input 'zzz'", "no 'momentum'"):
    assert part in message


def test_json_text_and_non_objects():
  with pytest.raises(InputError, match="not valid JSON"):
    G.from_json("{nodes")
  with pytest.raises(InputError, match="must be a JSON object, got list"):
    G.from_json("[]")
  assert G.canonical_hash(G.from_json(json.dumps(_doc()))) == G.canonical_hash(G.known("adamw"))


def test_to_json_refuses_cyclic_arrays_and_population():
  cyclic = _broken({("inputs", (0, 0)): N_OP + 1, ("kind", 1): 0, ("inputs", (1, 0)): N_OP})
  with pytest.raises(InputError, match="cycle"):
    G.to_json(cyclic)
  with pytest.raises(InputError, match="one genome"):
    G.to_json(G.stack([G.known("adam")] * 2))


# --- fuzz ------------------------------------------------------------------------------------------------------

NAMES = sorted({o.name for o in SPEC.operands} | {u.name for u in SPEC.unary} | {b.name for b in SPEC.binary}
               | {d.name for d in SPEC.decay_operands} | {f"h{i}" for i in range(8)}
               | {"root", "hidden", "x", "", "none", "momentum", "nesterov", "constant", "nos_lr3"})
_SCALARS = st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=True) | st.sampled_from(NAMES)
JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner,
                                                                                        max_size=3), max_leaves=8)
SEEDS = [G.to_json(G.known(n)) for n in ("adamw", "nos_opt1", "nos_opt9", "nos_opt4", "powersign_ld")]


def _paths(doc, prefix=()):
  yield prefix
  if isinstance(doc, dict):
    for k, v in doc.items():
      yield from _paths(v, prefix + (k,))
  elif isinstance(doc, list):
    for i, v in enumerate(doc):
      yield from _paths(v, prefix + (i,))


@st.composite
def mutated_documents(draw):
  doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
  for _ in range(draw(st.integers(1, 4))):
    paths = [p for p in _paths(doc) if p]
    if not paths:
      break
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
      parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "name", "add"]))
    if action == "delete":
      del parent[path[-1]]
    elif action == "replace":
      parent[path[-1]] = draw(JSON)
    elif action == "name":
      parent[path[-1]] = draw(st.sampled_from(NAMES))
    elif isinstance(parent, dict):
      parent[draw(st.sampled_from(NAMES))] = draw(JSON)
  return doc


def _load_or_refuse(doc):
  try:
    g = G.from_json(doc)
  except InputError:
    return
  G.validate_genome(g)  # a loaded genome is well formed, and round-trips
  back = G.from_json(json.dumps(G.to_json(g)))
  assert all(np.array_equal(x, y) for x, y in zip(back, g))


FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@settings(max_examples=150, **FUZZ)
@given(mutated_documents())
def test_fuzz_mutated_genome_json(doc):
  _load_or_refuse(doc)


@settings(max_examples=60, **FUZZ)
@given(JSON)
def test_fuzz_random_json(doc):
  _load_or_refuse(doc)
  _load_or_refuse({"format": "optix_evo.genome/2", "space": "extended", "nodes": doc, "momentum": "none"})


@settings(max_examples=100, **FUZZ)
@given(st.integers(0, 2**31 - 1), st.lists(st.tuples(st.integers(0, 11), st.integers(0, 23), st.integers(-2, 45)),
                                           min_size=1, max_size=3))
def test_fuzz_genome_arrays(seed, edits):
  """Random genomes with random entries overwritten: validate_genome passes (then to_json loads back) or raises."""
  g = to_numpy(G.random_genome(seed))
  for field, index, value in edits:
    x = getattr(g, G.Genome._fields[field])
    x.reshape(-1)[index % x.size] = value
  try:
    G.validate_genome(g)
  except InputError:
    return
  _load_or_refuse(G.to_json(g))


@pytest.mark.slow
@settings(max_examples=3000, **FUZZ)
@given(mutated_documents())
def test_fuzz_mutated_genome_json_large(doc):
  _load_or_refuse(doc)


@pytest.mark.slow
@settings(max_examples=2000, **FUZZ)
@given(JSON)
def test_fuzz_random_json_large(doc):
  _load_or_refuse(doc)
  _load_or_refuse({"format": "optix_evo.genome/2", "space": "extended", "nodes": doc, "momentum": "none"})
