"""LSTM / GRU sequence models: shapes, regression and classification training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optix_evo import training
from optix_evo.data import Dataset
from optix_evo.models.recurrent import GRU, LSTM, RecurrentNet


@pytest.mark.parametrize("model, shape", [(LSTM(hidden=4), (4, 6)), (GRU(hidden=4, layers=2, outputs=3), (4, 6, 2))])
def test_shapes_for_univariate_and_multivariate_sequences(model, shape):
  params = model.init(jax.random.PRNGKey(0), jnp.ones(shape))
  assert model.apply(params, jnp.ones(shape)).shape == (shape[0], model.outputs)


def test_bad_cell_and_bad_shape_are_explained():
  with pytest.raises(ValueError, match="Known cells: gru, lstm"):
    RecurrentNet(cell="rnn").init(jax.random.PRNGKey(0), jnp.ones((1, 3)))
  with pytest.raises(ValueError, match="expects"):
    LSTM().init(jax.random.PRNGKey(0), jnp.ones((3,)))


def test_lstm_learns_sequence_regression_and_gru_learns_classification():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(128, 5)).astype(np.float32)
  regression = Dataset(x, x[:, 0] - 0.5 * x[:, -1])  # needs the first and the last step
  classification = Dataset(x, (x.sum(axis=1) > 0).astype(np.int32))
  for model, loss_maker, data in [
      (LSTM(hidden=16), training.regression_loss, regression),
      (GRU(hidden=16, outputs=2), training.classification_loss, classification),
  ]:
    loss_fn = loss_maker(model.apply)
    params = model.init(jax.random.PRNGKey(0), x[:1])
    before = float(training.evaluate(loss_fn, params, data)["loss"])
    result = jax.jit(lambda p: training.fit(loss_fn, p, optax.adam(1e-2), data, jax.random.PRNGKey(1),
                                            steps=100, batch_size=32))(params)
    after = float(training.evaluate(loss_fn, result.params, data)["loss"])
    assert after < 0.3 * before, (type(model).__name__, before, after)
