"""ALDVI's decisions against a transcription of its rules (Bhandari & Hirawat, sections II.B, IV.B, IV.D, as the
docstrings state them), on losses and accuracies that keep η inside ``[min_lr, max_lr]``.

The transcription below is plain Python, written from the docstrings; the tests drive the real ``scale_by_aldvi``
through its ``update`` (a scan over planted batch losses and accuracies) and compare the learning rate of every step.
"""

import functools
import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox

aldvi_module = importlib.import_module("optix_evo.schedules.aldvi")  # the package exports the function aldvi

# ----------------------------------------------------------------------------------------------------------------
# The transcription


def _rel(new, old):
  return (new - old) / max(abs(old), 1e-12)


def ref_paper(lr, loss, acc, valid, epoch, *, alpha=1.0):
  """IV.B: η (1 + α |A_t − A_{t−1}|), or the relative loss change without accuracy; nothing before two epochs."""
  del epoch
  change = abs(_rel(loss[-1], loss[-2])) if acc is None else abs(acc[-1] - acc[-2])
  return lr * (1 + alpha * (change if valid[-2] else 0.0)), "paper"


def ref_trend(lr, loss, acc, valid, epoch, *, alpha=0.1, decay=0.99, cut=0.5, tol=1e-3, rise=0.1, accuracy_tol=1e-3,
              window=4):
  """II.B as the trend rule's docstring orders it: divergence, oscillation or stagnation, progress, else keep."""
  del epoch
  if not (valid[-1] and valid[-2]):
    return lr, "first"
  r = _rel(loss[-1], loss[-2])
  d_acc = 0.0 if acc is None else acc[-1] - acc[-2]
  pairs = list(range(1, len(loss)))[-window:]
  moved = [valid[i] and valid[i - 1] and abs(_rel(loss[i], loss[i - 1])) > tol for i in pairs]
  signs = [_rel(loss[i], loss[i - 1]) for i in pairs]
  oscillating = len(pairs) >= window and all(
      moved[j] and moved[j + 1] and signs[j] * signs[j + 1] < 0 for j in range(len(pairs) - 1))
  stagnating = abs(r) <= tol and abs(d_acc) <= accuracy_tol
  if r > rise:
    return lr * cut, "divergence"
  if oscillating or stagnating:
    return lr * (1 + alpha), "oscillation" if oscillating else "stagnation"
  if r < -tol or d_acc > accuracy_tol:
    return lr * decay, "progress"
  return lr, "keep"


def ref_phased(lr, loss, acc, valid, epoch, *, total_epochs, boundaries=(0.3, 0.7), gains=(2.0, 1.0, 0.5),
               fine_tune_drop=0.1, **inner):
  """IV.D: the trend rule's factor raised to the phase's gain; × fine_tune_drop on entering the last phase."""
  proposal, case = ref_trend(lr, loss, acc, valid, epoch, **inner)
  first_end, last_start = round(boundaries[0] * total_epochs), round(boundaries[1] * total_epochs)
  gain = gains[0] if epoch < first_end else gains[1] if epoch < last_start else gains[2]
  drop = fine_tune_drop if epoch == last_start else 1.0
  return lr * (max(proposal, 1e-12) / lr) ** gain * drop, f"{case}/phase{gains.index(gain)}" + ("/drop" * (drop != 1))


