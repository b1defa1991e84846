"""Decisions of `optix_evo.graph.decays`: the value of a decay graph (which node reads what), the steps a genome's
decays and schedule are read at, the decay range check, and the NOS base schedules transcribed from the authors'
code (``lr_warmup_cosine_decay`` and the momentum ``np.concatenate`` of three ``np.linspace``)."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optix_evo.errors import InputError
from optix_evo.graph import ops
from optix_evo.graph.decays import (decay_factor, decay_in_range, decay_values, nos_learning_rate, nos_momentum,
                                    schedule_factor, schedule_value, step_factors)
from optix_evo.graph.genome import BINARY, UNARY, empty_genome
from optix_evo.graph.spec import EXTENDED_SPEC, NOS_SPEC

SPEC = EXTENDED_SPEC
N_D = len(SPEC.decay_operands)


def _reference(kind, un, bi, inp, t, total):
  """Every edge's decay graph by hand: node 0 (hidden) over the operands a1..a14, node 1 (root) over the operands and
  the hidden node (vertex 14); a unary node reads its first input only. Each op is evaluated once on all edges and
  each edge takes the value of its own op."""
  leaves = np.array([float(ops.compile_expr(d.expr, "t, T")(jnp.float32(t), jnp.float32(total)))
                     for d in SPEC.decay_operands], np.float32)
  vertices = np.broadcast_to(leaves, (len(kind), N_D))
  edges = np.arange(len(kind))
  for n in range(2):
    x, y = vertices[edges, inp[:, n, 0]], vertices[edges, inp[:, n, 1]]
    unary = np.stack([np.asarray(ops.compile_expr(op.expr, "x")(jnp.asarray(x))) for op in SPEC.decay_unary])
    binary = np.stack([np.asarray(ops.compile_expr(op.expr, "x, y")(jnp.asarray(x), jnp.asarray(y)))
                       for op in SPEC.decay_binary])
    value = np.where(kind[:, n] == UNARY, unary[un[:, n], edges], binary[bi[:, n], edges])
    vertices = np.concatenate([vertices, value[:, None]], axis=1)  # the hidden node is vertex 14 for the root
  return value


def test_a_decay_graph_is_its_root_over_the_operands_and_its_hidden_node():
  rng = np.random.default_rng(0)
  m = 60
  kind = rng.integers(2, size=(m, 2))
  un = rng.integers(len(SPEC.decay_unary), size=(m, 2))
  bi = rng.integers(len(SPEC.decay_binary), size=(m, 2))
  inp = np.stack([rng.integers(N_D, size=(m, 2)), rng.integers(N_D + 1, size=(m, 2))], axis=1)  # root may read 14
  inp[:8, 1] = [[N_D, 0], [0, N_D], [N_D, N_D], [N_D - 1, 0], [N_D, 3], [5, N_D], [0, 0], [N_D, 1]]
  kind[:8, 1] = [UNARY, BINARY, BINARY, UNARY, BINARY, UNARY, BINARY, UNARY]
  for t, total in ((25.0, 100.0), (0.0, 40.0)):
    got = np.asarray(decay_factor((kind, un, bi, inp), jnp.float32(t), total, SPEC))
    assert got.shape == (m,)
    want = _reference(kind, un, bi, inp, t, total)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, equal_nan=True)


def test_step_factors_read_each_used_decay_at_the_step_and_hold_the_last_step_after_the_run():
  g = empty_genome(SPEC)
  a1, a2 = SPEC.index("decay_operands", "a1"), SPEC.index("decay_operands", "a2")
  g.decay_on[1, 0] = 1  # h1's first input decays as a1 = 1 - t/T (a unary identity root reading a1)
  g.decay_inputs[1, 0, 1] = [a1, 0]
  g.decay_inputs[2, 1, 1] = [a2, 0]  # a decay graph on h2's second input, but decay_on is 0
  g.schedule[()] = SPEC.index("schedules", "nos_lr8")
  steps = ((0, 0), (30, 30), (99, 99), (100, 99), (250, 99))
  all_factors, all_lr = jax.jit(jax.vmap(lambda c: step_factors(g, c, 100, SPEC)))(jnp.array([c for c, _ in steps]))
  for (count, t), factors, lr in zip(steps, all_factors, all_lr):
    expected = np.ones((SPEC.num_nodes, 2))
    expected[1, 0] = 1 - t / 100
    np.testing.assert_allclose(np.asarray(factors), expected, rtol=1e-6, atol=1e-7)
    a10, a6 = (2 * t % 100) / 100, 0.5 * (1 - math.cos(2 * math.pi * t / 100))
    np.testing.assert_allclose(float(lr), math.tanh(max(a10, a6)), rtol=1e-5, atol=1e-7)


def test_step_factors_read_the_decay_tables_of_the_space_they_are_given():
  spec = dataclasses.replace(SPEC, name="reversed", decay_operands=SPEC.decay_operands[::-1])  # index 0 is a14
  g = empty_genome(spec)
  g.decay_on[0, 0] = 1  # id(operand 0): a1 = 1 - t/T in the default space, a14 in this one
  factors, _ = jax.jit(lambda c: step_factors(g, c, 10, spec))(jnp.int32(4))
  a14 = 0.95 - 0.95 * (1 - 5 / 10) / ((1 - 0.95) + 0.95 * (1 - 5 / 10))
  np.testing.assert_allclose(float(factors[0, 0]), a14, rtol=1e-5)


def test_a_schedule_index_picks_that_schedule_and_zero_is_constant():
  t = jnp.float32(37.0)
  values = [float(schedule_value(s, t, 80.0, SPEC)) for s in SPEC.schedules]
  assert values[0] == 1.0
  assert len(set(np.round(values, 6))) == len(values)  # all different at this step: a wrong pick shows
  for i, v in enumerate(values):
    np.testing.assert_allclose(float(schedule_factor(i, t, 80.0, SPEC)), v, rtol=1e-6)
  # a schedule reads the decay operands of the space at t/T: nos_lr8 = tanh(max(a10, a6))
  lr8 = SPEC.schedules[SPEC.index("schedules", "nos_lr8")]
  for t, total in ((37.0, 80.0), (10.0, 80.0), (0.0, 5.0)):
    a10, a6 = (2 * t % total) / total, 0.5 * (1 - math.cos(2 * math.pi * t / total))
    np.testing.assert_allclose(float(schedule_value(lr8, jnp.float32(t), total, SPEC)), math.tanh(max(a10, a6)),
                               rtol=1e-5)


def _edge(g, i, s, operand, op="id", other=None, kind=UNARY):
  g.decay_kind[i, s, 1] = kind
  g.decay_inputs[i, s, 1] = [operand, other if other is not None else 0]
  if kind == UNARY:
    g.decay_unary[i, s, 1] = SPEC.index("decay_unary", op)
  else:
    g.decay_binary[i, s, 1] = SPEC.index("decay_binary", op)


def test_decay_values_are_the_graph_on_t_0_to_T_minus_1_of_the_spaces_check_horizon():
  spec = dataclasses.replace(SPEC, decay_check_steps=8)
  g = empty_genome(spec)
  _edge(g, 2, 1, SPEC.index("decay_operands", "a2"))  # t / T
  _edge(g, 0, 0, SPEC.index("decay_operands", "a1"))  # 1 - t / T
  np.testing.assert_allclose(decay_values(g, 2, 1, spec), np.arange(8) / 8, atol=1e-7)
  np.testing.assert_allclose(decay_values(g, 0, 0, spec), 1 - np.arange(8) / 8, atol=1e-7)


@pytest.mark.parametrize("build, ok", [
    (dict(operand="a1"), True),                                   # 1 .. 0.01: touches 1
    (dict(operand="a2"), True),                                   # 0 .. 0.99: touches 0
    (dict(operand="a1", op="add", other="a2", kind=BINARY), True),  # exactly 1 everywhere
    (dict(operand="a1", op="add", other="a1", kind=BINARY), False),  # 2 - 2t/T: above 1
    (dict(operand="a2", op="sub", other="a1", kind=BINARY), False),  # 2t/T - 1: below 0
    (dict(operand="a1", op="div", other="a2", kind=BINARY), False),  # 1 / EPS at t = 0: above 1
    (dict(operand="a2", op="sqrt"), True),
])
def test_a_decay_is_in_range_when_every_checked_value_is_finite_and_in_0_1(build, ok):
  g = empty_genome(SPEC)
  index = lambda name: SPEC.index("decay_operands", name)  # noqa: E731
  _edge(g, 3, 0, index(build["operand"]), build.get("op", "id"),
        index(build["other"]) if "other" in build else None, build.get("kind", UNARY))
  assert decay_in_range(g, 3, 0, SPEC) is ok


def test_a_decay_is_checked_over_the_horizon_of_the_space_it_is_given():
  """1 - 2t/T (sub(a1, a2)) is 1 and 0 at t = 0, 1 of T = 2, in range; over the default space's 100 steps it goes
  below 0."""
  short = dataclasses.replace(SPEC, name="short", decay_check_steps=2)
  g = empty_genome(SPEC)
  index = lambda name: SPEC.index("decay_operands", name)  # noqa: E731
  _edge(g, 3, 0, index("a1"), "sub", index("a2"), BINARY)
  assert decay_in_range(g, 3, 0, short) is True and decay_in_range(g, 3, 0, SPEC) is False


def test_decay_values_are_float32_with_x64_on_too():
  """The check's curve is computed in float32 on t = 0..T-1 (a float32 array, as documented) whether x64 is on or not:
  the range check reads the same values the float32 training run would."""
  spec = dataclasses.replace(SPEC, name="x64", decay_check_steps=8)
  g = empty_genome(spec)
  _edge(g, 2, 1, SPEC.index("decay_operands", "a2"))  # t / T
  with jax.enable_x64(True):
    values = decay_values(g, 2, 1, spec)
  assert values.dtype == np.float32
  np.testing.assert_allclose(values, np.arange(8) / 8, atol=1e-7)


def test_a_non_finite_decay_is_out_of_range(monkeypatch):
  from optix_evo.graph import decays  # pylint: disable=import-outside-toplevel
  g = empty_genome(SPEC)
  for bad in (np.nan, np.inf, -np.inf):
    monkeypatch.setattr(decays, "decay_values", lambda *a, bad=bad: np.array([0.5, bad, 0.5], np.float32))
    assert decays.decay_in_range(g, 0, 0, SPEC) is False
  monkeypatch.setattr(decays, "decay_values", lambda *a: np.array([0.0, 0.5, 1.0], np.float32))
  assert decays.decay_in_range(g, 0, 0, SPEC) is True


def _authors_lr(peak, total, warmup, hold, t):
  """``lr_warmup_cosine_decay`` of the authors' code (with ``hold``), at step ``t`` (clipped to ``total``)."""
  t = min(t, total)
  if t < warmup:
    return peak * t / warmup
  if t <= warmup + hold:
    return peak
  return 0.5 * peak * (1 + math.cos(math.pi * (t - warmup - hold) / (total - warmup - hold)))


