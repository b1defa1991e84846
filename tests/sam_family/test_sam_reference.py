"""Step-by-step parity with torch transcriptions of davda54/sam and SamsungLabs/ASAM (tests/oracles/sam.json)."""

import importlib.util
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optix_evo.sam_family import asam, sam

ORACLES = pathlib.Path(__file__).resolve().parents[1] / "oracles"
FIXTURES = json.loads((ORACLES / "sam.json").read_text())
_spec = importlib.util.spec_from_file_location("oracle_problem", ORACLES / "problem.py")
problem = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(problem)


def base_optimizer(name, kwargs):
  """The optax equivalent of the torch base optimizer of a case."""
  if name == "sgd_momentum":  # torch.optim.SGD: d = g + wd·w ; buf = μ·buf + d ; w -= lr·buf
    return optax.chain(optax.add_decayed_weights(kwargs["weight_decay"]), optax.sgd(kwargs["lr"], kwargs["momentum"]))
  if name == "adam":
    return optax.adam(kwargs["lr"])
  raise ValueError(name)


def sharpness_aware(case):
  base = base_optimizer(case["base"], case["base_kwargs"])
  if case["impl"] == "davda54":
    return sam(base, rho=case["rho"], adaptive=case["adaptive"])
  # SamsungLabs/ASAM: T_w = |w| + eta on parameters named "weight" (here w), eps 1e-16 on the norm
  return asam(base, rho=case["rho"], eta=case["eta"], mask={"w": True, "b": False}, eps=1e-16)


@pytest.mark.parametrize("name", sorted(FIXTURES["cases"]))
def test_matches_torch_reference_step_by_step(name):
  case = FIXTURES["cases"][name]
  with jax.enable_x64(True):
    arrays = {k: jnp.asarray(v, jnp.float64) for k, v in FIXTURES["problem"].items()}
    x, y = arrays["x"], arrays["y"]
    loss = lambda p: problem.loss(p["w"], p["b"], x, y, jnp.tanh)
    grad_fn = jax.grad(loss)
    opt = sharpness_aware(case)
    params = {"w": arrays["w"], "b": arrays["b"]}

    @jax.jit
    def step(params, state):
      updates, state = opt.update(grad_fn(params), state, params, grad_fn=grad_fn)
      return optax.apply_updates(params, updates), state

    state = opt.init(params)
    for t, expected in enumerate(case["trajectory"]):
      params, state = step(params, state)
      for leaf in ("w", "b"):
        assert params[leaf].dtype == jnp.float64
        np.testing.assert_allclose(params[leaf], expected[leaf], rtol=1e-6, atol=1e-12, err_msg=f"step {t + 1} {leaf}")
