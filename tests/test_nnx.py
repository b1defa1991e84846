"""flax NNX: every transformation of the library works with ``nnx.Optimizer`` (also those that take ``grad_fn=`` or
``value=``) and takes the same steps as on the plain parameter tree; ``Task.from_model`` accepts an NNX model."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import optix_evo as ox

X = jax.random.normal(jax.random.key(0), (16, 3))
Y = jax.random.normal(jax.random.key(1), (16, 2))


class MLP(nnx.Module):
  def __init__(self, rngs, inputs=3, outputs=2):
    self.l1 = nnx.Linear(inputs, 8, rngs=rngs)
    self.l2 = nnx.Linear(8, outputs, rngs=rngs)

  def __call__(self, x):
    return self.l2(jax.nn.relu(self.l1(x)))


def loss_fn(model, x, y):
  return jnp.mean((model(x) - y) ** 2)


def grad_fn_of(model, x, y):
  """``grad_fn`` for SAM / Sophia: the gradient at any parameters (an ``nnx.State`` of arrays) of this batch."""
  graphdef, _, rest = nnx.split(model, nnx.Param, ...)
  return lambda params: jax.grad(lambda p: loss_fn(nnx.merge(graphdef, p, rest), x, y))(params)


CASES = {name: (lambda name=name: ox.get_optimizer(name)) for name in sorted(ox.OPTIMIZERS)}
CASES.update({
    "sam(sgd)": lambda: ox.sam(optax.sgd(0.05, momentum=0.9), rho=0.05),
    "asam(adam)": lambda: ox.asam(ox.adam(1e-2), rho=0.5),
    "looksam(sgd)": lambda: ox.looksam(optax.sgd(0.05), rho=0.05, k=2),
    "aldvi(adam)": lambda: ox.aldvi(optax.adam, 1e-2, steps_per_epoch=1, rule="trend"),
    "monitor(adam)": lambda: ox.monitor(ox.adam(1e-2), history=3),
    "genome:nos_opt9": lambda: ox.graph.interpret(ox.graph.known("nos_opt9"), learning_rate=1e-2),
})


def _marks(name):  # optax's own optimizers re-exported unchanged: their NNX runs are in the slow suite
  return [pytest.mark.slow] if name in set(ox.OPTAX_CORE) | set(ox.OPTAX_CONTRIB) else []


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in sorted(CASES)])
def test_nnx_optimizer_takes_the_steps_of_the_plain_tree(name):
  """Three steps of ``nnx.Optimizer(model, tx, wrt=nnx.Param)`` with ``grad_fn=`` and ``value=`` equal three steps of
  ``tx`` on the model's parameters as a plain tree."""
  model = MLP(nnx.Rngs(0))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  params = nnx.as_pure(params)
  tx = optax.with_extra_args_support(CASES[name]())
  optimizer = nnx.Optimizer(model, CASES[name](), wrt=nnx.Param)

  plain_loss = lambda p: loss_fn(nnx.merge(graphdef, p, rest), X, Y)  # noqa: E731
  state = tx.init(params)
  for _ in range(3):
    value, grads = jax.value_and_grad(plain_loss)(params)
    updates, state = tx.update(grads, state, params, grad_fn=jax.grad(plain_loss), value=value)
    params = optax.apply_updates(params, updates)

    value, grads = nnx.value_and_grad(loss_fn)(model, X, Y)
    optimizer.update(model, grads, grad_fn=grad_fn_of(model, X, Y), value=value)

  got = nnx.as_pure(nnx.state(model, nnx.Param))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), got, params)
  assert float(jnp.max(jnp.abs(got["l1"]["kernel"] - MLP(nnx.Rngs(0)).l1.kernel[...]))) > 0  # it moved


def test_task_from_an_nnx_model_function_draws_parameters_per_seed_and_trains():
  split = ox.data.load_dataset("iris", 0)
  task = ox.tasks.Task.from_model("nnx_mlp", lambda rngs: MLP(rngs, inputs=4, outputs=3), split, batch_size=16)
  params = jax.vmap(task.init)(jax.random.split(jax.random.key(0), 2))
  assert params["l1"]["kernel"].shape == (2, 4, 8)
  assert float(jnp.max(jnp.abs(params["l1"]["kernel"][0] - params["l1"]["kernel"][1]))) > 0  # seeds differ
  p = task.init(jax.random.key(1))
  model = MLP(nnx.Rngs(1), inputs=4, outputs=3)  # the same draw: the loss is the module's own
  x = jnp.asarray(split.test.x)
  np.testing.assert_allclose(task.loss_fn(p, x, jnp.asarray(split.test.y))[0],
                             optax.softmax_cross_entropy_with_integer_labels(model(x), split.test.y).mean(), rtol=1e-5)
  result = ox.training.fit(task.loss_fn, p, ox.sam(ox.adam(1e-2), rho=0.05), task.train, jax.random.key(0),
                           steps=150, batch_size=16)
  assert float(ox.training.evaluate(task.loss_fn, result.params, task.test)["accuracy"]) > 0.8


def test_task_from_an_nnx_module_instance_starts_every_seed_from_its_parameters():
  split = ox.data.load_dataset("iris", 0)
  model = MLP(nnx.Rngs(3), inputs=4, outputs=3)
  task = ox.tasks.Task.from_model("nnx_mlp", model, split)
  a, b = task.init(jax.random.key(0)), task.init(jax.random.key(1))
  np.testing.assert_array_equal(a["l1"]["kernel"], model.l1.kernel[...])
  np.testing.assert_array_equal(a["l1"]["kernel"], b["l1"]["kernel"])


def test_task_from_model_refuses_what_is_not_a_model():
  split = ox.data.load_dataset("iris", 0)
  with pytest.raises(ValueError, match="nnx.Module"):
    ox.tasks.Task.from_model("bad", lambda rngs: 3, split)
  with pytest.raises(ValueError, match="linen module"):
    ox.tasks.Task.from_model("bad", 3, split)
