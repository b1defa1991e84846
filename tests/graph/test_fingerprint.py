"""Behavioural fingerprints: equal updates on the probes ⇔ equal fingerprints, whatever the graph looks like."""

import numpy as np

import optix_evo as ox
from optix_evo.graph.fingerprint import behaviour_fingerprints, distinct_behaviour


def test_equal_behaviour_shares_a_fingerprint_and_different_behaviour_does_not():
  g = ox.graph
  adam, sgd, lion = g.known("adam"), g.known("sgd"), g.known("lion")
  # adam with an inactive extra hidden node: another genome (other arrays), the same optimizer
  inactive = int(np.flatnonzero(~np.asarray(g.active_nodes(adam, g.DEFAULT_SPEC)))[0])
  padded = adam._replace(unary=np.asarray(adam.unary).copy())
  padded.unary[inactive] = (int(padded.unary[inactive]) + 1) % len(g.DEFAULT_SPEC.unary)
  assert g.render(padded) == g.render(adam) and g.canonical_hash(padded) == g.canonical_hash(adam)
  # -(-(g)) and max(g, g): other graphs and canonical hashes than sgd's u = g, the same updates
  doc = {"format": "optix_evo.genome/2", "space": "extended", "momentum": "none", "flip": False, "schedule": "constant"}
  double_neg = g.from_json({**doc, "nodes": {"h0": {"op": "neg", "inputs": ["g"]}, "root": {"op": "neg",
                                                                                            "inputs": ["h0"]}}})
  max_gg = g.from_json({**doc, "nodes": {"h0": {"op": "max", "inputs": ["g", "g"]}, "root": {"op": "id",
                                                                                             "inputs": ["h0"]}}})
  assert len({g.canonical_hash(x) for x in (sgd, double_neg, max_gg)}) == 3
  population = [adam, sgd, padded, lion, double_neg, adam, max_gg]
  fps = behaviour_fingerprints(population)
  assert fps[0] == fps[2] == fps[5] and fps[1] == fps[4] == fps[6] and len({fps[0], fps[1], fps[3]}) == 3
  assert distinct_behaviour(population) == [0, 1, 3]
  assert behaviour_fingerprints([lion]) == [fps[3]]  # independent of the batch it is computed in