def ref_aldvi(losses, accuracies, *, rule, initial_lr, steps_per_epoch, min_lr, max_lr, divergence_cut=0.5,
              history_size=8):
  """scale_by_aldvi's loop: the learning rate of every step, and the rule's case at every epoch boundary."""
  h = history_size
  lr = min(max(initial_lr, min_lr), max_lr)
  loss_h, acc_h, valid = [0.0] * h, [0.0] * h, [False] * h
  loss_sum = acc_sum = 0.0
  finite_n = acc_n = nonfinite_n = epoch = 0
  used, cases = [], []
  for step, loss in enumerate(losses, 1):
    used.append(lr)
    acc = 0.0 if accuracies is None else accuracies[step - 1]
    if math.isfinite(loss):
      loss_sum += loss
      finite_n += 1
      if math.isfinite(acc):  # a non-finite accuracy is left out of the accuracy mean
        acc_sum += acc
        acc_n += 1
    else:
      nonfinite_n += 1
    if step % steps_per_epoch:
      continue
    epoch += 1
    any_finite = finite_n > 0
    loss_h = loss_h[1:] + [loss_sum / finite_n if any_finite else loss_h[-1]]
    acc_h = acc_h[1:] + [acc_sum / acc_n if acc_n else acc_h[-1]]
    valid = valid[1:] + [any_finite or valid[-1]]
    proposal, case = rule(lr, loss_h, None if accuracies is None else acc_h, valid, epoch)
    if nonfinite_n or not math.isfinite(proposal):
      proposal, case = lr * divergence_cut, "non-finite"
    lr = min(max(proposal, min_lr), max_lr)
    cases.append(case)
    loss_sum = acc_sum = 0.0
    finite_n = acc_n = nonfinite_n = 0
  return np.array(used), cases


def run_aldvi(losses, accuracies, **kwargs):
  """The learning rate of every step of the real scale_by_aldvi (the update of a gradient of ones); one compiled
  program per configuration, reused by every sequence of the same length."""
  accs = jnp.zeros(len(losses)) if accuracies is None else jnp.asarray(accuracies, jnp.float32)
  program = _program(tuple(sorted(kwargs.items())), accuracies is not None)
  return np.asarray(program(jnp.asarray(losses, jnp.float32), accs))


@functools.cache
def _program(kwargs, with_accuracy):
  tx = ox.scale_by_aldvi(**dict(kwargs))

  def step(state, batch):
    loss, acc = batch
    updates, state = tx.update(jnp.ones(()), state, value=loss, accuracy=acc if with_accuracy else None)
    return state, updates

  return jax.jit(lambda l, a: jax.lax.scan(step, tx.init(jnp.zeros(())), (l, a))[1])


# ----------------------------------------------------------------------------------------------------------------
# Planted sequences that visit every case of every rule (2 steps per epoch; values far from the thresholds)

SPE = 2


def _epochs(means, jitter=0.01):
  """Two batches per epoch whose mean is ``means[e]``."""
  return [x for m in means for x in (m * (1 + jitter), m * (1 - jitter))]


#: loss means per epoch: progress, progress, stagnation, small rise (keep), divergence, oscillation (4 alternating
#: moves), progress, a NaN batch (divergence cut), an all-NaN epoch, recovery
LOSS_MEANS = [2.0, 1.6, 1.3, 1.3, 1.302, 1.9, 1.5, 1.8, 1.4, 1.7, 1.2, 1.0]
ACC_MEANS = [0.30, 0.40, 0.50, 0.5001, 0.5002, 0.45, 0.55, 0.50, 0.58, 0.52, 0.62, 0.66]


def planted(with_accuracy=True):
  losses = _epochs(LOSS_MEANS)
  accs = _epochs(ACC_MEANS, jitter=0.0) if with_accuracy else None
  # a NaN batch; an all-NaN epoch; recovery with a NaN accuracy at a finite loss (left out of the mean); an epoch
  # whose accuracies are all NaN (it repeats the previous accuracy); one more epoch
  losses += [0.9, float("nan"), float("nan"), float("nan"), 0.8, 0.8, 0.78, 0.78, 0.75, 0.75]
  if with_accuracy:
    accs += [0.7, 0.7, 0.1, float("nan"), 0.71, float("nan"), float("nan"), float("inf"), 0.72, 0.72]
  return losses, accs


BOUNDS = {"min_lr": 1e-6, "max_lr": 1e3}  # far from every η below: no rule is saturated


