"""ALDVI: each rule's direction of change on hand-made epoch sequences, bounds, NaN handling, jit/vmap, composition."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo import training
from optix_evo.data import Dataset
from optix_evo.models.mlp import MLP


def run_epochs(losses, accuracies=None, *, steps_per_epoch=2, **kwargs):
  """η after each epoch when every batch of epoch t has loss ``losses[t]`` (and accuracy ``accuracies[t]``)."""
  tx = ox.scale_by_aldvi(steps_per_epoch=steps_per_epoch, **kwargs)
  params = jnp.zeros(2)
  losses = jnp.repeat(jnp.asarray(losses, jnp.float32), steps_per_epoch)
  accuracies = None if accuracies is None else jnp.repeat(jnp.asarray(accuracies, jnp.float32), steps_per_epoch)

  @jax.jit
  def go(losses, accuracies):
    def step(state, xs):
      loss, accuracy = xs
      _, state = tx.update(params, state, params, loss=loss, accuracy=accuracy)
      return state, ox.current_lr(state)

    _, lrs = jax.lax.scan(step, tx.init(params), (losses, accuracies))
    return lrs[steps_per_epoch - 1 :: steps_per_epoch]

  return np.asarray(go(losses, accuracies))


def test_paper_rule_grows_with_accuracy_change_only():
  lrs = run_epochs([1.0] * 4, [0.5, 0.6, 0.6, 0.8], initial_lr=0.1, rule="paper", alpha=2.0)
  np.testing.assert_allclose(lrs, [0.1, 0.1 * 1.2, 0.12, 0.12 * 1.4], rtol=1e-5)


def test_paper_rule_is_capped_by_max_lr_and_uses_relative_loss_without_accuracy():
  lrs = run_epochs([1.0, 0.5, 0.25], initial_lr=0.1, rule="paper", alpha=1.0, max_lr=0.12)
  np.testing.assert_allclose(lrs, [0.1, 0.12, 0.12], rtol=1e-5)  # 0.1 * 1.5 clipped


def test_paper_rule_noise_follows_the_seed():
  kw = dict(initial_lr=0.1, rule="paper", sigma=0.01)
  a, b, c = (run_epochs([1.0] * 5, [0.5] * 5, seed=s, **kw) for s in (0, 0, 1))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  assert np.std(np.diff(a)) > 0


@pytest.mark.parametrize(
    "losses, accuracies, expected_factor",
    [
        ([1.0, 0.8], None, 0.99),  # steady progress: gently lower
        ([1.0, 1.0], None, 1.1),  # stagnation: raise
        ([1.0, 2.0], None, 0.5),  # sharp rise: cut hard
        ([1.0, 1.05], None, 1.0),  # small rise: keep
        ([1.0, 1.0], [0.5, 0.7], 0.99),  # accuracy rising is progress even with a flat loss
        ([1.0, 1.0], [0.7, 0.7], 1.1),  # nothing moves: stagnation
    ],
)
def test_trend_rule_direction(losses, accuracies, expected_factor):
  lrs = run_epochs(losses, accuracies, initial_lr=0.1, rule="trend", alpha=0.1)
  np.testing.assert_allclose(lrs, [0.1, 0.1 * expected_factor], rtol=1e-5)


def test_trend_rule_raises_on_oscillation():
  lrs = run_epochs([1.0, 0.9, 0.95, 0.85, 0.9], initial_lr=0.1, rule="trend", alpha=0.2, window=4)
  assert lrs[-1] == pytest.approx(lrs[-2] * 1.2, rel=1e-5)  # 4 alternating differences
  assert lrs[-2] == pytest.approx(lrs[-3] * 0.99, rel=1e-5)  # only 3 so far: a fall is progress


def test_phased_rule_amplifies_early_damps_late_and_drops_once():
  # Stagnating loss: the trend rule alone raises η by 1.1 every epoch.
  lrs = run_epochs([1.0] * 10, initial_lr=0.01, max_lr=10.0, rule="phased", total_epochs=10, alpha=0.1,
                   boundaries=(0.3, 0.7), gains=(2.0, 1.0, 0.5), fine_tune_drop=0.1)
  # lrs[k] is η of epoch index k+1; ratios[i] = η(epoch i+2) / η(epoch i+1), phases at epochs 3 and 7.
  ratios = lrs[1:] / lrs[:-1]
  assert lrs[0] == pytest.approx(0.01)  # one epoch seen: no trend yet
  assert ratios[0] == pytest.approx(1.1**2, rel=1e-5)  # epoch 2: early phase
  np.testing.assert_allclose(ratios[1:5], 1.1, rtol=1e-5)  # epochs 3..6: middle phase
  assert ratios[5] == pytest.approx(1.1**0.5 * 0.1, rel=1e-5)  # entering the last phase (epoch 7)
  np.testing.assert_allclose(ratios[6:], 1.1**0.5, rtol=1e-5)


def test_non_finite_loss_counts_as_divergence_and_never_reaches_lr():
  for bad in (np.nan, np.inf):
    for rule in ("paper", "trend"):
      lrs = run_epochs([1.0, bad, 1.0, 0.9], [0.5, 0.5, 0.6, 0.7], initial_lr=0.1, rule=rule)
      assert np.all(np.isfinite(lrs))
      assert lrs[1] == pytest.approx(lrs[0] * 0.5, rel=1e-5)


def test_all_nan_epochs_keep_lr_finite_and_bounded():
  lrs = run_epochs([np.nan] * 20, initial_lr=0.1, rule="trend", min_lr=1e-3)
  assert np.all(np.isfinite(lrs)) and lrs.min() == pytest.approx(1e-3)


def test_partially_nan_epoch_is_divergence_but_history_keeps_finite_mean():
  tx = ox.scale_by_aldvi(0.1, steps_per_epoch=2, rule="trend")
  p = jnp.zeros(1)
  state = tx.init(p)
  for loss in (1.0, jnp.nan):
    _, state = tx.update(p, state, p, loss=loss)
  history = ox.aldvi_history(state)
  assert history["loss"][-1] == 1.0 and bool(history["diverged"][-1])
  assert ox.current_lr(state) == pytest.approx(0.05)


def test_bounds_hold_for_any_rule_output():
  big = run_epochs([1.0] * 6, initial_lr=0.1, rule=lambda lr, h, k: lr * 100.0, max_lr=0.5)
  small = run_epochs([1.0] * 6, initial_lr=0.1, rule=lambda lr, h, k: -lr, min_lr=1e-4)
  broken = run_epochs([1.0] * 3, initial_lr=0.1, rule=lambda lr, h, k: lr * jnp.nan)
  assert big.max() == pytest.approx(0.5) and small.min() == pytest.approx(1e-4)
  np.testing.assert_allclose(broken, [0.05, 0.025, 0.0125], rtol=1e-5)


def test_user_rule_sees_history():
  def rule(lr, history, key):
    del key
    return jnp.where(history.epoch >= 2, history.loss[-1] / 100.0, lr)

  lrs = run_epochs([3.0, 2.0, 1.0], initial_lr=0.1, rule=rule, min_lr=1e-6)
  np.testing.assert_allclose(lrs, [0.1, 0.02, 0.01], rtol=1e-5)


def test_lr_scales_the_base_update_and_composes_with_chain():
  params = {"w": jnp.array([1.0, -2.0])}
  grads = {"w": jnp.array([0.5, 0.25])}
  for opt, ref in [
      (ox.aldvi(optax.adam, 0.01, steps_per_epoch=5), optax.adam(0.01)),
      (ox.aldvi(lambda lr: optax.sgd(lr, momentum=0.9), 0.01, steps_per_epoch=5), optax.sgd(0.01, momentum=0.9)),
      (optax.chain(optax.clip_by_global_norm(1.0), ox.aldvi(optax.rmsprop, 0.01, 5)),
       optax.chain(optax.clip_by_global_norm(1.0), optax.rmsprop(0.01))),
  ]:
    state, ref_state = opt.init(params), ref.init(params)
    for _ in range(3):
      u, state = opt.update(grads, state, params, loss=1.0)
      r, ref_state = ref.update(grads, ref_state, params)
      np.testing.assert_allclose(u["w"], r["w"], rtol=1e-6)
    assert ox.current_lr(state) == pytest.approx(0.01)


def test_fit_vmaps_over_alpha_initial_lr_and_seed_in_one_program():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 4)).astype(np.float32)
  data = Dataset(x, (x[:, 0] > 0).astype(np.int32))
  model = MLP(hidden=(8,), outputs=2)
  loss_fn = training.classification_loss(model.apply)
  params = model.init(jax.random.PRNGKey(0), x[:1])
  spe = training.steps_per_epoch(64, 16)

  def train(alpha, initial_lr, seed):
    opt = ox.aldvi(optax.sgd, initial_lr, spe, rule="paper", alpha=alpha, sigma=1e-3, seed=seed)
    result = training.fit(loss_fn, params, opt, data, jax.random.PRNGKey(1), steps=6 * spe, batch_size=16)
    return ox.current_lr(result.opt_state), result.loss[-1]

  alphas = jnp.array([0.0, 1.0, 5.0])
  lrs0 = jnp.array([0.05, 0.1, 0.2])
  seeds = jnp.array([0, 1, 2])
  lrs, losses = jax.jit(jax.vmap(train))(alphas, lrs0, seeds)
  assert lrs.shape == (3,) and np.all(np.isfinite(losses))
  for i in range(3):
    lr_i, _ = jax.jit(train)(alphas[i], lrs0[i], seeds[i])
    assert lrs[i] == pytest.approx(float(lr_i), rel=1e-4)


def test_fit_passes_accuracy_and_trend_lowers_lr_on_easy_task():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(128, 4)).astype(np.float32)
  data = Dataset(x, (x[:, 0] > 0).astype(np.int32))
  model = MLP(hidden=(8,), outputs=2)
  params = model.init(jax.random.PRNGKey(0), x[:1])
  opt = ox.aldvi(optax.adam, 1e-2, steps_per_epoch=4, rule="trend")
  result = jax.jit(lambda p: training.fit(training.classification_loss(model.apply), p, opt, data,
                                          jax.random.PRNGKey(0), steps=20, batch_size=32))(params)
  history = ox.aldvi_history(result.opt_state)
  assert bool(history["valid"][-1]) and 0.5 <= float(history["accuracy"][-1]) <= 1.0
  assert float(ox.current_lr(result.opt_state)) < 1e-2  # steady progress gently lowers η


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rule="nope"), "Known rules: paper, phased, trend"),
        (dict(rule="phased"), "Bad hyperparameters"),
        (dict(rule=lambda lr, h, k: lr, alpha=1.0), "only apply to a rule given by name"),
        (dict(min_lr=1.0, max_lr=0.1), "min_lr <= max_lr"),
        (dict(rule="trend", cut=2.0), "cut must be in"),
        (dict(history_size=1), "history_size"),
    ],
)
def test_bad_configuration_is_explained(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ox.scale_by_aldvi(0.1, 2, **kwargs)


def test_missing_loss_and_missing_state_are_explained():
  tx = ox.scale_by_aldvi(0.1, 2)
  p = jnp.zeros(1)
  with pytest.raises(ValueError, match="got no batch loss"):
    tx.update(p, tx.init(p), p)
  with pytest.raises(ValueError, match="exactly one ALDVI state"):
    ox.current_lr(optax.adam(1e-3).init(p))


def test_value_is_the_loss_and_loss_an_alias():
  """optax's name for the loss is ``value`` (reduce_on_plateau); ``loss=`` gives the same run."""
  tx = ox.scale_by_aldvi(0.1, 2, rule="paper", alpha=5.0)
  p = jnp.zeros(1)
  runs = []
  for name in ("value", "loss"):
    state = tx.init(p)
    for step, (loss, acc) in enumerate([(2.0, 0.1), (1.0, 0.5), (0.5, 0.6), (0.4, 0.9)]):
      _, state = tx.update(p, state, p, **{name: loss}, accuracy=acc)
    runs.append(state)
  chex.assert_trees_all_equal(*runs)
  assert float(ox.current_lr(runs[0])) > 0.1  # the accuracy changed: the paper's rule raised η


