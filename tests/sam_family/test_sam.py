"""SAM / ASAM / LookSAM: composition with optax.chain, jit, vmap, error messages, edge cases, flax state."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optix_evo import training
from optix_evo.data import Dataset
from optix_evo.models import MLP
from optix_evo.sam_family import asam, looksam, sam


def toy_loss(p):
  return jnp.sum((p["a"] - 1.0) ** 2 * jnp.arange(1.0, 4.0)) + jnp.sum(jnp.sin(p["b"]) ** 2) + p["a"][0] * p["b"][1, 0]


TOY = {"a": jnp.array([0.3, -1.2, 2.0]), "b": jnp.array([[0.5, -0.7], [1.5, 0.1]])}


def run(opt, params, steps, loss=toy_loss):
  grad_fn = jax.grad(loss)

  def body(carry, _):
    params, state = carry
    updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
    return (optax.apply_updates(params, updates), state), None

  return jax.lax.scan(body, (params, opt.init(params)), None, length=steps)[0]


def assert_trees_close(a, b, **kw):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, **kw), a, b)


def test_single_step_is_base_step_at_ascent_point():
  grad_fn = jax.grad(toy_loss)
  g = grad_fn(TOY)
  gnorm = optax.tree.norm(g)
  expected_grad = grad_fn(jax.tree.map(lambda w, gi: w + 0.1 * gi / gnorm, TOY, g))
  updates, _ = sam(optax.sgd(0.5), rho=0.1).update(g, sam(optax.sgd(0.5)).init(TOY), TOY, grad_fn=grad_fn)
  assert_trees_close(updates, jax.tree.map(lambda e: -0.5 * e, expected_grad), rtol=1e-6)


def test_rho_zero_is_the_base_optimizer():
  params_sam, _ = run(sam(optax.adam(0.05), rho=0.0), TOY, 10)
  params_base, _ = run(optax.with_extra_args_support(optax.adam(0.05)), TOY, 10)
  assert_trees_close(params_sam, params_base, rtol=1e-6)


def test_asam_with_eta_zero_equals_adaptive_sam():
  params_asam, _ = run(asam(optax.sgd(0.05, 0.9), rho=0.3, eta=0.0), TOY, 8)
  params_sam, _ = run(sam(optax.sgd(0.05, 0.9), rho=0.3, adaptive=True), TOY, 8)
  assert_trees_close(params_asam, params_sam, rtol=1e-6)


def test_asam_mask_callable_and_tree_agree():
  tree_mask = {"a": False, "b": True}
  by_tree, _ = run(asam(optax.sgd(0.05), mask=tree_mask), TOY, 4)
  by_callable, _ = run(asam(optax.sgd(0.05), mask=lambda p: jax.tree.map(lambda w: w.ndim > 1, p)), TOY, 4)
  everywhere, _ = run(asam(optax.sgd(0.05)), TOY, 4)
  assert_trees_close(by_tree, by_callable, rtol=1e-6)
  assert not np.allclose(by_tree["a"], everywhere["a"])


@pytest.mark.parametrize("make", [sam, asam, looksam], ids=["sam", "asam", "looksam"])
def test_missing_grad_fn_error_shows_the_call(make):
  opt = make(optax.sgd(0.1))
  with pytest.raises(ValueError, match=r"grad_fn=lambda p: jax.grad\(loss_fn\)\(p, batch\)"):
    opt.update(TOY, opt.init(TOY), TOY)
  with pytest.raises(ValueError, match="needs params"):
    opt.update(TOY, opt.init(TOY), None, grad_fn=jax.grad(toy_loss))


def test_bad_arguments_raise_clear_errors():
  with pytest.raises(ValueError, match="rho must be non-negative"):
    sam(optax.sgd(0.1), rho=-0.1)
  with pytest.raises(ValueError, match="eta must be non-negative"):
    asam(optax.sgd(0.1), eta=-1.0)
  with pytest.raises(ValueError, match="k must be a Python int >= 1"):
    looksam(optax.sgd(0.1), k=0)
  opt = asam(optax.sgd(0.1), mask={"a": True})
  with pytest.raises(ValueError, match="asam mask must be a tree of Python bools"):
    opt.update(TOY, opt.init(TOY), TOY, grad_fn=jax.grad(toy_loss))
  opt = sam(optax.sgd(0.1))
  with pytest.raises(ValueError, match="structure of params"):
    opt.update(TOY, opt.init(TOY), TOY, grad_fn=lambda p: p["a"])


@pytest.mark.parametrize(
    "opt", [sam(optax.adam(0.1)), sam(optax.sgd(0.1), adaptive=True), asam(optax.sgd(0.1)), looksam(optax.sgd(0.1), k=2)],
    ids=["sam", "sam_adaptive", "asam", "looksam"],
)
def test_zero_gradient_gives_no_nan(opt):
  zeros = jax.tree.map(jnp.zeros_like, TOY)
  state = opt.init(TOY)
  for _ in range(3):
    updates, state = jax.jit(lambda s: opt.update(zeros, s, TOY, grad_fn=lambda p: zeros))(state)
    assert all(bool(jnp.all(u == 0)) for u in jax.tree.leaves(updates))
  assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(state) if jnp.issubdtype(leaf.dtype, jnp.floating))


def test_chain_with_clipping_before_and_weight_decay_after():
  """Extra args pass through optax.chain; clipping sets the ascent direction, decay/lr act on base's output."""
  rho, wd, lr, clip = 0.05, 1e-2, 0.1, 0.5
  opt = optax.chain(
      optax.clip(clip), sam(optax.scale_by_adam(), rho), optax.add_decayed_weights(wd), optax.scale_by_learning_rate(lr)
  )
  grad_fn = jax.grad(toy_loss)
  g = grad_fn(TOY)
  updates, state = jax.jit(lambda p, s: opt.update(grad_fn(p), s, p, grad_fn=grad_fn, loss=toy_loss(p)))(TOY, opt.init(TOY))
  clipped = jax.tree.map(lambda x: jnp.clip(x, -clip, clip), g)
  g_s = grad_fn(jax.tree.map(lambda w, c: w + rho * c / optax.tree.norm(clipped), TOY, clipped))
  adam_step = jax.tree.map(lambda x: x / (jnp.abs(x) + 1e-8), g_s)  # first Adam step: m̂/(√v̂+eps)
  expected = jax.tree.map(lambda a, w: -lr * (a + wd * w), adam_step, TOY)
  assert_trees_close(updates, expected, rtol=1e-5)
  assert int(state[1].base_state.count) == 1


