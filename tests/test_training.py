"""The shared training loop: batches drawn up front equal the per-step permutation; continuing a run keeps the order."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

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
