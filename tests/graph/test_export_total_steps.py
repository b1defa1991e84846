"""An exported optimizer (``to_python``, the search's ``optimizers/rank_NN.py``) whose genome has a learning-rate
schedule or decays requires ``total_steps``: called without it, it refuses instead of dropping them silently."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox


def _export(name, genome):
  namespace = {}
  exec(ox.graph.to_python(genome, name=name), namespace)  # pylint: disable=exec-used
  return namespace[name]


def _run(opt, steps=4):
  params = {"w": jnp.array([1.0, -2.0, 0.5])}
  state = opt.init(params)
  for _ in range(steps):
    grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2 + jnp.sin(p["w"])))(params)
    updates, state = opt.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  return params["w"]


@pytest.mark.parametrize("known", ["nos_opt4", "powersign_ld"])  # a schedule; a decay
def test_a_scheduled_or_decayed_export_requires_total_steps(known):
  genome = ox.graph.known(known)
  rank_02 = _export("rank_02", genome)
  with pytest.raises(TypeError, match="total_steps"):
    rank_02(0.01)
  with pytest.raises(ValueError, match="rank_02 has an evolved learning-rate schedule or decays .* pass total_steps"):
    rank_02(0.01, None)
  np.testing.assert_allclose(_run(rank_02(0.01, 10)), _run(ox.graph.interpret(genome, 0.01, total_steps=10)),
                             rtol=1e-5, atol=1e-6)


def test_an_export_without_schedule_or_decay_keeps_total_steps_optional():
  adam = _export("my_adam", ox.graph.known("adam"))
  np.testing.assert_allclose(_run(adam(0.01)), _run(ox.graph.interpret(ox.graph.known("adam"), 0.01)), rtol=1e-5,
                             atol=1e-6)