def test_vmap_over_rho_matches_separate_runs():
  rhos = jnp.array([0.0, 0.05, 0.3])
  train = jax.jit(jax.vmap(lambda rho: run(sam(optax.sgd(0.05, 0.9), rho=rho), TOY, 10)[0]))
  batched = train(rhos)
  for i, rho in enumerate(rhos.tolist()):
    single = run(sam(optax.sgd(0.05, 0.9), rho=rho), TOY, 10)[0]
    assert_trees_close(jax.tree.map(lambda x: x[i], batched), single, rtol=1e-5, atol=1e-6)


def test_looksam_k1_equals_sam():
  params_look, _ = run(looksam(optax.sgd(0.05), rho=0.1, k=1, alpha=0.7), TOY, 6)
  params_sam, _ = run(sam(optax.sgd(0.05), rho=0.1), TOY, 6)
  assert_trees_close(params_look, params_sam, rtol=1e-6)


def test_looksam_reuses_the_orthogonal_component():
  rho, alpha = 0.2, 0.7
  opt = looksam(optax.sgd(1.0), rho=rho, k=3, alpha=alpha)
  grad_fn = jax.grad(toy_loss)
  params, state = TOY, opt.init(TOY)
  g1 = grad_fn(params)
  g_s = grad_fn(jax.tree.map(lambda w, g: w + rho * g / optax.tree.norm(g1), params, g1))
  g_v = optax.tree.add_scale(g_s, -optax.tree.vdot(g1, g_s) / optax.tree.norm(g1) ** 2, g1)
  updates, state = opt.update(g1, state, params, grad_fn=grad_fn)
  assert_trees_close(updates, jax.tree.map(jnp.negative, g_s), rtol=1e-6)
  cosine = optax.tree.vdot(state.g_v, g1) / (optax.tree.norm(state.g_v) * optax.tree.norm(g1))
  assert abs(float(cosine)) < 1e-5  # orthogonal to g
  params = optax.apply_updates(params, updates)
  g2 = grad_fn(params)
  updates, state = opt.update(g2, state, params, grad_fn=lambda p: jax.tree.map(lambda x: x * jnp.nan, p))
  expected = optax.tree.add_scale(g2, alpha * optax.tree.norm(g2) / optax.tree.norm(g_v), g_v)
  assert_trees_close(updates, jax.tree.map(jnp.negative, expected), rtol=1e-5, atol=1e-5)
  assert int(state.count) == 2


