"""The evaluator's decisions on planted runs: which epoch's test accuracy is reported, what ends a run and what it
counts as (divergent, stopped), the last partial epoch, what a probe (validate=False) reports, and that each run's
outcome lands in its own row across padding and batches.

A fake task plants every number: its one parameter ``e`` counts the steps (the planted optimizer adds the run's peak
learning rate each step), and its data are tables indexed by ``e``: the training loss and accuracy of each step, the
validation and test accuracy of each evaluation, and steps whose gradient is NaN (a non-finite update at a finite
loss). One small program per table, compiled in about a second."""

import dataclasses
import functools
import re
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optix_evo import graph
from optix_evo.data import Dataset
from optix_evo.errors import InputError
from optix_evo.search import evaluate
from optix_evo.search.evaluate import WORST, Budget, Evaluator, Usage, batch_orders, population_mesh, train_run
from optix_evo.search.protocol import seed_keys
from optix_evo.tasks import Task

NAN = float("nan")
S = 16  # table length: steps done 0 .. 15


@jax.custom_jvp
def _gradient_tag(e, grad):  # value 0, derivative `grad` (NaN planted at a finite loss)
  del grad
  return 0.0 * e


@_gradient_tag.defjvp
def _gradient_tag_jvp(primals, tangents):
  e, grad = primals
  return 0.0 * e, grad * tangents[0]


def _loss_fn(params, x, y):
  del y
  e = params["e"]
  i = jnp.clip(jnp.round(jax.lax.stop_gradient(e)), 0, S - 1).astype(jnp.int32)
  row = x[0]  # [4, S]: the part's accuracy table, the training loss, the NaN-gradient steps
  loss = row[1, i] + _gradient_tag(e, row[2, i])
  return loss, {"accuracy": jnp.mean(x[:, 0, i])}  # the batch's mean (the rows differ only in one test)


def _task(train_accuracy=(0.5,) * S, loss=(1.0,) * S, valid=(0.5,) * S, test=(0.5,) * S, nan_grad=(0.0,) * S):
  """Tables by the number of steps done: ``train_accuracy``/``loss``/``nan_grad`` of the step taken with ``e`` steps
  done, ``valid``/``test`` of an evaluation after ``e`` steps."""
  def part(acc, n, lo=loss, ng=nan_grad):
    rows = np.stack([np.asarray(acc, np.float32), np.asarray(lo, np.float32), np.asarray(ng, np.float32)])
    return Dataset(np.broadcast_to(rows, (n, 3, S)).copy(), np.zeros(n, np.int32))
  return Task("planted", lambda key: {"e": jnp.float32(0)}, _loss_fn, part(train_accuracy, 4), part(valid, 2),
              part(test, 2), batch_size=2)


def _counter(genome, learning_rate, momentum, factors):
  """Adds the run's peak learning rate to ``e`` each step (plus the planted gradient, 0 or NaN)."""
  del genome, momentum, factors

  def update(grads, state, params=None):
    del params
    return jax.tree.map(lambda g: learning_rate.peak + g, grads), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _run(task, budget, *, lr=1.0, validate=True, order=np.zeros((S, 4), np.int32)):
  """train_run of one run, jitted (the fields of Outcome, as Python numbers)."""
  tables = (jnp.zeros((S, graph.DEFAULT_SPEC.num_nodes, 2)), jnp.full(S, lr, jnp.float32), jnp.zeros(S))
  data = {f"{p}_{f}": jnp.asarray(getattr(getattr(task, p), f)) for p in ("train", "valid", "test") for f in "xy"}
  fn = jax.jit(functools.partial(train_run, task, graph.DEFAULT_SPEC, "switch", make_optimizer=_counter))
  out = fn(graph.known("adam"), jax.random.PRNGKey(0), tables, budget, data, validate=validate,
           order=None if order is None else jnp.asarray(order))
  names = ("best_valid", "test", "train_accuracy", "steps_run", "diverged", "stopped", "best_train")
  return {n: v.item() for n, v in zip(names, out)}


def _b(steps, epoch, **kw):
  return Budget(steps=steps, horizon=S, warmup=0, epoch=epoch, **kw)


def test_the_test_accuracy_is_the_one_at_the_first_epoch_with_the_best_validation_accuracy():
  # evaluations after 2, 4, 6, 8 steps: validation 0.5, 0.8, 0.6, 0.8 (a tie later), test 0.1, 0.2, 0.3, 0.4
  valid, test = np.zeros(S), np.zeros(S)
  valid[[2, 4, 6, 8]] = [0.5, 0.8, 0.6, 0.8]
  test[[2, 4, 6, 8]] = [0.1, 0.2, 0.3, 0.4]
  out = _run(_task(valid=valid, test=test), _b(8, 2))
  assert out["best_valid"] == pytest.approx(0.8) and out["test"] == pytest.approx(0.2)  # not the last, not the max
  assert (out["steps_run"], out["diverged"], out["stopped"]) == (8, False, False)