@pytest.mark.parametrize("with_accuracy", [True, False])
@pytest.mark.parametrize("rule, kwargs, reference", [
    ("paper", {"alpha": 2.0}, lambda *a: ref_paper(*a, alpha=2.0)),
    ("paper", {"alpha": 0.5}, lambda *a: ref_paper(*a, alpha=0.5)),
    ("trend", {}, ref_trend),
    ("trend", {"alpha": 0.3, "decay": 0.9, "cut": 0.25, "tol": 2e-3, "rise": 0.15, "accuracy_tol": 2e-3, "window": 3},
     lambda *a: ref_trend(*a, alpha=0.3, decay=0.9, cut=0.25, tol=2e-3, rise=0.15, accuracy_tol=2e-3, window=3)),
    ("phased", {"total_epochs": 15}, lambda *a: ref_phased(*a, total_epochs=15)),
    ("phased", {"total_epochs": 12, "boundaries": (0.25, 0.5), "gains": (3.0, 1.5, 0.25), "fine_tune_drop": 0.2,
                "alpha": 0.2},
     lambda *a: ref_phased(*a, total_epochs=12, boundaries=(0.25, 0.5), gains=(3.0, 1.5, 0.25), fine_tune_drop=0.2,
                           alpha=0.2)),
])
def test_every_step_uses_the_transcribed_learning_rate(rule, kwargs, reference, with_accuracy):
  losses, accs = planted(with_accuracy)
  expected, cases = ref_aldvi(losses, accs, rule=reference, initial_lr=0.01, steps_per_epoch=SPE, divergence_cut=0.3,
                              **BOUNDS)
  got = run_aldvi(losses, accs, initial_lr=0.01, steps_per_epoch=SPE, rule=rule, divergence_cut=0.3, **BOUNDS,
                  **kwargs)
  np.testing.assert_allclose(got, expected, rtol=2e-5)
  assert expected.min() > 10 * BOUNDS["min_lr"] and expected.max() < BOUNDS["max_lr"] / 10  # not saturated
  assert len(set(np.round(expected, 9))) >= 4, expected  # η moves: the sequence tells the rules apart
  if rule == "trend" and not kwargs:  # the planted sequence visits every case of the rule
    assert {"first", "progress", "stagnation", "keep", "divergence", "oscillation", "non-finite"} <= set(cases), cases


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_accuracy", [True, False])
def test_random_trends_follow_the_transcription(seed, with_accuracy):
  """Random walks of the loss (some epochs flat, some jumping) through trend and phased rules, no NaN."""
  rng = np.random.default_rng(seed)
  steps = rng.choice([-0.3, -0.05, -0.0005, 0.0, 0.0005, 0.05, 0.3], size=20)
  means = 1.0 * np.cumprod(1 + steps)
  losses = _epochs(means.tolist())
  accs = _epochs(np.clip(0.5 + np.cumsum(rng.choice([-0.05, 0.0, 0.0002, 0.05], size=20)), 0, 1).tolist(), 0.0)
  accs = accs if with_accuracy else None
  for rule, kwargs, reference in [("trend", {"window": 2}, lambda *a: ref_trend(*a, window=2)),
                                  ("phased", {"total_epochs": 20}, lambda *a: ref_phased(*a, total_epochs=20))]:
    expected, _ = ref_aldvi(losses, accs, rule=reference, initial_lr=0.01, steps_per_epoch=SPE, **BOUNDS)
    got = run_aldvi(losses, accs, initial_lr=0.01, steps_per_epoch=SPE, rule=rule, **BOUNDS, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=2e-5, err_msg=rule)


def test_default_bounds_are_a_thousandth_and_ten_times_the_initial_rate():
  up = run_aldvi(_epochs([1.0] * 12), _epochs(np.linspace(0.1, 0.9, 12).tolist(), 0.0), initial_lr=0.01,
                 steps_per_epoch=SPE, rule="paper", alpha=50.0)
  assert up.max() == pytest.approx(0.1, rel=1e-6) and np.sum(np.isclose(up, 0.1, rtol=1e-6)) > 2  # 10 × initial_lr
  down = run_aldvi(_epochs(np.geomspace(1.0, 1e9, 16).tolist()), None, initial_lr=0.01, steps_per_epoch=SPE)
  assert down.min() == pytest.approx(1e-5, rel=1e-6) and np.sum(np.isclose(down, 1e-5, rtol=1e-6)) > 2  # / 1000


def test_the_initial_rate_is_clipped_to_the_bounds():
  assert float(ox.scale_by_aldvi(5.0, 2, min_lr=0.1, max_lr=1.0).init(jnp.zeros(1)).lr) == 1.0
  assert float(ox.scale_by_aldvi(0.01, 2, min_lr=0.1, max_lr=1.0).init(jnp.zeros(1)).lr) == pytest.approx(0.1)


