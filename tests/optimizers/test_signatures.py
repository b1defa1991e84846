"""optax's conventions for the zoo's signatures: boolean flags are keyword-only (after ``*``), the optimizers that
optax also has take optax's positional arguments in optax's order (new arguments only after ``*``), and no public
name reuses one of optax's for something else."""

import inspect

import optax
import optax.contrib
import pytest

import optix_evo as ox

OWN = ["sgd", "adagrad", "rmsprop", "adam", "adamw", "radam", "adabelief", "lion", "sophia", "adan", "rprop", "swats",
       "scale_by_swats", "adabound", "amsbound", "scale_by_adabound", "powersign", "addsign", "scale_by_powersign",
       "scale_by_addsign", "scale_by_adan", "add_layerwise_decayed_weights", "sam", "asam", "looksam", "aldvi", "monitor"]


def _optax_twin(name):
  return getattr(optax, name, None) or getattr(optax.contrib, name, None)


@pytest.mark.parametrize("name", OWN)
def test_flags_are_keyword_only(name):
  """Unless optax's own optimizer of that name takes the flag positionally (optax's older signatures)."""
  twin = _optax_twin(name)
  theirs = inspect.signature(twin).parameters if twin is not None and name != "monitor" else {}
  for p in inspect.signature(getattr(ox, name)).parameters.values():
    if isinstance(p.default, bool) and not (p.name in theirs and theirs[p.name].kind is p.kind):
      assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"ox.{name}: the flag {p.name} must come after *"


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw", "radam", "adabelief", "lion", "adan",
                                  "rprop", "sophia"])
def test_optax_positional_arguments_in_optax_order(name):
  reference = getattr(optax, name, None) or getattr(optax.contrib, name)
  positional = lambda fn: [p.name for p in inspect.signature(fn).parameters.values()  # noqa: E731
                           if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
  assert positional(getattr(ox, name)) == positional(reference)


def test_adabelief_takes_weight_decay_and_weight_decay_mask():
  import jax.numpy as jnp

  params = {"w": jnp.ones(2), "b": jnp.ones(2)}
  opt = ox.adabelief(0.1, weight_decay=0.5, weight_decay_mask={"w": True, "b": False})
  zero = {"w": jnp.zeros(2), "b": jnp.zeros(2)}
  updates, _ = opt.update(zero, opt.init(params), params)
  assert float(updates["w"][0]) == pytest.approx(-0.05) and float(updates["b"][0]) == 0.0


def test_state_names_do_not_reuse_optax_names_for_other_states():
  for name in [*ox.optimizers.__all__, *ox.sam_family.__all__]:
    if name.endswith("State") and hasattr(optax.contrib, name):
      assert getattr(ox, name) is getattr(optax.contrib, name), name
    if name.endswith("State") and hasattr(optax, name):
      assert getattr(ox, name) is getattr(optax, name), name
  assert type(ox.sam(optax.sgd(0.1)).init({"w": optax.tree.zeros_like({"w": 1.0})["w"]})) is ox.SharpnessAwareState
