"""Genome sampling, mutation, canonical form, hashing and JSON by op names."""

import dataclasses
import json

import numpy as np
import pytest

import optix_evo.graph as G
from optix_evo.graph import ops
from optix_evo.graph.integrity import _malformed


@pytest.fixture(scope="module")
def genomes():
  rand = [G.random_genome(seed) for seed in range(40)]
  return rand + [G.mutate(100 + i, g) for i, g in enumerate(rand)]


def test_sampling_is_deterministic_and_structurally_valid(genomes):
  a, b = G.random_genome(7), G.random_genome(7)
  assert all(np.array_equal(x, y) for x, y in zip(a, b))
  pop = G.stack(genomes)
  assert pop.inputs.shape == (len(genomes), 6, 2) and pop.kind.dtype == np.int32
  assert not _malformed(pop, G.DEFAULT_SPEC).any()
  spec = G.DEFAULT_SPEC
  for g in genomes:  # the root always reads a hidden node (nos.md §1.2); decays stay in [0, 1]
    root = spec.num_hidden
    assert any(g.inputs[root, s] >= spec.num_operands for s in range(G.genome.arity(g.kind[root])))
    for i, s in zip(*np.nonzero(g.decay_on)):
      vals = G.decay_values(g, int(i), int(s))
      assert np.all((vals >= 0) & (vals <= 1))


def test_mutation_changes_the_optimizer(genomes):
  for i, g in enumerate(genomes[:40]):
    child = G.mutate(i, g)
    assert G.canonical_hash(child) != G.canonical_hash(g)


def test_mutation_reaches_every_kind_of_change():
  parent = G.known("nos_opt7")
  kinds = set()
  for seed in range(60):
    c = G.mutate(seed, parent)
    kinds.add("momentum" if c.momentum != parent.momentum else
              "schedule" if c.schedule != parent.schedule else
              "decay" if any(not np.array_equal(getattr(c, f), getattr(parent, f))
                             for f in ("decay_on", "decay_unary", "decay_binary", "decay_inputs"))
              else "arity" if not np.array_equal(c.kind, parent.kind) else
              "connection" if not np.array_equal(c.inputs, parent.inputs) else "op")
  assert {"momentum", "decay", "arity", "connection", "op"} <= kinds


def test_json_round_trip(genomes):
  for g in genomes + [G.known(n) for n in G.KNOWN]:
    text = json.dumps(G.to_json(g))
    back = G.from_json(text)
    assert all(np.array_equal(x, y) for x, y in zip(G.canonical(g), back))
    assert G.canonical_hash(back) == G.canonical_hash(g)


def test_json_stays_valid_when_tables_grow():
  spec = dataclasses.replace(G.DEFAULT_SPEC, unary=ops.UNARY[:1] + (ops.Op("cube", "x ** 3", "({0})^3", "{0}^3"),)
                             + ops.UNARY[1:])
  data = G.to_json(G.known("nos_opt7"))
  g = G.from_json(data, spec)
  assert G.render(g, spec) == G.render(G.known("nos_opt7"))
  assert g.unary[spec.num_hidden] == spec.index("unary", "tanh") != G.DEFAULT_SPEC.index("unary", "tanh")


def test_json_rejects_unknown_names():
  data = G.to_json(G.known("adam"))
  data["nodes"]["root"]["op"] = "teleport"
  with pytest.raises(ValueError, match="teleport"):
    G.from_json(data)


def test_canonical_hash_ignores_layout_and_commutative_order():
  a = G.known("adamw")  # root = add(h0, 1e-4w)
  data = G.to_json(a)
  data["nodes"]["root"]["inputs"] = data["nodes"]["root"]["inputs"][::-1]
  assert G.canonical_hash(G.from_json(data)) == G.canonical_hash(a)
  sub = G.to_json(a)
  sub["nodes"]["root"]["op"] = "sub"
  assert G.canonical_hash(G.from_json(sub)) != G.canonical_hash(a)
  # an identity chain and a dead node do not change the optimizer
  longer = {"format": "optix_evo.genome/1", "momentum": "none", "flip": False, "schedule": "constant",
            "nodes": {"h0": {"op": "id", "inputs": ["adam"]}, "h1": {"op": "exp", "inputs": ["g"]},
                      "h2": {"op": "id", "inputs": ["h0"]}, "root": {"op": "id", "inputs": ["h2"]}}}
  assert G.canonical_hash(G.from_json(longer)) == G.canonical_hash(G.known("adam"))


def test_spec_validation():
  with pytest.raises(ValueError, match="mutation_probs"):
    G.GenomeSpec(mutation_probs=(1.0,))
  with pytest.raises(ValueError, match="unary"):
    G.GenomeSpec().index("unary", "nope")