def test_paper_noise_is_additive_standard_normal_times_sigma():
  """ε ~ N(0, σ²) in learning-rate units: over 4,000 keys, (η' − η(1 + α|ΔA|)) / σ has mean 0 and variance 1
  (z-test and χ² bounds at about 5 standard errors)."""
  rule = ox.schedules.paper_rule(alpha=2.0, sigma=0.01)
  history = ox.AldviHistory(loss=jnp.array([1.0, 0.8]), accuracy=jnp.array([0.5, 0.6]), lr=jnp.array([0.1, 0.1]),
                            valid=jnp.array([True, True]), epoch=jnp.array(2))
  keys = jax.random.split(jax.random.PRNGKey(0), 4000)
  z = (np.asarray(jax.vmap(lambda k: rule(jnp.array(0.1), history, k))(keys), np.float64) - 0.12) / 0.01
  assert abs(z.mean()) < 5 / math.sqrt(len(z))
  assert abs(z.var() - 1) < 5 * math.sqrt(2 / len(z))


def test_the_rule_gets_a_fresh_key_every_epoch_and_the_state_keeps_the_split():
  seen = []

  def rule(lr, history, key):
    seen.append(key)
    return lr

  tx = ox.scale_by_aldvi(0.1, steps_per_epoch=1, rule=rule, seed=7)
  state = tx.init(jnp.zeros(1))
  keys = []
  for _ in range(3):
    _, state = tx.update(jnp.ones(1), state, value=jnp.array(1.0))
    keys.append(np.asarray(jax.random.key_data(state.key) if jnp.issubdtype(state.key.dtype, jax.dtypes.prng_key)
                           else state.key))
  expected = jax.random.PRNGKey(7)
  for key in keys:
    expected, _ = jax.random.split(expected)
    np.testing.assert_array_equal(key, np.asarray(expected))
  assert len({tuple(np.asarray(k).ravel().tolist()) for k in seen[-3:]}) == 3


def test_history_pushes_the_newest_epoch_last():
  np.testing.assert_array_equal(aldvi_module._push(jnp.array([1.0, 2.0, 3.0]), 4.0), [2.0, 3.0, 4.0])


def test_a_non_finite_accuracy_is_left_out_of_the_accuracy_mean_not_averaged_in_as_zero():
  """paper rule, α = 2, one epoch of 2 steps: accuracies [0.5, 0.5], then [0.7, NaN] (mean 0.7, not 0.35), then
  [inf, NaN] at finite losses (no finite accuracy: it repeats 0.7). No NaN accuracy counts as divergence."""
  tx = ox.scale_by_aldvi(0.01, steps_per_epoch=2, rule="paper", alpha=2.0, min_lr=1e-6, max_lr=1.0)
  state = tx.init(jnp.zeros(()))
  lrs = []
  for acc in [0.5, 0.5, 0.7, float("nan"), float("inf"), float("nan")]:
    _, state = tx.update(jnp.ones(()), state, value=jnp.array(1.0), accuracy=jnp.array(acc))
    lrs.append(float(state.lr))
  history = ox.aldvi_history(state)
  np.testing.assert_allclose(history["accuracy"][-3:], [0.5, 0.7, 0.7], rtol=1e-6)
  assert not history["diverged"].any()
  np.testing.assert_allclose(lrs[3], 0.01 * (1 + 2.0 * 0.2), rtol=1e-5)  # |0.7 - 0.5|
  np.testing.assert_allclose(lrs[5], lrs[3], rtol=1e-6)  # |0.7 - 0.7| = 0
  assert int(state.num_accuracy) == 0 and int(state.num_finite) == 0  # reset at the boundary