@pytest.mark.parametrize("total, warmup, hold", [(100, 10, 0), (30, 2, 4), (12, 1, 0), (15, 0, 3), (9, 3, 5)])
def test_the_nos_learning_rate_is_the_authors_warmup_hold_cosine(total, warmup, hold):
  schedule = nos_learning_rate(0.3, total, warmup, hold)
  ts = list(range(total + 3))
  got = [float(schedule(t)) for t in ts]
  np.testing.assert_allclose(got, [_authors_lr(0.3, total, warmup, hold, t) for t in ts], rtol=1e-5, atol=1e-7)


def test_the_nos_learning_rate_with_no_decay_phase_holds_the_peak_to_the_end():
  schedule = nos_learning_rate(2.0, 10, 4, 6)
  assert [float(schedule(t)) for t in (0, 2, 4, 10, 12)] == [0.0, 1.0, 2.0, 2.0, 2.0]


def _authors_momentum(total, warmup, hold, high, low):
  return np.concatenate((np.linspace(high, low, warmup), np.linspace(low, low, hold),
                         np.linspace(low, high, total - warmup - hold)))


@pytest.mark.parametrize("total, warmup, hold", [(100, 10, 0), (30, 2, 4), (12, 1, 0), (15, 0, 3), (9, 3, 5),
                                                 (20, 6, 13), (10, 4, 4)])  # the last: a 2-step rise, low then high