def test_an_accuracy_of_0_is_a_validation_epoch_not_worst():
  out = _run(_task(valid=np.zeros(S), test=np.full(S, 0.25)), _b(4, 2))
  assert out["best_valid"] == 0.0 and out["test"] == 0.25  # 0 > WORST: the first epoch counts, its test is read


def test_a_non_finite_loss_ends_the_run_as_divergent_and_its_epoch_does_not_count():
  valid, test, loss = np.full(S, 0.3), np.full(S, 0.1), np.ones(S)
  valid[4:], test[4:] = 0.9, 0.7  # better from step 4 on, but the loss of the step taken at 5 steps done is NaN
  loss[5] = NAN
  out = _run(_task(valid=valid, test=test, loss=loss), _b(12, 2))
  assert out["diverged"] and not out["stopped"]
  assert out["steps_run"] == 6  # the epoch of steps 4 and 5 ran to its end, then the run stopped
  assert out["best_valid"] == pytest.approx(0.9) and out["test"] == pytest.approx(0.7)  # the epoch at 4 steps counts
  loss[1] = NAN  # in the first epoch: no finite epoch at all
  out = _run(_task(valid=valid, test=test, loss=loss), _b(12, 2))
  assert out["diverged"] and out["steps_run"] == 2 and out["best_valid"] == WORST and np.isnan(out["test"])


def test_a_non_finite_update_at_a_finite_loss_is_divergence_too():
  valid = np.full(S, 0.4)
  valid[6:] = 0.9
  nan_grad = np.zeros(S)
  nan_grad[4] = 1.0  # the step at 4 steps done makes e NaN: the parameters are non-finite from then on
  nan_grad = np.where(nan_grad > 0, NAN, 0.0)
  out = _run(_task(valid=valid, nan_grad=nan_grad), _b(12, 3))
  assert out["diverged"] and out["steps_run"] == 6 and out["best_valid"] == pytest.approx(0.4)


def test_the_early_stop_rule_reads_each_epochs_mean_training_accuracy_from_check_after_on():
  acc = np.array([0.1, 0.3, 0.1, 0.3, 0.6, 0.6] + [0.9] * (S - 6))  # epochs of 2 steps: means 0.2, 0.2, 0.6, 0.9...
  task = _task(train_accuracy=acc)
  out = _run(task, _b(12, 2, min_accuracy=0.25, check_after=1))  # epoch 0 (0.2) is not checked, epoch 1 (0.2) is
  assert out["stopped"] and not out["diverged"] and out["steps_run"] == 4
  assert out["train_accuracy"] == pytest.approx(0.2) and out["best_train"] == pytest.approx(0.2)
  out = _run(task, _b(12, 2, min_accuracy=0.2, check_after=0))  # 0.2 is not below 0.2
  assert not out["stopped"] and out["steps_run"] == 12 and out["best_train"] == pytest.approx(0.9)
  out = _run(task, _b(12, 2, min_accuracy=0.25, check_after=2))  # epoch 2 (0.6) passes: runs to the end
  assert not out["stopped"] and out["steps_run"] == 12
  out = _run(task, _b(12, 2, min_accuracy=0.25, check_after=0))  # epoch 0 is checked: stopped after it
  assert out["stopped"] and out["steps_run"] == 2


def test_the_last_partial_epoch_is_trained_validated_and_averaged_over_its_own_steps():
  acc = np.array([0.2, 0.2, 0.2, 0.4, 0.4, 0.4, 0.9] + [0.0] * (S - 7))
  valid, test = np.zeros(S), np.zeros(S)
  valid[[3, 6, 7]] = [0.5, 0.6, 0.8]
  test[[3, 6, 7]] = [0.1, 0.2, 0.3]
  out = _run(_task(train_accuracy=acc, valid=valid, test=test), _b(7, 3))  # epochs of 3, 3, 1 steps
  assert out["steps_run"] == 7 and out["train_accuracy"] == pytest.approx(0.9)  # the 1-step epoch's own mean
  assert out["best_valid"] == pytest.approx(0.8) and out["test"] == pytest.approx(0.3)  # validated after step 7
  assert out["best_train"] == pytest.approx(0.9)


