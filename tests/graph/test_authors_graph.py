"""The "nos" space's integrity check and mutation against NumPy transcriptions of the authors' code
(``NeuralOptimizerSearch.py``, OUStudent/NeuralOptimizerSearch @005dfce): ``sphere`` / ``degenerate_opt_detection``
/ ``check_integrity`` (L1385-1427), the decay bookkeeping of ``OptimizerChrom.mutate`` (decays keyed by (node,
source vertex), L930-946 and L1205-1319) and ``DecaySchedule.mutate`` with its result ignored (L1317-1319)."""

import dataclasses

import numpy as np
import pytest

import optix_evo.graph as G
from optix_evo.graph.genome import to_numpy

NOS = G.NOS_SPEC
STRICT = dataclasses.replace(NOS, rules="library")  # the same tables with the library's stricter rules
LRS = (1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


def _doc(nodes, momentum="none", flip=False):
  return G.from_json({"format": "optix_evo.genome/2", "space": "nos", "nodes": nodes, "momentum": momentum,
                      "flip": flip, "schedule": "constant"}, NOS)


# ---- the authors' integrity check, transcribed (float32 as TensorFlow) ----------------------------------------------
def _lr_warmup_cosine_decay(lr, total=35, warmup=6):
  t = np.arange(total, dtype=np.float64)
  cosine = 0.5 * lr * (1 + np.cos(np.pi * (t - warmup) / float(total - warmup)))
  return np.where(t < warmup, lr * (t / warmup), cosine)


def _sphere(update, kind, lr, flip, updates_before_read=34):
  """``sphere()``: 35 iterations of (read the loss, take the gradient, apply the update): the loss returned is the
  one read before the 35th update (``updates_before_read=34``)."""
  x = np.array([1.1, .9, 1.1, .9, 1], np.float32)
  b = np.array([0.5, 1.5, -0.3, -1.2, 0.75], np.float32)
  lrs = _lr_warmup_cosine_decay(lr).astype(np.float32)
  ms = np.concatenate((np.linspace(0.95, 0.85, 6), np.linspace(0.85, 0.95, 29))).astype(np.float32)
  mom = np.zeros(5, np.float32)
  sign = np.float32(1 if flip else -1)
  with np.errstate(all="ignore"):
    for i in range(updates_before_read):
      u = update(2 * (x - b), i)
      if kind == 0:
        x = x + sign * lrs[i] * u
      elif kind == 1:
        mom = ms[i] * mom + sign * lrs[i] * u
        x = x + mom
      else:
        mom = ms[i] * mom + sign * lrs[i] * u
        x = x + mom + sign * lrs[i] * u
    return np.sum((x - b) ** 2)


def authors_check_integrity(update, kind, flip, updates_before_read=34):
  """``check_integrity`` / ``degenerate_opt_detection``: (passed, flip afterwards)."""
  for new_flip in (False, True):
    for lr in LRS:
      if _sphere(update, kind, lr, new_flip, updates_before_read) < 3.5:
        return True, (flip or new_flip)  # a passing unflipped run leaves the inherited flip alone
  return False, flip


def _a13(t, total=35):
  decay = 0.95 * (1 - (t + 1) / total)
  return decay / ((1 - 0.95) + decay)


A13 = {"1": {"root": {"op": "id", "inputs": ["a13"]}}}
TIMES2 = lambda src: {"op": "mul", "inputs": [src, "2"]}  # noqa: E731
# (genome, its update in NumPy, momentum kind)
PLANTED = {
    # u = 2g / a13: a13 is 0 at the last step, so the 35th update explodes; read before it, the loss has halved
    "nesterov_2g_over_a13": (
        _doc({"h0": TIMES2("g"), "root": {"op": "div", "inputs": ["h0", "1"], "decays": A13}}, "nesterov_nos"),
        lambda g, i: np.float32(2) * g / (np.float32(_a13(i)) + np.float32(1e-7)), 2),
    "momentum_8g_over_a13": (
        _doc({"h0": TIMES2("g"), "h1": TIMES2("h0"), "h2": TIMES2("h1"),
              "root": {"op": "div", "inputs": ["h2", "1"], "decays": A13}}, "momentum"),
        lambda g, i: np.float32(8) * g / (np.float32(_a13(i)) + np.float32(1e-7)), 1),
    # no gradient: the library names the reason, the authors' descent test fails it all the same
    "no_gradient": (_doc({"h0": {"op": "exp", "inputs": ["1e-4w"]}, "root": {"op": "id", "inputs": ["h0"]}}),
                    None, 0),
    # plain SGD stored with flip = 1: the unflipped run passes, and the authors keep the inherited flip
    "sgd_flipped": (_doc({"h0": {"op": "id", "inputs": ["g"]}, "root": {"op": "id", "inputs": ["h0"]}}, flip=True),
                    lambda g, i: g, 0),
}


@pytest.fixture(scope="module")
def checked():
  pop = G.stack([genome for genome, _, _ in PLANTED.values()])
  return G.check_integrity(pop, NOS), G.check_integrity(pop, STRICT)


def test_nos_integrity_is_the_authors_descent_test(checked):
  nos, strict = checked
  x0_update = lambda g, i: np.exp(np.float32(1e-4) * np.array([1.1, .9, 1.1, .9, 1], np.float32))  # noqa: E731
  for k, (name, (genome, update, kind)) in enumerate(PLANTED.items()):
    update = update or x0_update  # (the no-gradient update hardly moves w: exp(1e-4 w) ~ exp(1e-4 x0))
    passed, flip = authors_check_integrity(update, kind, bool(genome.flip))
    assert bool(nos.passed[k]) == passed, name
    assert bool(nos.genomes.flip[k]) == flip, name
  assert nos.passed.tolist() == [True, True, False, True]
  assert nos.reason_names()[2] == "no_descent" and nos.genomes.flip[3] == 1
  # the library's stricter check rejects the a13 genomes (their last update explodes), names the missing gradient,
  # and turns the flip of the SGD genome back off
  assert strict.passed.tolist() == [False, False, False, True]
  assert strict.reason_names()[2] == "no_gradient" and strict.genomes.flip[3] == 0


def test_the_loss_is_read_before_the_35th_update():
  """The a13 genomes pass with the loss read before the 35th update and fail with it read after."""
  for name in ("nesterov_2g_over_a13", "momentum_8g_over_a13"):
    _, update, kind = PLANTED[name]
    assert authors_check_integrity(update, kind, False)[0], name
    assert not authors_check_integrity(update, kind, False, updates_before_read=35)[0], name


# ---- decays keyed by (node, source vertex) ---------------------------------------------------------------------------
def _edge_decays(g):
  """{(node, source vertex): packed decay} of the connected edges of every node (what the authors' ``decay`` matrix
  holds at the adjacency's nonzero entries)."""
  out = {}
  for i in range(NOS.num_nodes):
    for s in range(2 if g.kind[i] == 1 else 1):
      out[(i, int(g.inputs[i, s]))] = tuple(G.genome.pack_decay(g, i, s)) if g.decay_on[i, s] else None
  return out


def _rewire_run(spec, steps=120, seed=0):
  """Connection and unary <-> binary mutations of Opt7, one after another, checked against the authors' matrix."""
  from optix_evo.graph.mutation import _mutate_once  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  g = to_numpy(G.known("nos_opt7", NOS))
  authors = dict(_edge_decays(g))  # decay[node][source]: set entries survive disconnection
  mismatches, kept, dropped, restored = 0, 0, 0, 0
  for _ in range(steps):
    before = _edge_decays(g)
    child = to_numpy(g)
    _mutate_once(rng, child, spec, what=int(rng.choice([1, 2])))
    after = _edge_decays(child)
    for (i, v), decay in after.items():
      expected = authors.get((i, v))
      mismatches += decay != expected
      if (i, v) not in before and expected is not None:
        restored += 1
    for (i, v), decay in before.items():
      if (i, v) not in after and decay is not None:  # an edge with a decay lost its source
        slots = [s for s in range(2) if child.decay_on[i, s] and tuple(G.genome.pack_decay(child, i, s)) == decay]
        kept += bool(slots)
        dropped += not slots
    authors.update(after)
    g = child
  return mismatches, kept, dropped, restored


def test_rewiring_drops_the_decay_and_reconnecting_brings_it_back():
  mismatches, kept, dropped, restored = _rewire_run(NOS)
  assert mismatches == 0 and kept == 0 and dropped > 3 and restored > 2
  mismatches, kept, _, _ = _rewire_run(STRICT)  # the library's rule: a decay stays with its input slot
  assert mismatches > 0 and kept > 3


def test_memory_survives_topological_relabelling_and_full_mutation():
  g = to_numpy(G.known("nos_opt7", NOS))
  assert g.decay_memory.shape == (NOS.num_nodes, NOS.num_vertices, 11)
  assert G.known("nos_opt7").decay_memory.shape == (G.EXTENDED_SPEC.num_nodes, 0, 11)  # the extended space: none
  child = g
  for seed in range(30):  # whole mutations (canonical form, topological relabelling) keep the memory consistent
    child = G.mutate(seed, child, NOS)
    G.validate_genome(child, NOS)
    for i in range(NOS.num_nodes):  # a connected (node, source) pair never has a remembered decay too
      for s in range(2 if child.kind[i] == 1 else 1):
        assert not child.decay_memory[i, child.inputs[i, s]].any()


# ---- DecaySchedule.mutate's result ignored ---------------------------------------------------------------------------
def _decay_mutants(spec, count=400, seed=0):
  from optix_evo.graph.mutation import mutate_decay  # pylint: disable=import-outside-toplevel
  from optix_evo.graph.sampling import sample_decay  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  invalid = same = 0
  for _ in range(count):
    g = to_numpy(G.known("nos_opt7", NOS))
    sample_decay(rng, g, NOS.num_hidden, 0, spec)
    before = G.decay_values(g, NOS.num_hidden, 0, NOS)
    mutate_decay(rng, g, NOS.num_hidden, 0, spec)
    invalid += not _in_range(g)
    same += np.linalg.norm(G.decay_values(g, NOS.num_hidden, 0, NOS) - before) <= 1e-4
  return invalid / count, same / count


def _in_range(g):
  from optix_evo.graph.decays import decay_in_range  # pylint: disable=import-outside-toplevel
  return decay_in_range(g, NOS.num_hidden, 0, NOS)


def test_an_invalid_or_unchanged_decay_mutation_survives():
  invalid, same = _decay_mutants(NOS)
  assert invalid > 0.05 and same > 0  # kept as drawn, as the authors' code keeps them
  invalid, same = _decay_mutants(STRICT, count=100)
  assert invalid == 0 and same == 0  # the library re-draws until valid and different


# ---- how often each mutation kind happens ----------------------------------------------------------------------------
def _adjacency(g):
  """The authors' 26 x 26 adjacency (20 operands, 5 hidden nodes, the root; 1 = first, 2 = second input)."""
  adj = np.zeros((26, 26), int)
  for i in range(6):
    adj[20 + i, g.inputs[i, 0]] = 1
    if g.kind[i] == 1:
      adj[20 + i, g.inputs[i, 1]] = 2
  return adj


def _active(adj):
  active, queue = np.zeros(26, bool), [25]
  while queue:
    v = queue.pop()
    if not active[v]:
      active[v] = True
      queue += list(np.flatnonzero(adj[v]))
  return active


def _cyclic(adj, active):
  state = {}

  def visit(v):
    state[v] = 1
    for w in np.flatnonzero(adj[v]):
      if active[w] and (state.get(w) == 1 or (w not in state and visit(w))):
        return True
    state[v] = 2
    return False

  return any(visit(v) for v in np.flatnonzero(active) if v not in state)


KIND_R = {None: (0, 1), 0: (0.6, 1), 1: (0.3, 0.6), 2: (0.2, 0.3), 3: (0.1, 0.2), 4: (0, 0.1)}  # r's interval


def authors_mutation(rng, adj, binary, kind=None):
  """The structural part of ``OptimizerChrom.mutate`` (L1205-1319): the kind drawn (``kind`` forces it), and
  whether the active graph stays acyclic (else the authors redraw the whole mutation)."""
  adj, binary = adj.copy(), list(binary)
  r = rng.uniform(*KIND_R[kind])
  idx = rng.choice(np.flatnonzero(_active(adj)[20:]))
  v, row = 20 + idx, adj[20 + idx]

  def put(slot, c):
    row[row == slot] = 0
    row[c] = slot

  if r >= 0.6:
    kind = 0
  elif r >= 0.3:
    kind = 1
    c = rng.choice(np.flatnonzero(row == 0))
    if not binary[idx]:
      if idx == 5:
        c = rng.choice(np.flatnonzero(row == 0)[20:-1])
      put(1, c)
    elif rng.uniform(0, 1) <= 0.2:
      pass  # swap the arguments: no new edge
    elif idx == 5 and np.sum(np.flatnonzero(row) >= 20) < 2:
      cons = np.flatnonzero(row)
      slot = 1 if rng.uniform(0, 1) < 0.5 else 2
      if row[cons[cons < 20][0]] != slot:  # the hidden side: a hidden vertex
        c = rng.choice(np.flatnonzero(row == 0)[20:-1])
      put(slot, c)
    else:
      put(1 if rng.uniform(0, 1) < 0.5 else 2, c)
  elif r >= 0.2:
    kind = 2
    c = rng.choice(np.flatnonzero(row == 0))
    if not binary[idx]:
      binary[idx] = True
      if rng.uniform(0, 1) <= 0.5:
        row[c] = 2
      else:
        row[row == 1] = 2
        row[c] = 1
    else:  # binary -> unary deletes an input: no new edge
      binary[idx] = False
      row[row == 2] = 0
  elif r >= 0.1:
    kind = 3
  else:
    kind = 4
  del v
  return kind, not _cyclic(adj, _active(adj))


def _accepted_kinds(parents, draws, spec, library: bool, seed=0, kind=None):
  from optix_evo.graph.analysis import topological_order  # pylint: disable=import-outside-toplevel
  from optix_evo.graph.mutation import _mutate_once  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(seed)
  counts = np.zeros(5)
  for parent in parents:
    adj, binary = _adjacency(parent), [bool(k) for k in parent.kind]
    for _ in range(draws):
      if library:
        child = to_numpy(parent)
        drawn = _mutate_once(rng, child, spec, what=kind)
        ok = drawn is not None and topological_order(child, spec) is not None
      else:
        drawn, ok = authors_mutation(rng, adj, binary, kind)
      if ok:
        counts[kind if kind is not None else drawn] += 1
  return counts


@pytest.fixture(scope="module")
def parents():
  """Random genomes of the nos space with at least three active hidden nodes (where inputs are drawn most)."""
  candidates = (G.random_genome(seed, NOS) for seed in range(400))
  out = [to_numpy(g) for g in candidates if G.active_nodes(g, NOS)[:-1].sum() >= 3][:6]
  assert len(out) == 6
  return out


def _chi2(a, b):
  pooled = (a + b) / (a.sum() + b.sum())
  return sum(((c - pooled * c.sum()) ** 2 / (pooled * c.sum())).sum() for c in (a, b))


def test_rewiring_and_switching_are_redrawn_as_often_as_in_the_authors_code(parents):
  """A connection or unary <-> binary mutation whose new input closes a cycle (the node itself, the root, or a node
  that reads this one) is redrawn: the share of such draws matches the authors' (binomial, 6000 draws a side)."""
  for kind in (1, 2):
    draws = 1000
    total = draws * len(parents)
    theirs = _accepted_kinds(parents, draws, NOS, library=False, seed=1, kind=kind)[kind] / total
    ours = _accepted_kinds(parents, draws, NOS, library=True, kind=kind)[kind] / total
    strict = _accepted_kinds(parents, draws, STRICT, library=True, kind=kind)[kind] / total
    se = np.sqrt(2 * theirs * (1 - theirs) / total)
    assert abs(ours - theirs) < 4 * se, (kind, ours, theirs)
    assert strict - theirs > 6 * se, (kind, strict, theirs)  # the library never draws the node itself or the root


def test_mutation_kinds_happen_as_often_as_in_the_authors_code(parents):
  """Kinds of the structurally valid mutants: chi-square of the library's counts against the transcription's (5
  kinds, p = 0.001), and the transcription's kinds are the authors' thresholds (0.4, 0.3, 0.1, 0.1, 0.1)."""
  ours = _accepted_kinds(parents, 1000, NOS, library=True)
  theirs = _accepted_kinds(parents, 1000, NOS, library=False, seed=1)
  assert _chi2(ours, theirs) < 18.47, (ours / ours.sum(), theirs / theirs.sum())
  np.testing.assert_allclose(theirs / theirs.sum(), [0.4, 0.3, 0.1, 0.1, 0.1], atol=0.03)
  swapped = dataclasses.replace(NOS, mutation_probs=(0.3, 0.4, 0.1, 0.1, 0.1, 0.0))  # a shifted threshold shows
  assert _chi2(_accepted_kinds(parents, 1000, swapped, library=True), theirs) > 18.47
