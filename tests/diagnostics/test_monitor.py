"""ox.monitor: exact statistics on small trees, placement, nesting, jit/vmap/scan, and composition with the zoo."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo.data import Dataset
from optix_evo.diagnostics.monitor import METRICS
from optix_evo.models.mlp import MLP
from optix_evo.sam_family import sam
from optix_evo.training import classification_loss, fit


def _task():
  rng = np.random.default_rng(0)
  data = Dataset(rng.normal(size=(64, 5)).astype(np.float32), rng.integers(0, 3, size=64).astype(np.int32))
  model = MLP(hidden=(8,), outputs=3)
  params = model.init(jax.random.key(0), data.x[:1])
  return classification_loss(model.apply), params, data


def test_statistics_of_sgd_step():
  params = {"w": jnp.array([3.0, 4.0]), "b": jnp.array([0.5])}
  grads = {"w": jnp.array([1.0, 0.0]), "b": jnp.array([jnp.nan])}
  opt = ox.monitor(optax.sgd(0.1))
  _, state = jax.jit(opt.update)(grads, opt.init(params), params)
  m = ox.monitor_metrics(state)
  np.testing.assert_allclose(m["w/grad_norm"], 1.0)
  np.testing.assert_allclose(m["w/update_norm"], 0.1)
  np.testing.assert_allclose(m["w/param_norm"], 5.0)
  np.testing.assert_allclose(m["w/update_ratio"], 0.02)
  np.testing.assert_allclose(m["w/cosine"], 1.0)  # SGD steps along -g
  assert m["w/grad_nonfinite"] == 0 and m["b/grad_nonfinite"] == 1 and m["b/update_nonfinite"] == 1
  np.testing.assert_allclose(m["total/grad_nonfinite"], 1 / 3)
  np.testing.assert_allclose(m["total/param_norm"], np.sqrt(25.25), rtol=1e-6)
  assert set(m) == {f"{g}/{s}" for g in ("w", "b", "total") for s in METRICS}


def test_groups_look_through_flax_wrapper():
  _, params, _ = _task()
  assert list(ox.parameter_groups(params)) == ["Dense_0", "Dense_1"]
  assert list(ox.parameter_groups(jnp.ones(3))) == ["all"]
  assert list(ox.parameter_groups((jnp.ones(2), {"a": jnp.ones(1)}))) == ["0", "1"]


def test_history_ring_buffer_is_oldest_first():
  opt = jax.jit(ox.monitor(optax.sgd(1.0), history=3).update)
  params = jnp.zeros(2)
  state = ox.monitor(optax.sgd(1.0), history=3).init(params)
  norms = []
  for i in range(1, 6):
    _, state = opt(jnp.array([float(i), 0.0]), state, params)
    norms.append(ox.monitor_history(state)["all/grad_norm"])
  np.testing.assert_array_equal(norms[0], [np.nan, np.nan, 1.0])
  np.testing.assert_array_equal(norms[-1], [3.0, 4.0, 5.0])
  assert float(ox.monitor_metrics(state)["all/grad_norm"]) == 5.0


def test_placement_and_nesting():
  params = {"w": jnp.ones(4), "v": jnp.ones(2)}
  grads = {"w": jnp.full(4, 10.0), "v": jnp.zeros(2)}
  # Probe first sees the raw gradient, probe last sees the clipped, scaled update; cosine of a probe is -1.
  opt = optax.chain(ox.monitor(), optax.clip_by_global_norm(1.0), optax.scale(-0.5), ox.monitor())
  updates, state = jax.jit(opt.update)(grads, opt.init(params), params)
  m = ox.monitor_metrics(state)
  np.testing.assert_allclose(m["[0]/total/grad_norm"], 20.0)
  np.testing.assert_allclose(m["[3]/total/update_norm"], 0.5, rtol=1e-6)
  np.testing.assert_allclose(m["[0]/w/cosine"], -1.0)
  np.testing.assert_allclose(m["[3]/v/cosine"], 0.0)  # zero vector: cosine defined as 0
  # A monitor wrapping a chain that holds another monitor: both are found, updates are untouched.
  nested = ox.monitor(optax.chain(optax.clip_by_global_norm(1.0), ox.monitor(optax.sgd(0.5))))
  u, nstate = jax.jit(nested.update)(grads, nested.init(params), params)
  reference = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.5))
  np.testing.assert_allclose(u["w"], reference.update(grads, reference.init(params), params)[0]["w"])
  nm = ox.monitor_metrics(nstate)
  np.testing.assert_allclose(nm["monitor/total/grad_norm"], 20.0)
  np.testing.assert_allclose(nm["inner_state[1]/total/grad_norm"], 1.0, rtol=1e-6)
  with pytest.raises(ValueError, match="No ox.monitor"):
    ox.monitor_metrics(optax.adam(1.0).init(params))
  with pytest.raises(ValueError, match="history"):
    ox.monitor(history=0)


def test_fit_records_whole_run_and_vmaps_over_learning_rates():
  loss_fn, params, data = _task()

  def run(lr):
    return fit(loss_fn, params, ox.monitor(optax.adam(lr), history=10), data, jax.random.key(1), steps=10, batch_size=16)

  res = jax.jit(jax.vmap(run))(jnp.array([1e-3, 1e-2]))
  h = ox.monitor_history(res.opt_state)
  assert h["Dense_0/update_ratio"].shape == (2, 10) and np.all(np.isfinite(h["Dense_0/update_ratio"]))
  assert np.all(h["total/update_norm"][1] > h["total/update_norm"][0])  # larger lr, larger steps
  assert ox.monitor_metrics(res.opt_state)["Dense_1/cosine"].shape == (2,)


def _composition_cases():
  cases = {name: (lambda name=name: ox.get_optimizer(name)) for name in sorted(ox.OPTIMIZERS)}
  cases["sam(sgd)"] = lambda: sam(optax.sgd(0.1), rho=0.05)
  if hasattr(ox.graph, "interpret") and hasattr(ox.graph, "known"):
    cases["genome(adam)"] = lambda: ox.graph.interpret(ox.graph.known("adam"), learning_rate=1e-3)
  return cases


@pytest.mark.parametrize("name", sorted(_composition_cases()))
def test_composes_with_zoo_sam_and_genomes(name):
  """Wrapping never changes the updates; telemetry is finite for every optimizer (a tiny scanned problem)."""
  make = _composition_cases()[name]
  params = {"a": jnp.array([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.1]]), "b": jnp.array([0.1, -0.2])}
  x, t = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.3, 1.0])
  loss = lambda p: jnp.sum((x @ p["a"] + p["b"] - t) ** 2)
  plain, watched = optax.with_extra_args_support(make()), ox.monitor(make(), history=3)

  def step(carry, _):
    (p, s), (q, r) = carry
    u, s = plain.update(jax.grad(loss)(p), s, p, grad_fn=jax.grad(loss), value=loss(p), loss=loss(p), accuracy=0.5)
    v, r = watched.update(jax.grad(loss)(q), r, q, grad_fn=jax.grad(loss), value=loss(q), loss=loss(q), accuracy=0.5)
    return ((optax.apply_updates(p, u), s), (optax.apply_updates(q, v), r)), None

  run = jax.jit(lambda: jax.lax.scan(step, ((params, plain.init(params)), (params, watched.init(params))), length=3)[0])
  (p, _), (q, r) = run()
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), p, q)
  history = ox.monitor_history(r)
  for key in ("total/grad_norm", "total/update_norm", "total/cosine", "a/update_ratio", "b/grad_nonfinite"):
    assert np.all(np.isfinite(history[key])), (key, history[key])
  first = 1 if name == "adopt" else 0  # ADOPT's first step only initialises its second moment (a zero update)
  assert np.all(history["total/update_norm"][first:] > 0)
