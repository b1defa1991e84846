"""The evaluator: one compiled program for any budget, learning rate and batch; sharding-invariant; divergence
isolated and the best validation accuracy before it kept; the early-stop rule; the GPU layout scores like the CPU one."""

import jax
import numpy as np
import pytest

from optix_evo import graph
from optix_evo.errors import InputError
from optix_evo.search.evaluate import WORST, Budget, Evaluator, population_mesh
from optix_evo.search.protocol import seed_keys
from optix_evo.tasks import get_task

# SGD with a learning rate that ramps up over the whole run: 0.1 trains, 10 diverges in its last epoch, 30 earlier.
LRS = np.array([0.1, 1.0, 10.0, 30.0])
RAMP = Budget(steps=60, horizon=61, warmup=60, epoch=10)


@pytest.fixture(scope="module")
def task():
  return get_task("digits_mlp")


@pytest.fixture(scope="module")
def sharded(task):
  return Evaluator(task, max_steps=60, batch=8)  # 8 fake devices (conftest): one run per device


def _sgd(n):
  return graph.stack([graph.known("sgd")] * n)


@pytest.fixture(scope="module")
def ramp(sharded):
  return sharded(_sgd(4), np.tile(seed_keys(0, 1), (4, 1)), LRS, RAMP)


def test_divergence_keeps_the_best_validation_before_it(ramp):
  assert ramp.diverged.tolist() == [False, False, True, True]
  assert ramp.steps_run.tolist()[:2] == [60, 60] and ramp.steps_run[3] < 60  # stopped at the first non-finite step
  assert ramp.best_valid[2] > 0.5  # epochs before the divergence still count
  assert (ramp.best_valid > WORST).all() and np.isfinite(ramp.test[:3]).all()


def test_one_program_for_every_budget_learning_rate_and_size(sharded, ramp):
  before = sharded.compiled_programs
  sharded(_sgd(3), seed_keys(1, 3), np.full(3, 0.1), Budget(steps=20, horizon=40, warmup=4, epoch=7))
  sharded(_sgd(19), seed_keys(2, 19), np.full(19, 0.01), Budget(steps=5, horizon=5, warmup=0, epoch=5))  # 3 calls
  assert sharded.compiled_programs == before == 1


def test_sharded_equals_one_device_and_runs_are_independent(task, ramp):
  one = Evaluator(task, max_steps=60, batch=4, mesh=population_mesh(jax.devices()[:1]))
  alone = one(_sgd(4), np.tile(seed_keys(0, 1), (4, 1)), LRS, RAMP)
  for field in ("best_valid", "steps_run", "diverged"):
    np.testing.assert_array_equal(getattr(alone, field), getattr(ramp, field))
  # The divergent runs change nothing for the others: the healthy ones alone score the same.
  healthy = one(_sgd(2), np.tile(seed_keys(0, 1), (2, 1)), LRS[:2], RAMP)
  np.testing.assert_array_equal(healthy.best_valid, ramp.best_valid[:2])


def test_early_stop_rule(sharded):
  keys = seed_keys(0, 2)
  strict = sharded(_sgd(2), keys, np.full(2, 0.1), Budget(steps=40, horizon=40, warmup=4, epoch=10, min_accuracy=1.1,
                                                             check_after=1))
  assert strict.stopped.all() and (strict.steps_run == 20).all()  # epochs 0 and 1 ran, then the rule stopped it
  lenient = sharded(_sgd(2), keys, np.full(2, 0.1), Budget(steps=40, horizon=40, warmup=4, epoch=10, min_accuracy=0.0))
  assert not lenient.stopped.any() and (lenient.steps_run == 40).all()


def test_vmap_layout_scores_like_the_map_layout(task, ramp):
  """The GPU layout (vmapped chunks, every op computed and selected) scores like the CPU default."""
  ev = Evaluator(task, max_steps=60, batch=4, chunk_size=2, mesh=population_mesh(jax.devices()[:2]),
                 population_loop="vmap")
  assert ev.loop == "vmap"
  out = ev(_sgd(2), np.tile(seed_keys(0, 1), (2, 1)), LRS[:2], RAMP)
  np.testing.assert_allclose(out.best_valid, ramp.best_valid[:2], atol=1e-6)


def test_bad_inputs(task, sharded):
  with pytest.raises(InputError, match="max_steps"):
    sharded(_sgd(1), seed_keys(0, 1), [0.1], Budget(steps=61, horizon=61, warmup=0, epoch=10))
  with pytest.raises(InputError, match="horizon"):
    sharded(_sgd(1), seed_keys(0, 1), [0.1], Budget(steps=20, horizon=10, warmup=0, epoch=10))
  with pytest.raises(InputError, match="same leading size"):
    sharded(_sgd(2), seed_keys(0, 1), [0.1], RAMP)
  with pytest.raises(InputError, match="population_loop"):
    Evaluator(task, max_steps=10, population_loop="gpu")
  with pytest.raises(InputError, match="classification"):
    Evaluator(get_task("adding_lstm"), max_steps=10)