@pytest.mark.parametrize("rule, kwargs, reference", [
    ("paper", {}, ref_paper),  # α = 1, σ = 0
    ("trend", {}, ref_trend),
    ("phased", {"total_epochs": 15}, lambda *a: ref_phased(*a, total_epochs=15)),
])
def test_the_defaults_are_the_signatures(rule, kwargs, reference):
  """Nothing but the rule (and phased's total_epochs): divergence_cut 0.5, bounds [η₀/1000, 10 η₀], 8 epochs of
  history, the rule's own defaults; the planted sequence stays inside the default bounds."""
  losses, accs = planted()
  expected, _ = ref_aldvi(losses, accs, rule=reference, initial_lr=0.01, steps_per_epoch=SPE, min_lr=1e-5, max_lr=0.1,
                          divergence_cut=0.5, history_size=8)
  got = run_aldvi(losses, accs, initial_lr=0.01, steps_per_epoch=SPE, rule=rule, **kwargs)
  np.testing.assert_allclose(got, expected, rtol=2e-5)
  assert expected.min() > 2 * 1e-5 and expected.max() < 0.1 / 2  # not saturated
  assert ox.aldvi_history(ox.scale_by_aldvi(0.01, SPE).init(jnp.zeros(())))["loss"].shape == (8,)


# ----------------------------------------------------------------------------------------------------------------
# The trend rule's thresholds, each at its boundary (binary fractions, so the relative changes are exact)


def _trend_case(losses, accuracies, **kwargs):
  """The trend rule's factor on one history, and the transcription's case and factor."""
  n = len(losses)
  history = ox.AldviHistory(loss=jnp.asarray(losses, jnp.float32),
                            accuracy=None if accuracies is None else jnp.asarray(accuracies, jnp.float32),
                            lr=jnp.full(n, 0.1, jnp.float32), valid=jnp.ones(n, bool), epoch=jnp.array(n))
  got = float(ox.schedules.trend_rule(**kwargs)(jnp.float32(0.1), history, jax.random.PRNGKey(0))) / 0.1
  expected, case = ref_trend(0.1, list(losses), accuracies, [True] * n, n, **kwargs)
  return got, expected / 0.1, case


@pytest.mark.parametrize("losses, accuracies, kwargs, case, factor", [
    # divergence is r > rise: r == rise is a small rise (keep)
    ([1.0, 1.5], None, dict(rise=0.5, tol=0.125), "keep", 1.0),
    ([1.0, 1.75], None, dict(rise=0.5, tol=0.125), "divergence", 0.5),
    # stagnation is |r| <= tol and |ΔA| <= accuracy_tol, both ends included
    ([1.0, 1.125], None, dict(tol=0.125, rise=0.5, alpha=0.25), "stagnation", 1.25),
    ([1.0, 1.0], [0.5, 0.75], dict(accuracy_tol=0.25, alpha=0.25), "stagnation", 1.25),
    # progress is r < -tol or ΔA > accuracy_tol, both strict
    ([1.0, 0.875], [0.5, 0.25], dict(tol=0.125, rise=0.5, accuracy_tol=0.125), "keep", 1.0),
    ([1.0, 1.25], [0.5, 0.75], dict(tol=0.125, rise=0.5, accuracy_tol=0.25), "keep", 1.0),
    ([1.0, 1.25], [0.5, 0.875], dict(tol=0.125, rise=0.5, accuracy_tol=0.25, decay=0.75), "progress", 0.75),
    # oscillation needs moves larger than tol: three moves of exactly ±tol, then a fall, are progress
    ([1.0, 1.5, 0.75, 1.125, 0.28125], None, dict(tol=0.5, rise=1.0, decay=0.75), "progress", 0.75),
    ([1.0, 1.5625, 0.75, 1.25, 0.28125], None, dict(tol=0.5, rise=1.0, alpha=0.25), "oscillation", 1.25),
    # moves of one sign (products of consecutive changes in (0, 1)) are not alternations: a steady fall is progress
    ([1.0, 0.5, 0.25, 0.125, 0.0625], None, dict(tol=0.125, rise=0.5, decay=0.75), "progress", 0.75),
])
def test_each_trend_threshold_at_its_boundary(losses, accuracies, kwargs, case, factor):
  got, expected, ref_case = _trend_case(losses, accuracies, **kwargs)
  assert ref_case == case and expected == pytest.approx(factor, rel=1e-12)
  assert got == pytest.approx(factor, rel=1e-6)


# ----------------------------------------------------------------------------------------------------------------
# Hyperparameters may be traced; the state's dtypes do not depend on the x64 flag


