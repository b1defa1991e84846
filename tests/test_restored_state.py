"""Every optimizer state restored with ``flax.serialization`` (its arrays come back as NumPy arrays) keeps working,
eagerly and under ``jit``: every registry optimizer, the SAM family, ALDVI, ``monitor`` and an interpreted genome."""

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox

PARAMS = {"w": jnp.array([[0.5, -1.0], [1.5, 0.25]]), "b": jnp.array([0.1, -0.2])}


def loss(params):
  return jnp.sum(params["w"] ** 2) + jnp.sum(jnp.sin(params["b"]))


def _cases():
  cases = {f"registry:{name}": (lambda name=name: ox.get_optimizer(name)) for name in ox.OPTIMIZERS}
  cases.update({
      "sam": lambda: ox.sam(optax.sgd(0.1)),
      "asam": lambda: ox.asam(optax.sgd(0.1)),
      "looksam": lambda: ox.looksam(optax.adam(0.01), k=2),
      "aldvi": lambda: ox.aldvi(optax.sgd, 0.1, steps_per_epoch=2, rule="trend"),
      "monitor": lambda: ox.monitor(optax.adam(0.01), history=3),
      "monitor(sam)": lambda: ox.monitor(ox.sam(optax.sgd(0.1)), history=2),
      "genome:nos_opt9": lambda: ox.graph.interpret(ox.graph.known("nos_opt9"), 0.01, total_steps=10),
      "genome:adam": lambda: ox.graph.interpret(ox.graph.known("adam"), 0.01),
  })
  return cases


CASES = _cases()


def _step(opt, params, state):
  value, grads = jax.value_and_grad(loss)(params)
  updates, state = opt.update(grads, state, params, grad_fn=jax.grad(loss), value=value)
  return optax.apply_updates(params, updates), state


def _restored(state):
  """``state`` written with flax.serialization and read back into its own structure (NumPy leaves)."""
  restored = flax.serialization.from_bytes(state, flax.serialization.to_bytes(state))
  assert all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(restored))  # what the bug needed
  return restored


SLOW = {"genome:adam"}  # a second interpreted genome (about 30 s on 2 cores); nos_opt9 runs in the default suite


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(CASES)])
def test_a_restored_state_works_eagerly_and_under_jit(name):
  opt = optax.with_extra_args_support(CASES[name]())
  step = jax.jit(lambda p, s: _step(opt, p, s))  # compiled once, for every call below
  params, state = PARAMS, opt.init(PARAMS)
  for _ in range(2):  # a state with history (counts, buffers, epochs) past its first step
    params, state = step(params, state)
  expected_params, expected_state = step(params, state)
  eager = _step(opt, params, _restored(state))  # no jit: NumPy arrays reach the update as they are
  jitted = step(params, _restored(state))
  for got in (eager, jitted):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6), got[0],
                 expected_params)
    assert jax.tree.structure(got[1]) == jax.tree.structure(expected_state)


def test_every_registry_optimizer_is_covered():
  assert {f"registry:{n}" for n in ox.OPTIMIZERS} <= set(CASES)
