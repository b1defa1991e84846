"""The NOS paper's search-time tasks behave as the authors' Keras code (``NeuralOptimizerSearch.py`` L83-150):
Dropout(0.2) only in training, BatchNormalization with running averages at evaluation (momentum 0.99, epsilon 1e-3),
validation = images 45000-50000 of the training file, pool inputs in [0, 1]; and the search's trainer carries the
model state and a fresh dropout key per step. Non-paper tasks keep the stateless network."""

import functools
import pickle

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optix_evo import data, graph, models, tasks
from optix_evo.data.datasets import image_split
from optix_evo.search.evaluate import Budget, Evaluator
from optix_evo.search.protocol import seed_keys


def _write_cifar(folder, per_batch=6, seed=0):
  """The five training batches and the test batch of CIFAR-10, ``per_batch`` random images each."""
  rng = np.random.default_rng(seed)
  folder.mkdir(parents=True)
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
             b"labels": rng.integers(0, 10, per_batch).tolist()}
    (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
  return folder


def _paper_model(base=4):
  return models.NOSConvNet(base=base, outputs=10, dropout=0.2, running_norm=True)


def _images(n=64, seed=0):
  return jax.random.normal(jax.random.PRNGKey(seed), (n, 8, 8, 3))


def test_paper_specs_are_the_authors_settings():
  split = data.Split(*(data.Dataset(np.zeros((2, 32, 32, 3), np.float32), np.arange(2)),) * 3, 10, "fake")
  for name, base, scaling in (("cifar10_cnn", 32, "unit"), ("cifar10_cnn48_aug", 48, "standardize_file")):
    spec = tasks.TASKS[name]
    model = spec.model(split)
    assert (model.base, model.dropout, model.running_norm, spec.stateful) == (base, 0.2, True, True)
    assert dict(spec.dataset_kwargs) == {"valid_size": 5000, "valid_from": "end", "scaling": scaling}
  assert tasks.TASKS["cifar10_cnn"].augment is None and tasks.TASKS["cifar10_cnn48_aug"].augment is not None
  # The library's own choice stays for the other convolutional task: stateless, batch statistics, no dropout.
  digits = tasks.get_task("digits_cnn")
  assert digits.modes is None and not tasks.TASKS["digits_cnn"].stateful


def test_dropout_rate_in_training_none_at_evaluation():
  model = _paper_model(base=32)
  x = _images(256)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x)
  is_dropout = lambda mdl, _: isinstance(mdl, nn.Dropout)  # noqa: E731

  @functools.partial(jax.jit, static_argnums=1)
  def features(key, deterministic, variables=variables, x=x):  # arrays as arguments: no constant folding
    _, state = model.apply(variables, x, train=True, deterministic=deterministic, rngs={"dropout": key},
                           mutable=["batch_stats", "intermediates"], capture_intermediates=is_dropout)
    return state["intermediates"]["Dropout_0"]["__call__"][0]

  dropped = np.asarray(features(jax.random.PRNGKey(1), False))
  assert abs(np.mean(dropped == 0) - 0.2) < 0.02  # 16384 features: the rate is 0.2 to within 0.02
  kept = dropped[dropped != 0]
  clean = np.asarray(features(jax.random.PRNGKey(1), True))
  np.testing.assert_allclose(kept, clean[dropped != 0] / 0.8, rtol=1e-5)  # inverted dropout: survivors / (1 - rate)
  # Evaluation: no dropout (no key needed, the same logits every call).
  infer = jax.jit(lambda v, images: model.apply(v, images, train=False))
  np.testing.assert_array_equal(infer(variables, x), infer(variables, x))


def test_evaluation_uses_running_averages_not_batch_statistics():
  model = _paper_model()
  x = _images(16)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x)
  # Plant running averages far from any batch's statistics.
  planted = {"params": variables["params"], "batch_stats": jax.tree.map(lambda v: v + 3.0, variables["batch_stats"])}
  layers = lambda mdl, _: mdl.name in ("Conv_0", "BatchNorm_0")  # noqa: E731

  infer = jax.jit(lambda v, images: model.apply(v, images, train=False, mutable=["intermediates"],
                                                  capture_intermediates=layers))
  alone, _ = infer(planted, x[:1])
  mixed, inner = infer(planted, jnp.concatenate([x[:1], x[1:] * 5.0 + 2.0]))
  np.testing.assert_allclose(alone[0], mixed[0], rtol=1e-5, atol=1e-6)  # batch statistics would tie them to the batch
  # Keras inference: (z - moving_mean) / sqrt(moving_var + 1e-3) * gamma + beta, checked on the first layer.
  z = np.asarray(inner["intermediates"]["Conv_0"]["__call__"][0])
  stats, gamma_beta = planted["batch_stats"]["BatchNorm_0"], planted["params"]["BatchNorm_0"]
  expected = (z - stats["mean"]) / np.sqrt(stats["var"] + 1e-3) * gamma_beta["scale"] + gamma_beta["bias"]
  np.testing.assert_allclose(inner["intermediates"]["BatchNorm_0"]["__call__"][0], expected, rtol=1e-4, atol=1e-5)
  # Through the task: the evaluation loss reads the model state it is given.
  split = data.Split(*(data.Dataset(np.asarray(x), np.arange(16) % 10),) * 3, 10, "fake")
  task = tasks.Task.from_stateful_model("paper_fake", model, split)
  params, state = task.init(jax.random.PRNGKey(0)), task.initial_state(jax.random.PRNGKey(0))
  losses = jax.jit(lambda st, p, images, labels: task.evaluation_loss(st)(p, images, labels)[0])
  moved = jax.tree.map(lambda v: v + 3.0, state)
  assert abs(float(losses(state, params, x, split.test.y) - losses(moved, params, x, split.test.y))) > 1e-3