def test_the_nos_momentum_is_the_authors_three_linspaces(total, warmup, hold):
  schedule = nos_momentum(total, warmup, hold, high=0.9, low=0.6)
  table = _authors_momentum(total, warmup, hold, 0.9, 0.6)
  got = [float(schedule(t)) for t in range(total + 3)]
  np.testing.assert_allclose(got, list(table) + [table[-1]] * 3, rtol=1e-6)


def test_the_nos_momentum_defaults_are_0_95_and_0_85():
  schedule = nos_momentum(20, 5)
  np.testing.assert_allclose([float(schedule(t)) for t in range(20)], _authors_momentum(20, 5, 0, 0.95, 0.85),
                             rtol=1e-6)


@pytest.mark.parametrize("make", [nos_learning_rate.__name__, nos_momentum.__name__])
@pytest.mark.parametrize("total, warmup, hold", [(0, 0, 0), (10, -1, 0), (10, 0, -1), (10, 6, 5), (10, 11, 0)])
def test_phases_that_do_not_fit_are_refused(make, total, warmup, hold):
  fn = {"nos_learning_rate": lambda *p: nos_learning_rate(1.0, *p), "nos_momentum": nos_momentum}[make]
  with pytest.raises(InputError) as e:
    fn(total, warmup, hold)
  assert str(e.value) == ("Schedule phases must satisfy warmup_steps, hold_steps >= 0 and warmup_steps + hold_steps <= "
                          f"total_steps >= 1, got total_steps={total}, warmup_steps={warmup}, hold_steps={hold}.")


