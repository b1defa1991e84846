"""The decisions of the NOS schedules' front doors (optix_evo/schedules/nos.py) against the authors' finalOptimizers.py
(tests/oracles/nos_final.py): the default phases on a T that 15 does not divide, explicit phases that differ from the
defaults, the one-step run, and the exact refusals."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optix_evo as ox
from optix_evo.errors import InputError
from oracles import nos_final


def _values(schedule, steps):
  return np.asarray(jax.vmap(schedule)(jnp.arange(steps)))


def test_default_phases_are_floor_t_over_15_and_floor_2t_over_15():
  """T = 110: W = 110 // 15 = 7 (not 7.33 or 110 // 16 = 6), H = 220 // 15 = 14 (not 14.67, 13 or 22)."""
  total = 110
  with jax.enable_x64(True):
    base = _values(ox.warmup_hold_cosine_schedule(0.3, total), total)
    evolved = _values(ox.nos_schedule(4, 0.3, total), total)
  np.testing.assert_allclose(base, nos_final.lr_warmup_cosine_decay(np.arange(total), 0.3, 7, 14, total), rtol=1e-12)
  ref = nos_final.EvolvedLRSchedules(total, 7, 0.3, 14, type=4)
  np.testing.assert_allclose(evolved[1:], ref.formula[1:], rtol=1e-12)


@pytest.mark.parametrize("k", [1, 5])
def test_explicit_phases_other_than_the_defaults_reach_the_evolved_schedule(k):
  """T = 100 with W = 3, H = 25 (the defaults would be 6 and 13): the evolved schedule uses the given phases."""
  total, warmup, hold = 100, 3, 25
  with jax.enable_x64(True):
    ours = _values(ox.nos_schedule(k, 0.02, total, warmup_steps=warmup, hold_steps=hold), total)
  ref = nos_final.EvolvedLRSchedules(total, warmup, 0.02, hold, type=k)
  np.testing.assert_allclose(ours[1:], ref.formula[1:], rtol=1e-12)


def test_a_one_step_run_is_allowed():
  """T = 1 is the smallest run: W = H = 0, and its one step is at the peak (the multiplier of t = 0 for nos)."""
  assert float(ox.warmup_hold_cosine_schedule(0.5, 1)(0)) == 0.5
  with jax.enable_x64(True):
    one = float(ox.nos_schedule(6, 0.5, 1)(0))
  assert one == pytest.approx(float(nos_final.EvolvedLRSchedules(1, 0, 0.5, 0, type=6).formula[0]), rel=1e-12)


@pytest.mark.parametrize("bad", [0, -3, True, False, 10.0, "10", None])
def test_total_steps_must_be_an_int_of_at_least_one(bad):
  message = re.escape(f"total_steps must be an int >= 1, got {bad!r}.") + "$"
  with pytest.raises(ValueError, match=message):
    ox.warmup_hold_cosine_schedule(1.0, bad)
  with pytest.raises(ValueError, match=message):
    ox.nos_schedule(0, 1.0, bad)


@pytest.mark.parametrize("bad", [9, -1, True, "nos_lr9", "constant", "NOS_LR1"])
def test_an_unknown_schedule_is_refused_with_the_known_names(bad):
  known = "nos_lr0, nos_lr1, nos_lr2, nos_lr3, nos_lr4, nos_lr5, nos_lr6, nos_lr7, nos_lr8, nos_lr2_search"
  with pytest.raises(InputError, match=re.escape(f"Unknown evolved schedule {bad!r}: use 0..8 or one of {known}.") + "$"):
    ox.nos_schedule(bad, 1.0, 10)


def test_a_float_step_count_gives_the_integer_steps_value_in_the_default_float_dtype():
  """Under x64 the multiplier is computed in float64 whatever the count's dtype: a float32 count of step t gives the
  authors' value at t to float64 precision, as an int count does."""
  total = 90
  with jax.enable_x64(True):
    schedule = ox.nos_schedule(3, 0.02, total)
    as_float = np.asarray(jax.vmap(schedule)(jnp.arange(total, dtype=jnp.float32)))
    assert as_float.dtype == np.float64
  ref = nos_final.EvolvedLRSchedules(total, 6, 0.02, 12, type=3)
  np.testing.assert_allclose(as_float[1:], ref.formula[1:], rtol=1e-12)
