"""The shared training loop: batches drawn up front equal the per-step permutation; continuing a run keeps the order."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
from optix_evo import training
from optix_evo.data import load_dataset
from optix_evo.models.mlp import MLP


@pytest.fixture(scope="module")
def task():
  split = load_dataset("iris", seed=0)
  model = MLP(hidden=(8,), outputs=split.num_classes)
  return split.train, model.init(jax.random.key(0), split.train.x[:1]), training.classification_loss(model.apply)


@pytest.mark.parametrize("first_step", [0, 13])
def test_precomputed_permutations_give_the_same_batches(task, monkeypatch, first_step):
  data, params, loss_fn = task

  def run():
    return jax.jit(lambda: training.fit(loss_fn, params, optax.sgd(0.1), data, jax.random.key(3), steps=40,
                                        batch_size=16, first_step=first_step).loss)()

  precomputed = run()
  monkeypatch.setattr(training, "PRECOMPUTED_INDICES", 0)  # the per-step permutation
  np.testing.assert_array_equal(np.asarray(precomputed), np.asarray(run()))


def test_continuing_a_run_walks_the_same_batch_sequence(task):
  data, params, loss_fn = task
  key, opt = jax.random.key(4), optax.sgd(0.1)
  whole = training.fit(loss_fn, params, opt, data, key, steps=30, batch_size=16)
  first = training.fit(loss_fn, params, opt, data, key, steps=17, batch_size=16)
  rest = training.fit(loss_fn, first.params, opt, data, key, steps=13, batch_size=16, opt_state=first.opt_state,
                      first_step=17)
  np.testing.assert_allclose(np.asarray(jnp.concatenate([first.loss, rest.loss])), np.asarray(whole.loss), rtol=1e-6)


def test_batch_size_larger_than_the_data_is_refused(task):
  data, params, loss_fn = task
  with pytest.raises(ValueError, match="larger than"):
    training.fit(loss_fn, params, optax.sgd(0.1), data, jax.random.key(0), steps=2, batch_size=10_000)


def test_optax_reduce_on_plateau_reads_value_from_fit(task):
  """fit passes optax's ``value=``: reduce_on_plateau (which requires it) trains and lowers its scale."""
  data, params, loss_fn = task
  plateau = optax.contrib.reduce_on_plateau(factor=0.5, patience=1, rtol=1.0, accumulation_size=1, min_scale=0.1)
  res = training.fit(loss_fn, params, optax.chain(optax.sgd(0.1), plateau), data, jax.random.key(0), steps=6,
                     batch_size=16)
  assert float(optax.tree.get(res.opt_state, "scale")) < 1.0 and np.all(np.isfinite(np.asarray(res.loss)))


@pytest.mark.parametrize("as_transformation", [False, True])
def test_extra_arguments_reach_sam_and_aldvi_through_multisteps(task, as_transformation):
  """optax.MultiSteps (the object, or its gradient_transformation()) hands fit's grad_fn / value on."""
  data, params, loss_fn = task
  inner = optax.chain(ox.sam(optax.sgd(0.1), rho=0.05), ox.scale_by_aldvi(1.0, steps_per_epoch=2))
  opt = optax.MultiSteps(inner, every_k_schedule=2)
  res = training.fit(loss_fn, params, opt.gradient_transformation() if as_transformation else opt, data,
                     jax.random.key(0), steps=8, batch_size=16)
  assert int(optax.tree.get(res.opt_state, "gradient_step")) == 4
  assert int(ox.aldvi_state(res.opt_state).epoch) == 2  # ALDVI saw a loss at each of the 4 inner steps
  assert float(res.loss[-1]) < float(res.loss[0])