@pytest.mark.parametrize("total, warmup, hold", [(1, 0, 0), (1, 1, 0), (1, 0, 1), (10, 4, 6), (10, 0, 0),
                                                 (np.int64(10), np.int32(4), 6)])
def test_phases_that_fit_exactly_are_accepted(total, warmup, hold):
  assert callable(nos_learning_rate(1.0, total, warmup, hold)) and callable(nos_momentum(total, warmup, hold))


def test_phases_given_as_arrays_are_not_checked_on_the_host():
  nos_learning_rate(1.0, jnp.int32(5), 9)  # traced budgets are data: no error here
  nos_momentum(10.0, 11)  # a float total is not a Python int either
  with pytest.raises(InputError):
    nos_momentum(np.int64(5), 9)  # NumPy integers are checked


def test_the_steps_are_in_the_default_float_dtype():
  lr = nos_learning_rate(1.0, 100, 10)(jnp.int32(55))
  mom = nos_momentum(100, 10)(jnp.int32(55))
  assert lr.dtype == mom.dtype == jnp.result_type(float)
  np.testing.assert_allclose(float(lr), _authors_lr(1.0, 100, 10, 0, 55), rtol=1e-6)


def test_the_nos_space_decays_read_the_nos_tables():
  assert len(NOS_SPEC.decay_operands) == N_D  # the same decay tables in both spaces


def test_decay_values_and_step_factors_read_the_tables_of_the_space_they_are_given():
  """A space with its decay operands reversed (index 0 is a14) and one with its schedules after 'constant' reversed
  (index 1 is the last one): the check's curve and the step's learning-rate multiplier read that space's entries."""
  rev_ops = dataclasses.replace(SPEC, name="reversed_ops", decay_check_steps=10,
                                decay_operands=SPEC.decay_operands[::-1])
  g = empty_genome(rev_ops)  # every decay is id(operand 0)
  t = np.arange(10)
  a14 = 0.95 - 0.95 * (1 - (t + 1) / 10) / ((1 - 0.95) + 0.95 * (1 - (t + 1) / 10))
  np.testing.assert_allclose(decay_values(g, 0, 0, rev_ops), a14, rtol=1e-5, atol=1e-7)
  rev_schedules = dataclasses.replace(SPEC, name="reversed_schedules",
                                      schedules=(SPEC.schedules[0], *SPEC.schedules[:0:-1]))
  g = empty_genome(rev_schedules)._replace(schedule=jnp.int32(1))  # nos_lr2_search here, nos_lr0 by default
  _, lr = step_factors(g, 30, 80.0, rev_schedules)
  expected = float(schedule_value(SPEC.schedules[-1], jnp.float32(30.0), 80.0, SPEC))
  assert expected != 1.0 and float(lr) == pytest.approx(expected, rel=1e-6)


def test_a_schedule_reads_the_decay_operands_of_the_space_it_is_given():
  """nos_lr3 reads a1; in a space whose a1 is t/T instead of 1 - t/T its multiplier is that space's."""
  rising = SPEC.decay_operands[0]._replace(expr="t / T")
  spec = dataclasses.replace(SPEC, name="a1_rising", decay_operands=(rising, *SPEC.decay_operands[1:]))
  lr3 = SPEC.index("schedules", "nos_lr3")
  t = jnp.float32(20.0)
  mine, default = float(schedule_factor(lr3, t, 80.0, spec)), float(schedule_factor(lr3, t, 80.0, SPEC))
  sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
  softsign = lambda x: x / (1 + abs(x))  # noqa: E731
  assert mine == pytest.approx(sig(0.25) ** 2 / sig(2 * softsign(0.25)), rel=1e-5)
  assert default == pytest.approx(sig(0.25) ** 2 / sig(2 * softsign(0.75)), rel=1e-5)


def test_with_x64_a_float32_step_count_is_read_in_float64():
  """The schedules read the step count in the default float dtype (float64 under x64), a float32 count too."""
  with jax.enable_x64(True):
    lr = nos_learning_rate(1.0, 100, 10)(jnp.float32(55.0))
    mom = nos_momentum(100, 10)(jnp.float32(55.0))
  assert lr.dtype == mom.dtype == jnp.float64