def test_running_averages_follow_keras_momentum():
  """moving = 0.99 * moving + 0.01 * batch (Keras BatchNormalization's default momentum), updated in training only."""
  model = _paper_model()
  x = _images(32)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x)
  is_conv0 = lambda mdl, _: mdl.name == "Conv_0"  # noqa: E731
  train = jax.jit(lambda v, images: model.apply(v, images, train=True, rngs={"dropout": jax.random.PRNGKey(1)},
                                                 mutable=["batch_stats", "intermediates"],
                                                 capture_intermediates=is_conv0))
  _, state = train(variables, x)
  conv = np.asarray(state["intermediates"]["Conv_0"]["__call__"][0])
  np.testing.assert_allclose(state["batch_stats"]["BatchNorm_0"]["mean"], 0.01 * conv.mean(axis=(0, 1, 2)),
                             rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(state["batch_stats"]["BatchNorm_0"]["var"], 0.99 + 0.01 * conv.var(axis=(0, 1, 2)),
                             rtol=1e-4)


def _counting_task():
  """A planted stateful task: the model state counts training steps and sums one uniform draw of each step's dropout
  key; evaluation reports count / 1000 on the validation inputs (zeros) and the draws' variance on the test inputs
  (ones)."""
  zeros, ones = np.zeros((8, 2), np.float32), np.ones((8, 2), np.float32)
  labels = np.zeros(8, np.int32)

  def train_loss(params, state, x, y, key):
    u = jax.random.uniform(key)
    loss = jnp.sum(params["w"] ** 2) + 0.0 * x.sum() + 0.0 * y.sum()
    new = {"n": state["n"] + 1, "s": state["s"] + u, "s2": state["s2"] + u * u}
    return loss, ({"accuracy": jnp.float32(1.0)}, new)

  def eval_loss(params, state, x, y):
    variance = state["s2"] / state["n"] - (state["s"] / state["n"]) ** 2
    accuracy = jnp.where(x[0, 0] == 0, state["n"] / 1000.0, variance)
    return jnp.sum(params["w"] ** 2), {"accuracy": accuracy}

  modes = tasks.TrainingModes(lambda key: {"n": jnp.float32(0), "s": jnp.float32(0), "s2": jnp.float32(0)},
                              train_loss, eval_loss)
  stateless = lambda params, x, y: (jnp.sum(params["w"] ** 2), {"accuracy": jnp.float32(0.5)})  # noqa: E731
  return tasks.Task("counting", lambda key: {"w": jnp.ones(2)}, stateless, data.Dataset(zeros, labels),
                    data.Dataset(zeros, labels), data.Dataset(ones, labels), batch_size=4, vmap=False, modes=modes)


def test_search_trainer_carries_model_state_and_fresh_dropout_keys():
  evaluator = Evaluator(_counting_task(), max_steps=200, batch=1, population_loop="map")
  out = evaluator(graph.stack([graph.known("sgd")]), seed_keys(0, 1), np.asarray([1e-2]), Budget(200, 200, 10, 200))
  assert out.best_valid[0] == pytest.approx(0.2)  # 200 steps counted by the state, read by evaluation
  assert 0.06 < out.test[0] < 0.11  # uniform draws of 200 distinct keys: variance 1/12 (a reused key gives 0)


def test_validation_is_the_end_of_the_training_file():
  """The authors' ``val_ind = range(45000, 50000)``: on a 50000-image file, exactly those indices, in order."""
  n = 50000
  ids = np.arange(n)
  pixels = np.stack([ids // 256, ids % 256], -1).astype(np.uint8).reshape(n, 1, 1, 2)
  train = data.Dataset(pixels, ids)
  split = image_split(train, data.Dataset(pixels[:2], ids[:2]), seed=7, valid_size=5000, max_train=None,
                      num_classes=n, name="fake", valid_from="end", scaling="unit")
  np.testing.assert_array_equal(split.valid.y, np.arange(45000, 50000))
  np.testing.assert_array_equal(split.train.y, np.arange(45000))
  decoded = np.rint(split.valid.x[:, 0, 0, 0] * 255).astype(int) * 256 + np.rint(split.valid.x[:, 0, 0, 1] * 255)
  np.testing.assert_array_equal(decoded, np.arange(45000, 50000))


def test_paper_tasks_on_tiny_cifar_files(tmp_path):
  folder = _write_cifar(tmp_path / "cifar-10-batches-py", per_batch=6)
  raw = np.concatenate([data.cifar.read_batch(folder / f"data_batch_{i}").x for i in range(1, 6)])
  pool = tasks.get_task("cifar10_cnn", data_dir=str(tmp_path), dataset_kwargs={"valid_size": 5})
  assert pool.modes is not None
  # Validation: the last 5 of the 30 file images, in file order; training: the first 25, in file order.
  np.testing.assert_array_equal(pool.valid.x, raw[25:].astype(np.float32) / 255.0)
  np.testing.assert_array_equal(pool.train.x, raw[:25].astype(np.float32) / 255.0)
  assert pool.train.x.min() >= 0.0 and pool.train.x.max() <= 1.0
  # Another seed does not move the validation split.
  other = tasks.get_task("cifar10_cnn", seed=3, data_dir=str(tmp_path), dataset_kwargs={"valid_size": 5})
  np.testing.assert_array_equal(other.valid.x, pool.valid.x)
  # Evolution task: standardised with the whole training file's statistics (validation images included).
  evo = tasks.get_task("cifar10_cnn48_aug", data_dir=str(tmp_path), dataset_kwargs={"valid_size": 5})
  everything = np.concatenate([evo.train.x, evo.valid.x])
  np.testing.assert_allclose(everything.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(everything.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
