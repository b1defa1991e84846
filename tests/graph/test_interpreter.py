"""The interpreter: one program for any genome, vmap over genomes and seeds, optax.chain, the divergence flag."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optix_evo.errors import InputError

import optix_evo.graph as G
from oracles.problem import loss, make_problem

STEPS = 15
PROBLEM = {k: jnp.asarray(v, jnp.float32) for k, v in make_problem().items()}


def _train(genome, strategy):
  """STEPS steps on the shared problem with clip → interpreted genome; returns the updates and the final flag."""
  opt = optax.chain(optax.clip(10.0), G.interpret(genome, 0.05, total_steps=STEPS, strategy=strategy))
  params = {"w": PROBLEM["w"], "b": PROBLEM["b"]}
  grad = jax.grad(lambda p: loss(p["w"], p["b"], PROBLEM["x"], PROBLEM["y"], jnp.tanh))

  def step(carry, _):
    params, state = carry
    u, state = opt.update(grad(params), state, params)
    return (optax.apply_updates(params, u), state), u

  (_, state), updates = jax.lax.scan(step, (params, opt.init(params)), None, length=STEPS)
  return updates, G.is_finite(state)


# the population uses the vmap strategy, solo runs the single-genome one: members must agree across strategies
train_population = jax.jit(jax.vmap(lambda g: _train(g, "select")))
train_one = jax.jit(lambda g: _train(g, "switch"))

@pytest.fixture(scope="module")
def population():
  rand = [G.random_genome(1000 + s) for s in range(48)]
  pop = rand + [G.mutate(2000 + i, g) for i, g in enumerate(rand[:14])] + [G.known("adam"), G.from_json(_overflow())]
  return G.stack(pop)


def _overflow():
  """u = g · (e^e^e^2)²: the clipped exp gives e^80 and the square overflows float32."""
  return {"format": "optix_evo.genome/1", "momentum": "none", "flip": False, "schedule": "constant",
          "nodes": {"h0": {"op": "exp", "inputs": ["2"]}, "h1": {"op": "exp", "inputs": ["h0"]},
                    "h2": {"op": "exp", "inputs": ["h1"]}, "h3": {"op": "mul", "inputs": ["h2", "h2"]},
                    "root": {"op": "mul", "inputs": ["g", "h3"]}}}


def test_population_compiles_once_and_members_equal_solo_runs(population):
  updates, finite = train_population(population)
  assert train_population._cache_size() == 1
  for i in (0, 5, 47, 62, 63):
    solo, solo_finite = train_one(G.Genome(*(x[i] for x in population)))
    for leaf in solo:
      np.testing.assert_allclose(np.asarray(updates[leaf][i]), np.asarray(solo[leaf]), rtol=1e-5, atol=1e-7)
    assert bool(finite[i]) == bool(solo_finite)
  assert train_one._cache_size() == 1


def test_switch_population_runs_each_member_on_its_own_and_equals_select(population):
  """vmap over genomes with the switch strategy: one compilation, a loop over the members inside each update (not
  every branch batched), and the same updates as the select strategy."""
  train_switch = jax.jit(jax.vmap(lambda g: _train(g, "switch")))
  updates, finite = train_switch(population)
  reference, reference_finite = train_population(population)
  assert train_switch._cache_size() == 1
  ok = np.asarray(reference_finite)
  np.testing.assert_array_equal(np.asarray(finite), ok)
  for leaf in updates:  # float32 rounding differs between the strategies' fusions (chaotic genomes amplify it: member
    # 27, u = (0.05g²+0.95ŝ) / (0.01g³+0.99λ̂), differs by 2.5e-4 relative after 15 steps)
    np.testing.assert_allclose(np.asarray(updates[leaf])[ok], np.asarray(reference[leaf])[ok], rtol=5e-4, atol=1e-6)
  for i in (0, 5, 47, 62):  # as a solo run (the vmapped gradients round differently in float32)
    solo, _ = train_one(G.Genome(*(x[i] for x in population)))
    for leaf in solo:
      np.testing.assert_allclose(np.asarray(updates[leaf][i]), np.asarray(solo[leaf]), rtol=1e-5, atol=1e-7)
  jaxpr = str(jax.make_jaxpr(jax.vmap(lambda g: _train(g, "switch")))(population))
  assert f"length={len(population.kind)}" in jaxpr  # the batching rule maps over the members (a scan over them)


def test_gradient_through_the_update_equals_the_standalone_code():
  """Differentiating through an interpreted update (e.g. for meta-learning) works and matches the genome's
  standalone code (plain jax: no switch, no custom batching)."""
  genome = G.known("nos_opt1")
  namespace: dict = {}
  exec(G.to_python(genome), namespace)  # noqa: S102 - our generated code
  params = {"w": jnp.linspace(-1.0, 1.0, 5), "b": jnp.asarray([0.3, -0.2])}

  def through(opt):
    def f(p):
      u, _ = opt.update(jax.tree.map(jnp.sin, p), opt.init(p), p)
      return sum(jnp.sum(x * jnp.arange(1, x.size + 1)) for x in jax.tree.leaves(u))
    return jax.jit(jax.grad(f))(params)

  # (the select strategy differentiates every op, selected or not: a singular one, e.g. sqrt|x| at 0, gives NaN)
  got, want = through(G.interpret(genome, 0.1, total_steps=10)), through(namespace["evolved"](0.1, total_steps=10))
  for leaf in got:
    assert np.all(np.isfinite(np.asarray(got[leaf])))
    np.testing.assert_allclose(np.asarray(got[leaf]), np.asarray(want[leaf]), rtol=1e-5, atol=1e-7)


def test_flag_reports_exactly_the_non_finite_updates(population):
  updates, finite = train_population(population)
  actually = np.all(np.stack([np.all(np.isfinite(np.asarray(u)), axis=tuple(range(1, u.ndim)))
                              for u in jax.tree.leaves(updates)]), axis=0)
  np.testing.assert_array_equal(np.asarray(finite), actually)
  assert bool(finite[-2]) and not bool(finite[-1])  # adam is fine, the overflow genome is flagged


def test_vmap_over_seeds_changes_only_dropout():
  drop = G.from_json({"format": "optix_evo.genome/1", "momentum": "none", "flip": False, "schedule": "constant",
                      "nodes": {"h0": {"op": "drop0.5", "inputs": ["g"]}, "root": {"op": "id", "inputs": ["h0"]}}})
  w = jnp.ones(64)

  def one(seed):
    opt = G.interpret(drop, 1.0, seed=seed)
    return opt.update(w, opt.init(w), w)[0]

  u = jax.jit(jax.vmap(one))(jnp.arange(3))
  assert not np.array_equal(u[0], u[1])
  assert set(np.unique(np.asarray(u))) <= {-2.0, 0.0}


def test_state_holds_only_what_the_spec_needs():
  import dataclasses
  from optix_evo.graph import ops
  spec = dataclasses.replace(G.DEFAULT_SPEC, operands=ops.OPERANDS[:3], unary=ops.UNARY[:5],
                             momentum_types=ops.MOMENTUM_TYPES[:1])
  state = G.interpret(G.random_genome(0, spec), 0.1, spec=spec).init({"w": jnp.ones(3)})
  assert state.buffers == {} and state.nodes is None and state.momentum is None


def test_bad_arguments():
  with pytest.raises(ValueError, match="strategy"):
    G.interpret(G.known("sgd"), strategy="gather")
  opt = G.interpret(G.known("adamw"))  # reads the weights (1e-4·w)
  with pytest.raises(ValueError, match="pass params"):
    opt.update(jnp.ones(2), opt.init(jnp.ones(2)))
  with pytest.raises(ValueError, match="GenomeState"):
    G.is_finite(optax.adam(1.0).init(jnp.ones(2)))
  with pytest.raises(InputError, match="real floating-point"):
    opt.init({"w": jnp.ones(2, jnp.int32)})
  with pytest.raises(InputError, match="real floating-point"):
    opt.init({"w": jnp.ones(2, jnp.complex64)})


def test_without_params_traced_weight_readers_turn_non_finite_and_others_work():
  sgd, adamw = G.interpret(G.known("sgd"), 0.5), G.known("adamw")
  u, _ = sgd.update(jnp.ones(2), sgd.init(jnp.ones(2)))  # sgd reads no weights: no params needed
  np.testing.assert_allclose(u, -0.5 * np.ones(2))

  @jax.jit
  def traced(genome):
    opt = G.interpret(genome, 0.5)
    return G.is_finite(opt.update(jnp.ones(2), opt.init(jnp.ones(2)))[1])

  assert bool(traced(G.known("sgd"))) and not bool(traced(adamw))


def test_mixed_dtypes_and_empty_trees():
  """The work is done in the promotion of the leaves' dtypes and each update comes back in its leaf's dtype."""
  opt = G.interpret(G.known("adam"), 0.1)
  params = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones((2, 2), jnp.float32)}
  state = opt.init(params)
  assert state.table.dtype == jnp.float32 and state.buffers["v"].shape == (7,)
  u, state = opt.update(params, state, params)
  assert u["a"].dtype == jnp.bfloat16 and u["b"].dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(u["b"], np.float32), -0.1, rtol=1e-3)
  for empty in ({}, [], ()):
    out, s = opt.update(empty, opt.init(empty), empty)
    assert out == empty and int(s.count) == 1


def test_random_genomes_switch_select_and_exported_code_agree_in_float64():
  """One branch per op and per operand (switch), everything computed and selected (select), and each genome's
  exported optax code (to_python): the same updates, step by step, in float64, for random genomes (dropout, stateful
  ops and the per-tensor norm included) with decays and schedules on."""
  handmade = {"h0": {"op": "drop0.3", "inputs": ["g"]}, "h1": {"op": "ema", "inputs": ["v_hat"]},
              "h2": {"op": "maxval", "inputs": ["h0"]}, "h3": {"op": "norm", "inputs": ["h1"]},
              "h4": {"op": "delta", "inputs": ["h3"]}, "root": {"op": "add", "inputs": ["h2", "h4"]}}
  # where the switch strategy keeps each value: an identity node shares its input's row (an operand's is computed into
  # the node's own row, which a later operand input must not overwrite), except on a decayed edge; the gradient is
  # read from its own row; a binary node's operands each get a scratch row
  rows = {"h0": {"op": "id", "inputs": ["sign(g)"]}, "h1": {"op": "id", "inputs": ["h0"]},
          "h2": {"op": "sub", "inputs": ["g^2", "h1"]},
          "h3": {"op": "id", "inputs": ["v_hat"], "decays": {"0": {"root": {"op": "erfc", "inputs": ["a11"]}}}},
          "h4": {"op": "mul", "inputs": ["h3", "g"]}, "root": {"op": "div", "inputs": ["h2", "h4"]}}
  operands = {"h0": {"op": "mul", "inputs": ["g^3", "sign(g)"]}, "h1": {"op": "id", "inputs": ["g"]},
              "h2": {"op": "max", "inputs": ["h1", "h0"]}, "root": {"op": "mix", "inputs": ["adam", "h2"]}}
  genomes = [G.random_genome(s) for s in range(300, 308)] + [G.from_json(
      {"format": "optix_evo.genome/1", "momentum": momentum, "flip": False, "schedule": "nos_lr3", "nodes": nodes})
      for momentum, nodes in (("nesterov", handmade), ("none", rows), ("momentum", operands))]
  with jax.enable_x64(True):
    params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.full((4,), 0.3)}
    grads = [{"w": jnp.sin(jnp.arange(12.0) + t).reshape(3, 4) * 10.0 ** (t - 2), "b": jnp.cos(jnp.arange(4.0) * t)}
             for t in range(4)]

    @functools.partial(jax.jit, static_argnames="strategy")
    def interpreted(genome, strategy):
      opt = G.interpret(genome, 0.01, total_steps=10, strategy=strategy, seed=3)
      state, out = opt.init(params), []
      for g in grads:
        u, state = opt.update(g, state, params)
        out.append(u)
      return out

    for genome in genomes:
      ns: dict = {}
      exec(G.to_python(genome, name="found"), ns)  # noqa: S102 - the code under test
      opt = ns["found"](0.01, total_steps=10, seed=3)
      state = opt.init(params)
      switch, select = interpreted(genome, "switch"), interpreted(genome, "select")
      for t, g in enumerate(grads):
        want, state = opt.update(g, state, params)
        for leaf in want:
          assert want[leaf].dtype == jnp.float64
          for got in (switch[t][leaf], select[t][leaf]):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want[leaf]), rtol=1e-12, atol=1e-15,
                                       err_msg=G.render(genome))


def test_check_finite_false_skips_the_flag_only():
  overflow = G.from_json(_overflow())
  w = jnp.ones(3)
  for check, flag in ((True, False), (False, True)):
    opt = G.interpret(overflow, 1.0, check_finite=check)
    u, state = opt.update(w, opt.init(w), w)
    assert not np.isfinite(np.asarray(u)).all() and bool(G.is_finite(state)) is flag