def test_alpha_initial_lr_bounds_and_total_epochs_may_be_traced():
  """The rules and scale_by_aldvi check only static numbers: traced ones (vmap over α, η₀, T) build and run."""
  history = ox.AldviHistory(loss=jnp.array([1.0, 0.5]), accuracy=jnp.array([0.5, 0.75]), lr=jnp.array([0.1, 0.1]),
                            valid=jnp.array([True, True]), epoch=jnp.array(2))
  key, lr = jax.random.PRNGKey(0), jnp.float32(0.1)
  alphas = jnp.array([0.5, 2.0])
  paper = jax.vmap(lambda a: ox.schedules.paper_rule(alpha=a, sigma=a * 0)(lr, history, key))(alphas)
  np.testing.assert_allclose(paper, 0.1 * (1 + np.array([0.5, 2.0]) * 0.25), rtol=1e-6)
  trend = jax.vmap(lambda a: ox.schedules.trend_rule(alpha=a)(lr, history, key))(alphas)
  np.testing.assert_allclose(trend, [0.099, 0.099], rtol=1e-6)  # progress: × decay whatever α
  phased = jax.jit(lambda t: ox.schedules.phased_rule(t)(lr, history, key))(10)
  assert float(phased) == pytest.approx(0.1 * 0.99 ** 2, rel=1e-6)  # epoch 2 < round(0.3 × 10): early gain 2

  def first_lrs(initial_lr):
    tx = ox.scale_by_aldvi(initial_lr, 1, rule="paper", min_lr=1e-6)
    state = tx.init(jnp.zeros(()))
    _, state = tx.update(jnp.ones(()), state, value=1.0)
    return state.lr

  np.testing.assert_allclose(jax.vmap(first_lrs)(jnp.array([0.01, 0.2])), [0.01, 0.2], rtol=1e-6)
  np.testing.assert_allclose(jax.vmap(lambda m: ox.scale_by_aldvi(0.5, 1, max_lr=m).init(jnp.zeros(())).lr)(
      jnp.array([0.1, 1.0])), [0.1, 0.5], rtol=1e-6)


def test_the_state_keeps_its_dtypes_with_x64_on_and_updates_keep_theirs():
  """η, sums and histories float32, counters int32, flags bool, whether x64 is on or not, before and after updates
  fed Python floats (float64 under x64); the scaled update keeps the update's dtype (bfloat16 here)."""
  expected = dict(count=jnp.int32, lr=jnp.float32, loss_sum=jnp.float32, accuracy_sum=jnp.float32,
                  num_finite=jnp.int32, num_accuracy=jnp.int32, num_nonfinite=jnp.int32, loss_history=jnp.float32,
                  accuracy_history=jnp.float32, lr_history=jnp.float32, valid=jnp.bool_, diverged_history=jnp.bool_,
                  epoch=jnp.int32)
  with jax.enable_x64(True):
    for rule, kwargs in [("paper", dict(sigma=0.01)), ("trend", {}), ("phased", dict(total_epochs=4))]:
      for with_accuracy in (True, False):
        tx = ox.scale_by_aldvi(0.1, 1, rule=rule, **kwargs)
        states = [tx.init(jnp.zeros(2, jnp.bfloat16))]
        for loss in (1.0, 0.5, float("nan")):
          updates, state = tx.update(jnp.ones(2, jnp.bfloat16), states[-1], value=loss,
                                     accuracy=0.5 if with_accuracy else None)
          assert updates.dtype == jnp.bfloat16
          states.append(state)
        for state in states:
          assert {name: getattr(state, name).dtype for name in expected} == expected, (rule, with_accuracy)


@pytest.mark.parametrize("rule, kwargs", [("paper", dict(sigma=0.01)), ("trend", {}), ("phased", dict(total_epochs=4)),
                                          ("phased", dict(total_epochs=4, inner="paper", sigma=0.01))])