def test_a_run_without_validation_reports_worst_and_nan_but_trains_alike():
  acc = np.linspace(0.1, 0.8, S)
  task = _task(train_accuracy=acc, valid=np.full(S, 0.9), test=np.full(S, 0.9))
  probe, full = _run(task, _b(8, 4), validate=False), _run(task, _b(8, 4))
  assert probe["best_valid"] == WORST and np.isnan(probe["test"])
  assert full["best_valid"] == pytest.approx(0.9) and full["test"] == pytest.approx(0.9)
  for field in ("train_accuracy", "steps_run", "diverged", "stopped", "best_train"):
    assert probe[field] == full[field]
  data = {f"{p}_{f}": jnp.asarray(getattr(getattr(task, p), f)) for p in ("train", "valid", "test") for f in "xy"}
  tables = (jnp.zeros((S, graph.DEFAULT_SPEC.num_nodes, 2)), jnp.ones(S), jnp.zeros(S))
  default = jax.jit(functools.partial(train_run, task, graph.DEFAULT_SPEC, "switch", make_optimizer=_counter))(
      graph.known("adam"), jax.random.PRNGKey(0), tables, _b(8, 4), data, order=jnp.zeros((S, 4), jnp.int32))
  assert default[0].item() == pytest.approx(0.9)  # validate defaults to True


def test_each_run_gets_its_own_outcome_across_padding_devices_and_batches():
  """The peak learning rate sets how many table entries a step advances: runs with rates 1, 2, 3 read different
  planted outcomes. 5 runs in batches of 4 over 2 devices (the second batch padded): every row is its own run's,
  from the one program, compiled in the background by start_compiling."""
  valid = np.arange(S, dtype=np.float32) / 100  # validation after e steps done: e / 100
  test = 1 - valid
  task = _task(valid=valid, test=test, train_accuracy=valid)
  ev = Evaluator(task, max_steps=4, batch=4, mesh=population_mesh(jax.devices()[:2]), make_optimizer=_counter)
  assert ev.compiled_programs == 0 and ev.loop == "map" and ev.batch == 4  # "auto" is map on a CPU
  thread = ev.start_compiling()  # the program compiled in the background is the one the calls use
  assert thread is not None and thread.daemon and thread.name == "compile planted"
  assert ev.start_compiling() is None  # compiling already
  ev.wait_compiling()
  assert not thread.is_alive() and ev.compiled_programs == 1 and ev.start_compiling() is None  # compiled already
  rates = np.array([1.0, 2.0, 3.0, 1.0, 2.0], np.float32)
  genomes = graph.stack([graph.known("adam")] * 5)
  out = ev(genomes, seed_keys(0, 5), rates, Budget(steps=4, horizon=5, warmup=0, epoch=2))
  e = 4 * rates  # steps done at the last evaluation (the best: validation rises with e)
  np.testing.assert_allclose(out.best_valid, e / 100, atol=1e-6)
  np.testing.assert_allclose(out.test, 1 - e / 100, atol=1e-6)
  np.testing.assert_allclose(out.train_accuracy, (4 * rates - rates) / 100 - rates / 200, atol=1e-6)
  assert out.steps_run.tolist() == [4] * 5 and not out.diverged.any() and not out.stopped.any()
  assert out.best_train_accuracy is not None and out.best_valid.shape == (5,)
  assert ev.compiled_programs == 1


def test_a_zoo_optimizer_runs_at_the_peak_rate_scaled_by_the_schedule_and_plain_genome_is_adams():
  from optix_evo.search.evaluate import LearningRate, plain_genome, zoo_optimizer  # pylint: disable=import-outside-toplevel
  table = jnp.array([0.0, 0.2, 0.1, 0.05])
  opt = zoo_optimizer("sgd")(None, LearningRate(table), None, None)
  params = {"w": jnp.ones(2)}
  state = opt.init(params)
  steps = []
  for _ in range(4):
    updates, state = opt.update({"w": jnp.full(2, 2.0)}, state, params)
    steps.append(float(updates["w"][0]))
  np.testing.assert_allclose(steps, [-0.0, -0.4, -0.2, -0.1], rtol=1e-6)  # -lr(t) · g: the peak 0.2 times lr(t)/0.2
  assert LearningRate(table)(2) == pytest.approx(0.1) and LearningRate(table).peak == pytest.approx(0.2)
  assert graph.canonical_hash(plain_genome(), graph.DEFAULT_SPEC) == graph.canonical_hash(graph.known("adam"),
                                                                                          graph.DEFAULT_SPEC)