def test_a_built_optimizer_is_refused_with_the_fix():
  with pytest.raises(ValueError, match=r"constructor, not a built optimizer: pass e\.g\. optax\.adam"):
    ox.aldvi(optax.adam(1e-3), 1e-2, steps_per_epoch=5)
  with pytest.raises(ValueError, match="constructor"):
    ox.aldvi(optax.MultiSteps(optax.adam(1e-3), every_k_schedule=2), 1e-2, steps_per_epoch=5)


@pytest.mark.parametrize("rule, kwargs", [("paper", dict(alpha=5.0, sigma=0.05)), ("trend", dict(alpha=0.5)),
                                          ("phased", dict(total_epochs=30, alpha=0.5))])
def test_lr_stays_finite_and_bounded_on_wild_sequences(rule, kwargs):
  rng = np.random.default_rng(0)
  losses = rng.lognormal(size=30) * rng.choice([1.0, 1.0, 1.0, np.nan, np.inf, -np.inf], size=30)
  accuracies = rng.uniform(size=30)
  lrs = run_epochs(losses, accuracies, initial_lr=0.1, rule=rule, min_lr=1e-3, max_lr=0.5, **kwargs)
  assert np.all(np.isfinite(lrs)) and lrs.min() >= 1e-3 * (1 - 1e-6) and lrs.max() <= 0.5 * (1 + 1e-6)


def test_update_is_pure_jax_without_host_callbacks():
  tx = ox.aldvi(optax.adam, 0.1, steps_per_epoch=2, rule="paper", sigma=0.01)
  params = {"w": jnp.ones(3)}
  jaxpr = str(jax.make_jaxpr(lambda s: tx.update(params, s, params, loss=1.0, accuracy=0.5))(tx.init(params)))
  assert "callback" not in jaxpr
