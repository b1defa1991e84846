"""The NOS schedules as optax schedules, against the authors' finalOptimizers.py (tests/oracles/nos_final.py) in
float64, and the same values inside the genome interpreter."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optix_evo as ox
import optix_evo.graph as G
from optix_evo.errors import InputError
from oracles import nos_final

PHASES = [(150, 10, 20), (96, 6, 12), (40, 1, 0), (31, 5, 0), (20, 0, 3)]  # (T, W, H)


def _values(schedule, steps):
  return np.asarray(jax.vmap(schedule)(jnp.arange(steps)))


@pytest.mark.parametrize("total, warmup, hold", PHASES)
def test_base_schedule_and_momentum_equal_the_authors_arrays(total, warmup, hold):
  with jax.enable_x64(True):
    lr = ox.warmup_hold_cosine_schedule(0.3, total, warmup, hold)
    m = G.nos_momentum(total, warmup, hold)
    ours_lr, ours_m = _values(lr, total + 5), _values(m, total + 5)
    assert ours_lr.dtype == np.float64 and ours_m.dtype == np.float64
  ref_lr = nos_final.lr_warmup_cosine_decay(np.arange(total), 0.3, warmup, hold, total)
  np.testing.assert_allclose(ours_lr[:total], ref_lr, rtol=1e-12, atol=1e-16)
  np.testing.assert_array_equal(ours_lr[total:], 0.0)  # 0 from T on (the cosine does not rise again)
  if warmup > 0:
    np.testing.assert_allclose(ours_m[:total], nos_final.momentum_schedule(total, warmup, hold), rtol=1e-13)
    np.testing.assert_allclose(ours_m[total:], 0.95, rtol=1e-15)


def test_momentum_endpoints_as_linspace():
  """The issue's example: W = 3 gives 0.95, 0.90, 0.85 over the warmup (0.883 at t = 2 before), and 0.95 at T - 1."""
  m = _values(G.nos_momentum(30, 3, 6), 30)
  np.testing.assert_allclose(m[:3], [0.95, 0.90, 0.85], rtol=1e-6)
  np.testing.assert_allclose(m[3:9], 0.85, rtol=1e-6)
  np.testing.assert_allclose(m[-1], 0.95, rtol=1e-6)


def test_defaults_are_the_final_runs_phases():
  with jax.enable_x64(True):
    ours = _values(ox.warmup_hold_cosine_schedule(1.0, 1500), 1500)
  np.testing.assert_allclose(ours, nos_final.lr_warmup_cosine_decay(np.arange(1500), 1.0, 100, 200, 1500), rtol=1e-12)
  assert _values(ox.warmup_hold_cosine_schedule(1.0, 1500), 3).dtype == np.float32  # x64 off: float32


@pytest.mark.parametrize("k", range(9))
def test_evolved_schedules_equal_evolved_lr_schedules(k):
  total, warmup, hold = 150, 10, 20
  with jax.enable_x64(True):
    ours = _values(ox.nos_schedule(k, 0.02, total, warmup, hold), total + 3)
  ref = nos_final.EvolvedLRSchedules(total, warmup, 0.02, hold, type=k)
  np.testing.assert_allclose(ours[1:total], ref.formula[1:], rtol=1e-12)
  assert ours[0] == 0.0 and np.all(ours[total:] == 0.0)
  callback = np.asarray([ref.value(t) for t in range(total)])  # + 1e-7, step 0 at 1e-7: at most 2e-7 apart
  assert np.max(np.abs(ours[:total] - callback)) <= 2e-7 + 1e-12


def test_schedule_names_and_errors():
  total = 100
  with jax.enable_x64(True):
    search = _values(ox.nos_schedule("nos_lr2_search", 1.0, total, 5, 10), total)
    shipped = _values(ox.nos_schedule(2, 1.0, total, 5, 10), total)
  assert not np.allclose(search[50:], shipped[50:])
  for bad in (9, "nos_lr9", True, "constant"):
    with pytest.raises(InputError, match="evolved schedule"):
      ox.nos_schedule(bad, 1.0, total)
  with pytest.raises(InputError, match="warmup_steps"):
    ox.warmup_hold_cosine_schedule(1.0, 10, 8, 3)
  all_warmup = ox.warmup_hold_cosine_schedule(1.0, 10, 10, 0)
  np.testing.assert_allclose(_values(all_warmup, 10), np.arange(10) / 10)
  with pytest.raises(ValueError, match="total_steps"):
    ox.nos_schedule(0, 1.0, 0)


@pytest.mark.parametrize("k", [0, 3, 6])
def test_the_interpreter_uses_the_same_schedule(k):
  """A genome with schedule gene nos_lr<k> under the base schedule steps exactly by ox.nos_schedule(k)."""
  total = 40
  doc = G.to_json(G.known("sgd"))
  doc["schedule"] = f"nos_lr{k}"
  genome = G.from_json(doc)
  with jax.enable_x64(True):
    opt = G.interpret(genome, ox.warmup_hold_cosine_schedule(0.5, total), total_steps=total)
    params = {"w": jnp.ones(2, jnp.float64)}

    @jax.jit
    def run(state):
      return jax.lax.scan(lambda s, _: opt.update(params, s, params)[::-1], state, None, length=total)[1]

    steps = -np.asarray(run(opt.init(params))["w"][:, 0])
    np.testing.assert_allclose(steps, _values(ox.nos_schedule(k, 0.5, total), total), rtol=1e-12, atol=1e-18)


def test_usable_with_any_optax_optimizer():
  sched = ox.nos_schedule(3, 1e-2, total_steps=50)
  opt = optax.inject_hyperparams(optax.adam)(learning_rate=sched)
  params = {"w": jnp.ones(3)}

  @jax.jit
  def run(params):
    def step(carry, _):
      params, state = carry
      g = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(params)
      u, state = opt.update(g, state, params)
      return (optax.apply_updates(params, u), state), state.hyperparams["learning_rate"]
    return jax.lax.scan(step, (params, opt.init(params)), None, length=50)

  (params, _), lrs = run(params)
  np.testing.assert_allclose(np.asarray(lrs), _values(sched, 50), rtol=1e-5)
  assert float(jnp.sum(params["w"] ** 2)) < 3.0