@pytest.mark.parametrize("space", sorted(graph.SPACES))
def test_plain_genome_hands_a_zoo_optimizer_the_base_schedule_in_every_space(space):
  """A zoo row in an evaluator of any space (``tune``'s ``zoo`` rows carry ``plain_genome(ev.spec)``) gets the
  base schedule: multiplier 1 and no decay factors."""
  from optix_evo.search.evaluate import plain_genome, schedule_tables  # pylint: disable=import-outside-toplevel
  spec, t = graph.SPACES[space], jnp.arange(12)
  budget = Budget(steps=12, horizon=12, warmup=2, epoch=4, hold=3)
  factors, learning_rate, momentum = schedule_tables(graph.stack([plain_genome(spec)]), jnp.array([0.1]), budget,
                                                     length=12, spec=spec)
  np.testing.assert_array_equal(factors, 1.0)
  np.testing.assert_allclose(learning_rate[0], graph.nos_learning_rate(0.1, 12, 2, 3)(t), rtol=1e-6)
  np.testing.assert_allclose(momentum[0], graph.nos_momentum(12, 2, 3)(t), rtol=1e-6)



def test_every_pass_over_the_training_set_sees_each_example_once_in_a_fresh_order():
  """Examples with their own training accuracy (0.1, 0.2, 0.4, 0.8; batches of 2): an epoch of one pass averages
  to 0.375 exactly when the pass is a permutation, drawn in the program (order None) or read from the given order."""
  task = _task()
  x = np.array(task.train.x)
  x[:, 0, :] = np.array([0.1, 0.2, 0.4, 0.8])[:, None]
  task = Task("planted", task.init, task.loss_fn, Dataset(x, task.train.y), task.valid, task.test, batch_size=2)
  for order in (None, np.array([[3, 1, 0, 2], [2, 0, 3, 1]] * (S // 2), np.int32)):
    out = _run(task, _b(4, 2), order=order)  # two passes, one per epoch
    assert out["train_accuracy"] == pytest.approx(0.375) and out["best_train"] == pytest.approx(0.375)
  out = _run(task, _b(1, 1), order=np.array([[3, 2, 1, 0]] * S, np.int32))  # the first batch of the given order
  assert out["train_accuracy"] == pytest.approx(0.6)
  # the last pass of an order that has just the passes the run reaches: its own row, not the one before it
  out = _run(task, _b(3, 3), order=np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.int32))
  assert out["train_accuracy"] == pytest.approx((0.15 + 0.6 + 0.6) / 3)


def test_the_evaluators_front_door_says_what_is_wrong():
  task = _task()
  for kw, message in (({"max_steps": 4, "chunk_size": 0}, "chunk_size must be positive or None, got 0."),
                      ({"max_steps": 4, "batch": 0}, "batch and max_steps must be positive, got 0 and 4."),
                      ({"max_steps": 0}, "batch and max_steps must be positive, got 16 and 0.")):
    with pytest.raises(InputError) as error:
      Evaluator(task, **kw)
    assert str(error.value) == message


def test_the_batch_orders_of_a_key_are_fixed_across_versions():
  """A recorded run re-runs with the same batches (``optix-evo reproduce``): these orders are NumPy's PCG64 seeded
  with the key's words and 0xDA7A, as drawn when this test was written."""
  from optix_evo.search.evaluate import batch_orders  # pylint: disable=import-outside-toplevel
  orders = batch_orders(np.array([[0, 7], [1, 2]], np.uint32), 6, 2, steps=5, max_steps=6)
  assert orders.tolist() == [[[1, 4, 2, 3, 5, 0], [3, 5, 1, 4, 2, 0]], [[0, 3, 4, 5, 2, 1], [2, 0, 1, 5, 3, 4]]]


def test_the_vmap_layout_gives_each_run_its_own_outcome_too():
  """The GPU layout (vmapped chunks of 2 runs, the batch rounded up to whole chunks) on the planted task."""
  valid = np.arange(S, dtype=np.float32) / 100
  ev = Evaluator(_task(valid=valid, test=1 - valid), max_steps=4, batch=3, chunk_size=2,
                 mesh=population_mesh(jax.devices()[:1]), population_loop="vmap", make_optimizer=_counter)
  assert (ev.loop, ev.chunk, ev.batch) == ("vmap", 2, 4)
  rates = np.array([1.0, 2.0, 3.0], np.float32)
  out = ev(graph.stack([graph.known("adam")] * 3), seed_keys(0, 3), rates, Budget(steps=4, horizon=5, warmup=0,
                                                                                   epoch=2))
  np.testing.assert_allclose(out.best_valid, 4 * rates / 100, atol=1e-6)
  np.testing.assert_allclose(out.test, 1 - 4 * rates / 100, atol=1e-6)


@pytest.mark.parametrize("strategy", ["switch", "select"])
def test_an_interpreted_genome_trains_through_the_same_decisions(strategy):
  """Without make_optimizer the run interprets its genome: SGD (u = g, w <- w - lr·u) at a learning rate of 1 on a
  planted gradient of -1 counts the steps as the planted optimizer does, so the same epoch's test accuracy is read;
  the decay-factor tables scale its edges."""
  valid, test = np.zeros(S), np.zeros(S)
  valid[[2, 4, 6, 8]] = [0.5, 0.8, 0.6, 0.8]
  test[[2, 4, 6, 8]] = [0.1, 0.2, 0.3, 0.4]
  task = _task(valid=valid, test=test, nan_grad=np.full(S, -1.0))
  data = {f"{p}_{f}": jnp.asarray(getattr(getattr(task, p), f)) for p in ("train", "valid", "test") for f in "xy"}
  tables = (jnp.ones((S, graph.DEFAULT_SPEC.num_nodes, 2)), jnp.ones(S), jnp.zeros(S))  # no decay: factors 1
  fn = jax.jit(functools.partial(train_run, task, graph.DEFAULT_SPEC, strategy))
  out = fn(graph.known("sgd"), jax.random.PRNGKey(0), tables, _b(8, 2), data, order=jnp.zeros((S, 4), jnp.int32))
  assert out[0].item() == pytest.approx(0.8) and out[1].item() == pytest.approx(0.2) and out[3].item() == 8
  # the tables' edge factors reach the genome (the same program): 1/2 on the root's edges halves every step, so 8
  # steps reach e = 4 (read from rising tables), not 8
  factors = np.ones((S, graph.DEFAULT_SPEC.num_nodes, 2), np.float32)
  factors[:, -1] = 0.5
  rising = _task(valid=np.arange(S) / 100, test=np.arange(S) / 100, nan_grad=np.full(S, -1.0))
  data = {f"{p}_{f}": jnp.asarray(getattr(getattr(rising, p), f)) for p in ("train", "valid", "test") for f in "xy"}
  half = fn(graph.known("sgd"), jax.random.PRNGKey(0), (jnp.asarray(factors), *tables[1:]), _b(8, 8), data,
            order=jnp.zeros((S, 4), jnp.int32))
  assert half[0].item() == pytest.approx(0.04) and half[1].item() == pytest.approx(0.04)


@pytest.mark.parametrize("fields, message", [
    ({"steps": 0}, "A training budget needs steps >= 1 and epoch >= 1, got steps=0, epoch=2."),
    ({"epoch": 0}, "A training budget needs steps >= 1 and epoch >= 1, got steps=5, epoch=0."),
    ({"horizon": 4}, "The schedule horizon (4) must cover the run's 5 steps."),
    ({"warmup": -1}, "warmup=-1 and hold=0 must be non-negative and end before the horizon (6)."),
    ({"hold": -1}, "warmup=1 and hold=-1 must be non-negative and end before the horizon (6)."),
    ({"warmup": 4, "hold": 2}, "warmup=4 and hold=2 must be non-negative and end before the horizon (6)."),
    ({"warmup": 6, "hold": 0}, "warmup=6 and hold=0 must be non-negative and end before the horizon (6)."),
])
def test_a_budget_is_refused_where_it_cannot_be_trained_and_accepted_at_each_edge(fields, message):
  edge = Budget(steps=5, horizon=6, warmup=1, epoch=2)
  with pytest.raises(InputError, match="^" + re.escape(message) + "$"):
    edge._replace(**fields).validated()
  for ok in (edge, edge._replace(steps=6), edge._replace(warmup=3, hold=2), edge._replace(warmup=0, hold=5),
             edge._replace(steps=1, epoch=1)):
    assert ok.validated() is ok


def test_the_evaluators_program_is_compiled_with_the_given_compiler_options(monkeypatch):
  seen, real = [], jax.jit

  def jit(fn, **kw):
    seen.append(kw)
    return real(fn, **kw)
  monkeypatch.setattr(jax, "jit", jit)
  options = {"xla_cpu_enable_fast_math": False}
  Evaluator(_task(), max_steps=4, batch=2, compiler_options=options, make_optimizer=_counter)
  Evaluator(_task(), max_steps=4, batch=2, make_optimizer=_counter)
  assert [kw["compiler_options"] for kw in seen if "compiler_options" in kw] == [options, None]


def test_the_batch_orders_read_a_keys_words_as_unsigned_whatever_the_arrays_type():
  keys = np.array([[0xFFFFFFFF, 7], [3, 0x80000000]], np.uint32)
  want = batch_orders(keys, 6, 2, steps=6, max_steps=6)
  for same in (keys.view(np.int32), keys.astype(np.int64), keys.tolist()):
    np.testing.assert_array_equal(batch_orders(same, 6, 2, steps=6, max_steps=6), want)


def test_a_make_optimizer_reads_each_steps_rate_momentum_and_decay_factors_from_the_tables():
  """A ``make_optimizer`` gets step → value functions over the run's tables: a planted one adds
  ``rate(t)·momentum(t)·factor(t)`` to ``e`` each step; the tables plant 4 · 1/2 · 1/2 at step 0 and a rate of 0 after
  it (momentum and factor 1), so e = 1 after 8 steps (a table read one step off gives 0 or 2)."""
  def make(genome, learning_rate, momentum, factors):
    del genome

    def update(grads, count, params=None):
      del params
      step = learning_rate(count) * momentum(count) * factors(count)[-1, 0]
      return jax.tree.map(lambda g: step + 0 * g, grads), count + 1
    return optax.GradientTransformation(lambda params: jnp.zeros([], jnp.int32), update)

  task = _task(valid=np.arange(S) / 100, test=np.arange(S) / 100)
  factors = np.ones((S, graph.DEFAULT_SPEC.num_nodes, 2), np.float32)
  factors[0, -1, 0] = 0.5
  tables = (jnp.asarray(factors), jnp.zeros(S).at[0].set(4.0), jnp.ones(S).at[0].set(0.5))
  data = {f"{p}_{f}": jnp.asarray(getattr(getattr(task, p), f)) for p in ("train", "valid", "test") for f in "xy"}
  out = jax.jit(functools.partial(train_run, task, graph.DEFAULT_SPEC, "switch", make_optimizer=make))(
      graph.known("adam"), jax.random.PRNGKey(0), tables, _b(8, 8), data, order=jnp.zeros((S, 4), jnp.int32))
  assert out[0].item() == pytest.approx(0.01) and out[1].item() == pytest.approx(0.01)


def test_auto_is_map_on_a_cpu_and_vmap_on_an_accelerator():
  from optix_evo.search.evaluate import resolve_population_loop  # pylint: disable=import-outside-toplevel
  assert [resolve_population_loop("auto", p) for p in ("cpu", "gpu", "tpu")] == ["map", "vmap", "vmap"]
  assert [resolve_population_loop(loop, p) for loop in ("map", "vmap") for p in ("cpu", "gpu")] == [
      "map", "map", "vmap", "vmap"]
  with pytest.raises(InputError, match="^" + re.escape("Unknown population_loop 'MAP'. Known loops: auto, map, vmap "
                                                       "(auto = map on CPU, vmap on GPU/TPU).") + "$"):
    resolve_population_loop("MAP", "cpu")


def test_a_tasks_augmentation_gets_a_key_and_changes_only_the_training_batches():
  """A planted augmentation (which needs a PRNG key) sets the training batches' accuracy table to 0.9: the training
  accuracy reads it, the validation and test accuracy (not augmented) do not."""
  def augment(key, x):
    return x.at[:, 0].set(0.9 + 0.0 * jax.random.uniform(key))

  task = dataclasses.replace(_task(train_accuracy=np.full(S, 0.5), valid=np.full(S, 0.25), test=np.full(S, 0.75)),
                             augment=augment)
  out = _run(task, _b(4, 2))
  assert out["train_accuracy"] == pytest.approx(0.9) and out["best_train"] == pytest.approx(0.9)
  assert out["best_valid"] == pytest.approx(0.25) and out["test"] == pytest.approx(0.75)


def test_one_program_whatever_the_python_types_of_a_budgets_numbers():
  """The budget is data of the program in fixed dtypes: an integer ``min_accuracy`` or NumPy 64-bit numbers reuse the
  program compiled for the default float budget."""
  ev = Evaluator(_task(), max_steps=4, batch=2, mesh=population_mesh(jax.devices()[:1]), make_optimizer=_counter)
  genomes, keys, rates = graph.stack([graph.known("adam")] * 2), seed_keys(0, 2), np.ones(2, np.float32)
  for budget in (Budget(steps=4, horizon=5, warmup=0, epoch=2), Budget(steps=4, horizon=5, warmup=0, epoch=2,
                                                                       min_accuracy=0),
                 Budget(steps=np.int64(3), horizon=5, warmup=0, epoch=2, min_accuracy=np.float64(0.25))):
    assert ev(genomes, keys, rates, budget).steps_run.tolist() == [budget.steps] * 2
  assert ev.compiled_programs == 1


def test_an_optimizer_gets_the_steps_batch_loss_as_value():
  """Polyak-type steps read ``value=``: a planted optimizer that adds it to ``e`` on a planted loss of 1 counts the
  steps (e = 4 after 4 steps, read from rising tables)."""
  def make(genome, learning_rate, momentum, factors):
    del genome, learning_rate, momentum, factors

    def update(grads, state, params=None, *, value, **extra):
      del params, extra
      return jax.tree.map(lambda g: value + 0 * g, grads), state
    return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)

  task = _task(valid=np.arange(S) / 100, test=np.arange(S) / 100)
  tables = (jnp.ones((S, graph.DEFAULT_SPEC.num_nodes, 2)), jnp.ones(S), jnp.zeros(S))
  data = {f"{p}_{f}": jnp.asarray(getattr(getattr(task, p), f)) for p in ("train", "valid", "test") for f in "xy"}
  out = jax.jit(functools.partial(train_run, task, graph.DEFAULT_SPEC, "switch", make_optimizer=make))(
      graph.known("adam"), jax.random.PRNGKey(0), tables, _b(4, 4), data, order=jnp.zeros((S, 4), jnp.int32))
  assert out[0].item() == pytest.approx(0.04) and out[1].item() == pytest.approx(0.04)


def test_the_background_compile_builds_the_program_of_the_evaluators_own_space():
  nos = graph.get_space("nos")
  ev = Evaluator(_task(), nos, max_steps=4, batch=2, mesh=population_mesh(jax.devices()[:1]), make_optimizer=_counter)
  ev.start_compiling()
  ev.wait_compiling()
  assert ev.compiled_programs == 1
  out = ev(graph.stack([graph.known("nos_opt1", nos)] * 2), seed_keys(0, 2), np.ones(2, np.float32),
           Budget(steps=4, horizon=5, warmup=0, epoch=2))
  assert out.steps_run.tolist() == [4, 4] and ev.compiled_programs == 1


def test_a_call_checks_its_arguments_then_compiles_apart_from_training_and_take_usage_says_what_each_cost(monkeypatch):
  """Bad arguments are refused before anything compiles; the first call compiles (the time it waits) before it trains
  (the time it trains), read from a planted clock; take_usage hands the totals over and starts again from zero."""
  ev = Evaluator(_task(), max_steps=4, batch=2, mesh=population_mesh(jax.devices()[:1]), make_optimizer=_counter)
  genomes, keys, rates = graph.stack([graph.known("adam")] * 2), seed_keys(0, 2), np.ones(2, np.float32)
  with pytest.raises(InputError, match="longer than this evaluator's max_steps=4"):
    ev(genomes, keys, rates, Budget(steps=5, horizon=5, warmup=0, epoch=2))
  with pytest.raises(InputError, match="same leading size"):
    ev(genomes, seed_keys(0, 3), rates, Budget(steps=4, horizon=5, warmup=0, epoch=2))
  assert ev.compiled_programs == 0 and ev._compiling is None  # pylint: disable=protected-access
  assert ev.take_usage() == Usage()
  clock = iter([10.0, 13.0, 13.5, 20.0, 20.0, 21.0])  # each call: start, compiled, trained
  monkeypatch.setattr(evaluate, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
  first = ev(genomes, keys, rates, Budget(steps=4, horizon=5, warmup=0, epoch=2))
  assert ev.compiled_programs == 1 and first.steps_run.tolist() == [4, 4]
  second = ev(graph.stack([graph.known("adam")]), seed_keys(1, 1), [1.0], Budget(steps=3, horizon=5, warmup=0, epoch=2))
  assert second.steps_run.tolist() == [3] and ev.compiled_programs == 1
  assert ev.take_usage() == Usage(train_s=1.5, steps=11, runs=3, compile_wait_s=3.0)
  assert ev.take_usage() == Usage()


def _device_counter(genome, learning_rate, momentum, factors):
  """Adds ``1 + the index of the device that trains the run`` to ``e`` each step."""
  del genome, learning_rate, momentum, factors

  def update(grads, state, params=None):
    del params
    return jax.tree.map(lambda g: g + 1.0 + jax.lax.axis_index("pop").astype(g.dtype), grads), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def test_the_runs_of_a_batch_are_dealt_out_to_the_devices_in_turn():
  """Device d of 2 trains runs d, d + 2, ... of each batch, so a short batch is shared evenly: 11 runs in batches of
  8, the last one 3 runs, 2 on device 0 and 1 on device 1 (not all 3 on device 0). The planted optimizer steps by 1 +
  its device's index, so each run's validation accuracy (steps done / 100) says which device trained it."""
  valid = np.arange(S, dtype=np.float32) / 100
  ev = Evaluator(_task(valid=valid), max_steps=4, batch=8, mesh=population_mesh(jax.devices()[:2]),
                 make_optimizer=_device_counter)
  out = ev(graph.stack([graph.known("adam")] * 11), seed_keys(0, 11), np.ones(11, np.float32),
           Budget(steps=4, horizon=5, warmup=0, epoch=4))
  device = np.round(out.best_valid * 100 / 4).astype(int) - 1
  assert device.tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]


def test_the_first_call_compiles_before_its_training_clock_starts_and_a_later_call_finds_the_program(monkeypatch):
  """The clock read that ends the first call's wait finds the program compiled (the call started the compilation
  itself, in start_compiling's thread, and joined it), so its compilation is not counted as training; a later call
  finds the program compiled from its first read."""
  ev = Evaluator(_task(), max_steps=4, batch=2, mesh=population_mesh(jax.devices()[:1]), make_optimizer=_counter)
  seen = []

  def clock():
    seen.append((ev.compiled_programs, ev._compiling is not None))  # pylint: disable=protected-access
    return float(len(seen))

  monkeypatch.setattr(evaluate, "time", types.SimpleNamespace(perf_counter=clock))
  genomes, keys, rates = graph.stack([graph.known("adam")] * 2), seed_keys(0, 2), np.ones(2, np.float32)
  ev(genomes, keys, rates, Budget(steps=4, horizon=5, warmup=0, epoch=2))
  assert seen == [(0, False), (1, True), (1, True)]  # start, compiled, trained
  ev(genomes, keys, rates, Budget(steps=2, horizon=5, warmup=0, epoch=2))
  assert seen[3:] == [(1, True)] * 3
  assert ev.take_usage() == Usage(train_s=2.0, steps=12, runs=4, compile_wait_s=2.0)


def test_the_first_calls_compile_error_is_the_background_threads_own_and_is_raised_once():
  """A program that cannot be traced: the first call (no start_compiling before it) raises the error its compiling
  thread raised, not one of a second, foreground trace; the error is handed over once, so the next call traces again
  and raises its own."""
  raised = []

  def broken(*args):
    del args
    raised.append(ValueError("planted tracing error"))
    raise raised[-1]

  ev = Evaluator(_task(), max_steps=4, batch=2, mesh=population_mesh(jax.devices()[:1]), make_optimizer=broken)
  genomes, keys, rates = graph.stack([graph.known("adam")] * 2), seed_keys(0, 2), np.ones(2, np.float32)
  with pytest.raises(ValueError, match="planted tracing error") as first:
    ev(genomes, keys, rates, Budget(steps=4, horizon=5, warmup=0, epoch=2))
  assert first.value is raised[0] and len(raised) == 1
  with pytest.raises(ValueError, match="planted tracing error") as second:
    ev(genomes, keys, rates, Budget(steps=4, horizon=5, warmup=0, epoch=2))
  assert second.value is raised[1] and len(raised) == 2
  assert ev.take_usage() == Usage()  # calls that raised trained nothing


def test_keys_and_rates_of_other_types_are_read_as_uint32_and_float32_and_each_size_mismatch_is_refused(monkeypatch):
  """int64 keys reuse the program compiled for uint32 keys (same outcome); float64 rates reach the schedule tables
  as float32 (under x64 a float64 rate gives other learning-rate tables); a mismatch of the rates alone or of the
  genomes alone is refused, with the whole message, before anything compiles."""
  ev = Evaluator(_task(), max_steps=4, batch=2, mesh=population_mesh(jax.devices()[:1]), make_optimizer=_counter)
  genomes, keys, budget = graph.stack([graph.known("adam")] * 2), seed_keys(0, 2), Budget(steps=4, horizon=5, warmup=0,
                                                                                         epoch=2)
  for args in ((graph.stack([graph.known("adam")] * 3), keys, [1.0, 2.0]), (genomes, keys, [1.0, 2.0, 1.0])):
    with pytest.raises(InputError) as error:
      ev(*args, budget)
    assert str(error.value) == "genomes, keys and learning_rates must have the same leading size."
  assert ev.compiled_programs == 0
  rates = []
  tables = evaluate.schedule_tables
  monkeypatch.setattr(evaluate, "schedule_tables", lambda g, lr, *a, **kw: rates.append(lr.dtype) or tables(g, lr, *a,
                                                                                                            **kw))
  first = ev(genomes, keys, np.array([1.0, 2.0]), budget)
  again = ev(genomes, np.asarray(keys).astype(np.int64), [1.0, 2.0], budget)
  assert ev.compiled_programs == 1 and rates[-2:] == [np.float32, np.float32]
  for field in ("best_valid", "test", "steps_run", "train_accuracy"):
    np.testing.assert_array_equal(getattr(again, field), getattr(first, field))