def count_grad_fn_calls(train_fn):
  """Runs ``train_fn(grad_fn)`` with a grad_fn that counts how often it actually executes."""
  calls = []

  def grad_fn(p):
    jax.debug.callback(lambda: calls.append(1))
    return jax.grad(toy_loss)(p)

  jax.block_until_ready(train_fn(grad_fn))
  return len(calls)


def looksam_scan(opt, params, grad_fn, steps):
  def body(carry, _):
    params, state = carry
    updates, state = opt.update(jax.grad(toy_loss)(params), state, params, grad_fn=grad_fn)
    return (optax.apply_updates(params, updates), state), None

  return jax.lax.scan(body, (params, opt.init(params)), None, length=steps)[0][0]


def test_looksam_calls_grad_fn_only_on_refresh_steps_even_under_vmap():
  single = count_grad_fn_calls(lambda gf: jax.jit(lambda p: looksam_scan(looksam(optax.sgd(0.05), k=5), p, gf, 20))(TOY))
  assert single == 4
  rhos = jnp.array([0.01, 0.05, 0.1])
  vmapped = count_grad_fn_calls(
      lambda gf: jax.jit(jax.vmap(lambda rho: looksam_scan(looksam(optax.sgd(0.05), rho=rho, k=5), TOY, gf, 20)))(rhos)
  )
  # a batched debug.callback runs once per vmapped call: 4 means the cond was kept (with select it would be 20)
  assert vmapped == 4


def test_fit_trains_sam_and_looksam_vmapped_over_seeds():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(128, 6)).astype(np.float32)
  y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
  data = Dataset(x, y)
  model = MLP(hidden=(16,), outputs=2)
  loss_fn = training.classification_loss(model.apply)

  for opt in [sam(optax.sgd(0.3, 0.9)), looksam(optax.sgd(0.3, 0.9), rho=0.05)]:
    def train(seed, opt=opt):
      params = model.init(jax.random.key(seed), x[:1])
      return training.fit(loss_fn, params, opt, data, jax.random.key(seed), steps=60, batch_size=32).loss

    losses = jax.jit(jax.vmap(train))(jnp.arange(2))
    assert bool(jnp.all(jnp.isfinite(losses)))
    assert float(losses[:, -10:].mean()) < 0.6 * float(losses[:, :5].mean())


class BNDropoutNet(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Dense(8)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    x = nn.Dropout(0.3, deterministic=not train)(nn.relu(x))
    return nn.Dense(2)(x)


def test_flax_batchnorm_dropout_recipe_from_the_docstring():
  model = BNDropoutNet()
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(32, 5)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 2, size=32), jnp.int32)
  variables = model.init(jax.random.key(0), x, train=False)
  params, stats = variables["params"], variables["batch_stats"]
  opt = sam(optax.adam(1e-2), rho=0.05)
  opt_state = opt.init(params)

  def loss_fn(p, stats, x, y, key):
    logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True, rngs={"dropout": key}, mutable=["batch_stats"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new["batch_stats"]

  @jax.jit
  def train_step(params, stats, opt_state, x, y, key):
    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y, key)
    grad_fn = lambda p: jax.grad(lambda q: loss_fn(q, stats, x, y, key)[0])(p)
    updates, opt_state = opt.update(grads, opt_state, params, grad_fn=grad_fn)
    return optax.apply_updates(params, updates), new_stats, opt_state, loss

  key = jax.random.key(2)
  for i in range(5):
    new_params, new_stats, opt_state, loss = train_step(params, stats, opt_state, x, y, jax.random.fold_in(key, i))
    # the running statistics come from the first (unperturbed) pass only
    _, expected = jax.jit(loss_fn)(params, stats, x, y, jax.random.fold_in(key, i))
    assert_trees_close(new_stats, expected, rtol=1e-6)
    params, stats = new_params, new_stats
    assert bool(jnp.isfinite(loss))
