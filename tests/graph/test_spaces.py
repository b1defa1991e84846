"""The named search spaces: "nos" (the paper's) as a prefix of "extended", sampling and mutation in each, conversion
between them, and genome files that record their space."""

import collections
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optix_evo.graph as G
from optix_evo.errors import InputError
from optix_evo.graph import ops

NOS, EXT = G.NOS_SPEC, G.EXTENDED_SPEC
TABLES = ("operands", "unary", "binary", "decay_operands", "decay_unary", "decay_binary", "schedules",
          "momentum_types")


def test_nos_is_the_papers_space():
  """Sizes and probabilities of the authors' NeuralOptimizerSearch.py."""
  assert (len(NOS.operands), len(NOS.unary), len(NOS.binary)) == (20, 26, 10)
  assert (len(NOS.decay_operands), len(NOS.decay_unary), len(NOS.decay_binary)) == (14, 13, 7)
  assert [t.name for t in NOS.momentum_types] == ["none", "momentum", "nesterov_nos"]
  assert NOS.momentum_types[2].update == "new + d"  # w ← w + mom - η u, the search code's Nesterov
  assert [s.name for s in NOS.schedules] == ["constant"] and NOS.schedule_prob == 0
  assert NOS.mutation_probs == (0.4, 0.3, 0.1, 0.1, 0.1, 0.0)
  probs = (NOS.hidden_unary_prob, NOS.root_unary_prob, NOS.decay_prob, NOS.root_unary_decay_prob)
  assert probs == (0.75, 0.25, 0.15, 0.85)
  assert NOS.unary[NOS.mutation_unary].name == "maxval"  # op mutation stops before MaxValue, as the code's 0..23
  assert [b.name for b in NOS.used_buffers] == ["v", "s", "lam"]
  assert G.get_space("nos") is NOS and G.get_space("extended") is EXT is G.DEFAULT_SPEC
  with pytest.raises(InputError, match="nos, extended"):
    G.get_space("paper")


def test_nos_tables_are_prefixes_of_the_extended_ones():
  for table in TABLES:
    small, big = getattr(NOS, table), getattr(EXT, table)
    assert big[:len(small)] == small, table
  assert {o.name for o in EXT.operands[20:]} == {"adam", "rmsprop", "lion_c", "qh_nu"}
  assert [o.name for o in EXT.unary[26:]] == ["sign"]
  assert [t.name for t in EXT.momentum_types[3:]] == ["nesterov"]


def _mutation_kind(parent, child):
  if child.momentum != parent.momentum:
    return "momentum"
  if child.schedule != parent.schedule:
    return "schedule"
  if any(not np.array_equal(getattr(child, f), getattr(parent, f)) for f in
         ("decay_on", "decay_kind", "decay_unary", "decay_binary", "decay_inputs")):
    return "decay"
  return "graph"


def test_sampling_and_mutation_follow_the_space():
  genomes = [G.random_genome(seed, NOS) for seed in range(60)]
  assert not G.genome_faults(G.stack(genomes), NOS)
  momenta = collections.Counter(int(g.momentum) for g in genomes)
  assert set(momenta) == {0, 1, 2}
  assert all(int(g.schedule) == 0 for g in genomes)
  kinds = collections.Counter()
  maxval = NOS.index("unary", "maxval")
  for i, parent in enumerate(genomes[:20]):
    for j in range(10):
      child = G.mutate(1000 * i + j, parent, NOS)
      assert not G.genome_faults(child, NOS)
      kinds[_mutation_kind(parent, child)] += 1
      uses = lambda g: int(np.sum((g.kind == 0) & (g.unary == maxval) & G.active_nodes(g, NOS)))  # noqa: E731
      assert uses(child) <= uses(parent)  # MaxValue only from initialisation (mutation may renumber nodes)
  assert kinds["schedule"] == 0
  # 200 mutations: momentum 0.1 and decay 0.1 (each ~20 expected; 5 sigma below / above)
  assert 5 <= kinds["momentum"] <= 45 and 5 <= kinds["decay"] <= 45, kinds
  ext = [G.mutate(k, G.known("nos_opt7")) for k in range(150)]
  assert any(int(c.schedule) != 0 for c in ext)  # the extended space mutates its schedule gene