def test_every_rule_proposes_in_the_learning_rates_dtype_with_x64_on(rule, kwargs):
  with jax.enable_x64(True):
    history = ox.AldviHistory(loss=jnp.array([1.0, 1.5, 0.5], jnp.float32), accuracy=jnp.array([0.5, 0.25, 0.75],
                              jnp.float32), lr=jnp.full(3, 0.1, jnp.float32), valid=jnp.ones(3, bool),
                              epoch=jnp.array(3, jnp.int32))
    assert ox.make_aldvi_rule(rule, **kwargs)(jnp.float32(0.1), history, jax.random.PRNGKey(0)).dtype == jnp.float32


def test_phased_scales_the_inner_rules_stochastic_proposal_with_the_key_it_is_given():
  """phased(inner=paper with σ): η (f(η)/η)^g, where f sees the same key as phased (so the noise is the seed's)."""
  history = ox.AldviHistory(loss=jnp.array([1.0, 0.5]), accuracy=jnp.array([0.5, 0.75]), lr=jnp.array([0.1, 0.1]),
                            valid=jnp.array([True, True]), epoch=jnp.array(1))
  key = jax.random.PRNGKey(3)
  inner = float(ox.schedules.paper_rule(alpha=1.0, sigma=0.01)(jnp.float32(0.1), history, key))
  phased = ox.schedules.phased_rule(10, inner="paper", alpha=1.0, sigma=0.01)
  assert float(phased(jnp.float32(0.1), history, key)) == pytest.approx(0.1 * (inner / 0.1) ** 2, rel=1e-5)
  assert inner != pytest.approx(0.1 * 1.25, rel=1e-4)  # the noise moved it


def test_the_default_seed_is_0_and_aldvi_defaults_to_the_trend_rule():
  def lrs(**kwargs):
    tx = ox.scale_by_aldvi(0.1, 1, rule="paper", sigma=0.01, min_lr=1e-6, **kwargs)
    state, out = tx.init(jnp.zeros(())), []
    for loss, acc in [(1.0, 0.5), (0.9, 0.6), (0.8, 0.65)]:
      _, state = tx.update(jnp.ones(()), state, value=loss, accuracy=acc)
      out.append(float(state.lr))
    return out

  assert lrs() == lrs(seed=0) and lrs() != lrs(seed=1)
  params = jnp.ones(2)
  by_default, trend = ox.aldvi(optax.sgd, 0.1, 1), ox.aldvi(optax.sgd, 0.1, 1, rule="trend", alpha=0.1)
  states = [by_default.init(params), trend.init(params)]
  for loss in (1.0, 1.0, 2.0, 1.9):  # stagnation, then a divergence, then progress
    states = [tx.update(params, s, params, value=loss)[1] for tx, s in zip((by_default, trend), states)]
  assert float(ox.current_lr(states[0])) == float(ox.current_lr(states[1])) == pytest.approx(0.1 * 1.1 * 0.5 * 0.99)


def test_an_all_nan_epoch_early_in_the_run_keeps_the_history_filled():
  """All-NaN epochs at epochs 2 and 4 (of 8 slots): they repeat the last metrics and stay valid, so the epochs after
  them compare with them (not 'first')."""
  losses = _epochs([2.0, float("nan"), 1.5, float("nan"), 1.0, 1.02, 0.5], jitter=0.0)
  for rule, reference in [("trend", ref_trend), ("paper", ref_paper)]:
    expected, cases = ref_aldvi(losses, None, rule=reference, initial_lr=0.01, steps_per_epoch=SPE, **BOUNDS)
    got = run_aldvi(losses, None, initial_lr=0.01, steps_per_epoch=SPE, rule=rule, **BOUNDS)
    np.testing.assert_allclose(got, expected, rtol=2e-5, err_msg=rule)
  assert cases[:1] == ["paper"] and len(set(np.round(expected, 9))) >= 4


def test_aldvi_passes_every_option_to_scale_by_aldvi():
  """aldvi(base, η₀, spe, rule, **options) is chain(base(1), scale_by_aldvi(η₀, spe, rule, **options)): α = 3 and
  max_lr = 0.12 both act (0.1 (1 + 3 × 0.1) = 0.13, capped at 0.12; the defaults would give 0.11)."""
  tx = ox.aldvi(optax.sgd, 0.1, 1, "paper", alpha=3.0, max_lr=0.12)
  params = jnp.zeros(())
  state = tx.init(params)
  for acc in (0.5, 0.6):
    _, state = tx.update(jnp.ones(()), state, params, value=1.0, accuracy=acc)
  assert float(ox.current_lr(state)) == pytest.approx(0.12, rel=1e-6)