def test_unvalidated_runs_train_alike_and_read_no_held_out_set(sharded, ramp):
  """validate=False (the learning-rate probes): the same training (accuracy, divergence, steps), no validation or
  test accuracy (nobody reads them), and still the one program."""
  probe = sharded(_sgd(4), np.tile(seed_keys(0, 1), (4, 1)), LRS, RAMP, validate=False)
  for field in ("train_accuracy", "steps_run", "diverged", "stopped"):
    np.testing.assert_array_equal(getattr(probe, field), getattr(ramp, field))
  assert (probe.best_valid == WORST).all() and np.isnan(probe.test).all()
  assert sharded.compiled_programs == 1


def test_batch_orders_are_fresh_permutations_per_pass_and_per_key():
  from optix_evo.search.evaluate import batch_orders
  keys = seed_keys(0, 2)
  orders = batch_orders(keys, 10, 3, steps=7, max_steps=12)  # 3 steps per pass: 3 passes used of 4
  assert orders.shape == (2, 4, 10) and orders.dtype == np.int32
  for run in orders:
    for p in range(3):
      assert sorted(run[p].tolist()) == list(range(10))
    assert not np.array_equal(run[0], run[1]) and not np.array_equal(run[1], run[2])
    assert not run[3].any()  # a pass that 7 steps do not reach is not drawn
  assert not np.array_equal(orders[0, 0], orders[1, 0])
  np.testing.assert_array_equal(orders, batch_orders(keys, 10, 3, steps=7, max_steps=12))  # a function of the key


def test_runs_follow_their_batch_order(task):
  """The program trains on the batches of batch_orders (the key picks the order): reversing every pass of the order
  changes the run, its own order reproduces it."""
  from optix_evo.search import evaluate as ev_mod
  one = Evaluator(task, max_steps=20, batch=1, mesh=population_mesh(jax.devices()[:1]))
  budget, keys = Budget(steps=20, horizon=20, warmup=2, epoch=20), seed_keys(3, 1)
  first = one(_sgd(1), keys, [0.1], budget)
  original = ev_mod.batch_orders
  try:
    ev_mod.batch_orders = lambda *a, **k: original(*a, **k)[:, :, ::-1].copy()
    reversed_ = one(_sgd(1), keys, [0.1], budget)
  finally:
    ev_mod.batch_orders = original
  assert reversed_.train_accuracy[0] != first.train_accuracy[0]
  np.testing.assert_array_equal(one(_sgd(1), keys, [0.1], budget).train_accuracy, first.train_accuracy)


def test_start_compiling_builds_the_one_program_in_the_background(task, ramp):
  """The program compiled in a background thread is the one the calls use: the same scores as the foreground
  program, compiled once (a second start_compiling and the first call compile nothing more)."""
  from optix_evo.compilation import CompileLog  # pylint: disable=import-outside-toplevel
  ev = Evaluator(task, max_steps=60, batch=8)  # as the `sharded` fixture that scored `ramp` in the foreground
  with CompileLog() as log:
    thread = ev.start_compiling()
    assert thread is not None and thread.daemon and ev.start_compiling() is None  # a second call starts nothing
    thread.join()
    assert ev.compiled_programs == 1
    out = ev(_sgd(4), np.tile(seed_keys(0, 1), (4, 1)), LRS, RAMP)
  assert log.names["jit(per_device_fn)"] == 1 and ev.compiled_programs == 1 and ev.start_compiling() is None
  for field in ("best_valid", "test", "steps_run", "diverged", "train_accuracy"):
    np.testing.assert_array_equal(getattr(out, field), getattr(ramp, field))


def test_a_background_compile_error_surfaces_at_the_first_call(task):
  raised = []

  def broken(*args):
    raised.append(ValueError("planted tracing error"))
    raise raised[-1]

  ev = Evaluator(task, max_steps=5, batch=8, make_optimizer=broken)
  thread = ev.start_compiling()
  thread.join(timeout=120)
  assert not thread.is_alive() and len(raised) == 1  # the thread ended (no hang) on the error
  with pytest.raises(ValueError, match="planted tracing error") as error:
    ev(_sgd(1), seed_keys(0, 1), [0.1], Budget(steps=5, horizon=5, warmup=0, epoch=5))
  assert error.value is raised[0]  # the background thread's own error, not a new one from a foreground compile
