"""Program simplification: a simplified genome computes the same update (random genomes, and planted redundancy:
identity nodes, duplicated subexpressions, an identity root), keeps its canonical hash, and loses the redundant
nodes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optix_evo import graph
from optix_evo.graph.genome import UNARY, to_numpy

SPEC = graph.DEFAULT_SPEC
N_OP, H = SPEC.num_operands, SPEC.num_hidden
ID = SPEC.index("unary", "id")


@functools.partial(jax.jit, static_argnames=())
def _updates(genome, grads):
  params = {"a": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.linspace(0.5, -0.5, 5)}
  opt = graph.interpret(genome, 1e-2, spec=SPEC, total_steps=8)
  state = opt.init(params)
  out = []
  for t in range(grads["a"].shape[0]):
    g = jax.tree.map(lambda x, t=t: x[t], grads)
    u, state = opt.update(g, state, params)
    params = optax.apply_updates(params, u)
    out.append(u)
  return out


def _grads(seed):
  rng = np.random.default_rng(seed)
  return {"a": jnp.asarray(rng.normal(size=(4, 3, 4)), jnp.float32), "b": jnp.asarray(rng.normal(size=(4, 5)),
                                                                                       jnp.float32)}


def _same_update(a, b, seed=0):
  ua, ub = _updates(a, _grads(seed)), _updates(b, _grads(seed))
  for x, y in zip(jax.tree.leaves(ua), jax.tree.leaves(ub)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6, equal_nan=True)


def _random_genomes(count):
  out = []
  for i in range(count):
    g = graph.random_genome(i, SPEC)
    for m in range(3):  # mutants drift away from the sampler's tidy genomes
      g = graph.mutate(1000 * i + m, g, SPEC)
    out.append(g)
  return out


def _plant_identity(g):
  """A dead hidden node becomes id(x) of a live edge's source, and that edge reads it instead."""
  g = to_numpy(g)
  act = graph.active_nodes(g, SPEC)
  for i in range(H + 1):
    if not act[i] or g.decay_on[i, 0]:
      continue
    dead = [k for k in range(i) if not act[k]]
    src = int(g.inputs[i, 0])
    usable = [k for k in dead if src < N_OP or src - N_OP < k]
    if usable:
      k = usable[0]
      g.kind[k], g.unary[k], g.inputs[k, 0], g.decay_on[k] = UNARY, ID, src, 0
      g.inputs[i, 0] = N_OP + k
      return g
  return None


def _plant_duplicate(g):
  """A dead hidden node becomes a copy of a live one, and one of its readers reads the copy."""
  g = to_numpy(g)
  act = graph.active_nodes(g, SPEC)
  for j in range(H):
    if not act[j] or (g.kind[j] == UNARY and SPEC.unary[int(g.unary[j])].random):
      continue
    for k in range(j + 1, H):
      if act[k]:
        continue
      readers = [(r, s) for r in range(k + 1, H + 1) for s in range(2) if act[r] and g.inputs[r, s] == N_OP + j]
      if readers:
        for f in ("kind", "unary", "binary", "inputs", "decay_on", "decay_kind", "decay_unary", "decay_binary",
                  "decay_inputs"):
          getattr(g, f)[k] = getattr(g, f)[j]
        r, s = readers[0]
        g.inputs[r, s] = N_OP + k
        return g
  return None


@pytest.mark.parametrize("chunk", range(3))
def test_a_simplified_random_genome_computes_the_same_update(chunk):
  for g in _random_genomes(30)[chunk * 10:(chunk + 1) * 10]:
    s = graph.simplify(g, SPEC)
    _same_update(g, s)
    assert graph.canonical_hash(s, SPEC) == graph.canonical_hash(g, SPEC)
    assert graph.active_nodes(s, SPEC).sum() <= graph.active_nodes(g, SPEC).sum()
    np.testing.assert_array_equal(graph.simplify(s, SPEC).inputs, s.inputs)  # a fixed point


def test_planted_redundancy_is_removed_and_the_update_kept():
  planted, grown = 0, 0
  for g in _random_genomes(40):
    for plant in (_plant_identity, _plant_duplicate):
      p = plant(g)
      if p is None:
        continue
      planted += 1
      s = graph.simplify(p, SPEC)
      grown += graph.active_nodes(p, SPEC).sum() > graph.active_nodes(g, SPEC).sum()  # the planted node is live
      assert graph.active_nodes(s, SPEC).sum() <= graph.active_nodes(g, SPEC).sum()  # ... and gone again
      _same_update(p, s, seed=planted)
  assert planted >= 20 and grown >= 10, (planted, grown)


def test_identity_root_takes_over_its_input():
  adam = graph.known("adam")  # h0 = adam (an operand through id), u = h0
  s = graph.simplify(adam, SPEC)
  assert graph.active_nodes(s, SPEC).tolist() == [False] * H + [True]
  assert graph.render(s, SPEC) == graph.render(adam, SPEC)
  _same_update(adam, s)


def test_random_ops_are_never_merged():
  g = to_numpy(graph.known("sgd"))  # u = g
  drop = SPEC.index("unary", "drop0.5")
  add = SPEC.index("binary", "add")
  g.kind[:3] = [UNARY, UNARY, 1]
  g.unary[0] = g.unary[1] = drop
  g.inputs[0, 0] = g.inputs[1, 0] = SPEC.index("operands", "g")
  g.kind[H], g.unary[H] = 1, 0
  g.binary[H], g.inputs[H] = add, [N_OP, N_OP + 1]  # u = drop(g) + drop(g): two independent masks
  s = graph.simplify(g, SPEC)
  assert graph.active_nodes(s, SPEC)[:2].all()