def _step_fn(spec):
  @jax.jit
  def run(genome, g, params):
    opt = G.interpret(genome, 0.1, spec=spec, total_steps=4)
    state = opt.init(params)
    out = []
    for gt in g:
      u, state = opt.update(gt, state, params)
      out.append(u)
      params = jax.tree.map(lambda p, d: p + d, params, u)
    return out
  return run


def test_convert_keeps_the_optimizer():
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)}
  grads = [{"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)} for _ in range(4)]
  run_nos, run_ext = _step_fn(NOS), _step_fn(EXT)
  for seed in range(6):
    g = G.random_genome(seed, NOS)
    e = G.convert(g, NOS, EXT)
    assert G.canonical_hash(e, EXT) == G.canonical_hash(g, NOS)
    assert G.render(e, EXT) == G.render(g, NOS)
    back = G.convert(e, EXT, NOS)
    assert all(np.array_equal(x, y) for x, y in zip(back, G.canonical(g, NOS)))
    a, b = run_nos(g, grads, params), run_ext(e, grads, params)
    for x, y in zip(a, b):
      np.testing.assert_array_equal(np.asarray(x["w"]), np.asarray(y["w"]))
  pop = G.stack([G.random_genome(s, NOS) for s in range(3)])
  assert G.convert(pop, NOS, EXT).kind.shape == (3, EXT.num_nodes)


def test_convert_names_what_the_target_lacks():
  with pytest.raises(InputError, match="'nesterov'"):
    G.convert(G.known("nos_opt9"), EXT, NOS)
  with pytest.raises(InputError, match="'sign'"):
    G.convert(G.known("lion"), EXT, NOS)
  with pytest.raises(InputError, match="'nos_lr0'"):
    G.known("nos_opt5", NOS)
  small = G.GenomeSpec(name="small", num_hidden=2)
  opt1 = G.known("nos_opt1")  # 5 hidden nodes
  with pytest.raises(InputError, match="5 hidden nodes"):
    G.convert(opt1, EXT, small)
  sparse = G.from_json({"format": "optix_evo.genome/2", "space": "extended", "momentum": "none",
                        "nodes": {"h4": {"op": "sqrt", "inputs": ["s_hat"]},
                                  "root": {"op": "div", "inputs": ["g", "h4"]}}})
  moved = G.convert(sparse, EXT, small)  # h4 renumbered h0
  assert G.render(moved, small) == G.render(sparse)


def test_genome_files_record_their_space():
  g = G.random_genome(3, NOS)
  doc = G.to_json(g, NOS)
  assert doc["space"] == "nos" and doc["format"] == "optix_evo.genome/2"
  assert G.space_of(json.dumps(doc)) is NOS
  with pytest.raises(InputError, match="'nos' space, not 'extended'"):
    G.from_json(doc)
  assert all(np.array_equal(x, y) for x, y in zip(G.from_json(doc, None), G.canonical(g, NOS)))
  assert all(np.array_equal(x, y) for x, y in zip(G.from_json(doc, NOS), G.canonical(g, NOS)))
  custom = G.GenomeSpec(name="mine", num_hidden=3)
  doc_custom = G.to_json(G.convert(G.known("adam"), EXT, custom), custom)
  assert G.from_json(doc_custom, custom).kind.shape == (4,)
  with pytest.raises(InputError, match="Unknown genome space 'mine'"):
    G.from_json(doc_custom, None)


def test_format_1_files_load_as_extended_with_their_meaning():
  old = {"format": "optix_evo.genome/1", "momentum": "nesterov", "flip": False, "schedule": "nos_lr2",
         "nodes": {"h0": {"op": "id", "inputs": ["adam"]}, "root": {"op": "id", "inputs": ["h0"]}}}
  g = G.from_json(old)
  assert EXT.schedules[int(g.schedule)].name == "nos_lr2_search"  # what nos_lr2 meant before format 2
  assert EXT.momentum_types[int(g.momentum)].name == "nesterov"
  with pytest.raises(InputError, match="'extended' space, not 'nos'"):
    G.from_json(old, NOS)


def test_known_genomes_run_in_the_nos_space_where_expressible():
  for name in ("sgd", "momentum", "nos_opt1", "nos_opt2", "nos_opt7", "nos_opt8", "nos_adam_clip2"):
    g = G.known(name, NOS)
    assert G.render(g, NOS) == G.render(G.known(name))
  assert ops.NOS_OPERANDS == 20
