"""Step-by-step parity of every zoo optimizer with its PyTorch reference (tests/oracles/zoo.json), float64, rtol 1e-6.

The ``default_*`` cases build each optimizer exactly as a user gets it, ``ox.get_optimizer(name)``, against the
reference run with its own defaults: a wrong registry default fails them.
"""

import importlib.util
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import optix_evo as ox

ORACLES = pathlib.Path(__file__).resolve().parents[1] / "oracles"
FIXTURES = json.loads((ORACLES / "zoo.json").read_text())
CASES = {case["name"]: case for case in FIXTURES["cases"]}
_spec = importlib.util.spec_from_file_location("oracle_problem", ORACLES / "problem.py")
problem = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(problem)

SIGN_DECAYS = {"linear": ox.linear_sign_decay, "cosine": ox.cosine_sign_decay, "restart": ox.restart_sign_decay}


def loss_fn(params):
  data = FIXTURES["problem"]
  return problem.loss(params["w"], params["b"], jnp.asarray(data["x"]), jnp.asarray(data["y"]), jnp.tanh)


def exact_hessian_diagonal() -> optax.GradientTransformationExtraArgs:
  """The exact Hessian diagonal of the problem (the fixture's Sophia uses it instead of random probes)."""

  def update_fn(updates, state, params=None, **extra):
    flat, unravel = ravel_pytree(params)
    return unravel(jnp.diag(jax.hessian(lambda f: loss_fn(unravel(f)))(flat))), state

  return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update_fn)


def build(case) -> optax.GradientTransformation:
  if case["info"].get("registry_default"):
    exact = {"hessian_diagonal_fn": exact_hessian_diagonal()} if case["optimizer"] == "sophia" else {}
    return ox.get_optimizer(case["optimizer"], **exact)
  hp = dict(case["hparams"])
  if "sign_decay" in hp:
    kind, *args = hp.pop("sign_decay")
    hp["sign_decay_fn"] = SIGN_DECAYS[kind](*args)
  if case["optimizer"] == "sgd+layerwise_decay":
    return optax.chain(ox.add_layerwise_decayed_weights(**{k: v for k, v in hp.items() if k != "learning_rate"}),
                       optax.sgd(hp["learning_rate"]))
  if case["optimizer"] == "sophia":
    hp["hessian_diagonal_fn"] = exact_hessian_diagonal()
  return getattr(ox, case["optimizer"])(**hp)


def run(optimizer, steps):
  data = FIXTURES["problem"]
  params = {"w": jnp.asarray(data["w"]), "b": jnp.asarray(data["b"])}

  def step(carry, _):
    params, state = carry
    updates, state = optimizer.update(jax.grad(loss_fn)(params), state, params)
    params = optax.apply_updates(params, updates)
    return (params, state), jnp.concatenate([params["w"].reshape(-1), params["b"]])

  (_, state), trajectory = jax.jit(lambda p: jax.lax.scan(step, (p, optimizer.init(p)), None, length=steps))(params)
  return np.asarray(trajectory), state


def test_fixture_covers_the_zoo():
  assert FIXTURES["steps"] >= 50
  covered = {case["optimizer"] for case in FIXTURES["cases"]}
  # checked against NumPy references in test_from_optax.py (rprop: torch.optim.Rprop's algorithm written out)
  from_optax = set(ox.OPTAX_CORE) | set(ox.OPTAX_CONTRIB) | {"rprop"}
  assert set(ox.OPTIMIZERS) - {"momentum", "nesterov"} - from_optax <= covered | {"amsbound"}
  assert any(case["hparams"].get("amsbound") for case in FIXTURES["cases"])
  defaults = {case["optimizer"] for case in FIXTURES["cases"] if case["info"].get("registry_default")}
  assert defaults == set(ox.OPTIMIZERS) - from_optax


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_reference_step_by_step(name):
  case = CASES[name]
  with jax.enable_x64(True):
    trajectory, state = run(build(case), FIXTURES["steps"])
    expected = np.asarray(case["trajectory"])
    np.testing.assert_allclose(trajectory, expected, rtol=1e-6, atol=1e-9)
    # the steps themselves (small learning rates move the parameters little)
    start = np.concatenate([np.asarray(FIXTURES["problem"]["w"]).reshape(-1), FIXTURES["problem"]["b"]])[None]
    steps, expected_steps = (np.diff(np.concatenate([start, t]), axis=0) for t in (trajectory, expected))
    np.testing.assert_allclose(steps, expected_steps, rtol=1e-6, atol=1e-12 + 1e-6 * np.abs(expected_steps).max())
    if case["optimizer"] == "swats":
      switch = case["info"].get("switch_step", 0)
      swats_state = jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, ox.ScaleBySwatsState))
      swats_state = next(s for s in swats_state if isinstance(s, ox.ScaleBySwatsState))
      assert int(swats_state.switch_step) == switch
      assert bool(ox.swats_in_sgd_phase(state)) == (switch > 0)
      if switch:
        np.testing.assert_allclose(float(swats_state.sgd_rate), case["info"]["sgd_rate"], rtol=1e-6)