def test_aldvi_history_is_the_state_named_for_logging():
  """The docstring's example: one epoch per step, 3 slots, losses 2 then NaN (an all-NaN epoch)."""
  tx = ox.scale_by_aldvi(0.1, steps_per_epoch=1, history_size=3)
  state = tx.init(jnp.zeros(1))
  for loss, acc in [(2.0, 0.25), (float("nan"), 0.5)]:
    _, state = tx.update(jnp.ones(1), state, value=jnp.array(loss), accuracy=acc)
  history = ox.aldvi_history(state)
  assert sorted(history) == ["accuracy", "diverged", "loss", "lr", "valid"]
  expected = dict(loss=[0.0, 2.0, 2.0], accuracy=[0.0, 0.25, 0.25], lr=[0.0, 0.1, 0.1], valid=[False, True, True],
                  diverged=[False, False, True])
  for name, values in expected.items():
    np.testing.assert_allclose(np.asarray(history[name], np.float64), values, rtol=1e-6, err_msg=name)


def test_the_paper_noise_is_sigma_times_the_standard_normal_drawn_from_the_rules_key():
  """ε_t = σ · N(0, 1) drawn with the key the rule is given (so a seed fixes the run): added, not subtracted."""
  rule = ox.schedules.paper_rule(alpha=2.0, sigma=0.01)
  history = ox.AldviHistory(loss=jnp.array([1.0, 0.8]), accuracy=jnp.array([0.5, 0.6]), lr=jnp.array([0.1, 0.1]),
                            valid=jnp.array([True, True]), epoch=jnp.array(2))
  for seed in range(3):
    key = jax.random.PRNGKey(seed)
    draw = float(jax.random.normal(key, (), jnp.float32))
    assert float(rule(jnp.float32(0.1), history, key)) == pytest.approx(0.12 + 0.01 * draw, rel=1e-6)


def test_with_x64_a_float64_loss_is_read_in_float32_as_the_state_keeps_it():
  """Under x64 a float64 batch loss and accuracy (NumPy's, or Python floats) are rounded to float32, the state's
  dtype, before they are checked: the sums stay float32, and a loss beyond float32's range (1e39) is a non-finite
  batch loss, so its epoch counts as diverged and its means are over the other, finite, batch."""
  with jax.enable_x64(True):
    tx = ox.scale_by_aldvi(0.1, 2, rule=lambda lr, history, key: lr)  # η kept unless the epoch diverged
    state = tx.init(jnp.zeros(()))
    for loss, acc in ((np.float64(2.0), np.float64(0.5)), (2.0, 0.25), (np.float64(1e39), np.float64(0.5)), (1.0, 1.0)):
      _, state = tx.update(jnp.ones(()), state, value=loss, accuracy=acc)
      assert state.loss_sum.dtype == state.accuracy_sum.dtype == state.loss_history.dtype == jnp.float32
    assert state.diverged_history[-2:].tolist() == [False, True]
    assert state.loss_history[-2:].tolist() == [2.0, 1.0] and state.accuracy_history[-2:].tolist() == [0.375, 1.0]
    assert float(state.lr) == pytest.approx(0.05, rel=1e-6)  # η × divergence_cut


def test_the_state_counts_the_steps_taken_and_the_completed_epochs():
  """``count`` is the number of updates so far (1, 2, ...), ``epoch`` the completed epochs (3 steps each here)."""
  tx = ox.scale_by_aldvi(0.1, 3, rule=lambda lr, history, key: lr)
  state = tx.init(jnp.zeros(()))
  counts, epochs = [int(state.count)], [int(state.epoch)]
  update = jax.jit(lambda state: tx.update(jnp.ones(()), state, value=1.0)[1])
  for _ in range(7):
    state = update(state)
    counts.append(int(state.count))
    epochs.append(int(state.epoch))
  assert counts == list(range(8)) and epochs == [0, 0, 0, 1, 1, 1, 2, 2]
